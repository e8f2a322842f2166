#!/usr/bin/env bash
# Metrics and health endpoints (issue 17) on real processes, all on 127.0.0.1: a 3-node kvd, a
# 3-node raftd, a shardctrld with one group of 3 shardkvd, and an mrcoordinator, each with
# --metrics-listen. Every daemon's /metrics passes `promtool check metrics`; key metrics have
# sane values after some traffic (commit index > 0 on every node, calls by method and status,
# the latency histograms, bad input counted, each shard's state, the coordinator's tasks);
# /healthz and /readyz answer 200 on a healthy cluster and /healthz 503 on a node cut off from
# the others (SIGSTOP of the other two), first a follower (which still names its old leader),
# then the leader, and 200 again once they are back; a Prometheus server (Debian's) scrapes
# the kvd cluster and a query through its HTTP API returns every node's commit index; a fourth
# node joins as a learner: healthy, not ready until promoted.
#   BIN=bin test/metrics/test-metrics.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-metrics
for tool in promtool prometheus curl; do
  command -v $tool >/dev/null || { echo "not ok - $tool is missing (scripts/deps.sh test)"; echo "RESULT 0 passed, 1 failed"; exit 1; }
done
mbase=$((base + 200))
stopped=()
prom_pid=
coord_pid=
cleanup() {
  local p
  for p in "${stopped[@]}"; do kill -CONT "$p" 2>/dev/null; done
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  [ -n "$coord_pid" ] && kill "$coord_pid" 2>/dev/null && wait "$coord_pid" 2>/dev/null
  # The sharded cluster's clusters are one level down (sh/ctrl, sh/g100): suite_cleanup only
  # stops those directly under WORK.
  [ -d sh ] && SHARDED_GROUPS=1 "$ROOT/scripts/sharded-cluster.sh" stop sh 2>/dev/null
  suite_cleanup
}
trap cleanup EXIT

METRICS_BASE=$mbase lc start kv 3 "$base" kvd --log-level warn
# Without check-quorum, raftd's leader keeps leading when cut off: its /healthz must see that
# it has not heard from a quorum.
METRICS_BASE=$((mbase + 10)) lc start raft 3 $((base + 10)) raftd --log-level warn --check-quorum false
check "the kvd cluster elects a leader" lc wait kv 15
check "a controller and one shard group serve every shard" env METRICS_BASE=$((mbase + 20)) \
  SHARDED_GROUPS=1 "$ROOT/scripts/sharded-cluster.sh" start sh $((base + 20)) 60
printf 'a b c\n' >in-1.txt
printf 'b c d\n' >in-2.txt
"$BIN/mrcoordinator" --listen 127.0.0.1:$((base + 50)) --metrics-listen 127.0.0.1:$((mbase + 50)) \
  --log-level warn --workdir . --addr-file coord.addr in-1.txt in-2.txt 2>coord.log &
coord_pid=$!
for _ in $(seq 50); do [ -s coord.addr ] && break; sleep 0.1; done

kv_m=($(cat kv/metrics)) raft_m=($(cat raft/metrics))
all_m=("${kv_m[@]}" "${raft_m[@]}" $(cat sh/ctrl/metrics sh/g100/metrics) 127.0.0.1:$((mbase + 50)))
kv() { "$BIN/kvcli" --servers "$(cat kv/servers)" --timeout 5s "$@"; }
check "traffic: a put and a get on kvd" test "$(kv put a 1 >/dev/null && kv get a)" = 1
check "traffic: a put through the shard group" env KV_CTRLERS="$(cat sh/ctrlers)" "$BIN/kvcli" --timeout 5s put s 1
raft_propose() { "$BIN/raftcli" --servers "$(cat raft/servers)" --timeout 5s propose x >/dev/null; }
check "traffic: a raftd proposal" raft_propose
# A frame announcing 4 GiB: bad input, the connection closed, the node unaffected.
printf '\xff\xff\xff\xff' | timeout 2 bash -c "cat >/dev/tcp/127.0.0.1/$((base + 1))" 2>/dev/null

# metric ADDR NAME{LABELS}: the value of that exact series ("" when absent).
metric() { curl -s --max-time 3 "http://$1/metrics" | awk -v s="$2" '$1 == s {print $2; found = 1} END {exit !found}'; }
# code ADDR PATH: the HTTP status of GET PATH.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$1$2"; }
# until_true SECONDS COMMAND...: polls COMMAND every 0.2 s.
until_true() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 5; i++)); do "$@" && return 0; sleep 0.2; done
  return 1
}

promtool_ok() {
  local out
  out=$(curl -sf --max-time 3 "http://$1/metrics") || { echo "    $1: no /metrics"; return 1; }
  [ -n "$out" ] || { echo "    $1: empty"; return 1; }
  printf '%s\n' "$out" | promtool check metrics 2>&1 | sed 's/^/    /' >&2
  printf '%s\n' "$out" | promtool check metrics >/dev/null 2>&1
}
for a in "${all_m[@]}"; do
  check "promtool check metrics passes on $a" promtool_ok "$a"
