/* The check: partition the history per key, then search each partition with Wing & Gong's
 * algorithm over the call/return entry list, memoized on (linearized set, value) as in Lowe's
 * refinement and Porcupine. Values are interned so that a cache entry holds a 32-bit state id;
 * linearized sets are bitsets stored as a window (every word before the window is full, every
 * word after it is empty), so a cache entry costs a few words even for a key with 10,000
 * operations. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "internal.h"
#include "lincheck.h"

#define NIL UINT32_MAX
#define HASH_BASE UINT64_C(0x100000001b3)
#define MAX_PARTITION_OPS (UINT32_C(1) << 30)

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

/* Polynomial hash of a byte string; hash(a + b) = hash(a) * pow(|b|) + hash(b). */
static uint64_t poly_hash(const char *s, size_t len, uint64_t *pow)
{
    uint64_t h = 0, p = 1;
    for (size_t i = 0; i < len; i++) {
        h = h * HASH_BASE + (unsigned char)s[i] + 1;
        p *= HASH_BASE;
    }
    if (pow)
        *pow = p;
    return h;
}

/* ---- interned values -------------------------------------------------------------------------- */

struct state {
    size_t off, len;
    uint64_t hash;
};

struct states {
    char *bytes;
    size_t bytes_len, bytes_cap;
    struct state *v;
    uint32_t n, cap;
    uint32_t *slots; /* id + 1; 0 = empty */
    size_t nslots;   /* a power of two */
};

static void states_free(struct states *t)
{
    free(t->bytes);
    free(t->v);
    free(t->slots);
}

static void states_clear(struct states *t)
{
    if (t->nslots)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->n = 0;
    t->bytes_len = 0;
}

static void states_grow_slots(struct states *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 1024;
    free(t->slots);
    t->slots = xcalloc(n, sizeof *t->slots);
    t->nslots = n;
    for (uint32_t id = 0; id < t->n; id++) {
        size_t i = mix64(t->v[id].hash) & (n - 1);
        while (t->slots[i])
            i = (i + 1) & (n - 1);
        t->slots[i] = id + 1;
    }
}

/* The id of prefix + (b, blen), where prefix is a state id or NIL for "". Adds it when new. */
static uint32_t states_intern(struct states *t, uint32_t prefix, const char *b, size_t blen,
                              uint64_t hash)
{
    size_t plen = prefix == NIL ? 0 : t->v[prefix].len;
    size_t len = plen + blen;
    if (t->nslots == 0)
        states_grow_slots(t);
    size_t mask = t->nslots - 1, i = mix64(hash) & mask;
    for (uint32_t s; (s = t->slots[i]) != 0; i = (i + 1) & mask) {
        const struct state *c = &t->v[s - 1];
        if (c->hash != hash || c->len != len)
            continue;
        const char *cb = t->bytes + c->off;
        if ((plen == 0 || memcmp(cb, t->bytes + t->v[prefix].off, plen) == 0) &&
            (blen == 0 || memcmp(cb + plen, b, blen) == 0))
            return s - 1;
    }
    if (t->bytes_len + len > t->bytes_cap) {
        size_t cap = t->bytes_cap ? t->bytes_cap : 4096;
        while (t->bytes_len + len > cap)
            cap *= 2;
        t->bytes = xrealloc(t->bytes, cap);
        t->bytes_cap = cap;
    }
    char *dst = t->bytes + t->bytes_len;
    if (plen)
        memcpy(dst, t->bytes + t->v[prefix].off, plen);
    if (blen)
        memcpy(dst + plen, b, blen);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->v = xrealloc(t->v, t->cap * sizeof *t->v);
    }
    uint32_t id = t->n++;
    t->v[id] = (struct state){ t->bytes_len, len, hash };
    t->bytes_len += len;
    t->slots[i] = id + 1;
    if ((size_t)t->n * 2 > t->nslots)
        states_grow_slots(t);
    return id;
}

