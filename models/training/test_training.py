"""Checks of the training package's shape and of the properties the long
runs rely on: no import cycle and no hidden (in-function) imports between
its modules; deterministic training; a killed stage resumes to the same
weights as an uninterrupted one; the environment check refuses a resume
under another environment unless told to.

  /usr/bin/python3 -m unittest discover -s models/training -p 'test_*.py'

The training checks use small generated banks (16x32x32 crops) and the
real nets, losses, optimiser, checkpoints and stage trainers.
"""
import ast
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import config as C           # noqa: E402
import devpack               # noqa: E402
import engine as E           # noqa: E402
import environment as ENV    # noqa: E402
import nets as N             # noqa: E402
import pipeline as P         # noqa: E402
import train as TR             # noqa: E402
from runfiles import cached_logits   # noqa: E402

LOCAL = {f[:-3] for f in os.listdir(HERE) if f.endswith(".py")}


def local_imports(path):
    """[(module, top_level)] for imports of this folder's modules in path."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    top = {id(n) for n in tree.body}
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            names = [n.module]
        else:
            continue
        out += [(m, id(n) in top) for m in names if m in LOCAL]
    return out


class Layout(unittest.TestCase):
    def graph(self):
        return {m: local_imports(os.path.join(HERE, m + ".py")) for m in sorted(LOCAL)}

    HIDDEN_OK = set()

    def test_no_hidden_imports(self):
        """Imports of this folder's modules are at the top of each file
        (an import inside a function hid the old train <-> export cycle)."""
        for m, deps in self.graph().items():
            hidden = [d for d, top in deps if not top and (m, d) not in self.HIDDEN_OK]
            self.assertEqual(hidden, [], f"{m}.py imports {hidden} inside a function")

    def test_no_cycle(self):
        g = {m: {d for d, _ in deps} for m, deps in self.graph().items()}
        state = {}

        def visit(m, path):
            if state.get(m) == "done":
                return
            self.assertNotEqual(state.get(m), "open", f"import cycle: {' -> '.join(path + [m])}")
            state[m] = "open"
            for d in sorted(g[m]):
                visit(d, path + [m])
            state[m] = "done"

        for m in g:
            visit(m, [])

    def test_nothing_imports_the_driver(self):
        users = [m for m, deps in self.graph().items() if "train" in {d for d, _ in deps} and not m.startswith("test_")]
        self.assertEqual(users, [])

    def test_no_reload(self):
        for m in LOCAL:
            with open(os.path.join(HERE, m + ".py")) as f:
                self.assertNotIn("importlib.reload", f.read().replace('"importlib.reload"', ""), m)


def toy_bank(n=6, seed=0, hn=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 16, 32, 32)).astype(np.float16)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, s) for s in (16, 32, 32)], indexing="ij")
    blob = ((zz ** 2 + yy ** 2 + xx ** 2) < 0.4)
    y = np.stack([np.roll(blob, int(rng.integers(-4, 4)), axis=2) for _ in range(n)]).astype(np.uint8) * 255
    bk = {"x": x + (y / 255.0).astype(np.float16), "y": y, "w": np.ones(n, np.float32), "case": np.zeros(n, np.int16)}
    if hn:
        bk["hn"] = (rng.random((n, 16, 32, 32)) < 0.1).astype(np.uint8)
    return bk


class Killed(Exception):
    pass


def validator(kill_at=None):
    def v(net):
        if kill_at is not None and v.calls == kill_at:
            raise Killed()
        v.calls += 1
        return {}
    v.calls = 0
    return v


def weights(net):
    return {k: t.detach().clone() for k, t in net.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Training(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.threads = torch.get_num_threads()
        torch.set_num_threads(1)
        cls.det = torch.are_deterministic_algorithms_enabled()
        ENV.set_determinism("cpu")
        cls.cfg = C.Config(threads=1, device="cpu", hardneg_w=1.0)

    @classmethod
    def tearDownClass(cls):
        torch.set_num_threads(cls.threads)
        torch.use_deterministic_algorithms(cls.det)

    def run_single(self, d, steps=6, kill_at=None, teacher_d=None):
        with contextlib.redirect_stdout(io.StringIO()):
            return E.train_single(self.cfg, d, "student_kd", N.ARCH["student"], toy_bank(), validator(kill_at),
                                  steps, 2, C.LR, C.SEED, teacher_d=teacher_d, val_every=1)

    def test_every_net_trains_under_strict_determinism(self):
        """torch.use_deterministic_algorithms(True) raises on an op without a
        deterministic CPU kernel: a forward + backward of every architecture."""
        self.assertTrue(torch.are_deterministic_algorithms_enabled())
        archs = dict(N.ARCH, assistant_final=dict(C.ASSISTANT_START, widths=C.ASSISTANT_FINAL))
        x, y, w, d, hn = E.batch(toy_bank(), 0, 1, C.SEED, np.zeros((6, 16, 32, 32), np.float16))
        for k, a in archs.items():
            with self.subTest(k):
                net = N.build(a)
                z = net(x)
                loss = E.seg_loss(z, y, w, hn, 1.0) + E.kd_loss(z, d)
                loss.backward()
                self.assertTrue(torch.isfinite(loss))

    def test_repeatable(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            na, sa = self.run_single(a)
            nb, sb = self.run_single(b)
            self.assertEqual(sa["step"], 6)
            self.assertTrue(same(weights(na), weights(nb)))

    def test_killed_stage_resumes_to_the_same_weights(self):
        td = toy_bank(seed=3)["x"].astype(np.float16)   # stands in for cached teacher logits
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            ref, _ = self.run_single(a, teacher_d=td)
            # Checkpoint after every step, and "kill" the run at its 4th step
            # (before that step's checkpoint): it resumes from step 3.
            due = E.Stage.due
            E.Stage.due = lambda self: True
            try:
                with self.assertRaises(Killed):
                    self.run_single(b, kill_at=3, teacher_d=td)
            finally:
                E.Stage.due = due
            self.assertEqual(torch.load(os.path.join(b, "student_kd.pt"))["step"], 3)
            got, st = self.run_single(b, teacher_d=td)
            self.assertEqual((st["step"], st["done"]), (6, True))
            self.assertTrue(same(weights(ref), weights(got)))
            ok = self.run_single(b, teacher_d=td)[0]   # a finished stage is loaded, not retrained
            self.assertTrue(same(weights(ref), weights(ok)))

    def test_gtan_resumes_across_growth(self):
        bk = toy_bank()
        td = toy_bank(seed=4)["x"]
        students = {"student": N.ARCH["student"]}

        def run(d, kill_at=None):
            with contextlib.redirect_stdout(io.StringIO()):
                return E.train_gtan(self.cfg, d, "gtan", C.ASSISTANT_START, C.ASSISTANT_FINAL, students, bk, td,
                                    validator(kill_at), 5, [1, 3], 2, C.LR, C.SEED, val_every=1)

        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            ra, rs, rst = run(a)
            self.assertEqual([g["step"] for g in rst["growth_log"]], [1, 3])
            due = E.Stage.due
            E.Stage.due = lambda self: True
            try:
                with self.assertRaises(Killed):
                    run(b, kill_at=2 * 2)   # two validator calls per step: killed in step 3, between growths
            finally:
                E.Stage.due = due
            ga, gs, gst = run(b)
            self.assertEqual(gst["acfg"], rst["acfg"])
            self.assertTrue(same(weights(ra), weights(ga)))
            self.assertTrue(same(weights(rs["student"]), weights(gs["student"])))

    def test_pipeline_stages_match_single_stages(self):
        """train_family trains the same nets as the stages on their own (the
        paired CV's plan: teacher, then no-KD and KD students)."""
        bk = toy_bank()
        plan = P.Plan(teacher_steps=2, steps=3, bs=1, lr=C.LR, seed=C.SEED, val_every=100,
                      students=(("student", "nokd"), ("student", "kd")))
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            with contextlib.redirect_stdout(io.StringIO()):
                fam = P.train_family(self.cfg, a, plan, bk, validator())
                t, tst = E.train_single(self.cfg, b, "teacher", N.ARCH["teacher"], bk, validator(), 2, 1, C.LR, C.SEED,
                                        val_every=100)
                d = cached_logits(os.path.join(b, "t.npz"), t, tst["step"], bk, "cpu")
                kd, _ = E.train_single(self.cfg, b, "student_kd", N.ARCH["student"], bk, validator(), 3, 1, C.LR,
                                       C.SEED, teacher_d=d, val_every=100)
        self.assertEqual(list(fam), ["teacher", "student_nokd", "student_kd"])
        self.assertTrue(same(weights(fam["teacher"][0]), weights(t)))
        self.assertTrue(same(weights(fam["student_kd"][0]), weights(kd)))
        self.assertFalse(same(weights(fam["student_nokd"][0]), weights(kd)))


    def test_nets_trained_elsewhere_travel_and_load(self):
        """A job trained on a lent machine (devpack pack -> unpack) comes back
        with the same weights; load_family then gives the nets without a
        bank; a stage that had not finished keeps its optimiser and resumes."""
        bk = toy_bank()
        plan = P.Plan(teacher_steps=2, steps=3, bs=1, lr=C.LR, seed=C.SEED, val_every=100,
                      students=(("student", "nokd"), ("student", "kd")))
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as out, \
                tempfile.TemporaryDirectory() as b:
            job = os.path.join(a, "fold", "real_s1")
            os.makedirs(job)
            with contextlib.redirect_stdout(io.StringIO()):
                fam = P.train_family(self.cfg, job, plan, bk, validator())
                self.assertIsNotNone(P.load_family(self.cfg, job, plan))
                # An unfinished stage: the KD student stopped at step 1 of 3.
                st = torch.load(os.path.join(job, "student_kd.pt"))
                st.update(step=1, done=False)
                torch.save(st, os.path.join(job, "student_kd.pt"))
                devpack.pack(a, out)
                devpack.unpack([os.path.join(out, f) for f in sorted(os.listdir(out))], b)
            back = os.path.join(b, "fold", "real_s1")
            self.assertTrue(os.path.exists(os.path.join(back, "teacher.pt")))
            self.assertIsNone(P.load_family(self.cfg, back, plan))     # student_kd is not done
            got = torch.load(os.path.join(back, "student_kd.pt"))
            self.assertIn("opt", got)
            self.assertEqual(got["step"], 1)
            t = torch.load(os.path.join(back, "teacher.pt"))
            self.assertNotIn("opt", t)
            self.assertTrue(same(t["model"], weights(fam["teacher"][0])))
            # Finishing the stage here makes the family loadable, bank-free.
            with contextlib.redirect_stdout(io.StringIO()):
                E.train_single(self.cfg, back, "student_kd", N.ARCH["student"], bk, validator(), 3, 1, C.LR, C.SEED,
                               teacher_d=cached_logits(os.path.join(back, "t.npz"), fam["teacher"][0], 2, bk, "cpu"),
                               val_every=100)
                E.train_single(self.cfg, back, "teacher", N.ARCH["teacher"], bk, validator(), 2, 1, C.LR, C.SEED,
                               val_every=100)   # done and stripped: returns at once
            loaded = P.load_family(self.cfg, back, plan)
            self.assertEqual(list(loaded), ["teacher", "student_nokd", "student_kd"])
            self.assertTrue(same(weights(loaded["student_nokd"][0]), weights(fam["student_nokd"][0])))


class PairedSummary(unittest.TestCase):
    """A run of the shape arm alone pairs with the first paired CV's real arm
    when (and only when) that real arm was trained under the same protocol."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.old = TR.RUNS_DIR
        TR.RUNS_DIR = self.tmp.name

    def tearDown(self):
        TR.RUNS_DIR = self.old
        self.tmp.cleanup()

    def pc(self, arms, **kw):
        return dict({"kind": "paired", "recipe": 2, "seeds": [1, 2], "arms": arms, "folds": ["a", "b"],
                     "nets": ["teacher"], "steps": 8, "tiny": True}, **kw)

    def write(self, pc, fold, arm, seed, dice):
        d = TR.paired_dirs(pc)[1]
        os.makedirs(d, exist_ok=True)
        fig = {"dice": dice, "hd95_mm": 10.0, "volume_error_pct": 5.0}
        r = {"config": pc, "models": {"teacher": dict(fig, extra={C.EXTRA_EVAL[0]: fig})}}
        with open(os.path.join(d, f"fold_{fold}_{arm}_s{seed}.json"), "w") as f:
            json.dump(r, f)

    def test_shape_arm_pairs_with_the_first_runs_real_arm_of_the_same_protocol(self):
        first, shape = self.pc(["real", "synth"]), self.pc(["shape"])
        self.assertNotEqual(TR.paired_dirs(first), TR.paired_dirs(shape))
        self.write(first, "a", "real", 1, 0.80)
        self.write(first, "b", "real", 1, 0.70)
        self.write(self.pc(["real", "synth"], steps=9), "a", "real", 2, 0.10)   # another protocol: not paired
        self.write(shape, "a", "shape", 1, 0.85)
        self.write(shape, "a", "shape", 2, 0.90)
        sm = TR.paired_summary(shape, TR.paired_dirs(shape)[1], {})
        self.assertEqual(sm["arms_shown"], ["real", "shape"])
        self.assertEqual(sorted(sm["jobs_done"]), ["a/shape/s1", "a/shape/s2"])
        e = sm["nets"]["teacher"]
        self.assertEqual(sorted(e["arms"]["real"]["runs"]), ["a/s1", "b/s1"])
        d = e["vs_real"]["shape"]["dice"]
        self.assertEqual((d["n"], d["pairs"]), (1, ["a/s1"]))
        self.assertAlmostEqual(d["mean"], 0.05, places=6)
        self.assertEqual(e["paired"], e["vs_real"]["shape"])
        self.assertTrue(os.path.exists(os.path.join(TR.paired_dirs(shape)[1], "cv_paired.json")))


class Environment(unittest.TestCase):
    def env(self, **kw):
        e = {"python": "3.11.2", "torch": "1.13.0", "numpy": "1.24.2", "scipy": "1.10.1", "device": "cpu",
             "torch_threads": 1, "deterministic": True, "machine": "x86_64 2 cores", "git_commit": "abc"}
        e.update(kw)
        return e

    def check(self, d, env, allow=False):
        logs = []
        rec = ENV.check_and_record(d, env, allow, logs.append)
        return rec, logs

    def test_current_has_the_fields(self):
        e = ENV.current("cpu")
        for k in ENV.STRICT + ("git_commit", "machine"):
            self.assertIn(k, e)
        self.assertEqual(e["torch"], torch.__version__)
        self.assertEqual(e["numpy"], np.__version__)

    def test_record_then_check(self):
        with tempfile.TemporaryDirectory() as d:
            rec, _ = self.check(d, self.env())
            self.assertEqual(rec["environment"], self.env())
            self.assertIn("started", rec["note"])
            with open(os.path.join(d, ENV.FILE)) as f:
                self.assertEqual(json.load(f)["environment"], self.env())
            # The same environment, another commit: resumes, says so.
            rec, logs = self.check(d, self.env(git_commit="def"))
            self.assertEqual(rec["changes"], [])
            self.assertTrue(any("abc" in m and "def" in m for m in logs))

    def test_refuses_another_environment(self):
        with tempfile.TemporaryDirectory() as d:
            self.check(d, self.env())
            for k, v in [("torch", "2.1.0"), ("numpy", "2.0.0"), ("torch_threads", 2), ("device", "cuda"),
                         ("scipy", "1.11"), ("python", "3.12.0"), ("deterministic", False)]:
                with self.subTest(k), self.assertRaises(SystemExit) as e:
                    self.check(d, self.env(**{k: v}))
                msg = str(e.exception.code)
                self.assertIn(ENV.FILE, msg)
                self.assertIn(k, msg)
                self.assertIn("--allow-env-change", msg)

    def test_override_is_recorded(self):
        with tempfile.TemporaryDirectory() as d:
            self.check(d, self.env())
            rec, logs = self.check(d, self.env(torch="2.1.0"), allow=True)
            self.assertEqual(rec["changes"][-1]["environment"]["torch"], "2.1.0")
            self.assertTrue(any("WARNING" in m for m in logs))
            # Later resumes compare with the latest environment.
            rec, _ = self.check(d, self.env(torch="2.1.0"))
            self.assertEqual(len(rec["changes"]), 1)

    def test_run_begun_before_records(self):
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "teacher.pt"), "wb").close()
            rec, _ = self.check(d, self.env())
            self.assertIn("resumed", rec["note"])


if __name__ == "__main__":
    unittest.main()
