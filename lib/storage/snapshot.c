/* The stored snapshot as records: its metadata, and its data in chunks of one generation
 * (internal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "storage/internal.h"

#define META_SIZE 32u
#define CHUNK_KEY 16u

static MDB_val meta_key(void) { return (MDB_val){ 4, (void *)"snap" }; }

int snap_meta_get(const struct storage *s, MDB_txn *txn, struct snap_meta *m)
{
    memset(m, 0, sizeof *m);
    MDB_val k = meta_key(), v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != META_SIZE)
        return MDB_CORRUPTED;
    const uint8_t *p = v.mv_data;
    *m = (struct snap_meta){ be64_get(p), be64_get(p + 8), be64_get(p + 16), be64_get(p + 24) };
    return 0;
}

int snap_meta_put(const struct storage *s, MDB_txn *txn, const struct snap_meta *m)
{
    uint8_t b[META_SIZE];
    be64_put(b, m->index);
    be64_put(b + 8, m->term);
    be64_put(b + 16, m->gen);
    be64_put(b + 24, m->len);
    MDB_val k = meta_key(), v = { META_SIZE, b };
    return mdb_put(txn, s->meta, &k, &v, 0);
}

static MDB_val chunk_key(uint8_t *kb, uint64_t gen, uint64_t chunk)
{
    be64_put(kb, gen);
    be64_put(kb + 8, chunk);
    return (MDB_val){ CHUNK_KEY, kb };
}

static uint64_t chunks_of(uint64_t len) { return (len + SNAP_CHUNK - 1) / SNAP_CHUNK; }

/* ---- the chunk writer ------------------------------------------------------------------------
 *
 * Into a caller's transaction, each chunk is reserved in LMDB's pages and filled there. In
 * transactions of its own (background.c's child), the chunks are gathered in a buffer of
 * txn_bytes and written by one short transaction when it is full: the writer lock, which the
 * node's saves need too, is never held while the state machine produces bytes. */

/* Writes the gathered chunks (batch mode) in one transaction. */
static int writer_flush(struct snap_writer *w)
{
    if (w->in_txn == 0)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(w->env, NULL, 0, &txn);
    if (rc == MDB_MAP_RESIZED) /* the node grew the map: adopt its size */
        rc = mdb_env_set_mapsize(w->env, 0) ?: mdb_txn_begin(w->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    for (size_t at = 0; at < w->in_txn && rc == 0; at += SNAP_CHUNK) {
        uint8_t kb[CHUNK_KEY];
        MDB_val k = chunk_key(kb, w->gen, w->flushed++),
                v = { MIN(SNAP_CHUNK, w->in_txn - at), w->batch + at };
        rc = mdb_put(txn, w->dbi, &k, &v, 0);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return rc;
    w->in_txn = 0;
    /* LMDB's writer lock is a mutex, not a queue: a writer that begins again at once wins it
     * back from the one woken by the unlock. Pausing here (1 ms at least) lets the other
     * process (the node, saving its readies) in between two of ours; longer, to keep to the
     * rate. */
    uint64_t due_us = w->rate ? w->began_us + w->flushed * SNAP_CHUNK * 1000000 / w->rate : 0;
    uint64_t now_us = (clock_mono_ns() / 1000);
    usleep((useconds_t)MAX(1000, due_us > now_us ? MIN(due_us - now_us, 1000000) : 0));
    return 0;
}

/* Makes room for the next chunk: reserved in the caller's transaction, or in the batch. */
static int writer_next(struct snap_writer *w)
{
    size_t n = (size_t)MIN((uint64_t)SNAP_CHUNK, w->len - w->done);
    if (w->txn) {
        uint8_t kb[CHUNK_KEY];
        MDB_val k = chunk_key(kb, w->gen, w->flushed++), v = { n, NULL };
        int rc = mdb_put(w->txn, w->dbi, &k, &v, MDB_RESERVE);
        if (rc != 0)
            return rc;
        w->buf = v.mv_data;
    } else {
        int rc = w->in_txn + n > w->txn_bytes ? writer_flush(w) : 0;
        if (rc != 0)
            return rc;
        w->buf = w->batch + w->in_txn;
        w->in_txn += n;
    }
    w->left = n;
    w->done += n;
    return 0;
}

static void writer_append(struct store_sink *sink, const uint8_t *data, size_t len)
{
    struct snap_writer *w = (struct snap_writer *)sink;
    while (len > 0 && w->rc == 0) {
        if (w->left == 0) {
            if (w->done == w->len) {
                w->rc = EOVERFLOW; /* more than len bytes */
                return;
            }
            if ((w->rc = writer_next(w)) != 0)
                return;
        }
        size_t k = MIN(len, w->left);
        memcpy(w->buf, data, k);
        w->buf += k;
        w->left -= k;
        data += k;
        len -= k;
    }
}

void snap_writer_init(struct snap_writer *w, MDB_env *env, MDB_txn *txn, MDB_dbi dbi, uint64_t gen,
                      uint64_t len, size_t txn_bytes, uint64_t rate)
{
    *w = (struct snap_writer){ .sink = { writer_append }, .env = env, .txn = txn,
                               .dbi = dbi, .gen = gen, .len = len, .txn_bytes = txn_bytes,
                               .rate = rate, .began_us = (clock_mono_ns() / 1000) };
    if (!txn)
        w->batch = xmalloc(txn_bytes);
}

int snap_writer_end(struct snap_writer *w)
{
    if (w->rc == 0 && (w->left > 0 || w->done < w->len))
        w->rc = EOVERFLOW; /* fewer than len bytes */
    if (w->rc == 0 && !w->txn)
        w->rc = writer_flush(w);
    free(w->batch);
    w->batch = NULL;
    return w->rc;
}

/* ---- whole snapshots --------------------------------------------------------------------------- */

struct from_buffer {
    const uint8_t *data;
};

static void write_buffer(void *arg, struct store_sink *sink, size_t len)
{
    sink->append(sink, ((struct from_buffer *)arg)->data, len);
}

int snap_put(const struct storage *s, MDB_txn *txn, uint64_t gen, const uint8_t *data, size_t len)
{
    struct from_buffer b = { data };
    return snap_put_written(s, txn, gen, len, write_buffer, &b);
}

int snap_put_written(const struct storage *s, MDB_txn *txn, uint64_t gen, size_t len,
                     store_write_fn write, void *arg)
{
    struct snap_writer w;
    snap_writer_init(&w, NULL, txn, s->snap, gen, len, 0, 0);
    write(arg, &w.sink, len);
    return snap_writer_end(&w);
}

int snap_drop(const struct storage *s, MDB_txn *txn, uint64_t gen)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->snap, &c);
    if (rc != 0)
        return rc;
    uint8_t kb[CHUNK_KEY];
    MDB_val k = chunk_key(kb, gen, 0), v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == CHUNK_KEY && be64_get(k.mv_data) == gen)
        rc = storage_del_next(c, &k, &v);
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

