"""Edge refinement: the network's outline moved onto the scan's own liver edge.

The networks see the CT at 5 mm, so the outline they give is placed to within
a fraction of a 5 mm voxel, and on real scans it sits 2–3.5 mm outside the
drawn edge (models/README.md, "Diagnosis": a shell of false positives within
5 mm of the reference on every case, +8–14 % volume). This step re-decides
only the voxels in a thin band around the network's outline, at the scan's
own resolution, from the HU of the liver measured in the same scan:

1. the core of the network's mask (eroded by CORE_MM) gives the liver's HU
   (median m, robust spread s = 1.4826·MAD) from each voxel's own HU
   (SMOOTH_HU: from 3×3×3 means instead; measured, not used: see below);
2. the ring just outside the mask (dilated by BAND_MM minus the mask) gives
   the median HU b of what surrounds it;
3. in the band (mask dilated by BAND_MM minus mask eroded by BAND_MM) a voxel
   is liver when its smoothed HU lies in [lo, hi] with
   lo = max(m − K_LO·s, (m + b)/2)   (half-way to the surroundings: the 50 %
                                       partial-volume point of the edge)
   hi = m + K_HI·s                     (excludes enhanced vessels/kidney/bone
                                       only where they are far brighter);
   outside the band the network's decision stands; the band's decision is
   then smoothed by a box majority vote of about 2·SMOOTH_MM (CT noise makes
   a voxel-wise decision ragged);
4. the app's clean-up: largest 6-connected component, holes filled.

Deciding on 3×3×3 means was tried first: the mean of a voxel on a sharp edge
mixes in a third of the outside, so it falls below m − 3·s (s of the means is
small) and the outline is pulled about one voxel inside the true edge on
every face (inference/refine_test.go's ball shows it); it matched the tight
reference labels' volumes better but lowered Dice in 3 of 29 held-out pairs,
where each voxel's own HU raised it in all of them (models/README.md, "Edge
refinement").

Boxes (per-axis half-widths floor(mm / spacing + 0.5), at least 1) rather than Euclidean
distances keep it separable, which is what the Go side (inference/refine.go)
implements; this file is the reference and the experiment driver.

    /usr/bin/python3 models/training/refine.py --threads 2   # measures it (see models/README.md)
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evaluation as E   # noqa: E402
import lsdata as D       # noqa: E402
import nets as N         # noqa: E402

CORE_MM = 10.0
BAND_MM = 3.0
K_LO = 3.0
K_HI = 4.0
SMOOTH_MM = 1.0
SMOOTH_HU = False
MIN_CORE = 1000


def _half(mm, sp):
    """Per-axis half-widths of a box of about mm (at least one voxel);
    floor(x + 0.5), as the Go side rounds."""
    return [max(1, int(np.floor(mm / s + 0.5))) for s in sp]


def _box(m, half, op):
    """Box dilation / erosion of a boolean array with the outside counted as
    background (an erosion clears voxels within half of the array's edge)."""
    size = [2 * h + 1 for h in half]
    if op == "dilate":
        return ndimage.maximum_filter(m.astype(np.uint8), size=size, mode="constant", cval=0).astype(bool)
    return ndimage.minimum_filter(m.astype(np.uint8), size=size, mode="constant", cval=0).astype(bool)


def refine(hu, mask, sp, core_mm=CORE_MM, band_mm=BAND_MM, k_lo=K_LO, k_hi=K_HI, midpoint=True, smooth_mm=SMOOTH_MM, smooth_hu=SMOOTH_HU):
    """hu: canonical HU [i,j,k] (integers); mask: the network's cleaned mask
    on the same grid. Returns (refined mask uint8, stats dict). A mask too
    small to have a core is returned unchanged.

    All HU statistics are kept in units of the 3×3×3 sum (27 × HU), which
    are integers: the medians and thresholds are then exactly what the Go
    side computes."""
    m = mask.astype(bool)
    if not m.any():
        return mask.astype(np.uint8), {"changed": False, "why": "empty"}
    hb = _half(band_mm, sp)
    hc = _half(core_mm, sp)
    # Work in the mask's box plus the band and one voxel.
    idx = np.argwhere(m)
    lo = np.maximum(idx.min(0) - np.array(hb) - 1, 0)
    hi = np.minimum(idx.max(0) + np.array(hb) + 2, m.shape)
    sl = tuple(slice(lo[a], hi[a]) for a in range(3))
    mb = m[sl]
    # 3×3×3 sums of HU, edges replicated (the crop's own edges).
    h = hu[sl]
    if not np.issubdtype(h.dtype, np.integer):
        # The app holds HU as int16 (rounded on load).
        h = np.clip(np.rint(h), -32768, 32767)
    if smooth_hu:
        hs = ndimage.correlate(h.astype(np.int32), np.ones((3, 3, 3), np.int32), mode="nearest")
    else:
        hs = 27 * h.astype(np.int32)
    core = _box(mb, hc, "erode")
    if core.sum() < MIN_CORE:
        return mask.astype(np.uint8), {"changed": False, "why": "no core"}
    v = hs[core].astype(np.float64)
    med = float(np.median(v))
    s = float(1.4826 * np.median(np.abs(v - med)))
    dil = _box(mb, hb, "dilate")
    ero = _box(mb, hb, "erode")
    ring = dil & ~mb
    b = float(np.median(hs[ring].astype(np.float64))) if ring.any() else med
    t_lo = med - k_lo * s
    if midpoint:
        t_lo = max(t_lo, 0.5 * (med + b))
    t_hi = med + k_hi * s
    band = dil & ~ero
    out = mb.copy()
    out[band] = (hs[band] >= t_lo) & (hs[band] <= t_hi)
    if smooth_mm > 0:
        # A voxel-wise HU decision is ragged (CT noise): a box majority vote
        # (box of about 2·smooth_mm, outside = background) over the band.
        hw = _half(smooth_mm, sp)
        cnt = ndimage.correlate(out.astype(np.int32), np.ones([2 * h + 1 for h in hw], np.int32),
                                mode="constant", cval=0)
        vol = int(np.prod([2 * h + 1 for h in hw]))
        out[band] = 2 * cnt[band] > vol
    res = np.zeros_like(mask, dtype=np.uint8)
    res[sl] = D.clean_mask(out)
    return res, {"changed": True, "liver_median_hu": round(med / 27, 1), "liver_spread_hu": round(s / 27, 1),
                 "around_median_hu": round(b / 27, 1), "lo_hu": round(t_lo / 27, 1), "hi_hu": round(t_hi / 27, 1)}


VARIANTS = {
    "net": None,
    "b3_k3_hi4_s1": dict(k_lo=3.0, k_hi=4.0, band_mm=3.0, smooth_mm=1.0, smooth_hu=True),
    "raw_b3_k3_hi4_s1": dict(k_lo=3.0, k_hi=4.0, band_mm=3.0, smooth_mm=1.0, smooth_hu=False),
    "raw_b3_k2_hi3_s1": dict(k_lo=2.0, k_hi=3.0, band_mm=3.0, smooth_mm=1.0, smooth_hu=False),
}


def summarise(rows):
    """Markdown table: per variant, over the held-out (model, case) pairs,
    mean Dice, HD95, |volume error| and how often it beat the network's own
    outline."""
    base = {(r["model"], r["case"]): r for r in rows if r["variant"] == "net" and r["held_out"]}
    out = ["| variant | pairs | mean Dice | Δ Dice vs net (min…max) | Dice better in | mean HD95 (mm) | "
           "mean abs. volume error (%) | abs. volume error ≤ 5 % in |",
           "|---|---|---|---|---|---|---|---|"]
    for v in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == v and r["held_out"] and (r["model"], r["case"]) in base]
        if not rs:
            continue
        dd = [r["dice"] - base[(r["model"], r["case"])]["dice"] for r in rs]
        better = sum(d > 0 for d in dd)
        out.append(f"| {v} | {len(rs)} | {np.mean([r['dice'] for r in rs]):.4f} | "
                   f"{np.mean(dd):+.4f} ({min(dd):+.3f}…{max(dd):+.3f}) | {better}/{len(rs)} | "
                   f"{np.mean([r['hd95_mm'] for r in rs]):.1f} | "
                   f"{np.mean([abs(r['volume_error_pct']) for r in rs]):.1f} | "
                   f"{sum(abs(r['volume_error_pct']) <= 5 for r in rs)}/{len(rs)} |")
    return "\n".join(out)


