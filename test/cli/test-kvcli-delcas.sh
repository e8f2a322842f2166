#!/usr/bin/env bash
# kvcli del and cas, on a 3-node kvd cluster and then on a sharded cluster (shardkvd groups
# through the shard clerk): del of a present / absent key (plain and --json), cas --absent on
# an absent and a present key, cas OLD matching and not (exit 1 with the current value), cas on
# an absent key (exit 1, key not found), "" is not absent, usage errors; on the sharded cluster
# the same, and again after the key's shard moved to another group. Every step is bounded.
#   BIN=bin test/cli/test-kvcli-delcas.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-kvcli-delcas
sc() { timeout -k 2s 150s "$ROOT/scripts/sharded-cluster.sh" "$@"; }
trap 'sc stop "$WORK/sh" >/dev/null 2>&1; suite_cleanup' EXIT
kv() { timeout -k 2s 40s "$BIN/kvcli" --timeout 20s "$@"; }
KVCLI=("$BIN/kvcli" --timeout 20s)
# is WANT CMD...: CMD exits 0 and prints exactly WANT.
is() {
  local want=$1 got
  shift
  got=$("$@") || { echo "    $* failed"; return 1; }
  [ "$got" = "$want" ] || { echo "    $* printed '$got', want '$want'"; return 1; }
}
stdout_is() { [ "$(cat out.txt)" = "$1" ] || { echo "    stdout '$(cat out.txt)', want '$1'"; return 1; }; }

del_present() { kv put "$1" v >/dev/null && is deleted kv del "$1" &&
  expect 1 "^kvcli: $1: key not found$" "${KVCLI[@]}" get "$1"; }
del_json() { kv put "$1" v >/dev/null && is "{\"key\":\"$1\",\"deleted\":true}" kv --json del "$1" &&
  is "{\"key\":\"$1\",\"deleted\":false}" kv --json del "$1"; }
cas_absent_then_present() { is "" kv cas --absent "$1" first && is first kv get "$1" &&
  expect 1 "^kvcli: $1: compare failed: the current value is printed$" "${KVCLI[@]}" cas --absent "$1" again &&
  stdout_is first && is first kv get "$1"; }
cas_old() { is "" kv cas "$1" first second && is second kv get "$1" &&
  expect 1 "compare failed: the current value" "${KVCLI[@]}" cas "$1" first third && stdout_is second &&
  is second kv get "$1"; }
cas_missing() { expect 1 "^kvcli: $1: compare failed: key not found$" "${KVCLI[@]}" cas "$1" x y &&
  [ ! -s out.txt ] && expect 1 "key not found" "${KVCLI[@]}" get "$1"; }
cas_empty_is_not_absent() { kv put "$1" '' >/dev/null &&
  expect 1 "compare failed: the current value" "${KVCLI[@]}" cas --absent "$1" x && stdout_is "" &&
  is "" kv cas "$1" '' y && is y kv get "$1"; }
cas_json_bytes() { printf '\xff' | kv put "$1" - >/dev/null && expect 1 "" "${KVCLI[@]}" -w json cas "$1" nope c &&
  stdout_is "{\"key\":\"$1\",\"swapped\":false,\"exists\":true,\"value_base64\":\"/w==\"}"; }
cas_json() { is "{\"key\":\"$1\",\"swapped\":true}" kv --json cas --absent "$1" 'a"b' &&
  expect 1 "" "${KVCLI[@]}" --json cas "$1" nope c && stdout_is "{\"key\":\"$1\",\"swapped\":false,\"exists\":true,\"value\":\"a\\\"b\"}" &&
  expect 1 "" "${KVCLI[@]}" --json cas "$1-none" nope c && stdout_is "{\"key\":\"$1-none\",\"swapped\":false,\"exists\":false}"; }
cas_stdin() { kv put "$1" old >/dev/null && printf 'from\nstdin' | kv cas "$1" old - && is $'from\nstdin' kv get "$1"; }
delete_then_cas_absent() { kv del "$1" >/dev/null && is "" kv cas --absent "$1" again && is again kv get "$1"; }

# All of the above on whatever cluster kv reaches; $1 names it in the checks.
delcas_checks() {
  check "$1: del of a present key prints deleted; get then: key not found" del_present "$1-d"
  check "$1: del of an absent key prints not found, exit 0" is "not found" kv del "$1-never"
  check "$1: del --json" del_json "$1-dj"
  check "$1: cas --absent on an absent key swaps; on a present one exit 1, current value printed" \
    cas_absent_then_present "$1-ca"
  check "$1: cas OLD NEW swaps when OLD matches; exit 1 with the current value when not" cas_old "$1-ca"
  check "$1: cas on an absent key: exit 1, compare failed: key not found, nothing written" cas_missing "$1-cm"
  check "$1: a key put to \"\" is not absent; cas '' NEW matches it" cas_empty_is_not_absent "$1-ce"
  check "$1: cas --json: swapped, failed with the value, failed absent" cas_json "$1-cj"
  check "$1: cas KEY OLD -: NEW from standard input" cas_stdin "$1-cs"
  check "$1: -w json cas: a current value that is not UTF-8 as value_base64" cas_json_bytes "$1-cb"
  check "$1: after del, cas --absent swaps again" delete_then_cas_absent "$1-ca"
}

"$ROOT/scripts/local-cluster.sh" start c3 3 "$base" kvd --log-level warn
export KV_SERVERS=$(cat c3/servers)
unset KV_CTRLERS
check "kvd: a leader is elected" "$ROOT/scripts/local-cluster.sh" wait c3 15
delcas_checks kvd
check "usage: cas with two arguments: exit 2" expect 2 usage "${KVCLI[@]}" cas k v
check "usage: cas with an unknown flag: exit 2" expect 2 usage "${KVCLI[@]}" cas --nope k v
check "usage: del without a key: exit 2" expect 2 usage "${KVCLI[@]}" del
"$ROOT/scripts/local-cluster.sh" stop c3
unset KV_SERVERS

check "sharded: 3 controllers, groups 100-102 joined, every shard served" sc start "$WORK/sh" "$((base + 100))" 90
export KV_CTRLERS=$(cat "$WORK/sh/ctrlers")
delcas_checks sharded
# The key's shard moves to another group: del and cas reach its new owner.
moved() {
  local k=mv shard gid to
  kv put "$k" one >/dev/null || return 1
  read -r shard gid < <(kv shard key "$k" | awk '{print $2, $4}')
  to=$(( gid == 100 ? 101 : 100 ))
  kv shard move "$shard" "$to" >/dev/null && sc wait "$WORK/sh" 60 >/dev/null || return 1
  [ "$(kv shard key "$k" | awk '{print $4}')" = "$to" ] || { echo "    $k is not on $to"; return 1; }
  is "" kv cas "$k" one two && is two kv get "$k" && is deleted kv del "$k" && is "not found" kv del "$k"
}
check "sharded: after the key's shard moved to another group, cas and del work there" moved
check "stop" sc stop "$WORK/sh"
check_result
