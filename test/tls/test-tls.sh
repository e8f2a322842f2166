#!/usr/bin/env bash
# TLS and authentication on every connection (issue 18, docs/TLS.md), on real processes on
# 127.0.0.1: scripts/certs.sh's certificates in the work directory; a 3-node kvd cluster with
# TLS (scripts/local-cluster.sh's TLS mode); kvcli with the client certificate puts and gets.
# Refused, each exiting 1 with a message naming the TLS cause, counted by the server (its
# metrics) and logged once for 20 attempts (rate-limited): a TLS client with no certificate
# (openssl s_client: kvcli always presents one), kvcli with another CA's certificate, with an
# expired one, plain kvcli on the TLS port, and kvcli with TLS on a plain kvd; a client with the
# right certificate keeps being served throughout (its successes counted). Bad options exit 2.
# Peers with a wrong certificate (another CA's): a 4th kvd trying to --join, and an impostor
# of node 3 with the right peers list and no pre-vote: neither joins nor moves the cluster's
# term or leader, and their logs name the TLS failure. raftd with TLS: raftcli works with the
# client certificate and is refused without.
#   BIN=bin test/tls/test-tls.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-tls
mbase=$((base + 200))
pids=()
cleanup() {
  local p
  touch stop-loop
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  suite_cleanup
}
trap cleanup EXIT
command -v openssl >/dev/null || { echo "not ok - openssl is missing (scripts/deps.sh build)"; echo "RESULT 0 passed, 1 failed"; exit 1; }

check "make certs into the work directory" "$ROOT/scripts/certs.sh" certs
C=$WORK/certs
# tls NAME [CA]: the TLS flags of identity NAME, trusting CA (default ca).
tls() { echo "--tls-cert $C/$1.pem --tls-key $C/$1-key.pem --tls-ca $C/${2:-ca}.pem"; }

# Without check-quorum a follower that hears a higher term takes it even while its leader is
# alive: so the wrong peers below would move the term if any of their messages got through.
TLS_CERTS=certs METRICS_BASE=$mbase lc start kv 3 "$base" kvd --check-quorum false
check "the TLS cluster elects a leader (local-cluster.sh wait, with the client certificate)" lc wait kv 15
servers=$(cat kv/servers)
read -ra client <kv/tls-client
kv() { "$BIN/kvcli" "${client[@]}" --servers "$servers" --timeout 5s "$@"; }
check "the nodes log that they run TLS" bash -c "grep -l 'TLS on (certificate' kv/node-*.log | wc -l | grep -qx 3"
check "authorized: put" kv put k v1
check "authorized: get" test "$(kv get k)" = v1
check "the environment names the identity (RAFTKV_TLS_*)" test "$(RAFTKV_TLS_CERT=$C/client.pem \
  RAFTKV_TLS_KEY=$C/client-key.pem RAFTKV_TLS_CA=$C/ca.pem "$BIN/kvcli" --servers "$servers" get k)" = v1

# ---- bad options: exit 2 before anything is made ----
check "a partial set exits 2 naming what is missing" expect 2 "tls-key|RAFTKV_TLS_KEY" \
  "$BIN/kvcli" --tls-cert "$C/client.pem" --tls-ca "$C/ca.pem" --servers "$servers" get k
check "a missing file exits 2 naming it" expect 2 "nosuch\.pem" \
  "$BIN/kvcli" --tls-cert "$C/nosuch.pem" --tls-key "$C/client-key.pem" --tls-ca "$C/ca.pem" get k
check "a key that is not the certificate's exits 2" expect 2 "key" \
  "$BIN/kvcli" --tls-cert "$C/client.pem" --tls-key "$C/kv1-key.pem" --tls-ca "$C/ca.pem" get k
check "kvd with a partial set exits 2" expect 2 "TLS" \
  "$BIN/kvd" --id 1 --peers 1=127.0.0.1:$((base + 9)) --data-dir bad --tls-cert "$C/kv1.pem"

