/* Word counting for wc and indexer: one pass over the text, an open-addressing hash table of
 * (pointer, length) into the text. This is the hot loop of the word-count benchmark. */
#include <stdlib.h>
#include <string.h>

#include "appkit.h"

/* Hash of the len bytes at p, 8 at a time; bytes before limit may be read past the word. */
static uint32_t hash_word(const unsigned char *p, size_t len, const unsigned char *limit)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    if (i < len) {
        uint64_t v = 0;
        size_t rest = len - i;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if ((size_t)(limit - (p + i)) >= 8) {
            memcpy(&v, p + i, 8);
            v &= ~0ull >> (64 - 8 * rest); /* keep the word's bytes (little-endian order) */
        } else {
            memcpy(&v, p + i, rest);
        }
#else
        (void)limit;
        memcpy(&v, p + i, rest);
#endif
        h = (h ^ v) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    return (uint32_t)h;
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

static int add(struct appkit_words *w, const char *word, size_t len, uint32_t h)
{
    size_t i = h & w->mask;
    for (;;) {
        struct appkit_word *e = &w->slots[i];
        if (!e->count)
            break;
        if (e->hash == h && e->len == len && memcmp(e->word, word, len) == 0) {
            e->count++;
            return 0;
        }
        i = (i + 1) & w->mask;
    }
    w->slots[i] = (struct appkit_word){ word, (uint32_t)len, h, 1 };
    if (++w->used * 2 > w->mask + 1)
        return grow(w);
    return 0;
}

int appkit_words_count(struct appkit_words *w, const char *text, size_t len)
{
    memset(w, 0, sizeof *w);
    if (grow(w) != 0)
        return -1;
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    const unsigned char *limit = end + 1; /* text[len] is readable */
    for (;;) {
        while (p < end && !appkit_is_letter(*p))
            p++;
        if (p == end)
            return 0;
        const unsigned char *start = p;
        while (appkit_is_letter(*p)) /* stops at text[len] at the latest */
            p++;
        size_t n = (size_t)(p - start);
        if (add(w, (const char *)start, n, hash_word(start, n, limit)) != 0)
            return -1;
    }
}

void appkit_words_free(struct appkit_words *w)
{
    free(w->slots);
    memset(w, 0, sizeof *w);
}
