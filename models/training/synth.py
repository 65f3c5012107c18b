"""Label-driven synthesis of CT-like training images from real anatomy
(SynthSeg-style), from the 143 label maps in ../shared/data/labels.

Every map is reduced once to a common tissue-class map on a 2.5 mm canonical
(LPS) grid plus its liver fraction on the contract's 5 mm grid (the same
trilinear rule as the real cases' labels, bank.prep_case), cached under
cache/synth/. A synthetic image is then drawn per call:

* structures the map lacks are completed: a body outline (IRCAD has one; the
  others get an elliptical body built around their organs), subcutaneous fat
  and an abdominal-wall muscle layer from the distance to the skin, a spine
  with paraspinal muscles and ribs (maps without bone), lungs above a
  diaphragm surface that follows the tops of the liver/spleen/stomach and a
  heart in front of them (maps without lungs), and a randomised visceral
  fill of fat, bowel wall, bowel content and gas pockets;
* each class gets a mean HU from a randomly drawn contrast phase (native,
  arterial, portal-venous, delayed: published ranges, the phantom's tissue
  model in phantom/anatomy.go, and the liver/fat/muscle statistics measured
  on the fold's real training cases), and with probability DOMAIN_RAND every
  non-liver class instead gets a uniform random mean (SynthSeg's domain
  randomisation, so the net cannot key on one phase's contrasts);
* texture (correlated noise per class, liver vessels/lesions drawn from the
  map where it has them, random ones where not), a smooth additive bias
  field, partial volume (Gaussian blur at 2.5 mm), white noise, and the
  5 mm image is point-sampled from the 2.5 mm one exactly as the contract's
  resampling samples a real scan (every second voxel: t * 5/2.5 = 2t).

The result (5 mm HU volume + soft liver fraction) goes through the same crop
augmentation as a real case (bank.augment_sample).

Pitfalls handled: `ircad_p01`/`ircad_p07` are the patients of the real cases
of the same name (leak_cases: a fold holding such a case out drops its map);
maps whose liver is upside down (more liver in the lower half AND its
inferior part left of its superior part — `lits_074`) are flipped
superior-inferior (LiTS' absolute positions mean nothing, so a flip is the
only correction needed); see check_flip.
"""
import json
import os

import numpy as np
from scipy import ndimage

import bank as B
import lsdata as D

FINE = 2.5                     # mm, synthesis grid (2 × finer than the 5 mm contract grid)
LABELS_DIR = os.path.join(D.DATA_ROOT_DEFAULT, "labels")

# ---- common tissue classes ---------------------------------------------------
(AIR, LIVER, LVESSEL, LLESION, SPLEEN, KIDNEY, PANCREAS, STOMACH, GALL, ARTERY, VEIN, PORTAL, LUNG, BONE,
 ORGAN, BOWEL, MUSCLE, HEART, BODY, UNKNOWN, CORD, BLADDER) = range(22)
NCLS = 22
# Derived classes the completion adds (never in a source map).
FAT, VFILL, WALLMUSCLE = 22, 23, 24
NALL = 25
NAMES = ["air", "liver", "liver vessel", "liver lesion", "spleen", "kidney", "pancreas", "stomach", "gallbladder",
         "artery", "vein", "portal vein", "lung", "bone", "other organ", "bowel", "muscle", "heart", "body",
         "unknown", "spinal cord", "bladder", "subcutaneous fat", "visceral fill", "wall muscle"]


def _lut(pairs, default):
    lut = np.full(256, default, np.uint8)
    for vals, c in pairs:
        for v in vals:
            lut[v] = c
    return lut