int snap_read(const struct storage *s, MDB_txn *txn, const struct snap_meta *m, uint64_t offset,
              uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    offset = MIN(offset, m->len);
    while (*n < cap && offset < m->len) {
        uint8_t kb[CHUNK_KEY];
        MDB_val k = chunk_key(kb, m->gen, offset / SNAP_CHUNK), v;
        uint64_t at = offset % SNAP_CHUNK;
        int rc = mdb_get(txn, s->snap, &k, &v);
        if (rc != 0)
            return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
        if (v.mv_size <= at)
            return MDB_CORRUPTED;
        size_t take = MIN(cap - *n, v.mv_size - at);
        memcpy(buf + *n, (const uint8_t *)v.mv_data + at, take);
        *n += take;
        offset += take;
    }
    return 0;
}

int snap_open(struct storage *s, MDB_txn *txn)
{
    struct snap_meta m;
    int rc = snap_meta_get(s, txn, &m);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return MDB_CORRUPTED;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, s->snap, &c)) != 0)
        return rc;
    MDB_val k, v;
    uint64_t top = m.gen, seen = 0, bytes = 0;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size != CHUNK_KEY) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint64_t gen = be64_get(k.mv_data), chunk = be64_get((uint8_t *)k.mv_data + 8);
        top = MAX(top, gen);
        if (gen == m.gen && m.index) {
            /* The current generation: chunks 0, 1, ... each full but the last, len in all. */
            if (chunk != seen || v.mv_size == 0 || v.mv_size > SNAP_CHUNK ||
                (chunk + 1 < chunks_of(m.len) && v.mv_size != SNAP_CHUNK)) {
                rc = MDB_CORRUPTED;
                break;
            }
            seen++;
            bytes += v.mv_size;
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            continue;
        }
        rc = storage_del_next(c, &k, &v); /* a generation never adopted (a child that died) */
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return MDB_CORRUPTED;
    if (m.index && (bytes != m.len || seen != chunks_of(m.len)))
        return MDB_CORRUPTED;
    s->snap_gen = m.gen;
    s->next_gen = top + 1;
    s->snapshot_len = m.index ? m.len : 0;
    return 0;
}
