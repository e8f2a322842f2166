#!/usr/bin/env bash
# Backup and restore (docs/BACKUP.md), on real processes: a 3-node kvd cluster gets 100,000
# keys; `kvcli snapshot save` runs through a follower (relayed to the leader) while a write load
# keeps raising counters in 2,000 of them; the file must hold every key, the untouched ones at
# their preloaded value and each churned one between the last value acknowledged before the
# save began and the last one issued before it returned (a file saved before the load must fail
# that check: the check has teeth). A flipped payload byte, a truncated file, a wrong magic, a
# non-empty data directory and a member outside --peers are refused with their reason and
# nothing written. The file restored into a new 3-node cluster (new ports, new directories)
# must serve every key with the file's value, take writes, and start as an ordinary cluster
# (no lost-store refusal, no recovery); a save on its new leader, which cannot confirm a read
# yet, goes through the log.
#   BIN=bin MODE=release test/backup/test-backup.sh
set -uo pipefail
. "$(dirname "$0")/../support/cluster-suite.sh" test-backup
TOOL=${BACKUPTOOL:-$ROOT/build/${MODE:-release}/test/backuptool}
KEYS=100000 HOT=2000
kvcli() { "$BIN/kvcli" --timeout 10s "$@"; }

lc start old 3 "$base" kvd --log-level info >/dev/null
check "the old cluster elects a leader" lc wait old 15
S=$(cat old/servers)
check "100,000 keys loaded" "$TOOL" load "$S" $KEYS 64
check "a save before the write load" bash -c "$BIN/kvcli --servers $S snapshot save early.snap >/dev/null"

leader=$("$BIN/kvcli" --servers "$S" status | awk '$3 == "leader" {print $1}')
follower=$(( ${leader:-1} % 3 + 1 ))
"$TOOL" churn "$S" $HOT 16 5 churn.log >churn.out 2>&1 &
churn=$!
sleep 1.5
t0=$("$TOOL" now)
check "snapshot save under the write load, through follower $follower" \
  bash -c "$BIN/kvcli --timeout 10s --servers 127.0.0.1:$((base + follower)) snapshot save backup.snap >save.out"
t1=$("$TOOL" now)
cat save.out
wait $churn
check "the write load ran without failures" grep -q " 0 failures" churn.out
cat churn.out
check "the file: every key, each at a value consistent with one index within the save" \
  "$TOOL" check backup.snap $KEYS churn.log "$t0" "$t1"
check "... and a file saved before the load fails that check" \
  bash -c "! '$TOOL' check early.snap $KEYS churn.log $t0 $t1 >/dev/null 2>&1"
check "snapshot status: checksum ok, 100000 keys" \
  bash -c "$BIN/kvcli snapshot status backup.snap | tee status.out | grep -q '^keys: *$KEYS\$' && grep -q 'checksum ok' status.out"
index=$(awk '$1 == "index:" {print $2}' status.out)
lc stop old >/dev/null

# Damaged files: refused by status and restore, with the reason, exit 1, nothing written.
size=$(stat -c %s backup.snap)
cp backup.snap flipped.snap
printf '\x5a' | dd of=flipped.snap bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
head -c $((size - 1000)) backup.snap >truncated.snap
{ printf 'NOTASNAP'; tail -c +9 backup.snap; } >magic.snap
refused() { # FILE PATTERN
  expect 1 "$2" "$BIN/kvcli" snapshot status "$1" &&
    expect 1 "$2" "$BIN/kvcli" snapshot restore "$1" --data-dir "bad-$1" --id 1 --peers 1=127.0.0.1:1 &&
    test ! -e "bad-$1"
}
check "a flipped payload byte: checksum mismatch" refused flipped.snap "checksum mismatch: the file is damaged"
check "a truncated file: truncated" refused truncated.snap "truncated: the header announces $size bytes, the file has $((size - 1000))"
check "a wrong magic: not a backup file" refused magic.snap "not a backup file"
mkdir busy && touch busy/data.mdb
check "restore into a non-empty directory: refused, untouched" \
  bash -c "! $BIN/kvcli snapshot restore backup.snap --data-dir busy --id 1 --peers 1=127.0.0.1:1 2>err.txt && grep -q 'is not empty' err.txt && test \"\$(ls busy)\" = data.mdb"
check "restore of a member outside --peers: refused" \
  expect 1 "member id 4 is not among the peers" "$BIN/kvcli" snapshot restore backup.snap --data-dir x4 --id 4 --peers 1=127.0.0.1:1

# The new cluster: new ports, new directories, every member restored from the one file.
nb=$((base + 50))
peers="1=127.0.0.1:$((nb + 1)),2=127.0.0.1:$((nb + 2)),3=127.0.0.1:$((nb + 3))"
restore_all() {
  local i
  for i in 1 2 3; do
    "$BIN/kvcli" snapshot restore backup.snap --data-dir new/data-$i --id $i --peers "$peers" >restore.out || return 1
  done
  grep -q "index $index, term" restore.out
}
check "snapshot restore, once per member" restore_all
lc start new 3 "$nb" kvd --log-level info >/dev/null
check "the restored cluster elects a leader" lc wait new 15
N=$(cat new/servers)
# Its leader has committed nothing in its term yet: a save confirms through the log (kvd's
# barrier, an empty command) and holds the restored state one index later.
resave() {
  "$BIN/kvcli" --servers "$N" snapshot save again.snap >/dev/null &&
    grep -q "backup: a new leader: confirming through the log (index $((index + 1)))" new/node-*.log &&
    "$BIN/kvcli" snapshot status again.snap | grep -q "^index: *$((index + 1))\$"
}
check "a save on a new leader goes through the log (index $((index + 1)))" resave
check "kvcli get of a saved key" \
  test "$(kvcli --servers "$N" get k099999)" = "0:pppppppppppppppppppppppppppppppppppppppp"
check "every key equals the file's value" "$TOOL" check backup.snap $KEYS churn.log "$t0" "$t1" "$N" 32
check "the restored cluster takes writes after the snapshot's index" \
  bash -c "$BIN/kvcli --servers $N put after restore >/dev/null && test \"\$($BIN/kvcli --servers $N get after)\" = restore"
applied_past() { "$BIN/kvcli" --servers "$N" status | awk -v i="$index" 'NR > 1 && $7 <= i {bad = 1} END {exit bad}'; }
check "every member applied past index $index" applied_past
check "the members started as an ordinary cluster (no lost store, no recovery)" \
  bash -c "grep -q 'started: term [0-9]*, log $((index + 1))\\.\\.$index, snapshot at $index' new/node-1.log && ! grep -qi 'recover\\|lost' new/node-*.log"
check_result
