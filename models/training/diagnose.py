"""Where do a model's false positives lie, and how do the labels' boundaries
differ between cases? (models/README.md, "Diagnosis".)

    # label conventions of the four whole-liver cases (no model needed):
    /usr/bin/python3 models/training/diagnose.py --labels
    # false positives of checkpoints on one case (original grid, app pipeline):
    /usr/bin/python3 models/training/diagnose.py --case ircad_p07 \
        models/training/checkpoints/teacher.pt models/training/runs/fold_ircad_p07/teacher.pt

A checkpoint is any .pt with "cfg"/"model" (checkpoints/) or a training-stage
checkpoint (runs/<tag>/<stage>.pt; its architecture is read from "cfg", or
from the stage name for students). Prints Dice, volume error, false-positive
volume by distance from the reference liver (< 5 mm: a shell around it;
> 10 mm: other tissue), the direction and HU of the distant false positives,
and the 5 mm (network-grid) overshoot sum(p > 0.5) / sum(label > 0.5).
"""
import argparse
import os
import sys

import numpy as np
import torch
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lsdata as D    # noqa: E402
import nets as N      # noqa: E402
import evaluation as E    # noqa: E402
import bank as B      # noqa: E402


def load(path):
    ck = torch.load(path, map_location="cpu")
    cfg = ck.get("cfg") or ck.get("acfg")
    if cfg is None:
        stem = os.path.basename(path).split("_")[0].replace(".pt", "")
        cfg = N.ARCH[stem]
    net = N.build(cfg)
    net.load_state_dict(ck["model"] if "model" in ck else ck["asst"])
    net.eval()
    return net


def labels():
    """HU of the reference label's inside and of the band just outside it:
    a label drawn tight (inside the organ's edge) has liver-like HU outside."""
    for name, ct, lb, _ in D.find_cases():
        hu, lab, sp = E.load_case(name, ct, lb)
        L = lab.astype(bool)
        idx = np.argwhere(L)
        lo, hi = np.maximum(idx.min(0) - 30, 0), idx.max(0) + 30
        sl = tuple(slice(lo[a], hi[a]) for a in range(3))
        Ls, H = L[sl], hu[sl]
        sd = np.where(Ls, -ndimage.distance_transform_edt(Ls, sampling=sp),
                      ndimage.distance_transform_edt(~Ls, sampling=sp))
        med = float(np.median(H[Ls]))
        band = []
        for a, b in [(-4, -2), (-2, 0), (0, 2), (2, 3), (3, 5), (5, 8)]:
            m = (sd > a) & (sd <= b)
            band.append(f"{a:+d}..{b:+d}: {np.median(H[m]):.0f}" if m.any() else f"{a:+d}..{b:+d}: -")
        k = np.nonzero(L.any((0, 1)))[0]
        below = k.min() * sp[2]
        vox = float(np.prod(sp)) / 1e3
        holes = (ndimage.binary_fill_holes(L).sum() - L.sum()) * vox
        closed = (ndimage.binary_closing(L, structure=np.ones((3, 3, 3)), iterations=3).sum() - L.sum()) * vox
        # Surface area by voxel faces (overestimates an oblique surface by up to ~1.5x).
        area = sum(np.count_nonzero(np.diff(L.astype(np.int8), axis=a)) * np.prod([sp[b] for b in range(3) if b != a])
                   for a in range(3)) / 100.0
        print(f"{name:17s} spacing {np.round(sp, 2)}  liver {L.sum() * np.prod(sp) / 1e3:.0f} ml, median {med:.0f} HU; "
              f"holes filled +{holes:.1f} ml, closing (3x3x3, 3 iterations) {closed:+.1f} ml, voxel-face area {area:.0f} cm2; "
              f"{below:.0f} mm of scan below the liver; median HU by signed distance from the label (mm, + outside): "
              + ", ".join(band))


def fps(case, paths):
    cases = {c[0]: c for c in D.find_cases()}
    name, ct, lb, _ = cases[case]
    hu, lab, sp = E.load_case(name, ct, lb)
    L = lab.astype(bool)
    sp = np.array(sp)
    vox = float(np.prod(sp)) / 1e3
    dist, ind = ndimage.distance_transform_edt(~L, sampling=sp, return_indices=True)
    low_hu, low_lab, _ = B.prep_case(name, ct, lb, os.path.join(HERE, "cache"))
    x, shp = D.preprocess_lowres(low_hu)
    for p in paths:
        net = load(p)
        M, _ = E.segment(net, hu, sp)
        M = M.astype(bool)
        fp, fn = M & ~L, L & ~M
        with torch.no_grad():
            z = net(torch.from_numpy(x)[None, None])[0].numpy()
        pl = D.logits_to_prob(z)[: shp[2], : shp[1], : shp[0]].transpose(2, 1, 0)
        print(f"{p}\n  {case}: Dice {D.dice(M, L):.3f}, volume {100 * (M.sum() - L.sum()) / L.sum():+.1f} %, "
              f"FP {fp.sum() * vox:.0f} ml (< 5 mm from the label {np.sum(fp & (dist < 5)) * vox:.0f}, "
              f"5-10 mm {np.sum(fp & (dist >= 5) & (dist < 10)) * vox:.0f}, > 10 mm {np.sum(fp & (dist >= 10)) * vox:.0f}), "
              f"FN {fn.sum() * vox:.0f} ml; 5 mm grid: p>0.5 / label>0.5 = {np.sum(pl > 0.5) / max(1, np.sum(low_lab > 0.5)):.3f}")
        f = np.argwhere(fp & (dist >= 10))
        if len(f) == 0:
            continue
        near = ind[:, f[:, 0], f[:, 1], f[:, 2]].T
        off = (f - near) * sp          # canonical LPS: +i Left, +j Posterior, +k Superior
        dom = np.argmax(np.abs(off), 1)
        sgn = np.sign(off[np.arange(len(off)), dom])
        names = {(0, 1): "medial (to the patient's left)", (0, -1): "lateral (right)", (1, 1): "posterior",
                 (1, -1): "anterior", (2, 1): "superior", (2, -1): "inferior"}
        print(f"  FP > 10 mm: HU p10/50/90 {np.percentile(hu[tuple(f.T)], [10, 50, 90]).round(0).tolist()}")
        for key, lbl in names.items():
            m = (dom == key[0]) & (sgn == key[1])
            if m.sum() * vox >= 3:
                print(f"    {lbl:30s} {m.sum() * vox:5.0f} ml, HU median {np.median(hu[tuple(f[m].T)]):.0f}, "
                      f"mean offset from the nearest label voxel (L,P,S mm) {off[m].mean(0).round(0).tolist()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", action="store_true")
    ap.add_argument("--case", default="ircad_p07")
    ap.add_argument("ckpts", nargs="*")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.labels:
        labels()
    if a.ckpts:
        fps(a.case, a.ckpts)


if __name__ == "__main__":
    main()
