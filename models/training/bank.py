"""Preprocessed case cache and a fixed bank of augmented training crops.

The bank is built once (seeded) so that every student variant and the teacher
see identical data, and teacher logits can be cached on it.
"""
import os
import numpy as np
from scipy import ndimage
import lsdata as D

CROP_IJK = (64, 64, 32)    # network sees [Z,Y,X] = (32, 64, 64)


def prep_case(name, ct_path, lb_path, cache_dir):
    """Low-res (S mm) canonical HU [i,j,k] and soft liver fraction (the label
    resampled with the same trilinear rule), cached as .npz."""
    p = os.path.join(cache_dir, f"prep_{name}_S{D.SPACING:g}.npz")
    if os.path.exists(p):
        z = np.load(p)
        return z["hu"], z["lab"], z["spacing"]
    hu, sp = D.load_nifti_canonical(ct_path)
    lb, sp2 = D.load_nifti_canonical(lb_path)
    assert hu.shape == lb.shape, (name, hu.shape, lb.shape)
    coords = D.downsample_coords(hu.shape, sp)
    low = D.resample_to(hu.astype(np.float32), coords)
    lab = D.resample_to((lb >= 1).astype(np.float32), coords)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = p + ".tmp.npz"
    np.savez(tmp, hu=low, lab=lab, spacing=np.array(sp))
    os.replace(tmp, p)
    return low, lab, np.array(sp)


def _rot(ax, ang):
    c, s = np.cos(ang), np.sin(ang)
    m = np.eye(3)
    i, j = [a for a in range(3) if a != ax]
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


# Recipe 2 (see models/README.md, "Diagnosis"): more crops centred just
# outside the liver, a contrast-phase augmentation that moves the liver's HU
# relative to its surroundings, and a hard-negative map for the loss.
NEAR_MM = (10.0, 60.0)       # recipe 2: "near-liver" crop centres, mm from the liver
HARDNEG_MM = (10.0, 40.0)    # recipe 2: background this far from the liver is a hard negative
LIVER_TARGET_HU = (40.0, 160.0)  # recipe 2: simulated enhancement, target liver median HU


def liver_distance(lab):
    """Distance (mm) of each low-res voxel from the liver (lab > 0.5); 0 inside."""
    return ndimage.distance_transform_edt(lab <= 0.5, sampling=D.SPACING).astype(np.float32)


def augment_sample(hu, lab, rng, crop=CROP_IJK, recipe=1, dist=None, liver_med=None):
    """One augmented crop: random affine (rotation ±15° in-plane, ±5° out of
    plane, scale 0.85–1.15), light elastic, HU shift ±60 / contrast ×0.85–1.15,
    noise, blur, random crop position (z-crops). No left-right flips.

    recipe 1 (the release models): centre on a random liver voxel 70 %, else
    anywhere. recipe 2: liver 50 %, a voxel 10–60 mm outside the liver 25 %,
    anywhere 25 %; with probability 0.5 the liver (soft label) is shifted so
    that its median HU becomes U(40, 160) (contrast phases: the liver's
    enhancement relative to its neighbours changes, not just a global
    window shift), and a third output marks hard negatives (background
    10–40 mm from the liver). recipe 3: recipe 2 without the contrast-phase
    shift. Recipe 1 draws exactly the same random numbers as before, so its
    banks are reproducible."""
    crop = np.array(crop)
    liver = np.argwhere(lab > 0.5)
    if recipe == 1:
        # Crop centre: 70% near a random liver voxel, else anywhere.
        if len(liver) and rng.random() < 0.7:
            c = liver[rng.integers(len(liver))] + rng.normal(0, 4, 3)
        else:
            c = np.array([rng.uniform(0, s - 1) for s in hu.shape])
    else:
        u = rng.random()
        near = np.argwhere((dist > NEAR_MM[0]) & (dist <= NEAR_MM[1])) if len(liver) else []
        if len(liver) and u < 0.5:
            c = liver[rng.integers(len(liver))] + rng.normal(0, 4, 3)
        elif len(near) and u < 0.75:
            c = near[rng.integers(len(near))] + rng.normal(0, 2, 3)
        else:
            c = np.array([rng.uniform(0, s - 1) for s in hu.shape])
    # Keep x/y reasonably centred (the body is), z anywhere.
    A = _rot(2, np.deg2rad(rng.uniform(-15, 15))) @ _rot(0, np.deg2rad(rng.uniform(-5, 5))) @ _rot(1, np.deg2rad(rng.uniform(-5, 5)))
    sc = rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, 3)
    A = A @ np.diag(sc)
    grid = np.stack(np.meshgrid(*[np.arange(n) - (n - 1) / 2 for n in crop], indexing="ij"), 0).reshape(3, -1)
    coords = A @ grid + c[:, None]
    if rng.random() < 0.7:  # light elastic: smooth displacement, ~1 voxel
        coarse = rng.normal(0, 1.0, (3, 4, 4, 3))
        disp = np.stack([ndimage.zoom(coarse[a], crop / np.array(coarse.shape[1:]), order=3) for a in range(3)])
        coords = coords + disp.reshape(3, -1)
    img = ndimage.map_coordinates(hu, coords, order=1, mode="constant", cval=-1000.0).reshape(crop)
    lb = ndimage.map_coordinates(lab, coords, order=1, mode="constant", cval=0.0).reshape(crop)
    img = img.astype(np.float32)
    hn = None
    if recipe >= 2:
        dd = ndimage.map_coordinates(dist, coords, order=1, mode="constant", cval=1e3).reshape(crop)
        hn = ((dd > HARDNEG_MM[0]) & (dd <= HARDNEG_MM[1])).transpose(2, 1, 0)
        if recipe == 2 and liver_med is not None and rng.random() < 0.5:
            delta = np.clip(rng.uniform(*LIVER_TARGET_HU) - liver_med, -70, 70)
            img = img + np.float32(delta) * np.clip(lb, 0, 1).astype(np.float32)
    if rng.random() < 0.2:
        img = ndimage.gaussian_filter(img, rng.uniform(0.4, 1.0))
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(2, 15), img.shape).astype(np.float32)
    img = (img - 40.0) * rng.uniform(0.85, 1.15) + 40.0 + rng.uniform(-60, 60)
    x = D.normalise(img).transpose(2, 1, 0)            # [Z,Y,X]
    y = np.clip(lb, 0, 1).transpose(2, 1, 0)
    if hn is None:
        return np.ascontiguousarray(x), np.ascontiguousarray(y)
    return np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(hn)


