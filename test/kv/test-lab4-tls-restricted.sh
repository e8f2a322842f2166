#!/usr/bin/env bash
# The Lab 4 scenarios whose clerks reach only some servers through a proxy of their own
# (kvt_ck_new_on: OnePartition4A, SnapshotRPC4B), run from kv_kvraft_lab4 unchanged with every
# connection mutual TLS (CLUSTER_TLS=1; kv_kvraft_lab4_tls has one scenario of each other
# kind). Their proxy used to be plain in a TLS cluster: it read the clerks' TLS records as
# frames, no call went through, and both failed with "put did not complete within 60000 ms".
#   BIN=bin MODE=release test/kv/test-lab4-tls-restricted.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CLUSTER_TLS=1 KV_TEST_ONLY=OnePartition4A,SnapshotRPC4B
exec "$root/build/${MODE:-release}/test/kv_kvraft_lab4"
