#!/usr/bin/env bash
# Runs the whole test suite N times in a row (default 5) to find flaky tests; prints one line per run and the
# failed tests of each run. Usage: scripts/repeat-tests.sh [N]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
summary=$(mktemp)
for i in $(seq 1 "$runs"); do
  log="TestResults/repeat-$i.log"
  mkdir -p TestResults
  start=$(date +%s)
  ./test.sh >"$log" 2>&1
  rc=$?
  line=$(grep -E '^tests: ' "$log" | tail -n 1)
  echo "run $i: exit $rc, $line, $(( $(date +%s) - start )) s" | tee -a "$summary"
  grep -E '^\s+Failed [A-Za-z]' "$log" | sed 's/^/    /' | tee -a "$summary" || true
done
echo "== summary"; cat "$summary"; rm -f "$summary"
