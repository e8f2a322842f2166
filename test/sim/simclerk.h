/* Simulated kv clerks: lib/clerk's rules on a simnet endpoint, in simulated time.
 *
 * The rules are lib/clerk's (clerk.c): a random client id and numbered writes (at-most-once),
 * the last known leader tried first, WRONG_LEADER hints followed at once, other failures
 * (no reply within the per-attempt timeout, TIMEOUT, SHUTTING_DOWN) move to the next server
 * after a jittered backoff (5 ms doubling to 200 ms), an operation given up at its deadline,
 * operations of one clerk run one at a time in the order asked. Commands are kv.Commands,
 * replies kv.Replies, as lib/clerk sends and classifies them.
 *
 * TODO(engine): once lib/clerk/engine.h lands, this becomes the engine and the kv clerk layer
 * through a clerk_transport over simnet (call, cancel, timers, now), and the rules here go. */
#ifndef SIM_SIMCLERK_H
#define SIM_SIMCLERK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clerk/clerk.h"
#include "simnet.h"

struct simclerk_opts {
    uint64_t deadline_ms; /* per operation; 0: retry forever */
    uint64_t attempt_ms;  /* per attempt on one server */
    uint64_t seed;        /* client id and backoff jitter (never 0) */
};

struct simclerk;

/* A clerk of the n servers of net, on its own endpoint (linked to every server). */
struct simclerk *simclerk_new(struct simnet *net, size_t n, const struct simclerk_opts *o);
/* Drops pending operations without their callbacks. */
void simclerk_free(struct simclerk *c);
/* Its endpoint (to restrict its links: simnet_ep_connect). */
struct simnet_ep *simclerk_ep(struct simclerk *c);
uint64_t simclerk_client_id(const struct simclerk *c);

/* Queue an operation (key and value copied); done is called once (lib/clerk's clerk_done_fn). */
void simclerk_get(struct simclerk *c, const uint8_t *key, size_t klen, clerk_done_fn done,
                  void *arg);
void simclerk_put(struct simclerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, clerk_done_fn done, void *arg);
void simclerk_append(struct simclerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, bool want_prev, clerk_done_fn done, void *arg);

#endif
