#!/bin/sh
# run-fuzz.sh FRESH WORKDIR FUZZER ARGS...: run one libFuzzer target the same
# way on every machine. FRESH=1 empties WORKDIR first (the fixed-run mode
# ctest uses); address-space randomization is turned off where the kernel lets
# us, because the fuzzer's comparison tracing sees pointer values and would
# otherwise explore differently on each run.
set -eu
fresh=$1 work=$2
shift 2
[ "$fresh" = 1 ] && rm -rf "$work"
mkdir -p "$work"
if setarch "$(uname -m)" -R true 2>/dev/null; then
  exec setarch "$(uname -m)" -R "$@"
fi
echo "run-fuzz.sh: cannot turn off address-space randomization here; inputs may differ from CI" >&2
exec "$@"