R = lambda a, b: range(a, b + 1)  # noqa: E731
LUTS = {
    "ircad": _lut([([1], LIVER), ([2, 3, 8, 9], LLESION), ([4, 5, 6, 7], LVESSEL), ([10], PORTAL), ([11], VEIN),
                   ([12], ARTERY), ([13], GALL), ([14], ORGAN), ([15], SPLEEN), ([16, 17], KIDNEY),
                   ([18, 19, 20], ORGAN), ([21], PANCREAS), ([22], STOMACH), ([23, 24], LUNG), ([25, 26], BONE),
                   ([27, 28, 29, 30], ORGAN), ([40], BODY), ([0], AIR)], BODY),
    "learn2reg_abdomenct": _lut([([1], SPLEEN), ([2, 3], KIDNEY), ([4], GALL), ([5], ORGAN), ([6], LIVER),
                                 ([7], STOMACH), ([8], ARTERY), ([9], VEIN), ([10], PORTAL), ([11], PANCREAS),
                                 ([12, 13], ORGAN), ([0], UNKNOWN)], UNKNOWN),
    "totalseg": _lut([([1], SPLEEN), ([2, 3], KIDNEY), ([4, 23, 24], GALL), ([5], LIVER), ([6], STOMACH),
                      ([7], PANCREAS), ([8, 9, 15, 17, 22, 90, 117], ORGAN), (R(10, 14), LUNG), ([16], LUNG),
                      ([18, 19, 20], BOWEL), ([21], BLADDER), (R(25, 50), BONE), ([51, 53, 61], HEART),
                      ([52, 54, 55, 56, 57, 58, 65, 66], ARTERY), ([59, 60, 62, 63, 67, 68], VEIN), ([64], PORTAL),
                      (R(69, 78), BONE), ([79], CORD), (R(80, 89), MUSCLE), (R(91, 116), BONE),
                      ([0], UNKNOWN)], UNKNOWN),
    "lits": _lut([([1], LIVER), ([0], UNKNOWN)], UNKNOWN),
}

# Cases in ../cases whose patient also has a label map here (manifest note).
LEAK = {"ircad_p01": "ircad_p01", "ircad_p07": "ircad_p07"}


def manifest():
    with open(os.path.join(LABELS_DIR, "manifest.json")) as f:
        return json.load(f)


def eligible(holdouts, man=None):
    """Manifest records usable when the given real cases are held out."""
    man = man or manifest()
    drop = {LEAK[h] for h in holdouts if h in LEAK}
    return [r for r in man["cases"] if r["case"] not in drop]


# ---- orientation check ---------------------------------------------------------
def check_flip(liver, sp):
    """True when a canonical (i→L, j→P, k→S) liver mask looks upside down: more
    of it in the lower half of its z-range AND its lower part lies to the
    patient's LEFT of its upper part (a normal liver's bulk is high, and its
    inferior tip is the right lobe, lateral). Both must fail, as in the
    manifest's checks."""
    idx = np.argwhere(liver)
    if len(idx) == 0:
        return False
    z = idx[:, 2] * sp[2]
    zlo, zhi = z.min(), z.max()
    upper = float((z > (zlo + zhi) / 2).mean())
    third = (zhi - zlo) / 3
    x = idx[:, 0] * sp[0]
    bot, top = x[z < zlo + third].mean(), x[z > zhi - third].mean()
    return upper < 0.5 and bot > top


# ---- per-map preparation (cached) ----------------------------------------------
def prep_map(rec, cache_dir):
    """Class map on the 2.5 mm canonical grid (uint8), liver fraction on the
    5 mm grid (float16), and whether the map was flipped. Cached."""
    p = os.path.join(cache_dir, "synth", f"{rec['case']}.npz")
    if os.path.exists(p):
        z = np.load(p)
        return {k: z[k] for k in z.files}
    lab, sp = D.load_nifti_canonical(os.path.join(LABELS_DIR, rec["file"]))
    lab = np.asarray(lab)
    liver = np.isin(lab, rec["liver_values"])
    flipped = check_flip(liver, sp)
    if flipped:
        lab, liver = lab[:, :, ::-1], liver[:, :, ::-1]
    cls = LUTS[rec["source"]][lab]
    coords = [np.minimum(np.round(np.arange(D.out_size(lab.shape, sp, FINE)[a]) * (FINE / sp[a])),
                         lab.shape[a] - 1).astype(np.int64) for a in range(3)]
    fine = cls[np.ix_(*coords)]
    liver5 = D.resample_to(liver.astype(np.float32), D.downsample_coords(lab.shape, sp))
    out = {"cls": fine.astype(np.uint8), "liver5": liver5.astype(np.float16), "flipped": np.array(flipped),
           "spacing": np.array(sp)}
    os.makedirs(os.path.dirname(p), exist_ok=True)
    np.savez_compressed(p + ".tmp.npz", **out)
    os.replace(p + ".tmp.npz", p)
    return out


