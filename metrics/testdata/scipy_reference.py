#!/usr/bin/python3
"""Reference metrics computed with scipy, for the Go metrics tests.

Usage: scipy_reference.py LIVER.nii.gz OUTDIR

Reads a liver label (nibabel), makes a prediction-like copy of it (shifted
by (3, -2, 1) voxels, then eroded once with the 6-neighbourhood), writes
both as raw uint8 (x fastest) to OUTDIR/ref.u8 and OUTDIR/pred.u8, and
OUTDIR/meta.json with the grid and the metrics computed the MedPy way with
scipy.ndimage (surface = mask XOR binary_erosion(mask, border_value=0),
distance_transform_edt with sampling=spacing, hd95 = max of the two directed
95th percentiles, assd = mean of the two directed means). Nothing is written
next to the input.
"""
import json
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage


def surface(m):
    return m & ~ndimage.binary_erosion(m, border_value=0)


def directed(a, b, spacing):
    return ndimage.distance_transform_edt(~surface(b), sampling=spacing)[surface(a)]


def main():
    src, out = sys.argv[1], sys.argv[2]
    img = nib.load(src)
    ref = np.asanyarray(img.dataobj) > 0              # [i,j,k]
    spacing = [float(z) for z in img.header.get_zooms()[:3]]
    pred = np.zeros_like(ref)
    pred[3:, :-2, 1:] = ref[:-3, 2:, :-1]             # shift (+3, -2, +1)
    pred = ndimage.binary_erosion(pred)               # 6-neighbourhood
    # The EDT runs on the joint bounding box grown by 2 voxels (clamped to
    # the grid): the result is the same and scipy is ten times faster.
    idx = np.argwhere(pred | ref)
    lo, hi = np.maximum(idx.min(0) - 2, 0), idx.max(0) + 3
    sl = tuple(slice(lo[a], hi[a]) for a in range(3))
    dab, dba = directed(pred[sl], ref[sl], spacing), directed(ref[sl], pred[sl], spacing)
    inter = np.logical_and(pred, ref).sum()
    meta = {
        "size": list(ref.shape), "spacing": spacing,
        "dice": 2.0 * inter / (pred.sum() + ref.sum()),
        "iou": inter / np.logical_or(pred, ref).sum(),
        "hd95_mm": max(np.percentile(dab, 95), np.percentile(dba, 95)),
        "assd_mm": (dab.mean() + dba.mean()) / 2,
        "pred_ml": pred.sum() * np.prod(spacing) / 1000,
        "ref_ml": ref.sum() * np.prod(spacing) / 1000,
    }
    os.makedirs(out, exist_ok=True)
    np.ascontiguousarray(ref.transpose(2, 1, 0)).astype(np.uint8).tofile(os.path.join(out, "ref.u8"))
    np.ascontiguousarray(pred.transpose(2, 1, 0)).astype(np.uint8).tofile(os.path.join(out, "pred.u8"))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in meta.items()}, f, indent=1)


if __name__ == "__main__":
    main()
