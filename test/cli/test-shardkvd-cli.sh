#!/usr/bin/env bash
# shardkvd on 127.0.0.1: its flags (--help; a missing or bad --gid, --ctrlers, --poll,
# --chunk-bytes: exit 2 with the message), then end to end: a 3-node shardctrld, group 1 of
# three shardkvd joined with `kvcli shard join`, puts and gets through shardkv.Op, the group's
# leader killed (-9) and every key still readable, the node restarted; then group 2 joins, half
# the shards move to it (pulled, then deleted at group 1), shardkv.Status shows each group's
# shards, and every key is readable from exactly the group that owns it now. The client is
# test/shardkv/skvprobe (asks each server given until one answers for the key).
#   BIN=bin MODE=release test/cli/test-shardkvd-cli.sh
set -uo pipefail
SKVPROBE=${SKVPROBE:-$PWD/build/${MODE:-release}/test/skvprobe} # the probe client (mk/shardkvd.mk)
. "$(dirname "$0")/../support/cluster-suite.sh" test-shardkvd-cli
CHECK_TIMEOUT=10s

# ---- flags ----
one="--id 1 --peers 1=127.0.0.1:$(free_port) --data-dir $WORK/one"
ctl1=127.0.0.1:$(free_port)
check "--help: exit 0, lists --gid, --ctrlers, --poll, --chunk-bytes" bash -c \
  "'$BIN/shardkvd' --help | grep -q -- '--gid' && '$BIN/shardkvd' --help | grep -q -- '--ctrlers' &&
   '$BIN/shardkvd' --help | grep -q -- '--poll' && '$BIN/shardkvd' --help | grep -q -- '--chunk-bytes'"
check "no --gid: exit 2" expect 2 "^shardkvd: --gid is required" "$BIN/shardkvd" $one --ctrlers $ctl1
check "--gid 0: exit 2" expect 2 "^shardkvd: --gid is required" "$BIN/shardkvd" $one --gid 0 --ctrlers $ctl1
check "--gid 4294967296: exit 2" expect 2 "^shardkvd: --gid: bad value '4294967296'" \
  "$BIN/shardkvd" $one --gid 4294967296 --ctrlers $ctl1
check "no --ctrlers: exit 2" expect 2 "^shardkvd: --ctrlers is required" "$BIN/shardkvd" $one --gid 1
check "--ctrlers with an address without a port: exit 2" \
  expect 2 "^shardkvd: --ctrlers: 'localhost' is not HOST:PORT" "$BIN/shardkvd" $one --gid 1 --ctrlers $ctl1,localhost
check "--ctrlers with a bad port: exit 2" \
  expect 2 "^shardkvd: --ctrlers: '127.0.0.1:99999' is not HOST:PORT" "$BIN/shardkvd" $one --gid 1 --ctrlers 127.0.0.1:99999
check "--ctrlers with no address: exit 2" \
  expect 2 "^shardkvd: --ctrlers: no address in ','" "$BIN/shardkvd" $one --gid 1 --ctrlers ,
check "--poll soon: exit 2" expect 2 "^shardkvd: --poll: bad value 'soon'" \
  "$BIN/shardkvd" $one --gid 1 --ctrlers $ctl1 --poll soon
check "--poll 0: exit 2" expect 2 "^shardkvd: --poll: bad value '0'" \
  "$BIN/shardkvd" $one --gid 1 --ctrlers $ctl1 --poll 0
check "--chunk-bytes 64MiB (a frame's size): exit 2" expect 2 "^shardkvd: --chunk-bytes: bad value '64MiB'" \
  "$BIN/shardkvd" $one --gid 1 --ctrlers $ctl1 --chunk-bytes 64MiB
check "--pull-window 0: exit 2" expect 2 "^shardkvd: --pull-window: bad value '0'" \
  "$BIN/shardkvd" $one --gid 1 --ctrlers $ctl1 --pull-window 0
printf '[shardkv]\ngid = 7\n' >gid.ini
check "[shardkv] gid from --config (then --ctrlers is what is missing)" \
  expect 2 "^shardkvd: --ctrlers is required" "$BIN/shardkvd" $one --config gid.ini
check "no data written by the refused starts" test ! -e "$WORK/one"

# ---- end to end ----
# until SECONDS CMD...: runs CMD every 0.2 s until it succeeds (bounded).
until_ok() {
  local s=$1 n=$(($1 * 5))
  shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "    not within ${s} s: $*"
  return 1
}
probe() { "$SKVPROBE" --timeout 20s "$@"; }
# settled GROUP_SERVERS NUM NSHARDS: the group's leader is at config NUM with NSHARDS shards,
# every one SERVING.
settled() {
  local line
  line=$("$SKVPROBE" --servers "$1" status | grep ' leader ') || return 1
  echo "$line" | grep -q " config=$2 " || return 1
  [ "$(echo "$line" | sed 's/.*shards=//' | tr ',' '\n' | grep -c ':SERVING$')" = "$3" ] &&
    ! echo "$line" | grep -qE ':(PULLING|GC|LEAVING)'
}

