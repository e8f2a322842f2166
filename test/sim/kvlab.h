/* The 6.5840 Lab 4 (kvraft) tester's config on the deterministic simulator: kvd's state machine
 * and service rules on every simulated node (simkv), simulated clerks on simnet endpoints
 * (simclerk), and one lincheck history of every operation. The real-process port of the same
 * scenarios is test/kv/kvtest.{h,c}; this mirrors its calls with kvl_ names.
 *
 * Time is the simulator's: a blocking operation runs the simulation until it completes.
 * History times are simulated nanoseconds (ms * 1e6 plus an event counter within the ms, so
 * the order of events within one ms is kept).
 *
 * Failures do not abort: the first one is recorded in the sim (sim_fail, which stops it) and
 * every later call returns at once, so one scenario code serves the lab tests (which assert
 * !kvl_failed at the end) and the randomized mode (which counts failed seeds). */
#ifndef SIM_KVLAB_H
#define SIM_KVLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lincheck/lincheck.h"
#include "sim.h"
#include "simclerk.h"
#include "simkv.h"
#include "simnet.h"

#define KVL_ELECTION_MS 1000 /* the lab's electionTimeout */

struct kvl_opts {
    const char *name;
    unsigned nservers;
    bool unreliable;
    int maxraftstate;   /* -1: none (4A) */
    uint64_t seed;
    int kv_bugs;        /* planted in every lib/kv (kv_set_planted_bug) */
    enum replica_bug replica_bug;
    uint64_t apply_lag_ms; /* sim_opts.apply_lag_ms */
    bool noop_on_elect;    /* kvd's --noop-on-elect (default off) */
    bool background_snapshots; /* sim_opts.background_snapshots */
    bool quiet;         /* no per-iteration lines */
};

struct kvl;

/* The clients of the recorded operations: the kv clerk (simclerk) by default; another service's
 * (the shard clerk) through kvl_new_on. ep may be NULL (kvl_ck_connect then does nothing). */
struct kvl_client_ops {
    void *(*new_clerk)(void *arg, struct kvl *t, uint64_t seed);
    void (*free_clerk)(void *arg, void *ck);
    struct simnet_ep *(*ep)(void *ck);
    void (*get)(void *ck, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg);
    void (*put)(void *ck, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                clerk_done_fn done, void *arg);
    void (*append)(void *ck, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   bool want_prev, clerk_done_fn done, void *arg);
};

struct kvl {
    struct kvl_opts o;
    const struct kvl_client_ops *clients;
    void *clients_arg;
    bool borrowed; /* kvl_new_on: the sim and net are the caller's */
    struct sim *s;
    struct simnet *net;
    struct simkv *k;
    struct lin_history hist;
    int next_cli;
    uint64_t op_deadline_ms;
    uint64_t ts_ms, ts_seq;
    uint64_t ops_failed;
};

struct kvl_ck {
    struct kvl *t;
    void *ck; /* the client ops' clerk (a struct simclerk by default) */
    int cli;
};

/* Starts a config (sim, net, servers); prints nothing. */
struct kvl *kvl_new(const struct kvl_opts *o);
void kvl_free(struct kvl *t);
/* The same on another service's sim and net (its clients through clients, with clients_arg;
 * o's nservers, unreliable, maxraftstate and bugs are ignored: the caller made the sim).
 * kvl_free frees neither the sim nor the net. */
struct kvl *kvl_new_on(const struct kvl_opts *o, struct sim *s, struct simnet *net,
                       const struct kvl_client_ops *clients, void *clients_arg);
