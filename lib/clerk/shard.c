/* The shard clerk (shard.h): routing by the cached config, one kv-layer engine per group, the
 * controller clerk for refreshes, one client id and numbering across groups. */
#include "clerk/shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "clerk/ctrl.h"
#include "clerk/kvlayer.h"
#include "shardctrl/keyshard.h"
#include "shardctrl/shardctrl.h"

#define REQUERY_WAIT_MS 100
/* A round over a group's servers: each gets an attempt, with the engine's backoff (at most
 * 200 ms) between them. */
#define ROUND_SLACK_MS 200

/* The connection to one group: its servers as the config named them, and its engine. */
struct group {
    uint32_t gid;
    char **servers;
    size_t n;
    struct clerk_transport t;
    struct clerk_engine *e; /* NULL when the transport could not be made */
    struct group *next;
};

/* One operation: what to send (the request is built again for each group, with the same
 * number), and its caller. */
struct sop {
    struct clerk_kv_req r; /* its own copy */
    uint64_t seq; /* writes: fixed at submit, kept through every retry */
    clerk_done_fn done;
    void *arg;
    struct sop *next;
};

struct shard_clerk {
    struct clerk_transport ctrl_t;   /* the controller's: also the clock and the wait timer */
    struct ctrl_clerk *ctrl;
    struct shard_clerk_groups gops;
    void *gctx;
    struct clerk_opts o;
    uint64_t id, seq;
    struct sc_config *config; /* the latest seen; NULL before the first Query */
    struct group *groups;
    struct sop *head, *tail;  /* head is running */
    uint64_t started_ms;      /* when head started */
    bool finishing;           /* inside a done callback: the next operation starts after it */
    void *timer;              /* the wait before a re-query */
    struct group *sent;       /* the group head was sent to */
    char error[1024];
    uint64_t too_large_size, too_large_limit;
    struct shard_clerk_stats stats;
    /* owned by shard_clerk_new (NULL for shard_clerk_new_on) */
    struct clerk_net *own_ctrl_net;
};

static uint64_t now(const struct shard_clerk *c) { return c->ctrl_t.ops->now_ms(c->ctrl_t.ctx); }

static void start(struct shard_clerk *c);
static void requery(void *arg);

/* ---- groups -------------------------------------------------------------------------------- */

static void group_free(struct shard_clerk *c, struct group *g)
{
    clerk_engine_free(g->e);
    if (g->t.ops)
        c->gops.transport_free(c->gctx, &g->t);
    strv_free(g->servers, g->n);
    free(g);
}

static bool same_servers(const struct group *g, const struct sc_group *sg)
{
    if (g->n != sg->n_servers)
        return false;
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->servers[i], sg->servers[i]) != 0)
            return false;
    return true;
}

/* After a new config: drops the connections to groups it does not hold or gives other servers.
 * Called only between attempts (no engine has an operation then). */
static void reconcile(struct shard_clerk *c)
{
    for (struct group **p = &c->groups; *p;) {
        const struct sc_group *sg = sc_config_group(c->config, (*p)->gid);
        if (sg && same_servers(*p, sg)) {
            p = &(*p)->next;
            continue;
        }
        struct group *dead = *p;
        *p = dead->next;
        group_free(c, dead);
    }
}

static struct group *group_get(struct shard_clerk *c, const struct sc_group *sg)
{
    for (struct group *g = c->groups; g; g = g->next)
        if (g->gid == sg->gid)
            return g;
    struct group *g = xcalloc(1, sizeof *g);
    g->gid = sg->gid;
    g->n = sg->n_servers;
    g->servers = xcalloc(g->n ? g->n : 1, sizeof *g->servers);
    for (size_t i = 0; i < g->n; i++)
        g->servers[i] = xstrdup(sg->servers[i]);
    g->t = c->gops.transport(c->gctx, (const char *const *)g->servers, g->n);
    if (g->t.ops) {
        struct clerk_layer l = clerk_kv_layer("shardkv.Op", "shardkvd");
        struct clerk_opts eo = c->o;
        eo.seed = c->o.seed ^ ((uint64_t)g->gid * 0x9e3779b97f4a7c15ull);
        /* A group whose every server refuses gives up at once: the config may be stale. */
        eo.fail_fast_ms = 1;
        g->e = clerk_engine_new(&g->t, &l, &eo);
    }
    g->next = c->groups;
    c->groups = g;
    return g;
}

/* ---- operations ---------------------------------------------------------------------------- */

