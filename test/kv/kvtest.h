/* The 6.5840 Lab 2 (kvsrv) and Lab 4 (kvraft) test scenarios on real kvd processes
 * (docs/KV-TESTS.md): a "config" is a test/cluster cluster of kvd nodes, one libevent loop
 * driving any number of lib/clerk clerks, and one lin_history recording every operation.
 *
 * Threads: everything here is called from the Check test process's own thread. During
 * kvt_generic's client phase the clients run on a second thread (the loop), while the test
 * thread partitions, crashes and restarts nodes; the two never touch the loop at the same time.
 *
 * Durations: env KV_TEST_SECONDS is how long clients run per iteration of a Lab 4 generic test
 * (the lab's 5 s with `make test-long-kv`); Lab 2's generic test runs KV_TEST_SECONDS / 5 s (the
 * lab's 1 s at 5). Unset (as in `make test`) it is 1 s: short rounds. */
#ifndef TEST_KV_KVTEST_H
#define TEST_KV_KVTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../cluster/cluster.h"
#include "../lincheck/lincheck.h"
#include "kv.pb-c.h"
#include "labcheck.h"

struct event_base;
struct clerk;
struct clerk_net;

#define KVT_ELECTION_MS 1000 /* the lab's electionTimeout */

struct kvt {
    struct cluster *c;
    unsigned n;
    const char *name;
    int maxraftstate;          /* -1: none (4A), else --max-raft-state */
    bool unreliable;
    struct event_base *base;
    struct clerk_net *net;     /* every node, through the client proxies */
    struct lin_history hist;
    int next_cli;              /* client numbers for the history */
    uint64_t op_deadline_ms;   /* a single operation that takes longer fails the test */
    int expected_exits;        /* nodes the test made stop by themselves (a failing disk) */
};

/* A clerk of the config, driven synchronously from the test thread. */
struct kvt_ck {
    struct kvt *t;
    struct clerk *ck;
    struct clerk_net *net;     /* its own net when restricted (kvt_ck_new_on), else NULL */
    struct cluster_proxy *px;  /* the proxy of a restricted clerk */
    unsigned links[CLUSTER_MAX_NODES + 1];
    int cli;
};

/* Seconds of the client phase (KV_TEST_SECONDS, default 1). */
double kvt_seconds(void);

/* Starts a config: nservers kvd nodes (--max-raft-state when maxraftstate > 0), the lab's
 * unreliable network (peer links and client proxies: drop 10%, delay 0-26 ms, reordering)
 * when unreliable. Prints the name. */
struct kvt *kvt_new(const char *name, unsigned nservers, bool unreliable, int maxraftstate);
/* The same with more kvd flags (NULL-terminated; NULL: none). */
struct kvt *kvt_new_with(const char *name, unsigned nservers, bool unreliable, int maxraftstate,
                         const char *const *more_args);
/* The same where only nodes 1..members start as the cluster (cluster_opts.members). */
struct kvt *kvt_new_members(const char *name, unsigned nservers, unsigned members,
                            bool unreliable, int maxraftstate, const char *const *more_args);
void kvt_set_unreliable(struct kvt *t, bool unreliable);
/* Stops every node (each must exit 0, no unexpected exit during the test) and frees. */
void kvt_free(struct kvt *t);

/* A clerk on every node (through the client proxies). */
struct kvt_ck *kvt_ck_new(struct kvt *t);
/* A clerk that reaches only the nodes of set (a private proxy in front of the client proxies;
 * kvt_ck_connect changes the set later, as the lab's ConnectClient). */
struct kvt_ck *kvt_ck_new_on(struct kvt *t, uint32_t set);
void kvt_ck_connect(struct kvt_ck *k, uint32_t set);
void kvt_ck_free(struct kvt_ck *k);

/* Blocking operations (recorded in the history; a timeout fails the test). kvt_get returns
 * the value (malloc'd, NUL-terminated). kvt_append with want_prev returns the old value
 * (malloc'd) in *old and records it (Lab 2). */
