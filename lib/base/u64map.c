#include "base/u64map.h"

#include <assert.h>
#include <stdlib.h>

#include "base/util.h"

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void u64map_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    *m = (struct u64map){ 0 };
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (m->keys[i] == 0)
            return NULL;
    }
}

static void grow(struct u64map *m)
{
    struct u64map bigger = { 0 };
    bigger.cap = m->cap ? m->cap * 2 : 16;
    bigger.keys = xcalloc(bigger.cap, sizeof *bigger.keys);
    bigger.vals = xcalloc(bigger.cap, sizeof *bigger.vals);
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            u64map_put(&bigger, m->keys[i], m->vals[i]);
    u64map_free(m);
    *m = bigger;
}

void u64map_put(struct u64map *m, uint64_t key, void *val)
{
    assert(key != 0 && val != NULL);
    if ((m->len + 1) * 4 > m->cap * 3)
        grow(m);
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return;
        }
        if (m->keys[i] == 0) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->len++;
            return;
        }
    }
}

void *u64map_del(struct u64map *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->vals[i];
    /* Backward-shift: move later entries of the probe run into the hole when that keeps them
     * reachable from their home slot. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = slot_of(m->keys[j], m->cap);
        bool reachable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (reachable) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->vals[hole] = NULL;
    m->len--;
    return val;
}

void u64map_each(const struct u64map *m, void (*fn)(uint64_t key, void *val, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            fn(m->keys[i], m->vals[i], arg);
}