static void sop_free(struct sop *op)
{
    clerk_kv_req_release(&op->r);
    free(op);
}

static void finish(struct shard_clerk *c, enum clerk_result r, const uint8_t *value, size_t len)
{
    struct sop *op = c->head;
    c->head = op->next;
    if (!c->head)
        c->tail = NULL;
    c->sent = NULL;
    c->finishing = true;
    op->done(r, value, len, op->arg);
    c->finishing = false;
    sop_free(op);
    if (c->head)
        start(c);
}

/* The operation ran out of its deadline. */
static bool past_deadline(const struct shard_clerk *c)
{
    return c->o.deadline_ms && now(c) - c->started_ms >= c->o.deadline_ms;
}

static void give_up(struct shard_clerk *c, const char *why)
{
    char last[sizeof c->error];
    snprintf(last, sizeof last, "%s", c->error);
    snprintf(c->error, sizeof c->error, "no group served the key within %llu ms%s%.900s",
             (unsigned long long)c->o.deadline_ms, why[0] || last[0] ? ": " : "",
             why[0] ? why : last);
    finish(c, CLERK_TIMEOUT, NULL, 0);
}

/* Not served this time (why says how): wait, then ask the controller again. */
static void wait_and_requery(struct shard_clerk *c, const char *why)
{
    snprintf(c->error, sizeof c->error, "%s", why);
    if (past_deadline(c)) {
        give_up(c, why);
        return;
    }
    c->ctrl_t.ops->timer_start(c->ctrl_t.ctx, c->timer, REQUERY_WAIT_MS);
}

static void on_group_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct shard_clerk *c = arg;
    struct group *g = c->sent;
    char why[sizeof c->error];
    switch (r) {
    case CLERK_WRONG_GROUP:
        c->stats.wrong_group++;
        snprintf(why, sizeof why, "group %u: %.900s", g->gid, clerk_engine_error(g->e));
        wait_and_requery(c, why);
        return;
    case CLERK_TIMEOUT:
    case CLERK_UNREACHABLE:
        c->stats.no_answer++;
        snprintf(why, sizeof why, "group %u answered nothing: %.900s", g->gid,
                 clerk_engine_error(g->e));
        wait_and_requery(c, why);
        return;
    case CLERK_TOO_LARGE:
        clerk_engine_too_large(g->e, &c->too_large_size, &c->too_large_limit);
        /* fall through */
    default: /* OK, NO_KEY, CAS_FAILED, NO_SPACE, REFUSED: the group's answer */
        snprintf(c->error, sizeof c->error, "%s",
                 r == CLERK_OK || r == CLERK_NO_KEY || r == CLERK_CAS_FAILED
                     ? ""
                     : clerk_engine_error(g->e));
        finish(c, r, value, len);
        return;
    }
}

/* Sends the running operation to the group serving its key in the cached config. */
static void route(struct shard_clerk *c)
{
    struct sop *op = c->head;
    uint32_t shard = sc_key_shard(op->r.key, op->r.klen, c->config->n_shards);
    uint32_t gid = c->config->shards[shard];
    const struct sc_group *sg = gid ? sc_config_group(c->config, gid) : NULL;
    char why[256];
    if (!sg) {
        snprintf(why, sizeof why, "shard %u is on no group in config %llu", shard,
                 (unsigned long long)c->config->num);
        wait_and_requery(c, why);
        return;
    }
    struct group *g = group_get(c, sg);
    if (!g->e) {
        snprintf(why, sizeof why, "group %u: cannot connect to its servers (a bad address?)", gid);
        wait_and_requery(c, why);
        return;
    }
    /* One round over the servers, within what is left of the operation's deadline. */
    uint64_t round = g->n * (c->o.attempt_ms + ROUND_SLACK_MS);
    if (c->o.deadline_ms) {
        uint64_t left = c->o.deadline_ms - MIN(now(c) - c->started_ms, c->o.deadline_ms);
        round = MAX(MIN(round, left), 1);
    }
    clerk_engine_set_times(g->e, round, c->o.attempt_ms);
    size_t len;
    uint8_t *req = clerk_kv_command(&op->r, c->id, op->seq, &len);
    c->sent = g;
    clerk_engine_submit(g->e, req, len, on_group_done, c);
}

