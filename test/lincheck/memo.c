/* The memo of the search: interned values (each distinct value once, named by a 32-bit id),
 * and the set of (linearized set, value id) pairs already explored. Linearized sets are bitsets
 * stored as a window (every word before it is full, every word after it is empty), so an entry
 * costs a few words even for a key with 10,000 operations. */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "internal.h"

uint64_t lin_poly_hash(const char *s, size_t len, uint64_t *pow)
{
    uint64_t h = 0, p = 1;
    for (size_t i = 0; i < len; i++) {
        h = h * LIN_HASH_BASE + (unsigned char)s[i] + 1;
        p *= LIN_HASH_BASE;
    }
    if (pow)
        *pow = p;
    return h;
}

/* ---- interned values ------------------------------------------------------------------------- */

void lin_states_free(struct lin_states *t)
{
    free(t->bytes);
    free(t->v);
    free(t->slots);
}

void lin_states_clear(struct lin_states *t)
{
    if (t->nslots)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->n = 0;
    t->bytes_len = 0;
}

static void states_grow_slots(struct lin_states *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 1024;
    free(t->slots);
    t->slots = xcalloc(n, sizeof *t->slots);
    t->nslots = n;
    for (uint32_t id = 0; id < t->n; id++) {
        size_t i = lin_mix64(t->v[id].hash) & (n - 1);
        while (t->slots[i])
            i = (i + 1) & (n - 1);
        t->slots[i] = id + 1;
    }
}

/* The id of prefix + (b, blen), where prefix is a state id or NIL for "". Adds it when new. */
uint32_t lin_states_intern(struct lin_states *t, uint32_t prefix, const char *b, size_t blen,
                              uint64_t hash)
{
    size_t plen = prefix == LIN_NIL ? 0 : t->v[prefix].len;
    size_t len = plen + blen;
    if (t->nslots == 0)
        states_grow_slots(t);
    size_t mask = t->nslots - 1, i = lin_mix64(hash) & mask;
    for (uint32_t s; (s = t->slots[i]) != 0; i = (i + 1) & mask) {
        const struct lin_state *c = &t->v[s - 1];
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
    t->v[id] = (struct lin_state){ t->bytes_len, len, hash };
    t->bytes_len += len;
    t->slots[i] = id + 1;
    if ((size_t)t->n * 2 > t->nslots)
        states_grow_slots(t);
    return id;
}

/* ---- explored (set, value) pairs ------------------------------------------------------------- */

void lin_cache_free(struct lin_cache *c)
{
    free(c->words);
    free(c->v);
    free(c->slots);
}

void lin_cache_clear(struct lin_cache *c)
{
    if (c->nslots)
        memset(c->slots, 0, c->nslots * sizeof *c->slots);
    c->n = 0;
    c->words_len = 0;
}

static void cache_grow_slots(struct lin_cache *c)
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
bool lin_cache_add(struct lin_cache *c, const struct lin_bits *b, uint32_t state)
{
    uint64_t hash = lin_mix64(b->z ^ (state * UINT64_C(0x9e3779b97f4a7c15)));
    size_t nw = b->hi - b->lo;
    if (c->nslots == 0)
        cache_grow_slots(c);
    size_t mask = c->nslots - 1, i = hash & mask;
    for (uint32_t s; (s = c->slots[i]) != 0; i = (i + 1) & mask) {
        const struct lin_centry *e = &c->v[s - 1];
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
    c->v[c->n] = (struct lin_centry){ hash, c->words_len, (uint32_t)b->lo, (uint32_t)nw, state };
    c->words_len += nw;
    c->n++;
    c->slots[i] = (uint32_t)c->n;
    if (c->n * 2 > c->nslots)
        cache_grow_slots(c);
    return true;
}
