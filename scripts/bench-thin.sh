#!/bin/bash
# Whole-process benchmarks on thin-slice series, with dcm2niix in the same
# run: `liverseg convert` (DICOM → uncompressed NIfTI, like `dcm2niix -z
# n`), `liverseg info` (scan and read every slice: the app's load, without
# a window) and `liverseg segment --model student`, on chaos_ct01 (or the
# phantom where ../shared/data is absent) interpolated along z to 78, 310
# and 1000 slices. The series are written into a temporary folder by
# internal/testsupport/thinct and removed at the end; nothing goes into the
# repository. Wall times by hyperfine (mean ± σ of RUNS runs after one
# warm-up, every command as a whole process); peak resident memory by
# /usr/bin/time, one run each.
#
#   scripts/bench-thin.sh            # RUNS=5 SIZES="78 310 1000"
#   RUNS=3 SIZES="1000" scripts/bench-thin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
sizes=${SIZES:-"78 310 1000"}
for tool in hyperfine dcm2niix /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench-thin: $tool is missing (make setup installs it)" >&2; exit 2; }
done
export LIVERSEG_ORT_LIB=${LIVERSEG_ORT_LIB:-$PWD/third_party/ort/libonnxruntime.so.1}
work=$(mktemp -d "${TMPDIR:-/tmp}/liverseg-bench-thin.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -o "$work/liverseg" .
go build -o "$work/thinct" ./internal/testsupport/thinct/cmd/thinct
# shellcheck disable=SC2086
"$work/thinct" "$work" $sizes
ls="$work/liverseg"
for n in $sizes; do
  s="$work/slices$n" o="$work/out$n"
  mkdir -p "$o"
  hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$work/h$n.json" \
    -n "dcm2niix -z n" "dcm2niix -z n -w 1 -o $o -f x $s" \
    -n "liverseg convert" "$ls convert --force $s $o/l.nii" \
    -n "liverseg info" "$ls info $s" \
    -n "liverseg segment student" "$ls segment --force --model student --out $o/m.nii.gz $s" >&2
  for c in "dcm2niix -z n -w 1 -o $o -f x $s" "$ls convert --force $s $o/l.nii" "$ls info $s" \
           "$ls segment --force --model student --out $o/m.nii.gz $s"; do
    /usr/bin/time -f "%M" -o "$work/rss" $c >/dev/null 2>&1
    echo "$n	$(basename "${c%% *}") $(echo "$c" | awk '{print $2}')	$(cat "$work/rss")" >>"$work/rss.tsv"
  done
done
python3 - "$work" $sizes <<'PY'
import json, sys, collections
work, sizes = sys.argv[1], sys.argv[2:]
rss = collections.defaultdict(dict)
for line in open(f"{work}/rss.tsv"):
    n, cmd, kb = line.rstrip("\n").split("\t")
    rss[n][cmd] = int(kb) / 1024
keys = {"dcm2niix -z n": "dcm2niix -z", "liverseg convert": "liverseg convert",
        "liverseg info": "liverseg info", "liverseg segment student": "liverseg segment"}
print("| slices | dcm2niix -z n | liverseg convert (× dcm2niix) | liverseg info: scan + read (× dcm2niix) | segment --model student | peak RSS: dcm2niix / convert / info / segment |")
print("|---|---|---|---|---|---|")
for n in sizes:
    r = {x["command"]: x for x in json.load(open(f"{work}/h{n}.json"))["results"]}
    d = r["dcm2niix -z n"]["mean"]
    f = lambda k: f'{r[k]["mean"]:.2f} ± {r[k]["stddev"]:.2f} s'
    ratio = lambda k: f'{r[k]["mean"]/d:.2f}×'
    m = rss[n]
    print(f'| {n} | {f("dcm2niix -z n")} | {f("liverseg convert")} ({ratio("liverseg convert")}) | '
          f'{f("liverseg info")} ({ratio("liverseg info")}) | {f("liverseg segment student")} | '
          f'{m.get("dcm2niix -z",0):.0f} / {m.get("liverseg convert",0):.0f} / {m.get("liverseg info",0):.0f} / {m.get("liverseg segment",0):.0f} MB |')
PY
