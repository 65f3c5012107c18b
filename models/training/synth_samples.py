"""Renders synthetic training images next to real cases, as the network sees
them (5 mm grid, window [-250, 350] HU), with the liver reference outlined:
one row per volume, an axial and a coronal slice through the liver's centre.

  /usr/bin/python3 models/training/synth_samples.py [--out models/training/synth_samples.png] [--n 6]
"""
import argparse
import os
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bank as B     # noqa: E402
import lsdata as D   # noqa: E402
import synth as S    # noqa: E402

ZOOM = 2
PANEL = (110, 110)   # 5 mm voxels per panel (55 cm), before zoom


def write_png(path, rgb):
    """Minimal RGB PNG writer (no imaging library on this machine)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    tmp = path + ".tmp"
    open(tmp, "wb").write(png)
    os.replace(tmp, path)


RED, GREEN = (255, 40, 40), (40, 230, 40)


def _edge(m):
    return m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))


def panel(img2d, outlines):
    """2-D HU slice (rows = display rows) → RGB panel with outlines
    [(mask2d, colour)] drawn in order (shape_samples.py uses it too)."""
    g = np.clip((img2d - D.HU_LO) / (D.HU_HI - D.HU_LO), 0, 1) * 255
    out = np.zeros(PANEL + (3,), np.uint8)
    h, w = min(img2d.shape[0], PANEL[0]), min(img2d.shape[1], PANEL[1])
    oy, ox = (PANEL[0] - h) // 2, (PANEL[1] - w) // 2
    sl = (slice(oy, oy + h), slice(ox, ox + w))
    for c in range(3):
        out[sl + (c,)] = g[:h, :w]
    sub = out[sl]
    for m, col in outlines:
        sub[_edge(m[:h, :w] > 0.5)] = col
    return np.repeat(np.repeat(out, ZOOM, 0), ZOOM, 1)


def views(hu, lab):
    """Axial (display: anterior up, patient right on the left) and coronal
    (superior up) slices through the liver's centre of mass."""
    c = np.round(np.argwhere(lab > 0.5).mean(0)).astype(int)
    ax = hu[:, :, c[2]].T, lab[:, :, c[2]].T                 # rows j (A→P), cols i (R→L)
    co = hu[:, c[1], ::-1].T, lab[:, c[1], ::-1].T           # rows k (S→I), cols i
    return [panel(ax[0], [(ax[1], RED)]), panel(co[0], [(co[1], RED)])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "synth_samples.png"))
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--maps", default="ircad_p05,l2r_0003,totalseg_s0004,lits_010,lits_074,lits_090")
    args = ap.parse_args()
    cache = os.path.join(HERE, "cache")
    cases = D.find_cases()
    preps = {n: B.prep_case(n, ct, lb, cache) for n, ct, lb, _ in cases}
    stats = S.hu_stats(preps)
    rows = [views(preps[n][0], preps[n][1]) for n in ("chaos_ct01", "ircad_p01")]
    recs = {r["case"]: r for r in S.manifest()["cases"]}
    rng = np.random.default_rng(args.seed)
    for name in args.maps.split(",")[: args.n]:
        hu, lab, info = S.synth_volume(recs[name], cache, rng, stats)
        print(f"row {len(rows) + 1}: {info}")
        rows.append(views(hu, lab))
    sep = np.full((PANEL[0] * ZOOM, 4, 3), 80, np.uint8)
    grid = np.concatenate([np.concatenate([r[0], sep, r[1]], 1) for r in rows], 0)
    # Two rows of volumes side by side keep the PNG compact.
    half = (len(rows) + 1) // 2
    a, b = grid[: half * PANEL[0] * ZOOM], grid[half * PANEL[0] * ZOOM:]
    if b.shape[0] < a.shape[0]:
        b = np.concatenate([b, np.zeros((a.shape[0] - b.shape[0],) + b.shape[1:], np.uint8)], 0)
    write_png(args.out, np.concatenate([a, np.full((a.shape[0], 8, 3), 255, np.uint8), b], 1))
    print("wrote", args.out, "rows: chaos_ct01, ircad_p01 (real), then", args.maps)


if __name__ == "__main__":
    main()
