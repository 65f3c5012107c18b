# Dump a NIfTI file for the dicomio tests, as an independent reader (nibabel):
# prints {"shape": [...], "affine": 4x4 RAS} as JSON on stdout and writes the
# first 3D volume as little-endian int16, x fastest, to argv[2].
import json
import sys

import nibabel as nib
import numpy as np

img = nib.load(sys.argv[1])
data = np.asanyarray(img.dataobj)  # applies scl_slope/scl_inter when set
while data.ndim > 3:
    data = data[..., 0]
if data.dtype.kind == "f":
    data = np.rint(data)
data = np.clip(data, -32768, 32767).astype("<i2")
with open(sys.argv[2], "wb") as f:
    f.write(data.tobytes(order="F"))
json.dump({"shape": list(data.shape), "affine": img.affine.tolist()}, sys.stdout)
