#!/usr/bin/env bash
# kvd + kvcli as a user meets them: a 3-node cluster, put/get/append, VALUE "-" from stdin, a
# one-member cluster, `status` rows, kill -9 of any one node leaves put/get working and shows the
# node unreachable, exit codes (0 success, 1 failure with its reason, 2 usage); start/wait of a
# cluster whose ports are taken fail with the node's error; a kvd started without
# --max-raft-state snapshots once its log passes the default.
#   BIN=bin test/kv/test-kvcli.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-kvcli
"$ROOT/scripts/local-cluster.sh" start c3 3 "$base" kvd --log-level warn
export KV_SERVERS=$(cat c3/servers)
kv() { "$BIN/kvcli" --timeout 5s "$@"; }

check "a leader is elected" "$ROOT/scripts/local-cluster.sh" wait c3 15
# What `make run` does (start, then wait) while another cluster holds the ports.
check "a cluster on ports in use: start fails with the node's error" expect 1 \
  "cannot listen on 127.0.0.1:$((base + 1)): Address already in use" \
  "$ROOT/scripts/local-cluster.sh" start dup 3 "$base" kvd --log-level warn
check "... and wait does not report the other cluster's leader" expect 1 "node 1 is not running" \
  "$ROOT/scripts/local-cluster.sh" wait dup 2
check "put then get prints the value" test "$(kv put a 1 && kv get a)" = "1"
check "append" test "$(kv append a 23 && kv get a)" = "123"
missing_key() { expect 1 '^kvcli: nothing: key not found$' "$BIN/kvcli" --timeout 5s get nothing && test ! -s out.txt; }
check "get of a missing key: exit 1, \"key not found\" on stderr, nothing on stdout" missing_key
check "get of a key put to \"\": an empty line, exit 0" test "$(kv put empty '' && kv get empty; echo "rc=$?")" = $'\nrc=0'
check "VALUE - reads stdin" test "$(printf 'from\nstdin' | kv put multi - && kv get multi)" = $'from\nstdin'
check "status: one row per node" test "$(kv status | tail -n +2 | grep -c .)" = 3
# --json / -w json: one line each, exact for get (text, escapes, bytes that are not UTF-8).
check "--json get" test "$(kv --json get a)" = '{"key":"a","found":true,"value":"123"}'
check "-w json get is --json get" test "$(kv -w json get a)" = "$(kv --json get a)"
check "--json get escapes quotes, backslashes, newlines" test "$(kv put q 'say "hi"\
x' >/dev/null && kv --json get q)" = '{"key":"q","found":true,"value":"say \"hi\"\\\u000ax"}'
check "--json get of bytes that are not UTF-8: base64" test "$(printf '\xff\x00' | kv put bin - && kv --json get bin)" = '{"key":"bin","found":true,"value_base64":"/wA="}'
missing_json() { expect 1 'key not found' "$BIN/kvcli" --timeout 5s --json get nothing && test "$(cat out.txt)" = '{"key":"nothing","found":false}'; }
check "--json get of a missing key: found false, exit 1" missing_json
status_json() {
  local j; j=$(kv --json status) || return 1
  [ "$(grep -c . <<<"$j")" = 1 ] && [ "$(grep -o '"addr":' <<<"$j" | wc -l)" = 3 ] &&
    [ "$(grep -o '"role":"leader"' <<<"$j" | wc -l)" = 1 ] &&
    grep -Eq '^\{"nodes":\[\{"addr":"127\.0\.0\.1:[0-9]+","daemon":"kvd","id":[1-3],"role":"[a-z]+","term":[0-9]+,"leader":[1-3],"commit":[0-9]+,"applied":[0-9]+,"last":[0-9]+,"snapshot":[0-9]+,"keys":[0-9]+\}' <<<"$j"
}
check "--json status: one line, three nodes, one leader" status_json
check "-w with another format: exit 2" expect 2 'not simple or json' "$BIN/kvcli" -w yaml get a
leader=$(kv status | awk '$3 == "leader" {print $1}')
check "status names one leader" test -n "$leader"
for victim in $leader $(( leader % 3 + 1 )); do
  kill -9 "$(cat "c3/node-$victim.pid")"
  check "kill -9 node $victim: put/get keep working" test "$(kv put k$victim v$victim && kv get k$victim)" = "v$victim"
  check "kill -9 node $victim: status shows it unreachable" bash -c "$BIN/kvcli status | grep -q 'unreachable'"
  check "kill -9 node $victim: --json status gives its error" bash -c "$BIN/kvcli --json status | grep -q '\"error\":\"unreachable'"
  "$ROOT/scripts/local-cluster.sh" restart c3 "$victim"
  sleep 0.5
done
check "data survives restarts" test "$(kv get a)" = "123"
"$ROOT/scripts/local-cluster.sh" stop c3
check "every server down: exit 1, cannot connect" expect 1 "cannot connect to 127.0.0.1:[0-9]+: Connection refused" "$BIN/kvcli" --timeout 5s put x y
check "usage error: exit 2" expect 2 "usage" "$BIN/kvcli" frob
check "bad flag: exit 2" expect 2 "unknown flag" "$BIN/kvcli" --nope get a
check "kvd bad flag: exit 2" expect 2 "unknown flag" "$BIN/kvd" --nope
"$ROOT/scripts/local-cluster.sh" start c1 1 $((base + 50)) kvd --log-level warn
check "a one-member cluster is the single-node server" bash -c "'$ROOT/scripts/local-cluster.sh' wait c1 15 && test \"\$('$BIN/kvcli' --servers $(cat c1/servers) put solo 1 && '$BIN/kvcli' --servers $(cat c1/servers) get solo)\" = 1"
# Started without --max-raft-state, as by hand: the default (64 MiB) bounds the log. Seventy
# 1 MiB puts of one key (under the 1.5 MiB request limit) are 70 MiB of log and one key of
# state: a snapshot must have been taken.
big_puts_snapshot() {
  local s=$(cat c1/servers) i
  head -c 1048576 /dev/zero | tr '\0' x >mib
  for i in $(seq 70); do
    "$BIN/kvcli" --servers "$s" --timeout 10s put big - <mib || return 1
  done
  "$BIN/kvcli" --servers "$s" status | awk 'NR == 2 {print "    status: snapshot at", $9; exit !($9 > 0)}'
}
check "kvd's default --max-raft-state snapshots a growing log" big_puts_snapshot
check_result
