/* clerk_net: the clerk engine's transport on libevent and lib/rpc (one connection per server,
 * shared by every clerk on the loop). */
#include "clerk/net.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "rpc/rpc.h"

struct clerk_net {
    struct event_base *base;
    char **addrs;
    struct rpc_client **clients;
    size_t n;
};

struct clerk_net *clerk_net_new(struct event_base *base, const char *const *servers, size_t n,
                                char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "no servers given");
        return NULL;
    }
    struct clerk_net *net = xcalloc(1, sizeof *net);
    net->base = base;
    net->n = n;
    net->addrs = xcalloc(n, sizeof *net->addrs);
    net->clients = xcalloc(n, sizeof *net->clients);
    struct rpc_client_opts ro;
    rpc_client_opts_default(&ro);
    for (size_t i = 0; i < n; i++) {
        net->addrs[i] = xstrdup(servers[i]);
        net->clients[i] = rpc_client_new(base, servers[i], &ro, err, errlen);
        if (!net->clients[i]) {
            clerk_net_free(net);
            return NULL;
        }
    }
    return net;
}

void clerk_net_free(struct clerk_net *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->n; i++) {
        rpc_client_free(net->clients[i]);
        free(net->addrs[i]);
    }
    free(net->clients);
    free(net->addrs);
    free(net);
}

struct event_base *clerk_net_base(const struct clerk_net *net) { return net->base; }

static size_t n_servers(void *ctx) { return ((struct clerk_net *)ctx)->n; }
static const char *addr(void *ctx, size_t i) { return ((struct clerk_net *)ctx)->addrs[i]; }

static uint64_t call(void *ctx, size_t i, const char *method, const uint8_t *req, size_t len,
                     uint64_t timeout_ms, clerk_reply_fn cb, void *arg)
{
    struct clerk_net *net = ctx;
    return rpc_client_call(net->clients[i], method, req, len, timeout_ms, cb, arg);
}

static void cancel(void *ctx, size_t i, uint64_t handle)
{
    rpc_client_cancel(((struct clerk_net *)ctx)->clients[i], handle);
}

struct timer {
    struct event *ev;
    void (*fn)(void *);
    void *arg;
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct timer *t = arg;
    t->fn(t->arg);
}

static void *timer_new(void *ctx, void (*fn)(void *), void *arg)
{
    struct timer *t = xmalloc(sizeof *t);
    *t = (struct timer){ evtimer_new(((struct clerk_net *)ctx)->base, on_timer, t), fn, arg };
    return t;
}

static void timer_start(void *ctx, void *timer, uint64_t ms)
{
    (void)ctx;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(((struct timer *)timer)->ev, &tv);
}

static void timer_free(void *ctx, void *timer)
{
    (void)ctx;
    struct timer *t = timer;
    event_free(t->ev);
    free(t);
}

static uint64_t now_ms(void *ctx)
{
    (void)ctx;
    return clock_mono_ms();
}

static const struct clerk_transport_ops net_ops = {
    n_servers, addr, call, cancel, timer_new, timer_start, timer_free, now_ms,
};

struct clerk_transport clerk_net_transport(struct clerk_net *net)
{
    return (struct clerk_transport){ &net_ops, net };
}

/* ---- a private loop -------------------------------------------------------------------------- */

int clerk_loop_open(struct clerk_loop *l, const char *const *servers, size_t n, char *err,
                    size_t errlen)
{
    l->base = event_base_new();
    l->net = clerk_net_new(l->base, servers, n, err, errlen);
    if (!l->net) {
        event_base_free(l->base);
        l->base = NULL;
        return -1;
    }
    return 0;
}

void clerk_loop_close(struct clerk_loop *l)
{
    clerk_net_free(l->net);
    event_base_free(l->base);
    l->net = NULL;
    l->base = NULL;
}

void clerk_loop_wait(struct clerk_loop *l, const bool *done)
{
    while (!*done)
        event_base_loop(l->base, EVLOOP_ONCE);
}

void clerk_outcome_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct clerk_outcome *o = arg;
    o->done = true;
    o->r = r;
    o->len = len;
    o->value = xmalloc(len + 1);
    if (len)
        memcpy(o->value, value, len);
    o->value[len] = '\0';
}

enum clerk_result clerk_outcome_wait(struct clerk_loop *l, struct clerk_outcome *o,
                                     uint8_t **value, size_t *len)
{
    clerk_loop_wait(l, &o->done);
    if (value) {
        *value = o->value;
        *len = o->len;
    } else {
        free(o->value);
    }
    return o->r;
}
