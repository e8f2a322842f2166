#!/usr/bin/env bash
# bin/lincheck at its edges: exit 0 (linearizable), 1 (not, with the key and an explanation),
# 3 (time limit), 2 (usage, unreadable file, malformed line named by number); and a generated
# 10,000-operation history (its verdict line carries the time taken).
#   BIN=bin MODE=release test/lincheck/test-lincheck-cli.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
MODE=${MODE:-release}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
LINCHECK=$BIN/lincheck
GEN=$ROOT/build/$MODE/test/lincheck-gen
. "$ROOT/test/support/check.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-lincheck-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

# stdout_has PATTERN: the last command's stdout (out.txt) matches PATTERN.
stdout_has() {
  grep -Eq -- "$1" out.txt || { echo "    stdout: $(head -c 400 out.txt)"; return 1; }
}

op() { # op CLIENT OP KEY VALUE OUTPUT CALL RETURN (OUTPUT "-" = none)
  local out=""
  [ "$5" != - ] && out=",\"output\":\"$5\""
  printf '{"client":%s,"op":"%s","key":"%s","value":"%s"%s,"call":%s,"return":%s}\n' \
    "$1" "$2" "$3" "$4" "$out" "$6" "$7"
}

{
  op 1 put k old - 0 10
  op 2 get k "" old 5 20
  op 3 append k x - 30 40
} >good.jsonl
{
  op 1 put k old - 0 10
  op 1 put k new - 20 30
  op 2 get k "" old 40 50
} >stale.jsonl
{
  for i in $(seq 0 39); do op "$i" put k v - 0 100; done
  op 98 get k "" v 0 100
  op 99 get k "" impossible 200 300
} >hard.jsonl
{
  op 1 put k a - 0 10
  echo
  echo '{"client":2,"op":"get","key":"k","output":"a","call":20,"retrun":30}'
} >bad.jsonl
: >empty.jsonl

check "--help exits 0 and documents the exit statuses" \
  expect 0 "" "$LINCHECK" --help
check "--help text" stdout_has "3 unknown"
check "no FILE: exit 2" expect 2 "expected exactly one FILE" "$LINCHECK"
check "two FILEs: exit 2" expect 2 "expected exactly one FILE" "$LINCHECK" good.jsonl good.jsonl
check "unknown flag: exit 2" expect 2 "lincheck: .*verbose" "$LINCHECK" --verbose good.jsonl
check "bad --timeout: exit 2" expect 2 "timeout" "$LINCHECK" --timeout soon good.jsonl
check "missing file: exit 2" expect 2 "nothere.jsonl: No such file" "$LINCHECK" nothere.jsonl
check "malformed line: exit 2 naming line 3" \
  expect 2 "bad.jsonl:3: column 57: unknown field \"retrun\"" "$LINCHECK" bad.jsonl
check "linearizable: exit 0" expect 0 "" "$LINCHECK" good.jsonl
check "linearizable: verdict line" stdout_has "^linearizable: 3 operations, 1 keys, "
check "empty history: exit 0" expect 0 "" "$LINCHECK" empty.jsonl
check "empty history: verdict line" stdout_has "^linearizable: 0 operations"
check "stale read: exit 1" expect 1 "" "$LINCHECK" stale.jsonl
check "stale read: names the key" stdout_has '^NOT linearizable: key "k"'
check "stale read: explains" stdout_has 'line 3: client 2 get -> "old" .*it read "old", but the value is "new"'
check "time limit: exit 3" expect 3 "" "$LINCHECK" --timeout 50ms hard.jsonl
check "time limit: verdict line" stdout_has '^unknown: time limit 50 ms reached on key "k"'
check "no limit on an easy history (--timeout 0)" expect 0 "" "$LINCHECK" --timeout 0 good.jsonl

check "generate 10,000 operations (15 clients, 15 keys)" expect 0 "" "$GEN" --seed 1 big.jsonl
check "10,000 operations: exit 0" expect 0 "" "$LINCHECK" big.jsonl
check "10,000 operations: verdict" stdout_has "^linearizable: 10000 operations, 15 keys, "
echo "    $(head -n 1 out.txt)"
check "generate with lost operations and append outputs" \
  expect 0 "" "$GEN" --seed 2 --ops 3000 --keys 2 --lost-pct 5 --append-output lost.jsonl
check "lost operations: exit 0" expect 0 "" "$LINCHECK" lost.jsonl
# Make one read in the second half stale: a get that saw a put's value now reads "" (values are
# never empty again once a key was written: puts and appends are not empty).
awk 'NR > 5000 && !done && /"op":"get"/ && /"output":"p/ { sub(/"output":"[^"]*"/, "\"output\":\"\""); done = 1 } { print }' \
  big.jsonl >big-stale.jsonl
check "10,000 operations with one stale read: exit 1" expect 1 "" "$LINCHECK" big-stale.jsonl
check "stale read found" stdout_has '^NOT linearizable: key '

check_result