# ---- completion of missing structures -------------------------------------------
def _smooth_noise(rng, shape, sigma):
    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return f / (f.std() + 1e-6)


def _coarse_field(rng, shape, n=4):
    c = rng.standard_normal((n, n, max(2, n - 1))).astype(np.float32)
    return ndimage.zoom(c, np.array(shape) / np.array(c.shape), order=3)[: shape[0], : shape[1], : shape[2]]


def complete(cls, rng):
    """Fills what the map lacks (see module doc). Returns the completed class
    map (uint8, NALL classes) on the same grid."""
    c = cls.copy()
    s = FINE
    organs = (c != UNKNOWN) & (c != AIR) & (c != BODY)
    has_body = bool((c == BODY).any())
    has_lung = bool((c == LUNG).any())
    has_bone = bool((c == BONE).any())
    nx, ny, nz = c.shape
    X, Y = np.meshgrid(np.arange(nx) * s, np.arange(ny) * s, indexing="ij")
    if not has_body:
        # Elliptical body around the organs: the liver's right edge lies
        # against the right abdominal wall.
        oi = np.argwhere(organs)
        li = np.argwhere(c == LIVER)
        xr = li[:, 0].min() * s - rng.uniform(0, 6)
        ya = min(li[:, 1].min(), oi[:, 1].min()) * s - rng.uniform(0, 10)
        # A scan is centred on the body: the inner (peritoneal) ellipse is
        # centred near the middle of the field of view and reaches the
        # liver's right edge; drawn sizes are the fallback when the map's
        # field of view is cropped tightly.
        cx, cy = (nx - 1) * s / 2 + rng.normal(0, 5), (ny - 1) * s / 2 + rng.normal(0, 8)
        a, b = cx - xr, cy - ya
        if not 90 <= a <= 180:
            a = rng.uniform(110, 150)
            cx = xr + a
        if not 70 <= b <= 140:
            b = rng.uniform(85, 115)
            cy = ya + b
        ox, oy = oi[:, 0] * s, oi[:, 1] * s
        need = np.sqrt(((ox - cx) / a) ** 2 + ((oy - cy) / b) ** 2).max() / 0.97
        if need > 1:
            a, b = a * need, b * need
        wall = rng.uniform(8, 16)
        fat = rng.uniform(5, 40)
        t = wall + fat
        # The body's cross-section drifts a little with z.
        zs = np.arange(nz)
        da = 1 + 0.04 * np.sin(zs / nz * np.pi * rng.uniform(0.5, 2) + rng.uniform(0, 6))
        body = (((X[..., None] - cx) / ((a + t) * da)) ** 2 + ((Y[..., None] - cy) / ((b + t) * da)) ** 2) <= 1
        body |= organs
        c[body & (c == UNKNOWN)] = BODY
        c[~body & (c == UNKNOWN)] = AIR
        spine_c = (cx + rng.normal(0, 5), cy + b - rng.uniform(20, 30))
    else:
        body = c != AIR
        bi = np.argwhere(body)
        cx = bi[:, 0].mean() * s
        cy = bi[:, 1].max() * s
        spine_c = (cx, cy - rng.uniform(55, 75))
        fat = rng.uniform(5, 40)
        wall = rng.uniform(8, 16)
    fill = c == BODY
    # Distance to the skin, in plane (z spacing huge → per-slice 2-D EDT).
    d = ndimage.distance_transform_edt(body, sampling=(s, s, 1e4))
    if has_body:
        fat = rng.uniform(0.4, 1.2) * fat   # IRCAD bodies are real: thinner fat on average
    c[fill & (d < fat)] = FAT
    c[fill & (d >= fat) & (d < fat + wall)] = WALLMUSCLE
    fill = c == BODY
    if not has_bone:
        r = rng.uniform(15, 21)
        rr = np.sqrt((X - spine_c[0]) ** 2 + (Y - spine_c[1]) ** 2)
        vb = (rr < r)[..., None] & body
        # Posterior elements and paraspinal muscles behind the vertebral body.
        behind = ((Y - spine_c[1]) > 0) & (np.abs(X - spine_c[0]) < 45)
        para = behind[..., None] & fill & ~vb
        c[para] = MUSCLE
        proc = ((Y - spine_c[1]) > r * 0.6) & ((Y - spine_c[1]) < r * 2.2) & (np.abs(X - spine_c[0]) < 6)
        c[(vb | (proc[..., None] & body)) & ((c == BODY) | (c == MUSCLE))] = BONE
        # Psoas on both sides of the spine, below the liver's middle.
        fill = c == BODY
        if rng.random() < 0.8:
            ring = (d >= fat + wall) & (d < fat + wall + rng.uniform(3, 6))
            ang = np.arctan2(Y - cy if not has_body else Y - spine_c[1], X - cx)[..., None]
            zz = np.arange(nz)[None, None, :]
            ribs = (np.sin(zz * s / rng.uniform(18, 26) * 2 * np.pi + ang * 2) > 0.55)
            c[ring & ribs & fill & (d > 0)] = BONE
    fill = c == BODY
    if not has_lung:
        # Diaphragm: height surface from the tops of liver/spleen/stomach,
        # extended to the whole plane and smoothed; lungs above it.
        top = np.full((nx, ny), -1.0)
        for k in (LIVER, SPLEEN, STOMACH, HEART):
            m = c == k
            if m.any():
                h = np.where(m.any(2), nz - 1 - np.argmax(m[:, :, ::-1], axis=2), -1)
                top = np.maximum(top, h)
        known = top >= 0
        if known.any():
            idx = ndimage.distance_transform_edt(~known, return_distances=False, return_indices=True)
            top = top[idx[0], idx[1]]
            dd = ndimage.distance_transform_edt(~known) * s
            top = top - dd / s * rng.uniform(0.05, 0.2)   # falls off away from the organs
            top = ndimage.gaussian_filter(top, 6)
            dia = top + rng.uniform(2, 5) / s
            zz = np.arange(nz)[None, None, :]
            above = zz > dia[..., None]
            inner = fill & (d >= fat + wall)
            lung = above & inner
            # Heart: anterior, left of the midline, just above the diaphragm.
            hc = (cx + rng.uniform(10, 40), cy - rng.uniform(10, 40))
            heart = (((X - hc[0]) / rng.uniform(45, 60)) ** 2 + ((Y - hc[1]) / rng.uniform(35, 50)) ** 2 < 1)
            c[lung & heart[..., None]] = HEART
            c[lung & ~heart[..., None]] = LUNG
            # Thin diaphragm muscle between liver dome and lung.
            band = (zz > dia[..., None] - 6 / s) & (zz <= dia[..., None]) & (c == BODY)
            c[band] = MUSCLE
    fill = c == BODY
    # Visceral fill: fat, bowel loops (wall + content) and gas pockets, from
    # two smooth random fields.
    f1 = _smooth_noise(rng, c.shape, rng.uniform(2.5, 5))
    f2 = _smooth_noise(rng, c.shape, rng.uniform(1.2, 2.5))
    fat_frac = rng.uniform(0.25, 0.6)
    thr = np.quantile(f1[fill], fat_frac) if fill.any() else 0
    vf = np.full(c.shape, VFILL, np.uint8)
    vf[f1 < thr] = FAT
    wallband = np.abs(f1 - thr) < rng.uniform(0.08, 0.2)
    vf[(f1 >= thr) & wallband] = BOWEL
    vf[(f1 >= thr) & (f2 > rng.uniform(2.4, 3.2))] = AIR     # gas in the bowel
    c[fill] = vf[fill]
    return c


