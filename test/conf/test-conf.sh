#!/usr/bin/env bash
# The example configuration files in conf/: every file conf/README.md names exists, each daemon
# (kvd, raftd) has its examples, the files of one cluster agree (same peers, each node's listen
# address its own entry, kvd's on `make run`'s ports), and each file is accepted by its daemon:
# started with it (only its addresses (metrics' too) and data directory overridden, so that it binds free
# ports and talks to no one else's cluster), it listens, and SIGTERM stops it with exit 0.
#   BIN=bin test/conf/test-conf.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
. "$ROOT/test/support/check.sh"
CONF=$ROOT/conf

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-conf.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1

key() { sed -n "s/^$2 *= *//p" "$1" | head -n 1; } # key FILE KEY: its value (first match)

# ---- the files conf/README.md promises ----
readme_files_exist() {
  local names f ok=0
  names=$(grep -o '[a-z]*-{[0-9,]*}\.ini\|[a-z]*-[0-9]*\.ini' "$CONF/README.md" | sort -u)
  [ -n "$names" ] || { echo "    conf/README.md names no file"; return 1; }
  for f in $(for n in $names; do eval "echo $n"; done); do
    [ -f "$CONF/$f" ] || { echo "    conf/README.md names $f, which does not exist"; ok=1; }
  done
  return $ok
}
check "every file conf/README.md names exists" readme_files_exist
for d in kvd raftd; do
  check "conf/ has $d examples" bash -c "compgen -G '$CONF/$d-*.ini' >/dev/null"
done

# ---- the files of one cluster agree ----
cluster_agrees() { # DAEMON
  local f peers id listen first=
  for f in "$CONF/$1"-*.ini; do
    peers=$(key "$f" peers) id=$(key "$f" id) listen=$(key "$f" listen)
    [ -n "$first" ] || first=$peers
    [ "$peers" = "$first" ] || { echo "    ${f##*/}: peers differ from the other files"; return 1; }
    [[ ,$peers, = *",$id=$listen,"* ]] || { echo "    ${f##*/}: listen $listen is not node $id's entry in peers"; return 1; }
  done
}
for d in kvd raftd; do check "conf/$d-*.ini describe one cluster" cluster_agrees "$d"; done
base=$(sed -n 's/.*local-cluster.sh start run\/kv 3 \([0-9]*\) kvd.*/\1/p' "$ROOT/mk/kv.mk")
check "conf/kvd-*.ini are on make run's ports" \
  test "$(key "$CONF/kvd-1.ini" peers)" = "1=127.0.0.1:$((base + 1)),2=127.0.0.1:$((base + 2)),3=127.0.0.1:$((base + 3))"

# ---- each daemon accepts each of its files ----
# accepted FILE: starts the file's daemon on it; passes when it listens and exits 0 on SIGTERM.
accepted() {
  local f=$1 name daemon id peers="" my="" i p rc listened=0
  name=${f##*/}
  daemon=${name%%-*}
  id=$(key "$f" id)
  for i in $(key "$f" peers | tr ',' '\n' | cut -d= -f1); do
    p=$(free_port) || return 1
    peers+="${peers:+,}$i=127.0.0.1:$p"
    [ "$i" = "$id" ] && my=$p
  done
  [ -n "$my" ] || { echo "    $name: id $id is not among its peers"; return 1; }
  metrics=()
  if [ -n "$(key "$f" metrics_listen)" ]; then
    p=$(free_port) || return 1
    metrics=(--metrics-listen "127.0.0.1:$p")
  fi
  "$BIN/$daemon" --config "$f" --peers "$peers" --listen "127.0.0.1:$my" "${metrics[@]}" \
    --data-dir "$WORK/data-$name" 2>"$WORK/$name.log" &
  pid=$!
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    (exec 3<>"/dev/tcp/127.0.0.1/$my") 2>/dev/null && { listened=1; break; }
    sleep 0.1
  done
  if ! kill -TERM "$pid" 2>/dev/null; then
    wait "$pid"
    echo "    $daemon --config $name exited $? at start: $(tail -n 3 "$WORK/$name.log")"
    pid=
    return 1
  fi
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  pid=
  [ "$rc" = 0 ] || { echo "    $daemon --config $name: exit $rc after SIGTERM: $(tail -n 3 "$WORK/$name.log")"; return 1; }
  [ "$listened" = 1 ] || { echo "    $daemon --config $name did not listen within 10 s"; return 1; }
}
for f in "$CONF"/*.ini; do
  check "${f##*/}: accepted by its daemon (listens, SIGTERM: exit 0)" accepted "$f"
done
check_result