def kept_rows(jobs, old, rescore=False):
    """Rows of a previous results file (old) to keep, and the (model, case)
    pairs of jobs they cover. Finished nets do not change, so a pair scored
    before under the same variants and temperature, every variant present, is
    not recomputed (rescore, i.e. refine.py --fresh, recomputes the jobs' pairs).
    Pairs that are not among the jobs are carried over as they are: their
    nets may be gone (run folders are not kept from one machine to the next)
    and their scores are still the record; another variant set or temperature
    keeps nothing, as such rows could not be compared."""
    rows, kept = [], set()
    if old.get("variants") != dict(VARIANTS) or old.get("temperature") != D.SOFT_TEMPERATURE:
        return rows, kept
    have = {}
    for r in old["rows"]:
        have.setdefault((r["model"], r["case"]), []).append(r)
    wanted = {(label, case) for label, _, case, _ in jobs}
    for pair, got in have.items():
        if {r["variant"] for r in got} < set(VARIANTS):
            continue
        if pair not in wanted:
            rows += got
        elif not rescore:
            rows += got
            kept.add(pair)
    return rows, kept


NET_NAMES = {"teacher": "teacher", "student_nokd": "30k student, no KD", "student_kd": "30k student, teacher KD",
             "student100k_nokd": "100k student, no KD", "student100k_kd": "100k student, teacher KD"}


