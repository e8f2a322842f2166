/* lib/storage's insides, shared by its files: storage.c (open, load, the log, the hard state),
 * snapshot.c (the snapshot's records) and background.c (snapshots written by a forked child).
 * Nothing outside lib/storage includes this. */
#ifndef STORAGE_INTERNAL_H
#define STORAGE_INTERNAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/store.h"

/* A snapshot being written by a forked child (background.c); pid 0: none. */
struct bg_snapshot {
    pid_t pid;
    uint64_t gen, index, term, len;
};

struct storage {
    struct store iface;   /* storage_store: first, so a struct store * is the storage */
    char *dir;
    int lock_fd;
    MDB_env *env;
    MDB_dbi log, meta, snap;
    size_t map_size;
    size_t max_map_size;  /* 0: no limit */
    size_t log_bytes;     /* keys + headers + data of every stored entry */
    size_t snapshot_len;
    uint64_t snap_gen;    /* the stored snapshot's generation (snapshot.c) */
    uint64_t next_gen;    /* the next generation to write: above every one in the store */
    bool sync;            /* opened with fsync on */
    bool late_sync;       /* storage_opts.planted_late_sync: fsync at the next write */
    uint64_t background_write_rate; /* storage_opts' (bytes/s; 0: no cap) */
    uint64_t saved_term;  /* the stored hard state */
    uint32_t saved_vote;
    uint64_t saved_commit;
    bool saved_recovering; /* the stored recovery record */
    uint64_t saved_recover_term;
    uint8_t *loaded_conf; /* the membership state storage_load found (raft_init.conf) */
    struct bg_snapshot bg;
};

/* Deletes the cursor's record and moves to the one after it: 0, MDB_NOTFOUND (none), or an
 * error. */
int storage_del_next(MDB_cursor *c, MDB_val *k, MDB_val *v);


/* ---- snapshot.c: the stored snapshot as records ----------------------------------------------
 *
 * meta "snap": index, term, generation, length (big-endian u64 each). The data: the "snapshot"
 * database, in chunks of SNAP_CHUNK bytes keyed (generation, chunk number), big-endian; the
 * last chunk may be shorter. A new snapshot is written under a new generation and made current
 * by rewriting meta "snap" (then the old generation's chunks are deleted), so that chunks can
 * be written in transactions of their own (background.c) before one transaction adopts them. */
#define SNAP_CHUNK ((size_t)1 << 20)

struct snap_meta {
    uint64_t index, term, gen, len;
};

/* Reads meta "snap": 0, MDB_NOTFOUND (no snapshot: m zeroed), MDB_CORRUPTED, or LMDB's error. */
int snap_meta_get(const struct storage *s, MDB_txn *txn, struct snap_meta *m);
int snap_meta_put(const struct storage *s, MDB_txn *txn, const struct snap_meta *m);

/* Writes gen's chunks: from data, or appended by write (into LMDB's reserved space). */
int snap_put(const struct storage *s, MDB_txn *txn, uint64_t gen, const uint8_t *data, size_t len);
int snap_put_written(const struct storage *s, MDB_txn *txn, uint64_t gen, size_t len,
                     store_write_fn write, void *arg);

/* Deletes gen's chunks. */
int snap_drop(const struct storage *s, MDB_txn *txn, uint64_t gen);

/* Copies up to cap bytes of the snapshot described by m from offset; *n is how many. */
int snap_read(const struct storage *s, MDB_txn *txn, const struct snap_meta *m, uint64_t offset,
              uint8_t *buf, size_t cap, size_t *n);

/* At open (a write transaction): checks that the current generation's chunks hold exactly its
 * length, deletes every other generation's (a background writer that died, a crash between
 * writing and adopting), and sets s->snap_gen, s->next_gen and s->snapshot_len. Returns 0 or
 * MDB_CORRUPTED. */
int snap_open(struct storage *s, MDB_txn *txn);

/* The chunk writer: a sink that writes gen's chunks (len bytes in all) through txn, or, with
 * txn NULL, in transactions of its own on env, each of txn_bytes (a multiple of SNAP_CHUNK)
 * gathered first in a buffer of the writer's. */
struct snap_writer {
    struct store_sink sink;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint64_t gen, len, done; /* bytes given room so far: done */
    uint8_t *batch;          /* txn NULL: the chunks of the next transaction */
    size_t txn_bytes, in_txn;
    uint8_t *buf;            /* where the current chunk's next bytes go */
    size_t left;             /* bytes of it still to fill */
    uint64_t flushed;        /* chunks written (or reserved) so far */
    uint64_t rate, began_us; /* batch mode: at most rate bytes/s (0: no cap) since began_us */
    int rc;                  /* the first error (later appends are dropped) */
};

void snap_writer_init(struct snap_writer *w, MDB_env *env, MDB_txn *txn, MDB_dbi dbi, uint64_t gen,
                      uint64_t len, size_t txn_bytes, uint64_t rate);
/* Ends the writer: the last transaction of its own committed; 0, or the first error
 * (EOVERFLOW when more or fewer than len bytes were appended). */
int snap_writer_end(struct snap_writer *w);

/* ---- background.c: a snapshot written by a forked child ------------------------------------ */

/* Forks a child that writes s->bg.gen's chunks (s->bg.len bytes, from write) in transactions
 * of its own, from the copy-on-write image of this process as it is now; sets s->bg.pid.
 * Returns 0, or -1 with err (nothing started). */
int bg_start(struct storage *s, store_write_fn write, void *arg, char *err, size_t errlen);

/* Whether the child ended, without waiting: STORAGE_PENDING, STORAGE_OK (its chunks are all
 * written and durable), STORAGE_NO_SPACE or STORAGE_BG_FAILED (with err). Once it ended,
 * s->bg.pid is 0 (s->bg's other fields still describe what it wrote). */
int bg_poll(struct storage *s, char *err, size_t errlen);

/* Kills a running child and reaps it (its chunks are deleted at the next open). */
void bg_kill(struct storage *s);

#endif
