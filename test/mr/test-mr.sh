#!/usr/bin/env bash
# The 7 cases of the 6.5840 (Spring 2024) lab's test-mr.sh, with the same processes, timings
# and pass conditions, run against bin/mrcoordinator, bin/mrworker and the apps in
# bin/mrapps/*.so:
#   wc, indexer, map parallelism, reduce parallelism, job count, early exit, crash.
# The input is 8 generated text files named like the lab's Project Gutenberg books
# (test/mr/gen-corpus.c; early_exit's slow keys contain "sherlock" and "tom"). The one
# difference: mrsequential writes mr-seq-out, where the lab's wrote mr-out-0.
# Every process runs under timeout (45 s; crash case 120 s). Prints one line per case and
# "RESULT <passed> passed, <failed> failed"; exits 1 when a case failed.
#   BIN=bin MODE=release test/mr/test-mr.sh [CASE...]
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
MODE=${MODE:-release}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
GEN=$ROOT/build/$MODE/test/mr-gen-corpus
COORD=$BIN/mrcoordinator
WORKER=$BIN/mrworker
SEQ=$BIN/mrsequential
APPS=$BIN/mrapps
for f in "$COORD" "$WORKER" "$SEQ" "$GEN" "$APPS/wc.so"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "test-mr: $f is missing (run make)"; echo "RESULT 0 passed, 1 failed"; exit 1; }
done

TIMEOUT="timeout -k 2s 45s"
TIMEOUT2="timeout -k 2s 120s"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-mr.XXXXXX")
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/mr-tmp"

