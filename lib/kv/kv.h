/* The key/value state machine: Get, Put, Append, Delete and compare-and-swap (CAS) with
 * at-most-once execution of writes from
 * (client id, sequence number). Pure: decoded commands in, results out; no I/O, no Raft, no
 * protobuf (lib/kv/codec.h turns kv.Command / kv.Reply / kv.Snapshot bytes into these calls).
 *
 * The at-most-once table is a lib/session table: per (partition of the key, client) only the
 * last write's sequence number and reply are kept, so memory grows with the number of clients,
 * not of requests; Gets leave no per-client state. A key's partition comes from the function
 * set with kv_set_partition (default: every key in partition 0, what kvd uses), so that a
 * shard's sessions can later move with its keys. */
#ifndef KV_KV_H
#define KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv;
struct session_table;

enum kv_op { KV_OP_GET = 0, KV_OP_PUT = 1, KV_OP_APPEND = 2, KV_OP_DELETE = 3, KV_OP_CAS = 4 };
#define KV_OP_LAST KV_OP_CAS

/* The values match kv.Err's, so the codec maps them one to one. */
enum kv_err {
    KV_OK = 0,
    KV_NO_KEY = 1,      /* the key is absent: Get; Delete (nothing done); CAS (not swapped) */
    KV_STALE = 5,       /* a write older than the client's last one (a delayed copy): not executed */
    KV_CAS_FAILED = 10, /* CAS not swapped: the key exists with another value (the result's) */
};

/* One decoded command. The caller owns the bytes; kv copies what it keeps. key / value may be
 * NULL when their length is 0. client_id 0: no at-most-once (the write is always executed). */
struct kv_cmd {
    enum kv_op op;
    const uint8_t *key;
    size_t klen;
    const uint8_t *value; /* Put/Append; CAS: the new value */
    size_t vlen;
    uint64_t client_id, seq; /* writes */
    bool want_prev;          /* Put/Append: return the previous value (etcd's prev_kv) */
    const uint8_t *expected; /* CAS: the value the key must hold (an existing key: "" matches
                                only a key present with an empty value) */
    size_t elen;
    bool expect_absent;      /* CAS: swap only if the key is absent (expected ignored) */
};

/* A command's outcome. value (NULL when vlen is 0) is owned by the kv and valid until the next
 * call that changes it (kv_apply, kv_clear, kv_load_pair, a change to kv_sessions_mut's table,
 * kv_free): copy or encode it before then. Get: the value; Put/Append with want_prev: the
 * previous value (also for a duplicate, which is answered with the first execution's reply);
 * CAS with KV_CAS_FAILED: the current value. Delete: KV_OK (it existed) or KV_NO_KEY; CAS:
 * KV_OK (swapped), KV_CAS_FAILED or KV_NO_KEY (absent: not swapped). A retried Delete or CAS
 * gets its first execution's outcome, not a new evaluation. */
struct kv_result {
    enum kv_err err;
    const uint8_t *value;
    size_t vlen;
};

/* A key's partition (a small integer, < SESSION_MAX_PARTITIONS): must depend on the key only. */
typedef uint32_t (*kv_partition_fn)(const uint8_t *key, size_t klen, void *arg);

/* An empty state machine (never NULL), every key in partition 0. */
struct kv *kv_new(void);
void kv_free(struct kv *kv);
/* kv_free in steps, for a kv nothing reads or changes any more (a shard handed over): each
 * call passes over up to `slots` slots of the table (freeing the pairs there; a table is at
 * most 3/4 full), the last frees the rest of kv. Returns true once kv is gone. */
bool kv_free_some(struct kv *kv, size_t slots);
/* The pairs of up to `slots` slots of kv's table from *next on (advancing it), in table order,
 * for a caller that visits a large kv in steps while it does not change (kv_each_pair sorts
 * the whole kv at once). Returns true once past the last slot. */
bool kv_scan(const struct kv *kv, size_t *next, size_t slots,
             void (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                        void *arg),
             void *arg);

/* Sets how keys map to partitions. Call before the first write (or on an empty kv). */
void kv_set_partition(struct kv *kv, kv_partition_fn fn, void *arg);

/* The partition of key (0 without a partition function). */
uint32_t kv_partition_of(const struct kv *kv, const uint8_t *key, size_t klen);

/* Applies one command from the log into *res. A Get is answered as kv_get does; a write
 * already applied for (client, seq) gets the stored reply without being redone; an older seq
 * gets KV_STALE. Every replica applying the same commands reaches the same state. */
void kv_apply(struct kv *kv, const struct kv_cmd *cmd, struct kv_result *res);

/* Serves a Get (also outside the log: a read the leader has confirmed as linearizable):
 * KV_OK with the value, or KV_NO_KEY. Does not change the kv. */
void kv_get(const struct kv *kv, const uint8_t *key, size_t klen, struct kv_result *res);

/* Calls fn for every key in key order (bytewise, a prefix first): what snapshots serialize, so
 * the same state gives the same bytes whatever order the keys were written in. fn must not
 * change the kv. */
void kv_each_pair(const struct kv *kv,
                  void (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                             void *arg),
                  void *arg);

/* Empties the map and the session table (the partition function stays). */
void kv_clear(struct kv *kv);

/* Sets key to val (both copied) without a session: for loading a snapshot or an imported shard. */
void kv_load_pair(struct kv *kv, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);

/* The session table, to iterate (snapshots) or, through the _mut form, to load, import, export
 * and drop a partition's sessions. Owned by the kv. */
const struct session_table *kv_sessions(const struct kv *kv);
struct session_table *kv_sessions_mut(struct kv *kv);

/* Planted bugs, for tests only (a test shows its checker notices each): off in every kv_new.
 * KV_BUG_REAPPLY_RETRY: a retried write (the client's last sequence number again) is executed
 * again instead of answered from the session table;
 * KV_BUG_CAS_ALWAYS_SWAPS: a CAS swaps (and answers OK) whatever the key holds. */
enum kv_bug { KV_BUG_NONE = 0, KV_BUG_REAPPLY_RETRY = 1, KV_BUG_CAS_ALWAYS_SWAPS = 2 };
void kv_set_planted_bug(struct kv *kv, int bugs);

struct kv_stats {
    uint64_t keys, clients; /* clients: sessions, over all partitions */
    uint64_t bytes;         /* keys + values + per-key overhead + session_bytes */
};
void kv_stats(const struct kv *kv, struct kv_stats *st);

#endif
