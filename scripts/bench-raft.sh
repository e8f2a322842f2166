#!/usr/bin/env bash
# make bench-raft: a 3-node raftd cluster on 127.0.0.1 with fsync on.
#  1. throughput: 64 concurrent proposers, 100-byte commands, 10 s -> proposals/s, p50/p99
#  2. failover: steady load, the leader killed with -9 20 times (restarted after each) ->
#     median and p90 time from the kill to the next proposal acknowledged by a new leader.
set -euo pipefail
bin=${BIN:-bin}
dir=$(mktemp -d /tmp/bench-raft-XXXXXX)
base=$((21000 + RANDOM % 11000))
trap 'BIN=$bin scripts/local-cluster.sh stop "$dir"; rm -rf "$dir"' EXIT
BIN=$bin scripts/local-cluster.sh start "$dir" 3 "$base" raftd --fsync true --log-level warn
servers=$(cat "$dir/servers")
sleep 1
echo "== throughput (3 nodes, fsync on, 64 proposers, 100-byte commands, 10 s)"
"$bin/raftbench" --servers "$servers" --clients 64 --size 100 --duration 10s
echo "== failover (3 nodes, default timing: tick 10 ms, election 20-40 ticks, heartbeat 10 ticks)"
"$bin/raftbench" --servers "$servers" --clients 16 --size 100 --failover 20 --interval 2500ms \
  --pid-dir "$dir" --restart "BIN=$bin scripts/local-cluster.sh restart $dir {id}"
