/* Word counting for wc and indexer: one pass over the text, an open-addressing hash table of
 * (pointer, length) into the text. This is the hot loop of the word-count benchmark, so the
 * first 8 bytes of each word are kept in its slot: most words are compared without touching
 * the text of their first occurrence (a cache miss for all but the most frequent words). */
#include <stdlib.h>
#include <string.h>

#include "appkit.h"

#define MIX 0x9e3779b97f4a7c15ull

/* Copies p[0..min(n, APPKIT_HEAD)) into head, zero-padded. limit: p[i] is readable for
 * p + i < limit, which lets whole 8-byte loads run past the word. */
static inline void load_head(unsigned char head[APPKIT_HEAD], const unsigned char *p, size_t n,
                             const unsigned char *limit)
{
    uint64_t v[2] = { 0, 0 };
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if ((size_t)(limit - p) >= APPKIT_HEAD) {
        memcpy(v, p, APPKIT_HEAD);
        if (n < 8)
            v[0] &= ~0ull >> (64 - 8 * n);
        if (n <= 8)
            v[1] = 0;
        else if (n < 16)
            v[1] &= ~0ull >> (64 - 8 * (n - 8));
        memcpy(head, v, APPKIT_HEAD);
        return;
    }
#else
    (void)limit;
#endif
    memcpy(v, p, n < APPKIT_HEAD ? n : APPKIT_HEAD);
    memcpy(head, v, APPKIT_HEAD);
}

/* Hash of a word from its head and the bytes after it. */
static inline uint32_t hash_word(const unsigned char head[APPKIT_HEAD], const unsigned char *p,
                                 size_t len)
{
    uint64_t a, b;
    memcpy(&a, head, 8);
    memcpy(&b, head + 8, 8);
    uint64_t h = (a ^ len) * MIX;
    h = (h ^ (h >> 29) ^ b) * MIX;
    for (size_t i = APPKIT_HEAD; i < len; i += 8) {
        uint64_t v = 0;
        memcpy(&v, p + i, len - i < 8 ? len - i : 8);
        h = (h ^ (h >> 29) ^ v) * MIX;
    }
    return (uint32_t)(h >> 32);
}

static int grow(struct appkit_words *w)
{
    size_t cap = w->slots ? (w->mask + 1) * 2 : 1u << 14;
    struct appkit_word *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; w->slots && i <= w->mask; i++) {
        const struct appkit_word *e = &w->slots[i];
        if (!e->count)
            continue;
        size_t j = e->hash & (cap - 1);
        while (slots[j].count)
            j = (j + 1) & (cap - 1);
        slots[j] = *e;
    }
    free(w->slots);
    w->slots = slots;
    w->mask = cap - 1;
    return 0;
}

static inline bool same(const struct appkit_word *e, const unsigned char *head, const char *word,
                        size_t len)
{
    return e->len == len && memcmp(e->head, head, APPKIT_HEAD) == 0 &&
           (len <= APPKIT_HEAD ||
            memcmp(e->word + APPKIT_HEAD, word + APPKIT_HEAD, len - APPKIT_HEAD) == 0);
}

static int add(struct appkit_words *w, const char *word, size_t len,
               const unsigned char *head, uint32_t h)
{
    size_t i = h & w->mask;
    for (; w->slots[i].count; i = (i + 1) & w->mask) {
        if (same(&w->slots[i], head, word, len)) {
            w->slots[i].count++;
            return 0;
        }
    }
    struct appkit_word *e = &w->slots[i]; /* the empty slot */
    memcpy(e->head, head, APPKIT_HEAD);
    e->word = word;
    e->len = (uint32_t)len;
    e->hash = h;
    e->count = 1;
    if (++w->used * 2 > w->mask + 1)
        return grow(w);
    return 0;
}

/* Words are found a batch at a time and their slots prefetched before any is looked up, so
 * the cache misses of the rarer words overlap instead of queueing one after the other. */
#define BATCH 32

struct found {
    unsigned char head[APPKIT_HEAD];
    const char *word;
    size_t len;
    uint32_t hash;
};

int appkit_words_count(struct appkit_words *w, const char *text, size_t len)
{
    memset(w, 0, sizeof *w);
    if (grow(w) != 0)
        return -1;
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    const unsigned char *limit = end + 1; /* text[len] is readable */
    struct found batch[BATCH];
    for (;;) {
        int n = 0;
        while (n < BATCH) {
            while (p < end && !appkit_is_letter(*p))
                p++;
            if (p == end)
                break;
            const unsigned char *start = p;
            while (appkit_is_letter(*p)) /* stops at text[len] at the latest */
                p++;
            size_t wl = (size_t)(p - start);
            struct found *f = &batch[n++];
            load_head(f->head, start, wl, limit);
            f->hash = hash_word(f->head, start, wl);
            f->word = (const char *)start;
            f->len = wl;
            __builtin_prefetch(&w->slots[f->hash & w->mask]);
        }
        for (int i = 0; i < n; i++)
            if (add(w, batch[i].word, batch[i].len, batch[i].head, batch[i].hash) != 0)
                return -1;
        if (n < BATCH)
            return 0;
    }
}

void appkit_words_free(struct appkit_words *w)
{
    free(w->slots);
    memset(w, 0, sizeof *w);
}