# Kills what this script started (by pid, with their children), then removes the work dir.
kill_tree() {
  local pid=$1 child
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill_tree "$child"; done
  kill -KILL "$pid" 2>/dev/null
}
cleanup() {
  local p
  for p in $(jobs -p); do kill_tree "$p"; done
  wait 2>/dev/null
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "test-mr: work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The input: 8 files of 140-600 KB, sizes as the lab's books.
corpus() {
  local spec name size
  for spec in being_ernest:140KiB dorian_gray:450KiB frankenstein:440KiB grimm:540KiB \
              huckleberry_finn:590KiB metamorphosis:140KiB sherlock_holmes:590KiB \
              tom_sawyer:420KiB; do
    name=${spec%%:*}
    size=${spec##*:}
    "$GEN" --vocab 20000 --size "$size" "$WORK/pg-$name.txt" || return 1
  done
}

passed=0
failed=0
case_failed=0
fail() { echo "--- $*"; case_failed=1; }

# Starts the coordinator in the background and waits the lab's 1 s. Its pid goes to
# $coord_pid, its address (the kernel picks the port) to $ADDR. With DONE_FILE set, that file
# is touched when the coordinator exits (the lab's "(mrcoordinator; touch mr-done) &").
start_coordinator() {
  local to=$1 name=$2
  shift 2
  rm -f addr
  (
    $to "$COORD" --listen 127.0.0.1:0 --addr-file addr --no-progress-bar "$@" 2>>"$LOGS/$name-coord.log"
    [ -z "${DONE_FILE:-}" ] || touch "$DONE_FILE"
  ) &
  coord_pid=$!
  sleep 1
  for _ in $(seq 50); do [ -s addr ] && break; sleep 0.1; done
  ADDR=$(cat addr 2>/dev/null)
  [ -n "$ADDR" ] || fail "the coordinator did not start (see $LOGS)"
}
worker() { # worker TIMEOUT CASE APP
  $1 "$WORKER" --coordinator "$ADDR" "$APPS/$3.so" 2>>"$LOGS/$2-workers.log"
}

run_case() {
  local name=$1 start=$SECONDS
  echo "*** Starting $name test."
  case_failed=0
  # In the background, so that a signal to this script is handled at once (see cleanup).
  (cd "$WORK/mr-tmp" && find . -mindepth 1 -delete && "case_$name") &
  wait $! || case_failed=1
  local took=$((SECONDS - start))
  if [ $case_failed = 0 ] && grep -q "^--- .*: PASS" "$WORK/result"; then
    passed=$((passed + 1))
    echo "test-mr: $name PASS (${took}s)"
  else
    failed=$((failed + 1))
    echo "test-mr: $name FAIL (${took}s); logs:"
    tail -n 5 "$LOGS"/"$name"-* 2>/dev/null | sed 's/^/    /'
  fi
}

# Each case prints "--- <name> test: PASS" into $WORK/result on success (cases run in a
# subshell, so the verdict travels through that file).
pass() { echo "--- $1 test: PASS" | tee "$WORK/result"; }

case_wc() {
  "$SEQ" "$APPS/wc.so" ../pg*txt || return 1
  sort mr-seq-out >mr-correct-wc.txt
  rm -f mr-out*
  start_coordinator "$TIMEOUT" wc ../pg*txt
  (worker "$TIMEOUT" wc wc) &
  (worker "$TIMEOUT" wc wc) &
  (worker "$TIMEOUT" wc wc) &
  wait $coord_pid
  sort mr-out* | grep . >mr-wc-all
  if cmp mr-wc-all mr-correct-wc.txt; then pass wc
  else fail "wc output is not the same as mr-correct-wc.txt"; fi
  wait
  [ $case_failed = 0 ]
}

case_indexer() {
  "$SEQ" "$APPS/indexer.so" ../pg*txt || return 1
  sort mr-seq-out >mr-correct-indexer.txt
  rm -f mr-out*
  start_coordinator "$TIMEOUT" indexer ../pg*txt
  worker "$TIMEOUT" indexer indexer &
  worker "$TIMEOUT" indexer indexer
  sort mr-out* | grep . >mr-indexer-all
  if cmp mr-indexer-all mr-correct-indexer.txt; then pass indexer
  else fail "indexer output is not the same as mr-correct-indexer.txt"; fi
  wait
  [ $case_failed = 0 ]
}

case_map_parallelism() {
  start_coordinator "$TIMEOUT" map_parallelism ../pg*txt
  worker "$TIMEOUT" map_parallelism mtiming &
  worker "$TIMEOUT" map_parallelism mtiming
  local nt
  nt=$(cat mr-out* | grep -c '^times-')
  [ "$nt" = 2 ] || fail "saw $nt workers rather than 2"
  if cat mr-out* | grep -q '^parallel.* 2'; then
    [ $case_failed = 0 ] && pass "map parallelism"
  else
    fail "map workers did not run in parallel"
  fi
  wait
  [ $case_failed = 0 ]
}

case_reduce_parallelism() {
  start_coordinator "$TIMEOUT" reduce_parallelism ../pg*txt
  worker "$TIMEOUT" reduce_parallelism rtiming &
  worker "$TIMEOUT" reduce_parallelism rtiming
  local nt
  nt=$(cat mr-out* | grep -c '^[a-z] 2')
  if [ "$nt" -lt 2 ]; then fail "too few parallel reduces ($nt)"
  else pass "reduce parallelism"; fi
  wait
  [ $case_failed = 0 ]
}

case_job_count() {
  start_coordinator "$TIMEOUT" job_count ../pg*txt
  worker "$TIMEOUT" job_count jobcount &
  worker "$TIMEOUT" job_count jobcount
  # The job is over: these two must find no work and exit by themselves.
  worker "$TIMEOUT" job_count jobcount &
  worker "$TIMEOUT" job_count jobcount
  local nt
  nt=$(cat mr-out* | awk '{print $2}')
  if [ "$nt" = 8 ]; then pass "job count"
  else fail "map jobs ran incorrect number of times ($nt != 8)"; fi
  wait
  [ $case_failed = 0 ]
}

case_early_exit() {
  local df=anydone$$
  rm -f $df
  DONE_FILE=$df start_coordinator "$TIMEOUT" early_exit ../pg*txt
  (worker "$TIMEOUT" early_exit early_exit; touch $df) &
  (worker "$TIMEOUT" early_exit early_exit; touch $df) &
  (worker "$TIMEOUT" early_exit early_exit; touch $df) &
  # Wait for any of the coordinator or the workers to exit (the lab's "wait -n"; polling the
  # file also covers the coordinator, started in a helper).
  while [ ! -e $df ]; do sleep 0.1; done
  rm -f $df
  # A process has exited: the output must be final already.
  sort mr-out* 2>/dev/null | grep . >mr-wc-all-initial
  wait
  sort mr-out* | grep . >mr-wc-all-final
  if cmp mr-wc-all-final mr-wc-all-initial; then pass "early exit"
  else fail "output changed after first worker exited"; fi
  [ $case_failed = 0 ]
}

case_crash() {
  "$SEQ" "$APPS/nocrash.so" ../pg*txt || return 1
  sort mr-seq-out >mr-correct-crash.txt
  rm -f mr-out* mr-done
  DONE_FILE=mr-done start_coordinator "$TIMEOUT2" crash ../pg*txt
  worker "$TIMEOUT2" crash crash &
  (while [ ! -f mr-done ]; do worker "$TIMEOUT2" crash crash; sleep 1; done) &
  (while [ ! -f mr-done ]; do worker "$TIMEOUT2" crash crash; sleep 1; done) &
  while [ ! -f mr-done ]; do
    worker "$TIMEOUT2" crash crash
    sleep 1
  done
  wait
  sort mr-out* | grep . >mr-crash-all
  if cmp mr-crash-all mr-correct-crash.txt; then pass crash
  else fail "crash output is not the same as mr-correct-crash.txt"; fi
  [ $case_failed = 0 ]
}

corpus || { echo "test-mr: cannot generate the input"; echo "RESULT 0 passed, 1 failed"; exit 1; }
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(wc indexer map_parallelism reduce_parallelism job_count early_exit crash)
total_start=$SECONDS
for c in "${cases[@]}"; do
  rm -f "$WORK/result"
  run_case "$c"
done
if [ $failed = 0 ]; then echo "*** PASSED ALL TESTS ($((SECONDS - total_start))s)"
else echo "*** FAILED SOME TESTS"; fi
echo "RESULT $passed passed, $failed failed"
[ $failed = 0 ]