static bool states_equal(const struct states *t, uint32_t id, const char *s, size_t len,
                         uint64_t hash)
{
    const struct state *c = &t->v[id];
    return c->hash == hash && c->len == len && (len == 0 || memcmp(t->bytes + c->off, s, len) == 0);
}

/* ---- the linearized set ----------------------------------------------------------------------- */

struct bits {
    uint64_t *w;
    size_t nw;
    size_t lo;  /* first word that is not full */
    size_t hi;  /* one past the last word that is not empty; lo <= hi */
    uint64_t z; /* XOR of the Zobrist keys of the members */
};

static void bits_set(struct bits *b, uint32_t i, const uint64_t *zkey)
{
    size_t w = i >> 6;
    b->w[w] |= UINT64_C(1) << (i & 63);
    b->z ^= zkey[i];
    if (w + 1 > b->hi)
        b->hi = w + 1;
    if (w == b->lo)
        while (b->lo < b->nw && b->w[b->lo] == UINT64_MAX)
            b->lo++;
}

static void bits_clear(struct bits *b, uint32_t i, const uint64_t *zkey)
{
    size_t w = i >> 6;
    b->w[w] &= ~(UINT64_C(1) << (i & 63));
    b->z ^= zkey[i];
    if (w < b->lo)
        b->lo = w;
    if (w + 1 == b->hi)
        while (b->hi > 0 && b->w[b->hi - 1] == 0)
            b->hi--;
}

/* ---- the memo: (linearized set, state) pairs already explored --------------------------------- */

struct centry {
    uint64_t hash;
    size_t off; /* of the window's words in words[] */
    uint32_t lo, nw, state;
};

struct cache {
    uint64_t *words;
    size_t words_len, words_cap;
    struct centry *v;
    size_t n, cap;
    uint32_t *slots; /* entry + 1; 0 = empty */
    size_t nslots;
};

static void cache_free(struct cache *c)
{
    free(c->words);
    free(c->v);
    free(c->slots);
}

static void cache_clear(struct cache *c)
{
    if (c->nslots)
        memset(c->slots, 0, c->nslots * sizeof *c->slots);
    c->n = 0;
    c->words_len = 0;
}

static void cache_grow_slots(struct cache *c)
{
    size_t n = c->nslots ? c->nslots * 2 : 4096;
    free(c->slots);
    c->slots = xcalloc(n, sizeof *c->slots);
    c->nslots = n;
    for (size_t e = 0; e < c->n; e++) {
        size_t i = c->v[e].hash & (n - 1);
        while (c->slots[i])
            i = (i + 1) & (n - 1);
        c->slots[i] = (uint32_t)(e + 1);
    }
}

/* Adds (b, state) unless present. Returns true when it was added (i.e. not seen before). */
static bool cache_add(struct cache *c, const struct bits *b, uint32_t state)
{
    uint64_t hash = mix64(b->z ^ (state * UINT64_C(0x9e3779b97f4a7c15)));
    size_t nw = b->hi - b->lo;
    if (c->nslots == 0)
        cache_grow_slots(c);
    size_t mask = c->nslots - 1, i = hash & mask;
    for (uint32_t s; (s = c->slots[i]) != 0; i = (i + 1) & mask) {
        const struct centry *e = &c->v[s - 1];
        if (e->hash == hash && e->state == state && e->lo == b->lo && e->nw == nw &&
            memcmp(c->words + e->off, b->w + b->lo, nw * sizeof(uint64_t)) == 0)
            return false;
    }
    if (c->words_len + nw > c->words_cap) {
        size_t cap = c->words_cap ? c->words_cap : 4096;
        while (c->words_len + nw > cap)
            cap *= 2;
        c->words = xrealloc(c->words, cap * sizeof(uint64_t));
        c->words_cap = cap;
    }
    memcpy(c->words + c->words_len, b->w + b->lo, nw * sizeof(uint64_t));
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n] = (struct centry){ hash, c->words_len, (uint32_t)b->lo, (uint32_t)nw, state };
    c->words_len += nw;
    c->n++;
    c->slots[i] = (uint32_t)c->n;
    if (c->n * 2 > c->nslots)
        cache_grow_slots(c);
    return true;
}

