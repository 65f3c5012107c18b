"""Shape transfer (issue 15, option b): deform a labelled real CT so that its
liver takes the shape of another real anatomy from ../shared/data/labels.

The CT keeps its real texture, vessels, neighbours and acquisition; only the
geometry changes. Everything runs on the contract's 5 mm grid (lsdata.SPACING,
isotropic, canonical LPS), where the training banks live:

1. *Affine alignment* of the target map's liver onto the source's liver:
   centroids matched, per-axis scale = ratio of the livers' coordinate SDs
   (so the source liver's extent is kept; a seed jitters the scale a little).
   The aligned target liver is the shape the deformation aims at.
2. *Deformable step*: demons-like iterations on the two livers' signed
   distance maps (voxel units): du = (F - M) grad M / (|grad M|^2 + (F - M)^2),
   |du| <= 0.5 voxel per iteration, restricted to a band around the livers,
   smoothed (fluid sigma) and the accumulated field smoothed again (diffusion
   sigma): a smooth displacement field u that the rest of the body follows.
3. *Invertibility*: det(I + grad u) is checked on the grid; if its minimum is
   below MIN_DET the field is scaled down (bisection on the factor) until it
   is not. det J > 0 everywhere makes x -> x + u(x) a local diffeomorphism;
   `invert` computes the inverse by fixed-point iteration (tests check the
   round trip).
4. *Warp*: output voxel t samples the ORIGINAL CT and liver label at
   continuous index (t + u(t)) * (S / spacing), trilinear: exactly how the
   contract resamples a real scan (bank.prep_case), moved by u. With u = 0 the
   result equals prep_case's; the CT and the label are sampled at the same
   points, so the new soft liver label is the source label deformed (the pair
   stays consistent) and no image is interpolated twice.

Leak control: a target map that is the same patient as the source case (or a
held-out case) is refused / not drawn (synth.LEAK, synth.eligible).

Training: `build_shape_bank` turns transfers into augmented crops like a
real bank's; `train.py paired --anatomy shape` trains the CV's `shape` arm
with them (models/README.md, "Shape transfer").

  /usr/bin/python3 models/training/shapetransfer.py --source ircad_p07 --target lits_010 --out /tmp/x.npz
"""
import functools
import os
import time

import numpy as np
from scipy import ndimage

import bank as B
import lsdata as D
import synth as SY

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE_DEFAULT = os.path.join(HERE, "cache")

ITERS = 40            # demons iterations
SIGMA_FLUID = 1.0     # voxels (5 mm): smoothing of each update
SIGMA_DIFF = 2.0      # voxels (10 mm): smoothing of the accumulated field
BAND = 8.0            # voxels (40 mm): forces only this close to either liver surface
MIN_DET = 0.3         # lowest allowed Jacobian determinant (local volume ratio)
SCALE_JITTER = 0.06   # SD of the per-axis jitter of the alignment scale


# ---- field primitives (isotropic grid, voxel units) --------------------------------
def identity_grid(shape):
    return np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij"))


def warp(vol, u, order=1, cval=None):
    """vol sampled at x + u(x) (pull-back), trilinear for order 1; outside the
    grid the border value is repeated (cval None) or cval."""
    pts = identity_grid(vol.shape) + u
    mode = "nearest" if cval is None else "constant"
    return ndimage.map_coordinates(vol.astype(np.float32), pts, order=order, mode=mode,
                                   cval=0.0 if cval is None else cval, output=np.float32)


def jacobian_det(u):
    """det(I + grad u) per voxel (central differences inside, one-sided at the
    border), for a field u of shape (3, nx, ny, nz) in voxels."""
    g = np.stack([np.stack(np.gradient(u[a]), 0) for a in range(3)], 0)   # g[a, b] = d u_a / d x_b
    j = g + np.eye(3)[:, :, None, None, None]
    return (j[0, 0] * (j[1, 1] * j[2, 2] - j[1, 2] * j[2, 1])
            - j[0, 1] * (j[1, 0] * j[2, 2] - j[1, 2] * j[2, 0])
            + j[0, 2] * (j[1, 0] * j[2, 1] - j[1, 1] * j[2, 0]))


