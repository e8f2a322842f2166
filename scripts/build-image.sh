#!/usr/bin/env bash
# make image: builds the project's Docker image without any registry. It stages a minimal root
# filesystem holding the binaries (bin/), the MapReduce apps (bin/mrapps/) and exactly the shared
# libraries they load (found with ldd, plus the dynamic loader), and imports it with
# `docker import`. No base image is pulled. (On a machine that can pull debian:bookworm-slim,
# docker/Dockerfile builds an equivalent image the usual way.)
#   scripts/build-image.sh [IMAGE]      (default raftkv:latest)
set -euo pipefail
image=${1:-raftkv:latest}
bin=${BIN:-bin}
gen=${GEN_CORPUS:-build/release/test/mr-gen-corpus}
progs=(kvd kvcli raftd raftcli shardctrld shardkvd mrcoordinator mrworker mrsequential)

command -v docker >/dev/null || { echo "make image: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "make image: no Docker engine is reachable" >&2; exit 1; }

stage=$(mktemp -d /tmp/raftkv-image-XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/mrapps" "$stage/data" "$stage/tmp" "$stage/etc"
chmod 1777 "$stage/tmp"
files=()
for p in "${progs[@]}"; do
  install -m 755 "$bin/$p" "$stage/usr/local/bin/$p"
  files+=("$bin/$p")
done
install -m 755 "$gen" "$stage/usr/local/bin/mr-gen-corpus"
files+=("$gen")
for so in "$bin"/mrapps/*.so; do
  install -m 755 "$so" "$stage/usr/local/lib/mrapps/"
  files+=("$so")
done
# Every shared library any of them loads, and the loader itself, at their usual paths.
ldd "${files[@]}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u |
  while read -r lib; do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
# Name resolution inside containers (Docker's embedded DNS answers through these).
printf 'hosts: files dns\n' >"$stage/etc/nsswitch.conf"
for nss in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 \
           /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$nss" ] && { mkdir -p "$stage$(dirname "$nss")"; cp -L "$nss" "$stage$nss"; }
done
# The apps' letters are the C.UTF-8 locale's (mrapps/common/appkit.h): its files (400 KB).
mkdir -p "$stage/usr/lib/locale"
cp -r /usr/lib/locale/C.utf8 "$stage/usr/lib/locale/"
printf 'root:x:0:0:root:/root:/usr/local/bin/kvcli\n' >"$stage/etc/passwd"

tar -C "$stage" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin' \
  --change 'ENV KV_SERVERS=kv1:7000,kv2:7000,kv3:7000' \
  --change 'WORKDIR /data' \
  --change 'CMD ["/usr/local/bin/kvd", "--help"]' \
  - "$image" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1 / 1e6}'))"
