"""The software and machine a run trains under, recorded in its run folder,
its result JSONs and the model cards, and checked when a run resumes; and
torch's determinism settings.

A checkpoint resumed under another torch, numpy, scipy or python version,
another device or another thread count may continue with different numerics
(kernels, reduction order, the banks' scipy resampling), so the figures of a
run would mix two environments without saying so. check_and_record refuses
that unless the run is started with --allow-env-change, which is then logged
in the run's environment.json.
"""
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FILE = "environment.json"
# Keys whose change can change the numbers of a resumed run.
STRICT = ("python", "torch", "numpy", "scipy", "device", "torch_threads", "deterministic")


def git_commit(path=HERE):
    """HEAD of the checkout holding path, with '-dirty' when models/training
    has uncommitted changes; None without git."""
    try:
        head = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        if not head:
            return None
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def current(device):
    """This process's environment (after set_determinism and torch.set_num_threads)."""
    import scipy
    dev = torch.device(device)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
        "torch_threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "git_commit": git_commit(),
    }


def set_determinism(device):
    """torch.use_deterministic_algorithms for the run. On the CPU (torch 1.13)
    every op the nets use has a deterministic kernel, so it is strict: an op
    without one raises instead of silently varying. On CUDA, 3D max-pooling's
    backward has none in torch 1.13, so it warns there instead of failing;
    cuDNN is pinned to deterministic kernels and cuBLAS to a fixed workspace."""
    dev = torch.device(device)
    if dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)


def differences(recorded, env):
    """[(key, recorded value, current value)] over the STRICT keys."""
    return [(k, recorded.get(k), env.get(k)) for k in STRICT if recorded.get(k) != env.get(k)]


def check_and_record(run_dir, env, allow_change=False, log=print):
    """Compares env with the environment the run in run_dir was recorded
    under (its environment.json) and returns the record. A run without one
    gets env as its record (a run begun before environments were recorded
    gets it at its first resume, marked so). A different git commit is
    logged; a STRICT difference exits, or with allow_change is logged and
    appended to the record's "changes"."""
    p = os.path.join(run_dir, FILE)
    if not os.path.exists(p):
        fresh = not any(f.endswith(".pt") for _, _, fs in os.walk(run_dir) for f in fs)
        rec = {"environment": env, "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "note": "recorded when the run started" if fresh else
                       "recorded when the run was resumed; it began before environments were recorded",
               "changes": []}
        _write(rec, p)
        return rec
    with open(p) as f:
        rec = json.load(f)
    old = rec["environment"]
    last = rec["changes"][-1]["environment"] if rec.get("changes") else old
    if last.get("git_commit") != env.get("git_commit"):
        log(f"note: {run_dir} was last run at commit {last.get('git_commit')}, now {env.get('git_commit')}")
    diff = differences(last, env)
    if not diff:
        return rec
    what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diff)
    if not allow_change:
        sys.exit(f"train.py: {p}: this run was recorded under a different environment ({what}). A resumed run "
                 f"would mix numerics of two environments. Resume it where it began, or pass --allow-env-change "
                 f"(recorded in {p}), or move {run_dir} away to start over.")
    log(f"WARNING: resuming {run_dir} under a different environment ({what}); --allow-env-change given, "
        f"recorded in {p}")
    rec.setdefault("changes", []).append({"environment": env, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    _write(rec, p)
    return rec


def _write(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def load(run_dir):
    """The run's environment record, or None (a run trained before records)."""
    p = os.path.join(run_dir, FILE)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)