# ---- intensities --------------------------------------------------------------------
PHASES = {
    # class: (mean, sd of the mean) in HU, per phase; liver set separately.
    "native": {SPLEEN: (45, 5), KIDNEY: (32, 5), PANCREAS: (40, 6), ARTERY: (42, 6), VEIN: (40, 6),
               PORTAL: (40, 6), LVESSEL: (-8, 5), HEART: (42, 6), STOMACH: (38, 8), BOWEL: (38, 8)},
    "arterial": {SPLEEN: (115, 20), KIDNEY: (185, 30), PANCREAS: (110, 15), ARTERY: (280, 60), VEIN: (90, 30),
                 PORTAL: (150, 30), LVESSEL: (25, 15), HEART: (220, 50), STOMACH: (80, 15), BOWEL: (75, 15)},
    "portal": {SPLEEN: (8, 6), KIDNEY: (190, 20), PANCREAS: (100, 10), ARTERY: (165, 20), VEIN: (145, 20),
               PORTAL: (170, 20), LVESSEL: (60, 10), HEART: (160, 20), STOMACH: (85, 12), BOWEL: (90, 12)},
    "delayed": {SPLEEN: (85, 8), KIDNEY: (140, 25), PANCREAS: (80, 10), ARTERY: (110, 12), VEIN: (110, 12),
                PORTAL: (110, 12), LVESSEL: (15, 8), HEART: (110, 12), STOMACH: (70, 10), BOWEL: (70, 10)},
}
PHASE_P = {"native": 0.15, "arterial": 0.15, "portal": 0.5, "delayed": 0.2}
# Liver mean per phase; "portal" comes from the real cases (hu_stats).
LIVER_PHASE = {"native": (58, 7), "arterial": (78, 10), "delayed": (92, 10)}
DOMAIN_RAND = 0.2
RELATIVE = {SPLEEN, LVESSEL}     # defined relative to the liver in "portal"/vessel rows


