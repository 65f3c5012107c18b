"""The files a run keeps: atomic writes, resumable stage checkpoints with
their CSV logs, the pinned configuration, and cached (frozen-net) logits."""
import csv
import json
import os
import sys
import time

import numpy as np
import torch


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_json(obj, path):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def pin_config(root, cfg, what):
    """root/config.json pins the run's configuration: written by the first
    start, and a later start with a different one exits instead of mixing
    two configurations in one run."""
    cp = os.path.join(root, "config.json")
    if os.path.exists(cp):
        old = json.load(open(cp))
        if old != cfg:
            sys.exit(f"train.py {what}: {cp} holds a different configuration:\n{old}\nvs\n{cfg}\n"
                     f"(resume with the same arguments, or move {root} away to start over)")
    else:
        atomic_json(cfg, cp)


class Stage:
    """One resumable training stage: its state (models, optimisers, step) is
    checkpointed atomically every `every_s` seconds to <run_dir>/<name>.pt;
    rows go to <name>_log.csv (validation rows to <name>_val.csv)."""

    def __init__(self, run_dir, name, device, every_s=None):
        # LIVERSEG_CKPT_EVERY_S: a machine lent for minutes checkpoints more often.
        every_s = every_s or float(os.environ.get("LIVERSEG_CKPT_EVERY_S", 180))
        self.dir = run_dir
        self.name = name
        self.device = device
        self.ckpt = os.path.join(run_dir, f"{name}.pt")
        self.csv = os.path.join(run_dir, f"{name}_log.csv")
        self.every_s = every_s
        self.last = time.time()

    def load(self):
        if os.path.exists(self.ckpt):
            return torch.load(self.ckpt, map_location=self.device)
        return None

    def save(self, state):
        atomic_save(state, self.ckpt)
        self.last = time.time()

    def due(self):
        return time.time() - self.last > self.every_s

    def logrow(self, row):
        # Validation rows have more columns: they go to their own file so
        # each CSV has one header.
        path = self.csv.replace("_log.csv", "_val.csv") if any(k.startswith("dice_") for k in row) else self.csv
        new = not os.path.exists(path)
        with open(path, "a", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(row.keys()))
            if new:
                wr.writeheader()
            wr.writerow(row)


@torch.no_grad()
def cached_logits(p, net, step, bk, device):
    """A (frozen) net's logit difference (liver - background) on every bank
    crop, float16, cached in p and recomputed when the net's step changed."""
    if os.path.exists(p):
        z = np.load(p)
        if int(z["step"]) == step:
            return z["d"]
    net.eval()
    out = np.zeros(bk["x"].shape, np.float16)
    for i in range(0, len(out), 4):
        x = torch.from_numpy(bk["x"][i:i + 4].astype(np.float32))[:, None]
        z = net(x.to(device))
        out[i:i + 4] = (z[:, 1] - z[:, 0]).cpu().numpy().astype(np.float16)
    tmp = p + ".tmp.npz"
    np.savez(tmp, d=out, step=step)
    os.replace(tmp, p)
    return out
