/* A hash table from byte-string keys to byte-string values (open addressing, linear probing,
 * backward-shift deletion). Internal to lib/kv. The table owns copies of keys and values. */
#ifndef KV_TABLE_H
#define KV_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_slot {
    uint64_t hash; /* 0: empty */
    uint8_t *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
};

struct kv_table {
    struct kv_slot *slots;
    size_t cap, len;
    size_t bytes; /* sum of key and value lengths */
};

/* The value of key, or NULL when absent (*vlen set when found). */
const uint8_t *kv_table_get(const struct kv_table *t, const uint8_t *key, size_t klen, size_t *vlen);
/* Sets key to val (copies both). */
void kv_table_put(struct kv_table *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
/* Appends to key's value (creating it). */
void kv_table_append(struct kv_table *t, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen);
/* Removes key (backward-shift deletion: no tombstones). Returns whether it was there. */
bool kv_table_del(struct kv_table *t, const uint8_t *key, size_t klen);
void kv_table_free(struct kv_table *t);
/* kv_table_free in steps: frees the pairs of up to n slots from *next on (advancing it), and
 * once past the last slot the slots too. Returns true when the table is gone (empty). */
bool kv_table_free_some(struct kv_table *t, size_t *next, size_t n);

#endif
