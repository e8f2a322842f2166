/* Generated histories: a simulated linearizable store (tests and benchmarks). A cas's expected
 * value is picked when it takes effect: half the time the key's current value (so it swaps),
 * else its previous value or "absent" (mostly failing); one whose effect is not applied expects
 * absence. An absent key reads (and an append to it records) "absent". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "lincheck.h"

void lin_gen_params_default(struct lin_gen_params *p)
{
    *p = (struct lin_gen_params){
        .seed = 1,
        .ops = 10000,
        .clients = 15,
        .keys = 15,
        .put_pct = 5,
        .append_pct = 50,
        .append_output = false,
        .lost_pct = 0,
        .max_duration_ns = 2000000,
        .max_gap_ns = 500000,
    };
}

struct gop {
    unsigned client, key;
    enum lin_kind kind;
    char value[48];
    char *expected; /* cas, unless expect_absent */
    size_t expected_len;
    bool expect_absent, ok, absent;
    int64_t call, ret, at; /* at: the instant it takes effect */
    bool lost, applied;
    char *output;
    size_t output_len;
};

struct gval {
    char *p;
    size_t len, cap;
    bool absent;
    char *prev; /* the value before the last write (NULL: absent), for stale cas */
    size_t prev_len;
};

/* Sorts operation indices by effect instant (then index). A merge sort, since C11's qsort has
 * no context argument and the project keeps no global mutable state. */
static void sort_by_at(size_t *idx, size_t *tmp, size_t n, const struct gop *g)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_by_at(idx, tmp, h, g);
    sort_by_at(idx + h, tmp, n - h, g);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        const struct gop *a = &g[idx[i]], *b = &g[idx[j]];
        if (b->at < a->at || (b->at == a->at && idx[j] < idx[i]))
            tmp[k++] = idx[j++];
        else
            tmp[k++] = idx[i++];
    }
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

static void gval_put(struct gval *v, const char *s, size_t len, bool append)
{
    v->absent = false;
    if (!append)
        v->len = 0;
    if (v->len + len + 1 > v->cap) {
        v->cap = (v->len + len + 1) * 2;
        v->p = xrealloc(v->p, v->cap);
    }
    memcpy(v->p + v->len, s, len);
    v->len += len;
}

