/* Shard clerks and their recorded operations, on the test thread (skvtest.h). */
#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "internal.h"

/* A clerk's wait for one server's answer before it tries the next. labrpc fails a dropped call
 * at once; a proxy's dropped frame is only noticed when this runs out, so it is kept short (as
 * kvtest's), well above an answer's worst time here (a few hops of at most 26 ms each). */
#define ATTEMPT_MS 500

/* Adds a clerk's counters to t's (under hist_mu: clerks are freed on either thread). */
void skt_add_clerk_stats(struct skt *t, const struct shard_clerk *ck)
{
    struct shard_clerk_stats st;
    shard_clerk_stats(ck, &st);
    pthread_mutex_lock(&t->hist_mu);
    t->cks.queries += st.queries;
    t->cks.wrong_group += st.wrong_group;
    t->cks.no_answer += st.no_answer;
    pthread_mutex_unlock(&t->hist_mu);
}

/* ---- the shard clerk (lib/clerk/shard.h) -------------------------------------------------- */

struct shard_clerk *skt_sclerk_new(struct skt *t, struct event_base *base, struct cluster *ctl)
{
    const char *addrs[CLUSTER_MAX_NODES];
    size_t n = cluster_client_addrs(ctl ? ctl : t->ctl[0], addrs);
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = SKT_OP_DEADLINE_MS;
    o.attempt_ms = ATTEMPT_MS;
    o.seed = rng_next(skt_rng(t)) | 1;
    char err[512];
    struct shard_clerk *ck = shard_clerk_new(base, addrs, n, &o, err, sizeof err);
    SKT_EXPECT(t, ck, "shard clerk: %s", err);
    return ck;
}

/* ---- recorded operations ---------------------------------------------------------------- */

bool skt_op_failed(enum clerk_result r) { return r != CLERK_OK && r != CLERK_NO_KEY; }


static void op_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct op *op = arg;
    int64_t now = (int64_t)clock_mono_ns();
    op->done = true;
    op->r = r;
    op->out = xmalloc(len + 1);
    if (len)
        memcpy(op->out, value, len);
    op->out[len] = '\0';
    if (skt_op_failed(r)) {
        /* outcome unknown: stays without a return in the history */
        snprintf(op->err, sizeof op->err, "%s", shard_clerk_error(op->ck));
    } else {
        struct skt *t = op->t;
        uint64_t took = clock_mono_ms() - op->start_ms;
        pthread_mutex_lock(&t->hist_mu);
        if (t->record)
            lin_history_return(&t->hist, op->idx, op->kind == LIN_GET ? op->out : NULL,
                               op->kind == LIN_GET ? len : 0, now);
        t->ops++;
        t->ops_ms += took;
        t->slowest_ms = MAX(t->slowest_ms, took);
        t->over_1s += took > 1000;
        pthread_mutex_unlock(&t->hist_mu);
    }
    if (op->then)
        op->then(op, op->arg);
}

void skt_op_start(struct op *op)
{
    struct skt *t = op->t;
    op->done = false;
    free(op->out);
    op->out = NULL;
    op->start_ms = clock_mono_ms();
    size_t vlen = op->val ? strlen(op->val) : 0;
    if (t->record) {
        pthread_mutex_lock(&t->hist_mu);
        lin_history_call(&t->hist, op->cli, op->kind, op->key, strlen(op->key),
                         op->val ? op->val : "", vlen, (int64_t)clock_mono_ns(), &op->idx);
        pthread_mutex_unlock(&t->hist_mu);
    }
    const uint8_t *kb = (const uint8_t *)op->key;
    size_t kl = strlen(op->key);
    if (op->kind == LIN_GET)
        shard_clerk_get(op->ck, kb, kl, op_done, op);
    else if (op->kind == LIN_PUT)
        shard_clerk_put(op->ck, kb, kl, (const uint8_t *)op->val, vlen, false, op_done, op);
    else
        shard_clerk_append(op->ck, kb, kl, (const uint8_t *)op->val, vlen, false, op_done,
                           op);
}

void skt_op_clear(struct op *op)
{
    free(op->val);
    free(op->out);
    op->val = op->out = NULL;
}

/* "Get(3)", "Append(3, 5 bytes)" for messages. */
void skt_op_name(const struct op *op, char *buf, size_t len)
{
    if (op->kind == LIN_GET)
        snprintf(buf, len, "Get(%s)", op->key);
    else
        snprintf(buf, len, "%s(%s, %zu bytes)", op->kind == LIN_PUT ? "Put" : "Append", op->key,
                 op->val ? strlen(op->val) : 0);
}

/* ---- clerks on the test thread ---------------------------------------------------------- */

struct skt_ck *skt_ck_new(struct skt *t, struct cluster *ctl)
{
    struct skt_ck *k = xcalloc(1, sizeof *k);
    k->t = t;
    k->cli = t->next_cli++;
    k->ck = skt_sclerk_new(t, t->base, ctl);
    return k;
}

