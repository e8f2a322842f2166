/* The 6.5840 Lab 5 shardkv tester's config (/work/shared/LAB5-TESTS.md §3.3) on real
 * processes (docs/CLUSTER-TESTS.md, "The sharded store's suites"): one controller of 3
 * shardctrld nodes (--shards 10) and 3 groups (gids 100, 101, 102) of 3 shardkvd nodes, each a
 * test/cluster cluster, all started at once. Every byte goes through the fault proxies: Raft
 * links inside each cluster, clerks -> groups and group -> group (groups are joined with their
 * nodes' client-proxy addresses), groups -> controller (--ctrlers = the controller's
 * client-proxy addresses), clerks -> controller.
 *
 * Group index gi is 0..2 (gid 100 + gi), server index i is 0..2 (the cluster's node i + 1), as
 * in the lab. "Shut down" is SIGKILL (the data directory is the persister); "start" restarts
 * on the same directory and ports.
 *
 * Threads: everything here is called from the test's own thread, except the workers
 * (skt_workers_*), whose clerks run on a loop thread of their own; the history (when
 * recorded) is shared under a mutex. */
#ifndef TEST_SHARDKV_SKVTEST_H
#define TEST_SHARDKV_SKVTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "shardctrl/shardctrl.h"

#define SKT_NGROUPS 3
#define SKT_NSERVERS 3
#define SKT_NSHARDS 10
#define SKT_GID(gi) (100u + (uint32_t)(gi))
#define SKT_OP_DEADLINE_MS 30000 /* a clerk operation that takes longer fails the test */
#define SKT_WALL_LIMIT_MS 120000 /* the lab's cleanup() rule, checked at the end */

struct skt;
struct skt_ck;

/* Starts the config: prints "Test (<part>): <title> ... (<name>)" ("Test: <title> ..." when
 * part is NULL, as the lab's challenge tests); maxraftstate -1: no
 * snapshots (the nodes' INI says max_raft_state = 0), else --max-raft-state maxraftstate;
 * unreliable: the lab's network (every link drops 10% of frames each way, delays 0-26 ms,
 * reorders). record: every clerk operation goes into a history for lincheck. */
struct skt *skt_new(const char *name, const char *part, const char *title, bool unreliable,
                    int maxraftstate, bool record);
/* The 120 s rule, every node of every cluster must stop cleanly (exit 0; none exited by
 * itself), then prints "  ... Passed -- <name> <s> s" and frees. */
void skt_free(struct skt *t);

