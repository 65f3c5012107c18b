"""The run configurations the CLI pins (config.json of a cv/paired run, and
the "config" of every result JSON) are the pre-refactor code's, so runs
started before the config object resume and their results still count.

  /usr/bin/python3 -m unittest discover -s models/training -p 'test_*.py'

testdata/config_fixture.json was written by the pre-refactor train.py
(commit 13e08ac) through its own command line; testdata/oldconfigs.py says
how. Where git can show that commit, the fixture is also re-derived from it.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "testdata"))
import config as C   # noqa: E402
import oldconfigs    # noqa: E402
import train         # noqa: E402

OLD_COMMIT = "13e08ac"
FIXTURE = os.path.join(HERE, "testdata", "config_fixture.json")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def new_config(mode, cmd):
    argv = cmd.split()
    cfg = C.Config.from_args(train.build_parser().parse_args(argv), argv)
    return {"cv": C.cv_config, "paired": C.paired_config}[mode](cfg)


class PinnedConfigs(unittest.TestCase):
    def setUp(self):
        self.fixture = read_json(FIXTURE)

    def test_fixture_covers_commands(self):
        self.assertEqual([(f["mode"], f["command"]) for f in self.fixture], oldconfigs.COMMANDS)

    def test_same_as_pre_refactor(self):
        for f in self.fixture:
            with self.subTest(f["command"]):
                got = new_config(f["mode"], f["command"])
                self.assertEqual(got, f["config"])
                # The file a run pins is json.dump of the dict: same text, same key order.
                self.assertEqual(json.dumps(got, indent=1), json.dumps(f["config"], indent=1))

    def test_running_paired_cv(self):
        """The paired CV started 2026-12-04 (runs/cv_paired_r2/config.json)."""
        f = self.fixture[0]
        self.assertIn("--anatomy real,synth --seeds 2", f["command"])
        got = new_config("paired", f["command"])
        self.assertEqual(got["seeds"], [C.SEED, C.SEED + 1])
        self.assertEqual((got["bank"], got["synth_bank"], got["teacher_steps"], got["steps"], got["bs"]),
                         (960, 960, 1500, 1500, 2))

    def test_committed_cv_results(self):
        """results/cv.json was written by the CV command of the fixture: its
        pinned config must come out of the current code unchanged."""
        cv = read_json(os.path.join(HERE, "results", "cv.json"))
        f = next(f for f in self.fixture if f["mode"] == "cv" and "--tiny" not in f["command"])
        self.assertEqual(new_config("cv", f["command"]), cv["config"])
        for h in cv["folds_done"]:
            r = read_json(os.path.join(HERE, "results", f"fold_{h}.json"))
            self.assertEqual(r["config"], cv["config"], h)

    def test_fixture_is_the_old_code(self):
        try:
            src = subprocess.run(["git", "-C", HERE, "show", f"{OLD_COMMIT}:models/training/train.py"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            self.skipTest(f"git: {e}")
        if src.returncode != 0:
            self.skipTest(f"git cannot show {OLD_COMMIT} here (shallow clone?): {src.stderr.strip()}")
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "train_old.py")
            with open(p, "w") as f:
                f.write(src.stdout)
            self.assertEqual(oldconfigs.configs_from(p), self.fixture)


class Arguments(unittest.TestCase):
    def parse(self, cmd):
        argv = cmd.split()
        return C.Config.from_args(train.build_parser().parse_args(argv), argv)

    def test_bad_values_exit_before_training(self):
        for cmd, word in [("release --ship student=kdd", "--ship"), ("release --variants fta", "--variants"),
                          ("paired --anatomy real,synthh", "--anatomy"), ("fold --holdout x --ablate studnt", "--ablate"),
                          ("fold", "--holdout"), ("cv --holdout ircad_p07", "--holdout")]:
            with self.subTest(cmd), self.assertRaises(SystemExit) as e:
                self.parse(cmd + " --device cpu")
            self.assertIn(word, str(e.exception.code))

    def test_config_is_built_once_and_frozen(self):
        cfg = self.parse("cv --device cpu --hardneg-w 2")
        self.assertEqual(cfg.hardneg_w, 2.0)
        with self.assertRaises(Exception):
            cfg.hardneg_w = 0.0
        # Nothing global changed: a second config from other arguments is independent.
        self.assertEqual(self.parse("cv --device cpu").hardneg_w, 0.0)
        self.assertEqual(C.cv_config(cfg)["hardneg_w"], 2.0)

    def test_release_profiles_are_step_budgets(self):
        r2 = C.release_config(self.parse("release --device cpu"))
        self.assertEqual((r2["bank"], r2["teacher_steps"], r2["steps"]), (1280, 3000, 2000))
        self.assertEqual(r2["grow"], C.grow_steps(C.GROW_FRAC, 2000))
        for prof in C.PROFILES.values():
            self.assertFalse({"t_cap", "g_cap"} & set(prof))


if __name__ == "__main__":
    unittest.main()