void skt_ck_free(struct skt_ck *k)
{
    if (!k)
        return;
    skt_add_clerk_stats(k->t, k->ck);
    shard_clerk_free(k->ck);
    free(k);
}

/* Runs one operation to its end on the test thread's loop. */
static char *run_op(struct skt_ck *k, enum lin_kind kind, const char *key, const char *val)
{
    struct skt *t = k->t;
    struct op op = { .t = t, .ck = k->ck, .cli = k->cli, .kind = kind };
    snprintf(op.key, sizeof op.key, "%s", key);
    op.val = val ? xstrdup(val) : NULL;
    skt_op_start(&op);
    /* The clerk's deadline ends it first; this bound only guards against a clerk that would
     * not keep its own. */
    uint64_t end = op.start_ms + SKT_OP_DEADLINE_MS + 5000;
    while (!op.done && clock_mono_ms() < end) {
        struct timeval tv = { 0, 20000 };
        event_base_loopexit(t->base, &tv);
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    char what[64];
    skt_op_name(&op, what, sizeof what);
    SKT_EXPECT(t, op.done, "%s did not complete within %d s (the clerk kept no deadline)", what,
               SKT_OP_DEADLINE_MS / 1000 + 5);
    SKT_EXPECT(t, !skt_op_failed(op.r), "%s failed after %.1f s: %s: %s", what,
               (clock_mono_ms() - op.start_ms) / 1e3, clerk_result_name(op.r), op.err);
    char *out = op.out;
    op.out = NULL;
    skt_op_clear(&op);
    return out;
}

char *skt_get(struct skt_ck *k, const char *key) { return run_op(k, LIN_GET, key, NULL); }
void skt_put(struct skt_ck *k, const char *key, const char *val)
{
    free(run_op(k, LIN_PUT, key, val));
}
void skt_append(struct skt_ck *k, const char *key, const char *val)
{
    free(run_op(k, LIN_APPEND, key, val));
}

void skt_check(struct skt_ck *k, const char *key, const char *want)
{
    char *v = skt_get(k, key);
    size_t d = 0; /* where they first differ: a lost or doubled Append shows there */
    while (want[d] && want[d] == v[d])
        d++;
    SKT_EXPECT(k->t, strcmp(v, want) == 0,
               "Get(%s): expected (%zu bytes):\n%s\nreceived (%zu bytes, first difference at byte "
               "%zu):\n%s",
               key, strlen(want), want, strlen(v), d, v);
    free(v);
}

struct quiet {
    uint64_t last_ms;
    int returned;
};

static void quiet_then(struct op *op, void *arg)
{
    struct quiet *q = arg;
    (void)op;
    q->last_ms = clock_mono_ms();
    q->returned++;
}

void skt_gets_until_quiet(struct skt *t, struct skt_ck **clerks, const char *const *keys,
                          size_t n, uint64_t quiet_ms, char **got)
{
    struct op *ops = xcalloc(n, sizeof *ops);
    struct quiet q = { .last_ms = clock_mono_ms() };
    for (size_t k = 0; k < n; k++) {
        ops[k] = (struct op){ .t = t, .ck = clerks[k]->ck, .cli = clerks[k]->cli,
                              .kind = LIN_GET, .then = quiet_then, .arg = &q };
        snprintf(ops[k].key, sizeof ops[k].key, "%s", keys[k]);
        skt_op_start(&ops[k]);
    }
    /* bounded: n results at most, each restarting a quiet_ms wait */
    uint64_t end = clock_mono_ms() + (n + 1) * quiet_ms + 1000;
    while (clock_mono_ms() - q.last_ms < quiet_ms && clock_mono_ms() < end &&
           (size_t)q.returned < n) {
        struct timeval tv = { 0, 20000 };
        event_base_loopexit(t->base, &tv);
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    for (size_t k = 0; k < n; k++) {
        got[k] = NULL;
        if (!ops[k].done)
            continue;
        char what[64];
        skt_op_name(&ops[k], what, sizeof what);
        SKT_EXPECT(t, !skt_op_failed(ops[k].r), "%s failed: %s: %s", what,
                   clerk_result_name(ops[k].r), ops[k].err);
        got[k] = ops[k].out;
        ops[k].out = NULL;
    }
    /* A Get still pending belongs to its clerk until the clerk is freed (which drops it
     * without its callback, as the lab leaves its hung goroutines): the clerks go first. */
    for (size_t k = 0; k < n; k++) {
        skt_ck_free(clerks[k]);
        clerks[k] = NULL;
    }
    for (size_t k = 0; k < n; k++)
        skt_op_clear(&ops[k]);
    free(ops);
}

void skt_fill_rand(struct rng *r, char *s, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i++)
        s[i] = abc[rng_below(r, sizeof abc - 1)];
    s[n] = '\0';
}
