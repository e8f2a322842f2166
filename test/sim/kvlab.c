/* The Lab 4 tester's config and GenericTest on the simulator (kvlab.h). */
#include "kvlab.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kv/labcheck.h"
#include "base/util.h"

#define OP_DEADLINE_MS 60000 /* as test/kv: the lab fails a whole test after 120 s */
#define ATTEMPT_MS 500
#define LIN_TIMEOUT_MS 20000

/* Every clerk outcome but OK and NO_KEY is a failed operation. */
static bool clerk_failed(enum clerk_result r) { return r != CLERK_OK && r != CLERK_NO_KEY; }

/* ---- the clients: the kv clerk, or the ops kvl_new_on gave --------------------------------- */

static void *kv_new_clerk(void *arg, struct kvl *t, uint64_t seed)
{
    (void)arg;
    struct simclerk_opts o = { .deadline_ms = t->op_deadline_ms, .attempt_ms = ATTEMPT_MS,
                               .seed = seed };
    return simclerk_new(t->net, t->o.nservers, &o);
}

static void kv_free_clerk(void *arg, void *ck)
{
    (void)arg;
    simclerk_free(ck);
}

static struct simnet_ep *kv_ep(void *ck) { return simclerk_ep(ck); }

/* The simclerk calls with the clerk as void * (calling through a cast function pointer would
 * be undefined behaviour). */
static void ck_get(void *ck, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg)
{
    simclerk_get(ck, key, klen, done, arg);
}

static void ck_put(void *ck, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   clerk_done_fn done, void *arg)
{
    simclerk_put(ck, key, klen, val, vlen, done, arg);
}

static void ck_append(void *ck, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                      bool want_prev, clerk_done_fn done, void *arg)
{
    simclerk_append(ck, key, klen, val, vlen, want_prev, done, arg);
}

static const struct kvl_client_ops kv_clients = {
    kv_new_clerk, kv_free_clerk, kv_ep, ck_get, ck_put, ck_append,
};

static void ck_issue(struct kvl_ck *k, enum lin_kind kind, const char *key, const char *val,
                     clerk_done_fn done, void *arg)
{
    const struct kvl_client_ops *ops = k->t->clients;
    const uint8_t *kb = (const uint8_t *)key;
    size_t vlen = val ? strlen(val) : 0;
    if (kind == LIN_GET)
        ops->get(k->ck, kb, strlen(key), done, arg);
    else if (kind == LIN_PUT)
        ops->put(k->ck, kb, strlen(key), (const uint8_t *)val, vlen, done, arg);
    else
        ops->append(k->ck, kb, strlen(key), (const uint8_t *)val, vlen, false, done, arg);
}

/* ---- the config ------------------------------------------------------------------------------ */

struct kvl *kvl_new(const struct kvl_opts *o)
{
    struct kvl *t = xcalloc(1, sizeof *t);
    t->o = *o;
    t->op_deadline_ms = OP_DEADLINE_MS;
    lin_history_init(&t->hist);
    t->k = simkv_new(o->kv_bugs);
    struct sim_opts so = { .n = o->nservers, .seed = o->seed, .machine = simsvc_machine(),
                           .machine_arg = simkv_svc(t->k),
                           .max_raft_state = o->maxraftstate > 0 ? (uint64_t)o->maxraftstate : 0,
                           .replica_bug = o->replica_bug, .apply_lag_ms = o->apply_lag_ms,
                           .noop_on_elect = o->noop_on_elect,
                           .background_snapshots = o->background_snapshots };
    t->s = sim_new(&so);
    t->net = simnet_new(t->s);
    t->clients = &kv_clients;
    simsvc_attach(simkv_svc(t->k), t->s, t->net);
    kvl_set_unreliable(t, o->unreliable);
    return t;
}

struct kvl *kvl_new_on(const struct kvl_opts *o, struct sim *s, struct simnet *net,
                       const struct kvl_client_ops *clients, void *clients_arg)
{
    struct kvl *t = xcalloc(1, sizeof *t);
    t->o = *o;
    t->o.nservers = (unsigned)sim_n(s);
    t->op_deadline_ms = OP_DEADLINE_MS;
    lin_history_init(&t->hist);
    t->s = s;
    t->net = net;
    t->borrowed = true;
    t->clients = clients;
    t->clients_arg = clients_arg;
    return t;
}

