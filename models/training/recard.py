"""Re-evaluates the shipped models (from checkpoints/*.pt, which reproduce the
.onnx files' logits) with the current postprocessing contract and rewrites
the parts of their model cards that depend on it: output.temperature and
its rule, and evaluation.per_case. Nothing else in a card changes (the .onnx
files and their sha256 stay as they are). Then re-run parity.py.

  /usr/bin/python3 models/training/recard.py [--threads 1]
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import environment as ENV   # noqa: E402
import export as E   # noqa: E402
import lsdata as D   # noqa: E402
from evaluation import evaluate   # noqa: E402
import nets as N     # noqa: E402

MODELS = ["teacher", "assistant", "student", "student100k"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    env = ENV.current("cpu")
    cases = D.find_cases() + D.find_cases(names=["totalseg_s0009_partial"])
    for name in a.models.split(","):
        cp = os.path.join(E.MODELS_DIR, f"{name}.json")
        card = json.load(open(cp))
        ck = torch.load(os.path.join(E.CKPT_DIR, f"{name}.pt"), map_location="cpu")
        net = N.build(ck["cfg"])
        net.load_state_dict(ck["model"])
        trained_on = card["evaluation"]["training_cases"]
        ev = evaluate(net, cases, trained_on, D.SOFT_TEMPERATURE)
        card["output"]["temperature"] = D.SOFT_TEMPERATURE
        card["output"]["temperature_rule"] = ("liver probability = logistic((logit_liver - logit_background) / "
                                              "temperature), the float32 difference divided by the temperature in float32")
        card["evaluation"]["per_case"] = ev
        card["evaluation"]["environment"] = env   # where these figures were computed
        tmp = cp + ".tmp"
        with open(tmp, "w") as f:
            json.dump(card, f, indent=1)
        os.replace(tmp, cp)
        print(name, json.dumps(ev), flush=True)


if __name__ == "__main__":
    main()
