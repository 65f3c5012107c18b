"""Data handling shared by training, evaluation, export and the parity fixtures.

Everything here implements the FIXED preprocessing/postprocessing contract that
the Go app (inference/) re-implements; see models/README.md, section
"Interface". Change nothing here without changing the model cards and telling
the Go side.
"""
import os
import glob
import numpy as np
from scipy import ndimage

# ---- preprocessing constants (written into every model card) -------------
SPACING = 5.0              # isotropic output spacing, mm
HU_LO, HU_HI = -250.0, 350.0
CENTER, SCALE = 50.0, 300.0
PAD_VALUE = (HU_LO - CENTER) / SCALE   # normalised value of HU_LO = -1.0
SIZE_MULTIPLE = 16

GRID_RULE = ("per axis a: n_a = floor((size_a - 1) * spacing_a / S + 1e-9) + 1; output voxel t "
             "samples input continuous index t * (S / spacing_a) (computed in float64), "
             "trilinear (separable linear per axis, x then y then z), coordinates clamped "
             "to [0, size_a - 1]; HU interpolated as float32")

DATA_ROOT_DEFAULT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
RELEASE_CASES = ["chaos_ct01", "ircad_p01", "ircad_p07", "totalseg_example"]
# totalseg_example's label is TotalSegmentator model output, not manual.
CASE_WEIGHT = {"totalseg_example": 0.5}


# ---- orientation ----------------------------------------------------------
def nearest_orientation(direction):
    """Greedy signed-permutation rounding of an LPS direction matrix
    (Direction[r][c] = LPS component r of index axis c), identical to
    volume.Geometry.NearestOrientation in Go. Returns (axis[c], sign[c])."""
    d = np.asarray(direction, dtype=np.float64)
    used_r, used_c = [False] * 3, [False] * 3
    axis, sign = [0, 0, 0], [1, 1, 1]
    for _ in range(3):
        best, br, bc = -1.0, 0, 0
        for r in range(3):
            if used_r[r]:
                continue
            for c in range(3):
                if used_c[c]:
                    continue
                v = abs(d[r, c])
                if v > best:
                    best, br, bc = v, r, c
        used_r[br] = used_c[bc] = True
        axis[bc] = br
        sign[bc] = 1 if d[br, bc] >= 0 else -1
    return axis, sign


def to_canonical(arr_xyz, spacing, direction):
    """Reorders a volume indexed [i,j,k] (x fastest on disk) so that index axes
    run towards L, P, S. Returns (array, spacing, src, flip) where canonical axis
    a comes from input axis src[a], flipped when flip[a]."""
    axis, sign = nearest_orientation(direction)
    src, flip = [0, 0, 0], [False] * 3
    for c in range(3):
        src[axis[c]] = c
        flip[axis[c]] = sign[c] < 0
    out = np.transpose(arr_xyz, src)
    for a in range(3):
        if flip[a]:
            out = np.flip(out, axis=a)
    sp = [float(spacing[src[a]]) for a in range(3)]
    return np.ascontiguousarray(out), sp, src, flip


def from_canonical(arr_can, src, flip):
    """Inverse of to_canonical's voxel reordering."""
    out = arr_can
    for a in range(3):
        if flip[a]:
            out = np.flip(out, axis=a)
    inv = np.argsort(src)
    return np.ascontiguousarray(np.transpose(out, inv))


def load_nifti_canonical(path):
    """Loads a NIfTI as canonical LPS-ordered array [i,j,k] plus spacing."""
    # Imported here: a training machine that reads only the caches (the GPU
    # machine of scripts/device_paired.sh) has no nibabel.
    import nibabel as nib
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)
    aff = np.array(img.affine, dtype=np.float64)
    lps = aff.copy()
    lps[0, :] *= -1
    lps[1, :] *= -1
    m = lps[:3, :3]
    spacing = np.sqrt((m ** 2).sum(axis=0))
    direction = m / spacing
    arr, sp, src, flip = to_canonical(data, spacing, direction)
    return arr, sp


