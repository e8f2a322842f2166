/* Simulated kv clerks: lib/clerk's kv clerk and engine, unchanged, on the simulator's transport
 * (simclerk.h, simtransport.h). */
#include "simclerk.h"

#include <stdlib.h>

#include "base/util.h"
#include "simtransport.h"

struct simclerk {
    struct simtransport *tp;
    struct clerk *ck;
};

struct simclerk *simclerk_new(struct simnet *net, size_t n, const struct simclerk_opts *o)
{
    struct simclerk *c = xcalloc(1, sizeof *c);
    c->tp = simtransport_new(net, n);
    struct clerk_opts co;
    clerk_opts_default(&co);
    co.deadline_ms = o->deadline_ms;
    co.attempt_ms = o->attempt_ms;
    co.seed = o->seed;
    struct clerk_transport t = simtransport_get(c->tp);
    c->ck = clerk_new_on(&t, &co);
    return c;
}

void simclerk_free(struct simclerk *c)
{
    if (!c)
        return;
    clerk_free(c->ck); /* cancels its call in flight and its timer */
    simtransport_free(c->tp);
    free(c);
}

struct simnet_ep *simclerk_ep(struct simclerk *c) { return simtransport_ep(c->tp); }
uint64_t simclerk_client_id(const struct simclerk *c) { return clerk_client_id(c->ck); }

void simclerk_get(struct simclerk *c, const uint8_t *key, size_t klen, clerk_done_fn done,
                  void *arg)
{
    clerk_get(c->ck, key, klen, done, arg);
}

void simclerk_put(struct simclerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, clerk_done_fn done, void *arg)
{
    clerk_put(c->ck, key, klen, val, vlen, false, done, arg);
}

void simclerk_append(struct simclerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    clerk_append(c->ck, key, klen, val, vlen, want_prev, done, arg);
}
