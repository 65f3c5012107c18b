#!/usr/bin/python3
"""Generates the ONNX Runtime test fixture of package inference.

tiny.onnx is NOT a liver model: it is a seeded, fixed-weight two-layer 3D
conv net (Conv3d 1->4 k3, ReLU, Conv3d 4->2 k1) whose first channel pair is
set by hand to a 3x3x3 mean filter thresholded at 30 HU, so that its "liver"
is the bright blob of a synthetic volume and the postprocessing (largest
component, hole filling) has real work to do. It proves that Go + ONNX
Runtime compute what torch computes and that the Go pre/postprocessing
follows the model-card contract.

Outputs (in this folder):
  tiny.onnx, tiny.json          the network and its model card
  tiny_io_input.f32             seeded random input [1,1,8,12,16]
  tiny_io_output.f32            torch's output for it   [1,2,8,12,16]
  parity/                       the models/parity/ format:
    input_hu.i16, input.json, preprocessed.f32, tiny_logits.f32 (padded,
    [1,2,Z,Y,X]), tiny_mask.u8 (on the input's own grid)

Run: /usr/bin/python3 inference/testdata/make_tiny.py   (torch 1.13, CPU)
"""
import hashlib
import json
import os

import numpy as np
import torch
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
S, M = 4.0, 8
HU_LO, HU_HI, CENTER, SCALE = -250.0, 350.0, 50.0, 300.0
PAD = (HU_LO - CENTER) / SCALE


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv3d(1, 4, 3, padding=1)
        self.c2 = torch.nn.Conv3d(4, 2, 1)

    def forward(self, x):
        return self.c2(torch.relu(self.c1(x)))


def build():
    torch.manual_seed(20261125)
    net = Tiny()
    with torch.no_grad():
        # Channels 0/1: relu(+-(mean3x3x3(x) - t)) with t = 30 HU normalised.
        t = (30.0 - CENTER) / SCALE
        net.c1.weight[0].fill_(1.0 / 27)
        net.c1.weight[1].fill_(-1.0 / 27)
        net.c1.bias[0], net.c1.bias[1] = -t, t
        # Channels 2/3 keep their seeded random weights; they enter the
        # logits weakly so they matter numerically but not for the shape.
        net.c2.weight.mul_(0.05)
        net.c2.weight[1, 0], net.c2.weight[1, 1] = 40.0, -40.0
        net.c2.weight[0, 0], net.c2.weight[0, 1] = 0.0, 0.0
    return net.eval()


def canonical_flips(direction):
    """The fixture uses a diagonal direction: canonical = flip axes with a
    negative cosine (no permutation)."""
    d = np.asarray(direction)
    assert np.allclose(np.abs(d), np.eye(3))
    return [d[a, a] < 0 for a in range(3)]


