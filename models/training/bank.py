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


def augment_sample(hu, lab, rng, crop=CROP_IJK):
    """One augmented crop: random affine (rotation ±15° in-plane, ±5° out of
    plane, scale 0.85–1.15), light elastic, HU shift ±60 / contrast ×0.85–1.15,
    noise, blur, random crop position (z-crops). No left-right flips."""
    crop = np.array(crop)
    # Crop centre: 70% near a random liver voxel, else anywhere.
    liver = np.argwhere(lab > 0.5)
    if len(liver) and rng.random() < 0.7:
        c = liver[rng.integers(len(liver))] + rng.normal(0, 4, 3)
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
    if rng.random() < 0.2:
        img = ndimage.gaussian_filter(img, rng.uniform(0.4, 1.0))
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(2, 15), img.shape).astype(np.float32)
    img = (img - 40.0) * rng.uniform(0.85, 1.15) + 40.0 + rng.uniform(-60, 60)
    x = D.normalise(img).transpose(2, 1, 0)            # [Z,Y,X]
    y = np.clip(lb, 0, 1).transpose(2, 1, 0)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def build_bank(cases, n, seed, cache_dir, tag):
    """Returns dict x [N,Z,Y,X] f16, y [N,Z,Y,X] u8 (fraction ×255), w [N],
    case [N]. Cached in cache_dir/bank_<tag>.npz."""
    p = os.path.join(cache_dir, f"bank_{tag}.npz")
    if os.path.exists(p):
        z = np.load(p)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    preps = [prep_case(nm, ct, lb, cache_dir) for nm, ct, lb, _ in cases]
    w = np.array([c[3] for c in cases], dtype=np.float64)
    prob = w / w.sum()
    Z, Y, X = CROP_IJK[2], CROP_IJK[1], CROP_IJK[0]
    xs = np.zeros((n, Z, Y, X), np.float16)
    ys = np.zeros((n, Z, Y, X), np.uint8)
    ws = np.zeros(n, np.float32)
    cs = np.zeros(n, np.int16)
    for s in range(n):
        ci = rng.choice(len(cases), p=prob)
        hu, lab, _ = preps[ci]
        x, y = augment_sample(hu, lab, rng)
        xs[s], ys[s] = x.astype(np.float16), np.round(y * 255).astype(np.uint8)
        ws[s], cs[s] = cases[ci][3], ci
    tmp = p + ".tmp.npz"
    np.savez(tmp, x=xs, y=ys, w=ws, case=cs)
    os.replace(tmp, p)
    return {"x": xs, "y": ys, "w": ws, "case": cs}
