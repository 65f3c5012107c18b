#!/usr/bin/env bash
# Builds the Linux desktop bundle dist/LiverSeg.tar.xz (`make package` runs
# it after installing the fyne CLI and scripts/setup.sh).
#
#   FYNE=bin/tools/fyne-vX.Y.Z/fyne scripts/package.sh
#
# `fyne package -os linux --release` builds the binary with the metadata of
# FyneApp.toml (name, ID, version, build, icon assets/icon.png) and lays out
# usr/local/{bin,share/applications,share/pixmaps}. This script then moves
# the binary into an application folder with what it loads at run time:
#
#   liverseg/Makefile                          install, uninstall, user-install, user-uninstall
#   liverseg/usr/local/bin/liverseg            -> ../lib/liverseg/liverseg (symlink)
#   liverseg/usr/local/lib/liverseg/liverseg   the program
#   liverseg/usr/local/lib/liverseg/libonnxruntime.so.1
#   liverseg/usr/local/lib/liverseg/models/    *.onnx and their cards (*.json)
#   liverseg/usr/local/share/applications/io.github.liverseg.liverseg.desktop
#   liverseg/usr/local/share/pixmaps/io.github.liverseg.liverseg.png
#
# The program finds the library beside its executable and the models folder
# in the executable's folder (inference.LocateLibrary, FindModelsDir; the
# symlink in bin/ is resolved first), so an installed copy needs no
# environment variables and no source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

FYNE=${FYNE:?set FYNE to the fyne CLI (make package installs it)}
case $FYNE in /*) ;; *) FYNE=$root/$FYNE ;; esac
ORT_LIB=third_party/ort/libonnxruntime.so.1
OUT=dist/LiverSeg.tar.xz

[ -f "$ORT_LIB" ] || { echo "package: $ORT_LIB is missing; run scripts/setup.sh (make setup)" >&2; exit 1; }
shopt -s nullglob
cards=(models/*.json)
[ ${#cards[@]} -gt 0 ] || { echo "package: no model cards in models/" >&2; exit 1; }
# Each card names its network and that file's sha256; bundle only what
# matches (the app would refuse a mismatching model at load anyway).
onnx=()
for c in "${cards[@]}"; do
  f=$(sed -n 's/^ *"onnx": *"\([^"]*\)".*/\1/p' "$c")
  sum=$(sed -n 's/^ *"sha256": *"\([0-9a-f]\{64\}\)".*/\1/p' "$c")
  [ -n "$f" ] && [ -n "$sum" ] || { echo "package: $c names no onnx file or sha256" >&2; exit 1; }
  echo "$sum  models/$f" | sha256sum -c --quiet || { echo "package: models/$f does not match its card $c" >&2; exit 1; }
  onnx+=("models/$f")
done

mkdir -p dist
work=$(mktemp -d "$root/dist/.package.XXXXXX")
# fyne package rewrites FyneApp.toml (it increments Details.Build after
# every package); the build number is the repository's to set, so the file
# is put back as it was, whatever happens.
# While it builds, it also writes fyne_metadata_init.go into the source
# folder (removed after the build; an interruption may leave it behind).
cp FyneApp.toml "$work/FyneApp.toml"
had_init=0; [ ! -e fyne_metadata_init.go ] || had_init=1
cleanup() {
  cmp -s "$work/FyneApp.toml" FyneApp.toml || cp "$work/FyneApp.toml" FyneApp.toml
  [ "$had_init" = 1 ] || rm -f fyne_metadata_init.go
  rm -rf "$work"
}
trap cleanup EXIT

echo "package: $("$FYNE" version | head -1): fyne package -os linux --release"
(cd "$work" && "$FYNE" package -os linux --release --src "$root")
cmp -s "$work/FyneApp.toml" FyneApp.toml || cp "$work/FyneApp.toml" FyneApp.toml

mkdir "$work/stage"
tar -xJf "$work/LiverSeg.tar.xz" -C "$work/stage"
b=$work/stage/liverseg
# fyne uses usr/local when the building machine has /usr/local, else usr.
if [ -d "$b/usr/local/bin" ]; then p=usr/local; else p=usr; fi
app=$b/$p/lib/liverseg
mkdir -p "$app/models"
mv "$b/$p/bin/liverseg" "$app/liverseg"
ln -s ../lib/liverseg/liverseg "$b/$p/bin/liverseg"
install -m 0644 "$ORT_LIB" "$app/libonnxruntime.so.1"
install -m 0644 "${cards[@]}" "${onnx[@]}" "$app/models/"
sed "s|@SRC@|$p|g" scripts/bundle.mk > "$b/Makefile"

XZ_OPT=-T0 tar --owner=0 --group=0 --numeric-owner -cJf "$work/out.tar.xz" -C "$work/stage" liverseg
mv "$work/out.tar.xz" "$OUT"
echo "package: wrote $OUT ($(du -h "$OUT" | cut -f1)); contents:"
tar -tvJf "$OUT" | awk '{printf "  %10s  %s %s %s\n", $3, $6, $7, $8}'
