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

/* Stable insertion sort of v[0..n). */
static void insertion_sort(struct mr_kv *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct mr_kv x = v[i];
        size_t j = i;
        while (j > 0 && kv_cmp(&v[j - 1], &x) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* Merges the sorted runs a[lo..mid) and a[mid..hi) into out[lo..hi), taking from the left run
 * on ties (stability). */
static void merge(const struct mr_kv *a, struct mr_kv *out, size_t lo, size_t mid, size_t hi)
{
    size_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi)
        out[k++] = kv_cmp(&a[j], &a[i]) < 0 ? a[j++] : a[i++];
    while (i < mid)
        out[k++] = a[i++];
    while (j < hi)
        out[k++] = a[j++];
}

void mr_kvlist_sort(struct mr_kvlist *l)
{
    enum { RUN = 24 };
    size_t n = l->n;
    for (size_t lo = 0; lo < n; lo += RUN)
        insertion_sort(l->items + lo, MIN((size_t)RUN, n - lo));
    if (n <= RUN)
        return;
    struct mr_kv *a = l->items, *b = xmalloc(n * sizeof *b);
    for (size_t width = RUN; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = MIN(lo + width, n), hi = MIN(lo + 2 * width, n);
            merge(a, b, lo, mid, hi);
        }
        struct mr_kv *t = a;
        a = b;
        b = t;
    }
    if (a != l->items) {
        memcpy(l->items, a, n * sizeof *a);
        b = a;
    }
    free(b);
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
