#!/usr/bin/env bash
# What a new user tries on a kvd cluster beyond the README: large values against the request
# limit (stored once, refused at once above it, no election meanwhile; 50 MB under a raised
# limit: one entry, no election), one member's address
# only (followers relay to the leader), and kvcli's failures each saying what happened.
#   BIN=bin test/kv/test-kv-limits.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-kv-limits
"$ROOT/scripts/local-cluster.sh" start c3 3 "$base" kvd --log-level info
servers=$(cat c3/servers)
kv() { "$BIN/kvcli" --servers "$servers" --timeout 10s "$@"; }
check "a leader is elected" "$ROOT/scripts/local-cluster.sh" wait c3 15

# The sum of every node's term: unchanged = no election happened.
terms() { kv status | awk 'NR > 1 && $1 != "-" {s += $4} END {print s + 0}'; }
# The leader's last log index.
last() { kv status | awk '$3 == "leader" {print $8}'; }
make_value() { head -c "$1" /dev/zero | tr '\0' v >"v$1"; }

# ---- one address is enough: every member, followers included ----
for addr in ${servers//,/ }; do
  check "only $addr given: put and get work" \
    test "$("$BIN/kvcli" --servers "$addr" put "one-$addr" x && "$BIN/kvcli" --servers "$addr" get "one-$addr")" = x
done

# ---- large values under the default 1.5 MiB request limit ----
t0=$(terms)
for size in 1000000 1400000; do
  make_value $size
  before=$(last)
  check "put of $size bytes succeeds" bash -c "'$BIN/kvcli' --servers $servers put big$size - <v$size"
  check "  ... is stored once (one log entry)" test "$(last)" = $((before + 1))
  check "  ... and reads back whole" test "$(kv get big$size | head -c -1 | wc -c)" = $size
done
for size in 1600000 10000000 100000000; do
  make_value $size
  start=$(date +%s%N)
  check "put of $size bytes: exit 1, value too large" expect 1 "value too large: $size bytes, limit [0-9]+" \
    bash -c "'$BIN/kvcli' --servers $servers put big$size - <v$size"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "    (refused in $ms ms)"
  check "  ... within a second" test "$ms" -lt 1000
  rm -f "v$size"
done
check "no election during the large puts" test "$(terms)" = "$t0"
check "the servers kept nothing of the refused values" expect 1 "key not found" "$BIN/kvcli" --servers "$servers" get big1600000

# ---- a 50 MB put with the limit raised to 60 MB: one entry, no election ----
lc start big 3 $((base + 70)) kvd --log-level info --max-request-bytes 60MiB
big_servers=$(cat big/servers)
bkv() { "$BIN/kvcli" --servers "$big_servers" --timeout 30s "$@"; }
check "the 60 MB-limit cluster elects a leader" lc wait big 15
bterms() { bkv status | awk 'NR > 1 && $1 != "-" {s += $4} END {print s + 0}'; }
blast() { bkv status | awk '$3 == "leader" {print $8}'; }
make_value 50000000
t0=$(bterms) before=$(blast)
start=$(date +%s%N)
check "put of 50,000,000 bytes succeeds" bash -c "'$BIN/kvcli' --servers $big_servers --timeout 30s put huge - <v50000000"
echo "    (stored in $(( ($(date +%s%N) - start) / 1000000 )) ms)"
check "  ... as one log entry" test "$(blast)" = $((before + 1))
check "  ... with no election" test "$(bterms)" = "$t0"
check "  ... and reads back whole" test "$(bkv get huge | head -c -1 | wc -c)" = 50000000
rm -f v50000000
lc stop big


dead=$((base + 90))
start=$(date +%s%N)
check "every server refuses: cannot connect, within about a second" expect 1 \
  "cannot connect to 127.0.0.1:$dead: Connection refused" "$BIN/kvcli" --servers 127.0.0.1:$dead,127.0.0.1:$((dead + 1)) get a
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "    (failed in $ms ms)"
check "  ... in under 3 s" test "$ms" -lt 3000
check "a name that does not resolve: cannot resolve" expect 1 "cannot resolve no-such-host.invalid:7000" \
  "$BIN/kvcli" --servers no-such-host.invalid:7000 get a
"$ROOT/scripts/local-cluster.sh" start r1 1 $((base + 60)) raftd --log-level warn
raftd_addr=127.0.0.1:$((base + 61))
for _ in $(seq 50); do "$BIN/raftcli" --servers "$raftd_addr" status >/dev/null 2>&1 && break; sleep 0.1; done
check "another service on the port: not a kvd server" expect 1 "$raftd_addr is not a kvd server" \
  "$BIN/kvcli" --servers "$raftd_addr" get a
check "status tells the other service from an unreachable node" bash -c \
  "'$BIN/kvcli' --servers $raftd_addr,127.0.0.1:$dead status | grep -q 'not a kvd server' &&
   '$BIN/kvcli' --servers $raftd_addr,127.0.0.1:$dead status | grep -q 'unreachable (cannot connect'"
check "status exits 1 when no node reports a leader" expect 1 "no node reports a leader" \
  "$BIN/kvcli" --servers $raftd_addr,127.0.0.1:$dead status
check "status exits 0 on a cluster with a leader" kv status
check "a duration without a unit is refused" expect 2 "bad value '5'" "$BIN/kvcli" --timeout 5 get a
check "kvd refuses a request limit that is not a size" expect 2 "max-request-bytes" "$BIN/kvd" --max-request-bytes lots
check_result
