#!/usr/bin/env bash
# scripts/bench-kv.sh --report on made-up results: the tables and the targets' verdicts compare
# numbers as numbers (awk compared the fields as strings: "kvd p99 <= half of etcd" was MISS at
# 2.05 vs 34.95 ms, since "4.1" > "34.95"); the TLS table and target of make bench-kv TLS=1.
#   test/bench/test-bench-kv-report.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/test/support/check.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-bench-kv.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

put=put=100,get=0,append=0
line() { # TARGET CLIENTS WRITES/S P50 P99
  echo "target=$1 clients=$2 mix=$put ops_per_sec=$3 writes_per_sec=$3 p50_ms=$4 p99_ms=$5 p999_ms=$5 errors=0"
}
{ line kvd 1 2100 0.462 0.9; line etcd 1 900 1.1 2.3
  line kvd 128 31000 1.50 2.05; line etcd 128 9800 12.1 34.95; } >pass.txt
{ line kvd 1 2100 0.55 0.9; line etcd 1 900 1.1 2.3
  line kvd 128 29000 9.5 20.1; line etcd 128 9800 12.1 34.95; } >miss.txt
report() { "$ROOT/scripts/bench-kv.sh" --report "$1" >"$1.out" 2>&1; }

check "--report exits 0" report pass.txt
check "p99 2.05 vs 34.95 ms: PASS" grep -q "kvd p99 <= half of etcd: 2.05 ms vs 34.95 ms -> PASS" pass.txt.out
check "writes 31000 vs 9800 (3.16x): PASS" grep -q "kvd writes/s >= 3x etcd: 31000 vs 9800 = 3.16x -> PASS" pass.txt.out
check "1 client p50 0.462 ms: PASS" grep -q "kvd p50 <= 0.5 ms: 0.462 ms -> PASS" pass.txt.out
check "table: p99 ratio 17.05 at 128 clients" grep -Eq "^ +128 \|.*\| +17\.05 \|" pass.txt.out
report miss.txt
check "p99 20.1 vs 34.95 ms: MISS" grep -q "kvd p99 <= half of etcd: 20.10 ms vs 34.95 ms -> MISS" miss.txt.out
check "writes 29000 vs 9800 (2.96x): MISS" grep -q "= 2.96x -> MISS" miss.txt.out
check "1 client p50 0.55 ms: MISS" grep -q "kvd p50 <= 0.5 ms: 0.550 ms -> MISS" miss.txt.out
check "no mixed results: one table" test "$(grep -c '^== ' pass.txt.out)" = 1
# make bench-kv TLS=1 without etcd (BENCH_ETCD=0): the TLS table and its target only.
{ line kvd 128 30000 4.1 8.0; line kvd-tls 128 26100 4.7 9.2; } >tls-pass.txt
{ line kvd 128 30000 4.1 8.0; line kvd-tls 128 25400 4.9 9.9; } >tls-miss.txt
report tls-pass.txt
check "TLS 26100 vs 30000 (13% fewer): PASS" grep -q "kvd with TLS >= 85% of plain writes/s: 26100 vs 30000 = 87.0% (13.0% fewer) -> PASS" tls-pass.txt.out
check "TLS table: ratio 0.870 at 128 clients" grep -Eq "^ +128 \| +30000 \| +26100 \| +0\.870 \|" tls-pass.txt.out
check "no etcd results: no etcd table nor target" bash -c "! grep -q etcd tls-pass.txt.out"
report tls-miss.txt
check "TLS 25400 vs 30000 (15.3% fewer): MISS" grep -q "= 84.7% (15.3% fewer) -> MISS" tls-miss.txt.out
# Repeats (BENCH_REPEAT=3): each figure is the run with the median ops/s; clients keep their order.
{ line kvd 8 5000 1.5 4.0; line kvd-tls 8 4800 1.6 4.1
  line kvd 128 20000 5.0 9.0; line kvd-tls 128 26000 4.9 9.9
  line kvd 128 31000 4.0 8.0; line kvd-tls 128 18000 7.0 12.0
  line kvd 128 30000 4.1 8.0; line kvd-tls 128 27000 4.7 9.2; } >repeats.txt
report repeats.txt
check "repeats: the medians, 26000 vs 30000 (86.7%): PASS" grep -q "26000 vs 30000 = 86.7% (13.3% fewer) -> PASS" repeats.txt.out
check "repeats: the table says medians" grep -q "median" repeats.txt.out
check "repeats: 8 clients before 128" bash -c "grep -E '^ +(8|128) \\|' repeats.txt.out | awk '{print \$1}' | paste -sd, | grep -qx 8,128"
check_result
