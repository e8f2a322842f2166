#!/usr/bin/env bash
# kvd on a full data volume: each node keeps its data on its own small tmpfs, and a filler file
# fills one (a follower's, then the leader's) or all of them. Writes are refused at once with
# kvcli's "no space" error (or, when only a follower is full, go on through the others), reads
# keep working, no node dies, each log says WARN once as the episode starts and INFO once as it
# ends; once the filler is gone writes succeed again and the full node catches up. The full
# follower is also stopped (SIGTERM) while it holds a write it could not store, and restarted.
#   BIN=bin test/kv/test-diskfull.sh
# Runs in a private mount namespace (root: unshare --mount; otherwise a user namespace), so the
# tmpfs mounts vanish with the test even when it is killed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
export BIN

if [ -z "${DISKFULL_NS:-}" ]; then
  export DISKFULL_NS=1
  if unshare --mount --propagation private true 2>/dev/null; then
    exec unshare --mount --propagation private bash "$0" "$@"
  fi
  exec unshare --user --map-root-user --mount --propagation private bash "$0" "$@"
fi
. "$ROOT/test/support/check.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-diskfull.XXXXXX")
cleanup() {
  "$ROOT/scripts/local-cluster.sh" stop "$WORK/c" 2>/dev/null
  for i in 1 2 3; do umount "$WORK/vol-$i" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK"/c/node-*.log "$KEEP"/; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1

# One 32 MiB tmpfs per node (the reserve is then the 16 MiB minimum). Never skipped: a machine
# where this cannot mount fails the suite.
for i in 1 2 3; do
  mkdir -p "vol-$i"
  if ! mount -t tmpfs -o size=32m tmpfs "vol-$i"; then
    echo "not ok - cannot mount a tmpfs (need root, or user namespaces)"
    echo "RESULT 0 passed, 1 failed"
    exit 1
  fi
  mkdir -p c "vol-$i/data"
  ln -s "$WORK/vol-$i/data" "c/data-$i"
done

# Random ports, tried again (at most 3 times) when another test holds one of them.
for try in 1 2 3; do
  base=$(random_base 10)
  "$ROOT/scripts/local-cluster.sh" start c 3 "$base" kvd --max-raft-state 1MiB
  sleep 0.5
  grep -q "Address already in use" c/node-*.log || break
  "$ROOT/scripts/local-cluster.sh" stop c
  rm -f c/node-*.log
done
export KV_SERVERS=$(cat c/servers)
kv() { "$BIN/kvcli" --timeout 5s "$@"; }
addr() { sed -n "${1}p" <(tr ',' '\n' <c/servers); }
# Field $2 (role 3, commit 6, applied 7) of node $1's own status row.
field() { "$BIN/kvcli" --servers "$(addr "$1")" --timeout 1s status 2>/dev/null | awk -v f="$2" 'NR == 2 {print $f}'; }
leader() { kv status | awk '$3 == "leader" {print $1}' | head -1; }
alive() { kill -0 "$(cat "c/node-$1.pid")" 2>/dev/null; }
all_alive() { alive 1 && alive 2 && alive 3; }
fill() { dd if=/dev/zero of="vol-$1/filler" bs=1M 2>/dev/null; dd if=/dev/zero of="vol-$1/filler2" bs=4k 2>/dev/null; true; }
unfill() { rm -f "vol-$1/filler" "vol-$1/filler2"; }
# wait_for SECONDS COMMAND...: polls every 0.1 s.
wait_for() {
  local limit=$1
  shift
  for _ in $(seq $((limit * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}
# warns NODE COUNT / infos NODE COUNT: node's log holds COUNT such lines (polled by wait_for).
warns() { test "$(grep -c "WARN .*no space left on the data volume" "c/node-$1.log")" = "$2"; }
infos() { test "$(grep -c "INFO .*space is back on the data volume" "c/node-$1.log")" = "$2"; }
value() { head -c "$1" /dev/zero | tr '\0' "$2"; }
# put_big N TAG: N puts of 64 KiB values (what makes a full LMDB file need to grow).
put_big() {
  for k in $(seq "$1"); do kv put "$2-$k" "$(value 65536 x)" || return 1; done
}
caught_up() {
  local mine theirs
  mine=$(field "$1" 7) theirs=$(field "$(leader)" 7)
  [ -n "$mine" ] && [ -n "$theirs" ] && [ "$mine" -ge "$theirs" ]
}

check "a leader is elected" "$ROOT/scripts/local-cluster.sh" wait c 15
check "put then get" test "$(kv put a 1 && kv get a)" = 1

# ---- 1. a follower's volume is full: the others go on, it waits and then catches up ----
L=$(leader)
F=$(( L % 3 + 1 ))
fill "$F"
check "follower $F full: WARN in its log" wait_for 5 warns "$F" 1
check "follower $F full: puts succeed through the others" put_big 40 f
check "follower $F full: gets return the data" test "$(kv get a)" = 1
check "follower $F full: its applied index lags (it cannot store)" \
  test "$(field "$F" 7)" -lt "$(field "$L" 7)"
check "follower $F full: still alive and answering status" test -n "$(field "$F" 3)"
check "follower $F full: every node alive" all_alive
check "follower $F full: one WARN for the episode, not one per retry" warns "$F" 1
# Stopped while it holds what it could not store, and started again on the full volume.
pid=$(cat "c/node-$F.pid")
kill -TERM "$pid"
check "follower $F full: SIGTERM stops it" wait_for 5 bash -c "! kill -0 $pid 2>/dev/null"
check "follower $F full: it stopped cleanly" grep -q "kvd: stopped" "c/node-$F.log"
"$ROOT/scripts/local-cluster.sh" restart c "$F"
check "follower $F full: restarted on the full volume, it WARNs again" wait_for 5 warns "$F" 2
check "follower $F full: more puts succeed through the others" put_big 10 g
check "follower $F full: restarted, alive" all_alive
unfill "$F"
check "follower $F has room: INFO in its log" wait_for 5 infos "$F" 1
check "follower $F has room: it catches up with the leader" wait_for 15 caught_up "$F"
check "follower $F has room: puts succeed" test "$(kv put b 2 && kv get b)" = 2

# ---- 2. the leader's volume is full: writes refused at once, reads served ----
L=$(leader)
fill "$L"
check "leader $L full: WARN in its log" wait_for 5 warns "$L" 1
start=$(date +%s%N)
check "leader $L full: put fails with the no-space error, exit 1" \
  expect 1 "no space left on the data volume of $(addr "$L")" "$BIN/kvcli" --timeout 5s put c 3
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "leader $L full: the refusal is fast (${ms} ms)" test "$ms" -lt 1000
check "leader $L full: gets return the data" test "$(kv get a)$(kv get b)" = 12
check "leader $L full: it still leads" test "$(leader)" = "$L"
check "leader $L full: every node alive" all_alive
check "leader $L full: c was not written" test -z "$(kv get c)"
unfill "$L"
check "leader $L has room: INFO in its log" wait_for 5 infos "$L" 1
check "leader $L has room: puts succeed" test "$(kv put c 3 && kv get c)" = 3

# ---- 3. every volume is full ----
count() { grep -c "$1" "c/node-$2.log"; }
warned=($(count WARN.*no.space 1) $(count WARN.*no.space 2) $(count WARN.*no.space 3))
informed=($(count INFO.*space.is.back 1) $(count INFO.*space.is.back 2) $(count INFO.*space.is.back 3))
for i in 1 2 3; do fill "$i"; done
for i in 1 2 3; do
  check "all full: node $i WARNs once more" wait_for 5 warns "$i" $(( warned[i - 1] + 1 ))
done
check "all full: put fails with the no-space error" \
  expect 1 "no space left on the data volume" "$BIN/kvcli" --timeout 5s append a x
check "all full: gets return the data" test "$(kv get a)$(kv get c)" = 13
check "all full: every node alive" all_alive
for i in 1 2 3; do unfill "$i"; done
for i in 1 2 3; do
  check "all have room: node $i INFOs once more" wait_for 5 infos "$i" $(( informed[i - 1] + 1 ))
done
check "all have room: puts succeed" test "$(kv append a 4 && kv get a)" = 14
for i in 1 2 3; do
  check "all have room: node $i caught up" wait_for 10 caught_up "$i"
done
check "every node alive at the end" all_alive
check "no node logged a fatal error" bash -c "! grep -l 'fatal' c/node-*.log"
check_result
