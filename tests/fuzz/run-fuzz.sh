#!/bin/sh
# run-fuzz.sh FRESH WORKDIR FUZZER ARGS...: run one libFuzzer target the same
# way on every machine. FRESH=1 empties WORKDIR first (the fixed-run mode
# ctest uses); address-space randomization is turned off, because the
# fuzzer's comparison tracing sees pointer values and would otherwise explore
# differently on each run.
#
# In the fixed-run mode the run must be the fixed one, or it fails: ASLR that
# cannot be turned off, or fewer inputs run than -runs= asks (the time bound
# hit first, on a very slow machine), exit non-zero instead of passing on
# inputs CI never tried.
set -eu
fresh=$1 work=$2
shift 2
runs=$(for a in "$@"; do case "$a" in -runs=*) echo "${a#-runs=}" ;; esac; done)
[ "$fresh" = 1 ] && rm -rf "$work"
mkdir -p "$work"
if setarch "$(uname -m)" -R true 2>/dev/null; then
  set -- setarch "$(uname -m)" -R "$@"
elif [ "$fresh" = 1 ]; then
  echo "run-fuzz.sh: cannot turn off address-space randomization here (setarch -R): the fixed inputs would not be the fixed ones" >&2
  exit 1
else
  echo "run-fuzz.sh: cannot turn off address-space randomization here; inputs may differ from CI" >&2
fi
log="$work.log"
status=0
"$@" >"$log" 2>&1 || status=$?
cat "$log"
[ "$status" = 0 ] || exit "$status"
if [ "$fresh" = 1 ] && [ -n "$runs" ]; then
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ -z "$executed" ] || [ "$executed" -lt "$runs" ]; then
    echo "run-fuzz.sh: ran ${executed:-no} inputs of the $runs asked (the time bound came first): not the fixed run" >&2
    exit 1
  fi
  echo "run-fuzz.sh: ran $executed inputs (fixed: $runs)"
fi
