#!/bin/bash
# Trains paired-CV jobs on a lent GPU machine (the device tool), one process
# per job, and packs the nets into $OUT for `devpack.py unpack` here; the
# evaluation on the cases' full-resolution CT runs here (`train.py paired`).
# Needs, carried: models/training/cache/prep_*_S5.npz and cache/synth (the
# cached inputs; the training reads nothing else) and .devdata/manifest.json.
# Usage: scripts/device_paired.sh DEADLINE_S JOB...   (JOB = fold/arm/s<seed>)
set -u
deadline=$1; shift
cd "$(dirname "$0")/../models/training"
data=$(cd ../../.. && pwd)/shared/data
mkdir -p "$data/labels" /tmp/logs
cp ../../.devdata/manifest.json "$data/labels/"
# find_cases wants the case files to exist; the caches mean none is read.
for c in chaos_ct01 ircad_p01 ircad_p07 totalseg_example totalseg_s0009_partial; do
  mkdir -p "$data/cases/$c" && touch "$data/cases/$c/ct.nii.gz" "$data/cases/$c/liver.nii.gz"
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, numpy, scipy; print("torch", torch.__version__, "numpy", numpy.__version__, "scipy", scipy.__version__, torch.cuda.is_available())'
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 LIVERSEG_CKPT_EVERY_S=45
t0=$(date +%s)
for j in "$@"; do
  n=${j//\//_}
  timeout -s INT "$deadline" python3 train.py paired --device cuda --threads 1 --recipe 2 --hardneg-w 0 \
    --teacher-steps 1500 --steps 1500 --bank 960 --synth-bank 960 --anatomy real,synth --seeds 2 \
    --train-only --jobs "$j" > "/tmp/logs/$n.log" 2>&1 &
  sleep 3
done
while [ "$(jobs -r | wc -l)" -gt 0 ]; do
  sleep 30; echo "--- $(( $(date +%s) - t0 )) s"; for f in /tmp/logs/*.log; do echo "$(basename $f): $(tail -n 1 $f | cut -c1-150)"; done
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
done
wait
python3 devpack.py pack runs/cv_paired_r2 "$OUT"
tar czf "$OUT/logs.tgz" -C /tmp logs
ls -la "$OUT"
