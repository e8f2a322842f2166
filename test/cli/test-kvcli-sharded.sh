#!/usr/bin/env bash
# kvcli on a sharded cluster, as `make run-sharded` starts it (scripts/sharded-cluster.sh, here
# in a temp dir on random ports): put then get through the shard clerk (KV_CTRLERS); keys on
# every group; kvcli shard status; after kill -9 of a group's leader the key's group still
# answers; after `kvcli shard leave 101` and settling every value written before is still there
# and 101 owns no shard; hash-tagged keys share a shard. Every step is bounded in time.
#   BIN=bin test/cli/test-kvcli-sharded.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-kvcli-sharded
sc() { timeout -k 2s 150s "$ROOT/scripts/sharded-cluster.sh" "$@"; }
trap 'sc stop "$WORK/sh" >/dev/null 2>&1; suite_cleanup' EXIT
kv() { timeout -k 2s 40s "$BIN/kvcli" --timeout 30s "$@"; }
# is WANT CMD...: CMD exits 0 and prints exactly WANT.
is() {
  local want=$1 got
  shift
  got=$("$@") || { echo "    $* failed"; return 1; }
  [ "$got" = "$want" ] || { echo "    $* printed '$got', want '$want'"; return 1; }
}

check "start: 3 controllers, groups 100-102 joined, every shard served" sc start "$WORK/sh" "$base" 90
export KV_CTRLERS=$(cat "$WORK/sh/ctrlers")
check "put a 1 then get a prints 1" bash -c 'kv() { "$BIN/kvcli" --timeout 30s "$@"; }; kv put a 1 && [ "$(kv get a)" = 1 ]'

# Keys on every group: each key's group (shard key) is one of the config's.
keys=()
for i in $(seq 20); do keys+=("k$i"); done
put_all() { local k; for k in "${keys[@]}"; do kv put "$k" "v-$k" >/dev/null || return 1; done; }
get_all() {
  local k v
  for k in "${keys[@]}"; do
    v=$(kv get "$k") || { echo "    get $k failed"; return 1; }
    [ "$v" = "v-$k" ] || { echo "    get $k printed '$v'"; return 1; }
  done
}
check "20 keys written" put_all
groups_of_keys() { local k; for k in "${keys[@]}"; do kv shard key "$k" | awk '{print $4}'; done | sort -u | paste -sd,; }
check "... they fall on all three groups" is 100,101,102 groups_of_keys
check "... and read back" get_all
status_rows() { kv shard status | awk '$1 ~ /^10[012]$/ && $3 == "leader"' | wc -l; }
check "shard status: one leader row per group" is 3 status_rows
check "shard status --json: nine nodes" bash -c '[ "$("$BIN/kvcli" --timeout 10s shard status --json | grep -o "\"addr\"" | wc -l)" = 9 ]'

# kill -9 of the leader of a's group.
gid=$(kv shard key a | awk '{print $4}')
leader=$(kv shard status | awk -v g="$gid" '$1 == g && $3 == "leader" {print $2}')
port=${leader##*:}
id=$((port - base - 10 * (gid - 99)))
echo "    a is on gid $gid; killing its leader $leader (node $id)"
kill -9 "$(cat "$WORK/sh/g$gid/node-$id.pid")"
check "after kill -9 of the leader of a's group: put a 2, get a prints 2" \
  bash -c 'kv() { "$BIN/kvcli" --timeout 30s "$@"; }; kv put a 2 && [ "$(kv get a)" = 2 ]'
check "... every other key still reads" get_all

# A key of 101's, read right after the leave: its new owner is still pulling it (WRONG_GROUP),
# so the clerk waits, asks the controller again and retries until the shard is served.
k101=$(for k in "${keys[@]}"; do kv shard key "$k" | awk -v k="$k" '$4 == 101 {print k}'; done | head -1)
check "shard leave 101, then at once get $k101 (a shard of 101's, moving)" \
  bash -c '"$BIN/kvcli" shard leave 101 >/dev/null && [ "$("$BIN/kvcli" --timeout 30s get "$1")" = "v-$1" ]' _ "$k101"
check "... settles: every shard served again" sc wait "$WORK/sh" 60
owns101() { kv shard config --json | grep -o '"shards":\[[^]]*\]' | tr -c '0-9' '\n' | grep -cx 101 || true; }
check "... 101 owns no shard in shard config" is 0 owns101
check "... get a still prints 2" is 2 kv get a
check "... every key written before still reads (their shards moved)" get_all
check "... and writes still work" bash -c 'kv() { "$BIN/kvcli" --timeout 30s "$@"; }; kv append a 3 && [ "$(kv get a)" = 23 ]'

# Hash tags: {x}a and {x}b hash only "x".
shard_of() { kv shard key "$1" | awk '{print $2}'; }
check "{x}a and {x}b report the same shard, that of x" \
  bash -c '[ "$1" = "$2" ] && [ "$2" = "$3" ]' _ "$(shard_of '{x}a')" "$(shard_of '{x}b')" "$(shard_of x)"
check "... and both read back" bash -c 'kv() { "$BIN/kvcli" --timeout 30s "$@"; }; kv put "{x}a" A && kv put "{x}b" B && [ "$(kv get "{x}a")$(kv get "{x}b")" = AB ]'

check "stop" sc stop "$WORK/sh"
check_result
