# The start of a shell suite that runs local clusters (source it, with the suite's name):
#   . "$(dirname "$0")/../support/cluster-suite.sh" test-name
# Sets ROOT, BIN (absolute, exported), the check helpers (check.sh), a fresh work directory
# WORK as the current directory, a random base port `base`, and `lc` for
# scripts/local-cluster.sh. At exit every cluster started under WORK is stopped and WORK removed.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-bin}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
export BIN
. "$ROOT/test/support/check.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
suite_cleanup() {
  local d
  for d in "$WORK"/*/; do
    compgen -G "$d/node-*.pid" >/dev/null && "$ROOT/scripts/local-cluster.sh" stop "$d" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap suite_cleanup EXIT
cd "$WORK" || exit 1
base=$(random_base 400) # a suite uses base + 0..399 (see random_base in check.sh)
lc() { "$ROOT/scripts/local-cluster.sh" "$@"; }
