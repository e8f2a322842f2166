/* The storage a simulated node persists into: the replica layer's one interface
 * (storage/store.h), two implementations (memory, and lib/storage's LMDB store in a temp
 * directory), so every scenario runs on both. */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "storage/store.h"

/* A simulated node's store: the replica's storage interface (storage/store.h) and what only a
 * test does to a disk. */
struct sim_store {
    struct store *store; /* what the replica persists into (replaced by wipe) */
    /* Loses everything (a lost disk): recover: the store is recreated for a member replacing
     * the lost one (empty, marked recovering, as lib/storage does with opts.replace); otherwise
     * as for a brand-new node (empty, not recovering: the unsafe restart). */
    void (*wipe)(struct sim_store *s, bool recover);
    void (*destroy)(struct sim_store *s);
    /* Optional: the process died; what it had in flight dies with it (a background
     * snapshot's writer). */
    void (*crash)(struct sim_store *s);
    /* Background snapshots (the memory store's, store.h's compact_begin): adopted, superseded
     * by a received snapshot, lost to a crash. */
    uint64_t bg_adopted, bg_superseded, bg_lost;
};

/* The lab's persister in memory, with the LMDB store's semantics (and its size accounting). */
struct sim_store *sim_mem_store_new(void);
/* lib/storage's LMDB store in dir (fsync off). */
struct sim_store *sim_lmdb_store_new(const char *dir);

#endif