def find_cases(root=None, names=None):
    """Returns a list of (name, ct_path, label_path, weight). Supports the
    project layout cases/<name>/{ct,liver}.nii.gz and the MSD/LiTS layout
    imagesTr/ + labelsTr/ (liver = label >= 1)."""
    root = root or os.environ.get("LIVERSEG_DATA", DATA_ROOT_DEFAULT)
    out = []
    if os.path.isdir(os.path.join(root, "imagesTr")):
        for p in sorted(glob.glob(os.path.join(root, "imagesTr", "*.nii*"))):
            base = os.path.basename(p)
            if base.startswith("._"):
                continue
            lab = os.path.join(root, "labelsTr", base)
            if os.path.exists(lab):
                n = base.split(".nii")[0]
                if names is None or n in names:
                    out.append((n, p, lab, 1.0))
        return out
    names = names or RELEASE_CASES
    for n in names:
        d = os.path.join(root, "cases", n)
        ct, lb = os.path.join(d, "ct.nii.gz"), os.path.join(d, "liver.nii.gz")
        if not (os.path.exists(ct) and os.path.exists(lb)):
            raise FileNotFoundError(f"case {n}: missing {ct} or {lb}")
        out.append((n, ct, lb, CASE_WEIGHT.get(n, 1.0)))
    return out


# ---- resampling -----------------------------------------------------------
def out_size(size, spacing, S=SPACING):
    return [int(np.floor((size[a] - 1) * spacing[a] / S + 1e-9)) + 1 for a in range(3)]