def bank_path(cache_dir, tag, recipe=1):
    return os.path.join(cache_dir, f"bank_{tag}.npz" if recipe == 1 else f"bank_{tag}_r{recipe}.npz")


def crop_arrays(n, recipe):
    """Empty bank arrays for n crops: x (f16), y (u8, fraction x255) and, for
    recipe >= 2, hn (u8 hard-negative map; None otherwise)."""
    Z, Y, X = CROP_IJK[2], CROP_IJK[1], CROP_IJK[0]
    return {"x": np.zeros((n, Z, Y, X), np.float16), "y": np.zeros((n, Z, Y, X), np.uint8),
            "hn": np.zeros((n, Z, Y, X), np.uint8) if recipe >= 2 else None}


def add_crops(hu, lab, rng, k, arrs, s, recipe):
    """k augmented crops of one 5 mm volume (hu, soft liver lab) into the
    crop_arrays arrs from index s (a generated volume's share of a bank);
    returns the next free index."""
    dist = liver_distance(lab)
    med = float(np.median(hu[lab > 0.5]))
    for _ in range(k):
        out = augment_sample(hu, lab, rng, recipe=recipe, dist=dist, liver_med=med)
        arrs["x"][s], arrs["y"][s] = out[0].astype(np.float16), np.round(out[1] * 255).astype(np.uint8)
        if arrs["hn"] is not None:
            arrs["hn"][s] = out[2]
        s += 1
    return s


def build_bank(cases, n, seed, cache_dir, tag, recipe=1):
    """Returns dict x [N,Z,Y,X] f16, y [N,Z,Y,X] u8 (fraction ×255), w [N],
    case [N] (recipe 2 adds hn [N,Z,Y,X] u8, the hard-negative map). Cached
    in cache_dir/bank_<tag>[_r<recipe>].npz."""
    p = bank_path(cache_dir, tag, recipe)
    if os.path.exists(p):
        z = np.load(p)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    preps = [prep_case(nm, ct, lb, cache_dir) for nm, ct, lb, _ in cases]
    dists = [liver_distance(lab) for _, lab, _ in preps]
    meds = [float(np.median(hu[lab > 0.5])) for hu, lab, _ in preps]
    w = np.array([c[3] for c in cases], dtype=np.float64)
    prob = w / w.sum()
    arrs = crop_arrays(n, recipe)
    xs, ys, hns = arrs["x"], arrs["y"], arrs["hn"]
    ws = np.zeros(n, np.float32)
    cs = np.zeros(n, np.int16)
    for s in range(n):
        ci = rng.choice(len(cases), p=prob)
        hu, lab, _ = preps[ci]
        out = augment_sample(hu, lab, rng, recipe=recipe, dist=dists[ci], liver_med=meds[ci])
        x, y = out[0], out[1]
        xs[s], ys[s] = x.astype(np.float16), np.round(y * 255).astype(np.uint8)
        if hns is not None:
            hns[s] = out[2]
        ws[s], cs[s] = cases[ci][3], ci
    res = {"x": xs, "y": ys, "w": ws, "case": cs}
    if hns is not None:
        res["hn"] = hns
    tmp = p + ".tmp.npz"
    np.savez(tmp, **res)
    os.replace(tmp, p)
    return res
