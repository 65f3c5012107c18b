"""A/B of the training recipe (models/README.md, "Diagnosis") on the cheapest
variant: 30k student, no KD, fold ircad_p07 held out,
2279 steps (= the reduced fold's count; recipe 1 gave 0.680 / +70.9 %).

Usage: /usr/bin/python3 models/training/ab_recipe.py r2|r2bank|r3|r3nohn [STEPS]
Writes its run under models/training/runs/ab/<variant>/ (gitignored) and prints a RESULT line."""
import sys, os, json, time, numpy as np, torch
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lsdata as D, bank as B, nets as N  # noqa: E401,E402
from config import Config, SEED  # noqa: E402
from engine import Validator, train_single  # noqa: E402
from evaluation import evaluate  # noqa: E402
import environment as ENV  # noqa: E402
torch.set_num_threads(1)
cfg = Config(threads=1, device="cpu")
ENV.set_determinism(cfg.device)
variant = sys.argv[1]        # r2 (bank + loss) | r2bank (bank, hn ignored)
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 2279
cache = os.path.join(HERE, "cache")
cases = D.find_cases()
tr = [c for c in cases if c[0] != "ircad_p07"]; va = [c for c in cases if c[0] == "ircad_p07"]
t0 = time.time()
rec = 3 if variant == "r3" else 2
bk = B.build_bank(tr, 480, SEED, cache, "fold_ircad_p07", recipe=rec)
print("bank", time.time() - t0, flush=True)
if variant == "r2bank" or variant == "r3nohn":
    bk = {k: v for k, v in bk.items() if k != "hn"}
preps = {c[0]: B.prep_case(c[0], c[1], c[2], cache) for c in va}
val = Validator(preps, cfg.dev)
rd = os.path.join(HERE, "runs", "ab", variant); os.makedirs(rd, exist_ok=True)
net, st = train_single(cfg, rd, "student_nokd", N.ARCH["student"], bk, val, steps, 2, 2e-3, SEED, val_every=500)
ev = evaluate(net, va, [c[0] for c in tr])
print("RESULT", variant, steps, json.dumps(ev), "train_s", round(st["elapsed_s"]), flush=True)
