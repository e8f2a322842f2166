/* Word counting for wc and indexer: one pass over the text, an open-addressing hash table of
 * (pointer, length) into the text. This is the hot loop of the word-count benchmark, so the
 * first 8 bytes of each word are kept in its slot: most words are compared without touching
 * the text of their first occurrence (a cache miss for all but the most frequent words). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

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

size_t appkit_utf8_letter_len(const unsigned char *p, locale_t utf8)
{
    /* Unicode's table 3-7 of well-formed sequences: the lead byte fixes the length and the
     * range of the first continuation byte (excluding overlong forms, surrogates and code
     * points past U+10FFFF); every further byte is 0x80-0xBF. */
    unsigned c = p[0], n, lo = 0x80, hi = 0xBF;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, cp = c & 0x0F;
        lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07;
        lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0; /* a continuation byte, C0, C1 or F5-FF: not the start of a character */
    }
    for (unsigned i = 1; i < n; i++) {
        if (p[i] < lo || p[i] > hi)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
        lo = 0x80, hi = 0xBF;
    }
    return iswalpha_l((wint_t)cp, utf8) ? n : 0;
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
    /* Per call rather than once per process: an app keeps no state between calls (glibc keeps
     * the loaded locale data, so this costs microseconds per map). */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!utf8) {
        fprintf(stderr, "mrapps: cannot load the C.UTF-8 locale (needed to find letters)\n");
        return -1;
    }
    if (grow(w) != 0) {
        freelocale(utf8);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    const unsigned char *limit = end + 1; /* text[len] is readable */
    struct found batch[BATCH];
    for (;;) {
        int n = 0;
        while (n < BATCH) {
            /* A byte that starts no letter is skipped alone: the bytes after it cannot start a
             * letter unless they start a character. */
            size_t l = 0;
            while (p < end && !(l = appkit_letter_len(p, utf8)))
                p++;
            if (p == end)
                break;
            const unsigned char *start = p;
            do /* stops at text[len] at the latest */
                p += l;
            while ((l = appkit_letter_len(p, utf8)));
            size_t wl = (size_t)(p - start);
            struct found *f = &batch[n++];
            load_head(f->head, start, wl, limit);
            f->hash = hash_word(f->head, start, wl);
            f->word = (const char *)start;
            f->len = wl;
            __builtin_prefetch(&w->slots[f->hash & w->mask]);
        }
        for (int i = 0; i < n; i++)
            if (add(w, batch[i].word, batch[i].len, batch[i].head, batch[i].hash) != 0) {
                freelocale(utf8);
                return -1;
            }
        if (n < BATCH) {
            freelocale(utf8);
            return 0;
        }
    }
}

void appkit_words_free(struct appkit_words *w)
{
    free(w->slots);
    memset(w, 0, sizeof *w);
}
