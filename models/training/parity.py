"""Writes models/parity/: a SYNTHETIC seeded CT (never shared data) in a
non-canonical orientation, the network input tensor the contract produces from
it, each shipped model's logits, and each model's final mask on the input grid.
The Go side (inference/) must reproduce these.

  /usr/bin/python3 models/training/parity.py [--ckpt-dir models/training/checkpoints] [--out models/parity]
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lsdata as D   # noqa: E402
import nets as N     # noqa: E402

MODELS = ["teacher", "assistant", "student", "student100k"]
SEED = 7
SIZE = (64, 56, 28)                 # i, j, k of the INPUT grid
SPACING = (2.4, 2.7, 5.5)           # mm: two axes finer than 5 mm, one coarser;
# the resampled grid (31, 30, 30) pads to 32^3, which keeps the fixtures small.
ORIGIN = (160.0, -140.0, 250.0)


def direction():
    """Index i runs towards patient Right, j Posterior, k Inferior ("RPI"),
    rotated 4 degrees about the S axis so the orientation is slightly oblique.
    Direction[r][c] = LPS component r of index axis c."""
    a = np.deg2rad(4.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    base = np.array([[-1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]])
    return rz @ base


def phantom(rng):
    """A crude abdomen in LPS world coordinates: air, fat-rimmed body, a liver
    on the patient's right, spine, kidneys, noise."""
    dirm = direction()
    ii, jj, kk = np.meshgrid(*[np.arange(n) for n in SIZE], indexing="ij")
    idx = np.stack([ii, jj, kk], -1).astype(np.float64) * np.array(SPACING)
    w = idx @ dirm.T + np.array(ORIGIN)               # world LPS, mm
    c = w.reshape(-1, 3).mean(0)
    # The phantom is drawn at half scale so it fits the 15 cm field of view.
    x, y, z = 2 * (w[..., 0] - c[0]), 2 * (w[..., 1] - c[1]), 2 * (w[..., 2] - c[2])
    hu = np.full(SIZE, -1000.0)
    body = (x / 150) ** 2 + (y / 110) ** 2 < 1
    hu[body] = -100.0
    hu[(x / 140) ** 2 + (y / 100) ** 2 < 1] = 40.0
    liver = ((x + 55) / 80) ** 2 + ((y + 10) / 65) ** 2 + ((z - 10) / 70) ** 2 < 1
    hu[liver] = 105.0
    hu[((x - 60) / 30) ** 2 + ((y - 40) / 25) ** 2 + ((z + 20) / 40) ** 2 < 1] = 150.0   # kidney
    hu[((x) / 18) ** 2 + ((y - 75) / 18) ** 2 < 1] = 650.0                                # spine
    hu += rng.normal(0, 12, SIZE)
    return np.clip(np.round(hu), -1024, 3071).astype(np.int16)


def card_temperature(models_dir, name):
    """The soft-map temperature of the model's card (1 when it has none)."""
    p = os.path.join(models_dir, f"{name}.json")
    if not os.path.exists(p):
        return 1.0
    return float(json.load(open(p))["output"].get("temperature", 1.0))


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt-dir", default=os.path.join(HERE, "checkpoints"))
    ap.add_argument("--models-dir", default=os.path.normpath(os.path.join(HERE, "..")))
    ap.add_argument("--out", default=os.path.normpath(os.path.join(HERE, "..", "parity")))
    ap.add_argument("--check-ort", default=None, metavar="DIR",
                    help="compare the fixture masks with masks made from ONNX Runtime logits in DIR "
                         "(<model>_ort_logits.f32, written by ortcheck)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    hu = phantom(rng)
    dirm = direction()
    # x fastest on disk: [k][j][i]
    hu.transpose(2, 1, 0).astype("<i2").tofile(os.path.join(args.out, "input_hu.i16"))
    can, sp, src, flip = D.to_canonical(hu, SPACING, dirm)
    x, low_shape = D.preprocess(can, sp)
    x.astype("<f4").tofile(os.path.join(args.out, "preprocessed.f32"))
    meta = {
        "note": "synthetic seeded phantom (parity.py), not patient data",
        "size": list(SIZE), "spacing": list(SPACING), "origin": list(ORIGIN),
        "direction": dirm.tolist(),
        "direction_convention": "Direction[r][c] = LPS component r of index axis c (volume.Geometry)",
        "voxel_order": "x (i) fastest, int16 little-endian",
        "orientation_code": "RPI (oblique by 4 degrees about S)",
        "canonical": {"size": list(can.shape), "spacing": sp, "src_axis": src, "flipped": flip},
        "preprocessed": {"file": "preprocessed.f32", "shape": [1, 1] + list(x.shape), "dtype": "float32 LE",
                         "resampled_size_ijk": list(low_shape)},
        "models": {},
    }
    for name in MODELS:
        ck = os.path.join(args.ckpt_dir, f"{name}.pt")
        if not os.path.exists(ck):
            print(f"skip {name}: no {ck}")
            continue
        st = torch.load(ck)
        net = N.build(st["cfg"])
        net.load_state_dict(st["model"])
        net.eval()
        with torch.no_grad():
            z = net(torch.from_numpy(x)[None, None])[0].numpy().astype(np.float32)
        z[None].astype("<f4").tofile(os.path.join(args.out, f"{name}_logits.f32"))
        temp = card_temperature(args.models_dir, name)
        p = D.logits_to_prob(z, temp)[: low_shape[2], : low_shape[1], : low_shape[0]].transpose(2, 1, 0)
        pu = D.resample_to(p, D.upsample_coords(can.shape, sp))
        m_can = D.clean_mask(pu > 0.5)
        m = D.from_canonical(m_can, src, flip)
        m.transpose(2, 1, 0).astype(np.uint8).tofile(os.path.join(args.out, f"{name}_mask.u8"))
        if args.check_ort:
            zo = np.fromfile(os.path.join(args.check_ort, f"{name}_ort_logits.f32"), "<f4").reshape(z.shape)
            po = D.logits_to_prob(zo, temp)[: low_shape[2], : low_shape[1], : low_shape[0]].transpose(2, 1, 0)
            mo = D.clean_mask(D.resample_to(po, D.upsample_coords(can.shape, sp)) > 0.5)
            print(f"{name}: max |ORT - torch| logits {np.abs(zo - z).max():.2e}; "
                  f"mask voxels differing (ORT vs torch logits): {int((mo != m_can).sum())}")
        onnx_path = os.path.join(args.models_dir, f"{name}.onnx")
        meta["models"][name] = {
            "onnx_sha256": sha256(onnx_path) if os.path.exists(onnx_path) else None,
            "logits": f"{name}_logits.f32", "logits_shape": [1] + list(z.shape), "logits_dtype": "float32 LE (PyTorch CPU)",
            "mask": f"{name}_mask.u8", "mask_note": "uint8 on the INPUT grid (x fastest), after postprocessing",
            "temperature": temp, "mask_voxels": int(m.sum()), "raw_threshold_voxels": int((pu > 0.5).sum()),
            "near_threshold_voxels": int((np.abs(pu - 0.5) < 1e-3).sum()),
        }
        print(name, meta["models"][name])
    with open(os.path.join(args.out, "input.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
