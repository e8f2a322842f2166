#!/usr/bin/env bash
# Starts, restarts or stops a local cluster of a Raft daemon (kvd or raftd) in a directory.
#   scripts/local-cluster.sh start DIR N BASEPORT DAEMON [FLAGS...]  start nodes 1..N
#   scripts/local-cluster.sh restart DIR ID                          restart node ID
#   scripts/local-cluster.sh stop DIR                                SIGTERM every node, wait
#   scripts/local-cluster.sh wait DIR [SECONDS]                      wait until one node leads
# Node i listens on 127.0.0.1:BASEPORT+i and keeps its data in DIR/data-i, its log in
# DIR/node-i.log, its pid in DIR/node-i.pid and its command line in DIR/cmd-i;
# DIR/servers lists the client addresses (for --servers / KV_SERVERS).
set -euo pipefail
bin=${BIN:-bin}
action=${1:-}
dir=${2:-}

# A killed node whose parent is gone may linger as a zombie until init reaps it: not alive.
alive() {
  local pid
  [ -f "$dir/node-$1.pid" ] || return 1
  pid=$(cat "$dir/node-$1.pid")
  [ -r "/proc/$pid/stat" ] && ! awk '{exit $3 == "Z" ? 0 : 1}' "/proc/$pid/stat" 2>/dev/null
}

start_node() {
  local id=$1
  if alive "$id"; then
    echo "node $id is already running (pid $(cat "$dir/node-$id.pid"))" >&2
    return 0
  fi
  nohup bash -c "exec $(cat "$dir/cmd-$id")" >>"$dir/node-$id.log" 2>&1 &
  echo $! >"$dir/node-$id.pid"
}

case $action in
start)
  n=$3 base=$4 daemon=$5
  shift 5
  mkdir -p "$dir"
  peers=""
  for i in $(seq "$n"); do peers+="${peers:+,}$i=127.0.0.1:$((base + i))"; done
  for i in $(seq "$n"); do
    echo "$bin/$daemon --id $i --peers $peers --data-dir $dir/data-$i $*" >"$dir/cmd-$i"
    start_node "$i"
  done
  echo "$peers" | tr ',' '\n' | cut -d= -f2 | paste -sd, >"$dir/servers"
  ;;
restart)
  start_node "$3"
  ;;
stop)
  pids=()
  for f in "$dir"/node-*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill "$p" 2>/dev/null && pids+=("$p")
    rm -f "$f"
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  ;;
wait)
  limit=${3:-10}
  for _ in $(seq $((limit * 10))); do
    if "$bin/kvcli" --servers "$(cat "$dir/servers")" --timeout 1s status 2>/dev/null | grep -qE '^[0-9]+ +[^ ]+ +leader '; then
      exit 0
    fi
    sleep 0.1
  done
  echo "no leader within ${limit}s; see $dir/node-*.log" >&2
  exit 1
  ;;
*)
  echo "usage: $0 start DIR N BASEPORT DAEMON [FLAGS...] | restart DIR ID | stop DIR | wait DIR [S]" >&2
  exit 2
  ;;
esac