ARMS = ("real", "synth", "shape")


def fold_row(r):
    """(fold, arm, seed, net) of a row scoring a paired-CV fold net on its
    own held-out case ("cv/<fold>/<arm>_s<seed>/<net>"); None for any other row."""
    parts = r["model"].split("/")
    if parts[0] != "cv" or r["case"] != parts[1]:
        return None
    arm, _, seed = parts[2].partition("_s")
    return parts[1], arm, seed, parts[3]


def per_net(rows, shipped="raw_b3_k3_hi4_s1"):
    """Markdown table: per fold net and arm, on the held-out fold case, mean
    Dice / HD95 / volume error (mean |volume error|) of the network's outline
    and of the shipped refinement, over the finished (fold, seed) runs."""
    by = {}
    for r in rows:
        f = fold_row(r)
        if f is None or r["variant"] not in ("net", shipped):
            continue
        by.setdefault((f[3], f[1]), {}).setdefault(r["variant"], []).append(r)

    def cell(rs):
        return (f"{np.mean([r['dice'] for r in rs]):.3f} / {np.mean([r['hd95_mm'] for r in rs]):.1f} / "
                f"{np.mean([r['volume_error_pct'] for r in rs]):+.1f} "
                f"({np.mean([abs(r['volume_error_pct']) for r in rs]):.1f})")
    out = ["| net | arm | runs | network's outline | refined |", "|---|---|---|---|---|"]
    for net, name in NET_NAMES.items():
        for arm in ARMS:
            v = by.get((net, arm))
            if v and "net" in v and shipped in v:
                out.append(f"| {name} | {arm} | {len(v['net'])} | {cell(v['net'])} | {cell(v[shipped])} |")
    return "\n".join(out)