static void on_config(enum clerk_result r, uint64_t num, const struct sc_config *config,
                      void *arg)
{
    (void)num;
    struct shard_clerk *c = arg;
    if (r != CLERK_OK || !config) {
        snprintf(c->error, sizeof c->error, "the controller: %s", ctrl_clerk_error(c->ctrl));
        finish(c, r == CLERK_OK ? CLERK_REFUSED : r, NULL, 0);
        return;
    }
    if (!c->config || config->num >= c->config->num) {
        sc_config_free(c->config);
        c->config = sc_config_copy(config);
        reconcile(c);
    }
    route(c);
}

static void requery(void *arg)
{
    struct shard_clerk *c = arg;
    if (past_deadline(c)) {
        give_up(c, "");
        return;
    }
    c->stats.queries++;
    ctrl_clerk_query(c->ctrl, -1, on_config, c);
}

static void start(struct shard_clerk *c)
{
    c->started_ms = now(c);
    c->too_large_size = c->too_large_limit = 0;
    if (c->config && c->config->num > 0)
        route(c);
    else
        requery(c);
}

static void enqueue(struct shard_clerk *c, const struct clerk_kv_req *r, clerk_done_fn done,
                    void *arg)
{
    struct sop *op = xcalloc(1, sizeof *op);
    clerk_kv_req_copy(&op->r, r);
    op->seq = r->op == CLERK_KV_GET ? 0 : ++c->seq;
    op->done = done;
    op->arg = arg;
    bool idle = !c->head && !c->finishing;
    if (c->tail)
        c->tail->next = op;
    else
        c->head = op;
    c->tail = op;
    if (idle)
        start(c);
}

void shard_clerk_get(struct shard_clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done,
                     void *arg)
{
    enqueue(c, &(struct clerk_kv_req){ .op = CLERK_KV_GET, .key = key, .klen = klen }, done, arg);
}

void shard_clerk_put(struct shard_clerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c, &(struct clerk_kv_req){ CLERK_KV_PUT, key, klen, val, vlen, NULL, 0, false, want_prev },
            done, arg);
}

void shard_clerk_append(struct shard_clerk *c, const uint8_t *key, size_t klen,
                        const uint8_t *val, size_t vlen, bool want_prev, clerk_done_fn done,
                        void *arg)
{
    enqueue(c,
            &(struct clerk_kv_req){ CLERK_KV_APPEND, key, klen, val, vlen, NULL, 0, false, want_prev },
            done, arg);
}

void shard_clerk_delete(struct shard_clerk *c, const uint8_t *key, size_t klen,
                        clerk_done_fn done, void *arg)
{
    enqueue(c, &(struct clerk_kv_req){ .op = CLERK_KV_DELETE, .key = key, .klen = klen }, done, arg);
}

void shard_clerk_cas(struct shard_clerk *c, const uint8_t *key, size_t klen,
                     const uint8_t *expected, size_t elen, bool expect_absent, const uint8_t *val,
                     size_t vlen, clerk_done_fn done, void *arg)
{
    enqueue(c,
            &(struct clerk_kv_req){ CLERK_KV_CAS, key, klen, val, vlen, expected, elen,
                                    expect_absent, false },
            done, arg);
}

/* ---- making one ------------------------------------------------------------------------------ */

struct shard_clerk *shard_clerk_new_on(const struct clerk_transport *ctrl,
                                       const struct shard_clerk_groups *groups, void *ctx,
                                       const struct clerk_opts *o)
{
    struct shard_clerk *c = xcalloc(1, sizeof *c);
    if (o)
        c->o = *o;
    else
        clerk_opts_default(&c->o);
    c->o.seed = clerk_seed(&c->o, (uintptr_t)c);
    c->id = clerk_client_id_from(c->o.seed);
    c->ctrl_t = *ctrl;
    c->gops = *groups;
    c->gctx = ctx;
    struct clerk_opts co = c->o;
    co.seed = c->o.seed ^ 0x6374726cull; /* its own jitter stream */
    c->ctrl = ctrl_clerk_new_on(&c->ctrl_t, &co);
    c->timer = ctrl->ops->timer_new(ctrl->ctx, requery, c);
    return c;
}

/* Groups on libevent: a clerk_net per group, on the controller connections' base. */
static struct clerk_transport net_transport(void *ctx, const char *const *servers, size_t n)
{
    char err[256];
    struct clerk_net *net = clerk_net_new(ctx, servers, n, err, sizeof err);
    return net ? clerk_net_transport(net) : (struct clerk_transport){ NULL, NULL };
}

static void net_transport_free(void *ctx, struct clerk_transport *t)
{
    (void)ctx;
    clerk_net_free(t->ctx);
}

static const struct shard_clerk_groups net_groups = { net_transport, net_transport_free };

