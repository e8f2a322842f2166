/* The kvd target: one clerk per client (lib/clerk), the clerks spread over --conns clerk_nets
 * (each one connection per server) on the driver's loop. A clerk finds the leader by itself and
 * keeps its one operation in flight; an operation that gets no quorum answer within the
 * timeout is an error. The outcome goes to the driver from inside the clerk's callback, and the
 * driver issues the client's next operation from there (lib/clerk starts an operation queued
 * from a done callback once, after the callback returns). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "bench.h"
#include "clerk/clerk.h"

struct kvd_op {
    op_done_fn done;
    void *arg;
};

struct kvd {
    struct clerk_net **nets;
    size_t n_nets;
    struct clerk **clerks;
    struct kvd_op *ops; /* one per client: at most one operation each is in flight */
    size_t n_clerks;
};

static void kvd_close(void *t);

void target_clerk_opts(const struct target_config *c, struct clerk_opts *o)
{
    clerk_opts_default(o);
    o->deadline_ms = c->op_timeout_ms;
    o->attempt_ms = MIN(c->op_timeout_ms, 1000);
}

static void *kvd_open(const struct target_config *c, char *err, size_t errlen)
{
    struct kvd *k = xcalloc(1, sizeof *k);
    k->n_nets = MAX(c->conns, 1);
    k->nets = xcalloc(k->n_nets, sizeof *k->nets);
    for (size_t i = 0; i < k->n_nets; i++) {
        k->nets[i] = clerk_net_new(c->base, c->servers, c->n_servers, err, errlen);
        if (!k->nets[i]) {
            kvd_close(k);
            return NULL;
        }
    }
    struct clerk_opts o;
    target_clerk_opts(c, &o);
    k->n_clerks = c->clients;
    k->clerks = xcalloc(c->clients, sizeof *k->clerks);
    k->ops = xcalloc(c->clients, sizeof *k->ops);
    for (size_t i = 0; i < c->clients; i++)
        k->clerks[i] = clerk_new(k->nets[i % k->n_nets], &o);
    return k;
}

static void on_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct kvd_op *op = arg;
    if (r == CLERK_TIMEOUT)
        op->done(OUT_ERROR, NULL, 0, "kvd: no quorum answered within the operation timeout",
                 op->arg);
    else
        op->done(r == CLERK_NO_KEY ? OUT_MISS : OUT_OK, value, len, NULL, op->arg);
}

static void kvd_issue(void *t, size_t client, enum op_kind kind, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen, op_done_fn done, void *arg)
{
    struct kvd *k = t;
    struct kvd_op *op = &k->ops[client];
    op->done = done;
    op->arg = arg;
    struct clerk *c = k->clerks[client];
    if (kind == OP_GET)
        clerk_get(c, key, klen, on_done, op);
    else if (kind == OP_PUT)
        clerk_put(c, key, klen, val, vlen, false, on_done, op);
    else
        clerk_append(c, key, klen, val, vlen, false, on_done, op);
}

static void kvd_close(void *t)
{
    struct kvd *k = t;
    if (!k)
        return;
    for (size_t i = 0; i < k->n_clerks; i++)
        clerk_free(k->clerks[i]);
    for (size_t i = 0; i < k->n_nets; i++)
        clerk_net_free(k->nets[i]);
    free(k->clerks);
    free(k->ops);
    free(k->nets);
    free(k);
}

static const char *kvd_describe(void *t)
{
    (void)t;
    return NULL;
}

const struct target_ops kvd_target = { "kvd", kvd_open, kvd_issue, kvd_close, kvd_describe };
