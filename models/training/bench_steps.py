"""Seconds per training step (forward + backward + AdamW, batch 2 crops of
32x64x64, like the bank's) of each architecture on this machine, to size
`train.py cv` budgets. The machine is shared: run it next to the real load.

    nice -n 10 /usr/bin/python3 models/training/bench_steps.py --threads 1
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nets as N        # noqa: E402
from config import ASSISTANT_FINAL, ASSISTANT_START   # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfgs = dict(N.ARCH)
    cfgs["assistant (final width)"] = dict(ASSISTANT_START, widths=list(ASSISTANT_FINAL))
    x = torch.randn(2, 1, 32, 64, 64)
    for k, c in cfgs.items():
        n = N.build(c)
        opt = torch.optim.AdamW(n.parameters(), 1e-3)
        ts = []
        for _ in range(a.reps + 1):
            t = time.perf_counter()
            loss = n(x).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            ts.append(time.perf_counter() - t)
        ts = ts[1:]
        print(f"{k:24s} {N.count_params(n):>9,} params  train step min {min(ts):.3f} s, mean {sum(ts) / len(ts):.3f} s",
              flush=True)


if __name__ == "__main__":
    main()