def hu_stats(preps):
    """Liver median/SD, fat and soft-tissue modes measured on real 5 mm cases
    (dict name → (hu, lab, spacing)); the synthesis draws around them."""
    out = {}
    for name, (hu, lab, _) in preps.items():
        liv = hu[lab > 0.9]
        body = hu > -500
        h, e = np.histogram(hu[body & (lab < 0.1)], bins=np.arange(-200, 121, 4))
        fat_bins, soft_bins = (e[:-1] < -40), (e[:-1] > 10) & (e[:-1] < 80)
        out[name] = {"liver_median": float(np.median(liv)), "liver_sd": float(liv.std()),
                     "fat_mode": float(e[:-1][fat_bins][np.argmax(h[fat_bins])] + 2),
                     "soft_mode": float(e[:-1][soft_bins][np.argmax(h[soft_bins])] + 2)}
    return out


def draw_means(rng, stats):
    """Mean HU per class for one synthetic image, and the phase drawn."""
    phase = rng.choice(list(PHASE_P), p=list(PHASE_P.values()))
    st = list(stats.values())
    if phase == "portal":
        meds = [s["liver_median"] for s in st]
        liver = rng.uniform(min(meds) - 15, max(meds) + 15)
    else:
        liver = rng.normal(*LIVER_PHASE[phase])
    fat = rng.choice([s["fat_mode"] for s in st]) + rng.normal(0, 10)
    soft = rng.choice([s["soft_mode"] for s in st]) + rng.normal(0, 8)
    m = np.zeros(NALL, np.float32)
    m[AIR] = -1000
    m[LIVER] = liver
    for k, (mu, sd) in PHASES[phase].items():
        m[k] = rng.normal(mu, sd) + (liver if k in RELATIVE else 0)
    m[LLESION] = liver + (rng.normal(-45, 20) if rng.random() < 0.8 else rng.normal(30, 15))
    m[GALL] = rng.normal(10, 8)
    m[LUNG] = rng.normal(-850, 40)
    m[BONE] = rng.uniform(250, 650)
    m[ORGAN] = rng.normal(60, 15)
    m[MUSCLE] = m[WALLMUSCLE] = soft + rng.normal(0, 6)
    m[BODY] = soft
    m[CORD] = rng.normal(25, 8)
    m[BLADDER] = rng.normal(10, 6)
    m[FAT] = fat
    m[VFILL] = rng.uniform(-10, 45)         # bowel content (fluid/chyme)
    if rng.random() < DOMAIN_RAND:
        for k in range(NALL):
            if k not in (LIVER, AIR, LUNG, FAT):
                m[k] = rng.uniform(-60, 260)
    return m, str(phase)


