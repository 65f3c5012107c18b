#!/usr/bin/env bash
# Installs what LiverSeg needs on Debian 12, idempotently:
#
#   scripts/setup.sh [viewer] [test] [training]     (default: viewer)
#
#   viewer    what building and running the viewer and the command line
#             need (make run, make build, make package): the C toolchain,
#             the OpenGL/X11 headers Fyne links, the DICOM codec libraries;
#             Go modules; the ONNX Runtime shared library from the npm
#             package onnxruntime-node@1.24.1, checksum-verified, into
#             third_party/ort/.
#   test      what the test suite compares with or drives (make test, CI):
#             Xvfb, ImageMagick, xwininfo and xdotool for the window checks
#             (scripts/check-package.sh, scripts/soak.sh); dcm2niix, DCMTK,
#             GDCM's and dicom3tools' programs for the DICOM reference
#             checks; Python with numpy, scipy, nibabel, pydicom and torch
#             for the NIfTI, metrics and model parity checks.
#   training  the Python training stack (make models: torch, onnx, ...).
#
# System packages come through apt (only those missing). Nothing is
# downloaded from anywhere but apt, the Go module proxy and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

VIEWER_PACKAGES=(
  gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev
  libxinerama-dev libxi-dev libxxf86vm-dev
  libgdcm-dev libcharls-dev libopenjp2-7-dev
)
TEST_PACKAGES=(
  xvfb imagemagick x11-utils xdotool hyperfine
  dcm2niix dcmtk libgdcm-tools dicom3tools
  python3-numpy python3-scipy python3-nibabel python3-pydicom python3-torch
)
TRAINING_PACKAGES=(
  python3-torch python3-onnx python3-numpy python3-scipy python3-nibabel python3-pydicom
)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(viewer)
APT_PACKAGES=()
viewer=false
for g in "${groups[@]}"; do
  case $g in
    viewer) APT_PACKAGES+=("${VIEWER_PACKAGES[@]}"); viewer=true ;;
    test) APT_PACKAGES+=("${TEST_PACKAGES[@]}") ;;
    training) APT_PACKAGES+=("${TRAINING_PACKAGES[@]}") ;;
    *) echo "setup: unknown group '$g' (viewer, test, training)" >&2; exit 2 ;;
  esac
done
# LIVERSEG_SETUP_EXTRA adds packages only some targets need: CI and
# `make pacs-demo` ask for the Orthanc archive (a system service once
# installed, so `make run` does not install it).
read -r -a EXTRA <<< "${LIVERSEG_SETUP_EXTRA:-}"
APT_PACKAGES+=("${EXTRA[@]}")
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

$viewer || { echo "setup: ok (${groups[*]})"; exit 0; }

go mod download

# ONNX Runtime 1.24.1 (what github.com/yalue/onnxruntime_go v1.27.0 needs).
ORT_DIR=third_party/ort
ORT_LIB=$ORT_DIR/libonnxruntime.so.1
ORT_TGZ_SHA256=57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772
ORT_LIB_SHA256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
if [ ! -f "$ORT_LIB" ] || ! echo "$ORT_LIB_SHA256  $ORT_LIB" | sha256sum -c --status; then
  echo "setup: fetching ONNX Runtime from npm (onnxruntime-node@1.24.1)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # npm pack only downloads the tarball: the package's install script, which
  # would reach an unreachable host, never runs.
  (cd "$tmp" && npm pack --silent onnxruntime-node@1.24.1 >/dev/null)
  echo "$ORT_TGZ_SHA256  $tmp/onnxruntime-node-1.24.1.tgz" | sha256sum -c --quiet
  tar -xzf "$tmp/onnxruntime-node-1.24.1.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$ORT_DIR"
  install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_LIB.tmp"
  echo "$ORT_LIB_SHA256  $ORT_LIB.tmp" | sha256sum -c --quiet
  mv "$ORT_LIB.tmp" "$ORT_LIB"
fi
echo "setup: ok (${groups[*]}; ONNX Runtime at $ORT_LIB)"
