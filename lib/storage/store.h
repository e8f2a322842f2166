/* The storage a replica persists into, as one interface: lib/storage's LMDB store
 * (storage_store) in the daemons, the simulator's memory store (test/sim/memstore.c) in the
 * deterministic tests. The replica layer (lib/replica) sees only this.
 *
 * Every call comes from the one thread that drives the replica. The int-returning calls give
 * 0, STORAGE_NO_SPACE (a write found no room: nothing changed, the same call is the retry) or
 * STORAGE_ERR (anything else: the store is not to be trusted with more writes), with a message
 * in err. The semantics are lib/storage's (storage.h); an implementation must match them. */
#ifndef STORAGE_STORE_H
#define STORAGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

enum storage_error {
    STORAGE_OK = 0,
    STORAGE_PENDING = 1,    /* (compact_poll, not an error) the background writer still runs */
    STORAGE_ERR = -1,       /* any failure but the ones below */
    STORAGE_NO_SPACE = -2,  /* a write found no room: nothing changed; retry once there is */
    STORAGE_BG_FAILED = -3, /* the background writer failed: nothing changed; the store is fine */
};

struct store;

/* Where a snapshot's bytes go: appended in order, in pieces of any size. */
struct store_sink {
    void (*append)(struct store_sink *sink, const uint8_t *data, size_t len);
};

/* sink's append as a function of (sink, data, len), for encoders that take a callback. */
static inline void store_sink_append(void *sink, const uint8_t *data, size_t len)
{
    ((struct store_sink *)sink)->append(sink, data, len);
}

/* Appends exactly len bytes of a snapshot (the len given with it) to sink. */
typedef void (*store_write_fn)(void *arg, struct store_sink *sink, size_t len);

struct store_ops {
    /* The read-only view the Raft core reads durable entries and the snapshot through. */
    struct raft_storage (*reader)(struct store *s);
    /* What a starting node finds (checked for consistency). */
    int (*load)(struct store *s, struct raft_init *init, char *err, size_t errlen);
    /* Persists a ready in one durable batch: a received snapshot (replacing the whole log),
     * then the entries (replacing the stored suffix from entries[0].index), then the hard
     * state. */
    int (*save)(struct store *s, const struct raft_ready *rd, char *err, size_t errlen);
    /* Stores the application's snapshot at index/term and drops the log up to index, in one
     * batch. */
    int (*compact)(struct store *s, uint64_t index, uint64_t term, const uint8_t *data,
                   size_t len, char *err, size_t errlen);
    /* A copy of the stored snapshot (malloc'd; NULL and 0 when there is none; meta->index 0). */
    int (*snapshot)(struct store *s, struct raft_snapshot_meta *meta, uint8_t **data, size_t *len);
    /* Bytes of persisted Raft state: hard state and log, not the snapshot. */
    uint64_t (*raft_state_size)(struct store *s);
    /* Optional (NULL: compact only): compact with a snapshot of len bytes that write puts
     * straight into the store's own space for it (no copy of the caller's buffer). write may
     * be called more than once (a retry after the store grew) and must write the same bytes. */
    int (*compact_fill)(struct store *s, uint64_t index, uint64_t term, size_t len,
                        store_write_fn write, void *arg, char *err, size_t errlen);
    /* Optional (NULL: never in the background): begins a compaction whose snapshot write
     * writes in the background, from an image of the caller's memory as it is at this call
     * (lib/storage forks), so that the caller may go on changing its state (and saving
     * readies) at once. One at a time. Returns 0 (begun: compact_poll tells the end), or an
     * error with nothing begun (compact_fill is the fallback). */
    int (*compact_begin)(struct store *s, uint64_t index, uint64_t term, size_t len,
                         store_write_fn write, void *arg, char *err, size_t errlen);
    /* The background compaction's end, without waiting: STORAGE_PENDING (still writing), 0
     * (done: the snapshot at *index (*term, *len bytes) is stored and the log up to it
     * dropped, or *index is 0 when a snapshot saved meanwhile superseded it), or an error
     * with nothing changed (STORAGE_NO_SPACE, STORAGE_BG_FAILED, STORAGE_ERR). */
    int (*compact_poll)(struct store *s, uint64_t *index, uint64_t *term, size_t *len,
                        char *err, size_t errlen);
};

struct store {
    const struct store_ops *ops;
};

#endif
