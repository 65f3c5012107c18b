"""Writes config_fixture.json: the run configurations (`cv_config`,
`paired_config`) that train.py of a given commit computes for a few command
lines, by running that commit's own CLI (argparse, main's settings, then the
config function) with the training itself replaced by a capture.

The fixture in this folder was written from commit 13e08ac (the last train.py
before the config object), the code that started the paired CV of
runs/cv_paired_r2 and wrote results/cv.json:

  cd models/training && git show 13e08ac:models/training/train.py > /tmp/train_13e08ac.py && \
    /usr/bin/python3 testdata/oldconfigs.py /tmp/train_13e08ac.py > testdata/config_fixture.json

test_config.py compares the current code with it (and, where git can show that
commit, with the old code directly through configs_from()).
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (mode, command line after `train.py`): the paired CV running since
# 2026-12-04, the CV of results/cv.json, and the smoke tests.
COMMANDS = [
    ("paired", "paired --threads 1 --device cpu --recipe 2 --hardneg-w 0 --teacher-steps 1500 --steps 1500 "
               "--bank 960 --synth-bank 960 --anatomy real,synth --seeds 2"),
    ("paired", "paired --tiny --threads 1 --seeds 1 --folds ircad_p07 --device cpu"),
    ("paired", "paired --threads 1 --device cpu --hardneg-w 2 --anatomy real --seeds 3 --bank 480 --folds ircad_p07"),
    ("cv", "cv --threads 1 --device cpu --recipe 2 --hardneg-w 0 --teacher-steps 1500 --steps 1500 --bank 960"),
    ("cv", "cv --tiny --threads 1 --device cpu"),
    ("cv", "cv --threads 1 --device cpu --recipe 3 --hardneg-w 1.5 --folds ircad_p07,chaos_ct01"),
]


def configs_from(train_py):
    """[(command, config)] as the train.py at path train_py computes them."""
    import torch
    sys.path.insert(0, HERE)
    spec = importlib.util.spec_from_file_location("old_train_for_configs", train_py)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    got = []
    old.run_paired = lambda args: got.append(old.paired_config(args))
    old.run_cv = lambda args: got.append(old.cv_config(args))
    old.log = lambda msg: None
    argv, threads = sys.argv, torch.get_num_threads()
    out = []
    try:
        for mode, cmd in COMMANDS:
            sys.argv = ["train.py"] + cmd.split()
            old.main()
            out.append({"mode": mode, "command": cmd, "config": got.pop()})
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    return out


if __name__ == "__main__":
    json.dump(configs_from(sys.argv[1]), sys.stdout, indent=1)
    print()
