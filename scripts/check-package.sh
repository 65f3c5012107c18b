#!/usr/bin/env bash
# Checks the Linux bundle as a user would meet it, away from the source tree:
#
#   scripts/check-package.sh [BUNDLE.tar.xz] [SCREENSHOT.png]
#
# (defaults: dist/LiverSeg.tar.xz from `make package`, and the screenshot
# is kept only when a path is given). In a temporary folder it
#   1. unpacks the bundle and runs its Makefile's `install` into a temporary
#      PREFIX and `user-install` into a temporary HOME (nothing system-wide);
#   2. checks that every bundled model matches the sha256 of its card;
#   3. starts the user-installed program (the symlink in ~/.local/bin) with
#      no arguments, from a folder outside any source tree and without
#      LIVERSEG_ORT_LIB / LIVERSEG_MODELS, under a private Xvfb: it opens
#      the built-in demo study (the synthetic phantom) and runs the student
#      on it;
#   4. waits for the student's overlay (LIVERSEG_TRACE=1 timing lines),
#      takes a screenshot with ImageMagick's import and checks that the
#      program is still running, that it loaded the bundled ONNX Runtime
#      (/proc/PID/maps), that the window's title names the demo study, that
#      the screen is not blank and that stderr reports no error;
#   5. runs `liverseg eval` of the PREFIX install on that demo study (the
#      bundled student against the phantom's true liver);
#   6. uninstalls both and checks that nothing is left.
# Needs: tar, xz, make, sha256sum, Xvfb, ImageMagick, xwininfo (x11-utils);
# scripts/setup.sh installs them.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(realpath "${1:-$here/dist/LiverSeg.tar.xz}")
shot_out=${2:-}
[ -z "$shot_out" ] || shot_out=$(realpath -m "$shot_out")
timeout_s=${CHECK_TIMEOUT:-180}
[ -f "$bundle" ] || { echo "check-package: no bundle at $bundle; run make package" >&2; exit 1; }

# Each check says ok or FAIL; the last line counts them ("N passed, N
# failed"), and the first failure stops the script with status 1.
passed=0
fail() { echo "check-package: FAIL: $*" >&2; echo "check-package: $passed passed, 1 failed"; exit 1; }
ok() { echo "check-package: ok: $*"; passed=$((passed + 1)); }