def render(cls_c, liver_fine, rng, stats):
    """HU image (float32) on the 2.5 mm grid from a completed class map."""
    means, phase = draw_means(rng, stats)
    img = means[cls_c]
    # Per-class texture: correlated noise of class-specific amplitude.
    tex_sd = np.full(NALL, 6.0, np.float32)
    tex_sd[[LIVER, SPLEEN]] = rng.uniform(3, 9)
    tex_sd[[FAT, VFILL, BOWEL]] = rng.uniform(6, 18)
    tex_sd[BONE] = rng.uniform(40, 120)
    tex_sd[LUNG] = rng.uniform(15, 40)
    img = img + tex_sd[cls_c] * _smooth_noise(rng, cls_c.shape, rng.uniform(0.6, 1.5))
    # Vessels inside livers whose map has none: tubes where a band-passed
    # random field crosses zero.
    if not (cls_c == LVESSEL).any() and rng.random() < 0.8:
        f = _smooth_noise(rng, cls_c.shape, rng.uniform(1.5, 3))
        tube = (np.abs(f) < rng.uniform(0.04, 0.1)) & liver_fine
        img[tube] = means[LVESSEL]
    if not (cls_c == LLESION).any() and rng.random() < 0.25:
        f = _smooth_noise(rng, cls_c.shape, rng.uniform(2, 4))
        les = (f > rng.uniform(2.3, 3.0)) & liver_fine
        img[les] = means[LLESION]
    # Bias (smooth additive), partial volume (blur), noise.
    img = img + rng.uniform(0, 20) * _coarse_field(rng, img.shape)
    img = ndimage.gaussian_filter(img, [rng.uniform(0.4, 1.1)] * 2 + [rng.uniform(0.4, 1.6)])
    img = img + rng.normal(0, rng.uniform(6, 22), img.shape).astype(np.float32)
    return img.astype(np.float32), phase


def synth_volume(rec, cache_dir, rng, stats):
    """One synthetic case on the 5 mm contract grid: (hu, liver fraction, info)."""
    m = prep_map(rec, cache_dir)
    cls = m["cls"]
    cc = complete(cls, rng)
    img, phase = render(cc, cls == LIVER, rng, stats)
    hu = img[::2, ::2, ::2]
    lab = m["liver5"].astype(np.float32)
    sh = [min(a, b) for a, b in zip(hu.shape, lab.shape)]
    hu, lab = hu[: sh[0], : sh[1], : sh[2]], lab[: sh[0], : sh[1], : sh[2]]
    return np.ascontiguousarray(hu), np.ascontiguousarray(lab), {"case": rec["case"], "phase": phase}


def prep_all(cache_dir, log=print):
    """Builds every map's cache (slow once: ~143 NIfTI loads) and reports
    flipped maps."""
    man = manifest()
    flipped = []
    for i, r in enumerate(man["cases"]):
        m = prep_map(r, cache_dir)
        if bool(m["flipped"]):
            flipped.append(r["case"])
        if i % 20 == 0:
            log(f"synth prep {i + 1}/{len(man['cases'])} {r['case']} {m['cls'].shape}")
    return flipped


if __name__ == "__main__":
    import sys
    cache = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache")
    f = prep_all(cache)
    print("flipped superior-inferior:", f)
    sys.exit(0)


def build_synth_bank(train_preps, holdouts, n, seed, cache_dir, tag, recipe=2, per_volume=6, log=print):
    """n augmented crops from synthetic volumes (per_volume crops each, the
    same crop augmentation as the real bank), drawn from the label maps that
    are not the patients of a held-out case. The intensity model is fitted
    on the fold's TRAINING cases only (train_preps: name → (hu, lab, sp)).
    Same layout as bank.build_bank (w = 1, case = -1). Cached in
    cache_dir/synthbank_<tag>_r<recipe>.npz."""
    p = os.path.join(cache_dir, f"synthbank_{tag}_r{recipe}.npz")
    if os.path.exists(p):
        z = np.load(p)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng([seed, 99])
    stats = hu_stats(train_preps)
    maps = eligible(holdouts)
    arrs = B.crop_arrays(n, recipe)
    used = []
    s = 0
    while s < n:
        rec = maps[rng.integers(len(maps))]
        hu, lab, info = synth_volume(rec, cache_dir, rng, stats)
        used.append(f"{info['case']}:{info['phase']}")
        s = B.add_crops(hu, lab, rng, min(per_volume, n - s), arrs, s, recipe)
        if len(used) % 20 == 0:
            log(f"synthetic bank {tag}: {s}/{n} crops")
    res = {"x": arrs["x"], "y": arrs["y"], "w": np.ones(n, np.float32), "case": np.full(n, -1, np.int16),
           "synth_volumes": np.array(used)}
    if arrs["hn"] is not None:
        res["hn"] = arrs["hn"]
    np.savez(p + ".tmp.npz", **res)
    os.replace(p + ".tmp.npz", p)
    return res
