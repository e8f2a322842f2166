#!/usr/bin/env bash
# kvcli's shard commands against a real 3-node shardctrld on 127.0.0.1: join of two groups in
# one call, the config table (shard ranges, servers in their Join order) and --json, move, a
# Join that rebalances, leave, an old config by number, a history that survives restarting every
# node; each refusal of the controller (exit 1 and its message, nothing changed), usage errors
# (exit 2), shardctrld's flags (--help, a bad flag, --shards bounds), and an unreachable
# controller (exit 1 within about a second).
#   BIN=bin test/cli/test-kvcli-shard.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-kvcli-shard
lc start c3 3 "$base" shardctrld --log-level warn
export KV_CTRLERS=$(cat c3/servers)
ctl() { "$BIN/kvcli" --timeout 10s shard "$@"; }
# out CMD...: CMD's stdout (exit 0 required) is exactly the text on stdin.
out() {
  local want got
  want=$(cat)
  got=$("$@") || { echo "    $* failed"; return 1; }
  [ "$got" = "$want" ] || { printf '    %s printed:\n%s\n    want:\n%s\n' "$*" "$got" "$want"; return 1; }
}
num() { ctl config --json | sed -n 's/^{"num":\([0-9]*\),.*/\1/p'; }

# Config 0 before any write; the controller answers once a leader is elected.
check "config 0: every shard on no group" out ctl config <<'EOF'
config 0: 10 shards, 0 groups
gid  shards  count  servers
0    0-9        10  (no group)
EOF

# Server lists deliberately not sorted: they must come back verbatim.
g1=127.0.0.1:9013,127.0.0.1:9011,127.0.0.1:9012
g2=127.0.0.1:9022,127.0.0.1:9021
check "join --initial of two groups in one call, at config 0, makes config 1" out ctl join --initial 1=$g1 2=$g2 <<<"config 1"
config1=$(cat <<EOF
config 1: 10 shards, 2 groups
gid  shards  count  servers
1    0-4         5  $g1
2    5-9         5  $g2
EOF
)
check "config: each gid's shards as ranges, servers in Join order" out ctl config <<<"$config1"
check "--json: num, shards, groups (as a trailing argument)" out ctl config --json <<EOF
{"num":1,"shards":[1,1,1,1,1,2,2,2,2,2],"groups":{"1":["127.0.0.1:9013","127.0.0.1:9011","127.0.0.1:9012"],"2":["127.0.0.1:9022","127.0.0.1:9021"]}}
EOF
check "--json as a global flag, with NUM" test "$("$BIN/kvcli" --json shard config 1)" = "$(ctl config --json)"

check "move shard 7 to gid 1 makes config 2" out ctl move 7 1 <<<"config 2"
check "... ranges with a gap: 0-4,7 and 5-6,8-9 (move does not rebalance)" out ctl config <<EOF
config 2: 10 shards, 2 groups
gid  shards   count  servers
1    0-4,7        6  $g1
2    5-6,8-9      4  $g2
EOF

# The rebalancing rule (lib/shardctrl/rebalance.h): targets 4/3/3, the extra shard to gid 1
# (it owns the most); gid 1 frees its highest shards 7 and 4, gid 2 frees 9; they go to gid 3.
g3=127.0.0.1:9031
check "join of a third group makes config 3" out ctl join 3=$g3 <<<"config 3"
check "... and moves only the shards the new group needs" out ctl config <<EOF
config 3: 10 shards, 3 groups
gid  shards  count  servers
1    0-3         4  $g1
2    5-6,8       3  $g2
3    4,7,9       3  $g3
EOF
check "leave of gid 1 makes config 4" out ctl leave 1 <<<"config 4"
check "... its shards go to the groups below their target, by gid" out ctl config <<EOF
config 4: 10 shards, 2 groups
gid  shards     count  servers
2    0-1,5-6,8      5  $g2
3    2-4,7,9        5  $g3
EOF
check "config NUM: an old config, exactly as it was made" out ctl config 1 <<<"$config1"
check "config NUM past the latest: the latest" test "$(ctl config 99 | head -1)" = "config 4: 10 shards, 2 groups"
check "--ctrlers wins over \$KV_CTRLERS" \
  test "$(KV_CTRLERS=127.0.0.1:1 "$BIN/kvcli" --ctrlers "$KV_CTRLERS" shard config 0 | head -1)" = "config 0: 10 shards, 0 groups"

# ---- refusals: exit 1, the controller's message, nothing changed ----
refused() { # NAME PATTERN ARGS...
  local name=$1 pattern=$2
  shift 2
  check "refused, $name: exit 1 with the controller's message" expect 1 "^kvcli: $pattern" \
    "$BIN/kvcli" --timeout 10s shard "$@"
}
refused "leave of an unknown gid" "leave: group 42 is not in config 4$" leave 42
refused "move to an unknown gid" "move: group 42 is not in config 4$" move 3 42
refused "move of a shard out of range" "move: shard 10 is out of range \\(the controller has 10 shards: 0-9\\)" move 10 2
refused "a gid joined twice" "join: group 2 is already in config 4$" join 2=127.0.0.1:9029
refused "a gid given twice in one join" "join: group 5 is given twice$" join 5=127.0.0.1:9051 5=127.0.0.1:9052
refused "join of gid 0" "join: gid 0 is not a group" join 0=127.0.0.1:9001
check "... and none of them made a config" test "$(num)" = 4
check "join --initial past config 0: exit 0, nothing joined" out ctl join --initial 7=127.0.0.1:9071 \
  <<<"config 4 exists: nothing joined (--initial)"
