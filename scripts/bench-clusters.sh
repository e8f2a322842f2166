# Sourced by the benchmarks that set kvd beside etcd (bench-kv.sh, bench-member.sh): a temporary
# directory cleaned at exit, free ports, a 3-member etcd cluster and a 3-node kvd cluster on
# 127.0.0.1, both durable (etcd fsyncs its WAL by default; kvd every write batch).
#   bench_name=NAME            the prefix of messages and of the directory
#   bench_setup                $dir, the cleanup at exit (BENCH_KEEP=1 keeps $dir)
#   bench_need_etcd            installs etcd-server (and etcd-client: etcdctl) from Debian when
#                              missing (needs root)
#   bench_start_etcd           $eservers (client host:port list), $ecluster, etcd_pids, cports[]
#   bench_start_kvd FLAGS...   $kdir and $kservers: nodes 1-3 on three consecutive free ports
#                              (in $dir/$bench_kvd_name, default kvd; with TLS_CERTS=CERTDIR in
#                              the environment a TLS cluster: scripts/local-cluster.sh); every
#                              cluster started is stopped at exit
# Expects $bin (the programs' directory).

bench_need_etcd() {
  local pkgs=()
  command -v etcd >/dev/null 2>&1 || pkgs+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || pkgs+=(etcd-client)
  [ ${#pkgs[@]} = 0 ] && return 0
  echo "$bench_name: installing ${pkgs[*]} from Debian"
  if [ "$(id -u)" -ne 0 ]; then
    echo "$bench_name: installing needs root (apt-get install ${pkgs[*]})" >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

bench_setup() {
  dir=$(mktemp -d "/tmp/$bench_name-XXXXXX")
  etcd_pids=()
  kdirs=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  set +e
  local d
  for d in "${kdirs[@]}"; do BIN=$bin scripts/local-cluster.sh stop "$d" >/dev/null 2>&1; done
  for p in "${etcd_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${etcd_pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "$bench_name: logs kept in $dir"; else rm -rf "$dir"; fi
}

# A port nobody listens on and not in $used (free_port runs in a subshell: callers add the
# ports they take to $used themselves).
used=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    case $used in *" $p "*) continue ;; esac
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && continue
    echo "$p"
    return
  done
}

bench_start_etcd() {
  bench_need_etcd
  ecluster="" eservers=""
  declare -ga cports pports
  for i in 1 2 3; do
    cports[i]=$(free_port)
    used+="${cports[i]} "
    pports[i]=$(free_port)
    used+="${pports[i]} "
    ecluster+="${ecluster:+,}e$i=http://127.0.0.1:${pports[i]}"
    eservers+="${eservers:+,}127.0.0.1:${cports[i]}"
  done
  mkdir -p "$dir/etcd"
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$dir/etcd/data-$i" \
      --listen-client-urls "http://127.0.0.1:${cports[i]}" \
      --advertise-client-urls "http://127.0.0.1:${cports[i]}" \
      --listen-peer-urls "http://127.0.0.1:${pports[i]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${pports[i]}" \
      --initial-cluster "$ecluster" --initial-cluster-state new --initial-cluster-token "$bench_name" \
      --logger zap --log-level warn >"$dir/etcd/e$i.log" 2>&1 &
    etcd_pids+=($!)
    disown $! # no job notice when cleanup has to kill -9 it
  done
  for i in 1 2 3; do
    for t in $(seq 150); do
      (exec 3<>/dev/tcp/127.0.0.1/${cports[i]}) 2>/dev/null && break
      kill -0 "${etcd_pids[i - 1]}" 2>/dev/null || { echo "$bench_name: etcd e$i exited:" >&2; tail -5 "$dir/etcd/e$i.log" >&2; exit 1; }
      [ "$t" = 150 ] && { echo "$bench_name: etcd e$i does not listen after 15 s" >&2; exit 1; }
      sleep 0.1
    done
  done
}

bench_start_kvd() {
  local base ok p
  while :; do # three consecutive free ports base+1..base+3 (and base+4, base+5 for joiners)
    base=$((20000 + RANDOM % 12000))
    ok=1
    for i in 1 2 3 4 5; do
      p=$((base + i))
      case $used in *" $p "*) ok=0 ;; esac
      (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && ok=0
    done
    [ $ok = 1 ] && break
  done
  for i in 1 2 3 4 5; do used+="$((base + i)) "; done
  kbase=$base
  kdir=$dir/${bench_kvd_name:-kvd}
  kdirs+=("$kdir")
  BIN=$bin scripts/local-cluster.sh start "$kdir" 3 "$base" kvd "$@"
  kservers=$(cat "$kdir/servers")
  BIN=$bin scripts/local-cluster.sh wait "$kdir" 15
}
