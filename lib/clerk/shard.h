/* The shard clerk: a client of the sharded service (shardkvd groups under a shardctrld
 * controller). It keeps the latest configuration it has seen (a Query(-1) on the controller's
 * servers, through a controller clerk) and sends each Get, Put and Append to the group that
 * serves the key's shard there (Delete and CAS too) (sc_key_shard(key, n_shards), lib/shardctrl/keyshard.h), as a
 * kv.Command on "shardkv.Op", through one clerk engine per group (created when first needed,
 * recreated when a config gives the gid other servers).
 *
 * When the group answers WRONG_GROUP, or answers nothing within a round over its servers (or
 * every one of them refuses the connection), or the key's shard is on no group, the clerk waits
 * 100 ms, asks the controller for the latest config and tries again, forever unless
 * opts.deadline_ms is set (then CLERK_TIMEOUT once an operation has run that long). The
 * controller clerk shares the options (deadline, fail_fast_ms for an unreachable controller).
 *
 * One client id and one sequence number across all groups: a write keeps its number through
 * every retry, whichever group it ends up at, and the groups move a shard's sessions with it,
 * so a write executes at most once across migrations. Operations run one at a time in order.
 * Everything runs on one event loop (or one transport's); do not free the clerk from one of
 * its callbacks. */
#ifndef CLERK_SHARD_H
#define CLERK_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clerk/clerk.h"  /* clerk_done_fn */
#include "clerk/engine.h"
#include "clerk/net.h"

struct event_base;
struct shard_clerk;

/* How the clerk reaches a group: a transport to these servers, and its release. transport()
 * returns a transport with ops NULL when it cannot be made (a malformed address): the clerk
 * then treats the group as not answering. */
struct shard_clerk_groups {
    struct clerk_transport (*transport)(void *ctx, const char *const *servers, size_t n);
    void (*transport_free)(void *ctx, struct clerk_transport *t);
};

/* A clerk on libevent and lib/rpc: connections to ctrlers (copied) and, per group, a clerk_net
 * on base. NULL with err when a controller address is malformed. */
struct shard_clerk *shard_clerk_new(struct event_base *base, const char *const *ctrlers, size_t n,
                                    const struct clerk_opts *o, char *err, size_t errlen);
/* A clerk on any transports (tests, the simulator): ctrl (copied; its timers and clock are the
 * clerk's too) and groups (with ctx). */
struct shard_clerk *shard_clerk_new_on(const struct clerk_transport *ctrl,
                                       const struct shard_clerk_groups *groups, void *ctx,
                                       const struct clerk_opts *o);
/* Pending operations are dropped without their callbacks. */
void shard_clerk_free(struct shard_clerk *c);

uint64_t shard_clerk_client_id(const struct shard_clerk *c);
/* The number of the config the clerk routes by (0: none yet). */
uint64_t shard_clerk_config_num(const struct shard_clerk *c);
/* Why the last operation that did not succeed failed, in words. Valid until the next one ends. */
const char *shard_clerk_error(const struct shard_clerk *c);
/* For CLERK_TOO_LARGE: the refused request's size and the limit (0 when not known). */
void shard_clerk_too_large(const struct shard_clerk *c, uint64_t *size, uint64_t *limit);

struct shard_clerk_stats {
    uint64_t queries;      /* Query(-1) sent to the controller */
    uint64_t wrong_group;  /* WRONG_GROUP answers */
    uint64_t no_answer;    /* rounds in which a group answered nothing */
};
void shard_clerk_stats(const struct shard_clerk *c, struct shard_clerk_stats *st);

/* Queue an operation; key and value are copied. done as clerk.h's (value: the Get's value, or
 * the previous value of a write asked with want_prev). */
void shard_clerk_get(struct shard_clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done,
                     void *arg);
void shard_clerk_put(struct shard_clerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, bool want_prev, clerk_done_fn done, void *arg);
void shard_clerk_append(struct shard_clerk *c, const uint8_t *key, size_t klen,
                        const uint8_t *val, size_t vlen, bool want_prev, clerk_done_fn done,
                        void *arg);
/* Delete and compare-and-swap, with clerk_delete's and clerk_cas's outcomes (clerk.h). */
void shard_clerk_delete(struct shard_clerk *c, const uint8_t *key, size_t klen,
                        clerk_done_fn done, void *arg);
void shard_clerk_cas(struct shard_clerk *c, const uint8_t *key, size_t klen,
                     const uint8_t *expected, size_t elen, bool expect_absent, const uint8_t *val,
                     size_t vlen, clerk_done_fn done, void *arg);

/* ---- blocking, on a private loop (clerk_loop): one per thread ---- */

struct shard_sync;
struct shard_sync *shard_sync_new(const char *const *ctrlers, size_t n, const struct clerk_opts *o,
                                  char *err, size_t errlen);
void shard_sync_free(struct shard_sync *s);
/* Each waits for the outcome; *value (malloc'd, NUL-terminated) gets the Get's value. */
enum clerk_result shard_sync_get(struct shard_sync *s, const char *key, uint8_t **value,
                                 size_t *len);
enum clerk_result shard_sync_put(struct shard_sync *s, const char *key, const uint8_t *val,
                                 size_t vlen);
enum clerk_result shard_sync_append(struct shard_sync *s, const char *key, const uint8_t *val,
                                    size_t vlen);
enum clerk_result shard_sync_delete(struct shard_sync *s, const char *key);
/* *current (malloc'd, may be NULL): the current value on CLERK_CAS_FAILED. */
enum clerk_result shard_sync_cas(struct shard_sync *s, const char *key, const uint8_t *expected,
                                 size_t elen, bool expect_absent, const uint8_t *val, size_t vlen,
                                 uint8_t **current, size_t *len);
struct shard_clerk *shard_sync_clerk(struct shard_sync *s);

#endif
