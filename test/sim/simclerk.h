/* Simulated kv clerks: lib/clerk's kv clerk on its engine (lib/clerk/engine.h), the very code
 * kvcli and kvbench run, through the simulator's clerk transport (simtransport.h): calls on the
 * endpoint (a lost call is RPC_TIMEOUT at the attempt's end), the simulator's timers and
 * clock. So the simulated runs prove the clerk's rules too: the client id and numbered writes,
 * the leader cache and hints, backoff, per-attempt timeouts, deadlines, one operation at a
 * time. Leader hints name servers by simsvc_addr. */
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
