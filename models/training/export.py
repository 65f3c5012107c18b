"""Export trained nets to ONNX (opset 17, dynamic Z/Y/X) with model cards
(evaluated on the ORIGINAL grid of each case, see evaluation.py) and save
small checkpoints. Reads a finished release run folder; trains nothing."""
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import environment as ENV   # noqa: E402
import lsdata as D          # noqa: E402
import nets as N            # noqa: E402
from config import ASSISTANT_START, KD_LAMBDA, KD_T, SEED   # noqa: E402
from evaluation import evaluate   # noqa: E402
from runfiles import atomic_save   # noqa: E402

MODELS_DIR = os.path.normpath(os.path.join(HERE, ".."))
CKPT_DIR = os.path.join(HERE, "checkpoints")
MACS_GRID = [48, 80, 80]
LICENSE = ("CC BY-NC-SA 4.0 derived: non-commercial research use only. Trained on CHAOS (CC BY-NC-SA 4.0), "
           "3D-IRCADb-01 (CC BY-NC-ND 4.0) and the TotalSegmentator example CT (repository Apache-2.0, "
           "label = TotalSegmentator model output).")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def to_onnx(net, path):
    net.eval()
    x = torch.zeros(1, 1, 32, 64, 64)
    tmp = path + ".tmp"
    torch.onnx.export(net, x, tmp, opset_version=17, input_names=["ct"], output_names=["logits"],
                      dynamic_axes={"ct": {2: "Z", 3: "Y", 4: "X"}, "logits": {2: "Z", 3: "Y", 4: "X"}},
                      do_constant_folding=True)
    import onnx
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    os.replace(tmp, path)


@torch.no_grad()
def cpu_time(net, zyx, reps=3):
    net.eval()
    x = torch.zeros(1, 1, *zyx)
    net(x)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        net(x)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def card(out_dir, name, role, net, onnx_name, training, evaluation, extra=None):
    path = os.path.join(out_dir, onnx_name)
    c = {
        "name": name,
        "role": role,
        "onnx": onnx_name,
        "sha256": sha256(path),
        "size_bytes": os.path.getsize(path),
        "params": N.count_params(net),
        "macs": N.count_macs(net, MACS_GRID),
        "macs_grid": MACS_GRID,
        "architecture": dict(net.config(), kind="3D U-Net, conv3x3x3-InstanceNorm-LeakyReLU(0.01), maxpool down, "
                             "2x2x2 transposed-conv up, concat skips"),
        "input": {"name": "ct", "shape_note": f"[1,1,Z,Y,X] float32, Z=k (S), Y=j (P), X=i (L); Z,Y,X dynamic, "
                  f"multiples of {net.multiple}"},
        "output": {"name": "logits", "kind": "logits", "channels": ["background", "liver"], "activation": "softmax",
                   "temperature": D.SOFT_TEMPERATURE,
                   "temperature_rule": "liver probability = logistic((logit_liver - logit_background) / temperature), "
                                       "the float32 difference divided by the temperature in float32",
                   "shape_note": "[1,2,Z,Y,X] float32, same Z,Y,X as the input; crop the padding off"},
        "preprocessing": {"orientation": "LPS", "spacing_mm": [D.SPACING] * 3, "interpolation": "trilinear",
                          "grid_rule": D.GRID_RULE, "hu_clip": [D.HU_LO, D.HU_HI],
                          "normalize": {"center": D.CENTER, "scale": D.SCALE, "formula": "(clip(hu) - center) / scale"},
                          "size_multiple": net.multiple, "pad": "end", "pad_value": D.PAD_VALUE},
        "postprocessing": {"resample": "trilinear-probability", "threshold": 0.5, "threshold_rule": "liver if p > 0.5",
                           "resample_rule": "original canonical voxel i samples low-res continuous index "
                                            "i * spacing_a / S, clamped to [0, n_a - 1]",
                           "largest_component": True, "connectivity": 6, "fill_holes": True,
                           "fill_holes_rule": "background components (6-connected) not touching the volume border "
                                              "become liver"},
        "training": training,
        "evaluation": evaluation,
        "license": LICENSE,
    }
    if extra:
        c.update(extra)
    p = os.path.join(out_dir, f"{name}.json")
    with open(p + ".tmp", "w") as f:
        json.dump(c, f, indent=1)
    os.replace(p + ".tmp", p)
    return c


