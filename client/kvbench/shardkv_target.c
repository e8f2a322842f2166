/* The shardkv target: one shard clerk per client (lib/clerk/shard.h), the sharded service
 * reached through its controller (--servers: the controller's addresses). As with the kvd
 * target, the clients share --conns connection sets: the controller's, and per group a
 * clerk_net per set, made when a client's clerk first routes to that group (the pool below), so
 * 128 clients hold 128 / conns times fewer sockets than clerks of their own would. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "bench.h"
#include "clerk/net.h"
#include "clerk/shard.h"

/* One shared connection set to one group's servers. */
struct pooled_net {
    char *servers; /* the list joined with ',': the group's identity in the pool */
    size_t set;
    struct clerk_net *net;
    size_t refs;
    struct pooled_net *next;
};

struct skv;

struct skv_client {
    struct skv *k;
    size_t set; /* which connection set it uses */
    struct shard_clerk *clerk;
    op_done_fn done;
    void *arg;
};

struct skv {
    struct event_base *base;
    struct clerk_net **ctrl_nets; /* one per set */
    size_t n_sets;
    struct pooled_net *pool;
    struct skv_client *clients;
    size_t n_clients;
};

static char *join_servers(const char *const *servers, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(servers[i]) + 1;
    char *s = xmalloc(len), *p = s;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", servers[i]);
    *p = '\0';
    return s;
}

/* shard_clerk_groups.transport: the set's net to these servers, made on first use. */
static struct clerk_transport pool_get(void *ctx, const char *const *servers, size_t n)
{
    struct skv_client *cl = ctx;
    struct skv *k = cl->k;
    char *key = join_servers(servers, n);
    struct pooled_net *p = k->pool;
    while (p && (p->set != cl->set || strcmp(p->servers, key) != 0))
        p = p->next;
    if (!p) {
        char err[256];
        struct clerk_net *net = clerk_net_new(k->base, servers, n, err, sizeof err);
        if (!net) {
            free(key);
            return (struct clerk_transport){ NULL, NULL };
        }
        p = xcalloc(1, sizeof *p);
        *p = (struct pooled_net){ key, cl->set, net, 0, k->pool };
        k->pool = p;
        key = NULL;
    }
    free(key);
    p->refs++;
    return clerk_net_transport(p->net);
}

static void pool_put(void *ctx, struct clerk_transport *t)
{
    struct skv *k = ((struct skv_client *)ctx)->k;
    for (struct pooled_net **pp = &k->pool; *pp; pp = &(*pp)->next) {
        struct pooled_net *p = *pp;
        if (p->net != t->ctx)
            continue;
        if (--p->refs == 0) {
            *pp = p->next;
            clerk_net_free(p->net);
            free(p->servers);
            free(p);
        }
        return;
    }
}

static const struct shard_clerk_groups pool_groups = { pool_get, pool_put };

static void skv_close(void *t);

static void *skv_open(const struct target_config *c, char *err, size_t errlen)
{
    struct skv *k = xcalloc(1, sizeof *k);
    k->base = c->base;
    k->n_sets = MAX(c->conns, 1);
    k->ctrl_nets = xcalloc(k->n_sets, sizeof *k->ctrl_nets);
    for (size_t i = 0; i < k->n_sets; i++) {
        k->ctrl_nets[i] = clerk_net_new(c->base, c->servers, c->n_servers, err, errlen);
        if (!k->ctrl_nets[i]) {
            skv_close(k);
            return NULL;
        }
    }
    struct clerk_opts o;
    target_clerk_opts(c, &o);
    k->n_clients = c->clients;
    k->clients = xcalloc(c->clients, sizeof *k->clients);
    for (size_t i = 0; i < c->clients; i++) {
        struct skv_client *cl = &k->clients[i];
        cl->k = k;
        cl->set = i % k->n_sets;
        struct clerk_transport ctrl = clerk_net_transport(k->ctrl_nets[cl->set]);
        cl->clerk = shard_clerk_new_on(&ctrl, &pool_groups, cl, &o);
    }
    return k;
}

static void on_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct skv_client *cl = arg;
    if (r == CLERK_OK || r == CLERK_NO_KEY)
        cl->done(r == CLERK_NO_KEY ? OUT_MISS : OUT_OK, value, len, NULL, cl->arg);
    else
        cl->done(OUT_ERROR, NULL, 0, shard_clerk_error(cl->clerk), cl->arg);
}

static void skv_issue(void *t, size_t client, enum op_kind kind, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen, op_done_fn done, void *arg)
{
    struct skv_client *cl = &((struct skv *)t)->clients[client];
    cl->done = done;
    cl->arg = arg;
    if (kind == OP_GET)
        shard_clerk_get(cl->clerk, key, klen, on_done, cl);
    else if (kind == OP_PUT)
        shard_clerk_put(cl->clerk, key, klen, val, vlen, false, on_done, cl);
    else
        shard_clerk_append(cl->clerk, key, klen, val, vlen, false, on_done, cl);
}

static void skv_close(void *t)
{
    struct skv *k = t;
    for (size_t i = 0; i < k->n_clients; i++)
        shard_clerk_free(k->clients[i].clerk); /* gives its groups' nets back to the pool */
    for (size_t i = 0; i < k->n_sets; i++)
        clerk_net_free(k->ctrl_nets[i]);
    free(k->clients);
    free(k->ctrl_nets);
    free(k);
}

static const char *skv_describe(void *t)
{
    (void)t;
    return NULL;
}

const struct target_ops shardkv_target = { "shardkv", skv_open, skv_issue, skv_close,
                                           skv_describe };
