#!/bin/bash
# `make package`'s .deb from the development build, checked (check-deb.sh)
# and copied to OUT_DIR/syslens.deb for the VM tier.
# usage: make-package.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=$(realpath "$1")
mkdir -p "$2"
out=$(realpath "$2")
rm -f "$out"/*.deb
(cd "$build" && cpack -G DEB -B "$out" --config "$build/CPackConfig.cmake")
rm -rf "$out/_CPack_Packages"
deb=$(ls "$out"/syslens_*.deb)
"$(dirname "$0")/check-deb.sh" "$deb"
cp "$deb" "$out/syslens.deb"
