"""Renders shape-transfer samples (shapetransfer.py) next to the real cases, as
the network sees them (5 mm grid, window [-250, 350] HU). One row per
(source case, target map); axial and coronal slices through the source liver's
centre, the same slices in all three pairs of panels:

  1-2  the real source CT with its liver (red)
  3-4  the same CT with the target map's liver after the affine alignment (green):
       the shape the deformation aims at
  5-6  the transferred CT with its new liver label (red; = the source label
       deformed) and the aligned target liver (green)

  /usr/bin/python3 models/training/shape_samples.py [--out models/training/shape_samples.png]
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import shapetransfer as T     # noqa: E402
from synth_samples import GREEN, PANEL, RED, ZOOM, panel, write_png   # noqa: E402


def slices(vol, c):
    """Axial (anterior up, patient right on the left) and coronal (superior up)."""
    return vol[:, :, c[2]].T, vol[:, c[1], ::-1].T


def row(src_hu, src_lab, tgt, hu, lab):
    c = np.round(np.argwhere(src_lab > 0.5).mean(0)).astype(int)
    out = []
    for v in range(2):
        out.append(panel(slices(src_hu, c)[v], [(slices(src_lab, c)[v], RED)]))
    for v in range(2):
        out.append(panel(slices(src_hu, c)[v], [(slices(tgt, c)[v], GREEN)]))
    for v in range(2):
        out.append(panel(slices(hu, c)[v], [(slices(tgt, c)[v], GREEN), (slices(lab, c)[v], RED)]))
    sep = np.full((PANEL[0] * ZOOM, 4, 3), 80, np.uint8)
    wide = np.full((PANEL[0] * ZOOM, 10, 3), 255, np.uint8)
    return np.concatenate([out[0], sep, out[1], wide, out[2], sep, out[3], wide, out[4], sep, out[5]], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "shape_samples.png"))
    ap.add_argument("--sources", default="chaos_ct01,ircad_p07")
    ap.add_argument("--targets", default="ircad_p05,lits_010")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rows = []
    for s in args.sources.split(","):
        for t in args.targets.split(","):
            hu, lab, info = T.transfer(s, t, args.seed)
            z = np.zeros((3,) + hu.shape, np.float32)
            ct, lb, sp = T.load_case(s)
            src_hu, src_lab = T.sample_contract(ct, sp, z), T.sample_contract(lb, sp, z)
            print(f"row {len(rows) + 1}: {s} <- {t}: Dice affine {info['dice_affine']:.3f} -> deformed "
                  f"{info['dice_deformed']:.3f}, min det J {info['min_det_j']:.3f} (alpha {info['alpha']:.2f}), "
                  f"max |u| {info['max_disp_mm']:.1f} mm, {info['seconds_transfer']:.2f} s")
            rows.append(row(src_hu, src_lab, info["target_aligned"], hu, lab))
    hsep = np.full((6, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate(sum([[r, hsep] for r in rows], [])[:-1], 0)
    write_png(args.out, grid)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
