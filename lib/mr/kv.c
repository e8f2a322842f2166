/* Intermediate pairs: the serialized buffer (also the file format of mr-X-Y), the index used to
 * sort and group them, and the partition function.
 *
 * Format: the magic "MRK1", then for each pair: key length and value length (32-bit
 * little-endian each), the key bytes, '\0', the value bytes, '\0'. The terminators let
 * applications treat keys and values read back from a file as C strings without a copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "mr/mr.h"

#define MAGIC "MRK1"
#define MAGIC_LEN 4u
#define HEADER 8u /* two lengths */

uint32_t mr_partition(const char *key, size_t key_len, uint32_t nreduce)
{
    return (hash_fnv1a32(key, key_len) & 0x7fffffffu) % nreduce;
}

static void put_le32(char *p, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    memcpy(p, b, 4);
}

static uint32_t get_le32(const char *p)
{
    unsigned char b[4];
    memcpy(b, p, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void mr_kvbuf_init(struct mr_kvbuf *b)
{
    b->cap = 4096;
    b->data = xmalloc(b->cap);
    memcpy(b->data, MAGIC, MAGIC_LEN);
    b->len = MAGIC_LEN;
}

int mr_kvbuf_add(struct mr_kvbuf *b, const char *key, size_t key_len, const char *value,
                 size_t value_len)
{
    if (key_len > UINT32_MAX - 2 || value_len > UINT32_MAX - 2)
        return MR_ERR;
    size_t need = HEADER + key_len + value_len + 2;
    if (b->cap - b->len < need) {
        while (b->cap - b->len < need)
            b->cap *= 2;
        b->data = xrealloc(b->data, b->cap);
    }
    char *p = b->data + b->len;
    put_le32(p, (uint32_t)key_len);
    put_le32(p + 4, (uint32_t)value_len);
    p += HEADER;
    memcpy(p, key, key_len);
    p[key_len] = '\0';
    p += key_len + 1;
    memcpy(p, value, value_len);
    p[value_len] = '\0';
    b->len += need;
    return MR_OK;
}

void mr_kvbuf_reset(struct mr_kvbuf *b) { b->len = MAGIC_LEN; }

void mr_kvbuf_free(struct mr_kvbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static uint64_t key_prefix(const char *key, uint32_t len)
{
    unsigned char b[8] = { 0 };
    memcpy(b, key, len < 8 ? len : 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

int mr_kvlist_parse(struct mr_kvlist *l, const char *data, size_t len, const char *what,
                    char *err, size_t errlen)
{
    if (len < MAGIC_LEN || memcmp(data, MAGIC, MAGIC_LEN) != 0) {
        snprintf(err, errlen, "%s: not an intermediate file (bad magic)", what);
        return MR_ERR;
    }
    size_t off = MAGIC_LEN;
    while (off < len) {
        if (len - off < HEADER) {
            snprintf(err, errlen, "%s: truncated record header at offset %zu", what, off);
            return MR_ERR;
        }
        uint32_t kl = get_le32(data + off), vl = get_le32(data + off + 4);
        size_t body = (size_t)kl + vl + 2;
        if (len - off - HEADER < body || data[off + HEADER + kl] != '\0' ||
            data[off + HEADER + kl + 1 + vl] != '\0') {
            snprintf(err, errlen, "%s: malformed record at offset %zu", what, off);
            return MR_ERR;
        }
        if (l->n == UINT32_MAX) { /* sorting numbers pairs with 32 bits */
            snprintf(err, errlen, "%s: more than %u pairs in one task", what, UINT32_MAX);
            return MR_ERR;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 1024;
            l->items = xrealloc(l->items, l->cap * sizeof *l->items);
        }
        const char *key = data + off + HEADER;
        l->items[l->n++] = (struct mr_kv){ key_prefix(key, kl), key, key + kl + 1, kl, vl };
        off += HEADER + body;
    }
    return MR_OK;
}

static inline int kv_cmp(const struct mr_kv *a, const struct mr_kv *b)
{
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    /* Equal prefixes: the first min(8, lengths) bytes are equal. */
    uint32_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    if (n > 8) {
        int c = memcmp(a->key + 8, b->key + 8, n - 8);
        if (c)
            return c;
    }
    return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* ---- sorting: group equal keys with a hash table, sort only the distinct keys ---------------
 * Intermediate data repeats keys (once per map task that saw them), so this does O(n) hashing
 * and O(g log g) comparisons for g distinct keys, instead of O(n log n) comparisons. */

static uint64_t key_hash(const struct mr_kv *kv)
{
    uint64_t h = (kv->prefix ^ kv->key_len) * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 8; i < kv->key_len; i += 8) {
        uint64_t v = 0;
        memcpy(&v, kv->key + i, MIN(8u, kv->key_len - i));
        h = (h ^ (h >> 29) ^ v) * 0x9e3779b97f4a7c15ull;
    }
    return h ^ (h >> 32);
}

static bool same_key(const struct mr_kv *a, const struct mr_kv *b)
{
    return a->prefix == b->prefix && a->key_len == b->key_len &&
           (a->key_len <= 8 || memcmp(a->key + 8, b->key + 8, a->key_len - 8) == 0);
}

/* The distinct keys of a list: group g's first pair is items[first[g]], and count[g] pairs
 * have its key; group_of[i] is the group of items[i]. */
struct groups {
    uint32_t *first, *count, *group_of;
    uint32_t n, cap;
    uint32_t *slots; /* hash table of group ids + 1 (0 = empty) */
    size_t mask;
};

static void groups_rehash(struct groups *g, const struct mr_kv *items, size_t cap)
{
    free(g->slots);
    g->slots = xcalloc(cap, sizeof *g->slots);
    g->mask = cap - 1;
    for (uint32_t id = 0; id < g->n; id++) {
        size_t i = key_hash(&items[g->first[id]]) & g->mask;
        while (g->slots[i])
            i = (i + 1) & g->mask;
        g->slots[i] = id + 1;
    }
}

static void groups_build(struct groups *g, const struct mr_kv *items, size_t n)
{
    memset(g, 0, sizeof *g);
    g->group_of = xmalloc(n * sizeof *g->group_of);
    groups_rehash(g, items, 1024);
    for (size_t k = 0; k < n; k++) {
        size_t i = key_hash(&items[k]) & g->mask;
        uint32_t id;
        while ((id = g->slots[i]) != 0 && !same_key(&items[g->first[id - 1]], &items[k]))
            i = (i + 1) & g->mask;
        if (id == 0) {
            if (g->n == g->cap) {
                g->cap = g->cap ? g->cap * 2 : 1024;
                g->first = xrealloc(g->first, g->cap * sizeof *g->first);
                g->count = xrealloc(g->count, g->cap * sizeof *g->count);
            }
            id = ++g->n;
            g->first[id - 1] = (uint32_t)k;
            g->count[id - 1] = 0;
            g->slots[i] = id;
            if ((size_t)g->n * 2 > g->mask + 1)
                groups_rehash(g, items, (g->mask + 1) * 2);
        }
        g->group_of[k] = id - 1;
        g->count[id - 1]++;
    }
}

static void groups_free(struct groups *g)
{
    free(g->first);
    free(g->count);
    free(g->group_of);
    free(g->slots);
}

/* Merges the sorted runs a[lo..mid) and a[mid..hi) of group ids (ordered by their first pair's
 * key; keys are distinct) into out[lo..hi). */
static void merge_ids(const struct mr_kv *items, const uint32_t *first, const uint32_t *a,
                      uint32_t *out, size_t lo, size_t mid, size_t hi)
{
    size_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi)
        out[k++] = kv_cmp(&items[first[a[j]]], &items[first[a[i]]]) < 0 ? a[j++] : a[i++];
    while (i < mid)
        out[k++] = a[i++];
    while (j < hi)
        out[k++] = a[j++];
}

/* Sorts the group ids 0..g->n-1 by key (bottom-up merge sort); returns them (caller frees). */
static uint32_t *groups_sorted(const struct groups *g, const struct mr_kv *items)
{
    size_t n = g->n;
    uint32_t *a = xmalloc((n ? n : 1) * sizeof *a), *b = xmalloc((n ? n : 1) * sizeof *b);
    for (uint32_t i = 0; i < n; i++)
        a[i] = i;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width)
            merge_ids(items, g->first, a, b, lo, MIN(lo + width, n), MIN(lo + 2 * width, n));
        uint32_t *t = a;
        a = b;
        b = t;
    }
    free(b);
    return a;
}

void mr_kvlist_sort(struct mr_kvlist *l)
{
    if (l->n < 2)
        return;
    struct groups g;
    groups_build(&g, l->items, l->n);
    uint32_t *order = groups_sorted(&g, l->items);
    /* Each group's place in the output, then every pair to its group's next place, in the
     * order of the input (which keeps the sort stable). */
    uint32_t *next = xmalloc(g.n * sizeof *next), at = 0;
    for (uint32_t r = 0; r < g.n; r++) {
        next[order[r]] = at;
        at += g.count[order[r]];
    }
    struct mr_kv *out = xmalloc(l->n * sizeof *out);
    for (size_t k = 0; k < l->n; k++)
        out[next[g.group_of[k]]++] = l->items[k];
    free(l->items);
    l->items = out;
    l->cap = l->n;
    free(next);
    free(order);
    groups_free(&g);
}

size_t mr_kvlist_group_end(const struct mr_kvlist *l, size_t start)
{
    const struct mr_kv *k = &l->items[start];
    size_t i = start + 1;
    while (i < l->n && l->items[i].prefix == k->prefix && l->items[i].key_len == k->key_len &&
           memcmp(l->items[i].key, k->key, k->key_len) == 0)
        i++;
    return i;
}

void mr_kvlist_free(struct mr_kvlist *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}
