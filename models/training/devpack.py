"""Moves paired-CV run folders between this machine and a lent GPU machine
(scripts/device_paired.sh), within the tool's transfer limits (a few files
of at most 16 MB): finished stages travel as .npz (weights as float32
arrays, the state's numbers as JSON; readable by any numpy and torch),
unfinished ones as their checkpoint with the optimiser, for resuming here.
Teacher logits and banks stay behind (recomputed from the seed if needed).

  python3 devpack.py pack RUN_ROOT OUT_DIR     # on the GPU machine
  python3 devpack.py unpack TAR... RUN_ROOT    # here: rebuilds <stage>.pt
"""
import io
import json
import os
import sys
import tarfile

import numpy as np
import torch

LIMIT = 15 * 1024 * 1024
META = ("step", "budget", "elapsed_s", "cfg", "done")


def _stage_npz(st):
    b = io.BytesIO()
    arrays = {f"model/{k}": v.detach().cpu().float().numpy() for k, v in st["model"].items()}
    meta = json.dumps({k: st[k] for k in META})
    np.savez(b, __meta__=np.frombuffer(meta.encode(), np.uint8), **arrays)
    return b.getvalue()


def _read(p):
    with open(p, "rb") as f:
        return f.read()


def pack(root, out):
    """One tar per <=15 MB of job folders (fold/arm_sSEED), plus the logs."""
    items = []    # (job, name, bytes)
    for fold in sorted(os.listdir(root)):
        fd = os.path.join(root, fold)
        if not os.path.isdir(fd):
            continue
        for job in sorted(os.listdir(fd)):
            jd = os.path.join(fd, job)
            if not os.path.isdir(jd):
                continue
            for f in sorted(os.listdir(jd)):
                p = os.path.join(jd, f)
                rel = f"{fold}/{job}/{f}"
                if f.endswith(".pt"):
                    st = torch.load(p, map_location="cpu", weights_only=False)
                    if st.get("done"):
                        items.append((rel[:-3] + ".npz", _stage_npz(st)))
                    else:
                        items.append((rel, _read(p)))
                elif f.endswith((".csv", ".json")):
                    items.append((rel, _read(p)))
    for f in ("config.json", "environment.json"):
        if os.path.exists(os.path.join(root, f)):
            items.append((f, _read(os.path.join(root, f))))
    k, size, tf = 0, 0, None
    for rel, data in items:
        if tf is None or size + len(data) > LIMIT:
            if tf:
                tf.close()
            k += 1
            tf, size = tarfile.open(os.path.join(out, f"runs_{k}.tar"), "w"), 0
        ti = tarfile.TarInfo(rel)
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
        size += len(data) + 1024
    if tf:
        tf.close()
    print(f"packed {len(items)} files into {k} tar(s)")


def unpack(tars, root):
    for t in tars:
        with tarfile.open(t) as tf:
            for m in tf.getmembers():
                if not m.isfile() or m.name.startswith("/") or ".." in m.name.split("/"):
                    continue
                data = tf.extractfile(m).read()
                dst = os.path.join(root, "device_" + m.name if "/" not in m.name else m.name)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if m.name.endswith(".npz"):
                    z = np.load(io.BytesIO(data))
                    st = json.loads(bytes(z["__meta__"]).decode())
                    st["model"] = {k[6:]: torch.from_numpy(z[k].copy()) for k in z.files if k.startswith("model/")}
                    dst = dst[:-4] + ".pt"
                    torch.save(st, dst + ".tmp")
                    os.replace(dst + ".tmp", dst)
                else:
                    with open(dst + ".tmp", "wb") as f:
                        f.write(data)
                    os.replace(dst + ".tmp", dst)
                print(dst)


if __name__ == "__main__":
    if sys.argv[1] == "pack":
        pack(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "unpack":
        unpack(sys.argv[2:-1], sys.argv[-1])
    else:
        sys.exit(__doc__)
