#!/usr/bin/env bash
# make bench-member: the figures of membership changes, kvd beside etcd in the same run.
#  1. Leadership transfers: BENCH_TRANSFERS (20) times, one client writes in a closed loop
#     (kvbench, 1 client, 256-byte puts) while the leader hands over to another member (kvd:
#     kvcli leader transfer; etcd: etcdctl move-leader); the longest write latency of that run
#     is the write unavailability. Prints the median and the max of each, and the target
#     (kvd's median at most 50 ms).
#  2. A learner catching up: the kvd cluster loaded with BENCH_MEMBER_MIB (1024) MiB of 1 MiB
#     values (kvbench --preload) and snapshotted; `kvcli member add 4=...` and node 4 started
#     with --join: the time from the add until node 4 has applied what the leader had
#     committed, whether it came by snapshot, node 4's peak RSS; then the promotion's time.
# Environment: BIN (bin), BENCH_TRANSFERS, BENCH_MEMBER_MIB, BENCH_KEEP (1: keep the logs).
set -euo pipefail
bin=${BIN:-bin}
transfers=${BENCH_TRANSFERS:-20}
mib=${BENCH_MEMBER_MIB:-1024}
. scripts/bench-clusters.sh
bench_name=bench-member
bench_setup
bench_start_etcd
bench_start_kvd --log-level info # (node 4 logs its snapshot install at info)
kv() { "$bin/kvcli" --servers "$kservers" "$@"; }
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$eservers" "$@"; }
echo "== kvd (git $(git rev-parse --short HEAD 2>/dev/null || echo ?)) on $kservers; etcd $(etcd --version | sed -n 's/^etcd Version: //p') on $eservers"
echo "== $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); data in $dir ($(df -T "$dir" | awk 'NR==2 {print $2}'))"

# kvbench's max_ms of a 1.5 s closed-loop single-client put run on $2 ($1: kvd or etcd), with
# the command $3... run 0.7 s into it.
probe() {
  local target=$1 servers=$2 out
  shift 2
  out=$(mktemp "$dir/probe-XXXXXX")
  timeout 30 "$bin/kvbench" --target "$target" --servers "$servers" --clients 1 --duration 1500ms \
    --warmup 200ms --mix put=100 --keys 1000 --value-size 256 --op-timeout 10s >"$out" 2>&1 &
  local pid=$!
  sleep 0.9
  "$@" >/dev/null
  wait "$pid" || true
  sed -n 's/.* max_ms=\([^ ]*\).*/\1/p' "$out"
}

kvd_leader() { kv status 2>/dev/null | awk '$3 == "leader" { print $1 }'; }
kvd_transfer() {
  local l to
  l=$(kvd_leader)
  to=$(( (l % 3) + 1 ))
  kv leader transfer "$to"
}
# etcd's member ids (hex) and its leader's, from endpoint status.
etcd_transfer() {
  local st leader to
  st=$(ectl endpoint status -w fields)
  leader=$(awk -F' : ' '/"Leader"/ { print $2; exit }' <<<"$st")
  to=$(awk -F' : ' -v l="$leader" '/"MemberID"/ && $2 != l { print $2; exit }' <<<"$st")
  ectl move-leader "$(printf '%x' "$to")"
}

median_max() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "median %.1f ms, max %.1f ms (%d runs)", v[int((NR + 1) / 2)], v[NR], NR }'; }

echo "== leadership transfers: $transfers per system, one closed-loop writer; the longest write of each run"
kres="" eres=""
for _ in $(seq "$transfers"); do
  kres+="$(probe kvd "$kservers" kvd_transfer)"$'\n'
  eres+="$(probe etcd "$eservers" etcd_transfer)"$'\n'
done
kline=$(grep . <<<"$kres" | median_max)
eline=$(grep . <<<"$eres" | median_max)
echo "   kvd  (kvcli leader transfer): $kline"
echo "   etcd (etcdctl move-leader):   $eline"
kmed=$(grep . <<<"$kres" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
awk -v m="$kmed" 'BEGIN { printf "target: write unavailability during a transfer, median <= 50 ms: %.1f ms -> %s\n", m, m <= 50 ? "PASS" : "MISS" }'

echo "== a learner catching up with $mib MiB"
"$bin/kvbench" --servers "$kservers" --clients 4 --keys "$mib" --value-size 1048576 --preload \
  --duration 1s --warmup 0s --mix put=100 --op-timeout 60s >/dev/null
for _ in $(seq 600); do # the leader's snapshot covers the load
  [ "$(kv status 2>/dev/null | awk '$3 == "leader" { print $9 }')" -gt 0 ] 2>/dev/null && break
  sleep 0.1
done
commit=$(kv status | awk '$3 == "leader" { print $6 }')
addr4=127.0.0.1:$((kbase + 4))
t0=$(date +%s%N)
kv member add "4=$addr4" >/dev/null
BIN=$bin scripts/local-cluster.sh join "$kdir" 4 "$addr4" "$(cut -d, -f1 <<<"$kservers")"
applied=0
for _ in $(seq 6000); do
  applied=$("$bin/kvcli" --servers "$addr4" --timeout 2s status 2>/dev/null | awk 'NR == 2 { print $7 }' || true)
  [ "${applied:-0}" -ge "$commit" ] && break
  sleep 0.05
done
t1=$(date +%s%N)
pid4=$(cat "$kdir/node-4.pid")
hwm=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$pid4/status")
snap=$(grep -c "installed snapshot" "$kdir/node-4.log" || true)
kv member promote 4 >/dev/null
t2=$(date +%s%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v m="$mib" -v s="$snap" -v h="$hwm" -v i="$commit" -v ap="${applied:-0}" 'BEGIN {
  printf "   member add -> learner caught up (applied %d >= commit %d): %.2f s for %d MiB (%.0f MB/s), by %s; node 4 peak RSS %d MiB\n",
         ap, i, (b - a) / 1e9, m, m * 1.048576 / ((b - a) / 1e9), (s > 0 ? "snapshot" : "log"), h
  printf "   then member promote: %.0f ms\n", (c - b) / 1e6 }'
