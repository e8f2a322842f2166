#include "simnet.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* A call, from the endpoint's send to its callback. It is also the server's struct
 * simnet_req. Calls and timers are kept (by id) until the net is freed: the events that refer
 * to them may still be in the simulator's queue. */
struct simnet_req {
    struct simnet *net;
    struct simnet_req *owner; /* the call (itself, or the original of a duplicated request) */
    struct simnet_ep *ep; /* NULL once the endpoint is freed */
    size_t server;
    unsigned incarnation; /* the server's when the request reached it */
    uint64_t id;
    bool finished;        /* the callback was called, or the call cancelled */
    bool replied;
    simnet_reply_fn cb;
    void *arg;
    uint8_t *req;
    size_t len;
};

struct timer {
    simnet_timer_fn fn;
    void *arg;
    bool finished;
};

struct simnet_ep {
    struct simnet *net;
    bool link[SIM_MAX_NODES];
};

struct simnet {
    struct sim *sim;
    simnet_serve_fn serve[SIM_MAX_NODES]; /* per server */
    void *serve_arg[SIM_MAX_NODES];
    bool unreliable, long_reordering, duplicates;
    struct simnet_req **calls; /* id - 1 -> call */
    size_t n_calls, cap_calls;
    uint64_t next_id;
    struct timer *timers;      /* id - 1 -> timer */
    size_t n_timers, cap_timers;
    uint64_t timeouts;
};

/* A reply on its way back. */
struct reply {
    struct simnet_req *c;
    uint8_t *data;
    size_t len;
};

struct simnet *simnet_new(struct sim *s)
{
    struct simnet *net = xcalloc(1, sizeof *net);
    net->sim = s;
    return net;
}

void simnet_free(struct simnet *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->n_calls; i++) {
        free(net->calls[i]->req);
        free(net->calls[i]);
    }
    free(net->calls);
    free(net->timers);
    free(net);
}

struct sim *simnet_sim(const struct simnet *net) { return net->sim; }

void simnet_serve(struct simnet *net, simnet_serve_fn fn, void *arg)
{
    simnet_serve_on(net, UINT32_MAX, fn, arg);
}

void simnet_serve_on(struct simnet *net, uint32_t servers, simnet_serve_fn fn, void *arg)
{
    for (size_t i = 0; i < SIM_MAX_NODES; i++) {
        if ((servers >> i) & 1) {
            net->serve[i] = fn;
            net->serve_arg[i] = arg;
        }
    }
}

void simnet_set_unreliable(struct simnet *net, bool on) { net->unreliable = on; }
void simnet_set_long_reordering(struct simnet *net, bool on) { net->long_reordering = on; }
void simnet_set_duplicates(struct simnet *net, bool on) { net->duplicates = on; }
uint64_t simnet_now(const struct simnet *net) { return sim_now(net->sim); }
uint64_t simnet_calls(const struct simnet *net) { return net->next_id; }
uint64_t simnet_timeouts(const struct simnet *net) { return net->timeouts; }

/* ---- endpoints ------------------------------------------------------------------------------ */

struct simnet_ep *simnet_ep_new(struct simnet *net)
{
    struct simnet_ep *ep = xcalloc(1, sizeof *ep);
    ep->net = net;
    simnet_ep_connect(ep, UINT32_MAX);
    return ep;
}

void simnet_ep_free(struct simnet_ep *ep)
{
    if (!ep)
        return;
    struct simnet *net = ep->net;
    for (size_t i = 0; i < net->n_calls; i++) {
        struct simnet_req *c = net->calls[i];
        if (c->ep == ep) {
            c->ep = NULL;
            c->finished = true;
        }
    }
    free(ep);
}

void simnet_ep_connect(struct simnet_ep *ep, uint32_t set)
{
    for (size_t i = 0; i < SIM_MAX_NODES; i++)
        ep->link[i] = (set >> i) & 1;
}

/* ---- calls ---------------------------------------------------------------------------------- */

/* Whether a message is lost to the unreliable network; its delay either way (a lost one's: when
 * its caller learns of the loss). */
static bool lost(struct simnet *net, uint64_t *delay)
{
    *delay = 1;
    if (!net->unreliable)
        return false;
    bool drop = sim_rand(net->sim, 1000) < 100;
    *delay = sim_rand(net->sim, 27);
    return drop;
}

static void finish(struct simnet_req *c, enum simnet_status st, const uint8_t *data, size_t len)
{
    c->finished = true;
    c->cb(st, data, len, c->arg);
}

/* labrpc's answer to a request or reply the unreliable network dropped: the call returns false
 * (here SIMNET_TIMEOUT) at once, after the message's delay, not at the caller's timeout. */
static void on_dropped(struct sim *s, void *arg, bool run)
{
    (void)s;
    struct simnet_req *c = arg;
    if (!run || c->finished)
        return;
    finish(c, SIMNET_TIMEOUT, NULL, 0);
}

static void on_timeout(struct sim *s, void *arg, bool run)
{
    (void)s;
    struct simnet_req *c = arg;
    if (!run || c->finished)
        return;
    c->net->timeouts++;
    finish(c, SIMNET_TIMEOUT, NULL, 0);
}

