/* A hash map from non-zero 64-bit keys to pointers (open addressing, linear probing,
 * backward-shift deletion). Used for call ids and client ids. The map does not own the values. */
#ifndef BASE_U64MAP_H
#define BASE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
    uint64_t *keys; /* 0 = empty slot */
    void **vals;
    size_t cap;     /* a power of two, or 0 before the first insert */
    size_t len;
};

/* An empty map needs no allocation: struct u64map m = {0}; */
void u64map_free(struct u64map *m);

/* Looks key up; NULL when absent. */
void *u64map_get(const struct u64map *m, uint64_t key);

/* Inserts or replaces; key must be non-zero, val non-NULL. */
void u64map_put(struct u64map *m, uint64_t key, void *val);

/* Removes key and returns its value, or NULL when absent. */
void *u64map_del(struct u64map *m, uint64_t key);

/* Calls fn for every entry, in no particular order. fn must not change the map. */
void u64map_each(const struct u64map *m, void (*fn)(uint64_t key, void *val, void *arg), void *arg);

#endif
