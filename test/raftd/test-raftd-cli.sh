#!/usr/bin/env bash
# raftd and raftcli at their edges: --help, flag and config-file errors (exit 2 with a message
# naming the flag or file:line), a data directory held by another process (refused), a
# corrupted data directory (a clear error, the file left untouched), a one-member cluster that
# commits, stops cleanly on SIGTERM and keeps its log across a restart; raftcli log right after
# a propose shows the entry even when the first server listed lags.
#   BIN=bin test/raftd/test-raftd-cli.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
. "$ROOT/test/support/check.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-raftd-cli.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1

P=$(free_port)
PEERS="1=127.0.0.1:$P"

# ---- flags and config files ----
help_lists_every_flag() {
  "$BIN/raftd" --help >help.txt || return 1
  for f in id listen peers data-dir initial-cluster-state tick election-ticks heartbeat-ticks max-raft-state fsync \
           pre-vote check-quorum log-level read-log-max read-log-default config help; do
    grep -q -- "--$f" help.txt || { echo "    --help lacks --$f"; return 1; }
  done
}
check "raftd --help documents every flag" help_lists_every_flag
check "unknown flag: exit 2" expect 2 "--bogus: unknown flag" "$BIN/raftd" --bogus 1
check "missing required flags: exit 2" expect 2 "required" "$BIN/raftd" --id 1
check "bad duration: exit 2" expect 2 "--tick: bad value 'fast'" \
  "$BIN/raftd" --id 1 --peers "$PEERS" --data-dir d --tick fast
check "malformed peers: exit 2" expect 2 "peers: bad entry" \
  "$BIN/raftd" --id 1 --peers "1:127.0.0.1" --data-dir d
check "id not among peers: exit 2" expect 2 "not among --peers" \
  "$BIN/raftd" --id 4 --peers "$PEERS" --data-dir d
check "election not above heartbeat: exit 2" expect 2 "election-ticks" \
  "$BIN/raftd" --id 1 --peers "$PEERS" --data-dir d --election-ticks 5 --heartbeat-ticks 5
# raftd's own options are checked by its service's check hook, before the store opens.
service_check_before_store() {
  expect 2 "read-log-default \(50\) must not exceed --read-log-max \(10\)" \
    "$BIN/raftd" --id 1 --peers "$PEERS" --data-dir svc-data --read-log-max 10 --read-log-default 50 || return 1
  [ ! -e svc-data ] || { echo "    the data directory was created"; return 1; }
}
check "service option check: exit 2 before the data directory is created" service_check_before_store
printf '[node]\nid = 1\n\n[raft]\ntick_ms = 10\n' >bad-key.ini
check "config file, unknown key: exit 2 naming file:line" expect 2 "bad-key.ini:5: unknown key 'tick_ms' in section \[raft\]" \
  "$BIN/raftd" --config bad-key.ini
printf '[raft]\nmax_raft_state = lots\n' >bad-value.ini
check "config file, bad value: exit 2 naming file:line" expect 2 "bad-value.ini:2: bad value 'lots' for key 'max_raft_state'" \
  "$BIN/raftd" --config bad-value.ini
check "missing config file: exit 2" expect 2 "nope.ini: cannot open config file" \
  "$BIN/raftd" --config nope.ini
check "raftcli usage error: exit 2" expect 2 "usage" "$BIN/raftcli" frobnicate

# ---- a one-member cluster ----
printf '[node]\nid = 1\npeers = %s\ndata_dir = data\n[raft]\nfsync = true\n' "$PEERS" >node.ini
"$BIN/raftd" --config node.ini 2>node.log &
pids+=($!)
RAFTD=$!
wait_leader() {
  for _ in $(seq 100); do
    "$BIN/raftcli" --servers "127.0.0.1:$P" status 2>/dev/null | grep -q leader && return 0
    sleep 0.05
  done
  return 1
}
check "one-member cluster elects itself" wait_leader
check "raftcli propose commits" expect 0 "" "$BIN/raftcli" --servers "127.0.0.1:$P" propose hello
check "a second raftd on the same data dir is refused" expect 1 "in use by another process" \
  "$BIN/raftd" --config node.ini --listen "127.0.0.1:$(free_port)"
