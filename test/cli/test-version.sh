#!/usr/bin/env bash
# Every program in $BIN answers --version with "<program> <version>" on stdout and exit 0, and
# they all print the same version, the VERSION file's (plus "+g<commit>" in a git checkout).
#   BIN=bin test/cli/test-version.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
. "$ROOT/test/support/check.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-version.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

want=$(cat "$ROOT/VERSION")
n=0
for f in "$BIN"/*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  prog=${f##*/}
  n=$((n + 1))
  prints_version() {
    expect 0 "" "$f" --version || return 1
    grep -Eqx "$prog $want(\+g[0-9a-f]+(\.dirty)?)?" out.txt ||
      { echo "    $prog --version printed: $(head -c 200 out.txt)"; return 1; }
  }
  check "$prog --version: \"$prog <version>\", exit 0" prints_version
  cut -d' ' -f2- out.txt >>versions.txt
  check "$prog --help lists --version" bash -c "'$f' --help | grep -q -- '--version'"
done
check "found the programs" test "$n" -ge 11
check "they all print the same version" test "$(sort -u versions.txt | wc -l)" = 1
check_result
