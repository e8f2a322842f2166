#!/usr/bin/env bash
# Runs each fuzz target for SECONDS seconds on a corpus under build/fuzz/corpus/<target>
# (seeded from test/fuzz/seeds/<target> when present) and reports executions and crashes.
#   test/fuzz/run.sh SECONDS TARGET...
set -uo pipefail
secs=$1
shift
status=0
for t in "$@"; do
  name=$(basename "$t")
  corpus=build/fuzz/corpus/$name
  mkdir -p "$corpus" build/fuzz/crashes
  [ -d "test/fuzz/seeds/$name" ] && cp -n test/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
  log=build/fuzz/$name.log
  echo "== $name for ${secs}s"
  "$t" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=build/fuzz/crashes/"$name"- \
    "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  echo "$name: ${runs:-?} executions in ${secs}s, exit status $rc"
  if [ $rc -ne 0 ]; then
    echo "$name: CRASH, see $log and build/fuzz/crashes/" >&2
    tail -n 30 "$log" >&2
    status=1
  fi
done
exit $status
