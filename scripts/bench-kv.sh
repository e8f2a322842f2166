#!/usr/bin/env bash
# make bench-kv: kvd beside etcd, the same workload, in the same run (docs/BENCH-KV.md).
#  - installs etcd-server from Debian when `etcd` is missing;
#  - starts a 3-member etcd cluster and a 3-node kvd cluster on 127.0.0.1, both durable
#    (etcd fsyncs its WAL by default; kvd fsyncs every write batch by default);
#  - runs kvbench with 1, 8, 32 and 128 clients, 8-byte keys, 256-byte values, 10 s each
#    (after 1 s of warm-up), 100% puts, alternating kvd and etcd at each client count;
#    then a second table with a 50/50 get/put mix;
#  - prints side-by-side tables with ratios and checks the targets (PASS/MISS; a miss does not
#    fail the target: the figures are the output);
#  - with BENCH_TLS=1 (make bench-kv TLS=1) also a second 3-node kvd cluster with TLS on every
#    connection (certificates of scripts/certs.sh in the temporary directory, kvbench with the
#    client's), run beside the plain one at each client count, and a table of the two with the
#    TLS target (at most 15% fewer writes/s at 128 clients).
# Environment: BIN (bin), BENCH_SECONDS (10), BENCH_CLIENTS ("1 8 32 128"), BENCH_MIXED (1: also
# the get/put table), BENCH_KEEP (1: keep the temporary directory with the logs), BENCH_TLS (1:
# the TLS cluster too), BENCH_ETCD (0: leave etcd out, e.g. for a quick TLS comparison),
# BENCH_REPEAT (1: runs of each target and client count, alternating; the report takes the
# median of each, which evens out a machine shared with other work).
#   scripts/bench-kv.sh --report RESULTS   only the tables and targets of a results file
#                                          ($dir/results of a BENCH_KEEP=1 run)
set -euo pipefail
bin=${BIN:-bin}
secs=${BENCH_SECONDS:-10}
client_counts=${BENCH_CLIENTS:-1 8 32 128}
mixed=${BENCH_MIXED:-1}
with_tls=${BENCH_TLS:-0}
with_etcd=${BENCH_ETCD:-1}
repeat=${BENCH_REPEAT:-1}

# ---- reports (also: scripts/bench-kv.sh --report RESULTS, for a kept results file) ----------
# A results line is "target=kvd clients=8 mix=put=100,... ops_per_sec=... p99_ms=... ...".
# get() returns a field as a string, num() as a number: awk compares two strings as strings
# ("4.10" > "34.95"), so every comparison must be on num()'s values.
AWK_FIELDS='
  function get(line, k) { return match(line, " " k "=[^ ]*") ? substr(line, RSTART + length(k) + 2, RLENGTH - length(k) - 2) : "" }
  function num(line, k) { return get(line, k) + 0 }'
PUTS=put=100,get=0,append=0
GETPUT=put=50,get=50,append=0

# table RESULTS MIX TITLE: side by side from the results of that mix.
table() {
  awk -v mix="$2" -v title="$3" "$AWK_FIELDS"'
    { l = " " $0; if (get(l, "mix") != mix) next
      t = get(l, "target"); c = num(l, "clients")
      ops[t, c] = num(l, "ops_per_sec"); p50[t, c] = num(l, "p50_ms"); p99[t, c] = num(l, "p99_ms")
      err[t, c] = get(l, "errors"); if (!(c in seen)) { seen[c] = 1; order[n++] = c } }
    END {
      printf "\n%s\n", title
      printf "%7s | %10s | %10s | %6s | %17s | %17s | %9s | %s\n", "clients", "kvd ops/s", "etcd ops/s",
             "ratio", "kvd p50/p99 ms", "etcd p50/p99 ms", "p99 ratio", "errors kvd/etcd"
      for (i = 0; i < n; i++) { c = order[i]
        r = ops["etcd", c] > 0 ? sprintf("%.2f", ops["kvd", c] / ops["etcd", c]) : "-"
        pr = p99["kvd", c] > 0 ? sprintf("%.2f", p99["etcd", c] / p99["kvd", c]) : "-"
        printf "%7d | %10.0f | %10.0f | %6s | %7.2f / %7.2f | %7.2f / %7.2f | %9s | %s/%s\n", c,
               ops["kvd", c], ops["etcd", c], r, p50["kvd", c], p99["kvd", c], p50["etcd", c],
               p99["etcd", c], pr, err["kvd", c], err["etcd", c] }
      print "(ratio = kvd ops/s / etcd ops/s; p99 ratio = etcd p99 / kvd p99: above 1 means kvd is faster)"
    }' "$1"
}

