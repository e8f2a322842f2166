#!/usr/bin/env bash
# Starts, restarts or stops a local cluster of a Raft daemon (kvd or raftd) in a directory.
#   scripts/local-cluster.sh start DIR N BASEPORT DAEMON [FLAGS...]  start nodes 1..N
#   scripts/local-cluster.sh restart DIR ID                          restart node ID
#   scripts/local-cluster.sh join DIR ID HOST:PORT MEMBER            start node ID at HOST:PORT,
#       joining the cluster through MEMBER (after `kvcli member add ID=HOST:PORT`); its flags
#       are node 1's, with --join for --peers
#   scripts/local-cluster.sh forget DIR ID                           stop node ID for good (after
#       `kvcli member remove ID`): it leaves DIR's node list
#   scripts/local-cluster.sh stop DIR                                SIGTERM every node, wait
#   scripts/local-cluster.sh wait DIR [SECONDS]                      wait until one node leads
# start and restart return only once each node they launched listens; a node that exits first
# (its port in use, its data directory locked, a bad flag) fails them (exit 1) with its error,
# and start then stops the nodes it launched. wait fails when a node of DIR is not running, so
# that it never reports another cluster that happens to answer on the same ports.
# Node i listens on 127.0.0.1:BASEPORT+i and keeps its data in DIR/data-i, its log in
# DIR/node-i.log, its pid in DIR/node-i.pid and its command line in DIR/cmd-i;
# DIR/servers lists the client addresses (for --servers / KV_SERVERS).
# With METRICS_BASE=PORT in the environment, start gives node i --metrics-listen
# 127.0.0.1:PORT+i (Prometheus metrics, /healthz, /readyz) and lists those addresses in
# DIR/metrics; join gives node ID PORT+ID (the base is kept in DIR/metrics-base).
# With TLS_CERTS=CERTDIR (scripts/certs.sh's files), start runs every node with TLS: node i
# presents CERTDIR/NAMEi.pem (key NAMEi-key.pem; NAME is $TLS_NAME, by default kv for kvd, raft
# for raftd, ctrl for shardctrld) and trusts CERTDIR/ca.pem; DIR/tls-client holds the flags of
# a client (kvcli, raftcli: CERTDIR/client.pem) for that cluster, which wait uses, and join
# gives node ID NAMEID.pem. Without it, start removes DIR/tls-client (a plain cluster).
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

# listening PID: the process holds a listening TCP socket (its socket inodes in /proc/net/tcp*
# with state 0A), i.e. it has bound its own port.
listening() {
  local inodes
  inodes=$(readlink "/proc/$1/fd/"* 2>/dev/null | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | paste -sd,) || true
  [ -n "$inodes" ] || return 1
  awk -v want="$inodes" 'BEGIN { n = split(want, a, ","); for (i = 1; i <= n; i++) s[a[i]] = 1 }
    $4 == "0A" && ($10 in s) { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6
}

# launch ID: starts node ID in the background unless it runs, adding it to `launched` and
# recording where this run's output starts in its (appended) log, for started's message.
launched=()
declare -A logpos
launch() {
  local id=$1
  if alive "$id"; then
    echo "node $id is already running (pid $(cat "$dir/node-$id.pid"))" >&2
    return 0
  fi
  touch "$dir/node-$id.log"
  logpos[$id]=$(stat -c %s "$dir/node-$id.log")
  nohup bash -c "exec $(cat "$dir/cmd-$id")" >>"$dir/node-$id.log" 2>&1 &
  echo $! >"$dir/node-$id.pid"
  launched+=("$id")
}

# started ID: waits (up to 10 s) until launched node ID listens; if it exits first, prints
# its output of this run and fails.
started() {
  local id=$1 pid
  pid=$(cat "$dir/node-$id.pid")
  for _ in $(seq 100); do
    if ! alive "$id"; then
      echo "node $id failed to start (log: $dir/node-$id.log):" >&2
      tail -c +$((logpos[$id] + 1)) "$dir/node-$id.log" | tail -n 5 | sed 's/^/  /' >&2
      rm -f "$dir/node-$id.pid"
      return 1
    fi
    listening "$pid" && return 0
    sleep 0.1
  done
  echo "node $id (pid $pid) is not listening after 10 s (log: $dir/node-$id.log)" >&2
  return 1
}

# tls_flags CERTDIR NAME: a process's TLS options for the identity NAME.
tls_flags() {
  echo "--tls-cert $1/$2.pem --tls-key $1/$2-key.pem --tls-ca $1/ca.pem"
}

# client_flags: the TLS options of a client of DIR's cluster (none for a plain cluster).
client_flags() {
  cat "$dir/tls-client" 2>/dev/null || true
}

case $action in
start)
  n=$3 base=$4 daemon=$5
  shift 5
  mkdir -p "$dir"
  tls_name=
  rm -f "$dir/tls-client" "$dir/tls-name"
  if [ -n "${TLS_CERTS:-}" ]; then
    certs=$(cd "$TLS_CERTS" && pwd)
    case $daemon in kvd) tls_name=kv ;; raftd) tls_name=raft ;; shardctrld) tls_name=ctrl ;; esac
    tls_name=${TLS_NAME:-$tls_name}
    [ -n "$tls_name" ] || { echo "TLS_NAME is required for $daemon" >&2; exit 2; }
    for f in ca client "${tls_name}1"; do
      [ -f "$certs/$f.pem" ] || { echo "no $certs/$f.pem (make certs)" >&2; exit 1; }
    done
    tls_flags "$certs" client >"$dir/tls-client"
    echo "$tls_name" >"$dir/tls-name"
  fi
  peers=""
  for i in $(seq "$n"); do peers+="${peers:+,}$i=127.0.0.1:$((base + i))"; done
  rm -f "$dir/metrics" "$dir/metrics-base"
  [ -z "${METRICS_BASE:-}" ] || echo "$METRICS_BASE" >"$dir/metrics-base"
  for i in $(seq "$n"); do
    metrics=""
    if [ -n "${METRICS_BASE:-}" ]; then
      metrics=" --metrics-listen 127.0.0.1:$((METRICS_BASE + i))"
      echo "127.0.0.1:$((METRICS_BASE + i))" >>"$dir/metrics"
    fi
    tls=""
    [ -z "$tls_name" ] || tls=" $(tls_flags "$certs" "$tls_name$i")"
    echo "$bin/$daemon --id $i --peers $peers --data-dir $dir/data-$i$metrics$tls $*" >"$dir/cmd-$i"
    launch "$i"
  done
  echo "$peers" | tr ',' '\n' | cut -d= -f2 | paste -sd, >"$dir/servers"
  failed=0
  for i in "${launched[@]}"; do started "$i" || failed=1; done
  if [ "$failed" = 1 ]; then
    for i in "${launched[@]}"; do
      [ -f "$dir/node-$i.pid" ] && kill "$(cat "$dir/node-$i.pid")" 2>/dev/null || true
      rm -f "$dir/node-$i.pid"
    done
    exit 1
  fi
  ;;