static char *dup_bytes(const char *s, size_t len)
{
    char *p = xmalloc(len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void lin_history_generate(struct lin_history *h, const struct lin_gen_params *p)
{
    unsigned clients = p->clients ? p->clients : 1, keys = p->keys ? p->keys : 1;
    uint64_t max_dur = p->max_duration_ns > 0 ? (uint64_t)p->max_duration_ns : 1;
    uint64_t max_gap = p->max_gap_ns > 0 ? (uint64_t)p->max_gap_ns : 0;
    struct rng rng;
    rng_seed(&rng, p->seed);
    int64_t *next_call = xcalloc(clients, sizeof *next_call);
    unsigned *seq = xcalloc(clients, sizeof *seq);
    for (unsigned c = 0; c < clients; c++)
        next_call[c] = (int64_t)rng_below(&rng, max_gap + 1);
    struct gop *g = xcalloc(p->ops ? p->ops : 1, sizeof *g);

    for (size_t i = 0; i < p->ops; i++) {
        unsigned c = 0;
        for (unsigned k = 1; k < clients; k++)
            if (next_call[k] < next_call[c])
                c = k;
        struct gop *o = &g[i];
        o->client = c;
        o->key = (unsigned)rng_below(&rng, keys);
        unsigned roll = (unsigned)rng_below(&rng, 100);
        unsigned upto_append = p->put_pct + p->append_pct;
        unsigned upto_delete = upto_append + p->delete_pct;
        o->kind = roll < p->put_pct                  ? LIN_PUT
                  : roll < upto_append               ? LIN_APPEND
                  : roll < upto_delete               ? LIN_DELETE
                  : roll < upto_delete + p->cas_pct  ? LIN_CAS
                                                     : LIN_GET;
        if (o->kind == LIN_APPEND)
            snprintf(o->value, sizeof o->value, "x %u %u y", c, seq[c]);
        else if (o->kind == LIN_PUT)
            snprintf(o->value, sizeof o->value, "p %u %u q", c, seq[c]);
        else if (o->kind == LIN_CAS)
            snprintf(o->value, sizeof o->value, "c %u %u d", c, seq[c]);
        o->expect_absent = true; /* until it takes effect */
        seq[c]++;
        int64_t dur = 1 + (int64_t)rng_below(&rng, max_dur);
        o->call = next_call[c];
        o->ret = o->call + dur;
        o->at = o->call + (int64_t)rng_below(&rng, (uint64_t)dur + 1);
        o->lost = rng_below(&rng, 100) < p->lost_pct;
        o->applied = true;
        if (o->lost) {
            o->applied = rng_below(&rng, 2) == 0;
            o->at = o->call + (int64_t)rng_below(&rng, 4 * max_dur + 1);
        }
        next_call[c] = o->ret + (int64_t)rng_below(&rng, max_gap + 1);
    }

    /* Apply every operation at its instant, in order. */
    size_t *order = xmalloc((p->ops ? p->ops : 1) * sizeof *order);
    size_t *tmp = xmalloc((p->ops ? p->ops : 1) * sizeof *tmp);
    for (size_t i = 0; i < p->ops; i++)
        order[i] = i;
    sort_by_at(order, tmp, p->ops, g);
    struct gval *vals = xcalloc(keys, sizeof *vals);
    for (unsigned k = 0; k < keys; k++) {
        gval_put(&vals[k], "", 0, false);
        vals[k].absent = true;
    }
    for (size_t j = 0; j < p->ops; j++) {
        struct gop *o = &g[order[j]];
        struct gval *v = &vals[o->key];
        if (!o->applied)
            continue;
        if (o->kind == LIN_CAS) {
            unsigned pick = (unsigned)rng_below(&rng, 4);
            const char *e = pick < 2 && !v->absent ? v->p : pick == 2 ? v->prev : NULL;
            size_t elen = pick < 2 && !v->absent ? v->len : pick == 2 ? v->prev_len : 0;
            o->expect_absent = !e;
            o->expected = e ? dup_bytes(e, elen) : NULL;
            o->expected_len = e ? elen : 0;
            o->ok = o->expect_absent ? v->absent
                                     : !v->absent && v->len == elen && memcmp(v->p, e, elen) == 0;
        }
        o->absent = v->absent;
        if (o->kind == LIN_DELETE)
            o->ok = !v->absent;
        if (o->kind == LIN_GET || (o->kind == LIN_APPEND && p->append_output) ||
            (o->kind == LIN_CAS && !o->ok)) {
            o->output = dup_bytes(v->p, v->len);
            o->output_len = v->len;
        }
        bool writes = o->kind == LIN_PUT || o->kind == LIN_APPEND || o->kind == LIN_DELETE ||
                      (o->kind == LIN_CAS && o->ok);
        if (writes) {
            free(v->prev);
            v->prev = v->absent ? NULL : dup_bytes(v->p, v->len);
            v->prev_len = v->absent ? 0 : v->len;
        }
        if (o->kind == LIN_DELETE) {
            gval_put(v, "", 0, false);
            v->absent = true;
        } else if (writes) {
            gval_put(v, o->value, strlen(o->value), o->kind == LIN_APPEND);
        }
    }

    for (size_t i = 0; i < p->ops; i++) {
        struct gop *o = &g[i];
        if (o->lost && o->kind == LIN_GET) {
            free(o->output);
            continue;
        }
        char key[16];
        snprintf(key, sizeof key, "%u", o->key);
        struct lin_op op = {
            .client = o->client,
            .kind = o->kind,
            .key = key,
            .key_len = strlen(key),
            .value = o->value,
            .value_len = strlen(o->value),
            .output = o->lost ? NULL : o->output,
            .output_len = o->lost ? 0 : o->output_len,
            .has_output = !o->lost && o->output != NULL,
            .absent = !o->lost && o->output != NULL && o->absent,
            .expected = o->expected,
            .expected_len = o->expected_len,
            .expect_absent = o->expect_absent,
            .has_ok = !o->lost && (o->kind == LIN_DELETE || o->kind == LIN_CAS),
            .ok = o->ok,
            .call_ns = o->call,
            .return_ns = o->lost ? LIN_NO_RETURN : o->ret,
        };
        lin_history_add_op(h, &op);
        free(o->output);
        free(o->expected);
    }
    for (unsigned k = 0; k < keys; k++) {
        free(vals[k].p);
        free(vals[k].prev);
    }
    free(vals);
    free(order);
    free(tmp);
    free(g);
    free(seq);
    free(next_call);
}
