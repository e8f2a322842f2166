/* One partition (key): Wing & Gong's search over the list of call and return entries, with
 * Lowe's memo of explored (linearized set, value) pairs, as in Porcupine, plus the rules of the
 * key/value model (model.c). The list is doubly linked; linearizing an operation lifts its call
 * and return out of it, and taking the step back puts them back (dancing links). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "internal.h"

void lin_search_free(struct lin_search *s)
{
    lin_states_free(&s->states);
    lin_cache_free(&s->cache);
    free(s->obs);
    free(s->pops);
    free(s->ents);
    free(s->next);
    free(s->prev);
    free(s->match);
    free(s->ent_op);
    free(s->zkey);
    free(s->words);
    free(s->stack);
    free(s->best);
}

static void search_reserve(struct lin_search *s, size_t m)
{
    if (m > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < m)
            cap *= 2;
        s->pops = xrealloc(s->pops, cap * sizeof *s->pops);
        s->obs = xrealloc(s->obs, 2 * cap * sizeof *s->obs);
        s->ents = xrealloc(s->ents, 2 * cap * sizeof *s->ents);
        s->next = xrealloc(s->next, (2 * cap + 1) * sizeof *s->next);
        s->prev = xrealloc(s->prev, (2 * cap + 1) * sizeof *s->prev);
        s->match = xrealloc(s->match, 2 * cap * sizeof *s->match);
        s->ent_op = xrealloc(s->ent_op, 2 * cap * sizeof *s->ent_op);
        s->zkey = xrealloc(s->zkey, cap * sizeof *s->zkey);
        s->stack = xrealloc(s->stack, cap * sizeof *s->stack);
        s->best = xrealloc(s->best, cap * sizeof *s->best);
        s->cap = cap;
    }
    size_t nw = (m + 63) / 64;
    if (nw > s->wcap) {
        s->words = xrealloc(s->words, nw * sizeof *s->words);
        s->wcap = nw;
    }
}

static int cmp_entry(const void *a, const void *b)
{
    const struct lin_entry *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->is_return != y->is_return)
        return x->is_return < y->is_return ? -1 : 1; /* calls before returns at equal times */
    return x->op < y->op ? -1 : x->op > y->op;
}

static bool deadline_passed(const struct lin_search *s)
{
    return s->deadline_ns && clock_mono_ns() >= s->deadline_ns;
}

/* Bytes held by the memo and the interned values. */
static size_t search_memory(const struct lin_search *s)
{
    return s->cache.cap * sizeof *s->cache.v + s->cache.words_cap * sizeof(uint64_t) +
           s->cache.nslots * sizeof(uint32_t) + s->states.bytes_cap +
           s->states.cap * sizeof *s->states.v + s->states.nslots * sizeof(uint32_t);
}

/* Checked every 1024 steps: time is up, or memory is. */
static bool must_give_up(struct lin_search *s)
{
    if (search_memory(s) > LIN_MEMORY_LIMIT) {
        s->out_of_memory = true;
        return true;
    }
    return deadline_passed(s);
}

/* The search's position: the linearized set, the value, the stack of steps taken, and the
 * longest prefix reached (best[0..best_n); best[0..common) still equals the stack's ops). */
struct walk {
    struct lin_search *s;
    struct lin_bits b;
    uint32_t head;
    uint32_t state;
    size_t depth, best_n, common;
};

/* Linearizes the operation of call entry e, leading to state ns, unless (set + op, ns) was
 * explored before. Returns whether it did. */
static bool try_step(struct walk *w, uint32_t e, uint32_t ns, bool forced)
{
    struct lin_search *s = w->s;
    uint32_t op = s->ent_op[e], r = s->match[e];
    lin_bits_set(&w->b, op, s->zkey);
    if (!lin_cache_add(&s->cache, &w->b, ns)) {
        lin_bits_clear(&w->b, op, s->zkey);
        return false;
    }
    s->stack[w->depth++] = (struct lin_frame){ e, w->state, forced };
    w->state = ns;
    /* lift the call and its return out of the list */
    s->next[s->prev[e]] = s->next[e];
    s->prev[s->next[e]] = s->prev[e];
    s->next[s->prev[r]] = s->next[r];
    if (s->next[r] != LIN_NIL)
        s->prev[s->next[r]] = s->prev[r];
    if (w->depth > w->best_n) {
        for (size_t i = w->common; i < w->depth; i++)
            s->best[i] = s->ent_op[s->stack[i].entry];
        w->best_n = w->common = w->depth;
    }
    return true;
}

/* Takes back the last step, and the steps before it that were forced (a forced step was the
 * only one worth trying at its node); *entry becomes the next candidate to try at the node
 * reached. Returns false when there is nothing left to take back: no linearization exists. */
static bool backtrack(struct walk *w, uint32_t *entry)
{
    struct lin_search *s = w->s;
    for (;;) {
        if (w->depth == 0)
            return false;
        struct lin_frame f = s->stack[--w->depth];
        if (w->depth < w->common)
            w->common = w->depth;
        w->state = f.state;
        uint32_t e = f.entry, r = s->match[e];
        lin_bits_clear(&w->b, s->ent_op[e], s->zkey);
        /* unlift: put the return back, then the call */
        s->next[s->prev[r]] = r;
        if (s->next[r] != LIN_NIL)
            s->prev[s->next[r]] = r;
        s->next[s->prev[e]] = e;
        s->prev[s->next[e]] = e;
        if (!f.forced) {
            *entry = s->next[e];
            return true;
        }
    }
}

