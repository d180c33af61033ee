#!/bin/bash
# One check of the VM tier as a CTest test: passes when the stage's results
# say "ok NAME"; otherwise prints what they say (or that the check never ran).
# usage: result.sh RESULTS_FILE NAME, or RESULTS_FILE --none-failed (no
# "not ok" line at all, also from checks CMake does not list).
set -u
f=$1 name=$2
if [[ ! -s $f ]]; then
  echo "no results in $f: the VM did not finish this stage (see the console and log files beside it)"
  exit 1
fi
if [[ $name == --none-failed ]]; then
  grep '^not ok ' "$f" || exit 0
  # A stage cut short: what its console said last is the only account of why.
  console=$(dirname "$f")/console-$(basename "$f" .txt | sed 's/^results-//').txt
  if grep -q '^not ok stage:' "$f" && [[ -s $console ]]; then
    echo "--- last lines of $console:"
    tail -60 "$console" | tr -d '\r'
  fi
  exit 1
fi
grep -qxF "ok $name" "$f" && exit 0
line=$(grep -F "not ok $name:" "$f" || true)
echo "${line:-check '$name' did not run (missing from $f)}"
exit 1
