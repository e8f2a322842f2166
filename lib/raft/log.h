/* The core's view of its log: a snapshot point, a durable part read through struct
 * raft_storage, and an unstable tail held in memory until the driver persists it.
 * Internal to lib/raft.
 *
 *   (snap_index]  (snap_index, stable_last]      (stable_last, last]
 *   compacted     durable, read from storage     unstable, in memory */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include "raft/raft.h"

struct raft_log {
    struct raft_storage st;
    uint64_t snap_index, snap_term;
    uint64_t stable_last, stable_last_term;
    struct raft_entry *unstable; /* indices stable_last + 1 ... */
    size_t n_unstable, cap_unstable;
};

enum { LOG_OK = 0, LOG_COMPACTED = 1, LOG_UNAVAILABLE = 2, LOG_ERR = -1 };

void raft_log_init(struct raft_log *l, const struct raft_storage *st,
                   const struct raft_snapshot_meta *snap, uint64_t last_index, uint64_t last_term);
void raft_log_free(struct raft_log *l);

uint64_t raft_log_last(const struct raft_log *l);
uint64_t raft_log_last_term(const struct raft_log *l);

/* Term at index: LOG_OK, LOG_COMPACTED (index < snap_index), LOG_UNAVAILABLE (> last) or
 * LOG_ERR (storage failed). Index 0 has term 0. */
int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term);

/* Copies of entries lo..hi (inclusive, all within (snap_index, last]) into a malloc'd array,
 * at most max_bytes of data (at least one entry). Returns LOG_OK or LOG_ERR. */
int raft_log_entries(const struct raft_log *l, uint64_t lo, uint64_t hi, size_t max_bytes,
                     struct raft_entry **out, size_t *n);

/* Appends copies of entries; they must follow on from index first-1, which must be >= the
 * commit point the caller protects. Entries from e[0].index on are replaced. */
void raft_log_append(struct raft_log *l, const struct raft_entry *e, size_t n);

/* The unstable entries were persisted: they become durable. */
void raft_log_stabilize(struct raft_log *l);

/* The log prefix up to index (durable, with this term) was compacted into a snapshot. */
void raft_log_compact(struct raft_log *l, uint64_t index, uint64_t term);

/* A received snapshot replaces the whole log. */
void raft_log_restore(struct raft_log *l, const struct raft_snapshot_meta *snap);

/* Copies an entry (data included). */
void raft_entry_copy(struct raft_entry *dst, const struct raft_entry *src);

#endif