def invert(u, iters=30):
    """Inverse displacement v of x -> x + u(x): the fixed point of
    v(y) = -u(y + v(y)), so that (y + v(y)) + u(y + v(y)) = y on the grid
    (converges where det J > 0 and u's gradient is moderate)."""
    v = -u.copy()
    for _ in range(iters):
        v = -np.stack([warp(u[a], v) for a in range(3)])
    return v


def compose(u, v):
    """Displacement of x -> (x + u(x)) then + v: w(x) = u(x) + v(x + u(x))."""
    return u + np.stack([warp(v[a], u) for a in range(3)])


def limit_fold(u, min_det=MIN_DET, steps=12):
    """Largest alpha in (0, 1] (bisection) with min det J(alpha u) >= min_det.
    Returns (alpha * u, alpha, min det J)."""
    d = float(jacobian_det(u).min())
    if d >= min_det:
        return u, 1.0, d
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if jacobian_det(mid * u).min() >= min_det:
            lo = mid
        else:
            hi = mid
    return lo * u, lo, float(jacobian_det(lo * u).min())


def sdf(mask):
    """Signed distance to the mask's surface in voxels: negative inside."""
    m = mask.astype(bool)
    if not m.any():
        return np.full(m.shape, 1e3, np.float32)
    out = ndimage.distance_transform_edt(~m)
    inn = ndimage.distance_transform_edt(m)
    return (out - inn).astype(np.float32)


def demons_field(src, tgt, iters=ITERS, sigma_fluid=SIGMA_FLUID, sigma_diff=SIGMA_DIFF, band=BAND):
    """Displacement u (3, *shape) such that src(x + u(x)) ~ tgt(x), from the
    masks' signed distance maps (see module doc, step 2)."""
    ms, F = sdf(src), sdf(tgt)
    near = np.minimum(np.abs(F), np.abs(ms)) < band
    u = np.zeros((3,) + src.shape, np.float32)
    for _ in range(iters):
        M = warp(ms, u)
        g = np.stack(np.gradient(M), 0)
        diff = (F - M) * near
        den = (g ** 2).sum(0) + diff ** 2
        du = np.where(den > 1e-6, diff / np.maximum(den, 1e-6), 0.0) * g
        du = np.stack([ndimage.gaussian_filter(du[a], sigma_fluid) for a in range(3)])
        u = np.stack([ndimage.gaussian_filter(u[a] + du[a], sigma_diff) for a in range(3)]).astype(np.float32)
    return u


# ---- alignment ---------------------------------------------------------------------
def _moments(mask):
    idx = np.argwhere(mask)
    return idx.mean(0), idx.std(0) + 1e-6


def align_target(src_mask, tgt_soft, jitter=(1.0, 1.0, 1.0)):
    """Target liver (soft, on its own 5 mm grid) resampled onto the source
    grid: centroids matched, per-axis scale = source SD / target SD × jitter.
    Returns (aligned soft liver on the source grid, scale per axis)."""
    cs, ss = _moments(src_mask)
    ct, st = _moments(tgt_soft > 0.5)
    a = ss / st * np.asarray(jitter)
    pts = identity_grid(src_mask.shape)
    y = (ct[:, None, None, None] + (pts - cs[:, None, None, None]) / a[:, None, None, None])
    out = ndimage.map_coordinates(tgt_soft.astype(np.float32), y, order=1, mode="constant", cval=0.0,
                                  output=np.float32)
    return out, a


# ---- the pair on the contract grid ---------------------------------------------------
def sample_contract(vol, spacing, u, S=D.SPACING, out=None):
    """vol (original canonical grid) sampled at the contract grid's voxels t
    moved by u: continuous index (t + u(t)) * (S / spacing_a), trilinear,
    clamped to the grid (lsdata's rule; u = 0 gives lsdata.resample_to)."""
    shp = u.shape[1:]
    pts = identity_grid(shp) + u
    for a in range(3):
        pts[a] = np.clip(pts[a] * (S / spacing[a]), 0, vol.shape[a] - 1)
    return ndimage.map_coordinates(vol, pts, order=1, mode="nearest", output=np.float32)


