"""Segments one CT NIfTI with the PyTorch model rebuilt from its checkpoint,
following the reference contract in lsdata.py end to end, and writes the mask
on the CT's own grid (same affine). It is the Python half of the Go test
inference/python_parity_test.go, which requires the Go/ONNX Runtime pipeline
to agree with it on a real case.

    /usr/bin/python3 models/training/segment_case.py --model student \
        --ct PATH/ct.nii.gz --out MASK.nii.gz

The checkpoints (checkpoints/<name>.pt) hold the state_dicts the shipped .onnx
files were exported from; on models/parity/preprocessed.f32 they reproduce
models/parity/<name>_logits.f32 exactly.
"""
import argparse
import json
import os
import sys
import time

import nibabel as nib
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lsdata as D   # noqa: E402
import nets as N     # noqa: E402
import evaluation as E   # noqa: E402
import refine as R       # noqa: E402


def load_net(name):
    """Rebuilds <name> from checkpoints/<name>.pt the way export.py saved it."""
    path = os.path.join(HERE, "checkpoints", f"{name}.pt")
    try:
        return N.load(path)
    except FileNotFoundError:
        sys.exit(f"segment_case: {path}: no checkpoint for model {name!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="student", help="checkpoint name (student, student100k, assistant, teacher)")
    ap.add_argument("--ct", required=True, help="input CT, .nii or .nii.gz")
    ap.add_argument("--out", required=True, help="output mask, .nii.gz (uint8, the CT's affine)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine is shared)")
    ap.add_argument("--no-refine", action="store_true",
                    help="skip the edge refinement from the scan's HU (refine.py), which the app applies by default")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    net = load_net(a.model)
    # The card's soft-map temperature, as the Go app reads it.
    card = os.path.join(HERE, "..", f"{a.model}.json")
    temperature = float(json.load(open(card))["output"].get("temperature", 1.0)) if os.path.exists(card) else 1.0
    try:
        img = nib.load(a.ct)
    except Exception as e:  # nibabel raises several types for a bad file
        sys.exit(f"segment_case: {a.ct}: cannot read NIfTI: {e}")
    data = np.asanyarray(img.dataobj)
    if data.ndim != 3:
        sys.exit(f"segment_case: {a.ct}: {data.ndim}-D image, want 3-D")

    # The same RAS→LPS step as lsdata.load_nifti_canonical; done here because
    # the mask must go back through to_canonical's src/flip to the CT's grid.
    lps = np.array(img.affine, dtype=np.float64)
    lps[:2, :] *= -1
    m = lps[:3, :3]
    spacing = np.sqrt((m ** 2).sum(axis=0))
    hu, sp, src, flip = D.to_canonical(data, spacing, m / spacing)

    # evaluation.segment is exactly the app pipeline (preprocess, forward,
    # softmax, crop, postprocess) on a canonical HU array.
    t1 = time.perf_counter()
    mask_can, _ = E.segment(net, hu, sp, temperature)
    edge = {}
    if not a.no_refine:
        mask_can, edge = R.refine(hu, mask_can, sp)
    t2 = time.perf_counter()
    mask = D.from_canonical(mask_can, src, flip).astype(np.uint8)

    out = nib.Nifti1Image(mask, img.affine)
    out.set_sform(img.affine, code=1)
    out.set_qform(img.affine, code=1)
    # Atomic: a reader never sees a half-written mask.
    tmp = a.out + ".tmp.nii.gz"
    nib.save(out, tmp)
    os.replace(tmp, a.out)
    print(json.dumps({"model": a.model, "voxels": int(mask.sum()), "segment_s": round(t2 - t1, 3),
                      "total_s": round(time.perf_counter() - t0, 3), "edge": edge, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