void kvl_set_unreliable(struct kvl *t, bool unreliable);
bool kvl_failed(const struct kvl *t);
/* Records a failure (printf-style) in the sim, unless one is there already. */
void kvl_fail(struct kvl *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A history timestamp for now. */
int64_t kvl_ts(struct kvl *t);

/* A clerk linked to every server; one linked to the servers of set (bit i: server i). */
struct kvl_ck *kvl_ck_new(struct kvl *t);
struct kvl_ck *kvl_ck_new_on(struct kvl *t, uint32_t set);
void kvl_ck_connect(struct kvl_ck *k, uint32_t set);
struct simnet_ep *kvl_ck_ep(struct kvl_ck *k); /* NULL: the clients have none */
void kvl_ck_free(struct kvl_ck *k);

/* Blocking operations, recorded in the history; one that does not complete within the
 * operation deadline fails the run. kvl_get returns the value (malloc'd, NUL-terminated; ""
 * after a failure). */
char *kvl_get(struct kvl_ck *k, const char *key);
void kvl_put(struct kvl_ck *k, const char *key, const char *val);
void kvl_append(struct kvl_ck *k, const char *key, const char *val);
/* kvl_get, then fails the run unless the value is want. */
void kvl_check(struct kvl_ck *k, const char *key, const char *want);

/* Asynchronous operations: started now, completed by kvl_wait_op. */
struct kvl_op;
struct kvl_op *kvl_start_get(struct kvl_ck *k, const char *key);
struct kvl_op *kvl_start_put(struct kvl_ck *k, const char *key, const char *val);
/* Runs the simulation up to ms; true when op completed (then it is freed). */
bool kvl_wait_op(struct kvl *t, struct kvl_op *op, uint64_t ms);
/* The same, and when it completed, its value (a Get's; malloc'd) in *value. */
bool kvl_wait_op_value(struct kvl *t, struct kvl_op *op, uint64_t ms, char **value);
/* Frees an operation that never completed (its clerk must be freed first). */
void kvl_op_abandon(struct kvl_op *op);

void kvl_run_for(struct kvl *t, uint64_t ms);

/* The largest Raft state / stored snapshot over the nodes, in bytes. */
uint64_t kvl_max_raft_state(struct kvl *t);
uint64_t kvl_max_snapshot(struct kvl *t);
/* The node that leads in the highest term (-1 when none within 10 s: recorded as a failure). */
int kvl_wait_leader(struct kvl *t);

/* Checks the history: anything but LIN_OK (an UNKNOWN too) fails the run. Returns the report's
 * one-line summary in sum. */
enum lin_result kvl_check_linearizable(struct kvl *t, char *sum, size_t len);
/* A digest of the history (every field of every operation), for the replay test. */
uint64_t kvl_history_digest(const struct kvl *t);

/* The generic test's clients: nclients clerks, each running operations one after another
 * (the lab's: first a Put of its own key to "", then 50% Append of "x <cli> <j> y", else
 * Get; with randomkeys, a random key of "0".."nkeys-1" (nkeys 0: nclients) and 5% Puts),
 * every one recorded in the history. Without randomkeys each Get is checked against what the
 * client appended. */
struct kvl_pool_params {
    int nclients;
    bool randomkeys;
    int nkeys;
};
struct kvl_pool;
struct kvl_pool *kvl_pool_start(struct kvl *t, const struct kvl_pool_params *p);
/* The clients stop after their current operation. */
void kvl_pool_halt(struct kvl_pool *g);
/* Halts them and runs the simulation until each finished its last operation (fails the run
 * when some did not within the operation deadline). */
void kvl_pool_wait(struct kvl_pool *g);
/* Client i's clerk (to restrict its links). */
struct kvl_ck *kvl_pool_clerk(struct kvl_pool *g, int i);
/* How many of its own elements (appends, puts) client i wrote. */
int kvl_pool_written(const struct kvl_pool *g, int i);
/* Without randomkeys: the value client i's key must hold (what it put and appended). */
const char *kvl_pool_value(const struct kvl_pool *g, int i);
void kvl_pool_free(struct kvl_pool *g);

/* The lab's GenericTest (kvt_params' fields, 5 s client phases, 3 iterations). */
struct kvl_params {
    int nclients, nservers;
    bool unreliable, crash, partitions, randomkeys;
    int maxraftstate;
    uint64_t client_ms; /* the client phase (the lab's 5 s) */
    int iterations;     /* the lab's 3 */
};
struct kvl_result {
    uint64_t ops, max_raft_state;
};
/* Runs it on t (made with the same nservers, unreliable and maxraftstate); the caller checks
 * the history (kvl_check_linearizable). */
void kvl_generic(struct kvl *t, const struct kvl_params *p, struct kvl_result *res);

/* spawn_clients_and_wait for the one-key test: nclients each append "x <me> <n> y" for n <
 * upto to key "k", then the value is checked. */
void kvl_concurrent_one_key(struct kvl *t, int nclients, int upto);

#endif
