/* The storage a simulated node persists into: one interface, two implementations (memory, and
 * lib/storage's LMDB store in a temp directory), so every scenario runs on both. */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct sim_store;

struct sim_store_ops {
    /* The read-only view the core uses. */
    struct raft_storage (*reader)(struct sim_store *s);
    /* What a restarting node finds. */
    void (*load)(struct sim_store *s, struct raft_init *init);
    /* Persists a ready: snapshot (replacing the log), then entries (replacing the suffix from
     * entries[0].index), then the hard state, as one atomic batch. */
    void (*save)(struct sim_store *s, const struct raft_ready *rd);
    /* Stores an application snapshot at index/term and drops the log up to index. */
    void (*compact)(struct sim_store *s, uint64_t index, uint64_t term, const uint8_t *data,
                    size_t len);
    /* Copies the stored snapshot (malloc'd; NULL/0 when none). */
    void (*snapshot)(struct sim_store *s, struct raft_snapshot_meta *meta, uint8_t **data,
                     size_t *len);
    /* Bytes of persisted Raft state (hard state + log, not the snapshot). */
    size_t (*raft_state_size)(struct sim_store *s);
    /* Loses everything (a lost disk): recover: the store is recreated for a member replacing
     * the lost one (empty, marked recovering, as lib/storage does with opts.replace); otherwise
     * as for a brand-new node (empty, not recovering: the unsafe restart). */
    void (*wipe)(struct sim_store *s, bool recover);
    void (*destroy)(struct sim_store *s);
};

struct sim_store {
    const struct sim_store_ops *ops;
};

struct sim_store *sim_mem_store_new(void);

#endif