check "... and it made no config" test "$(num)" = 4
# kvcli status on a shardctrld node (the compose file's health check): its role, the latest config.
first=${KV_CTRLERS%%,*}
check "kvcli status on one shardctrld node: exit 0, its latest config in the last column" bash -c \
  "'$BIN/kvcli' --servers $first status | awk 'NR == 1 && \$NF != \"config\" {exit 1} NR == 2 && \$NF != 4 {exit 1} END {exit NR != 2}'"

# ---- usage errors: exit 2 with a usage line, nothing sent ----
usage() { # NAME ARGS...
  local name=$1
  shift
  check "usage error, $name: exit 2" expect 2 "usage: kvcli .*shard" "$BIN/kvcli" --timeout 10s "$@"
}
usage "no subcommand" shard
usage "unknown subcommand" shard frob
usage "join without a group" shard join
usage "join GID without =" shard join 5
usage "join GID= without servers" shard join 5=
usage "join with a non-numeric gid" shard join x=127.0.0.1:9001
usage "join with a server not HOST:PORT" shard join 5=127.0.0.1
usage "leave without a gid" shard leave
usage "leave with a non-numeric gid" shard leave abc
usage "move with one argument" shard move 1
usage "move with a non-numeric shard" shard move a 1
usage "move with a non-numeric gid" shard move 1 b
usage "config with a non-numeric NUM" shard config x
usage "config with two NUMs" shard config 1 2
check "no --ctrlers and no \$KV_CTRLERS: exit 2" expect 2 "no shard controllers given" \
  env -u KV_CTRLERS "$BIN/kvcli" shard config
check "... and nothing of it was sent" test "$(num)" = 4

# ---- the history survives restarting every node (rebuilt from the log) ----
lc stop c3
lc start c3 3 "$base" shardctrld --log-level warn
check "after a restart of every node: config 1 unchanged" out ctl config 1 <<<"$config1"
check "... and the latest is config 4" test "$(num)" = 4

# ---- --json for the other shard commands ----
json_move() { local n; n=$(num); out "$BIN/kvcli" --timeout 10s --json shard move 0 3 <<<"{\"config\":$((n + 1))}"; }
check "--json move: {\"config\":N}" json_move
json_key() {
  local text want
  text=$(ctl key 'user{42}.name') || return 1
  want=$(sed -E 's/^shard ([0-9]+) gid ([0-9]+) \(config ([0-9]+), ([0-9]+) shards, hashed: (.*)\)$/{"key":"user{42}.name","shard":\1,"gid":\2,"config":\3,"shards":\4,"hashed":"\5"}/' <<<"$text")
  [ "$want" != "$text" ] && grep -q '"hashed":"42"' <<<"$want" && out "$BIN/kvcli" --timeout 10s --json shard key 'user{42}.name' <<<"$want"
}
check "--json key: the same facts as the text, the hash tag" json_key

lc stop c3

# ---- an unreachable controller: exit 1, within about a second ----
# (fail-fast: without it kvcli would wait out --timeout, 10 s)
unreachable() {
  local start=$(date +%s%N) rc ms
  expect 1 "^kvcli: cannot connect to 127.0.0.1:$((base + 1)): Connection refused" \
    "$BIN/kvcli" --timeout 10s shard config
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "    (failed in $ms ms)"
  [ $rc = 0 ] && [ $ms -lt 3000 ]
}
check "no controller answers: exit 1, cannot connect, in under 3 s" unreachable

# ---- shardctrld's flags ----
check "shardctrld --help: exit 0, lists --shards" bash -c "'$BIN/shardctrld' --help | grep -q -- '--shards'"
check "shardctrld bad flag: exit 2" expect 2 "unknown flag" "$BIN/shardctrld" --nope
one="--id 1 --peers 1=127.0.0.1:$((base + 50)) --data-dir d1"
check "shardctrld --shards 0: exit 2" expect 2 "^shardctrld: --shards: bad value '0': expected an integer from 1 to 16384" "$BIN/shardctrld" $one --shards 0
check "shardctrld --shards 16385: exit 2" expect 2 "^shardctrld: --shards: bad value '16385': expected an integer from 1 to 16384" "$BIN/shardctrld" $one --shards 16385
# The largest count works: a one-member controller with 16384 shards.
lc start c1 1 $((base + 50)) shardctrld --log-level warn --shards 16384
check "shardctrld --shards 16384: config 0 has 16384 shards" out \
  "$BIN/kvcli" --ctrlers "$(cat c1/servers)" --timeout 10s shard config <<'EOF'
config 0: 16384 shards, 0 groups
gid  shards   count  servers
0    0-16383  16384  (no group)
EOF
lc stop c1
check_result