lc start ctl 3 "$base" shardctrld --log-level warn
ctrlers=$(cat ctl/servers)
skv_flags="--ctrlers $ctrlers --poll 50ms --chunk-bytes 1KiB --log-level info"
lc start g1 3 $((base + 10)) shardkvd --gid 1 $skv_flags
g1=$(cat g1/servers)
check "group 1 elects a leader (shardkv.Status)" until_ok 15 bash -c "'$SKVPROBE' --servers $g1 status | grep -q ' leader gid=1 config=0 '"
check "before any config every key is WRONG_GROUP (no answer)" \
  expect 1 "no server answered" "$SKVPROBE" --servers "$g1" --timeout 1s get k0
check "kvcli shard join 1=<group 1>" "$BIN/kvcli" --ctrlers "$ctrlers" --timeout 10s shard join 1="$g1"
check "group 1 reaches config 1 and serves all 10 shards" until_ok 15 settled "$g1" 1 10
# Values of 200 bytes: 40 keys make several 1 KiB chunks per moved shard.
val() { printf "v%s-%0200d" "$1" 0; }
puts_ok() { for i in $(seq 0 39); do probe --servers "$g1" put "k$i" "$(val "$i")" || return 1; done; }
check "40 puts through shardkv.Op" puts_ok
gets_ok() { # SERVERS: every key has its value
  for i in $(seq 0 39); do
    [ "$(probe --servers "$1" get "k$i")" = "$(val "$i")" ] || { echo "    k$i wrong"; return 1; }
  done
}
check "40 gets (ReadIndex) return them" gets_ok "$g1"
check "a key never written: exit 3 (NO_KEY)" expect 3 "" "$SKVPROBE" --servers "$g1" get nokey

leader=$("$SKVPROBE" --servers "$g1" status | awk '$2 == "leader" { print $1 }')
lid=$(( ${leader##*:} - base - 10 ))
check "the leader is one of group 1's nodes ($leader)" test -f "g1/node-$lid.pid"
kill -9 "$(cat "g1/node-$lid.pid")"
check "after kill -9 of the leader, every key is still readable" gets_ok "$g1"
check "... and writable" probe --servers "$g1" put after-kill yes
check "the killed node restarts from its store" lc restart g1 "$lid"
check "... and catches up (config 1, 10 shards)" until_ok 15 bash -c \
  "'$SKVPROBE' --servers ${leader} status | grep -q ' config=1 .*shards=0:SERVING'"

lc start g2 3 $((base + 20)) shardkvd --gid 2 $skv_flags
g2=$(cat g2/servers)
check "kvcli shard join 2=<group 2>" "$BIN/kvcli" --ctrlers "$ctrlers" --timeout 10s shard join 2="$g2"
check "group 2 reaches config 2 and serves 5 shards (pulled)" until_ok 30 settled "$g2" 2 5
check "group 1 reaches config 2 and serves 5 shards (the others deleted)" until_ok 30 settled "$g1" 2 5
echo "    group 1: $("$SKVPROBE" --servers "$g1" status | grep ' leader ')"
echo "    group 2: $("$SKVPROBE" --servers "$g2" status | grep ' leader ')"
check "every key is readable through whichever group owns it" gets_ok "$g1,$g2"
# owners: how many of the 40 keys each group answers (each key exactly one group; a group's
# leader answers WRONG_GROUP, exit 4, for a key it does not serve).
n1=0 n2=0
for i in $(seq 0 39); do
  "$SKVPROBE" --servers "$g1" --timeout 10s --wrong-group-exits get "k$i" >/dev/null 2>&1 && n1=$((n1 + 1))
  "$SKVPROBE" --servers "$g2" --timeout 10s --wrong-group-exits get "k$i" >/dev/null 2>&1 && n2=$((n2 + 1))
done
echo "    keys served: group 1 $n1, group 2 $n2"
check "each key is served by exactly one group, and group 2 serves some (moved data)" \
  test $((n1 + n2)) = 40 -a "$n2" -gt 0 -a "$n1" -gt 0
check "group 2's shards hold keys (shardkv.Status bytes > 0)" bash -c \
  "'$SKVPROBE' --servers $g2 status | grep ' leader ' | grep -qv ' bytes=0 '"
check "the write after the kill moved with its shard" test "$(probe --servers "$g1,$g2" get after-kill)" = yes
check "group 1's log names the moves" grep -q "group 1: shards 5-9: serving -> leaving" g1/node-1.log
check "group 2's log names the pulls" grep -q "group 2: shards 5-9: not owned -> pulling from group 1" g2/node-1.log
# A clean stop frees the driver after the node (lib/node/daemon.c's order): no crash, and under
# SANITIZE=1 no sanitizer report (leaks included).
lc stop g1
lc stop g2
stopped_clean() {
  local f
  for f in g1/node-*.log g2/node-*.log; do
    grep -q "shardkvd: stopped" "$f" || { echo "    $f: no clean stop"; return 1; }
    ! grep -q "Sanitizer" "$f" || { echo "    $f: $(grep -m1 Sanitizer "$f")"; return 1; }
  done
}
check "every shardkvd stops cleanly on SIGTERM" stopped_clean
check_result