# ---- an authorized client loop, served while the others are refused ----
# Bounded: 60 s at most, or until stop-loop exists. Counts successes and failures.
rm -f stop-loop
(
  ok=0 bad=0 t0=$SECONDS i=0
  while [ ! -e stop-loop ] && [ $((SECONDS - t0)) -lt 60 ]; do
    i=$((i + 1))
    if "$BIN/kvcli" "${client[@]}" --servers "$servers" --timeout 3s put loop "$i" 2>>loop.err; then
      ok=$((ok + 1))
    else
      bad=$((bad + 1))
    fi
    echo "$ok $bad" >loop.count
  done
) &
pids+=($!)

# refused_by [CAUSE]: the refusals every node counted (raftkv_rpc_tls_refused_total, the sum
# over its causes, or CAUSE's series alone).
refused_by() {
  local a sum=0 v
  for a in $(cat kv/metrics); do
    v=$(curl -s --max-time 3 "http://$a/metrics" | awk -v c="${1:-}" '
      $1 ~ /^raftkv_rpc_tls_refused_total\{/ && (c == "" || $1 == "raftkv_rpc_tls_refused_total{cause=\"" c "\"}") { s += $2 }
      END { print s + 0 }')
    sum=$((sum + v))
  done
  echo "$sum"
}
refused_total() { refused_by ""; }
# counted BEFORE CAUSE: the total rose above BEFORE (and the cause's series is above 0).
counted() {
  local now
  now=$(refused_total)
  [ "$now" -gt "$1" ] || { echo "    refusals counted: $now, before: $1"; return 1; }
  [ "$(refused_by "$2")" -gt 0 ] || { echo "    no refusal counted with cause $2"; return 1; }
}
# logged_once PATTERN ATTEMPTS: the nodes' logs hold the cause, fewer times than ATTEMPTS.
logged() {
  local n
  n=$(cat kv/node-*.log | grep -Ec -- "$1")
  [ "$n" -ge 1 ] && [ "$n" -lt "$2" ] || { echo "    '$1' logged $n times for $2 attempts"; return 1; }
}
first=${servers%%,*}
fport=${first##*:}

# A refused client, 20 times over (as a client retrying; each kvcli also retries within its
# fail-fast second): each exits 1 naming the cause.
# attempts N PATTERN CMD...: N runs at once (bounded by CHECK_TIMEOUT); all exit 1 with PATTERN
# on stderr.
attempts() {
  local n=$1 pattern=$2 i rc ok=0 runs=()
  shift 2
  for ((i = 0; i < n; i++)); do
    (timeout -k 2s "$CHECK_TIMEOUT" "$@" >/dev/null 2>"attempt-$i.err"; echo $? >"attempt-$i.rc") &
    runs+=($!)
  done
  wait "${runs[@]}"
  for ((i = 0; i < n; i++)); do
    rc=$(cat "attempt-$i.rc")
    if [ "$rc" != 1 ] || ! grep -Eq -- "$pattern" "attempt-$i.err"; then
      [ $ok = 0 ] && echo "    $* -> exit $rc (want 1), stderr: $(head -c 300 "attempt-$i.err")"
      ok=1
    fi
  done
  head -n 1 attempt-0.err | sed 's/^/    stderr: /'
  return $ok
}

# 1. A TLS client that presents no certificate (kvcli cannot: TLS options come in threes).
r0=$(refused_total)
no_cert() {
  local i
  for i in $(seq 19); do
    timeout 5 openssl s_client -connect "$first" -CAfile "$C/ca.pem" </dev/null >/dev/null 2>&1
  done
  # With TLS 1.3 the client's handshake ends before the server has checked it: the refusal is
  # an alert on the first read, so this one waits a little before it hangs up.
  sleep 0.5 | timeout 5 openssl s_client -connect "$first" -CAfile "$C/ca.pem" >s_client.out 2>&1
  return 0
}
no_cert
check "no certificate (openssl s_client): refused with an alert" grep -q "alert certificate required" s_client.out
check "no certificate: counted" counted "$r0" no_cert
check "no certificate: logged once for 20 attempts" logged "refusing connection from .*: the client sent no certificate" 20

# refused WHAT CLIENT_PATTERN CAUSE LOG_PATTERN CMD...: CMD, 20 times at once, each exits 1
# with CLIENT_PATTERN on stderr; the nodes count the refusals (CAUSE's series among them) and
# log LOG_PATTERN, fewer than 20 times.
refused() {
  local what=$1 client_pattern=$2 cause=$3 log_pattern=$4 r0
  shift 4
  r0=$(refused_total)
  check "$what: exit 1 naming the cause (20 attempts)" attempts 20 "$client_pattern" "$@"
  check "$what: counted by the server" counted "$r0" "$cause"
  check "$what: logged once for 20 attempts" logged "$log_pattern" 20
}
read -ra other <<<"$(tls other)"
read -ra expired <<<"$(tls expired)"
refused "another CA's certificate" "TLS handshake with .* failed: .*unknown ca" unknown_ca \
  "refusing connection from .*: client certificate refused: unable to get local issuer" \
  "$BIN/kvcli" "${other[@]}" --servers "$first" --timeout 2s get k
refused "an expired certificate" "TLS handshake with .* failed: .*certificate expired" expired \
  "refusing connection from .*: client certificate refused: certificate has expired" \
  "$BIN/kvcli" "${expired[@]}" --servers "$first" --timeout 2s get k
refused "plain kvcli on the TLS port" "the server requires TLS" plain_client \
  "refusing connection from .*: plain TCP on a TLS port" \
  "$BIN/kvcli" --servers "$first" --timeout 2s get k
# The client distrusting the server (kvcli trusting another CA): refused by the client, which
# the server counts as a failed handshake. That cause is also a client that exits in the middle
# of a handshake (a kvcli done before its connections to other servers are up), which may have
# been logged first, the 10 s before: either line is this cause's.
refused "a client that does not trust the server's CA" "TLS handshake with .* failed: certificate verify failed" \
  handshake "refusing connection from .*: the client (refused the handshake|closed the connection during the TLS handshake)" \
  "$BIN/kvcli" --tls-cert "$C/client.pem" --tls-key "$C/client-key.pem" --tls-ca "$C/other-ca.pem" \
  --servers "$first" --timeout 2s get k

# kvcli with TLS on a plain kvd.
lc start plain 1 $((base + 50)) kvd
check "a plain kvd elects itself" lc wait plain 15
check "TLS kvcli on a plain kvd: exit 1 naming TLS (20 attempts)" attempts 20 "TLS handshake with .* failed: .*the server runs without TLS" \
  "$BIN/kvcli" "${client[@]}" --servers "$(cat plain/servers)" --timeout 2s get k
check "TLS on the plain port: logged once for 20 attempts (plain kvd)" \
  bash -c "n=\$(grep -c 'a TLS handshake on a plain port' plain/node-1.log); [ \$n -ge 1 ] && [ \$n -lt 20 ]"

# ---- peers with a wrong certificate ----
status_json() { "$BIN/kvcli" "${client[@]}" --servers "$servers" --timeout 3s --json status; }
# term_leader: "TERM LEADER" of the node that leads.
term_leader() {
  status_json | grep -o '"role":"leader","term":[0-9]*,"leader":[0-9]*' | head -1 | sed 's/.*"term":\([0-9]*\),"leader":\([0-9]*\)/\1 \2/'
}
before=$(term_leader)
read -ra stranger <<<"$(tls other)"
# A 4th node with another CA's certificate joins, after the operator added it: it must not
# catch up (its match index stays 0).
kv member add 4=127.0.0.1:$((base + 4)) >/dev/null
"$BIN/kvd" --id 4 --join "$servers" --listen 127.0.0.1:$((base + 4)) --data-dir joiner \
  "${stranger[@]}" >joiner.log 2>&1 &
pids+=($!)
joiner=$!
# An impostor of node 3: the right peers list, another port, no pre-vote (it would campaign
# with a higher term at once if its messages got through), another CA's certificate.
"$BIN/kvd" --id 3 --listen 127.0.0.1:$((base + 5)) --peers "1=127.0.0.1:$((base + 1)),2=127.0.0.1:$((base + 2)),3=127.0.0.1:$((base + 5))" \
  --data-dir impostor --pre-vote false --log-level debug "${stranger[@]}" >impostor.log 2>&1 &
pids+=($!)
sleep 5
after=$(term_leader)
check "wrong peers: the cluster has a leader before and after ($before / $after)" test -n "$before" -a -n "$after"
check "wrong peers: the term and the leader do not move in 5 s" test "$before" = "$after"
learner_match() { kv member list | awk '$1 == 4 {print $4}'; }
check "the joiner did not catch up (learner 4's match index: $(learner_match))" test "$(learner_match)" = 0
kill "$joiner" "${pids[-1]}" 2>/dev/null
wait "$joiner" "${pids[-1]}" 2>/dev/null
kv member remove 4 >/dev/null
check "the joiner's log names the TLS failure" grep -Eq "WARN .*--join: no member answered yet .*TLS handshake with .* failed: .*unknown ca" joiner.log
# (A peer connection's failures are logged at debug level only: lib/rpc's client.)
check "the impostor's log names the TLS failure (at debug level)" grep -Eq "TLS handshake with .* failed: .*unknown ca" impostor.log

touch stop-loop
wait "${pids[0]}" 2>/dev/null
read -r ok bad <loop.count
echo "    authorized loop: $ok successes, $bad failures during the refusals"
check "the authorized client was served throughout ($ok successes, $bad failures)" test "$ok" -ge 20 -a "$bad" = 0

# ---- raftd ----
TLS_CERTS=certs lc start raft 3 $((base + 20)) raftd
rservers=$(cat raft/servers)
read -ra rclient <raft/tls-client
check "raftcli with the client certificate: propose" "$BIN/raftcli" "${rclient[@]}" --servers "$rservers" --timeout 10s propose x
check "raftcli without a certificate is refused (exit 1, naming TLS)" expect 1 "the server requires TLS" \
  "$BIN/raftcli" --servers "$rservers" --timeout 2s propose y
check "raftcli status without a certificate: every node refuses it (requires TLS)" \
  bash -c "\"$BIN/raftcli\" --servers $rservers --timeout 2s status | grep -c "unreachable: the server requires TLS" | grep -qx 3"

# ---- the [tls] section of an INI file ----
cat >tls.ini <<EOF
[node]
id = 1
peers = 1=127.0.0.1:$((base + 60))
data_dir = ini-data
[tls]
cert = $C/kv1.pem
key = $C/kv1-key.pem
ca = $C/ca.pem
EOF
"$BIN/kvd" --config tls.ini >ini.log 2>&1 &
ini_pid=$!
pids+=($ini_pid)
ini_serves() {
  local i
  for i in $(seq 50); do
    grep -q "over TLS" ini.log && "$BIN/kvcli" "${client[@]}" --servers 127.0.0.1:$((base + 60)) --timeout 3s put ini 1 && return 0
    sleep 0.1
  done
  sed 's/^/    /' ini.log
  return 1
}
check "kvd --config with a [tls] section serves TLS" ini_serves
kill "$ini_pid"
wait "$ini_pid" 2>/dev/null

# ---- MapReduce with TLS ----
printf 'a b c\n' >in-1.txt
printf 'b c d\n' >in-2.txt
read -ra coord_tls <<<"$(tls mr-coordinator)"
read -ra worker_tls <<<"$(tls mr-worker)"
"$BIN/mrcoordinator" "${coord_tls[@]}" --listen 127.0.0.1:$((base + 70)) --log-level info \
  --nreduce 2 --workdir . --addr-file coord.addr in-1.txt in-2.txt 2>coord.log &
coord_pid=$!
pids+=($coord_pid)
for _ in $(seq 50); do [ -s coord.addr ] && break; sleep 0.1; done
timeout 20 "$BIN/mrworker" --coordinator 127.0.0.1:$((base + 70)) --give-up 1s "$BIN/mrapps/wc.so" 2>plain-worker.log
check "a plain mrworker gets nothing from a TLS coordinator, and its log says why" \
  bash -c "! compgen -G 'mr-out-*' >/dev/null && grep -q 'the server requires TLS' plain-worker.log"
timeout 20 "$BIN/mrworker" "${worker_tls[@]}" --coordinator 127.0.0.1:$((base + 70)) "$BIN/mrapps/wc.so" 2>worker.log
timeout 10 tail --pid="$coord_pid" -f /dev/null
wait "$coord_pid"
coord_rc=$?
check "mrworker with TLS runs the job (the coordinator exits 0; c counted twice)" \
  bash -c "[ $coord_rc = 0 ] && cat mr-out-* | grep -qx 'c 2'"

check_result
