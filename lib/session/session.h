/* The at-most-once table of a replicated state machine: per (partition, client id) the sequence
 * number of the client's last applied write and that write's reply bytes.
 *
 * A partition is a small integer naming a subset of the keys (a shard; kvd uses partition 0 for
 * everything). A client's writes to keys of different partitions have independent sessions, so
 * the sessions of one partition can be exported, imported into another table and dropped: they
 * move with their shard. The table keeps an array as long as the highest partition used + 1;
 * recording into a partition >= SESSION_MAX_PARTITIONS is a caller's bug (it aborts).
 *
 * Deterministic: whatever the order in which entries were recorded, every export and iteration
 * lists them by partition, then client id, ascending (same state -> same bytes on every replica).
 * Pure: no I/O, no encoding; callers serialize the entries as they wish.
 *
 * Client id 0 means "no session" (a client that asked for no at-most-once execution): checks
 * answer SESSION_NEW and records are ignored. Pointers handed out (reply bytes, exported
 * entries' replies) stay valid until the next call that changes the table. */
#ifndef SESSION_SESSION_H
#define SESSION_SESSION_H

#include <stddef.h>
#include <stdint.h>

/* What one entry costs beyond its reply bytes (an estimate of the map slot, the record header
 * and the allocator's share), counted once per entry in session_bytes. */
#define SESSION_ENTRY_OVERHEAD 48u
#define SESSION_MAX_PARTITIONS 65536u

struct session_table;

/* One client's session, as exported, imported and iterated. */
struct session_entry {
    uint64_t client_id; /* never 0 */
    uint64_t seq;       /* the last applied write's sequence number */
    const uint8_t *reply;
    size_t reply_len;
};

enum session_verdict {
    SESSION_NEW,       /* not seen yet (a higher seq, a new client, or client id 0): apply it */
    SESSION_DUPLICATE, /* the last applied write again: answer with its stored reply */
    SESSION_STALE,     /* older than the last applied write: a delayed copy, ignore it */
};

/* An empty table (never NULL; exits on out of memory). */
struct session_table *session_new(void);
/* Frees the table and everything it stores. NULL is allowed. */
void session_free(struct session_table *t);
/* Removes every entry of every partition. */
void session_clear(struct session_table *t);

/* Classifies the write (part, client_id, seq). On SESSION_DUPLICATE sets *reply / *reply_len to
 * the stored reply (owned by the table). Does not change the table. */
enum session_verdict session_check(const struct session_table *t, uint32_t part,
                                   uint64_t client_id, uint64_t seq, const uint8_t **reply,
                                   size_t *reply_len);

/* Records that client_id's write seq was applied in part with that reply (copied; reply may be
 * NULL when reply_len is 0), replacing the client's previous entry in part whatever its seq
 * (callers record only what session_check called new). Returns the stored copy of the reply
 * (owned by the table), or NULL for client id 0, which is not recorded. */
const uint8_t *session_record(struct session_table *t, uint32_t part, uint64_t client_id,
                              uint64_t seq, const uint8_t *reply, size_t reply_len);

/* The sessions of part, by client id ascending, into *entries (malloc'd, the caller frees the
 * array; each reply points into the table). Returns how many (0: *entries is NULL). */
size_t session_export(const struct session_table *t, uint32_t part,
                      struct session_entry **entries);

/* Merges n entries into part (replies copied; they must not point into t itself): a client
 * already there keeps its entry unless the imported seq is higher. Entries with client id 0 are
 * skipped. */
void session_import(struct session_table *t, uint32_t part, const struct session_entry *entries,
                    size_t n);

/* Removes every session of part (the others are untouched). */
void session_drop(struct session_table *t, uint32_t part);

/* Sessions in the whole table / in part. */
size_t session_count(const struct session_table *t);
size_t session_count_part(const struct session_table *t, uint32_t part);

/* Memory accounted: the sum over entries of reply_len + SESSION_ENTRY_OVERHEAD, exactly. */
size_t session_bytes(const struct session_table *t);

/* Calls fn for every entry, by partition then client id ascending (what snapshots serialize).
 * fn must not change the table. */
void session_each(const struct session_table *t,
                  void (*fn)(uint32_t part, const struct session_entry *e, void *arg), void *arg);

#endif