done

positive() { local v; v=$(metric "$1" "$2") && awk -v v="$v" 'BEGIN {exit !(v > 0)}'; }
raft_leader() { local a; for a in "${raft_m[@]}"; do [ "$(metric "$a" raftkv_raft_is_leader)" = 1 ] && echo "$a" && return 0; done; return 1; }
check "the raftd cluster elects a leader" until_true 15 raft_leader >/dev/null
commit_everywhere() { local a; for a in "${kv_m[@]}"; do positive "$a" raftkv_raft_commit_index || return 1; done; }
check "every kvd node's commit index is > 0 after a put" until_true 5 commit_everywhere
leader_m=
for a in "${kv_m[@]}"; do [ "$(metric "$a" raftkv_raft_is_leader)" = 1 ] && leader_m=$a; done
check "one kvd node says it leads" test -n "$leader_m"
calls_ok() { local a; for a in "${kv_m[@]}"; do positive "$a" 'raftkv_rpc_calls_total{method="kv.Op",status="OK"}' && return 0; done; return 1; }
check "kv.Op calls counted by method and status" calls_ok
# Clerks that start on a follower move to the leader after their first relayed operation (the
# leader names itself in a relayed reply): 32 clerks for 2 s, the followers serve a few calls
# each (one per clerk that started there, and the earlier puts), the leader thousands.
relayed_few() {
  local a n f=0 l=0
  "$BIN/kvbench" --servers "$(cat kv/servers)" --clients 32 --warmup 0s --duration 2s >/dev/null 2>&1 || return 1
  for a in "${kv_m[@]}"; do
    n=$(metric "$a" 'raftkv_rpc_calls_total{method="kv.Op",status="OK"}') || n=0
    if [ "$a" = "$leader_m" ]; then l=${n%.*}; else f=$((f + ${n%.*})); fi
  done
  echo "    kv.Op calls: leader $l, followers $f" >&2
  [ "$l" -ge 1000 ] && [ "$f" -le 100 ]
}
check "clerks move to the leader after a relayed operation" relayed_few
check "the leader timed proposal to commit" positive "$leader_m" raftkv_raft_proposal_commit_duration_seconds_count
check "the leader timed its saves and applies" bash -c "$(declare -f metric positive); positive $leader_m raftkv_raft_save_duration_seconds_count && positive $leader_m raftkv_raft_apply_duration_seconds_count"
check "request latency histogram of kv.Op has its +Inf bucket" bash -c "curl -s http://${kv_m[0]}/metrics http://${kv_m[1]}/metrics http://${kv_m[2]}/metrics | grep -q '^raftkv_rpc_request_duration_seconds_bucket{method=\"kv.Op\",le=\"+Inf\"} [1-9]'"
check "node 1 counted the bad frame" positive "${kv_m[0]}" raftkv_rpc_bad_input_total
check "leader changes seen" positive "${kv_m[0]}" raftkv_raft_leader_changes_total
check "raft state bytes > 0" positive "${kv_m[0]}" raftkv_raft_state_bytes
raft_commit() { local a; for a in "${raft_m[@]}"; do positive "$a" raftkv_raft_commit_index || return 1; done; }
check "every raftd node's commit index is > 0" until_true 5 raft_commit
g1=$(head -1 sh/g100/metrics)
check "shardkvd: shard 0 is serving in the only group" test "$(metric "$g1" 'raftkv_shardkv_shard_state{shard="0",state="serving"}')" = 1
check "shardkvd: and not pulling" test "$(metric "$g1" 'raftkv_shardkv_shard_state{shard="0",state="pulling"}')" = 0
check "shardkvd: the group is in a config > 0" positive "$g1" raftkv_shardkv_config_number
cm=127.0.0.1:$((mbase + 50))
check "mrcoordinator: 2 map tasks pending (no worker)" test "$(metric "$cm" 'raftkv_mr_tasks{kind="map",state="pending"}')" = 2
check "mrcoordinator: no reduce done" test "$(metric "$cm" 'raftkv_mr_tasks{kind="reduce",state="done"}')" = 0
check "mrcoordinator: /healthz and /readyz 200 while its job runs" test "$(code "$cm" /healthz)$(code "$cm" /readyz)" = 200200

all_healthy() { local a; for a in "${kv_m[@]}" "${raft_m[@]}" $(cat sh/ctrl/metrics sh/g100/metrics); do [ "$(code "$a" /healthz)" = 200 ] || return 1; done; }
check "/healthz is 200 on every Raft node" until_true 5 all_healthy
kv_ready() { local a; for a in "${kv_m[@]}"; do [ "$(code "$a" /readyz)" = 200 ] || return 1; done; }
check "/readyz is 200 on every kvd node" until_true 5 kv_ready
check "an unknown path is 404" test "$(code "${kv_m[0]}" /nope)" = 404
check "a POST is refused (501, evhttp's answer to a method not allowed)" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://${kv_m[0]}/metrics")" = 501

