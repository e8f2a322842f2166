/* Durable Raft state in LMDB: one environment per node (a directory) holding the log (key: the
 * big-endian index), the hard state, and the latest snapshot (metadata + data).
 *
 * Every write is one LMDB write transaction, made durable (fsync) when it commits unless
 * opts.sync is off: a batch of Raft output costs one fsync (group commit). Compaction stores a
 * snapshot and deletes the log prefix it covers in the same transaction, so a crash leaves
 * either the old state or the new one, never a hole. A full map is grown and the write retried.
 *
 * A write that fails for lack of space (the volume is full, a quota, or the map at its limit)
 * returns STORAGE_NO_SPACE and leaves the store as it was: the caller may keep what it wanted
 * to write and try again once there is room. Any other failed write returns STORAGE_ERR; the
 * store is then not to be trusted with more writes.
 *
 * The directory is locked (flock on LOCK) while open: a second process is refused. A directory
 * whose files are not a consistent store is reported, never overwritten: data.mdb is checked
 * against its own meta pages before LMDB maps it (a truncated file would otherwise kill the
 * process with SIGBUS). A store that is gone (data.mdb absent or empty) in a directory that
 * shows one existed (lock.mdb, or the MEMBER marker written next to every store) is refused too,
 * unless the caller says the node replaces a lost member (opts.replace): a node that restarted
 * empty as if new could vote twice in a term and would forget what it acknowledged. */
#ifndef STORAGE_STORAGE_H
#define STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "storage/store.h" /* enum storage_error */

struct storage;
struct store;


struct storage_opts {
    bool sync;           /* fsync every commit (default true; the simulator turns it off) */
    size_t map_size;     /* initial LMDB map size (default 64 MiB; grows when full) */
    size_t max_map_size; /* the map never grows past this (a size quota); 0: no limit */
    /* The node is a member of an existing cluster whose store may be lost (a daemon's
     * --initial-cluster-state existing). Off (the default): a directory with no trace of a
     * store gets a new one; a directory whose store is gone is refused. On: a missing or empty
     * store is created empty and marked recovering (raft_hard_state.recovering), so the core
     * rejoins without voting before that is safe. An intact store opens the same either way. */
    bool replace;
    /* A snapshot written in the background (storage_compact_begin) goes to disk at no more
     * than this many bytes per second (0: as fast as it can), so that the node's own fsyncs,
     * on the same disk, do not queue behind it (TiKV caps snapshot writes at 100 MB/s). */
    uint64_t background_write_rate;
    /* For tests only, a planted bug: each commit returns before its fsync, which happens when
     * the next write begins (LMDB opened with MDB_NOSYNC, mdb_env_sync before each write).
     * The node then acknowledges what a power cut can still take away; the power-cut tests
     * must catch it (test/kv/test_kvd_powercut.c). A kill -9 cannot: the page cache keeps it. */
    bool planted_late_sync;
};

void storage_opts_default(struct storage_opts *o);

/* Whether dir holds a store or the traces of one (anything storage_open would not treat as a
 * first start). */
bool storage_present(const char *dir);

/* Opens (creating when absent, see opts.replace) the store in dir. Returns 0, or -1 with a
 * message in err: the directory cannot be created, is locked by another process, holds
 * corrupted data (a data.mdb shorter than its meta pages require included: the file is not
 * touched), or its store is lost and opts.replace is off. */
int storage_open(const char *dir, const struct storage_opts *o, struct storage **out, char *err,
                 size_t errlen);
void storage_close(struct storage *s);

/* Reads what a starting node needs, checking that the store is consistent (the log follows the
 * snapshot without holes, the commit index is within the log); init->hard_state.recovering and
 * recover_term are the stored recovery state. Returns 0, or -1 with err. */
int storage_load(struct storage *s, struct raft_init *init, char *err, size_t errlen);

/* The read-only interface for the Raft core. Valid while s is open. Its term() also answers for
 * the stored snapshot's index (with the snapshot's term), so that a driver can store a snapshot
 * before it tells the core (raft_compact reads that term): a snapshot that finds no room then
 * changes neither. */
struct raft_storage storage_reader(struct storage *s);

/* Persists a ready in one transaction: a received snapshot (replacing the whole log), then the
 * entries (replacing the stored suffix from entries[0].index), then the hard state (its
 * recovery state included). Returns 0, or STORAGE_NO_SPACE / STORAGE_ERR with err (the
 * transaction is then rolled back and nothing changed: saving the same ready again is the
 * retry). A ready that only
 * moves the commit index writes nothing: the stored commit index lags until the next write
 * (it may always be relearned from the leader), and every write is durable. */
int storage_save(struct storage *s, const struct raft_ready *rd, char *err, size_t errlen);

/* Stores commit as the hard state's commit index (clamped to the stored log) when it is ahead
 * of the stored one, durably: for a clean shutdown, so that a restart applies everything at
 * once. Returns 0, or STORAGE_NO_SPACE / STORAGE_ERR with err. */
int storage_save_commit(struct storage *s, uint64_t commit, char *err, size_t errlen);

/* Stores a snapshot taken by the application at index/term and deletes the log up to index,
 * in one transaction. Returns 0, or STORAGE_NO_SPACE / STORAGE_ERR with err (STORAGE_ERR also
 * when index does not advance the stored snapshot); nothing changed on failure. */
int storage_compact(struct storage *s, uint64_t index, uint64_t term, const uint8_t *data,
                    size_t len, char *err, size_t errlen);
/* The same with the snapshot appended by write into LMDB's reserved space (MDB_RESERVE): the
 * encoded snapshot is in memory once, in the write transaction's pages (store.h's
 * compact_fill). */
int storage_compact_fill(struct storage *s, uint64_t index, uint64_t term, size_t len,
                         store_write_fn write, void *arg, char *err, size_t errlen);

/* The same in the background (store.h's compact_begin and compact_poll): a forked child
 * writes the snapshot's chunks in transactions of its own while the caller goes on; poll
 * reaps it and adopts them in one transaction (dropping the log up to index), or, when a
 * snapshot stored meanwhile is at least as new, deletes them (*index 0). A child that fails
 * or is killed changes nothing (its chunks are deleted; those of a child that outlived a
 * crash, at the next open). storage_close kills a running child. */
int storage_compact_begin(struct storage *s, uint64_t index, uint64_t term, size_t len,
                          store_write_fn write, void *arg, char *err, size_t errlen);
int storage_compact_poll(struct storage *s, uint64_t *index, uint64_t *term, size_t *len,
                         char *err, size_t errlen);

/* A copy of the stored snapshot (malloc'd; NULL and 0 when there is none). Returns 0 or -1. */
int storage_snapshot(struct storage *s, struct raft_snapshot_meta *meta, uint8_t **data,
                     size_t *len);

/* Bytes of persisted Raft state: hard state plus log entries (keys, headers and data), not the
 * snapshot. Kept up to date on every write, so it costs nothing to ask. */
size_t storage_raft_state_size(const struct storage *s);

/* This store behind the generic interface the replica layer uses (storage/store.h). Valid
 * while s is open. */
struct store *storage_store(struct storage *s);

/* Size of the stored snapshot data in bytes. */
size_t storage_snapshot_size(const struct storage *s);

/* Space on the volume of the data directory (statvfs): bytes available to this process, and
 * the reserve under which a node should take no new writes, max(16 MiB, 1% of the volume), so
 * that what it must still store (votes, terms, the entries already accepted) finds room.
 * Returns 0, or -1 when statvfs fails. */
int storage_space(const struct storage *s, uint64_t *avail, uint64_t *reserve);

#endif
