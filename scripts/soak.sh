#!/usr/bin/env bash
# Soak check of the real window (issue 13: after a minute idle the window
# stopped repainting, then crashed on the Window preset list; the idle app
# kept a core busy).
#
#   scripts/soak.sh            (after `make build`; CI runs it from .ci/run)
#
# Under a private Xvfb (SOAK_DISPLAY=N to use display :N instead of a free
# one) it starts bin/liverseg on chaos_ct01's DICOM series from
# ../shared/data (the demo phantom when the folder is absent), waits for the
# student's overlay, then
#   1. stays idle for SOAK_IDLE seconds (default 90) and measures the
#      process's CPU time (/proc/PID/stat utime+stime) over the
#      SOAK_CPU_WINDOW seconds (default 20) after a 10 s settle and over the
#      rest of the idle time: each must stay under SOAK_MAX_CPU % of one
#      core (default 5);
#   2. scrolls the axial view with the mouse wheel (xdotool): the axial view
#      and the status line's slice numbers must be redrawn, the toolbar must
#      not change;
#   3. opens the Window preset list: the list must appear below it; Escape
#      closes it again;
#   4. requires the process to be alive after each step and stderr to hold
#      no panic.
# Screenshots and logs are kept in SOAK_KEEP (a folder) when set. Xvfb and
# the program are stopped whatever happens.
# Needs: Xvfb, xdotool, ImageMagick (import, compare, convert), xwininfo.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
exe=${SOAK_BIN:-$here/bin/liverseg}
idle_s=${SOAK_IDLE:-90}
cpu_window=${SOAK_CPU_WINDOW:-20}
max_cpu=${SOAK_MAX_CPU:-5}
keep=${SOAK_KEEP:-}
export LIVERSEG_ORT_LIB=${LIVERSEG_ORT_LIB:-$here/third_party/ort/libonnxruntime.so.1}
[ -x "$exe" ] || { echo "soak: no program at $exe; run make build" >&2; exit 1; }
study=${SOAK_STUDY-$here/../shared/data/cases/chaos_ct01/dicom}
[ -z "$study" ] || [ -d "$study" ] || study="" # no shared data: the demo study

passed=0
fail() { echo "soak: FAIL: $*" >&2; echo "soak: $passed passed, 1 failed"; exit 1; }
ok() { echo "soak: ok: $*"; passed=$((passed + 1)); }