def export_all(run_dir, tiny=False, ship=None, command="train.py release", out_dir=None):
    """Exports teacher, GTAN assistant and each student size's variant named
    in ship ({"student": "gtan"|"nokd"|"kd", ...}; default gtan) into
    models/ (or out_dir: a candidate release beside the shipped one, its
    checkpoints with it)."""
    ship = dict(ship or {})
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    tst = torch.load(os.path.join(run_dir, "teacher.pt"), map_location="cpu")
    gst = torch.load(os.path.join(run_dir, "gtan.pt"), map_location="cpu")
    nets, vst = {}, {}
    t = N.build(tst["cfg"]); t.load_state_dict(tst["model"]); nets["teacher"] = ("teacher", t)
    a = N.build(gst["acfg"]); a.load_state_dict(gst["asst"]); nets["assistant"] = ("assistant", a)
    for k, sd in gst["students"].items():
        v = ship.setdefault(k, "gtan")
        if v != "gtan":
            st = torch.load(os.path.join(run_dir, f"{k}_{v}.pt"), map_location="cpu")
            if not st.get("done"):
                raise SystemExit(f"export: {k}_{v} has not finished its budget ({st['step']}/{st['budget']})")
            sd, vst[k] = st["model"], st
        s = N.build(N.ARCH[k]); s.load_state_dict(sd); nets[k] = ("student", s)
    bank_file = summary.get("bank") or os.path.join(HERE, "cache", "bank_" + summary["tag"] + ".npz")
    recipe = summary.get("recipe", 1)
    staged = out_dir is not None or tiny
    out_dir = out_dir or (MODELS_DIR if not tiny else os.path.join(run_dir, "export"))
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(CKPT_DIR, exist_ok=True)
    cases = D.find_cases()
    try:
        extra = D.find_cases(names=["totalseg_s0009_partial"])
    except FileNotFoundError:
        extra = []
    trained_on = summary["train_cases"]
    machine = f"{platform.machine()} {os.cpu_count()} cores (shared), torch {torch.__version__}, {torch.get_num_threads()} threads"
    # The environment the run trained under (its environment.json: python,
    # torch, numpy, scipy, device, threads, determinism, git commit, and any
    # --allow-env-change resumes) and the one exporting now.
    train_env = ENV.load(run_dir) or {"note": "not recorded (the run trained before environments were recorded)"}
    export_env = ENV.current("cpu")
    results = {}
    for name, (role, net) in nets.items():
        onnx_name = f"{name}.onnx"
        to_onnx(net, os.path.join(out_dir, onnx_name))
        ev = evaluate(net, cases[:1] if tiny else cases, trained_on, D.SOFT_TEMPERATURE)
        # Never trained on: a TotalSegmentator-dataset subject with only the
        # liver tip in view (reference label). An honest but partial check.
        ev.update(evaluate(net, extra, trained_on, D.SOFT_TEMPERATURE))
        ms = cpu_time(net, MACS_GRID)
        if name == "teacher":
            steps, dur = tst["step"], tst["elapsed_s"]
            how = "supervised: soft-target CE + soft Dice, AdamW lr 2e-3 cosine, batch 2 crops 32x64x64"
        elif name in vst:
            steps, dur = vst[name]["step"], vst[name]["elapsed_s"]
            how = ("no distillation: soft-target CE + soft Dice" if ship[name] == "nokd" else
                   f"Hinton KD from the cached teacher logits: (1-l)(CE+Dice) + l*T^2*KL, l={KD_LAMBDA}, T={KD_T}")
            how += ("; AdamW lr 2e-3 cosine, batch 2 crops 32x64x64 (variant chosen by the leave-one-case-out CV, "
                    "models/README.md; the GTAN-distilled student of the same run is not shipped)")
        else:
            steps, dur = gst["step"], gst["elapsed_s"]
            how = (f"GTAN stage (all GTAN nets trained jointly, duration is the shared stage time): "
                   f"{'assistant distilled from cached teacher logits' if name == 'assistant' else 'distilled online from the current (growing) assistant'}, "
                   f"loss (1-l)(CE+Dice) + l*T^2*KL, l={KD_LAMBDA}, T={KD_T}; AdamW lr 2e-3 cosine, batch 2 crops 32x64x64")
        data = (f"cases {trained_on} from ../shared/data/cases (fixed bank of {len(np.load(bank_file)['w'])} "
                f"augmented 5 mm crops, recipe {recipe}, seed {SEED}; totalseg_example weight 0.5)")
        if summary.get("config", {}).get("synth"):
            sb = np.load(os.path.join(HERE, "cache", f"synthbank_{summary['tag']}_r{recipe}.npz"))
            data += (f" plus {len(sb['w'])} augmented crops of synthetic CT drawn from the label maps of "
                     f"../shared/data/labels (synth.py: {len(set(str(v).split(':')[0] for v in sb['synth_volumes']))} "
                     f"maps, {len(sb['synth_volumes'])} volumes; no CT of those patients)")
        training = {"data": data,
                    "command": "/usr/bin/python3 models/training/" + command,
                    **({"variant": ship[name]} if role == "student" else {}),
                    "seed": SEED, "steps": steps, "duration_s": round(dur), "machine": machine,
                    "environment": train_env, "export_environment": export_env,
                    "method": how}
        if name == "assistant":
            training["growth"] = gst["growth_log"]
            training["start_widths"] = ASSISTANT_START["widths"]
        held = [c for c in ev if ev[c]["held_out"]]
        seen = [c for c in ev if not ev[c]["held_out"]]
        evaluation = {"note": (f"NOT held out: {seen} were in the training set, so their figures are TRAINING-set "
                               "figures, not generalisation estimates. "
                               f"Held out (never trained on): {held or 'none'}"
                               + (" - totalseg_s0009_partial shows only the liver tip (reference label from the "
                                  "TotalSegmentator dataset), so its Dice is a harsh partial check, not a whole-liver figure"
                                  if "totalseg_s0009_partial" in held else "")
                               + ". Whole-liver held-out figures come from leave-one-case-out CV (models/README.md)."),
                      "held_out_cases": held, "training_cases": seen,
                      "per_case": ev, "metrics": "Dice, HD95 (mm, max of directed 95th percentiles), liver volume error (%), original canonical grid",
                      "torch_cpu_forward_s": round(ms, 3), "torch_cpu_grid": MACS_GRID}
        c = card(out_dir, name, role, net, onnx_name, training, evaluation)
        results[name] = c
        ck = os.path.join(CKPT_DIR if not staged else out_dir, f"{name}.pt")
        atomic_save({"cfg": net.config(), "model": net.state_dict(), "steps": steps, "role": role}, ck)
        print(name, c["params"], c["macs"], ev, f"{ms:.3f}s", flush=True)
    return results
