#include "kv/table.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static uint64_t hash_key(const uint8_t *k, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= k[i];
        h *= 0x100000001b3ull;
    }
    return h | 1; /* never 0: 0 marks an empty slot */
}

static struct kv_slot *find(const struct kv_table *t, const uint8_t *key, size_t klen, uint64_t h)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        struct kv_slot *s = &t->slots[i];
        if (s->hash == 0)
            return s;
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
}

static void grow(struct kv_table *t)
{
    struct kv_table bigger = { xcalloc(t->cap ? t->cap * 2 : 64, sizeof(struct kv_slot)),
                               t->cap ? t->cap * 2 : 64, t->len, t->bytes };
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].hash) {
            struct kv_slot *s = find(&bigger, t->slots[i].key, t->slots[i].klen, t->slots[i].hash);
            *s = t->slots[i];
        }
    }
    free(t->slots);
    *t = bigger;
}

const uint8_t *kv_table_get(const struct kv_table *t, const uint8_t *key, size_t klen, size_t *vlen)
{
    struct kv_slot *s = find(t, key, klen, hash_key(key, klen));
    if (!s || s->hash == 0)
        return NULL;
    *vlen = s->vlen;
    return s->val;
}

/* The slot for key, created (with an empty value) if absent. */
static struct kv_slot *slot_for(struct kv_table *t, const uint8_t *key, size_t klen)
{
    if ((t->len + 1) * 4 > t->cap * 3)
        grow(t);
    uint64_t h = hash_key(key, klen);
    struct kv_slot *s = find(t, key, klen, h);
    if (s->hash == 0) {
        *s = (struct kv_slot){ h, xmalloc(klen ? klen : 1), klen, NULL, 0 };
        if (klen) /* an empty key or value may come as a NULL pointer */
            memcpy(s->key, key, klen);
        t->len++;
        t->bytes += klen;
    }
    return s;
}

void kv_table_put(struct kv_table *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct kv_slot *s = slot_for(t, key, klen);
    t->bytes -= s->vlen;
    free(s->val);
    s->val = xmalloc(vlen ? vlen : 1);
    if (vlen)
        memcpy(s->val, val, vlen);
    s->vlen = vlen;
    t->bytes += vlen;
}

void kv_table_append(struct kv_table *t, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen)
{
    struct kv_slot *s = slot_for(t, key, klen);
    s->val = xrealloc(s->val, s->vlen + vlen ? s->vlen + vlen : 1);
    if (vlen)
        memcpy(s->val + s->vlen, val, vlen);
    s->vlen += vlen;
    t->bytes += vlen;
}

bool kv_table_del(struct kv_table *t, const uint8_t *key, size_t klen)
{
    struct kv_slot *s = find(t, key, klen, hash_key(key, klen));
    if (!s || s->hash == 0)
        return false;
    t->bytes -= s->klen + s->vlen;
    t->len--;
    free(s->key);
    free(s->val);
    /* Backward shift: move later members of the probe run into the hole when the hole lies
     * between their home slot and where they sit, so that every lookup still finds them. */
    size_t mask = t->cap - 1, hole = (size_t)(s - t->slots);
    for (size_t i = (hole + 1) & mask; t->slots[i].hash; i = (i + 1) & mask) {
        size_t home = t->slots[i].hash & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->slots[hole] = t->slots[i];
            hole = i;
        }
    }
    t->slots[hole] = (struct kv_slot){ 0 };
    return true;
}

bool kv_table_free_some(struct kv_table *t, size_t *next, size_t n)
{
    size_t end = MIN(t->cap, *next + n);
    for (size_t i = *next; i < end; i++) {
        if (t->slots[i].hash) {
            free(t->slots[i].key);
            free(t->slots[i].val);
            t->slots[i].hash = 0;
        }
    }
    *next = end;
    if (end < t->cap)
        return false;
    free(t->slots);
    *t = (struct kv_table){ 0 };
    return true;
}

void kv_table_free(struct kv_table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].hash) {
            free(t->slots[i].key);
            free(t->slots[i].val);
        }
    }
    free(t->slots);
    *t = (struct kv_table){ 0 };
}