char *kvt_get(struct kvt_ck *k, const char *key);
void kvt_put(struct kvt_ck *k, const char *key, const char *val);
void kvt_append(struct kvt_ck *k, const char *key, const char *val, bool want_prev, char **old);
/* kvt_get, then asserts the value. */
void kvt_check(struct kvt_ck *k, const char *key, const char *want);

/* Asynchronous start of an operation, completed by kvt_wait_op / kvt_poll_op. */
struct kvt_op;
struct kvt_op *kvt_start_get(struct kvt_ck *k, const char *key);
struct kvt_op *kvt_start_put(struct kvt_ck *k, const char *key, const char *val);
/* Runs the loop up to ms; true when the operation completed (then it is freed). */
bool kvt_wait_op(struct kvt *t, struct kvt_op *op, uint64_t ms);

/* Runs the loop for ms (letting queued operations progress). */
void kvt_run_for(struct kvt *t, uint64_t ms);

/* kv.Status of node i asked directly (NULL when it does not answer). */
Kv__StatusReply *kvt_status(struct kvt *t, unsigned i);
/* The largest raft_state_bytes over the running nodes. */
uint64_t kvt_max_raft_state(struct kvt *t);
/* The largest stored snapshot over the nodes: each node is stopped (SIGTERM), its store read,
 * and restarted. */
uint64_t kvt_max_snapshot(struct kvt *t);
/* A node's VmRSS / RssAnon in bytes (0 when unknown). */
uint64_t kvt_rss(struct kvt *t, unsigned i, const char *field);

/* The lab's checks on values built of "x <cli> <j> y" elements. */
void kvt_check_clnt_appends(int clnt, const char *v, int count);
void kvt_check_concurrent_appends(const char *v, const int *counts, int nclients);

/* Writes ($KV_HISTORY_DIR) and checks the history; a non-linearizable one fails the test,
 * "unknown" (time limit) passes with a message. */
void kvt_check_linearizable(struct kvt *t);

/* The lab's GenericTest. */
struct kvt_params {
    int lab;          /* 2 (kvsrv: Append returns the old value, 1 s rounds) or 4 */
    int nclients, nservers;
    bool unreliable, crash, partitions, randomkeys;
    int maxraftstate; /* -1: none */
    /* Every snapshot written by a forked child (kvd --background-snapshot-min 1); the test
     * then requires some to have been. */
    bool background_snapshots;
    /* Membership changes: nodes 1..members form the cluster, the others join when the test
     * adds them (0: all nservers). */
    unsigned members;
    /* Runs in the test thread during each iteration's client phase instead of its sleep (and
     * partitions): the clients keep going until it returns (it gets the phase's usual
     * length as a guide). */
    void (*during)(struct kvt *t, int iter, uint64_t client_ms, void *arg);
    /* Runs once the history has been checked, before the config is freed (may be NULL): to
     * read t->hist, which the clients no longer touch. */
    void (*after)(struct kvt *t, void *arg);
    void *during_arg;
    /* Delete and compare-and-swap mixed into the load (needs randomkeys): per operation 35%
     * appends, 5% puts, 5% deletes, 20% cas (expecting the value the client last saw for the
     * key, or absence), the rest gets; outcomes recorded for lincheck (absent reads, cas
     * success / failure with the current value, whether a delete found the key). */
    bool delcas;
    /* Every kvd runs with this lib/kv planted bug (enum kv_bug, through KVD_PLANTED_BUG; 0:
     * none), and the history must then be judged NOT linearizable. */
    int planted_bug;
    /* NAME=VALUE put in the environment every kvd inherits, restarts included: a planted bug
     * outside lib/kv (e.g. "STORAGE_PLANTED_BUG=ack-before-fsync"); the history must then be
     * judged NOT linearizable, as with planted_bug. */
    const char *planted_env;
};
void kvt_generic(const char *name, const struct kvt_params *p);

/* The lab's spawn_clients_and_wait for the "one key" tests: nclients each append
 * "x <me> <n> y" for n < upto to key, then the value is checked. */
void kvt_concurrent_one_key(struct kvt *t, int nclients, int upto, bool lab2);

/* KV_TEST_ONLY and KVT_ADD_TEST: labcheck.h's. */
#define KVT_ADD_TEST KV_ADD_TEST

#endif