def paired_refined(rows, shipped="raw_b3_k3_hi4_s1"):
    """Markdown table: per net and new-anatomy arm, the refined outline's
    held-out Dice / HD95 / |volume error| difference arm − real over the
    (fold, seed) pairs where both nets were scored (the refined counterpart of
    paired_tables.py)."""
    got = {}
    for r in rows:
        f = fold_row(r)
        if f is None or r["variant"] != shipped:
            continue
        fold, arm, seed, net = f
        got.setdefault((net, arm), {})[(fold, seed)] = r
    out = ["| net | arm − real | pairs | Δ Dice (min…max) | Dice higher in | Δ HD95 (mm) | Δ abs. volume error (pp) |",
           "|---|---|---|---|---|---|---|"]
    for net, name in NET_NAMES.items():
        real = got.get((net, "real"), {})
        for arm in ARMS[1:]:
            new = got.get((net, arm), {})
            both = sorted(set(real) & set(new))
            if not both:
                continue
            dd = [new[j]["dice"] - real[j]["dice"] for j in both]
            dh = [new[j]["hd95_mm"] - real[j]["hd95_mm"] for j in both]
            dv = [abs(new[j]["volume_error_pct"]) - abs(real[j]["volume_error_pct"]) for j in both]
            out.append(f"| {name} | {arm} | {len(both)} | {np.mean(dd):+.3f} ({min(dd):+.3f}…{max(dd):+.3f}) | "
                       f"{sum(d > 0 for d in dd)}/{len(dd)} | {np.mean(dh):+.1f} | {np.mean(dv):+.1f} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cv", default=os.path.join(HERE, "runs", "cv_paired_r2"),
                    help="paired-CV run folder: every finished fold net is scored on its held-out case")
    ap.add_argument("--table", metavar="JSON", help="print the summary table of a results file and exit")
    ap.add_argument("--held-only", action="store_true", help="only held-out (model, case) pairs")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "refine.json"))
    ap.add_argument("--fresh", action="store_true", help="score every pair of the nets found again (default: keep those in --out)")
    a = ap.parse_args()
    if a.table:
        rows = json.load(open(a.table))["rows"]
        print(summarise(rows))
        print()
        print(per_net(rows))
        print()
        print(paired_refined(rows))
        return
    torch.set_num_threads(a.threads)

    jobs = []   # (label, checkpoint, case, held_out)
    for name in ["teacher", "assistant", "student100k", "student"]:
        p = os.path.join(HERE, "checkpoints", f"{name}.pt")
        for case in ["totalseg_s0009_partial", "chaos_ct01", "ircad_p01", "ircad_p07", "totalseg_example"]:
            jobs.append((f"release/{name}", p, case, case == "totalseg_s0009_partial"))
    if os.path.isdir(a.cv):
        for fold in sorted(os.listdir(a.cv)):
            fd = os.path.join(a.cv, fold)
            if not os.path.isdir(fd):
                continue
            for arm in sorted(os.listdir(fd)):
                for net in ["teacher", "student_nokd", "student_kd", "student100k_nokd", "student100k_kd"]:
                    p = os.path.join(fd, arm, f"{net}.pt")
                    if os.path.exists(p) and torch.load(p, map_location="cpu").get("done"):
                        jobs.append((f"cv/{fold}/{arm}/{net}", p, fold, True))
                        jobs.append((f"cv/{fold}/{arm}/{net}", p, "totalseg_s0009_partial", True))

    if a.held_only:
        jobs = [j for j in jobs if j[3]]
    rows, kept = [], set()
    if os.path.exists(a.out):
        rows, kept = kept_rows(jobs, json.load(open(a.out)), rescore=a.fresh)
    carried = len({(r["model"], r["case"]) for r in rows}) - len(kept)
    print(f"refine: {len(kept)} pairs kept from {a.out}, {carried} carried over (nets not here), "
          f"{len(jobs) - len(kept)} to score", flush=True)
    jobs = [j for j in jobs if (j[0], j[2]) not in kept]
    cases = {c[0]: c for c in D.find_cases(names=sorted({j[2] for j in jobs}))} if jobs else {}
    nets = {}
    for label, p, case, held in jobs:
        if p not in nets:
            nets = {p: N.load(p)}
        hu, lab, sp = E.load_case(*cases[case][:3])
        t0 = time.time()
        mask, _ = E.segment(nets[p], hu, sp, D.SOFT_TEMPERATURE)
        t_net = time.time() - t0
        for vname, kw in VARIANTS.items():
            t1 = time.time()
            st = {}
            mm = mask if kw is None else None
            if kw is not None:
                mm, st = refine(hu, mask, sp, **kw)
            row = {"model": label, "case": case, "held_out": held, "variant": vname,
                   "dice": round(float(D.dice(mm, lab)), 4), "hd95_mm": round(D.hd95(mm, lab, sp), 2),
                   "volume_error_pct": round(float(D.volume_error_pct(mm, lab)), 2),
                   "refine_s": round(time.time() - t1, 2) if kw else round(t_net, 2), **st}
            rows.append(row)
            print(json.dumps(row), flush=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"variants": {k: v for k, v in VARIANTS.items()}, "temperature": D.SOFT_TEMPERATURE,
                   "rows": rows}, f, indent=1)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
