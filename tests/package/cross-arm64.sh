#!/bin/bash
# `make package ARCH=arm64` from this tree, on this x86_64 host: the arm64
# .deb (daemon, CLI, the BPF object built for arm64), checked as the native
# one is (check-deb.sh); then the arm64 unit tests, run here under QEMU's
# user-mode emulation. The .deb goes to OUT_DIR/syslens.deb and the build
# (the kernel tests, the marker) stays in OUT_DIR/build for the arm64 VM tier.
# usage: cross-arm64.sh SOURCE_DIR OUT_DIR
set -euo pipefail
src=$(realpath "$1")
mkdir -p "$2"
out=$(realpath "$2")
rm -f "$out"/build/syslens_*.deb "$out/syslens.deb"
make -C "$src" --no-print-directory package ARCH=arm64 BUILD_ARM64="$out/build"
deb=$(ls "$out"/build/syslens_*_arm64.deb)
[[ $(dpkg-deb -f "$deb" Architecture) == arm64 ]] || { echo "cross-arm64: $deb is not arm64"; exit 1; }
readelf -h "$out/build/daemon/syslensd" | grep -q "Machine: *AArch64" || { echo "cross-arm64: syslensd is not an arm64 binary"; exit 1; }
"$(dirname "$0")/check-deb.sh" "$deb"
cp "$deb" "$out/syslens.deb"
cd "$out/build"
ctest -L unit --output-on-failure --timeout 300