def lin_axis(arr, axis, coords):
    n = arr.shape[axis]
    c = np.clip(coords, 0.0, n - 1)
    i0 = np.minimum(np.floor(c).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (c - i0).astype(np.float32)
    shp = [1] * arr.ndim
    shp[axis] = -1
    w = w.reshape(shp)
    a0, a1 = np.take(arr, i0, axis=axis), np.take(arr, i1, axis=axis)
    return a0 + w * (a1 - a0)


def resample(arr, coords):
    out = arr.astype(np.float32)
    for a in range(3):  # x, then y, then z
        out = lin_axis(out, a, coords[a])
    return out


def main():
    net = build()
    params = sum(p.numel() for p in net.parameters())
    onnx_path = os.path.join(HERE, "tiny.onnx")
    torch.onnx.export(net, torch.zeros(1, 1, 8, 8, 8), onnx_path, opset_version=17,
                      input_names=["ct"], output_names=["logits"],
                      dynamic_axes={"ct": {0: "n", 2: "z", 3: "y", 4: "x"},
                                    "logits": {0: "n", 2: "z", 3: "y", 4: "x"}})

    # Direct check: seeded random input, torch output.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 1, 8, 12, 16)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    x.tofile(os.path.join(HERE, "tiny_io_input.f32"))
    y.astype(np.float32).tofile(os.path.join(HERE, "tiny_io_output.f32"))

    # Parity case: a synthetic CT in RAS-like orientation (i towards R,
    # j towards A), so the Go side must reorient.
    size = [48, 44, 30]            # x, y, z
    spacing = [1.7, 1.7, 2.5]
    direction = [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]
    origin = [40.0, 30.0, -100.0]
    zz, yy, xx = np.meshgrid(*[np.arange(n) * s for n, s in zip(size[::-1], spacing[::-1])], indexing="ij")
    hu = np.full(xx.shape, -1000.0)
    body = ((xx - 40) / 38) ** 2 + ((yy - 37) / 34) ** 2 < 1
    hu[body] = 0
    liver = ((xx - 35) / 22) ** 2 + ((yy - 35) / 20) ** 2 + ((zz - 36) / 24) ** 2 < 1
    hu[liver] = 70
    vessel = ((xx - 35) / 9) ** 2 + ((yy - 35) / 9) ** 2 + ((zz - 36) / 9) ** 2 < 1
    hu[vessel] = -200                      # a hole inside the liver
    spleen = ((xx - 68) / 7) ** 2 + ((yy - 55) / 7) ** 2 + ((zz - 30) / 8) ** 2 < 1
    hu[spleen] = 80                        # a second, smaller component
    hu += rng.normal(0, 12, hu.shape)
    hu_zyx = np.round(hu).astype(np.int16)   # [z,y,x]
    pdir = os.path.join(HERE, "parity")
    os.makedirs(pdir, exist_ok=True)
    hu_zyx.tofile(os.path.join(pdir, "input_hu.i16"))
    with open(os.path.join(pdir, "input.json"), "w") as f:
        json.dump({"size": size, "spacing": spacing, "origin": origin, "direction": direction,
                   "note": "synthetic volume for the tiny test network; raw int16 LE, x fastest"}, f, indent=1)

    # Reference pipeline, written from the model-card contract.
    flips = canonical_flips(direction)
    can = hu_zyx.transpose(2, 1, 0)         # [i,j,k]
    for a in range(3):
        if flips[a]:
            can = np.flip(can, axis=a)
    n = [int(np.floor((size[a] - 1) * spacing[a] / S + 1e-9)) + 1 for a in range(3)]
    low = resample(can, [np.arange(n[a], dtype=np.float64) * S / spacing[a] for a in range(3)])
    xn = ((np.clip(low, HU_LO, HU_HI) - np.float32(CENTER)) / np.float32(SCALE)).astype(np.float32)
    xz = xn.transpose(2, 1, 0)
    pads = [(0, (-s) % M) for s in xz.shape]
    xp = np.pad(xz, pads, constant_values=np.float32(PAD)).astype(np.float32)
    xp.tofile(os.path.join(pdir, "preprocessed.f32"))
    with torch.no_grad():
        lg = net(torch.from_numpy(np.ascontiguousarray(xp[None, None]))).numpy().astype(np.float32)
    lg.tofile(os.path.join(pdir, "tiny_logits.f32"))
    zc, yc, xc = xz.shape
    d = (lg[0, 1, :zc, :yc, :xc] - lg[0, 0, :zc, :yc, :xc]).astype(np.float32)
    prob = (1.0 / (1.0 + np.exp(-d.astype(np.float64)))).astype(np.float32)  # [z,y,x]
    p = resample(prob.transpose(2, 1, 0), [np.arange(size[a], dtype=np.float64) * spacing[a] / S for a in range(3)])
    m = p > 0.5
    lab, ncomp = ndimage.label(m)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    lcc = lab == int(np.argmax(counts))
    filled = ndimage.binary_fill_holes(lcc)
    print(f"grid {n} padded {list(xp.shape[::-1])}; thresholded {int(m.sum())} voxels in {ncomp} components; "
          f"largest {int(lcc.sum())}; holes filled {int(filled.sum() - lcc.sum())}")
    assert ncomp >= 2 and filled.sum() > lcc.sum(), "fixture must exercise both clean-up steps"
    out = filled.astype(np.uint8)
    for a in range(3):
        if flips[a]:
            out = np.flip(out, axis=a)
    np.ascontiguousarray(out.transpose(2, 1, 0)).tofile(os.path.join(pdir, "tiny_mask.u8"))

    sha = hashlib.sha256(open(onnx_path, "rb").read()).hexdigest()
    grid = [16, 16, 16]
    vox = grid[0] * grid[1] * grid[2]
    macs = vox * (4 * 27 + 2 * 4)
    card = {
        "name": "tiny", "role": "test-fixture", "onnx": "tiny.onnx", "sha256": sha,
        "params": int(params), "macs": macs, "macs_grid": grid,
        "input": {"name": "ct"},
        "output": {"name": "logits", "kind": "logits", "channels": ["background", "liver"], "activation": "softmax"},
        "preprocessing": {"orientation": "LPS", "spacing_mm": [S, S, S], "interpolation": "trilinear",
                          "grid_rule": "per axis a: n_a = floor((size_a - 1) * spacing_a / S) + 1; output voxel t samples input index t * S / spacing_a, clamped",
                          "hu_clip": [HU_LO, HU_HI], "normalize": {"center": CENTER, "scale": SCALE},
                          "size_multiple": M, "pad": "end", "pad_value": PAD},
        "postprocessing": {"resample": "trilinear-probability", "threshold": 0.5, "largest_component": True,
                           "connectivity": 6, "fill_holes": True},
        "training": {"note": "none: fixed seeded weights, a test fixture"},
        "evaluation": {},
        "license": "CC0-1.0 (generated test fixture)",
    }
    with open(os.path.join(HERE, "tiny.json"), "w") as f:
        json.dump(card, f, indent=1)


if __name__ == "__main__":
    main()
