#!/usr/bin/env bash
# The MapReduce programs' edges that the lab's cases do not reach: flag errors (exit 2 with a
# message), app loading errors (missing symbol, wrong ABI version), the progress RPC, a task
# that always fails, workers giving up on an absent coordinator and waiting for a late one,
# clean-up of intermediate files, atomic outputs, mrsequential's output apart from mr-out-*. One line per check, then "RESULT <n> passed, <m> failed".
#   BIN=bin MODE=release test/mr/test-mr-cli.sh
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
MODE=${MODE:-release}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
FIX=$ROOT/build/$MODE/test/mrfix
GEN=$ROOT/build/$MODE/test/mr-gen-corpus
COORD=$BIN/mrcoordinator
WORKER=$BIN/mrworker
SEQ=$BIN/mrsequential
APPS=$BIN/mrapps
T="timeout -k 2s 30s"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-mr-cli.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done # timeout passes it on (the rest are direct)
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1

. "$ROOT/test/support/check.sh"

"$GEN" --size 40KiB in1.txt in2.txt in3.txt || { echo "RESULT 0 passed, 1 failed"; exit 1; }

# ---- flags ----
check "coordinator: unknown flag exits 2" expect 2 "unknown flag" "$COORD" --bogus in1.txt
check "coordinator: no INPUT exits 2" expect 2 "no INPUT" "$COORD"
check "coordinator: --nreduce 0 exits 2" expect 2 "nreduce.*from 1" "$COORD" --nreduce 0 in1.txt
check "coordinator: missing input exits 2" expect 2 "nope.txt: cannot be read" "$COORD" nope.txt
check "coordinator: bad --workdir exits 2" expect 2 "not a writable directory" "$COORD" --workdir /nonexistent in1.txt
check "coordinator: --help" expect 0 "" "$COORD" --help
check "coordinator: --help lists --task-timeout" grep -q -- "--task-timeout N" out.txt
check "worker: no APP.so exits 2" expect 2 "expected one APP.so" "$WORKER"
check "worker: bad --give-up exits 2" expect 2 "give-up" "$WORKER" --give-up soon "$APPS/wc.so"
check "sequential: no INPUT exits 2" expect 2 "APP.so and at least one INPUT" "$SEQ" "$APPS/wc.so"

# ---- app loading ----
check "worker: missing .so is a clear error" expect 2 "cannot load app.*nothere.so" "$WORKER" nothere.so
check "worker: wrong ABI version is refused" expect 2 "ABI version 999.*version 1" "$WORKER" "$FIX/badabi.so"
check "sequential: missing mr_reduce is named" expect 2 "no symbol mr_reduce" "$SEQ" "$FIX/noreduce.so" in1.txt
check "sequential: a failing map is reported" expect 1 "in1.txt: mr_map returned 7" "$SEQ" "$FIX/failmap.so" in1.txt

# ---- the apps against oracles that share no code with them ----
words() { LC_ALL=C tr -cs 'A-Za-z' '\n' <"$1" | grep .; }
"$SEQ" --output wc.txt "$APPS/wc.so" in1.txt in2.txt in3.txt
cat in1.txt in2.txt in3.txt | LC_ALL=C tr -cs 'A-Za-z' '\n' | LC_ALL=C sort | uniq -c |
  awk 'NF == 2 {print $2, $1}' >wc-oracle.txt
check "wc equals tr | sort | uniq -c" cmp -s wc.txt wc-oracle.txt
"$SEQ" --output indexer.txt "$APPS/indexer.so" in1.txt in2.txt in3.txt
for f in in1.txt in2.txt in3.txt; do words $f | LC_ALL=C sort -u | sed "s/\$/ $f/"; done |
  LC_ALL=C sort -k1,1 -k2,2 |
  awk '$1 != w { if (w != "") print w, n, d; w = $1; n = 0; d = "" }
       { n++; d = d (d == "" ? "" : ",") $2 } END { print w, n, d }' >indexer-oracle.txt