tmp=$(mktemp -d /tmp/liverseg-check.XXXXXX)
app_pid=""; xvfb_pid=""
cleanup() {
  [ -z "$app_pid" ] || kill "$app_pid" 2>/dev/null || true
  [ -z "$xvfb_pid" ] || kill "$xvfb_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A user's environment: a fresh HOME and XDG folders (the demo phantom is
# generated into the cache, Fyne keeps its settings in the config folder),
# no LiverSeg variables, and a working folder with no go.mod above it.
export HOME=$tmp/home XDG_CACHE_HOME=$tmp/home/.cache XDG_CONFIG_HOME=$tmp/home/.config XDG_DATA_HOME=$tmp/home/.local/share
unset LIVERSEG_ORT_LIB LIVERSEG_MODELS LIVERSEG_TRACE GOFLAGS MAKEFLAGS MAKELEVEL
mkdir -p "$HOME" "$tmp/unpack" "$tmp/prefix"
cd "$tmp"

# 1. Unpack and install.
tar -xJf "$bundle" -C "$tmp/unpack"
src=$tmp/unpack/liverseg
[ -f "$src/Makefile" ] || fail "the bundle has no liverseg/Makefile"
make -s -C "$src" install PREFIX="$tmp/prefix" >/dev/null
make -s -C "$src" user-install >/dev/null
for p in "$tmp/prefix" "$HOME/.local"; do
  for f in bin/liverseg lib/liverseg/liverseg lib/liverseg/libonnxruntime.so.1 lib/liverseg/models/student.json \
           share/applications/io.github.liverseg.liverseg.desktop; do
    [ -e "$p/$f" ] || fail "make install left no $p/$f"
  done
done
ok "installed into $tmp/prefix (make install PREFIX=...) and $HOME/.local (make user-install)"
exe=$HOME/.local/bin/liverseg
[ -L "$exe" ] || fail "$exe is not the symlink to lib/liverseg/liverseg"
desktop=$HOME/.local/share/applications/io.github.liverseg.liverseg.desktop
grep -qx "Exec=$exe" "$desktop" || fail "$desktop does not run $exe: $(grep ^Exec= "$desktop")"
grep -qx "Name=LiverSeg" "$desktop" || fail "$desktop has no Name=LiverSeg"
[ -f "$HOME/.local/share/icons/io.github.liverseg.liverseg.png" ] || fail "user-install left no icon"
ok "desktop entry $(grep ^Exec= "$desktop"), icon installed"

# 2. The bundled models are the ones their cards describe.
appdir=$HOME/.local/lib/liverseg
n=0
for card in "$appdir"/models/*.json; do
  f=$(sed -n 's/^ *"onnx": *"\([^"]*\)".*/\1/p' "$card")
  want=$(sed -n 's/^ *"sha256": *"\([0-9a-f]\{64\}\)".*/\1/p' "$card")
  [ -n "$f" ] && [ -n "$want" ] || fail "$card names no onnx file or sha256"
  got=$(sha256sum "$appdir/models/$f" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "models/$f has sha256 $got, its card says $want"
  echo "  models/$f  sha256 $got  = card $(basename "$card")"
  n=$((n + 1))
done
ok "$n bundled models match their cards"

# The system libraries it links (OpenGL, X11, the DICOM decoders) are there.
if ldd "$appdir/liverseg" | grep -q 'not found'; then
  fail "missing system libraries: $(ldd "$appdir/liverseg" | grep 'not found' | tr -s '\t\n' '  ')"
fi
ok "linked system libraries present: $(ldd "$appdir/liverseg" | awk '/=>/ {print $1}' | grep -v '^lib\(c\|m\|dl\|pthread\|rt\)\.so' | xargs)"

# The command line needs no display.
"$exe" --help >"$tmp/help.txt" 2>&1 || fail "liverseg --help failed: $(cat "$tmp/help.txt")"
grep -q "segment" "$tmp/help.txt" || fail "liverseg --help lists no segment command"
ok "liverseg --help runs"

# 3. Start it on a private X server (Xvfb picks a free display number).
Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
[ -s "$tmp/display" ] || fail "Xvfb did not start: $(cat "$tmp/xvfb.log")"
export DISPLAY=:$(head -1 "$tmp/display")
ok "Xvfb on $DISPLAY"

start=$(date +%s)
: >"$tmp/stderr.txt"
LIVERSEG_TRACE=1 "$exe" >"$tmp/stdout.txt" 2>"$tmp/stderr.txt" &
app_pid=$!

# 4. Wait until the student's overlay is on the demo study.
until grep -q "run student: overlay installed" "$tmp/stderr.txt"; do
  kill -0 "$app_pid" 2>/dev/null || { cat "$tmp/stderr.txt" >&2; fail "liverseg exited before showing the demo"; }
  [ $(( $(date +%s) - start )) -lt "$timeout_s" ] || { cat "$tmp/stderr.txt" >&2; fail "no student overlay after ${timeout_s}s"; }
  sleep 1
done
ok "student run on the demo finished $(( $(date +%s) - start ))s after start"
grep -q "run student: returned .*(err <nil>)" "$tmp/stderr.txt" || { cat "$tmp/stderr.txt" >&2; fail "the student's run reported an error"; }
sleep 3 # let the window draw the overlay
kill -0 "$app_pid" 2>/dev/null || fail "liverseg exited"
ok "liverseg still running (pid $app_pid)"

lib=$(awk '/libonnxruntime/ {print $6; exit}' "/proc/$app_pid/maps")
[ "$lib" = "$(realpath "$appdir/libonnxruntime.so.1")" ] || fail "ONNX Runtime loaded from '${lib:-nowhere}', not the bundle's $appdir"
ok "ONNX Runtime loaded from the bundle: $lib"

if grep -v '(err <nil>)$' "$tmp/stderr.txt" | grep -iq 'error\|panic\|not found\|unavailable\|cannot\|failed'; then
  cat "$tmp/stderr.txt" >&2; fail "stderr reports a problem"
fi
ok "stderr: $(grep -c . "$tmp/stderr.txt") trace lines, no error"

win=$(xwininfo -root -tree | sed -n 's/^ *\(0x[0-9a-f]*\) "\(LiverSeg[^"]*\)".*/\1 \2/p' | head -1)
title=${win#* }
case $title in
  "LiverSeg — "*) ok "window ${win%% *} title: $title" ;;
  *) fail "no LiverSeg window showing a study (title '$title')" ;;
esac
import -window "${win%% *}" "$tmp/shot.png"

colours=$(identify -format '%k' "$tmp/shot.png")
[ "$colours" -ge 1000 ] || fail "the screenshot has only $colours colours: blank or nearly so"
ok "screenshot has $colours colours"
if [ -n "$shot_out" ]; then
  mkdir -p "$(dirname "$shot_out")"
  cp "$tmp/shot.png" "$shot_out"
  ok "screenshot saved to $shot_out"
fi
# 5. The command line of the system-style install (PREFIX/bin/liverseg)
# segments the demo study the window generated into the cache. It runs in
# a decoy source tree (go.mod, a broken third_party/ort library): the
# installed program must still use its own library.
kill "$app_pid"; wait "$app_pid" 2>/dev/null || true; app_pid=""
demo=$(ls -d "$XDG_CACHE_HOME"/liverseg/phantom-1-v*/ | head -1)
[ -d "$demo/dicom" ] && [ -f "$demo/liver.nii.gz" ] || fail "the demo study is not in $XDG_CACHE_HOME/liverseg"
mkdir -p "$tmp/decoy/third_party/ort"
echo "module decoy" >"$tmp/decoy/go.mod"
echo "not a library" >"$tmp/decoy/third_party/ort/libonnxruntime.so.1"
(cd "$tmp/decoy" && "$tmp/prefix/bin/liverseg" eval --ref "$demo/liver.nii.gz" --model student "$demo/dicom") >"$tmp/eval.txt" 2>"$tmp/eval.err" \
  || fail "liverseg eval failed: $(cat "$tmp/eval.err")"
dice=$(awk '$1 == "student" {print $2}' "$tmp/eval.txt")
awk -v d="${dice:-0}" 'BEGIN {exit !(d >= 0.5)}' || fail "student Dice on the demo is '${dice}': $(cat "$tmp/eval.txt")"
ok "$tmp/prefix/bin/liverseg eval (run inside a decoy source tree): student Dice $dice on the demo phantom"

# 6. Both uninstalls leave nothing of LiverSeg behind.
make -s -C "$src" uninstall PREFIX="$tmp/prefix" >/dev/null
make -s -C "$src" user-uninstall >/dev/null
left=$(find "$tmp/prefix" "$HOME/.local" \( -type f -o -type l \) | grep -i 'liverseg' || true)
[ -z "$left" ] || fail "uninstall left: $left"
ok "make uninstall and make user-uninstall removed every installed file"

echo "check-package: PASS ($bundle; $(( $(date +%s) - start ))s from starting the program)"
echo "check-package: $passed passed, 0 failed"
