#!/usr/bin/env bash
# make test-docker-sharded: the sharded compose cluster (profile "sharded": 3 shardctrld, gids
# 100-102 of 3 shardkvd) under chaos, in its own compose project on its own host ports. Checks
# that kvcli reaches it from the host and from inside a container, then runs a client load
# through the shard clerk that records a history (test/docker/kvload --ctrlers) while, for
# several rounds: docker kill a group leader's container and start it again, disconnect a node
# from the compose network, and move a group out and back in (kvcli shard leave / join) with its
# leader paused (docker pause) as it leaves, and on even rounds a controller node paused. Then a final read of every key: the history must be linearizable and every
# acknowledged append present exactly once. Bounded in time; torn down by a trap. Skipped (with
# a message) without a Docker engine.
#   BIN=bin MODE=release test/docker/test-docker-sharded.sh   (make test-docker-sharded; make test)
#   PLANT=1 ...   the shardkvd run with lib/shardkv's planted bug 1 (SKV_BUG_SERVE_PULLING: a
#                 shard is served before its data arrives): the check must fail
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BIN=${BIN:-bin}
KVLOAD=${KVLOAD:-build/${MODE:-release}/test/kvload}
ROUNDS=${CHAOS_ROUNDS:-3}
. test/support/check.sh
t0=$(date +%s)

. test/docker/engine.sh
require_engine test-docker-sharded

# Host ports: base+1..3 the controller, base+11..13 gid 100, +21..23 101, +31..33 102, and the
# metrics ports 40 above them, in the test port range (random_base); a base with any of its
# ports taken is skipped.
gids=(100 101 102)
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 20); do
  base=$(random_base 80)
  taken=0
  # The client ports, and the metrics ports 40 above them.
  for off in 1 2 3 11 12 13 21 22 23 31 32 33; do
    port_taken $((base + off)) && taken=1
    port_taken $((base + 40 + off)) && taken=1
  done
  [ $taken = 0 ] && break
done
declare -A svc_of_port port_of
for i in 1 2 3; do
  export "CTRL${i}_PORT=$((base + i))" "CTRL${i}_METRICS_PORT=$((base + 40 + i))"
  port_of[ctrl$i]=$((base + i))
  for k in 0 1 2; do
    g=${gids[$k]}
    export "G${g}_${i}_PORT=$((base + 10 * (k + 1) + i))"
    export "G${g}_${i}_METRICS_PORT=$((base + 40 + 10 * (k + 1) + i))"
    port_of[g$g-$i]=$((base + 10 * (k + 1) + i))
    svc_of_port[$((base + 10 * (k + 1) + i))]=g$g-$i
  done
done
ctrlers=127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))
nodes=(ctrl1 ctrl2 ctrl3)
for g in "${gids[@]}"; do nodes+=("g$g-1" "g$g-2" "g$g-3"); done

project=raftkvshard$$
network=${project}_raftkv
work=$(mktemp -d /tmp/test-docker-sharded-XXXXXX)
files=(-f docker-compose.yml)
if [ -n "${PLANT:-}" ]; then
  { echo 'version: "3.9"'; echo 'services:'
    for g in "${gids[@]}"; do for i in 1 2 3; do
      printf '  g%s-%s:\n    environment:\n      SHARDKVD_PLANTED_BUG: "%s"\n' "$g" "$i" "$PLANT"
    done; done; } >"$work/plant.yml"
  files+=(-f "$work/plant.yml")
  echo "test-docker-sharded: every shardkvd runs with planted bug $PLANT: the checks must fail"
