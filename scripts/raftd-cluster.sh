#!/usr/bin/env bash
# Starts, restarts or stops a local raftd cluster in a directory (used by the benchmarks).
#   scripts/raftd-cluster.sh start DIR N BASEPORT [RAFTD_FLAGS...]   start nodes 1..N
#   scripts/raftd-cluster.sh restart DIR ID                          restart node ID
#   scripts/raftd-cluster.sh stop DIR                                SIGTERM every node
# Node i listens on 127.0.0.1:BASEPORT+i, keeps its data in DIR/data-i, its log in
# DIR/raftd-i.log and its pid in DIR/raftd-i.pid; DIR/cmd-i holds its command line.
set -euo pipefail
bin=${BIN:-bin}
action=$1
dir=$2

start_node() {
  local id=$1
  nohup bash -c "exec $(cat "$dir/cmd-$id")" >>"$dir/raftd-$id.log" 2>&1 &
  echo $! >"$dir/raftd-$id.pid"
}

case $action in
start)
  n=$3 base=$4
  shift 4
  mkdir -p "$dir"
  peers=""
  for i in $(seq "$n"); do peers+="${peers:+,}$i=127.0.0.1:$((base + i))"; done
  for i in $(seq "$n"); do
    echo "$bin/raftd --id $i --peers $peers --data-dir $dir/data-$i $*" >"$dir/cmd-$i"
    start_node "$i"
  done
  echo "$peers" | tr ',' '\n' | cut -d= -f2 | paste -sd, >"$dir/servers"
  ;;
restart)
  start_node "$3"
  ;;
stop)
  for f in "$dir"/raftd-*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.3
  ;;
*)
  echo "usage: $0 start DIR N BASEPORT [FLAGS...] | restart DIR ID | stop DIR" >&2
  exit 2
  ;;
esac
