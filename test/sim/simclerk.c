/* Simulated kv clerks: lib/clerk's kv clerk and engine, unchanged, on a transport over a
 * simnet endpoint (simclerk.h). */
#include "simclerk.h"

#include <stdlib.h>

#include "base/util.h"
#include "simkv.h"

struct simclerk {
    struct simnet *net;
    struct simnet_ep *ep;
    size_t n;
    struct clerk *ck;
    /* The engine's call in flight: one at a time, since each clerk has its own transport. */
    clerk_reply_fn cb;
    void *cb_arg;
};

/* ---- the transport: calls on the endpoint, the simulator's timers and clock ---------------- */

static size_t t_n(void *ctx) { return ((struct simclerk *)ctx)->n; }
static const char *t_addr(void *ctx, size_t i)
{
    (void)ctx;
    return simkv_addr(i);
}

static void on_reply(enum simnet_status st, const uint8_t *reply, size_t len, void *arg)
{
    struct simclerk *sc = arg;
    clerk_reply_fn cb = sc->cb;
    void *cb_arg = sc->cb_arg;
    if (st == SIMNET_OK)
        cb(RPC_OK, NULL, reply, len, cb_arg);
    else
        cb(RPC_TIMEOUT, "no reply within the attempt's time", NULL, 0, cb_arg);
}

static uint64_t t_call(void *ctx, size_t server, const char *method, const uint8_t *req,
                       size_t len, uint64_t timeout_ms, clerk_reply_fn cb, void *arg)
{
    (void)method; /* every simulated server serves kv.Op only */
    struct simclerk *sc = ctx;
    sc->cb = cb;
    sc->cb_arg = arg;
    return simnet_call(sc->ep, server, req, len, timeout_ms, on_reply, sc);
}

static void t_cancel(void *ctx, size_t server, uint64_t handle)
{
    (void)server;
    simnet_cancel(((struct simclerk *)ctx)->ep, handle);
}

struct timer {
    struct simnet *net;
    void (*fn)(void *);
    void *arg;
    uint64_t id; /* armed (0: not) */
};

static void on_timer(void *arg)
{
    struct timer *t = arg;
    t->id = 0;
    t->fn(t->arg);
}

static void *t_timer_new(void *ctx, void (*fn)(void *), void *arg)
{
    struct timer *t = xmalloc(sizeof *t);
    *t = (struct timer){ ((struct simclerk *)ctx)->net, fn, arg, 0 };
    return t;
}

static void t_timer_start(void *ctx, void *timer, uint64_t ms)
{
    (void)ctx;
    struct timer *t = timer;
    if (t->id)
        simnet_timer_cancel(t->net, t->id);
    t->id = simnet_timer(t->net, ms, on_timer, t);
}

static void t_timer_free(void *ctx, void *timer)
{
    (void)ctx;
    struct timer *t = timer;
    if (t->id)
        simnet_timer_cancel(t->net, t->id);
    free(t);
}

static uint64_t t_now(void *ctx) { return simnet_now(((struct simclerk *)ctx)->net); }

static const struct clerk_transport_ops sim_ops = {
    t_n, t_addr, t_call, t_cancel, t_timer_new, t_timer_start, t_timer_free, t_now,
};

/* ---- clerks ----------------------------------------------------------------------------------- */

struct simclerk *simclerk_new(struct simnet *net, size_t n, const struct simclerk_opts *o)
{
    struct simclerk *c = xcalloc(1, sizeof *c);
    c->net = net;
    c->ep = simnet_ep_new(net);
    c->n = n;
    struct clerk_opts co;
    clerk_opts_default(&co);
    co.deadline_ms = o->deadline_ms;
    co.attempt_ms = o->attempt_ms;
    co.seed = o->seed;
    struct clerk_transport t = { &sim_ops, c };
    c->ck = clerk_new_on(&t, &co);
    return c;
}

void simclerk_free(struct simclerk *c)
{
    if (!c)
        return;
    clerk_free(c->ck); /* cancels its call in flight and its timer */
    simnet_ep_free(c->ep);
    free(c);
}

struct simnet_ep *simclerk_ep(struct simclerk *c) { return c->ep; }
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