/* ---- one partition ---------------------------------------------------------------------------- */

/* An operation of the partition being searched, with what the model step needs precomputed. */
struct pop {
    enum lin_kind kind;
    bool has_output;
    const char *value, *output;
    size_t value_len, output_len;
    uint64_t value_hash, value_pow, output_hash;
    uint32_t put_state; /* puts: the interned value */
};

struct entry {
    int64_t time;
    uint32_t is_return;
    uint32_t op;
};

struct frame {
    uint32_t entry; /* the call entry linearized */
    uint32_t state; /* the value before it */
    bool forced;    /* see forced_read */
};

/* Buffers reused from one partition to the next. */
/* An output some operation observed (a get's value, an append's old value). */
struct obs {
    const char *p;
    size_t len;
};

struct search {
    struct states states;
    struct obs *obs; /* the partition's outputs, sorted (for doomed()) */
    size_t nobs;
    struct cache cache;
    struct pop *pops;
    struct entry *ents;
    uint32_t *next, *prev, *match, *ent_op;
    uint64_t *zkey;
    uint64_t *words;
    struct frame *stack;
    uint32_t *best;
    size_t cap;  /* operations the arrays above hold */
    size_t wcap; /* words */
    bool prune;           /* apply dead_end */
    uint64_t deadline_ns; /* 0: none */
    uint64_t steps;
    bool out_of_memory; /* the search stopped at LIN_MEMORY_LIMIT */
};

static void search_free(struct search *s)
{
    states_free(&s->states);
    cache_free(&s->cache);
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

static void search_reserve(struct search *s, size_t m)
{
    if (m > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < m)
            cap *= 2;
        s->pops = xrealloc(s->pops, cap * sizeof *s->pops);
        s->obs = xrealloc(s->obs, cap * sizeof *s->obs);
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
    const struct entry *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->is_return != y->is_return)
        return x->is_return < y->is_return ? -1 : 1; /* calls before returns at equal times */
    return x->op < y->op ? -1 : x->op > y->op;
}

static bool deadline_passed(const struct search *s)
{
    return s->deadline_ns && clock_mono_ns() >= s->deadline_ns;
}

/* Bytes held by the memo and the interned values. */
static size_t search_memory(const struct search *s)
{
    return s->cache.cap * sizeof *s->cache.v + s->cache.words_cap * sizeof(uint64_t) +
           s->cache.nslots * sizeof(uint32_t) + s->states.bytes_cap +
           s->states.cap * sizeof *s->states.v + s->states.nslots * sizeof(uint32_t);
}

/* Checked every 1024 steps: time is up, or memory is. */
static bool must_give_up(struct search *s)
{
    if (search_memory(s) > LIN_MEMORY_LIMIT) {
        s->out_of_memory = true;
        return true;
    }
    return deadline_passed(s);
}

/* Doomed values. A value that no output of the partition starts with can never be read: every
 * continuation must replace it with a put before anything observes it, and appends keep it
 * doomed (they only extend it). So all doomed values are equivalent for the rest of the search,
 * and the search represents them by one state, DOOMED: the memo then sees the many orders in
 * which appends that a later put wipes out could have run as one. Outputs of operations already
 * linearized are included in the test, which only makes it more cautious. */
#define DOOMED (NIL - 1)