void kvl_free(struct kvl *t)
{
    if (!t)
        return;
    if (!t->borrowed) {
        sim_free(t->s);
        simnet_free(t->net);
        simkv_free(t->k);
    }
    lin_history_free(&t->hist);
    free(t);
}

void kvl_set_unreliable(struct kvl *t, bool unreliable)
{
    t->o.unreliable = unreliable;
    sim_set_unreliable(t->s, unreliable);
    simnet_set_unreliable(t->net, unreliable);
}

bool kvl_failed(const struct kvl *t) { return sim_failed(t->s); }

void kvl_fail(struct kvl *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sim_fail(t->s, "%s", buf);
}

int64_t kvl_ts(struct kvl *t)
{
    uint64_t now = sim_now(t->s);
    if (now != t->ts_ms) {
        t->ts_ms = now;
        t->ts_seq = 0;
    }
    return (int64_t)(now * 1000000 + t->ts_seq++);
}

/* ---- clerks ---------------------------------------------------------------------------------- */

struct kvl_ck *kvl_ck_new(struct kvl *t) { return kvl_ck_new_on(t, UINT32_MAX); }

struct kvl_ck *kvl_ck_new_on(struct kvl *t, uint32_t set)
{
    struct kvl_ck *k = xcalloc(1, sizeof *k);
    k->t = t;
    k->cli = t->next_cli++;
    k->ck = t->clients->new_clerk(t->clients_arg, t, (sim_rand(t->s, UINT64_MAX) << 1) | 1);
    if (set != UINT32_MAX)
        kvl_ck_connect(k, set);
    return k;
}

void kvl_ck_connect(struct kvl_ck *k, uint32_t set)
{
    if (k->t->clients->ep)
        simnet_ep_connect(k->t->clients->ep(k->ck), set);
}

struct simnet_ep *kvl_ck_ep(struct kvl_ck *k)
{
    return k->t->clients->ep ? k->t->clients->ep(k->ck) : NULL;
}

void kvl_ck_free(struct kvl_ck *k)
{
    if (!k)
        return;
    k->t->clients->free_clerk(k->t->clients_arg, k->ck);
    free(k);
}

/* ---- recorded operations --------------------------------------------------------------------- */

struct kvl_op {
    struct kvl *t;
    enum lin_kind kind;
    bool done;
    enum clerk_result r;
    size_t idx;
    char *key;
    char *out;
};

static void op_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct kvl_op *op = arg;
    struct kvl *t = op->t;
    op->done = true;
    op->r = r;
    op->out = xmalloc(len + 1);
    if (len)
        memcpy(op->out, value, len);
    op->out[len] = '\0';
    sim_stop(t->s);
    if (clerk_failed(r)) {
        t->ops_failed++;
        return; /* outcome unknown: stays without a return */
    }
    bool has_out = op->kind == LIN_GET;
    lin_history_return(&t->hist, op->idx, has_out ? op->out : NULL, has_out ? len : 0, kvl_ts(t));
}

static struct kvl_op *start_op(struct kvl_ck *k, enum lin_kind kind, const char *key,
                               const char *val)
{
    struct kvl *t = k->t;
    struct kvl_op *op = xcalloc(1, sizeof *op);
    op->t = t;
    op->kind = kind;
    op->key = xstrdup(key);
    size_t vlen = val ? strlen(val) : 0;
    lin_history_call(&t->hist, k->cli, kind, key, strlen(key), val ? val : "", vlen, kvl_ts(t),
                     &op->idx);
    ck_issue(k, kind, key, val, op_done, op);
    return op;
}

static void op_free(struct kvl_op *op)
{
    free(op->key);
    free(op->out);
    free(op);
}

void kvl_op_abandon(struct kvl_op *op) { op_free(op); }

struct kvl_op *kvl_start_get(struct kvl_ck *k, const char *key)
{
    return start_op(k, LIN_GET, key, NULL);
}

struct kvl_op *kvl_start_put(struct kvl_ck *k, const char *key, const char *val)
{
    return start_op(k, LIN_PUT, key, val);
}

