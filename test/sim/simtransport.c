/* The clerk engine's transport over simnet (simtransport.h). */
#include "simtransport.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "simsvc.h"

struct simtransport {
    struct simnet *net;
    struct simnet_ep *ep;
    size_t n;
    size_t *servers; /* index -> the net's server */
    bool framed;
    /* The calls in flight (several engines may share the transport: a shard group's driver
     * pulls and deletes on one). */
    struct call **calls;
    size_t n_calls;
};

struct call {
    struct simtransport *tp;
    uint64_t id;
    clerk_reply_fn cb;
    void *cb_arg;
};

static void call_forget(struct simtransport *tp, struct call *c)
{
    for (size_t i = 0; i < tp->n_calls; i++) {
        if (tp->calls[i] == c) {
            tp->calls[i] = tp->calls[--tp->n_calls];
            break;
        }
    }
    free(c);
}

static size_t t_n(void *ctx) { return ((struct simtransport *)ctx)->n; }
static const char *t_addr(void *ctx, size_t i)
{
    struct simtransport *tp = ctx;
    return i < tp->n ? simsvc_addr(tp->servers[i]) : "";
}

static void on_reply(enum simnet_status st, const uint8_t *reply, size_t len, void *arg)
{
    struct call *c = arg;
    clerk_reply_fn cb = c->cb;
    void *cb_arg = c->cb_arg;
    call_forget(c->tp, c);
    if (st == SIMNET_OK)
        cb(RPC_OK, NULL, reply, len, cb_arg);
    else
        cb(RPC_TIMEOUT, "no reply within the attempt's time", NULL, 0, cb_arg);
}

static uint64_t t_call(void *ctx, size_t server, const char *method, const uint8_t *req,
                       size_t len, uint64_t timeout_ms, clerk_reply_fn cb, void *arg)
{
    struct simtransport *tp = ctx;
    struct call *c = xmalloc(sizeof *c);
    *c = (struct call){ tp, 0, cb, arg };
    tp->calls = xrealloc(tp->calls, (tp->n_calls + 1) * sizeof *tp->calls);
    tp->calls[tp->n_calls++] = c;
    if (!tp->framed) { /* the server serves one service's method */
        c->id = simnet_call(tp->ep, tp->servers[server], req, len, timeout_ms, on_reply, c);
        return c->id;
    }
    size_t m = strlen(method) + 1;
    uint8_t *buf = xmalloc(m + len);
    memcpy(buf, method, m);
    if (len)
        memcpy(buf + m, req, len);
    c->id = simnet_call(tp->ep, tp->servers[server], buf, m + len, timeout_ms, on_reply, c);
    free(buf);
    return c->id;
}

static void t_cancel(void *ctx, size_t server, uint64_t handle)
{
    (void)server;
    struct simtransport *tp = ctx;
    simnet_cancel(tp->ep, handle);
    for (size_t i = 0; i < tp->n_calls; i++) {
        if (tp->calls[i]->id == handle) {
            call_forget(tp, tp->calls[i]);
            break;
        }
    }
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
    *t = (struct timer){ ((struct simtransport *)ctx)->net, fn, arg, 0 };
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

static uint64_t t_now(void *ctx) { return simnet_now(((struct simtransport *)ctx)->net); }

static const struct clerk_transport_ops sim_ops = {
    t_n, t_addr, t_call, t_cancel, t_timer_new, t_timer_start, t_timer_free, t_now,
};

struct simtransport *simtransport_new(struct simnet *net, size_t n)
{
    size_t servers[SIM_MAX_NODES];
    for (size_t i = 0; i < n && i < SIM_MAX_NODES; i++)
        servers[i] = i;
    return simtransport_new_servers(net, servers, n, false);
}

struct simtransport *simtransport_new_servers(struct simnet *net, const size_t *servers, size_t n,
                                              bool framed)
{
    struct simtransport *t = xcalloc(1, sizeof *t);
    t->net = net;
    t->ep = simnet_ep_new(net);
    t->n = n;
    t->servers = xmalloc((n ? n : 1) * sizeof *t->servers);
    memcpy(t->servers, servers, n * sizeof *servers);
    t->framed = framed;
    return t;
}

int simtransport_unframe(const uint8_t *req, size_t len, const char **method,
                         const uint8_t **payload, size_t *plen)
{
    const uint8_t *nul = memchr(req, 0, len);
    if (!nul)
        return -1;
    *method = (const char *)req;
    *payload = nul + 1;
    *plen = len - (size_t)(nul + 1 - req);
    return 0;
}

void simtransport_free(struct simtransport *t)
{
    if (!t)
        return;
    simnet_ep_free(t->ep);
    for (size_t i = 0; i < t->n_calls; i++)
        free(t->calls[i]);
    free(t->calls);
    free(t->servers);
    free(t);
}

struct clerk_transport simtransport_get(struct simtransport *t)
{
    return (struct clerk_transport){ &sim_ops, t };
}

struct simnet_ep *simtransport_ep(struct simtransport *t) { return t->ep; }
