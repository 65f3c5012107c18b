"""Ships single roles of a staged candidate release (export.export_all with
out_dir) into models/: the ONNX file, its card and its checkpoint, so one
role can come from another run than the others when the CV says so (issue
15: the synthetic-anatomy run's 30k student, the real-only teacher).

    /usr/bin/python3 models/training/promote.py --from models/training/runs/release_r2_synth/candidate student
    /usr/bin/python3 models/training/parity.py     # then the fixtures, from the checkpoints

Every file is checked before anything is replaced (the card's sha256 and
size must match its ONNX file, the checkpoint must hold the card's
architecture) and written atomically. The promoted card records where it
came from and which shipped models it was NOT trained beside.
"""
import argparse
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import sha256          # noqa: E402
from runfiles import atomic_json   # noqa: E402

MODELS_DIR = os.path.dirname(HERE)
CKPT_DIR = os.path.join(HERE, "checkpoints")
ROLES = ("teacher", "assistant", "student", "student100k")


def copy_atomic(src, dst):
    tmp = dst + ".tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def check(src_dir, name):
    """The staged card, ONNX file and checkpoint of one role, or SystemExit naming what is wrong."""
    cp = os.path.join(src_dir, f"{name}.json")
    if not os.path.exists(cp):
        raise SystemExit(f"promote: {cp}: no staged card for {name}")
    with open(cp) as f:
        card = json.load(f)
    onnx = os.path.join(src_dir, card["onnx"])
    ck = os.path.join(src_dir, f"{name}.pt")
    for p in (onnx, ck):
        if not os.path.exists(p):
            raise SystemExit(f"promote: {p}: missing (stage the candidate with export.export_all(out_dir=...))")
    if sha256(onnx) != card["sha256"] or os.path.getsize(onnx) != card["size_bytes"]:
        raise SystemExit(f"promote: {onnx}: sha256/size differ from {cp}")
    st = torch.load(ck, map_location="cpu")
    arch = {k: v for k, v in card["architecture"].items() if k != "kind"}
    if st["cfg"] != arch:
        raise SystemExit(f"promote: {ck}: architecture {st['cfg']} is not the card's {arch}")
    return card, onnx, ck


def promote(src_dir, names, note=""):
    staged = [(n,) + check(src_dir, n) for n in names]   # all checked before any is replaced
    others = [r for r in ROLES if r not in names]
    for name, card, onnx, ck in staged:
        card["training"]["shipped_from"] = os.path.relpath(src_dir, os.path.dirname(MODELS_DIR))
        card["training"]["shipped_beside"] = (
            f"{', '.join(others)} come from another run (their cards say which); this model was not trained "
            f"beside them" + (f": {note}" if note else ""))
        copy_atomic(onnx, os.path.join(MODELS_DIR, card["onnx"]))
        copy_atomic(ck, os.path.join(CKPT_DIR, f"{name}.pt"))
        atomic_json(card, os.path.join(MODELS_DIR, f"{name}.json"))
        print(f"promote: {name} ← {src_dir} (sha256 {card['sha256'][:12]}…)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", required=True, help="staged candidate folder (cards, .onnx, .pt)")
    ap.add_argument("--note", default="", help="why this role ships from that run (goes into the card)")
    ap.add_argument("roles", nargs="+", choices=ROLES)
    a = ap.parse_args(argv)
    promote(a.src, a.roles, a.note)


if __name__ == "__main__":
    main()