/* Runs the simulation until op is done, ms pass, or the run failed. */
static void run_until_done(struct kvl *t, struct kvl_op *op, uint64_t ms)
{
    uint64_t end = sim_now(t->s) + ms;
    while (!op->done && !sim_failed(t->s) && sim_now(t->s) < end)
        sim_run_for(t->s, end - sim_now(t->s));
}

bool kvl_wait_op_value(struct kvl *t, struct kvl_op *op, uint64_t ms, char **value)
{
    run_until_done(t, op, ms);
    if (!op->done)
        return false;
    if (clerk_failed(op->r))
        kvl_fail(t, "%s on key %s failed: %s", lin_kind_name(op->kind), op->key,
                 clerk_result_name(op->r));
    if (value)
        *value = xstrdup(op->out);
    op_free(op);
    return true;
}

bool kvl_wait_op(struct kvl *t, struct kvl_op *op, uint64_t ms)
{
    return kvl_wait_op_value(t, op, ms, NULL);
}

void kvl_run_for(struct kvl *t, uint64_t ms)
{
    uint64_t end = sim_now(t->s) + ms;
    while (!sim_failed(t->s) && sim_now(t->s) < end)
        sim_run_for(t->s, end - sim_now(t->s));
}

static char *run_op(struct kvl_ck *k, enum lin_kind kind, const char *key, const char *val)
{
    struct kvl *t = k->t;
    if (sim_failed(t->s))
        return xstrdup("");
    struct kvl_op *op = start_op(k, kind, key, val);
    run_until_done(t, op, t->op_deadline_ms + 1000);
    char *out;
    if (!op->done) {
        kvl_fail(t, "%s %s did not complete", lin_kind_name(kind), key);
        out = xstrdup("");
        /* the clerk still holds op: it is freed with the clerk's pending operations */
        free(op->key);
        op->key = NULL;
        return out;
    }
    if (clerk_failed(op->r))
        kvl_fail(t, "%s %s did not complete within %llu ms (%s)", lin_kind_name(kind), key,
                 (unsigned long long)t->op_deadline_ms, clerk_result_name(op->r));
    out = op->out;
    op->out = NULL;
    op_free(op);
    return out;
}

char *kvl_get(struct kvl_ck *k, const char *key) { return run_op(k, LIN_GET, key, NULL); }
void kvl_put(struct kvl_ck *k, const char *key, const char *val)
{
    free(run_op(k, LIN_PUT, key, val));
}
void kvl_append(struct kvl_ck *k, const char *key, const char *val)
{
    free(run_op(k, LIN_APPEND, key, val));
}

void kvl_check(struct kvl_ck *k, const char *key, const char *want)
{
    char *v = kvl_get(k, key);
    if (!kvl_failed(k->t) && strcmp(v, want) != 0)
        kvl_fail(k->t, "Get(%s): expected:\n%s\nreceived:\n%s", key, want, v);
    free(v);
}

/* ---- sizes, leaders, the history ------------------------------------------------------------- */

uint64_t kvl_max_raft_state(struct kvl *t)
{
    uint64_t mx = 0;
    for (size_t i = 0; i < t->o.nservers; i++)
        mx = MAX(mx, (uint64_t)sim_raft_state_size(t->s, i));
    return mx;
}

uint64_t kvl_max_snapshot(struct kvl *t)
{
    uint64_t mx = 0;
    for (size_t i = 0; i < t->o.nservers; i++)
        mx = MAX(mx, (uint64_t)sim_snapshot_size(t->s, i));
    return mx;
}

int kvl_wait_leader(struct kvl *t)
{
    for (int k = 0; k < 200 && !sim_failed(t->s); k++) {
        int leader = -1;
        uint64_t best = 0;
        for (size_t i = 0; i < t->o.nservers; i++) {
            uint64_t term;
            if (sim_get_state(t->s, i, &term) && term >= best) {
                best = term;
                leader = (int)i;
            }
        }
        if (leader >= 0)
            return leader;
        kvl_run_for(t, 50);
    }
    kvl_fail(t, "no leader within 10 s");
    return -1;
}

