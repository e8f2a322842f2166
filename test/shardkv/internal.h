/* What the files of the shardkv tester share (skvtest.h is the interface): the config, the
 * test thread's clerks, and one recorded clerk operation. skvtest.c: the config, the
 * controller, servers, checklogs, lincheck; skvops.c: shard clerks and recorded operations on
 * the test thread; skvworkers.c: the workers' loop thread. */
#ifndef TEST_SHARDKV_INTERNAL_H
#define TEST_SHARDKV_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../lincheck/lincheck.h"
#include "clerk/ctrl.h"
#include "clerk/shard.h"
#include "skvtest.h"

#define MAX_CTRLERS 2 /* the primary and the one Rejection5A makes */

struct event_base;

/* The lab's config: its clusters and clerks, the history, figures for the report. */
struct skt {
    const char *name;
    int maxraftstate;
    bool unreliable;
    uint64_t t0_ms;
    struct cluster *ctl[MAX_CTRLERS]; /* [0]: the primary controller */
    int n_ctl;
    struct cluster *g[SKT_NGROUPS];
    struct ctrl_sync *ctl_ck[MAX_CTRLERS];
    struct event_base *base; /* the test thread's clerks */
    bool record;
    pthread_mutex_t hist_mu;
    struct lin_history hist;
    int next_cli;
    /* every clerk operation that ended well (under hist_mu): count, time, the slowest */
    uint64_t ops, ops_ms, slowest_ms, over_1s;
    struct shard_clerk_stats cks; /* summed over the clerks freed */
};

/* A clerk on the test thread's loop (cli: its client number in the history). */
struct skt_ck {
    struct skt *t;
    struct shard_clerk *ck;
    int cli;
};

/* One clerk operation, recorded in t's history when t records. */
struct op {
    struct skt *t;
    struct shard_clerk *ck;
    int cli;
    enum lin_kind kind;
    char key[16];
    char *val;
    size_t idx;
    uint64_t start_ms;
    bool done;
    enum clerk_result r;
    char *out;
    char err[512];
    void (*then)(struct op *op, void *arg);
    void *arg;
};

/* A shard clerk on base whose controller is ctl (NULL: the primary). */
struct shard_clerk *skt_sclerk_new(struct skt *t, struct event_base *base, struct cluster *ctl);
/* Adds a clerk's counters to t's (before it is freed; any thread). */
void skt_add_clerk_stats(struct skt *t, const struct shard_clerk *ck);
/* Not OK or NO_KEY: the operation failed (its effect unknown). */
bool skt_op_failed(enum clerk_result r);
/* Starts op (kind, key, val set) on its clerk, recording the call; its end records the return
 * and calls op->then. */
void skt_op_start(struct op *op);
/* Frees op's value and output. */
void skt_op_clear(struct op *op);
/* "Get(3)", "Append(3, 5 bytes)", for messages. */
void skt_op_name(const struct op *op, char *buf, size_t len);
/* n random characters from r, NUL-terminated (s holds n + 1). */
void skt_fill_rand(struct rng *r, char *s, size_t n);

#endif