restart)
  launch "$3"
  for i in "${launched[@]}"; do started "$i"; done
  ;;
join)
  id=$3 addr=$4 member=$5
  [ -f "$dir/cmd-1" ] || { echo "no cluster in $dir" >&2; exit 1; }
  [ -f "$dir/cmd-$id" ] && { echo "node $id is already in $dir" >&2; exit 1; }
  # Node 1's metrics address is its own: the new node gets METRICS_BASE + ID, if any.
  metrics=""
  if [ -f "$dir/metrics-base" ]; then
    metrics=" --metrics-listen 127.0.0.1:$(($(cat "$dir/metrics-base") + id))"
  fi
  # A TLS node presents its own certificate (NAMEID.pem), not node 1's.
  tls_name=$(cat "$dir/tls-name" 2>/dev/null || true)
  tls_sed=
  [ -z "$tls_name" ] || tls_sed="s#/${tls_name}1(-key)?\.pem #/${tls_name}${id}\1.pem #g"
  sed -E "s# --id 1 # --id $id #; s# --peers [^ ]+ # --join $member --listen $addr #; s#/data-1 #/data-$id #; s# --metrics-listen [^ ]+##; s#( --data-dir [^ ]+)#\1$metrics#; $tls_sed" \
    "$dir/cmd-1" >"$dir/cmd-$id"
  launch "$id"
  started "$id" || { rm -f "$dir/cmd-$id"; exit 1; }
  echo "$(cat "$dir/servers"),$addr" >"$dir/servers"
  [ -z "$metrics" ] || echo "${metrics# --metrics-listen }" >>"$dir/metrics"
  ;;
forget)
  id=$3
  if alive "$id"; then
    p=$(cat "$dir/node-$id.pid")
    kill "$p"
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  cmd=$(cat "$dir/cmd-$id")
  addr=
  if [[ $cmd =~ --listen\ ([^ ]+) ]]; then
    addr=${BASH_REMATCH[1]}
  elif [[ $cmd =~ --peers\ ([^ ]+) ]]; then
    addr=$(tr ',' '\n' <<<"${BASH_REMATCH[1]}" | sed -n "s/^$id=//p")
  fi
  rm -f "$dir/cmd-$id" "$dir/node-$id.pid"
  tr ',' '\n' <"$dir/servers" | grep -vxF "${addr:-none}" | paste -sd, >"$dir/servers.new"
  mv "$dir/servers.new" "$dir/servers"
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
  for f in "$dir"/cmd-*; do
    [ -f "$f" ] || { echo "no cluster in $dir" >&2; exit 1; }
    id=${f##*/cmd-}
    if ! alive "$id"; then
      echo "node $id is not running; see $dir/node-$id.log" >&2
      exit 1
    fi
  done
  for _ in $(seq $((limit * 10))); do
    # shellcheck disable=SC2046 # the client's TLS flags, one word each
    if "$bin/kvcli" $(client_flags) --servers "$(cat "$dir/servers")" --timeout 1s status 2>/dev/null | grep -qE '^[0-9]+ +[^ ]+ +leader '; then
      exit 0
    fi
    sleep 0.1
  done
  echo "no leader within ${limit}s; see $dir/node-*.log" >&2
  exit 1
  ;;
*)
  echo "usage: $0 start DIR N BASEPORT DAEMON [FLAGS...] | restart DIR ID | join DIR ID HOST:PORT MEMBER | forget DIR ID | stop DIR | wait DIR [S]" >&2
  exit 2
  ;;
esac