tmp=$(mktemp -d /tmp/liverseg-soak.XXXXXX)
app_pid=""; xvfb_pid=""
cleanup() {
  [ -z "$app_pid" ] || kill "$app_pid" 2>/dev/null || true
  [ -z "$xvfb_pid" ] || kill "$xvfb_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$tmp"/*.png "$tmp"/*.txt "$keep"/ 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A private HOME: the user's settings and caches are neither read nor touched.
export HOME=$tmp/home XDG_CACHE_HOME=$tmp/home/.cache XDG_CONFIG_HOME=$tmp/home/.config XDG_DATA_HOME=$tmp/home/.local/share
mkdir -p "$HOME"

if [ -n "${SOAK_DISPLAY:-}" ]; then
  Xvfb ":$SOAK_DISPLAY" -screen 0 1600x1000x24 -nolisten tcp 2>"$tmp/xvfb.txt" &
  xvfb_pid=$!
  echo "$SOAK_DISPLAY" >"$tmp/display"
  sleep 1
else
  Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.txt" &
  xvfb_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
fi
kill -0 "$xvfb_pid" 2>/dev/null && [ -s "$tmp/display" ] || fail "Xvfb did not start: $(cat "$tmp/xvfb.txt")"
export DISPLAY=:$(head -1 "$tmp/display")
ok "Xvfb on $DISPLAY"

alive() { kill -0 "$app_pid" 2>/dev/null || { cat "$tmp/stderr.txt" >&2; fail "liverseg exited $1"; }; }
start=$(date +%s)
(cd "$here" && LIVERSEG_TRACE=1 exec "$exe" ${study:+"$study"}) >"$tmp/stdout.txt" 2>"$tmp/stderr.txt" &
app_pid=$!
until grep -q "run student: overlay installed" "$tmp/stderr.txt"; do
  alive "before the student's overlay showed"
  [ $(( $(date +%s) - start )) -lt 300 ] || { cat "$tmp/stderr.txt" >&2; fail "no student overlay after 300 s"; }
  sleep 1
done
loaded=$(date +%s)
ok "student's overlay on ${study:-the demo study} $((loaded - start)) s after start"

# 1. Idle. CPU ticks of the whole process (every thread) from /proc.
ticks() { awk '{print $14 + $15}' "/proc/$app_pid/stat"; }
hz=$(getconf CLK_TCK)
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {print b - a}'; }
cpu_pct() { awk -v t="$1" -v s="$2" -v hz="$hz" 'BEGIN {printf "%.1f", 100 * t / hz / s}'; }
sleep 10
alive "while idle"
t0=$(ticks); s0=$(date +%s.%N)
sleep "$cpu_window"
t1=$(ticks); s1=$(date +%s.%N)
first=$(cpu_pct $((t1 - t0)) "$(elapsed "$s0" "$s1")")
rest=$(( loaded + idle_s - $(date +%s) ))
[ "$rest" -gt 0 ] && sleep "$rest"
alive "while idle"
t2=$(ticks); s2=$(date +%s.%N)
second=$(cpu_pct $((t2 - t1)) "$(elapsed "$s1" "$s2")")
echo "soak: idle CPU: $first % of a core over ${cpu_window} s from 10 s after the overlay, $second % over the next $(printf '%.0f' "$(elapsed "$s1" "$s2")") s"
awk -v a="$first" -v b="$second" -v m="$max_cpu" 'BEGIN {exit !(a < m && b < m)}' \
  || fail "idle CPU $first % / $second % of a core, limit $max_cpu %"
ok "idle $(( $(date +%s) - loaded )) s after loading; CPU under $max_cpu % of a core"

# The window and the regions the checks look at (window pixels; the window
# opens at LiverSeg's default size, 1400×900).
win=$(xwininfo -root -tree | sed -n 's/^ *\(0x[0-9a-f]*\) "LiverSeg[^"]*".*/\1/p' | head -1)
[ -n "$win" ] || fail "no LiverSeg window"
read -r wx wy ww wh < <(xwininfo -id "$win" | awk '/Absolute upper-left X/ {x=$NF} /Absolute upper-left Y/ {y=$NF} /Width:/ {w=$NF} /Height:/ {h=$NF} END {print x, y, w, h}')
[ "$ww" = 1400 ] && [ "$wh" = 900 ] || fail "the window is ${ww}×${wh}, the checks' regions assume 1400×900"
shot() { import -window root -crop "${ww}x${wh}+${wx}+${wy}" +repage "$tmp/$1.png"; }
# changed A B REGION: how many pixels of REGION differ by more than 3 %
# between the screenshots A and B.
changed() {
  convert "$tmp/$1.png" -crop "$3" +repage "$tmp/crop-a.png"
  convert "$tmp/$2.png" -crop "$3" +repage "$tmp/crop-b.png"
  { compare -metric AE -fuzz 3% "$tmp/crop-a.png" "$tmp/crop-b.png" null: 2>&1 || true; } | cut -d' ' -f1 # exit status 1: they differ
}
axial=660x350+20+90       # inside the axial view (top left)
toolbar=330x34+0+32       # the Open buttons
slices=480x28+910+866     # the status line's "Axi 40/78  Cor …  Sag …"
below=220x180+340+70      # below the Window preset list

# 2. Scroll the axial view.
shot idle
xdotool mousemove $((wx + 350)) $((wy + 265))
xdotool click --repeat 5 --delay 150 5
sleep 2
alive "after scrolling"
shot scrolled
a=$(changed idle scrolled "$axial"); s=$(changed idle scrolled "$slices"); b=$(changed idle scrolled "$toolbar")
echo "soak: after scrolling: $a axial pixels, $s status-line pixels and $b toolbar pixels changed"
[ "$a" -gt 2000 ] || fail "scrolling after ${idle_s} s idle did not redraw the axial view ($a pixels changed)"
[ "$s" -gt 20 ] || fail "scrolling did not update the slice numbers in the status line ($s pixels changed)"
[ "$b" -lt 50 ] || fail "scrolling changed the toolbar ($b pixels)"
ok "scrolling redraws the axial view and the slice numbers"

# 3. Open the Window preset list, then close it.
xdotool mousemove $((wx + 450)) $((wy + 48)) click 1
sleep 2
alive "after opening the Window preset list"
shot presets
p=$(changed scrolled presets "$below"); a=$(changed scrolled presets "$toolbar")
echo "soak: preset list: $p pixels changed below it, $a in the toolbar"
[ "$p" -gt 2000 ] || fail "the Window preset list did not appear ($p pixels changed below it)"
ok "the Window preset list opens"
xdotool key Escape
sleep 2
alive "after closing the Window preset list"
shot closed
c=$(changed scrolled closed "$below")
[ "$c" -lt 200 ] || fail "the preset list did not close ($c pixels still differ)"
ok "the preset list closes; liverseg still running (pid $app_pid)"

if grep -iq 'panic\|nil pointer\|fatal' "$tmp/stderr.txt"; then
  cat "$tmp/stderr.txt" >&2; fail "stderr reports a crash"
fi
ok "stderr: no panic"
echo "soak: PASS ($(( $(date +%s) - start )) s; idle CPU $first % then $second % of a core)"
echo "soak: $passed passed, 0 failed"