/* Fails the test: prints "  ... FAILED <name>: <msg>" and aborts the Check test. */
void skt_fail(struct skt *t, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define SKT_EXPECT(t, cond, ...) \
    do { \
        if (!(cond)) \
            skt_fail((t), __LINE__, __VA_ARGS__); \
    } while (0)

/* The whole network lossy (the lab's Reliable(false)) or not, at any time. */
void skt_set_unreliable(struct skt *t, bool unreliable);

/* ---- the controller (the harness's own clerk; no waits, as the lab's) ---- */
void skt_join(struct skt *t, int gi);
void skt_leave(struct skt *t, int gi);
/* The lab's joinm / leavem: one Join (one Leave) of the n groups gis[0..n). */
void skt_joinm(struct skt *t, const int *gis, size_t n);
void skt_leavem(struct skt *t, const int *gis, size_t n);
/* A second, independent controller (3 more shardctrld nodes), freed with t. */
struct cluster *skt_new_ctrler(struct skt *t);
/* Join of group gi sent to the controller ctl (the lab's ctljoin). */
void skt_ctljoin(struct skt *t, int gi, struct cluster *ctl);
/* Query(-1) on the primary controller (free with sc_config_free). */
struct sc_config *skt_query(struct skt *t);
/* owned[k] = whether keys[k]'s shard (sc_key_shard over cfg's shard count) is on gid in cfg.
 * Returns how many are. */
size_t skt_owned_keys(const struct sc_config *cfg, uint32_t gid, const char *const *keys,
                      size_t n, bool *owned);

/* ---- servers ---- */
void skt_shutdown_server(struct skt *t, int gi, int i);
void skt_start_server(struct skt *t, int gi, int i);
void skt_shutdown_group(struct skt *t, int gi);
void skt_start_group(struct skt *t, int gi);
/* The lab's checklogs(): every node of every group (a running one by node.Status, a down one
 * by reading its store): maxraftstate >= 0: raft state <= 8 x maxraftstate; -1: no snapshot
 * (none taken, none installed, snapshot index 0). */
void skt_checklogs(struct skt *t);
/* Beyond the lab: every running node of every group has a snapshot (taken or installed), so
 * that a test whose log stays under the lab's 8 x max_raft_state bound even without snapshots
 * (Snapshot5B without snapshots: 6,000-8,300 B against 8,000 B, so the lab's check catches that
 * only sometimes) still fails when none are taken. */
void skt_expect_snapshots(struct skt *t);
/* Challenge1Delete's figure: the sum over every server of every group of its persisted Raft
 * state (storage_raft_state_size: the hard state plus every log entry still kept, keys, headers
 * and data) and its stored snapshot's bytes; a running node's from node.Status
 * (raft_state_bytes + snapshot_bytes), a down one's from its store, as skt_checklogs. Prints
 * each server's two figures. */
uint64_t skt_stored_bytes(struct skt *t);

/* Group gi's leader as it reports itself in shardkv.Status (asked directly, not through the
 * proxies; of the highest term when two say so): its config and, per shard, its state (a Shardkv__ShardState: NOT_OWNED for the
 * shards it does not list) and, when PULLING or GC, the group it comes from. Returns the
 * leader's server index, or -1 when no running server answers as leader. */
struct skt_group_view {
    uint64_t config;
    int state[SKT_NSHARDS];
    uint32_t from[SKT_NSHARDS];
};
int skt_group_view(struct skt *t, int gi, struct skt_group_view *v);
/* Prints every server of group gi as its shardkv.Status has it (role, term, config, shards). */
void skt_print_group(struct skt *t, int gi);

/* ---- clerks ---- */
/* A shard clerk on the test thread, whose controller is the primary one (NULL) or ctl. */
struct skt_ck *skt_ck_new(struct skt *t, struct cluster *ctl);
void skt_ck_free(struct skt_ck *k);
/* Blocking (the test thread's loop); a failure or an operation past 30 s fails the test. */
char *skt_get(struct skt_ck *k, const char *key); /* malloc'd */
void skt_put(struct skt_ck *k, const char *key, const char *val);
void skt_append(struct skt_ck *k, const char *key, const char *val);
/* The lab's check(ck, key, value). */
void skt_check(struct skt_ck *k, const char *key, const char *want);

/* One Get per clerk (key keys[k] on clerks[k]), all at once, on the test thread's loop; waits
 * until quiet_ms pass without a new result (the lab's 2 s timeout, restarted by every result).
 * got[k] is the value (malloc'd) or NULL when that Get did not return; a failed Get (not OK or
 * NO_KEY) fails the test. Frees the clerks (dropping the Gets still pending). */
void skt_gets_until_quiet(struct skt *t, struct skt_ck **clerks, const char *const *keys,
                          size_t n, uint64_t quiet_ms, char **got);

/* The keys "0".."n-1" and a random string of n characters (the test thread's generator). */
void skt_key(int i, char *buf, size_t len);
char *skt_randstr(struct skt *t, size_t n);

/* ---- workers (the lab's goroutines; one clerk each, on a loop thread) ----
 * APPEND: worker i appends value_len random characters to key i, then sleeps sleep_ms, until
 * stopped; the final value is va[i] (each Append applied exactly once, in order). MIX
 * (Unreliable3): a random key of the n, 50% Append, 5% Put, 45% Get, value_len characters,
 * every operation recorded. A failed operation (or one past 30 s) stops the worker with a
 * message that skt_workers_stop turns into a failure. */
enum skt_work { SKT_APPEND, SKT_MIX };
struct skt_workers;
/* va[0..n-1]: the keys' expected values (taken over and updated by APPEND workers). */
struct skt_workers *skt_workers_start(struct skt *t, int n, enum skt_work work, size_t value_len,
                                      uint64_t sleep_ms, char **va);
/* Sets done: each worker ends after its current operation (the lab's atomic done flag). */
void skt_workers_done(struct skt_workers *w);
/* Sets done (when not yet) and waits for the workers; va holds the values again. Fails the
 * test on a worker's failure. Returns the operations done. */
uint64_t skt_workers_stop(struct skt_workers *w);

/* Checks the recorded history with lincheck (1 s limit, as the lab's Porcupine): illegal
 * fails; unknown passes with an info line. */
void skt_check_linearizable(struct skt *t);

/* Sleeps ms on the test thread. */
void skt_sleep(uint64_t ms);
/* The test's own generator (the primary controller cluster's). */
struct rng *skt_rng(struct skt *t);

#endif
