#!/usr/bin/env bash
# Installs the Debian packages a make target needs, when they are missing.
#   scripts/deps.sh [--check] [GROUP...]     groups: build (default), test, fuzz, bench-rpc
# With --check it installs nothing and exits 1 when something is missing.
set -euo pipefail

declare -A groups=(
  [build]="build-essential pkg-config libevent-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev check libinih-dev libssl-dev openssl"
  [test]="prometheus curl"
  [fuzz]="clang libclang-rt-14-dev"
  [bench-rpc]="redis-server redis-tools"
)

check_only=0
if [ "${1:-}" = "--check" ]; then check_only=1; shift; fi
[ $# -gt 0 ] || set -- build

missing=()
for g in "$@"; do
  [ -n "${groups[$g]:-}" ] || { echo "deps.sh: unknown group '$g'" >&2; exit 2; }
  for p in ${groups[$g]}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
done

[ ${#missing[@]} -eq 0 ] && exit 0
[ $check_only = 1 ] && { echo "missing Debian packages: ${missing[*]}" >&2; exit 1; }

echo "installing missing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