@functools.lru_cache(maxsize=2)
def load_case(name, root=None):
    """Original canonical CT (int16) and liver label (uint8) of a real case, spacing."""
    root = root or D.DATA_ROOT_DEFAULT
    d = os.path.join(root, "cases", name)
    ct, sp = D.load_nifti_canonical(os.path.join(d, "ct.nii.gz"))
    lb, sp2 = D.load_nifti_canonical(os.path.join(d, "liver.nii.gz"))
    if ct.shape != lb.shape:
        raise ValueError(f"case {name}: ct {ct.shape} and liver {lb.shape} differ ({d})")
    return np.ascontiguousarray(ct), np.ascontiguousarray((lb >= 1).astype(np.float32)), tuple(sp)


def transfer_arrays(ct, lab, spacing, tgt_liver5, rng=None, iters=ITERS, min_det=MIN_DET):
    """Shape transfer of one source (original-grid CT and {0,1} liver, spacing
    in mm) onto one target liver (soft, 5 mm canonical). Returns
    (hu5, liver5 soft, info) on the source's 5 mm contract grid."""
    shp = D.out_size(ct.shape, spacing)
    zero = np.zeros((3,) + tuple(shp), np.float32)
    lab0 = sample_contract(lab, spacing, zero)
    src = lab0 > 0.5
    jit = np.ones(3) if rng is None else np.clip(rng.normal(1.0, SCALE_JITTER, 3), 0.85, 1.15)
    tgt_soft, scale = align_target(src, tgt_liver5, jit)
    # Enclosed holes (vessels cut out of a map's liver) are filled: the field
    # should follow the outer shape. Vessels that run through to the surface
    # (IRCAD's IVC and hepatic veins) stay channels in the target; the output
    # label is the SOURCE label deformed, so its conventions are the source's.
    tgt = ndimage.binary_fill_holes(tgt_soft > 0.5)
    u_raw = demons_field(src, tgt, iters=iters)
    u, alpha, dmin = limit_fold(u_raw, min_det)
    hu = sample_contract(ct, spacing, u)
    liver = sample_contract(lab, spacing, u)
    disp = np.sqrt((u ** 2).sum(0)) * D.SPACING
    info = {"dice_affine": float(D.dice(src, tgt)), "dice_deformed": float(D.dice(liver > 0.5, tgt)),
            "min_det_j": dmin, "min_det_j_raw": float(jacobian_det(u_raw).min()), "alpha": alpha,
            "max_disp_mm": float(disp.max()), "mean_disp_liver_mm": float(disp[src].mean()),
            "scale": [float(s) for s in scale], "target_aligned": tgt.astype(np.float32), "field": u}
    return hu, liver, info


def targets_for(source, holdouts=(), man=None):
    """Label-map records usable as targets for a source case: not the source's
    own patient, not a held-out case's patient (synth.eligible)."""
    return SY.eligible(list(holdouts) + [source], man)


def transfer(source_case, target_map, seed, cache_dir=CACHE_DEFAULT, holdouts=(), root=None):
    """(hu, liver) on the 5 mm contract grid: the real case `source_case`
    deformed so that its liver takes the shape of the label map `target_map`
    (a manifest case name, or None to draw one from the eligible maps with
    the seed). Also returns info (Dice before/after, min det J, timing).
    Raises ValueError for a target that is the same patient as the source or
    a held-out case."""
    t0 = time.time()
    rng = np.random.default_rng(seed)
    man = SY.manifest()
    ok = {r["case"]: r for r in targets_for(source_case, holdouts, man)}
    if target_map is None:
        target_map = sorted(ok)[rng.integers(len(ok))]
    if target_map not in ok:
        known = {r["case"] for r in man["cases"]}
        why = "unknown map" if target_map not in known else "same patient as the source or a held-out case"
        raise ValueError(f"shape transfer {source_case} <- {target_map}: {why}")
    tgt = SY.prep_map(ok[target_map], cache_dir)["liver5"].astype(np.float32)
    ct, lab, sp = load_case(source_case, root)
    t1 = time.time()
    hu, liver, info = transfer_arrays(ct, lab, sp, tgt, rng)
    info.update({"source": source_case, "target": target_map, "seed": seed,
                 "seconds_load": t1 - t0, "seconds_transfer": time.time() - t1})
    return hu, liver, info


