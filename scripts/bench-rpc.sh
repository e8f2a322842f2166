#!/usr/bin/env bash
# Runs rpcbench and redis-benchmark (PING, 50 connections, one request in flight each) on
# 127.0.0.1 in the same run, and prints both figures and their ratio.
#   scripts/bench-rpc.sh bin/rpcbench [CALLS]
set -euo pipefail
rpcbench=$1
calls=${2:-200000}
conns=50

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done
  echo "bench-rpc: nothing listens on port $1" >&2; return 1
}

rport=$(free_port)
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no >/dev/null &
pids+=($!)
eport=$(free_port)
"$rpcbench" --serve "127.0.0.1:$eport" 2>/dev/null &
pids+=($!)
wait_port "$rport"
wait_port "$eport"

echo "== rpcbench: $conns connections, 1 call in flight each, 16-byte echo, $calls calls"
rpc_out=$("$rpcbench" --connect "127.0.0.1:$eport" --conns $conns --inflight 1 --calls "$calls")
echo "$rpc_out"
rpc_rps=$(sed -n 's/.*calls_per_sec=\([0-9.]*\).*/\1/p' <<<"$rpc_out")

echo "== redis-benchmark -t ping -c $conns -n $calls (PING_MBULK)"
redis_out=$(redis-benchmark -h 127.0.0.1 -p "$rport" -t ping -c $conns -n "$calls" --csv)
echo "$redis_out"
redis_rps=$(awk -F'","' '/PING_MBULK/ {print $2}' <<<"$redis_out")

awk -v a="$rpc_rps" -v b="$redis_rps" 'BEGIN {
  printf "rpcbench %.0f calls/s, redis %.0f requests/s, ratio %.2f (target >= 0.80)\n", a, b, a / b }'
