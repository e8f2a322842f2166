#!/usr/bin/env bash
# Starts or stops a local sharded cluster in a directory: a 3-node shardctrld and three groups
# of 3 shardkvd (gids 100, 101, 102) on 127.0.0.1, each a scripts/local-cluster.sh cluster.
#   scripts/sharded-cluster.sh start DIR [BASEPORT [SECONDS]]  start, join, wait until served
#   scripts/sharded-cluster.sh wait DIR [SECONDS]              wait until every shard is served
#   scripts/sharded-cluster.sh stop DIR                        stop every node (data kept)
# The controller's nodes listen on BASEPORT+1..3 (default 7500: 7501-7503), group 100's on
# BASEPORT+11..13, 101's on +21..23, 102's on +31..33. Each part lives in DIR/ctrl, DIR/g100,
# DIR/g101, DIR/g102 (data-i, node-i.log, servers: see local-cluster.sh); DIR/ctrlers lists the
# controller's addresses (for --ctrlers / KV_CTRLERS). start joins the groups the latest config
# does not hold yet (a restart over kept data joins nothing) and returns once every shard of the
# latest config is served by its group's leader (`kvcli shard status` exits 0), within SECONDS
# (default 60); it stops what it started when that fails. SHARDKVD_OPTS replaces the groups'
# node options (default: --log-level warn --max-raft-state 1MiB), e.g. for make bench-shard.
# SHARDED_GROUPS (1-3, default 3): how many of the groups (the first ones) to start and stop.
# METRICS_BASE=PORT: every node serves metrics (--metrics-listen, see local-cluster.sh), the
# controller's on PORT+1..3, group 100's on PORT+11..13, 101's on +21..23, 102's on +31..33.
# TLS_CERTS=CERTDIR (scripts/certs.sh's files): every node speaks TLS (local-cluster.sh), the
# controller's nodes with ctrl1-3.pem, group G's with gG-1..3.pem, and this script's kvcli with
# client.pem (its flags in DIR/ctrl/tls-client, for wait and for you).
set -euo pipefail
bin=${BIN:-bin}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
action=${1:-}
dir=${2:-}
gids=(100 101 102)
gids=("${gids[@]:0:${SHARDED_GROUPS:-3}}")
lc() { BIN=$bin "$here/local-cluster.sh" "$@"; }
# kvcli ARGS...: kvcli with the controller's client TLS flags, if it runs TLS.
kvcli() {
  # shellcheck disable=SC2046 # the flags, one word each
  "$bin/kvcli" $(cat "$dir/ctrl/tls-client" 2>/dev/null) "$@"
}

# served SECONDS: polls kvcli shard status until it exits 0 (every shard served).
served() {
  local limit=$1 i
  for ((i = 0; i < limit * 4; i++)); do
    kvcli --ctrlers "$(cat "$dir/ctrlers")" --timeout 2s shard status >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  local tls
  tls=$(cat "$dir/ctrl/tls-client" 2>/dev/null) || true
  echo "not every shard is served after ${limit}s; see: KV_CTRLERS=$(cat "$dir/ctrlers") $bin/kvcli ${tls:+$tls }shard status, and $dir/*/node-*.log" >&2
  return 1
}

stop_all() {
  local d
  for d in "$dir/ctrl" "${gids[@]/#/$dir/g}"; do
    [ -d "$d" ] && lc stop "$d"
  done
  return 0
}

case $action in
start)
  base=${3:-7500} limit=${4:-60}
  mkdir -p "$dir"
  trap 'stop_all' ERR
  lc start "$dir/ctrl" 3 "$base" shardctrld --log-level warn --max-raft-state 1MiB
  cp "$dir/ctrl/servers" "$dir/ctrlers"
  ctrlers=$(cat "$dir/ctrlers")
  for i in "${!gids[@]}"; do
    g=${gids[$i]}
    # shellcheck disable=SC2086 # SHARDKVD_OPTS is a list of options
    METRICS_BASE=${METRICS_BASE:+$((METRICS_BASE + 10 * (i + 1)))} TLS_NAME=g$g- \
      lc start "$dir/g$g" 3 $((base + 10 * (i + 1))) shardkvd --gid "$g" --ctrlers "$ctrlers" \
      ${SHARDKVD_OPTS:---log-level warn --max-raft-state 1MiB}
  done
  # Join (in one call) the groups the latest config does not hold.
  config=$(kvcli --ctrlers "$ctrlers" --timeout 15s shard config --json)
  join=()
  for g in "${gids[@]}"; do
    grep -q "\"$g\":" <<<"$config" || join+=("$g=$(cat "$dir/g$g/servers")")
  done
  [ ${#join[@]} = 0 ] || kvcli --ctrlers "$ctrlers" --timeout 15s shard join "${join[@]}" >/dev/null
  served "$limit"
  trap - ERR
  ;;
wait)
  served "${3:-60}"
  ;;
stop)
  stop_all
  ;;
*)
  echo "usage: $0 start DIR [BASEPORT [SECONDS]] | wait DIR [SECONDS] | stop DIR" >&2
  exit 2
  ;;
esac