fi
dc() { timeout 120 docker-compose -p "$project" "${files[@]}" --profile sharded "$@"; }
ctr() { echo "${project}_$1_1"; } # a service's container (compose v1 names)
cli() { timeout 30 "$BIN/kvcli" --ctrlers "$ctrlers" "$@"; }
cleanup() {
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null
  for n in "${nodes[@]}"; do docker unpause "$(ctr "$n")" >/dev/null 2>&1; done
  # docker itself, by the project's label: seconds faster than docker-compose down -v.
  local label=com.docker.compose.project=$project
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f -v >/dev/null 2>&1
  docker network rm "$network" >/dev/null 2>&1
  docker volume ls -q --filter "label=$label" | xargs -r docker volume rm >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The sharded services only (kv1-3, which have no profile, are not started).
dc up -d "${nodes[@]}" shard-join >"$work/up.out" 2>&1 || cat "$work/up.out"
served() { for _ in $(seq "$1"); do cli --timeout 2s shard status >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
check "the groups are joined by shard-join and every shard is served (within 60 s)" served 120
echo "test-docker-sharded: up and served after $(($(date +%s) - t0)) s (host ports $((base + 1))-$((base + 33)))"
check "config 1 holds gids 100, 101, 102, each with its in-network and host addresses" bash -c \
  "'$BIN/kvcli' --ctrlers '$ctrlers' shard config --json | grep -q '\"100\":\[\"g100-1:7000\",\"g100-2:7000\",\"g100-3:7000\",\"127.0.0.1:${port_of[g100-1]}\",\"127.0.0.1:${port_of[g100-2]}\",\"127.0.0.1:${port_of[g100-3]}\"\],\"101\":.*\"102\":'"
check "a second up joins nothing (shard join --initial)" bash -c \
  "timeout 120 docker-compose -p $project ${files[*]} --profile sharded up -d shard-join >/dev/null 2>&1 &&
   timeout 30 docker wait $(ctr shard-join) >/dev/null &&
   docker logs $(ctr shard-join) 2>&1 | grep -q 'config 1 exists: nothing joined' &&
   '$BIN/kvcli' --ctrlers '$ctrlers' shard config --json | grep -q '^{\"num\":1,'"
check "from the host (KV_CTRLERS on 127.0.0.1): put, get" \
  test "$(KV_CTRLERS=$ctrlers "$BIN/kvcli" put host a && KV_CTRLERS=$ctrlers "$BIN/kvcli" get host)" = a
check "inside g100-1: kvcli get of the host's key, put" \
  test "$(docker exec "$(ctr g100-1)" kvcli get host && docker exec "$(ctr g100-1)" kvcli put in b)" = a
check "inside ctrl2: kvcli get of g100-1's key" test "$(docker exec "$(ctr ctrl2)" kvcli get in)" = b

# A group's leader, as a service name (from its host address in shard status).
leader_of() {
  local p
  p=$(cli --timeout 2s shard status 2>/dev/null | awk -v g="$1" '$1 == g && $3 == "leader" && $2 ~ /^127\.0\.0\.1:/ {sub(/.*:/, "", $2); print $2; exit}')
  [ -n "$p" ] && echo "${svc_of_port[$p]}"
}
group_list() { # the Join argument of gid $1, as shard-join gives it
  echo "$1=g$1-1:7000,g$1-2:7000,g$1-3:7000,127.0.0.1:${port_of[g$1-1]},127.0.0.1:${port_of[g$1-2]},127.0.0.1:${port_of[g$1-3]}"
}

echo "test-docker-sharded: checked from the host and inside after $(($(date +%s) - t0)) s"
load_s=$((ROUNDS * 13 + 3))
timeout $((load_s + 120)) "$KVLOAD" --ctrlers "$ctrlers" --clients 8 --keys 16 --pace 20ms --duration ${load_s}s \
  --op-timeout 20s --history "$work/history.jsonl" >"$work/kvload.out" 2>&1 &
load_pid=$!
kills=0 pauses=0 disconnects=0 moves=0
trace() { [ -n "${CHAOS_TRACE:-}" ] && echo "  $(date +%s.%N | cut -c7-14) $*"; return 0; }
for r in $(seq "$ROUNDS"); do
  g=${gids[$(((r - 1) % 3))]}
  trace leader; l=$(leader_of "$g"); trace "leader $l"
  if [ -n "$l" ]; then
    docker kill "$(ctr "$l")" >/dev/null && kills=$((kills + 1))
    sleep 2
    trace start "$l"; docker start "$(ctr "$l")" >/dev/null; trace started
  fi
  sleep 1
  d=g${gids[$(((r + 1) % 3))]}-$((((r + 1) % 3) + 1))
  docker network disconnect "$network" "$(ctr "$d")" >/dev/null && disconnects=$((disconnects + 1))
  sleep 2
  docker network connect --alias "$d" "$network" "$(ctr "$d")" >/dev/null; trace connected
  # A group out and back in: its shards move to the others, then some come back. The leaver's
  # leader is paused as it leaves, so the others' pulls wait for a new leader there (the
  # shards stay PULLING a while: a group serving them early would lose writes); on even rounds
  # a controller node is paused through the Join.
  m=${gids[$((r % 3))]}
  p=$(leader_of "$m")
  [ -n "$p" ] && docker pause "$(ctr "$p")" >/dev/null && pauses=$((pauses + 1))
  cli --timeout 15s shard leave "$m" >/dev/null && moves=$((moves + 1)); trace left
  sleep 2
  [ -n "$p" ] && docker unpause "$(ctr "$p")" >/dev/null; trace unpaused
  q=
  if ((r % 2 == 0)); then
    q=ctrl$(((r % 3) + 1))
    docker pause "$(ctr "$q")" >/dev/null && pauses=$((pauses + 1))
  fi
  cli --timeout 15s shard join "$(group_list "$m")" >/dev/null && moves=$((moves + 1)); trace joined
  sleep 2
  [ -n "$q" ] && docker unpause "$(ctr "$q")" >/dev/null
  echo "round $r ($(($(date +%s) - t0)) s): killed gid $g's leader (${l:-none}), disconnected $d, gid $m left (its leader ${p:-none} paused) and joined again${q:+ ($q paused)}"
done
wait "$load_pid"
rc=$?
echo "test-docker-sharded: load and final check done after $(($(date +%s) - t0)) s"
load_pid=
cat "$work/kvload.out"
echo "test-docker-sharded: $((kills + pauses + disconnects + moves)) faults injected over $ROUNDS rounds: $kills leader kills, $pauses pauses, $disconnects disconnects, $moves group moves (leave or join)"
check "$kills leader kills, $pauses pauses, $disconnects disconnects, $((moves / 2)) leave+join: all injected" \
  test "$kills.$pauses.$disconnects.$moves" = "$ROUNDS.$((ROUNDS + ROUNDS / 2)).$ROUNDS.$((2 * ROUNDS))"
check "history linearizable, every acknowledged append present exactly once" test "$rc" = 0
check "every shard served again (within 30 s)" served 60
check "... by the 3 groups" bash -c "'$BIN/kvcli' --ctrlers '$ctrlers' shard config | head -1 | grep -q ', 3 groups$'"
echo "test-docker-sharded: $(($(date +%s) - t0)) s"
check_result