enum lin_result kvl_check_linearizable(struct kvl *t, char *sum, size_t len)
{
    struct lin_report rep;
    enum lin_result r = lin_check(&t->hist, LIN_TIMEOUT_MS, &rep);
    lin_report_summary(&rep, sum, len);
    if (r == LIN_ILLEGAL)
        kvl_fail(t, "history is not linearizable: %s\n%s", sum,
                 rep.explanation ? rep.explanation : "");
    else if (r != LIN_OK)
        kvl_fail(t, "linearizability check did not finish (an unknown is a failure here): %s",
                 sum);
    lin_report_free(&rep);
    return r;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t kvl_history_digest(const struct kvl *t)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < t->hist.len; i++) {
        const struct lin_op *op = &t->hist.ops[i];
        int64_t f[4] = { op->client, op->kind, op->call_ns, op->return_ns };
        h = fnv(h, f, sizeof f);
        h = fnv(h, op->key, op->key_len);
        h = fnv(h, op->value, op->value_len);
        h = fnv(h, &op->has_output, 1);
        if (op->has_output)
            h = fnv(h, op->output, op->output_len);
    }
    return h;
}

/* ---- the generic clients --------------------------------------------------------------------- */

struct gclient {
    struct kvl_pool *g;
    struct kvl_ck *k;
    int cli, j;
    char *last;
    bool put_done;
    struct rng rng;
    enum lin_kind kind;
    char key[32], nv[64];
    size_t idx;
};

struct kvl_pool {
    struct kvl *t;
    struct kvl_pool_params p;
    bool halted;
    int finished;
    struct gclient *cl;
};

static void gclient_next(struct gclient *c);

static void gclient_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct gclient *c = arg;
    struct kvl_pool *g = c->g;
    struct kvl *t = g->t;
    char *v = xmalloc(len + 1);
    if (len)
        memcpy(v, value, len);
    v[len] = '\0';
    if (clerk_failed(r)) {
        kvl_fail(t, "an operation on key %s failed: %s", c->key, clerk_result_name(r));
        free(v);
        g->halted = true;
        goto stop;
    }
    bool has_out = c->kind == LIN_GET;
    lin_history_return(&t->hist, c->idx, has_out ? v : NULL, has_out ? len : 0, kvl_ts(t));
    if (!c->put_done) {
        c->put_done = true;
    } else if (c->kind == LIN_APPEND) {
        if (!g->p.randomkeys) {
            size_t ll = strlen(c->last), nl = strlen(c->nv);
            c->last = xrealloc(c->last, ll + nl + 1);
            memcpy(c->last + ll, c->nv, nl + 1);
        }
        c->j++;
    } else if (c->kind == LIN_PUT) {
        c->j++;
    } else if (!g->p.randomkeys && strcmp(v, c->last) != 0) {
        kvl_fail(t, "get wrong value, key %s, wanted:\n%s\n, got\n%s", c->key, c->last, v);
    }
    free(v);
stop:
    if (g->halted) {
        g->finished++;
        return;
    }
    gclient_next(c);
}

static void gclient_issue(struct gclient *c, enum lin_kind kind, const char *val)
{
    struct kvl *t = c->g->t;
    c->kind = kind;
    size_t vlen = val ? strlen(val) : 0;
    lin_history_call(&t->hist, c->k->cli, kind, c->key, strlen(c->key), val ? val : "", vlen,
                     kvl_ts(t), &c->idx);
    ck_issue(c->k, kind, c->key, val, gclient_done, c);
}

static void gclient_next(struct gclient *c)
{
    const struct kvl_pool_params *p = &c->g->p;
    if (p->randomkeys)
        snprintf(c->key, sizeof c->key, "%d", (int)rng_below(&c->rng, (uint64_t)p->nkeys));
    else
        snprintf(c->key, sizeof c->key, "%d", c->cli);
    snprintf(c->nv, sizeof c->nv, "x %d %d y", c->cli, c->j);
    if (rng_below(&c->rng, 1000) < 500)
        gclient_issue(c, LIN_APPEND, c->nv);
    else if (p->randomkeys && rng_below(&c->rng, 1000) < 100)
        gclient_issue(c, LIN_PUT, c->nv);
    else
        gclient_issue(c, LIN_GET, NULL);
}