check "indexer equals an awk index" cmp -s indexer.txt indexer-oracle.txt
"$SEQ" --output nocrash.txt "$APPS/nocrash.so" in1.txt in2.txt
printf 'a in1.txt in2.txt\nb 7 7\nc %s\nd xyzzy xyzzy\n' \
  "$(printf '%s\n' "$(wc -c <in1.txt)" "$(wc -c <in2.txt)" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" >nocrash-oracle.txt
check "nocrash equals the lab's definition" cmp -s nocrash.txt nocrash-oracle.txt

# ---- words are Unicode letters, as the lab's Go apps split them (unicode.IsLetter) ----
printf "café naïve Ñandú 東京 don't\n" >utf8.txt
"$SEQ" --output utf8-wc.txt "$APPS/wc.so" utf8.txt
check "wc: UTF-8 letters are letters" test "$(cat utf8-wc.txt)" = "$(printf '%s 1\n' café don naïve t Ñandú 東京)"
"$SEQ" --output utf8-indexer.txt "$APPS/indexer.so" utf8.txt
check "indexer: UTF-8 letters are letters" test "$(cat utf8-indexer.txt)" = "$(printf '%s 1 utf8.txt\n' café don naïve t Ñandú 東京)"
# Invalid UTF-8 (a stray byte, an encoded surrogate, an overlong form, a truncated sequence at
# the end) and non-letters (a combining accent, an emoji, a dash) separate words, as in Go.
printf 'ab\xffcd e\xcc\x81f g\xed\xa0\x80h \xc0\xafi \xf0\x9f\x98\x80j k\xe2\x80\x94l \xce\xb1\xce\xb2 tail\xc3' >bad-utf8.txt
"$SEQ" --output bad-utf8-wc.txt "$APPS/wc.so" bad-utf8.txt
check "wc: invalid UTF-8 and non-letters separate words" \
  test "$(cat bad-utf8-wc.txt)" = "$(printf '%s 1\n' ab cd e f g h i j k l tail αβ)"

# ---- a worker alone gives up ----
start=$SECONDS
check "worker: exits 0 when no coordinator answers" expect 0 "no answer from the coordinator" \
  "$WORKER" --coordinator 127.0.0.1:1 --give-up 500ms "$APPS/wc.so"
check "worker: ... within a few seconds" test $((SECONDS - start)) -le 5

# ---- progress over RPC, clean-up, atomic outputs ----
rm -f addr
$T "$COORD" --listen 127.0.0.1:0 --addr-file addr --nreduce 3 in1.txt in2.txt in3.txt 2>coord.log &
cpid=$!
pids+=($cpid)
for _ in $(seq 50); do [ -s addr ] && break; sleep 0.1; done
ADDR=$(cat addr)
check "status: progress before any worker" expect 0 "" "$COORD" --status "$ADDR"
check "status: ... says maps 0/3 reduces 0/3" grep -q "maps 0/3 (0 running) reduces 0/3" out.txt
$T "$WORKER" --coordinator "$ADDR" "$APPS/wc.so" 2>worker.log
check "worker: exits 0 when the job is done" test $? = 0
wait $cpid
check "coordinator: exits 0 when the job is done" test $? = 0
check "coordinator: logged progress lines" grep -q "progress: maps 3/3 .* reduces 3/3 .* done" coord.log
"$SEQ" --output expected.txt "$APPS/wc.so" in1.txt in2.txt in3.txt
check "output equals mrsequential's" cmp -s <(sort mr-out-* | grep .) <(sort expected.txt)
check "intermediate files removed" test -z "$(ls mr-[0-9]* .tmp.* 2>/dev/null)"
check "only mr-out-0..2 written" test "$(ls mr-out-* | tr '\n' ' ')" = "mr-out-0 mr-out-1 mr-out-2 "
check "status: exits 1 when the coordinator is gone" expect 1 "no progress from" "$COORD" --status "$ADDR"
sum_before=$(cat mr-out-* | md5sum)
"$SEQ" "$APPS/wc.so" in1.txt in2.txt in3.txt
check "sequential: writes mr-seq-out by default" cmp -s mr-seq-out expected.txt
check "sequential: ... and leaves the distributed outputs alone" test "$(cat mr-out-* | md5sum)" = "$sum_before"