def _load_paths(ct_path, lb_path):
    ct, sp = D.load_nifti_canonical(ct_path)
    lb, _ = D.load_nifti_canonical(lb_path)
    if ct.shape != lb.shape:
        raise ValueError(f"{ct_path}: ct {ct.shape} and liver {lb.shape} differ")
    return np.ascontiguousarray(ct), np.ascontiguousarray((lb >= 1).astype(np.float32)), tuple(sp)


def build_shape_bank(cases, holdouts, n, seed, cache_dir, tag, recipe=2, per_volume=6, log=print):
    """n augmented crops from shape transfers: each volume is a training case
    (drawn with the real bank's case weights) deformed onto the liver of a
    label map that is neither its own patient nor a held-out case's
    (targets_for), then cropped and augmented exactly like a real case
    (bank.augment_sample). cases: the fold's TRAINING cases, lsdata.find_cases
    tuples (name, ct, label, weight); a crop keeps its source case's weight.
    Same layout as bank.build_bank (case = the source's index in cases) plus
    shape_pairs ("source<-target" per volume) and shape_min_det (min det J).
    Cached in cache_dir/shapebank_<tag>_r<recipe>.npz."""
    p = os.path.join(cache_dir, f"shapebank_{tag}_r{recipe}.npz")
    if os.path.exists(p):
        z = np.load(p)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng([seed, 98])
    man = SY.manifest()
    names = [c[0] for c in cases]
    bad = [h for h in holdouts if h in names]
    if bad:
        raise ValueError(f"shape bank {tag}: held-out case(s) {bad} among the sources")
    w = np.array([c[3] for c in cases], np.float64)
    srcs = {}
    arrs = B.crop_arrays(n, recipe)
    ws = np.zeros(n, np.float32)
    cs = np.zeros(n, np.int16)
    pairs, dets = [], []
    s, t0 = 0, time.time()
    while s < n:
        ci = int(rng.choice(len(cases), p=w / w.sum()))
        name = names[ci]
        if name not in srcs:
            srcs[name] = _load_paths(cases[ci][1], cases[ci][2])
        targets = sorted(r["case"] for r in targets_for(name, holdouts, man))
        rec = {r["case"]: r for r in man["cases"]}[targets[rng.integers(len(targets))]]
        tgt = SY.prep_map(rec, cache_dir)["liver5"].astype(np.float32)
        ct, lab, sp = srcs[name]
        hu, liver, info = transfer_arrays(ct, lab, sp, tgt, rng)
        pairs.append(f"{name}<-{rec['case']}")
        dets.append(info["min_det_j"])
        s0 = s
        s = B.add_crops(hu, liver, rng, min(per_volume, n - s), arrs, s, recipe)
        ws[s0:s], cs[s0:s] = cases[ci][3], ci
        if len(pairs) % 20 == 0:
            log(f"shape bank {tag}: {s}/{n} crops ({time.time() - t0:.0f} s)")
    res = {"x": arrs["x"], "y": arrs["y"], "w": ws, "case": cs, "shape_pairs": np.array(pairs),
           "shape_min_det": np.array(dets, np.float32)}
    if arrs["hn"] is not None:
        res["hn"] = arrs["hn"]
    np.savez(p + ".tmp.npz", **res)
    os.replace(p + ".tmp.npz", p)
    return res


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", default=None, help="label map name (manifest 'case'); default: drawn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help=".npz with hu, lab (5 mm canonical), spacing")
    a = ap.parse_args()
    hu, liver, info = transfer(a.source, a.target, a.seed)
    tmp = a.out + ".tmp.npz"
    np.savez_compressed(tmp, hu=hu, lab=liver, spacing=np.full(3, D.SPACING))
    os.replace(tmp, a.out)
    print({k: v for k, v in info.items() if k not in ("target_aligned", "field")})
