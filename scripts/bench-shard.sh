#!/usr/bin/env bash
# make bench-shard: the sharded service's figures in one run, fsync on, groups of 3 nodes, all on
# 127.0.0.1 (docs/BENCH-SHARD.md). Three tables, each with its target marked PASS or MISS (a
# miss does not fail the run: the figures are the output):
#  a. throughput: kvbench, 100% puts of 256-byte values over 1000 8-byte keys, at 1, 32 and 128
#     clients, against the sharded service (3 shardctrld + groups 100, 101, 102 of 3 shardkvd,
#     scripts/sharded-cluster.sh) and against one kvd group of 3, alternating at each count.
#     Target: sharded >= 0.8x the single group's ops/s at 128 clients.
#  b. migration: test/shardkv/bigmove --bench (make bench-shard-move) moves a 256 MiB shard
#     between two groups under a light load on other shards and prints its own table.
#  c. the controller: one Join of the 1000th group at 16,384 shards, end to end on a 3-node
#     shardctrld (test/bench/bench_ctrl_join) and in the state machine alone
#     (test/bench/bench_rebalance). Target: at most 10 ms.
# Environment: BIN (bin), OUT (build/release), BENCH_SECONDS (10), BENCH_CLIENTS ("1 32 128"),
# BENCH_PARTS ("a b c"), BENCH_KEEP (1: keep the temporary directory with the logs).
set -euo pipefail
bin=${BIN:-bin}
out=${OUT:-build/release}
secs=${BENCH_SECONDS:-10}
client_counts=${BENCH_CLIENTS:-1 32 128}
parts=${BENCH_PARTS:-a b c}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
node_opts="--log-level warn --max-raft-state 64MiB" # the same for kvd and shardkvd

dir=$(mktemp -d /tmp/bench-shard-XXXXXX)
cleanup() {
  set +e
  BIN=$bin "$here/local-cluster.sh" stop "$dir/kvd" >/dev/null 2>&1
  BIN=$bin "$here/local-cluster.sh" stop "$dir/ctrl" >/dev/null 2>&1
  BIN=$bin "$here/sharded-cluster.sh" stop "$dir/sharded" >/dev/null 2>&1
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench-shard: logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_base OFFSET...: a base port such that base+OFFSET is free for every offset given.
free_base() {
  local base off ok
  while :; do
    base=$((20000 + RANDOM % 12000))
    ok=1
    for off in "$@"; do
      (exec 3<>/dev/tcp/127.0.0.1/$((base + off))) 2>/dev/null && { ok=0; break; }
    done
    [ $ok = 1 ] && { echo "$base"; return; }
  done
}

num() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }

echo "== bench-shard (git $(git rev-parse --short HEAD 2>/dev/null || echo ?)): $(nproc) CPUs," \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); data in $dir" \
  "($(df -T "$dir" | awk 'NR==2 {print $2}'))"

