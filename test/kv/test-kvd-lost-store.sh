#!/usr/bin/env bash
# A kvd node whose store is lost: with data.mdb deleted (or emptied) it refuses to start (exit 1,
# a message naming the directory and what to do) and leaves the directory as it was; restarted
# with --initial-cluster-state existing it rejoins the 3-node cluster in recovery mode, finishes
# its recovery, serves every key written before, and can be elected (the others killed in turn).
#   BIN=bin test/kv/test-kvd-lost-store.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-kvd-lost-store
lc start c3 3 "$base" kvd
export KV_SERVERS=$(cat c3/servers)
kv() { "$BIN/kvcli" --timeout 5s "$@"; }
leader() { kv status 2>/dev/null | awk '$3 == "leader" {print $1}'; }
# Waits (up to $2 tenths of a second) until command $1 succeeds.
wait_for() { for _ in $(seq "$2"); do eval "$1" && return 0; sleep 0.1; done; return 1; }

check "a leader is elected" lc wait c3 15
ok=1
for i in $(seq 20); do kv put "k$i" "v$i" >/dev/null || ok=0; done
check "20 keys written" test $ok = 1
l=$(leader)
victim=$(( l % 3 + 1 ))
kill -9 "$(cat "c3/node-$victim.pid")"
rm -f "c3/node-$victim.pid"
data=c3/data-$victim
rm "$data/data.mdb"
before=$(ls "$data")
check "deleted data.mdb: kvd refuses, exit 1, naming the directory" \
  expect 1 "$data: the store is lost.*--initial-cluster-state existing" bash -c "exec $(cat "c3/cmd-$victim")"
check "the refusal leaves the directory as it was" test "$(ls "$data")" = "$before"
: >"$data/data.mdb"
check "empty data.mdb: refused the same way" \
  expect 1 "$data: the store is lost" bash -c "exec $(cat "c3/cmd-$victim")"
check "  and the empty file is left alone" test -e "$data/data.mdb" -a ! -s "$data/data.mdb"
check "bad --initial-cluster-state: exit 2" \
  expect 2 "expected new or existing" bash -c "exec $(cat "c3/cmd-$victim") --initial-cluster-state maybe"

echo "$(cat "c3/cmd-$victim") --initial-cluster-state existing" >"c3/cmd-$victim"
lc restart c3 "$victim"
check "restarted as a replacement, it recovers" \
  wait_for "grep -q 'recovery complete' c3/node-$victim.log" 200
check "the cluster still serves writes" test "$(kv put after yes && kv get after)" = "yes"
# Make the recovered node the leader: kill whichever other node leads, in turn (bounded). Each
# round the recovered node wins the election with a chance of about one half (it and one other
# node stand), so 12 rounds leave a failure by bad luck at about 1 in 4,000 (4 rounds: 1 in 16).
for _ in $(seq 12); do
  wait_for '[ -n "$(leader)" ]' 100
  l=$(leader)
  [ "$l" = "$victim" ] && break
  kill -9 "$(cat "c3/node-$l.pid")"
  rm -f "c3/node-$l.pid"
  wait_for '[ -n "$(leader)" ]' 100
  lc restart c3 "$l"
  sleep 1
done
check "the recovered node can be elected" test "$(leader)" = "$victim"
ok=1
for i in $(seq 20); do [ "$(kv get "k$i")" = "v$i" ] || ok=0; done
check "with it leading, every key written before the loss is there" test $ok = 1
starts=$(grep -c 'started: term' "c3/node-$victim.log")
kill "$(cat "c3/node-$victim.pid")"
wait_for "! kill -0 $(cat "c3/node-$victim.pid") 2>/dev/null" 50
rm -f "c3/node-$victim.pid"
lc restart c3 "$victim"
check "restarting the recovered node (flag still set) just works" \
  wait_for "[ \$(grep -c 'started: term' c3/node-$victim.log) = $((starts + 1)) ]" 100
check "  and serves" test "$(kv put again 1 && kv get again)" = "1"
check "  and it does not start another recovery" test "$(grep -c 'replaces a lost store' "c3/node-$victim.log")" = 1
check_result