# ---- a worker started before its coordinator waits for it ----
mkdir -p early
PE=$(free_port)
(cd early && $T "$WORKER" --coordinator "127.0.0.1:$PE" "$APPS/wc.so" 2>worker.log) &
wpid=$!
pids+=($wpid)
sleep 1
(cd early && $T "$COORD" --listen "127.0.0.1:$PE" --nreduce 2 ../in1.txt 2>coord.log)
check "a coordinator up 1 s after its worker: the job completes" test $? = 0
wait $wpid
check "... the early worker (the only one) exits 0" test $? = 0
check "... having run the map" grep -q "map 0 .*done in" early/worker.log

mkdir -p shared
$T "$COORD" --listen 127.0.0.1:0 --addr-file addr2 --workdir shared --keep-intermediate \
  --nreduce 2 in1.txt in2.txt 2>coord2.log &
cpid=$!
pids+=($cpid)
for _ in $(seq 50); do [ -s addr2 ] && break; sleep 0.1; done
$T "$WORKER" --coordinator "$(cat addr2)" "$APPS/wc.so" 2>>worker.log
wait $cpid
check "--workdir and --keep-intermediate" test "$(cd shared && ls | tr '\n' ' ')" = "mr-0-0 mr-0-1 mr-1-0 mr-1-1 mr-out-0 mr-out-1 "

# ---- a progress bar on a terminal (script(1) gives the coordinator one) ----
mkdir -p tty
(cd tty && $T script -qec "$COORD --listen 127.0.0.1:0 --addr-file addr --nreduce 2 ../in1.txt" \
   /dev/null >bar.txt 2>&1) &
spid=$!
pids+=($spid)
for _ in $(seq 50); do [ -s tty/addr ] && break; sleep 0.1; done
(cd tty && $T "$WORKER" --coordinator "$(cat addr)" "$APPS/wc.so" 2>>../worker.log)
wait $spid
check "terminal: the coordinator draws a bar" grep -q '^\[-*\] maps 0/1 reduces 0/2 ' <(tr '\r' '\n' <tty/bar.txt)
check "terminal: ... that fills up" grep -q '^\[#*\] maps 1/1 reduces 2/2 ' <(tr '\r' '\n' <tty/bar.txt)
check "terminal: ... and no progress log lines" test "$(grep -c 'progress:' tty/bar.txt)" = 0

# ---- SIGTERM before the end ----
# Not under timeout(1): a TERM that reaches timeout between its fork and its bookkeeping makes
# it exit without passing the signal on, leaving the coordinator running (and `make test`'s
# output pipe open). The coordinator is signalled directly, and killed if it outlives 10 s.
"$COORD" --listen 127.0.0.1:0 --addr-file addr4 in1.txt 2>coord4.log &
cpid=$!
pids+=($cpid)
for _ in $(seq 50); do [ -s addr4 ] && break; sleep 0.1; done
kill -TERM $cpid
for _ in $(seq 100); do kill -0 $cpid 2>/dev/null || break; sleep 0.1; done
kill -9 $cpid 2>/dev/null
wait $cpid
check "SIGTERM: the coordinator exits 1 before the job is done" test $? = 1
check "SIGTERM: ... and says so" grep -q "stopping before the job is done" coord4.log

# ---- a task that always fails fails the job ----
rm -f mr-out-*
$T "$COORD" --listen 127.0.0.1:0 --addr-file addr3 --max-failures 3 in1.txt 2>coord3.log &
cpid=$!
pids+=($cpid)
for _ in $(seq 50); do [ -s addr3 ] && break; sleep 0.1; done
$T "$WORKER" --coordinator "$(cat addr3)" "$FIX/failmap.so" 2>>worker.log
check "failing app: the worker exits 0 when told" test $? = 0
wait $cpid
check "failing app: the coordinator exits 1" test $? = 1
check "failing app: the coordinator says why" grep -q "map 0 failed on .*mr_map returned 7; giving up" coord3.log
check "failing app: no output" test -z "$(ls mr-out-* 2>/dev/null)"

check_result