def _lin_axis(arr, axis, coords):
    """Linear interpolation of arr along axis at continuous coords (float64),
    clamped to [0, n-1]; arithmetic in arr's dtype (float32)."""
    n = arr.shape[axis]
    c = np.clip(coords, 0.0, n - 1)
    i0 = np.floor(c).astype(np.int64)
    i0 = np.minimum(i0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (c - i0).astype(arr.dtype)
    shp = [1] * arr.ndim
    shp[axis] = -1
    w = w.reshape(shp)
    a0 = np.take(arr, i0, axis=axis)
    a1 = np.take(arr, i1, axis=axis)
    return a0 + w * (a1 - a0)


def resample_to(arr, coords_per_axis):
    """Separable trilinear sampling (x, then y, then z) of a float32 array."""
    out = arr.astype(np.float32, copy=False)
    for a in range(3):
        out = _lin_axis(out, a, coords_per_axis[a])
    return out


def downsample_coords(size, spacing, S=SPACING):
    n = out_size(size, spacing, S)
    # t * (S / spacing): the step is computed first, as the Go side does.
    return [np.arange(n[a], dtype=np.float64) * (S / spacing[a]) for a in range(3)]


def upsample_coords(size, spacing, S=SPACING):
    return [np.arange(size[a], dtype=np.float64) * (spacing[a] / S) for a in range(3)]


def normalise(hu):
    x = np.clip(hu, HU_LO, HU_HI)
    return ((x - np.float32(CENTER)) / np.float32(SCALE)).astype(np.float32)


def pad_to_multiple(x, m=SIZE_MULTIPLE, value=PAD_VALUE):
    pads = [(0, (-s) % m) for s in x.shape]
    return np.pad(x, pads, mode="constant", constant_values=np.float32(value)), x.shape


def preprocess(hu_can, spacing, S=SPACING, m=SIZE_MULTIPLE):
    """Canonical HU array [i,j,k] → padded network input [Z,Y,X] float32 plus
    the unpadded low-res shape [i,j,k]."""
    low = resample_to(hu_can.astype(np.float32), downsample_coords(hu_can.shape, spacing, S))
    x = normalise(low)
    x = np.ascontiguousarray(x.transpose(2, 1, 0))          # [Z,Y,X]
    xp, shp = pad_to_multiple(x, m)
    return xp, low.shape


# Soft-map temperature of the shipped models (model card output.temperature):
# p = logistic((liver − background logit) / T). The networks' maps are near
# binary (|logit difference| ≈ 9–11 at most low-res voxels), so upsampling
# p = logistic(d) puts the 0.5 level halfway between a liver and a background
# voxel: a 5 mm staircase. With T = 8 the upsampled level follows the logit
# field between the voxels (sub-voxel outline); it changes no low-res voxel's
# side of 0.5. Measured in models/README.md ("Outline"). Division by a power
# of two is exact in float32.
SOFT_TEMPERATURE = 8.0


def logits_to_prob(logits_zyx, temperature=1.0):
    """logits [2,Z,Y,X] → liver probability [Z,Y,X] (softmax channel 1 at
    temperature T: logistic of the float32 logit difference divided by T in
    float32; T = 1 is plain softmax)."""
    d = (logits_zyx[1] - logits_zyx[0]).astype(np.float32)
    if temperature != 1.0:
        d = d / np.float32(temperature)
    return (1.0 / (1.0 + np.exp(-d))).astype(np.float32)


def postprocess(prob_low_ijk, orig_size, spacing, S=SPACING):
    """Low-res liver probability [i,j,k] (padding cropped) → uint8 mask on
    the original canonical grid: trilinear probability (upsample_coords),
    liver where p > 0.5, largest 6-connected component, holes filled
    (background components, 6-connected, that do not touch the border).

    For speed only the box that can exceed 0.5 is resampled: an upsampled
    value is a convex combination of its 8 low-res neighbours, so it can only
    exceed 0.5 next to a low-res voxel above 0.5. The result is identical to
    processing the whole grid (component labelling and hole filling inside a
    box with a background margin equal those on the full grid)."""
    out = np.zeros(orig_size, np.uint8)
    hot = np.argwhere(prob_low_ijk > 0.5)
    if len(hot) == 0:
        return out
    coords = upsample_coords(orig_size, spacing, S)
    sl = []
    for a in range(3):
        lo_l, hi_l = hot[:, a].min() - 1, hot[:, a].max() + 1   # low-res range that can matter
        c = coords[a]
        sel = np.nonzero((c > lo_l) & (c < hi_l))[0]
        lo, hi = max(sel.min() - 1, 0), min(sel.max() + 2, orig_size[a])
        sl.append(slice(lo, hi))
    sub = [coords[a][sl[a]] for a in range(3)]
    p = resample_to(prob_low_ijk.astype(np.float32), sub)
    out[tuple(sl)] = clean_mask(p > 0.5)
    return out


def clean_mask(m):
    if not m.any():
        return m.astype(np.uint8)
    lab, n = ndimage.label(m)   # 6-connectivity
    if n > 1:
        counts = np.bincount(lab.ravel())
        counts[0] = 0
        m = lab == int(np.argmax(counts))
    m = ndimage.binary_fill_holes(m)   # background connectivity 6
    return m.astype(np.uint8)


# ---- metrics --------------------------------------------------------------
def dice(a, b):
    a, b = a.astype(bool), b.astype(bool)
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * np.logical_and(a, b).sum() / s


def _surface(m):
    return m & ~ndimage.binary_erosion(m, border_value=0)


def hd95(a, b, spacing):
    a, b = a.astype(bool), b.astype(bool)
    if not a.any() or not b.any():
        return float("inf")
    # Crop to the joint bounding box (+2) to keep the EDT small.
    idx = np.argwhere(a | b)
    lo = np.maximum(idx.min(0) - 2, 0)
    hi = idx.max(0) + 3
    sl = tuple(slice(lo[i], hi[i]) for i in range(3))
    a, b = a[sl], b[sl]
    sa, sb = _surface(a), _surface(b)
    da = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    db = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    # MedPy convention: the larger of the two directed 95th percentiles.
    return float(max(np.percentile(da, 95), np.percentile(db, 95)))


def volume_error_pct(pred, ref):
    r = ref.astype(bool).sum()
    return 100.0 * (pred.astype(bool).sum() - r) / max(r, 1)


def preprocess_lowres(low_hu_ijk, m=SIZE_MULTIPLE):
    """Already-resampled canonical HU [i,j,k] → padded [Z,Y,X] input."""
    x = np.ascontiguousarray(normalise(low_hu_ijk).transpose(2, 1, 0))
    xp, _ = pad_to_multiple(x, m)
    return xp, low_hu_ijk.shape