static int cmp_obs(const void *a, const void *b)
{
    const struct obs *x = a, *y = b;
    size_t n = MIN(x->len, y->len);
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Compares the value a + b with o (bytes, then length), like cmp_obs. */
static int cmp_value(const char *a, size_t alen, const char *b, size_t blen, const struct obs *o)
{
    size_t n = MIN(alen, o->len);
    int c = n ? memcmp(a, o->p, n) : 0;
    if (c)
        return c;
    if (o->len > alen) {
        size_t m = MIN(blen, o->len - alen);
        c = m ? memcmp(b, o->p + alen, m) : 0;
        if (c)
            return c;
    }
    size_t len = alen + blen;
    return len < o->len ? -1 : len > o->len;
}

/* Does no output start with a + b? (Binary search for the first output >= a + b.) */
static bool doomed(const struct search *s, const char *a, size_t alen, const char *b, size_t blen)
{
    size_t lo = 0, hi = s->nobs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_value(a, alen, b, blen, &s->obs[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->nobs || s->obs[lo].len < alen + blen)
        return true;
    const struct obs *o = &s->obs[lo];
    return (alen && memcmp(o->p, a, alen) != 0) || (blen && memcmp(o->p + alen, b, blen) != 0);
}

/* The model: can op follow state, and which state does it lead to? */
static bool model_step(struct search *s, const struct pop *p, uint32_t state, uint32_t *out)
{
    switch (p->kind) {
    case LIN_GET:
        if (p->has_output && (state == DOOMED || !states_equal(&s->states, state, p->output,
                                                               p->output_len, p->output_hash)))
            return false;
        *out = state;
        return true;
    case LIN_PUT:
        *out = p->put_state;
        return true;
    case LIN_APPEND: {
        if (p->has_output && (state == DOOMED || !states_equal(&s->states, state, p->output,
                                                               p->output_len, p->output_hash)))
            return false;
        if (state == DOOMED) {
            *out = DOOMED;
            return true;
        }
        const struct state *st = &s->states.v[state];
        if (s->prune && doomed(s, s->states.bytes + st->off, st->len, p->value, p->value_len)) {
            *out = DOOMED;
            return true;
        }
        uint64_t hash = st->hash * p->value_pow + p->value_hash;
        *out = states_intern(&s->states, state, p->value, p->value_len, hash);
        return true;
    }
    }
    return false;
}

/* Pruning specific to the key/value model (sound: it only cuts branches that cannot succeed;
 * it is what keeps append-heavy keys tractable, where the plain search would try every order
 * of appends that a later put wipes out or that a later read contradicts).
 *
 * Walking the entry list from the head, every return entry belongs to an operation r not yet
 * linearized, and only the operations whose call entries come before it can be linearized
 * before r. If r checks the value (a get, or an append with its old value), its output O must
 * therefore be the current value, or the value of one of those puts, followed by the values
 * of some of those appends (each once, r itself excluded), in some order. When no such split
 * of O exists, no continuation of the search can succeed. The walk and the split search are
 * bounded; past a bound the rule answers "maybe" (no pruning). */
#define PRUNE_WALK 4096
#define PRUNE_RETURNS 64
#define PRUNE_PUTS 32
#define PRUNE_APPENDS 64
#define PRUNE_BUDGET 512
#define PRUNE_CHECKS 8
#define PRUNE_COMPARE 32

struct prune {
    const struct pop *puts[PRUNE_PUTS];
    const struct pop *apps[PRUNE_APPENDS];
    unsigned nputs, napps;
    bool apps_overflow;
    unsigned budget;
};

static bool starts_with(const char *s, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && (plen == 0 || memcmp(s, prefix, plen) == 0);
}

/* Can rest be split into the values of distinct appends of pr->apps (but not skip, and not
 * those in used)? Answers true when unsure (budget spent). */
static bool split_exists(struct prune *pr, const char *rest, size_t len, const struct pop *skip,
                         uint64_t used)
{
    if (len == 0)
        return true;
    for (unsigned i = 0; i < pr->napps; i++) {
        const struct pop *a = pr->apps[i];
        if (pr->budget == 0)
            return true;
        pr->budget--;
        if (a == skip || (used >> i & 1) || !starts_with(rest, len, a->value, a->value_len))
            continue;
        if (split_exists(pr, rest + a->value_len, len - a->value_len, skip, used | UINT64_C(1) << i))
            return true;
    }
    return false;
}

/* Can r's output be prefix (len bytes) + some appends? Only the first and last PRUNE_COMPARE
 * bytes of the prefix are compared (the middle was compared when the search got there). */
static bool reachable(struct prune *pr, const struct pop *r, const char *prefix, size_t len)
{
    if (r->output_len < len)
        return false;
    size_t head = MIN(len, PRUNE_COMPARE), tail = MIN(len - head, PRUNE_COMPARE);
    if ((head && memcmp(r->output, prefix, head) != 0) ||
        (tail && memcmp(r->output + len - tail, prefix + len - tail, tail) != 0))
        return false;
    if (pr->apps_overflow)
        return true;
    pr->budget = PRUNE_BUDGET;
    return split_exists(pr, r->output + len, r->output_len - len, r, 0);
}

static bool dead_end(const struct search *s, uint32_t head, uint32_t state)
{
    const struct state *st = state == DOOMED ? NULL : &s->states.v[state];
    const char *value = st ? s->states.bytes + st->off : NULL;
    struct prune pr;
    pr.nputs = pr.napps = 0;
    pr.apps_overflow = false;
    unsigned walked = 0, returns = 0, checks = 0;
    for (uint32_t e = s->next[head];
         e != NIL && walked < PRUNE_WALK && returns < PRUNE_RETURNS && checks < PRUNE_CHECKS;
         e = s->next[e], walked++) {
        const struct pop *p = &s->pops[s->ent_op[e]];
        if (s->match[e] != NIL) {
            if (p->kind == LIN_PUT) {
                if (pr.nputs == PRUNE_PUTS)
                    return false;
                pr.puts[pr.nputs++] = p;
            } else if (p->kind == LIN_APPEND && p->value_len > 0) {
                if (pr.napps == PRUNE_APPENDS)
                    pr.apps_overflow = true;
                else
                    pr.apps[pr.napps++] = p;
            }
            continue;
        }
        returns++;
        if (!p->has_output || p->kind == LIN_PUT)
            continue;
        checks++;
        bool ok = st && reachable(&pr, p, value, st->len);
        for (unsigned i = 0; i < pr.nputs && !ok; i++)
            ok = reachable(&pr, p, pr.puts[i]->value, pr.puts[i]->value_len);
        if (!ok)
            return true;
    }
    return false;
}

/* The search's position: the linearized set, the value, the stack of steps taken, and the
 * longest prefix reached (best[0..best_n); best[0..common) still equals the stack's ops). */
struct walk {
    struct search *s;
    struct bits b;
    uint32_t head;
    uint32_t state;
    size_t depth, best_n, common;
};

/* Linearizes the operation of call entry e, leading to state ns, unless (set + op, ns) was
 * explored before. Returns whether it did. */
static bool try_step(struct walk *w, uint32_t e, uint32_t ns, bool forced)
{
    struct search *s = w->s;
    uint32_t op = s->ent_op[e], r = s->match[e];
    bits_set(&w->b, op, s->zkey);
    if (!cache_add(&s->cache, &w->b, ns)) {
        bits_clear(&w->b, op, s->zkey);
        return false;
    }
    s->stack[w->depth++] = (struct frame){ e, w->state, forced };
    w->state = ns;
    /* lift the call and its return out of the list */
    s->next[s->prev[e]] = s->next[e];
    s->prev[s->next[e]] = s->prev[e];
    s->next[s->prev[r]] = s->next[r];
    if (s->next[r] != NIL)
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
    struct search *s = w->s;
    for (;;) {
        if (w->depth == 0)
            return false;
        struct frame f = s->stack[--w->depth];
        if (w->depth < w->common)
            w->common = w->depth;
        w->state = f.state;
        uint32_t e = f.entry, r = s->match[e];
        bits_clear(&w->b, s->ent_op[e], s->zkey);
        /* unlift: put the return back, then the call */
        s->next[s->prev[r]] = r;
        if (s->next[r] != NIL)
            s->prev[s->next[r]] = r;
        s->next[s->prev[e]] = e;
        s->prev[s->next[e]] = e;
        if (!f.forced) {
            *entry = s->next[e];
            return true;
        }
    }
}

/* Forced reads: if a get that may come next (its call precedes the first return entry) read
 * exactly the current value, some linearization from here exists if and only if one starting
 * with that get does (move the get to the front of any: it changes nothing, and nothing that
 * must precede it is left). So the search takes it without trying alternatives, which keeps
 * concurrent reads from multiplying the linearized sets. Returns its call entry, or NIL. */
static uint32_t forced_read(const struct search *s, uint32_t head, uint32_t state)
{
    if (state == DOOMED)
        return NIL;
    const struct state *st = &s->states.v[state];
    for (uint32_t e = s->next[head]; e != NIL && s->match[e] != NIL; e = s->next[e]) {
        const struct pop *p = &s->pops[s->ent_op[e]];
        if (p->kind == LIN_GET && p->has_output && p->output_hash == st->hash &&
            states_equal(&s->states, state, p->output, p->output_len, p->output_hash))
            return e;
    }
    return NIL;
}

/* Searches the partition whose operations are h->ops[ops[0..m)] (in call order). Returns
 * LIN_OK, LIN_ILLEGAL (with s->best[0..*best_len) the longest prefix reached) or LIN_UNKNOWN. */
static enum lin_result search_partition(struct search *s, const struct lin_history *h,
                                        const size_t *ops, size_t m, size_t *best_len)
{
    *best_len = 0;
    if (m == 0)
        return LIN_OK;
    search_reserve(s, m);
    states_clear(&s->states);
    cache_clear(&s->cache);

    uint32_t empty = states_intern(&s->states, NIL, NULL, 0, 0);
    s->nobs = 0;
    struct rng rng;
    rng_seed(&rng, UINT64_C(0x6c696e636865636b));
    for (size_t i = 0; i < m; i++) {
        const struct lin_op *op = &h->ops[ops[i]];
        struct pop *p = &s->pops[i];
        p->kind = op->kind;
        /* the output of an operation without a return is unknown: ignore it */
        p->has_output = op->has_output && op->return_ns != LIN_NO_RETURN;
        p->value = op->value;
        p->value_len = op->value_len;
        p->value_hash = poly_hash(op->value, op->value_len, &p->value_pow);
        p->output = op->output;
        p->output_len = op->output_len;
        p->output_hash = op->has_output ? poly_hash(op->output, op->output_len, NULL) : 0;
        p->put_state = op->kind == LIN_PUT
                           ? states_intern(&s->states, NIL, op->value, op->value_len, p->value_hash)
                           : 0;
        if (p->has_output && p->kind != LIN_PUT)
            s->obs[s->nobs++] = (struct obs){ p->output, p->output_len };
        s->zkey[i] = rng_next(&rng);
        s->ents[2 * i] = (struct entry){ op->call_ns, 0, (uint32_t)i };
        s->ents[2 * i + 1] = (struct entry){
            op->return_ns == LIN_NO_RETURN ? INT64_MAX : op->return_ns, 1, (uint32_t)i };
    }
    size_t ne = 2 * m;
    qsort(s->ents, ne, sizeof *s->ents, cmp_entry);
    if (s->prune) {
        qsort(s->obs, s->nobs, sizeof *s->obs, cmp_obs);
        for (size_t i = 0; i < m; i++)
            if (s->pops[i].kind == LIN_PUT &&
                doomed(s, s->pops[i].value, s->pops[i].value_len, NULL, 0))
                s->pops[i].put_state = DOOMED;
    }

    /* The doubly linked entry list; head is entry ne. */
    uint32_t head = (uint32_t)ne;
    uint32_t *next = s->next, *prev = s->prev, *match = s->match, *ent_op = s->ent_op;
    uint32_t *call_of = s->best; /* scratch: the call entry of each op (best is unused yet) */
    for (uint32_t e = 0; e < ne; e++) {
        next[e] = e + 1 < ne ? e + 1 : NIL;
        prev[e] = e == 0 ? head : e - 1;
        ent_op[e] = s->ents[e].op;
        match[e] = NIL;
        if (!s->ents[e].is_return)
            call_of[s->ents[e].op] = e;
        else
            match[call_of[s->ents[e].op]] = e;
    }
    next[head] = 0;
    prev[head] = NIL;

    struct walk w = {
        .s = s,
        .b = { s->words, (m + 63) / 64, 0, 0, 0 },
        .head = head,
        .state = empty,
    };
    memset(w.b.w, 0, w.b.nw * sizeof *w.b.w);

    enum lin_result result = LIN_OK;
    uint32_t entry = next[head];
    bool fresh = true; /* entry is the head of a node not visited before */
    while (next[head] != NIL) {
        if ((++s->steps & 1023) == 0 && must_give_up(s)) {
            result = LIN_UNKNOWN;
            break;
        }
        if (fresh && s->prune) {
            fresh = false;
            uint32_t g = forced_read(s, head, w.state);
            if (g != NIL) {
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
        if (match[entry] == NIL) { /* a return whose operation is not linearized */
            if (!backtrack(&w, &entry)) {
                result = LIN_ILLEGAL;
                break;
            }
        } else if (model_step(s, &s->pops[op], w.state, &ns) && try_step(&w, entry, ns, false)) {
            /* a get changes neither the value nor what may follow: no new dead end */
            if (!s->prune || s->pops[op].kind == LIN_GET || !dead_end(s, head, w.state)) {
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

/* ---- partitioning and the whole check --------------------------------------------------------- */

struct sort_ctx_op {
    const struct lin_op *op;
    size_t index;
};

static int cmp_key_call(const void *a, const void *b)
{
    const struct sort_ctx_op *x = a, *y = b;
    size_t n = MIN(x->op->key_len, y->op->key_len);
    int c = n ? memcmp(x->op->key, y->op->key, n) : 0;
    if (c)
        return c;
    if (x->op->key_len != y->op->key_len)
        return x->op->key_len < y->op->key_len ? -1 : 1;
    if (x->op->call_ns != y->op->call_ns)
        return x->op->call_ns < y->op->call_ns ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

struct part {
    size_t start, count;
};

/* An operation without a return may take effect or not; when nothing could ever show its
 * effect, leaving it out changes no verdict, and it no longer sits among the candidates of
 * every step of the search. An append's value shows in every value read after it until a put
 * replaces the value (appends with an output read it too), so an append whose value occurs in
 * no output of an operation that returned after its call is invisible; likewise a put whose
 * value starts no such output. (Empty appends change nothing.) The scan for each operation is
 * bounded; past the bound the operation is kept. Returns the new count of ops[]. */
#define DROP_SCAN_BYTES (1u << 22)

static bool observes_after(const struct lin_op *o, const struct lin_op *pending)
{
    return o->kind != LIN_PUT && o->has_output && o->return_ns != LIN_NO_RETURN &&
           o->return_ns >= pending->call_ns;
}

static size_t drop_unobserved(const struct lin_history *h, size_t *ops, size_t m)
{
    size_t out = 0;
    for (size_t i = 0; i < m; i++) {
        const struct lin_op *op = &h->ops[ops[i]];
        bool keep = true;
        if (op->return_ns == LIN_NO_RETURN && op->kind != LIN_GET) {
            keep = false;
            size_t budget = DROP_SCAN_BYTES;
            for (size_t j = 0; j < m && op->value_len > 0 && !keep; j++) {
                const struct lin_op *o = &h->ops[ops[j]];
                if (!observes_after(o, op))
                    continue;
                if (op->kind == LIN_PUT) {
                    keep = o->output_len >= op->value_len &&
                           memcmp(o->output, op->value, op->value_len) == 0;
                } else if (o->output_len > budget) {
                    keep = true; /* unsure */
                } else {
                    budget -= o->output_len;
                    keep = memmem(o->output, o->output_len, op->value, op->value_len) != NULL;
                }
            }
            if (op->kind == LIN_PUT && op->value_len == 0)
                keep = true; /* "" starts every output */
        }
        if (keep)
            ops[out++] = ops[i];
    }
    return out;
}

static int cmp_part(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void set_key(struct lin_report *r, const struct lin_op *op)
{
    r->key = xmalloc(op->key_len + 1);
    memcpy(r->key, op->key, op->key_len);
    r->key[op->key_len] = '\0';
    r->key_len = op->key_len;
}

static char *explain_unknown(const struct lin_report *r, size_t m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return xstrdup("gave up");
    if (r->memory_limit)
        fprintf(f, "memory limit of %zu MiB reached while searching key ",
                (size_t)LIN_MEMORY_LIMIT >> 20);
    else
        fprintf(f, "time limit of %llu ms reached while searching key ",
                (unsigned long long)r->timeout_ms);
    lin_quote(f, r->key, r->key_len, 64);
    fprintf(f, " (%zu operations); %zu of %zu keys were decided, none illegal", m,
            r->keys_checked, r->keys);
    fclose(f);
    return text;
}

enum lin_result lin_check(const struct lin_history *h, uint64_t timeout_ms,
                          struct lin_report *report)
{
    return lin_check_flags(h, timeout_ms, 0, report);
}

enum lin_result lin_check_flags(const struct lin_history *h, uint64_t timeout_ms, unsigned flags,
                                struct lin_report *report)
{
    uint64_t start = clock_mono_ns();
    memset(report, 0, sizeof *report);
    report->ops = h->len;
    report->timeout_ms = timeout_ms;

    /* Gets without an output (or without a return, whose output cannot be known) constrain
     * nothing and change nothing: leave them out. */
    struct sort_ctx_op *sorted = xmalloc((h->len ? h->len : 1) * sizeof *sorted);
    size_t n = 0;
    for (size_t i = 0; i < h->len; i++)
        if (h->ops[i].kind != LIN_GET ||
            (h->ops[i].has_output && h->ops[i].return_ns != LIN_NO_RETURN))
            sorted[n++] = (struct sort_ctx_op){ &h->ops[i], i };
    qsort(sorted, n, sizeof *sorted, cmp_key_call);

    size_t *index = xmalloc((n ? n : 1) * sizeof *index);
    struct part *parts = xmalloc((n ? n : 1) * sizeof *parts);
    size_t nparts = 0;
    for (size_t i = 0; i < n; i++) {
        index[i] = sorted[i].index;
        if (i == 0 || sorted[i].op->key_len != sorted[i - 1].op->key_len ||
            memcmp(sorted[i].op->key, sorted[i - 1].op->key, sorted[i].op->key_len) != 0)
            parts[nparts++] = (struct part){ i, 0 };
        parts[nparts - 1].count++;
    }
    free(sorted);
    report->keys = nparts;
    qsort(parts, nparts, sizeof *parts, cmp_part);

    struct search s = { 0 };
    s.prune = !(flags & LIN_FLAG_NO_PRUNE);
    s.deadline_ns = timeout_ms == LIN_TIMEOUT_NONE ? 0 : start + timeout_ms * UINT64_C(1000000);
    enum lin_result result = LIN_OK;
    for (size_t p = 0; p < nparts; p++) {
        size_t *ops = index + parts[p].start;
        size_t m = s.prune ? drop_unobserved(h, ops, parts[p].count) : parts[p].count;
        size_t best_len = 0;
        enum lin_result r;
        if (deadline_passed(&s) || m > MAX_PARTITION_OPS)
            r = LIN_UNKNOWN;
        else
            r = search_partition(&s, h, ops, m, &best_len);
        if (r == LIN_OK) {
            report->keys_checked++;
            continue;
        }
        if (r == LIN_ILLEGAL) {
            report->keys_checked++;
            set_key(report, &h->ops[ops[0]]);
            struct lin_failure fail = { h, ops, m, s.best, best_len };
            report->explanation = lin_explain_illegal(&fail);
            result = LIN_ILLEGAL;
            break;
        }
        /* Unknown: the time is up for every remaining key too, but a small one might still be
         * illegal; stop here (an honest "unknown"). */
        set_key(report, &h->ops[ops[0]]);
        report->memory_limit = s.out_of_memory;
        report->explanation = explain_unknown(report, m);
        result = LIN_UNKNOWN;
        break;
    }
    search_free(&s);
    free(parts);
    free(index);
    report->result = result;
    report->elapsed_ns = clock_mono_ns() - start;
    return result;
}