stop_clean() {
  kill -TERM "$RAFTD" && wait "$RAFTD" && grep -q "stopped" node.log
}
check "SIGTERM: clean shutdown, exit 0" stop_clean
check "raftcli against a stopped cluster: exit 1" expect 1 "" "$BIN/raftcli" --servers "127.0.0.1:$P" --timeout 500ms propose x
"$BIN/raftd" --config node.ini 2>>node.log &
pids+=($!)
RAFTD=$!
log_survives() {
  wait_leader && "$BIN/raftcli" --servers "127.0.0.1:$P" propose again >/dev/null &&
    "$BIN/raftcli" --servers "127.0.0.1:$P" log 1 | grep -q $'^1\t1\thello$'
}
check "the log survives a restart" log_survives
# Membership administration (lib/node/admin.c) on raftd, through kvcli.
KC=("$BIN/kvcli" --servers "127.0.0.1:$P" --timeout 5s)
lists_leader() { "${KC[@]}" member list | grep -Eq "^1 +127.0.0.1:$P +leader"; }
check "kvcli member list on raftd: one voter, the leader" lists_leader
check "kvcli member add with a bad member: exit 2" expect 2 "bad member 'x=y'" "${KC[@]}" member add x=y
check "kvcli member remove of the last voter: exit 1 with the reason" expect 1 "the last voter cannot be removed" "${KC[@]}" member remove 1
check "kvcli leader transfer to a non-member: exit 1" expect 1 "not a voter" "${KC[@]}" leader transfer 9
P2=$(free_port)
join_and_promote() {
  "${KC[@]}" member add "2=127.0.0.1:$P2" >/dev/null &&
    { "$BIN/raftd" --id 2 --join "127.0.0.1:$P" --data-dir data2 2>node2.log & pids+=($!); } &&
    "${KC[@]}" member promote 2 >/dev/null &&
    "${KC[@]}" --json member list | grep -q '"id":2,"addr":"127.0.0.1:'"$P2"'","voter":true'
}
check "a raftd joins with --join (listening where it was added) and is promoted" join_and_promote
shows_changes() { [ "$("$BIN/raftcli" --servers "127.0.0.1:$P" log 1 | grep -c $'\t(membership change)$')" = 2 ]; }
check "raftcli log shows the two changes as such (not their bytes)" shows_changes
transfers() {
  "${KC[@]}" leader transfer 2 >/dev/null && "$BIN/raftcli" --servers "127.0.0.1:$P2" status | grep -q leader
}
check "kvcli leader transfer moves raftd's leader" transfers
check "a node that was not added cannot join: exit 1 naming the command" expect 1 "node 3 is not a member.*kvcli member add 3=" \
  "$BIN/raftd" --id 3 --join "127.0.0.1:$P" --data-dir data3
check "--peers and --join together: exit 2" expect 2 "exclude each other" \
  "$BIN/raftd" --id 3 --peers "3=127.0.0.1:1" --join "127.0.0.1:$P" --data-dir data3
"${KC[@]}" member remove 2 >/dev/null || true
kill -TERM "${pids[-1]}" 2>/dev/null || true
kill -TERM "$RAFTD"
wait "$RAFTD"
# raftd's own option, in use: --read-log-max caps what one raftd.ReadLog returns.
"$BIN/raftd" --config node.ini --read-log-max 1 --read-log-default 1 2>>node.log &
pids+=($!)
RAFTD=$!
read_log_capped() {
  wait_leader && "$BIN/raftcli" --servers "127.0.0.1:$P" log 1 100 >capped.txt &&
    [ "$(grep -c $'^[0-9]*\t' capped.txt)" = 1 ] || { echo "    raftcli log 1 100 printed: $(head -c 200 capped.txt)"; return 1; }
}
check "--read-log-max 1: one entry per raftd.ReadLog" read_log_capped
kill -TERM "$RAFTD"
wait "$RAFTD"

# ---- raftcli log after a propose, with a lagging node listed first ----
# Node 1 listens where no peer sends (its --peers address is not its --listen one), so it
# answers clients but never hears of an entry: the node that lags behind a proposal that just
# committed, deterministically. It starts once nodes 2 and 3 have committed an entry, so its
# empty log cannot win it an election. raftcli log must still show the entry.
Q1=$(free_port) Q2=$(free_port) Q3=$(free_port) QX=$(free_port)
QPEERS="1=127.0.0.1:$Q1,2=127.0.0.1:$Q2,3=127.0.0.1:$Q3"
for i in 2 3; do
  "$BIN/raftd" --id $i --peers "$QPEERS" --data-dir c-$i --log-level warn 2>c-$i.log &
  pids+=($!)
done
check "nodes 2 and 3 commit a first entry" expect 0 "" \
  "$BIN/raftcli" --servers "127.0.0.1:$Q2,127.0.0.1:$Q3" propose first
"$BIN/raftd" --id 1 --peers "$QPEERS" --listen "127.0.0.1:$QX" --data-dir c-1 --log-level warn 2>c-1.log &
pids+=($!)
node1_answers() {
  for _ in $(seq 100); do
    "$BIN/raftcli" --servers "127.0.0.1:$QX" status 2>/dev/null | grep -q "^1 " && return 0
    sleep 0.05
  done
  return 1
}
CLI_SERVERS=127.0.0.1:$QX,127.0.0.1:$Q2,127.0.0.1:$Q3
log_after_propose() {
  node1_answers && "$BIN/raftcli" --servers "$CLI_SERVERS" propose fresh >/dev/null &&
    "$BIN/raftcli" --servers "$CLI_SERVERS" log 1 >log.txt &&
    grep -q $'^2\t[0-9]*\tfresh$' log.txt || { echo "    raftcli log printed: $(head -c 200 log.txt)"; return 1; }
}
check "raftcli log right after propose shows the entry (a lagging node listed first)" log_after_propose

# ---- a corrupted data directory ----
cp data/data.mdb saved.mdb
dd if=/dev/urandom of=data/data.mdb bs=4096 count=1 conv=notrunc status=none
sum_before=$(md5sum <data/data.mdb)
check "corrupted data directory: a clear error" expect 1 "corrupted data directory" \
  "$BIN/raftd" --config node.ini
check "the corrupted file is left untouched" test "$(md5sum <data/data.mdb)" = "$sum_before"
check_result
