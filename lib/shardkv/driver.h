/* The shard group's driver: what the group's leader does besides answering clients, without
 * I/O of its own. Every poll period it asks the controller for config num+1 once the group is
 * settled (shardkv_settled) and proposes it; it carries each action the state asks for
 * (shardkv_actions): pulls a shard's next chunk from its holder and proposes the INSTALL, asks
 * a holder to delete a shard it handed over and then proposes GC_DONE. Calls go through clerk
 * engines (lib/clerk/engine.h) on transports the daemon (libevent, lib/rpc) or the simulator
 * gives, so the same code runs in shardkvd and in the deterministic simulator. Only a leader
 * acts; requests in flight are not repeated until the state moves or they time out. */
#ifndef SHARDKV_DRIVER_H
#define SHARDKV_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h"
#include "shardkv/shardkv.h"

struct skv_driver;

struct skv_driver_ops {
    /* Whether this node leads its group now. */
    bool (*leader)(void *ctx);
    /* Proposes an encoded shardkv.Command (taken: malloc'd, the callee frees it). Its outcome
     * is not needed: the driver sees the state. */
    void (*propose)(void *ctx, uint8_t *cmd, size_t len);
    /* A transport to these servers (another group's), for the driver's engines; the driver
     * frees it with transport_free when it no longer needs it. */
    struct clerk_transport (*transport)(void *ctx, const char *const *servers, size_t n);
    void (*transport_free)(void *ctx, struct clerk_transport *t);
};

struct skv_driver_opts {
    uint64_t poll_ms;      /* how often to act (100) */
    uint64_t chunk_bytes;  /* pulled per chunk (256 KiB) */
    uint64_t call_ms;      /* deadline of one call (2000): then the next poll tries again */
    uint64_t attempt_ms;   /* one server's answer awaited before the next is tried (1000; at
                              most call_ms): what a lost frame costs a call */
    uint64_t seed;         /* the engines' jitter (0: from the clock) */
    uint64_t pull_window;  /* a shard's INSTALLs proposed ahead of its applied cursor (4; 1:
                              each chunk is pulled once the one before is applied) */
};
void skv_driver_opts_default(struct skv_driver_opts *o);

/* s is the node's state machine (read only here, between applies). ctrl is a transport to the
 * controller's servers; its timers and clock drive the poll. Starts polling at once. */
struct skv_driver *skv_driver_new(struct shardkv *s, const struct skv_driver_ops *ops, void *ctx,
                                  const struct clerk_transport *ctrl,
                                  const struct skv_driver_opts *o);
void skv_driver_free(struct skv_driver *d);

/* Acts now (as at a poll): after an apply that may have made something due. */
void skv_driver_kick(struct skv_driver *d);

struct skv_driver_stats {
    uint64_t configs_proposed, installs_proposed, gc_proposed, pulls_not_ready, calls_failed;
};
void skv_driver_stats(const struct skv_driver *d, struct skv_driver_stats *st);

#endif