enum lin_result lin_search_partition(struct lin_search *s, const struct lin_history *h,
                                     const size_t *ops, size_t m, size_t *best_len)
{
    *best_len = 0;
    if (m == 0)
        return LIN_OK;
    search_reserve(s, m);
    s->m = m;
    lin_states_clear(&s->states);
    lin_cache_clear(&s->cache);

    s->nobs = 0;
    struct rng rng;
    rng_seed(&rng, UINT64_C(0x6c696e636865636b));
    for (size_t i = 0; i < m; i++) {
        const struct lin_op *op = &h->ops[ops[i]];
        struct lin_pop *p = &s->pops[i];
        p->kind = op->kind;
        /* the output of an operation without a return is unknown: ignore it */
        bool returned = op->return_ns != LIN_NO_RETURN;
        p->has_ok = (op->kind == LIN_DELETE || op->kind == LIN_CAS) && op->has_ok && returned;
        p->ok = p->has_ok && op->ok;
        p->has_output = op->has_output && returned && op->kind != LIN_DELETE &&
                        (op->kind != LIN_CAS || (p->has_ok && !p->ok));
        p->absent = p->has_output && op->absent;
        p->expect_absent = op->kind == LIN_CAS && op->expect_absent;
        p->expected = op->expected;
        p->expected_len = op->kind == LIN_CAS ? op->expected_len : 0;
        p->expected_hash = lin_poly_hash(p->expected, p->expected_len, NULL);
        p->value = op->value;
        p->value_len = op->value_len;
        p->value_hash = lin_poly_hash(op->value, op->value_len, &p->value_pow);
        p->output = op->output;
        p->output_len = op->output_len;
        p->output_hash = op->has_output ? lin_poly_hash(op->output, op->output_len, NULL) : 0;
        p->put_state = op->kind != LIN_PUT && op->kind != LIN_CAS
                           ? 0
                           : lin_states_intern(&s->states, LIN_NIL, op->value, op->value_len,
                                               p->value_hash);
        /* What can observe a value: outputs, and a cas's comparison with its expected value */
        if (p->has_output && !p->absent)
            s->obs[s->nobs++] = (struct lin_obs){ p->output, p->output_len };
        if (op->kind == LIN_CAS && !p->expect_absent)
            s->obs[s->nobs++] = (struct lin_obs){ p->expected, p->expected_len };
        s->zkey[i] = rng_next(&rng);
        s->ents[2 * i] = (struct lin_entry){ op->call_ns, 0, (uint32_t)i };
        s->ents[2 * i + 1] = (struct lin_entry){
            op->return_ns == LIN_NO_RETURN ? INT64_MAX : op->return_ns, 1, (uint32_t)i };
    }
    size_t ne = 2 * m;
    qsort(s->ents, ne, sizeof *s->ents, cmp_entry);
    if (s->prune)
        lin_model_prepare(s);

    /* The doubly linked entry list; head is entry ne. */
    uint32_t head = (uint32_t)ne;
    uint32_t *next = s->next, *prev = s->prev, *match = s->match, *ent_op = s->ent_op;
    uint32_t *call_of = s->best; /* scratch: the call entry of each op (best is unused yet) */
    for (uint32_t e = 0; e < ne; e++) {
        next[e] = e + 1 < ne ? e + 1 : LIN_NIL;
        prev[e] = e == 0 ? head : e - 1;
        ent_op[e] = s->ents[e].op;
        match[e] = LIN_NIL;
        if (!s->ents[e].is_return)
            call_of[s->ents[e].op] = e;
        else
            match[call_of[s->ents[e].op]] = e;
    }
    next[head] = 0;
    prev[head] = LIN_NIL;

    struct walk w = {
        .s = s,
        .b = { s->words, (m + 63) / 64, 0, 0, 0 },
        .head = head,
        .state = LIN_ABSENT,
    };
    memset(w.b.w, 0, w.b.nw * sizeof *w.b.w);

    enum lin_result result = LIN_OK;
    uint32_t entry = next[head];
    bool fresh = true; /* entry is the head of a node not visited before */
    while (next[head] != LIN_NIL) {
        if ((++s->steps & 1023) == 0 && must_give_up(s)) {
            result = LIN_UNKNOWN;
            break;
        }
        if (fresh && s->prune) {
            fresh = false;
            uint32_t g = lin_forced_read(s, head, w.state);
            if (g != LIN_NIL) {
                if (try_step(&w, g, w.state, true)) {
                    fresh = true;
                    entry = next[head];
                } else if (!backtrack(&w, &entry)) { /* explored before, from here on */
                    result = LIN_ILLEGAL;
                    break;
                }
                continue;
            }
        }
        uint32_t op = ent_op[entry], ns;
        if (match[entry] == LIN_NIL) { /* a return whose operation is not linearized */
            if (!backtrack(&w, &entry)) {
                result = LIN_ILLEGAL;
                break;
            }
        } else if (lin_model_step(s, &s->pops[op], w.state, &ns) &&
                   try_step(&w, entry, ns, false)) {
            /* a get changes neither the value nor what may follow: no new dead end */
            if (!s->prune || s->pops[op].kind == LIN_GET || !lin_dead_end(s, head, w.state)) {
                fresh = true;
                entry = next[head];
            } else if (!backtrack(&w, &entry)) { /* take it back (it stays in the memo) */
                result = LIN_ILLEGAL;
                break;
            }
        } else {
            entry = next[entry];
        }
    }
    *best_len = w.best_n;
    return result;
}
