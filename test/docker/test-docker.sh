#!/usr/bin/env bash
# make test-docker: the kvd compose cluster under chaos. Brings the cluster up (its own compose
# project and host ports), runs a client load that records a history (test/docker/kvload), and
# meanwhile, for several rounds: docker kill the leader's container and start it again, docker
# pause / unpause a node, disconnect a node from the compose network and reconnect it. Then the
# history must be linearizable and every acknowledged write readable. Bounded in time; tears
# everything down at the end, also on failure. Skipped (with a message) without a Docker engine.
#   BIN=bin MODE=release test/docker/test-docker.sh      (make test-docker; also run by make test)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BIN=${BIN:-bin}
KVLOAD=${KVLOAD:-build/${MODE:-release}/test/kvload}
ROUNDS=${CHAOS_ROUNDS:-4}
. test/support/check.sh

. test/docker/engine.sh
require_engine test-docker

project=raftkvchaos$$
export KV1_PORT=$(random_base 20) KV2_PORT KV3_PORT
KV2_PORT=$((KV1_PORT + 1)); KV3_PORT=$((KV1_PORT + 2))
export KV1_METRICS_PORT=$((KV1_PORT + 10)) KV2_METRICS_PORT=$((KV1_PORT + 11)) KV3_METRICS_PORT=$((KV1_PORT + 12))
servers=127.0.0.1:$KV1_PORT,127.0.0.1:$KV2_PORT,127.0.0.1:$KV3_PORT
dc() { timeout 120 docker-compose -p "$project" -f docker-compose.yml "$@"; }
work=$(mktemp -d /tmp/test-docker-XXXXXX)
cleanup() {
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null
  for c in kv1 kv2 kv3; do docker unpause "${project}_${c}_1" >/dev/null 2>&1; done
  dc down -v >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

dc up -d >/dev/null 2>&1
leader() { "$BIN/kvcli" --servers "$servers" --timeout 2s status 2>/dev/null | awk '$3 == "leader" {print $1; exit}'; }
wait_leader() { for _ in $(seq 150); do [ -n "$(leader)" ] && return 0; sleep 0.2; done; return 1; }
check "the compose cluster elects a leader" wait_leader
network=${project}_raftkv

# One member's address is enough, followers included: inside each container its own
# 127.0.0.1:7000, and from the host each published port alone.
for c in 1 2 3; do
  check "inside kv$c: kvcli --servers 127.0.0.1:7000 put/get" \
    test "$(dc exec -T "kv$c" kvcli --servers 127.0.0.1:7000 put "in$c" "v$c" && dc exec -T "kv$c" kvcli --servers 127.0.0.1:7000 get "in$c")" = "v$c"
done
for p in $KV1_PORT $KV2_PORT $KV3_PORT; do
  check "from the host, only 127.0.0.1:$p: put/get" \
    test "$("$BIN/kvcli" --servers 127.0.0.1:$p put "host$p" x && "$BIN/kvcli" --servers 127.0.0.1:$p get "host$p")" = x
done

"$KVLOAD" --servers "$servers" --clients 8 --keys 16 --pace 20ms --duration $((ROUNDS * 14))s --op-timeout 20s \
  --history "$work/history.jsonl" >"$work/kvload.out" 2>&1 &
load_pid=$!
faults=0
for r in $(seq "$ROUNDS"); do
  sleep 2
  l=$(leader)
  if [ -n "$l" ]; then
    docker kill "${project}_kv${l}_1" >/dev/null && faults=$((faults + 1))
    sleep 3
    dc start "kv$l" >/dev/null 2>&1
  fi
  sleep 2
  v=$(( (r % 3) + 1 ))
  docker pause "${project}_kv${v}_1" >/dev/null && faults=$((faults + 1))
  sleep 3
  docker unpause "${project}_kv${v}_1" >/dev/null
  v=$(( ((r + 1) % 3) + 1 ))
  docker network disconnect "$network" "${project}_kv${v}_1" >/dev/null && faults=$((faults + 1))
  sleep 3
  docker network connect --alias "kv$v" "$network" "${project}_kv${v}_1" >/dev/null
  echo "round $r: killed the leader (kv${l:-none}), paused kv$(( (r % 3) + 1 )), disconnected kv$v"
done
wait "$load_pid"
rc=$?
load_pid=
cat "$work/kvload.out"
echo "test-docker: $faults faults injected over $ROUNDS rounds"
check "history linearizable, no acknowledged write lost or duplicated" test "$rc" = 0
check "every node healthy again" bash -c "sleep 3; '$BIN/kvcli' --servers '$servers' status | tail -n +2 | grep -vc unreachable | grep -qx 3"
check_result