# targets RESULTS: the targets' verdicts (PASS/MISS) from the 100% put results.
targets() {
  awk -v mix="$PUTS" "$AWK_FIELDS"'
  { l = " " $0; if (get(l, "mix") != mix) next; t = get(l, "target"); c = num(l, "clients")
    w[t, c] = num(l, "writes_per_sec"); p99[t, c] = num(l, "p99_ms"); p50[t, c] = num(l, "p50_ms"); have[t, c] = 1 }
  function verdict(ok) { return ok ? "PASS" : "MISS" }
  END {
    if (have["kvd", 128] && have["etcd", 128]) {
      ratio = w["etcd", 128] > 0 ? w["kvd", 128] / w["etcd", 128] : 0
      v1 = verdict(w["kvd", 128] > 0 && ratio >= 3)
      v2 = verdict(p99["kvd", 128] > 0 && 2 * p99["kvd", 128] <= p99["etcd", 128])
      printf "target: 128 clients, kvd writes/s >= 3x etcd: %.0f vs %.0f = %.2fx -> %s\n", w["kvd", 128], w["etcd", 128], ratio, v1
      printf "target: 128 clients, kvd p99 <= half of etcd: %.2f ms vs %.2f ms -> %s\n", p99["kvd", 128], p99["etcd", 128], v2
    } else print "target: 128 clients: not run (BENCH_CLIENTS)"
    if (have["kvd", 1]) {
      v3 = verdict(p50["kvd", 1] > 0 && p50["kvd", 1] <= 0.5)
      printf "target: 1 client, kvd p50 <= 0.5 ms: %.3f ms -> %s\n", p50["kvd", 1], v3
    } else print "target: 1 client: not run (BENCH_CLIENTS)"
  }' "$1"
}

# tls_table RESULTS MIX TITLE: kvd beside kvd with TLS, from the results of that mix.
tls_table() {
  awk -v mix="$2" -v title="$3" "$AWK_FIELDS"'
    { l = " " $0; if (get(l, "mix") != mix) next
      t = get(l, "target"); c = num(l, "clients"); if (t != "kvd" && t != "kvd-tls") next
      ops[t, c] = num(l, "ops_per_sec"); p50[t, c] = num(l, "p50_ms"); p99[t, c] = num(l, "p99_ms")
      err[t, c] = get(l, "errors"); if (!(c in seen)) { seen[c] = 1; order[n++] = c } }
    END {
      printf "\n%s\n", title
      printf "%7s | %10s | %10s | %9s | %17s | %17s | %s\n", "clients", "kvd ops/s", "TLS ops/s",
             "TLS/plain", "kvd p50/p99 ms", "TLS p50/p99 ms", "errors kvd/TLS"
      for (i = 0; i < n; i++) { c = order[i]
        r = ops["kvd", c] > 0 ? sprintf("%.3f", ops["kvd-tls", c] / ops["kvd", c]) : "-"
        printf "%7d | %10.0f | %10.0f | %9s | %7.2f / %7.2f | %7.2f / %7.2f | %s/%s\n", c,
               ops["kvd", c], ops["kvd-tls", c], r, p50["kvd", c], p99["kvd", c], p50["kvd-tls", c],
               p99["kvd-tls", c], err["kvd", c], err["kvd-tls", c] }
      print "(TLS/plain = kvd with TLS ops/s / kvd plain ops/s)"
    }' "$1"
}

# tls_target RESULTS: the TLS target's verdict from the 100% put results.
tls_target() {
  awk -v mix="$PUTS" "$AWK_FIELDS"'
  { l = " " $0; if (get(l, "mix") != mix) next; t = get(l, "target"); c = num(l, "clients")
    w[t, c] = num(l, "writes_per_sec"); have[t, c] = 1 }
  END {
    if (have["kvd", 128] && have["kvd-tls", 128]) {
      ratio = w["kvd", 128] > 0 ? w["kvd-tls", 128] / w["kvd", 128] : 0
      printf "target: 128 clients, kvd with TLS >= 85%% of plain writes/s: %.0f vs %.0f = %.1f%% (%.1f%% %s) -> %s\n",
             w["kvd-tls", 128], w["kvd", 128], 100 * ratio, 100 * (ratio <= 1 ? 1 - ratio : ratio - 1),
             (ratio <= 1 ? "fewer" : "more"),
             (w["kvd-tls", 128] > 0 && ratio >= 0.85) ? "PASS" : "MISS"
    } else print "target: 128 clients with TLS: not run (BENCH_CLIENTS)"
  }' "$1"
}

# medians RESULTS: one line per target, client count and mix, the run with the median ops/s
# of its repeats (BENCH_REPEAT), in the order the keys first appear.
medians() {
  awk "$AWK_FIELDS"'{ l = " " $0; k = get(l, "target") "|" get(l, "clients") "|" get(l, "mix")
    if (!(k in idx)) idx[k] = n++; printf "%d\t%s\t%s\n", idx[k], num(l, "ops_per_sec"), $0 }' "$1" |
    sort -t "$(printf '\t')" -k1,1n -k2,2g |
    awk -F '\t' '{ n[$1]++; line[$1, n[$1]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[m++] = $1 } }
      END { for (i = 0; i < m; i++) { k = order[i]; print line[k, int((n[k] + 1) / 2)] } }'
}

