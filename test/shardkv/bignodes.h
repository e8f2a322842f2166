/* The processes of the large-shard test and benchmark (test/shardkv/bigmove.c): a 3-node
 * shardctrld and two groups of 3 shardkvd (gids 100 and 101) on 127.0.0.1, started directly
 * (no fault proxy: the figures are the daemons', not a proxy thread's), with the daemons'
 * defaults (fsync on, max_raft_state 64 MiB, chunk 256 KiB) unless extra flags are given.
 * Each node has a directory of its own under one temp directory, removed at the end (kept with
 * KEEP_CLUSTER=1). The daemons get PR_SET_PDEATHSIG (test/cluster's cluster_proc_spawn), so none
 * outlives the program. */
#ifndef TEST_SHARDKV_BIGNODES_H
#define TEST_SHARDKV_BIGNODES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BN_NODES 3
#define BN_GROUPS 2
#define BN_GID(g) (100u + (uint32_t)(g))

struct rpc_sync;

struct bn_node {
    pid_t pid;
    struct rpc_sync *rpc; /* for bn_status, opened on first use */
    char addr[32];
    char dir[256];
};

struct bn {
    char root[128];
    struct bn_node ctrl[BN_NODES];
    struct bn_node grp[BN_GROUPS][BN_NODES];
    const char *ctrl_addrs[BN_NODES];
    const char *grp_addrs[BN_GROUPS][BN_NODES];
};

/* Starts everything (extra: flags for every shardkvd, NULL-terminated, or NULL), waits until
 * each node listens. Returns 0, or -1 with a message printed. */
int bn_start(struct bn *b, const char *const *extra);
/* SIGTERM to every node, waits; returns how many did not exit 0. Removes the directory. */
int bn_stop(struct bn *b);

/* Memory of a process, from /proc/PID/status (KiB): VmRSS and VmHWM (the peak since start or
 * since bn_reset_peak). */
struct bn_mem {
    uint64_t rss_kib, hwm_kib;
    uint64_t anon_kib, file_kib; /* RssAnon (the heap: the process's own memory) and RssFile
                                    (mapped file pages: LMDB's map, reclaimable) */
    uint64_t child_kib; /* Private_Dirty of its children (a background snapshot's writer: the
                           pages it holds alone, copied on write or its own) */
};
int bn_mem(pid_t pid, struct bn_mem *m);
/* How many of the shardkvds have a child (a background snapshot's writer) now. */
int bn_writers(const struct bn *b);
/* The bytes of the files in a node's data directory (LMDB's data file: an upper bound on the
 * file pages its map can hold). */
uint64_t bn_data_bytes(const struct bn_node *n);
/* Resets VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs). Returns 0 or -1. */
int bn_reset_peak(pid_t pid);

/* One shardkvd's view (shardkv.Status): whether it leads, and the state of shard (its
 * ShardState number, 0 when not listed: not owned) and its key count. Returns 0, or -1 when
 * it did not answer within timeout_ms. */
struct bn_status {
    bool leader;
    int state;
    uint64_t keys;
    uint64_t snapshots_taken, snapshots_installed;
};
int bn_status(struct bn_node *n, uint32_t shard, uint64_t timeout_ms, struct bn_status *st);

#endif