struct kvl_pool *kvl_pool_start(struct kvl *t, const struct kvl_pool_params *p)
{
    struct kvl_pool *g = xcalloc(1, sizeof *g);
    g->t = t;
    g->p = *p;
    if (g->p.nkeys <= 0)
        g->p.nkeys = p->nclients;
    g->cl = xcalloc((size_t)p->nclients, sizeof *g->cl);
    for (int i = 0; i < p->nclients; i++) {
        struct gclient *c = &g->cl[i];
        c->g = g;
        c->cli = i;
        c->k = kvl_ck_new(t);
        c->last = xstrdup("");
        rng_seed(&c->rng, sim_rand(t->s, UINT64_MAX));
        if (!p->randomkeys) {
            snprintf(c->key, sizeof c->key, "%d", i);
            gclient_issue(c, LIN_PUT, "");
        } else {
            c->put_done = true;
            gclient_next(c);
        }
    }
    return g;
}

void kvl_pool_halt(struct kvl_pool *g) { g->halted = true; }

void kvl_pool_wait(struct kvl_pool *g)
{
    struct kvl *t = g->t;
    g->halted = true;
    uint64_t end = sim_now(t->s) + t->op_deadline_ms + 1000;
    while (g->finished < g->p.nclients && !kvl_failed(t) && sim_now(t->s) < end)
        kvl_run_for(t, 10);
    if (g->finished < g->p.nclients)
        kvl_fail(t, "%d of %d clients did not finish", g->p.nclients - g->finished,
                 g->p.nclients);
}

int kvl_pool_written(const struct kvl_pool *g, int i) { return g->cl[i].j; }
struct kvl_ck *kvl_pool_clerk(struct kvl_pool *g, int i) { return g->cl[i].k; }

const char *kvl_pool_value(const struct kvl_pool *g, int i) { return g->cl[i].last; }

void kvl_pool_free(struct kvl_pool *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->p.nclients; i++) {
        kvl_ck_free(g->cl[i].k);
        free(g->cl[i].last);
    }
    free(g->cl);
    free(g);
}

/* ---- GenericTest ----------------------------------------------------------------------------- */

static void partition_randomly(struct kvl *t)
{
    int group[SIM_MAX_NODES];
    for (size_t i = 0; i < t->o.nservers; i++)
        group[i] = (int)sim_rand(t->s, 2);
    sim_partition(t->s, group);
}

static void heal(struct kvl *t)
{
    for (size_t i = 0; i < t->o.nservers; i++)
        sim_connect(t->s, i);
}

/* The client phase: ms, partitioning every 1.0-1.2 s after the first second when partitions
 * is set (then the phase is a second longer, as in test/kv). */
static void client_phase(struct kvl *t, const struct kvl_params *p)
{
    if (!p->partitions) {
        kvl_run_for(t, p->client_ms);
        return;
    }
    uint64_t end = sim_now(t->s) + p->client_ms + 1000;
    kvl_run_for(t, 1000);
    while (!kvl_failed(t) && sim_now(t->s) < end) {
        partition_randomly(t);
        uint64_t nap = KVL_ELECTION_MS + sim_rand(t->s, 200);
        kvl_run_for(t, MIN(nap, end - sim_now(t->s)));
    }
}

