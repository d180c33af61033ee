#!/bin/bash
# A build the way a packager or a distribution makes one: its own build
# type and flags, the default prefix (/usr/local), no -Werror. It must
# build, pass the unit tests and package into a correct .deb (check-deb.sh):
# the package's paths follow the package's prefix, not the build's.
#
# usage: packager-build.sh SOURCE_DIR WORK_DIR debian|release [PACKAGE_VERSION]
#   debian:  CMAKE_BUILD_TYPE=None and dpkg-buildflags' flags, as debhelper
#            builds (-O2, fortify, stack protector, RELRO, PIE)
#   release: CMAKE_BUILD_TYPE=Release (-O3), nothing else
# With PACKAGE_VERSION it also packages WORK_DIR/syslens_<version>_<arch>.deb,
# checks it (check-deb.sh) and copies it to WORK_DIR/syslens.deb.
set -euo pipefail
src=$(realpath "$1") work=$2 kind=$3 version=${4:-}
mkdir -p "$work"
work=$(realpath "$work")
b="$work/build-$kind"
rm -rf "$b"
case "$kind" in
  debian)
    export CFLAGS CXXFLAGS CPPFLAGS LDFLAGS
    CFLAGS=$(dpkg-buildflags --get CFLAGS)
    CXXFLAGS=$(dpkg-buildflags --get CXXFLAGS)
    CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS)
    LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
    # CMake takes no CPPFLAGS: debhelper folds them into the compile flags.
    CFLAGS="$CFLAGS $CPPFLAGS" CXXFLAGS="$CXXFLAGS $CPPFLAGS"
    set -- -DCMAKE_BUILD_TYPE=None
    ;;
  release) set -- -DCMAKE_BUILD_TYPE=Release ;;
  *) echo "packager-build: kind must be debian or release" >&2; exit 2 ;;
esac
[[ -n $version ]] && set -- "$@" -DSYSLENS_PACKAGE_VERSION="$version"
# Only what the package holds and the unit tests: a packager runs no
# real-kernel tests at build time. CMAKE_SKIP_INSTALL_ALL_DEPENDENCY lets
# cpack package those targets without building the whole tree again.
cmake -S "$src" -B "$b" "$@" -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >"$work/configure-$kind.log"
# -Werror=format-security is Debian's own; a bare -Werror must not be there.
grep -qE -- '-Werror( |")' "$b/compile_commands.json" && { echo "packager-build: -Werror in a packager's build"; exit 1; }
cmake --build "$b" -j "$(nproc)" --target syslensd syslens unit_tests debian_changelog
"$b/tests/unit/unit_tests" --gtest_brief=1
if [[ -n $version ]]; then
  (cd "$b" && cpack -G DEB -B "$work")
  rm -rf "$work/_CPack_Packages"
  deb=$(ls "$work"/syslens_"$version"_*.deb)
  "$src/tests/package/check-deb.sh" "$deb"
  cp "$deb" "$work/syslens.deb"
fi
echo "packager-build: $kind: built, unit tests passed${version:+, $deb checked}"