static void deliver_reply(struct sim *s, void *arg, bool run)
{
    (void)s;
    struct reply *r = arg;
    struct simnet_req *c = r->c->owner;
    /* the link is looked at again on arrival (labrpc drops a reply sent on a link since cut) */
    if (run && !c->finished && c->ep && c->ep->link[c->server])
        finish(c, SIMNET_OK, r->data, r->len);
    free(r->data);
    free(r);
}

static void deliver_request(struct sim *s, void *arg, bool run)
{
    struct simnet_req *rq = arg, *c = rq->owner;
    /* A request on the wire arrives even when its caller has given up on it (timed out,
     * cancelled, gone): the server executes it all the same. */
    if (!run || (c->ep && !c->ep->link[c->server]) || !sim_is_alive(s, c->server))
        return;
    struct simnet *net = c->net;
    rq->incarnation = sim_incarnation(s, c->server);
    if (net->serve[c->server])
        net->serve[c->server](net->serve_arg[c->server], c->server, rq, c->req, c->len);
}

static void keep(struct simnet *net, struct simnet_req *c)
{
    if (net->n_calls == net->cap_calls) {
        net->cap_calls = net->cap_calls ? 2 * net->cap_calls : 256;
        net->calls = xrealloc(net->calls, net->cap_calls * sizeof *net->calls);
    }
    net->calls[net->n_calls++] = c;
}

uint64_t simnet_call(struct simnet_ep *ep, size_t server, const uint8_t *req, size_t len,
                     uint64_t timeout_ms, simnet_reply_fn cb, void *arg)
{
    struct simnet *net = ep->net;
    struct simnet_req *c = xcalloc(1, sizeof *c);
    *c = (struct simnet_req){ .net = net, .owner = c, .ep = ep, .server = server, .cb = cb,
                              .arg = arg, .req = xmalloc(len ? len : 1), .len = len };
    if (len)
        memcpy(c->req, req, len);
    keep(net, c);
    uint64_t id = ++net->next_id;
    c->id = id;
    sim_schedule(net->sim, timeout_ms, on_timeout, c);
    uint64_t delay;
    if (!ep->link[server] || server >= sim_n(net->sim))
        return id; /* no link: the call times out, as over TCP */
    if (lost(net, &delay)) {
        sim_schedule(net->sim, delay, on_dropped, c);
        return id;
    }
    sim_schedule(net->sim, delay, deliver_request, c);
    if (net->duplicates && sim_rand(net->sim, 100) < 5) {
        /* the request arrives twice: the server sees two requests, the caller one reply */
        struct simnet_req *dup = xcalloc(1, sizeof *dup);
        *dup = (struct simnet_req){ .net = net, .owner = c, .server = server };
        keep(net, dup);
        sim_schedule(net->sim, delay + 1 + sim_rand(net->sim, 10), deliver_request, dup);
    }
    return id;
}

void simnet_cancel(struct simnet_ep *ep, uint64_t id)
{
    struct simnet *net = ep->net;
    for (size_t i = net->n_calls; i-- > 0;) { /* the newest first: a cancel is for a recent call */
        struct simnet_req *c = net->calls[i];
        if (c->id == id && c->owner == c) {
            if (c->ep == ep)
                c->finished = true;
            return;
        }
    }
}

void simnet_reply(struct simnet_req *rq, const uint8_t *data, size_t len)
{
    struct simnet_req *c = rq->owner;
    struct simnet *net = c->net;
    struct sim *s = net->sim;
    if (rq->replied)
        return;
    rq->replied = true;
    /* a crashed server (or a later incarnation of it) sends nothing */
    if (!sim_is_alive(s, c->server) || sim_incarnation(s, c->server) != rq->incarnation)
        return;
    if (c->finished || !c->ep || !c->ep->link[c->server])
        return;
    uint64_t delay;
    if (lost(net, &delay)) {
        sim_schedule(s, delay, on_dropped, c);
        return;
    }
    if (net->long_reordering && sim_rand(s, 900) < 600)
        delay = 200 + sim_rand(s, 1 + sim_rand(s, 2000));
    struct reply *r = xmalloc(sizeof *r);
    *r = (struct reply){ rq, xmalloc(len ? len : 1), len };
    if (len)
        memcpy(r->data, data, len);
    sim_schedule(s, delay, deliver_reply, r);
}

/* ---- timers --------------------------------------------------------------------------------- */

struct timer_ref {
    struct simnet *net;
    uint64_t id;
};

static void fire(struct sim *s, void *arg, bool run)
{
    (void)s;
    struct timer_ref *ref = arg;
    if (run) {
        struct timer *t = &ref->net->timers[ref->id - 1];
        if (!t->finished) {
            t->finished = true;
            t->fn(t->arg);
        }
    }
    free(ref);
}

uint64_t simnet_timer(struct simnet *net, uint64_t ms, simnet_timer_fn fn, void *arg)
{
    if (net->n_timers == net->cap_timers) {
        net->cap_timers = net->cap_timers ? 2 * net->cap_timers : 256;
        net->timers = xrealloc(net->timers, net->cap_timers * sizeof *net->timers);
    }
    net->timers[net->n_timers++] = (struct timer){ fn, arg, false };
    struct timer_ref *ref = xmalloc(sizeof *ref);
    *ref = (struct timer_ref){ net, net->n_timers };
    sim_schedule(net->sim, ms, fire, ref);
    return ref->id;
}

void simnet_timer_cancel(struct simnet *net, uint64_t id)
{
    if (id >= 1 && id <= net->n_timers)
        net->timers[id - 1].finished = true;
}