static struct shard_clerk *new_on_net(struct clerk_net *ctrl_net, const struct clerk_opts *o)
{
    struct clerk_transport t = clerk_net_transport(ctrl_net);
    return shard_clerk_new_on(&t, &net_groups, clerk_net_base(ctrl_net), o);
}

struct shard_clerk *shard_clerk_new(struct event_base *base, const char *const *ctrlers, size_t n,
                                    const struct clerk_opts *o, char *err, size_t errlen)
{
    struct clerk_net *net = clerk_net_new(base, ctrlers, n, err, errlen);
    if (!net)
        return NULL;
    struct shard_clerk *c = new_on_net(net, o);
    c->own_ctrl_net = net;
    return c;
}

void shard_clerk_free(struct shard_clerk *c)
{
    if (!c)
        return;
    while (c->groups) {
        struct group *g = c->groups;
        c->groups = g->next;
        group_free(c, g);
    }
    ctrl_clerk_free(c->ctrl);
    c->ctrl_t.ops->timer_free(c->ctrl_t.ctx, c->timer);
    while (c->head) {
        struct sop *op = c->head;
        c->head = op->next;
        sop_free(op);
    }
    sc_config_free(c->config);
    clerk_net_free(c->own_ctrl_net);
    free(c);
}

uint64_t shard_clerk_client_id(const struct shard_clerk *c) { return c->id; }
uint64_t shard_clerk_config_num(const struct shard_clerk *c)
{
    return c->config ? c->config->num : 0;
}
const char *shard_clerk_error(const struct shard_clerk *c) { return c->error; }

void shard_clerk_too_large(const struct shard_clerk *c, uint64_t *size, uint64_t *limit)
{
    *size = c->too_large_size;
    *limit = c->too_large_limit;
}

void shard_clerk_stats(const struct shard_clerk *c, struct shard_clerk_stats *st)
{
    *st = c->stats;
}

/* ---- blocking ------------------------------------------------------------------------------- */

struct shard_sync {
    struct clerk_loop loop;
    struct shard_clerk *c;
};

struct shard_sync *shard_sync_new(const char *const *ctrlers, size_t n, const struct clerk_opts *o,
                                  char *err, size_t errlen)
{
    struct shard_sync *s = xcalloc(1, sizeof *s);
    if (clerk_loop_open(&s->loop, ctrlers, n, err, errlen)) {
        free(s);
        return NULL;
    }
    s->c = new_on_net(s->loop.net, o);
    return s;
}

void shard_sync_free(struct shard_sync *s)
{
    if (!s)
        return;
    shard_clerk_free(s->c);
    clerk_loop_close(&s->loop);
    free(s);
}

struct shard_clerk *shard_sync_clerk(struct shard_sync *s) { return s->c; }

enum clerk_result shard_sync_get(struct shard_sync *s, const char *key, uint8_t **value,
                                 size_t *len)
{
    struct clerk_outcome res = { 0 };
    shard_clerk_get(s->c, (const uint8_t *)key, strlen(key), clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, value, len);
}

enum clerk_result shard_sync_put(struct shard_sync *s, const char *key, const uint8_t *val,
                                 size_t vlen)
{
    struct clerk_outcome res = { 0 };
    shard_clerk_put(s->c, (const uint8_t *)key, strlen(key), val, vlen, false, clerk_outcome_done,
                    &res);
    return clerk_outcome_wait(&s->loop, &res, NULL, NULL);
}

enum clerk_result shard_sync_append(struct shard_sync *s, const char *key, const uint8_t *val,
                                    size_t vlen)
{
    struct clerk_outcome res = { 0 };
    shard_clerk_append(s->c, (const uint8_t *)key, strlen(key), val, vlen, false,
                       clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, NULL, NULL);
}

enum clerk_result shard_sync_delete(struct shard_sync *s, const char *key)
{
    struct clerk_outcome res = { 0 };
    shard_clerk_delete(s->c, (const uint8_t *)key, strlen(key), clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, NULL, NULL);
}

enum clerk_result shard_sync_cas(struct shard_sync *s, const char *key, const uint8_t *expected,
                                 size_t elen, bool expect_absent, const uint8_t *val, size_t vlen,
                                 uint8_t **current, size_t *len)
{
    struct clerk_outcome res = { 0 };
    shard_clerk_cas(s->c, (const uint8_t *)key, strlen(key), expected, elen, expect_absent, val,
                    vlen, clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, current, len);
}