void kvl_generic(struct kvl *t, const struct kvl_params *p, struct kvl_result *res)
{
    memset(res, 0, sizeof *res);
    struct kvl_ck *ck = kvl_ck_new(t);
    for (int iter = 0; iter < p->iterations && !kvl_failed(t); iter++) {
        size_t hist_before = t->hist.len;
        struct kvl_pool_params pp = { .nclients = p->nclients, .randomkeys = p->randomkeys };
        struct kvl_pool *g = kvl_pool_start(t, &pp);
        client_phase(t, p);
        kvl_pool_halt(g);
        if (p->partitions) {
            heal(t);
            kvl_run_for(t, KVL_ELECTION_MS);
        }
        if (p->crash) {
            for (size_t i = 0; i < t->o.nservers; i++)
                sim_crash(t->s, i);
            kvl_run_for(t, KVL_ELECTION_MS);
            for (size_t i = 0; i < t->o.nservers; i++)
                sim_restart(t->s, i);
            heal(t);
        }
        kvl_pool_wait(g);
        int total = 0;
        for (int i = 0; i < p->nclients && !kvl_failed(t); i++) {
            char key[32];
            snprintf(key, sizeof key, "%d", i);
            char *v = kvl_get(ck, key);
            char why[1024];
            int written = kvl_pool_written(g, i);
            if (!p->randomkeys && !kvl_failed(t) &&
                !kv_appends_check_client(i, v, written, why, sizeof why))
                kvl_fail(t, "client %d: %s", i, why);
            total += written;
            free(v);
        }
        uint64_t sz = kvl_max_raft_state(t);
        res->max_raft_state = MAX(res->max_raft_state, sz);
        if (p->maxraftstate > 0 && sz > 8 * (uint64_t)p->maxraftstate)
            kvl_fail(t, "logs were not trimmed (%llu > 8*%d)", (unsigned long long)sz,
                     p->maxraftstate);
        if (p->maxraftstate < 0 && kvl_max_snapshot(t) > 0)
            kvl_fail(t, "snapshot too large (a node took a snapshot with maxraftstate -1)");
        res->ops += t->hist.len - hist_before;
        if (!t->o.quiet)
            printf("  iteration %d: %llu ops, %d writes of own elements, max raft state %llu B, "
                   "%.1f s simulated\n", iter, (unsigned long long)(t->hist.len - hist_before),
                   total, (unsigned long long)sz, sim_now(t->s) / 1000.0);
        kvl_pool_free(g);
    }
    kvl_ck_free(ck);
}

/* ---- concurrent appends to one key ----------------------------------------------------------- */

struct onekey {
    struct kvl *t;
    struct kvl_ck *k;
    int me, n, upto;
    size_t idx;
    char nv[64];
    int *left;
};

static void onekey_next(struct onekey *o);

static void onekey_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    (void)value;
    (void)len;
    struct onekey *o = arg;
    if (clerk_failed(r)) {
        kvl_fail(o->t, "client %d: an Append failed: %s", o->me, clerk_result_name(r));
        --*o->left;
        return;
    }
    lin_history_return(&o->t->hist, o->idx, NULL, 0, kvl_ts(o->t));
    if (++o->n >= o->upto) {
        --*o->left;
        return;
    }
    onekey_next(o);
}

static void onekey_next(struct onekey *o)
{
    snprintf(o->nv, sizeof o->nv, "x %d %d y", o->me, o->n);
    lin_history_call(&o->t->hist, o->k->cli, LIN_APPEND, "k", 1, o->nv, strlen(o->nv),
                     kvl_ts(o->t), &o->idx);
    ck_issue(o->k, LIN_APPEND, "k", o->nv, onekey_done, o);
}

void kvl_concurrent_one_key(struct kvl *t, int nclients, int upto)
{
    struct kvl_ck *ck = kvl_ck_new(t);
    kvl_put(ck, "k", "");
    struct onekey *o = xcalloc((size_t)nclients, sizeof *o);
    int left = nclients;
    for (int i = 0; i < nclients; i++) {
        o[i] = (struct onekey){ .t = t, .k = kvl_ck_new(t), .me = i, .upto = upto,
                                .left = &left };
        onekey_next(&o[i]);
    }
    uint64_t end = sim_now(t->s) + t->op_deadline_ms * (uint64_t)upto;
    while (left > 0 && !kvl_failed(t) && sim_now(t->s) < end)
        kvl_run_for(t, 10);
    if (left > 0)
        kvl_fail(t, "%d clients did not finish their appends", left);
    int *counts = xcalloc((size_t)nclients, sizeof *counts);
    for (int i = 0; i < nclients; i++) {
        counts[i] = upto;
        kvl_ck_free(o[i].k);
    }
    char *vx = kvl_get(ck, "k");
    char why[1024];
    if (!kvl_failed(t) && !kv_appends_check_concurrent(vx, counts, nclients, why, sizeof why))
        kvl_fail(t, "%s", why);
    if (!t->o.quiet)
        printf("  %d clients x %d appends to one key: final value %zu bytes\n", nclients, upto,
               strlen(vx));
    free(vx);
    free(counts);
    free(o);
    kvl_ck_free(ck);
}