# report RESULTS: both tables (the second only when there are mixed results), the TLS table
# when there are TLS results, and the targets; from the median of each run's repeats.
report() {
  local all=$1 runs
  set -- "$(mktemp)"
  medians "$all" >"$1"
  runs=$(awk 'END { print NR }' "$all")
  [ "$runs" -gt "$(awk 'END { print NR }' "$1")" ] && echo "(each figure: the run with the median ops/s of its repeats)"
  if grep -q '^target=etcd ' "$1"; then
    table "$1" "$PUTS" "== 100% put (writes/s = ops/s), 3 members each, fsync on"
    if grep -qF " mix=$GETPUT " "$1"; then
      table "$1" "$GETPUT" "== 50% get / 50% put, 3 members each, fsync on"
    fi
  fi
  if grep -q '^target=kvd-tls ' "$1"; then
    tls_table "$1" "$PUTS" "== kvd with TLS beside plain kvd: 100% put, 3 members each, fsync on"
    if grep -qF " mix=$GETPUT " "$1"; then
      tls_table "$1" "$GETPUT" "== kvd with TLS beside plain kvd: 50% get / 50% put"
    fi
  fi
  echo
  if grep -q '^target=etcd ' "$1"; then targets "$1"; fi
  if grep -q '^target=kvd-tls ' "$1"; then tls_target "$1"; fi
  rm -f "$1"
}

if [ "${1:-}" = --report ]; then
  report "$2"
  exit
fi

. scripts/bench-clusters.sh
bench_name=bench-kv
bench_setup
[ "$with_etcd" = 1 ] && bench_start_etcd
bench_start_kvd --log-level warn --max-raft-state 64MiB
tls_client=()
if [ "$with_tls" = 1 ]; then
  plain_servers=$kservers
  scripts/certs.sh "$dir/certs" >/dev/null
  TLS_CERTS=$dir/certs bench_kvd_name=kvd-tls bench_start_kvd --log-level warn --max-raft-state 64MiB
  read -ra tls_client <"$kdir/tls-client"
  tservers=$kservers
  kservers=$plain_servers
  echo "== kvd with TLS (mutual, EC P-256 certificates; scripts/certs.sh) on $tservers"
fi
echo "== kvd (git $(git rev-parse --short HEAD 2>/dev/null || echo ?)) on $kservers${eservers:+; etcd $(etcd --version | sed -n 's/^etcd Version: //p') on $eservers}"
echo "== $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); data in $dir ($(df -T "$dir" | awk 'NR==2 {print $2}'))"

results="$dir/results"
: >"$results"
# run TARGET SERVERS CLIENTS MIX: one kvbench run, bounded in time; its key=value line is kept.
# TARGET kvd-tls is kvd with the TLS cluster's client certificate, reported as kvd-tls.
run() {
  local out target=$1 tls=()
  [ "$1" = kvd-tls ] && target=kvd tls=("${tls_client[@]}")
  [ "$1" = etcd ] && [ "$with_etcd" != 1 ] && return 0
  if ! out=$(timeout $((secs + 40)) "$bin/kvbench" "${tls[@]}" --target "$target" --servers "$2" --clients "$3" \
               --mix "$4" --duration "${secs}s" --warmup 1s --keys 1000 --key-size 8 --value-size 256 |
               sed "s/^target=$target /target=$1 /; s/^$target, /$1, /"); then
    echo "bench-kv: kvbench --target $1 --clients $3 failed:" >&2
    echo "$out" >&2
    echo "target=$1 clients=$3 mix=$4 ops_per_sec=0 writes_per_sec=0 p50_ms=0 p99_ms=0 p999_ms=0 errors=-1" >>"$results"
    return 0
  fi
  grep -v '^target=' <<<"$out" | grep -v '^kvbench:' | sed 's/^/   /'
  grep '^target=' <<<"$out" | sed "s/ mix=[^ ]*/ mix=$4/" >>"$results"
}

puts=$PUTS
echo "== write-heavy: 100% put, 8-byte keys over 1000 keys, 256-byte values, ${secs} s per run"
for c in $client_counts; do
  for ((r = 0; r < repeat; r++)); do
    run kvd "$kservers" "$c" "$puts"
    [ "$with_tls" = 1 ] && run kvd-tls "$tservers" "$c" "$puts"
    run etcd "${eservers:-}" "$c" "$puts"
  done
done
if [ "$mixed" = 1 ]; then
  getput=$GETPUT
  echo "== mixed: 50% get / 50% put (every key already written by the runs above)"
  for c in $client_counts; do
    for ((r = 0; r < repeat; r++)); do
      run kvd "$kservers" "$c" "$getput"
      [ "$with_tls" = 1 ] && run kvd-tls "$tservers" "$c" "$getput"
      run etcd "${eservers:-}" "$c" "$getput"
    done
  done
fi

report "$results"