# ---- a. throughput -----------------------------------------------------------------------------
part_a() {
  local kbase sbase kservers ctrlers c line
  kbase=$(free_base 1 2 3)
  BIN=$bin "$here/local-cluster.sh" start "$dir/kvd" 3 "$kbase" kvd $node_opts
  BIN=$bin "$here/local-cluster.sh" wait "$dir/kvd" 15
  kservers=$(cat "$dir/kvd/servers")
  sbase=$(free_base 1 2 3 11 12 13 21 22 23 31 32 33)
  SHARDKVD_OPTS=$node_opts BIN=$bin "$here/sharded-cluster.sh" start "$dir/sharded" "$sbase" 60
  ctrlers=$(cat "$dir/sharded/ctrlers")
  echo "== a. kvd on $kservers; sharded: controller $ctrlers, groups on ports $((sbase + 11))-$((sbase + 33))"
  : >"$dir/results-a"
  for c in $client_counts; do
    for t in kvd shardkv; do
      local servers=$kservers
      [ $t = shardkv ] && servers=$ctrlers
      if ! line=$(timeout $((secs + 40)) "$bin/kvbench" --target $t --servers "$servers" \
                    --clients "$c" --mix put=100,get=0,append=0 --duration "${secs}s" --warmup 1s \
                    --keys 1000 --key-size 8 --value-size 256 | grep '^target='); then
        echo "bench-shard: kvbench --target $t --clients $c failed" >&2
        line="target=$t clients=$c ops_per_sec=0 p50_ms=0 p99_ms=0 errors=-1"
      fi
      echo "$line" >>"$dir/results-a"
    done
  done
  BIN=$bin "$here/local-cluster.sh" stop "$dir/kvd" >/dev/null
  BIN=$bin "$here/sharded-cluster.sh" stop "$dir/sharded" >/dev/null
  echo
  echo "a. throughput: 100% put, 256-byte values, 1000 keys, ${secs} s per run (3 groups of 3 + a 3-node controller vs one kvd group of 3; every process on these $(nproc) CPUs)"
  printf "%7s | %10s | %12s | %6s | %17s | %17s | %s\n" clients "kvd ops/s" "sharded ops/s" ratio \
    "kvd p50/p99 ms" "sharded p50/p99" "errors kvd/sharded"
  local r128=""
  for c in $client_counts; do
    local k s
    k=$(grep -m1 "^target=kvd clients=$c " "$dir/results-a")
    s=$(grep -m1 "^target=shardkv clients=$c " "$dir/results-a")
    local ko so ratio
    ko=$(num ops_per_sec "$k") so=$(num ops_per_sec "$s")
    ratio=$(awk -v a="$so" -v b="$ko" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    [ "$c" = 128 ] && r128=$ratio
    printf "%7s | %10.0f | %12.0f | %6s | %7.2f / %7.2f | %7.2f / %7.2f | %s/%s\n" "$c" "$ko" "$so" \
      "$ratio" "$(num p50_ms "$k")" "$(num p99_ms "$k")" "$(num p50_ms "$s")" "$(num p99_ms "$s")" \
      "$(num errors "$k")" "$(num errors "$s")"
  done
  if [ -n "$r128" ] && [ "$r128" != - ]; then
    echo "target a: 128 clients, sharded >= 0.8x one group's ops/s: ${r128}x -> $(verdict "$r128 >= 0.8")"
  else
    echo "target a: 128 clients: not run (BENCH_CLIENTS)"
  fi
  part_a_one_group "$(echo $client_counts | awk '{print $NF}')"
}

# The sharded service with one group holding every shard, at the largest client count: what the
# shard layer costs by itself, beside what three groups sharing the machine cost (a diagnostic,
# no target).
part_a_one_group() {
  local c=$1 sbase line k ko so
  sbase=$(free_base 1 2 3 11 12 13)
  SHARDED_GROUPS=1 SHARDKVD_OPTS=$node_opts BIN=$bin "$here/sharded-cluster.sh" start "$dir/one" "$sbase" 60
  line=$(timeout $((secs + 40)) "$bin/kvbench" --target shardkv --servers "$(cat "$dir/one/ctrlers")"            --clients "$c" --mix put=100,get=0,append=0 --duration "${secs}s" --warmup 1s            --keys 1000 --key-size 8 --value-size 256 | grep '^target=') ||
    line="target=shardkv clients=$c ops_per_sec=0 p50_ms=0 p99_ms=0 errors=-1"
  SHARDED_GROUPS=1 BIN=$bin "$here/sharded-cluster.sh" stop "$dir/one" >/dev/null
  k=$(grep -m1 "^target=kvd clients=$c " "$dir/results-a")
  ko=$(num ops_per_sec "$k") so=$(num ops_per_sec "$line")
  printf "diagnostic: one shardkvd group of 3 holding all 10 shards, %s clients: %.0f ops/s (%s x kvd), p50/p99 %.2f / %.2f ms\n"     "$c" "$so" "$(awk -v a="$so" -v b="$ko" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"     "$(num p50_ms "$line")" "$(num p99_ms "$line")"
}

# ---- b. migration ------------------------------------------------------------------------------
part_b() {
  echo
  echo "b. migration: a 256 MiB shard (26,215 keys of 10 KiB) moved from gid 100 to 101"
  BIN=$bin "$out/test/shardkv_bigmove" --bench --keys 26215
}

# ---- c. the controller -------------------------------------------------------------------------
part_c() {
  local base line sm
  base=$(free_base 1 2 3)
  BIN=$bin "$here/local-cluster.sh" start "$dir/ctrl" 3 "$base" shardctrld --log-level warn \
    --shards 16384 --max-raft-state 64MiB
  line=$("$out/test/bench_ctrl_join" "$(cat "$dir/ctrl/servers")" | tee "$dir/results-c" | grep '^shards=')
  BIN=$bin "$here/local-cluster.sh" stop "$dir/ctrl" >/dev/null
  sm=$("$out/test/bench_rebalance" | sed -n 's/^Join of the 1000th group into 999 *median *\([0-9.]*\) us.*/\1/p')
  echo
  echo "c. the controller: 16,384 shards, 1,000 groups of 3 (median of 9)"
  printf "%-58s | %9s\n" "" "ms"
  printf "%-58s | %9.3f\n" "one Join of the 1000th group, end to end (3 nodes, fsync)" "$(num join_ms "$line")"
  printf "%-58s | %9.3f\n" "one Leave of it, end to end" "$(num leave_ms "$line")"
  printf "%-58s | %9.3f\n" "the Join in the state machine alone (the rebalance)" "$(awk -v u="$sm" 'BEGIN { print u / 1000 }')"
  echo "target c: one Join at 16,384 shards and 1,000 groups <= 10 ms (end to end): $(num join_ms "$line") ms -> $(verdict "$(num join_ms "$line") <= 10")"
}

for p in $parts; do "part_$p"; done