# isolate ID [DIR]: SIGSTOP the two other nodes of DIR (kv); back: SIGCONT them.
isolate() {
  local i dir=${2:-kv}
  stopped=()
  for i in 1 2 3; do
    [ "$i" = "$1" ] && continue
    kill -STOP "$(cat $dir/node-$i.pid)" && stopped+=("$(cat $dir/node-$i.pid)")
  done
}
back() { local p; for p in "${stopped[@]}"; do kill -CONT "$p"; done; stopped=(); }
unhealthy() { local c; c=$(code "$1" /healthz); [ "$c" != 200 ] && [ "$c" != 000 ]; }
healthy() { [ "$(code "$1" /healthz)" = 200 ]; }
leader_id=$(metric "${kv_m[0]}" raftkv_raft_leader_id)
follower=$(( leader_id % 3 + 1 ))
fm=127.0.0.1:$((mbase + follower))
isolate "$follower"
check "a follower cut off from the others: /healthz non-200 within 5 s" until_true 5 unhealthy "$fm"
echo "    its reason: $(curl -s --max-time 3 "http://$fm/healthz")"
check "... and /readyz non-200" test "$(code "$fm" /readyz)" = 503
back
check "... 200 again once the others are back" until_true 10 healthy "$fm"
check "the cluster has a leader again" "$ROOT/scripts/local-cluster.sh" wait kv 15
for a in "${kv_m[@]}"; do [ "$(metric "$a" raftkv_raft_is_leader)" = 1 ] && leader_m=$a; done
leader_id=$(( ${leader_m##*:} - mbase ))
isolate "$leader_id"
check "the leader cut off from the others: /healthz non-200 within 5 s" until_true 5 unhealthy "$leader_m"
echo "    its reason: $(curl -s --max-time 3 "http://$leader_m/healthz")"
back
check "... 200 again once the others are back" until_true 10 healthy "$leader_m"

rl=$(raft_leader)
isolate $(( ${rl##*:} - mbase - 10 )) raft
check "a raftd leader cut off, which does not step down (--check-quorum false): /healthz non-200 within 5 s" until_true 5 unhealthy "$rl"
echo "    its reason: $(curl -s --max-time 3 "http://$rl/healthz")"
check "... while it still says it leads" test "$(metric "$rl" raftkv_raft_is_leader)" = 1
back
check "... 200 again once the others are back" until_true 10 healthy "$rl"

# A Prometheus server scraping the kvd cluster every second.
pport=$((base + 60))
{
  echo "global: {scrape_interval: 1s, evaluation_interval: 1s}"
  echo "scrape_configs:"
  echo "  - job_name: kvd"
  echo "    static_configs:"
  echo "      - targets: [$(printf '"%s",' "${kv_m[@]}" | sed 's/,$//')]"
} >prometheus.yml
prometheus --config.file=prometheus.yml --storage.tsdb.path=tsdb \
  --web.listen-address=127.0.0.1:$pport >prometheus.log 2>&1 &
prom_pid=$!
# series_of: how many kvd series with a value > 0 the query returns.
series_of() {
  curl -s --max-time 3 "http://127.0.0.1:$pport/api/v1/query" \
    --data-urlencode 'query=raftkv_raft_commit_index{job="kvd"} > 0' |
    grep -o '"instance":"[^"]*"' | sort -u | wc -l
}
three_series() { [ "$(series_of)" = 3 ]; }
check "Prometheus's query API returns the commit index of each of the 3 nodes within 20 s" until_true 20 three_series
curl -s --max-time 3 "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=raftkv_raft_commit_index' |
  grep -o '"instance":"[^"]*"\|"value":\[[^]]*\]' | paste - - | sed 's/^/    /'

# A member added as a learner (local-cluster.sh join gives it METRICS_BASE + 4): healthy, not
# ready until promoted.
m4=127.0.0.1:$((mbase + 4))
join4() {
  kv member add "4=127.0.0.1:$((base + 4))" >/dev/null &&
    lc join kv 4 "127.0.0.1:$((base + 4))" "127.0.0.1:$((base + 1))"
}
check "a joining learner gets its own metrics port" join4
learner_not_ready() { healthy "$m4" && [ "$(curl -s --max-time 3 "http://$m4/readyz")" = "a learner, not yet a voter" ]; }
check "the learner: /healthz 200, /readyz 503 (a learner, not yet a voter)" until_true 5 learner_not_ready
ready4() { [ "$(code "$m4" /readyz)" = 200 ]; }
promote4() { kv member promote 4 >/dev/null; }
check "... promoted" promote4
check "... /readyz 200 within 5 s" until_true 5 ready4
check_result
