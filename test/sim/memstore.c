/* The in-memory sim store: the "persister" of the lab, with the same semantics as LMDB. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "store.h"

/* Encoded size of one entry, as the LMDB store lays it out: term, type, index key, data. */
#define ENTRY_OVERHEAD 20u
#define HARD_STATE_SIZE 20u

/* A background snapshot (mem_compact_begin) until a poll adopts it. */
struct mem_bg {
    bool on;
    uint64_t index, term;
    uint8_t *data;
    size_t len;
    unsigned polls; /* STORAGE_PENDING this many more times */
};

struct mem_store {
    struct sim_store sim;
    struct store iface;
    struct raft_hard_state hs;
    uint8_t *conf; /* the membership state saved with the hard state (NULL: none) */
    size_t conf_len;
    struct raft_snapshot_meta snap;
    uint8_t *snap_data;
    size_t snap_len;
    struct raft_entry *log; /* indices snap.index + 1 ... */
    size_t n, cap;
    struct mem_bg bg;
};

static struct mem_store *ms(void *p) { return p; }
static struct mem_store *of(struct store *s)
{
    return (struct mem_store *)((char *)s - offsetof(struct mem_store, iface));
}

static int mem_term(void *ctx, uint64_t index, uint64_t *term)
{
    struct mem_store *m = ms(ctx);
    if (index == m->snap.index && index > 0) { /* as lib/storage: see storage_reader */
        *term = m->snap.term;
        return 0;
    }
    if (index <= m->snap.index || index > m->snap.index + m->n)
        return -1;
    *term = m->log[index - m->snap.index - 1].term;
    return 0;
}

static int mem_entries(void *ctx, uint64_t lo, uint64_t hi, size_t max_bytes, struct raft_entry *out,
                       size_t *n)
{
    struct mem_store *m = ms(ctx);
    if (lo <= m->snap.index || hi > m->snap.index + m->n || lo > hi)
        return -1;
    size_t count = 0, bytes = 0;
    for (uint64_t i = lo; i <= hi; i++) {
        const struct raft_entry *e = &m->log[i - m->snap.index - 1];
        if (count > 0 && bytes + e->len > max_bytes)
            break;
        out[count] = *e;
        out[count].data = xmalloc(e->len ? e->len : 1);
        memcpy(out[count].data, e->data, e->len);
        bytes += e->len;
        count++;
    }
    *n = count;
    return 0;
}

static int mem_snapshot_read(void *ctx, uint64_t offset, uint8_t *buf, size_t cap, size_t *n,
                             uint64_t *total, struct raft_snapshot_meta *meta)
{
    struct mem_store *m = ms(ctx);
    if (offset > m->snap_len)
        offset = m->snap_len;
    size_t k = MIN(cap, m->snap_len - offset);
    if (k)
        memcpy(buf, m->snap_data + offset, k);
    *n = k;
    *total = m->snap_len;
    *meta = m->snap;
    return 0;
}

static struct raft_storage mem_reader(struct store *s)
{
    return (struct raft_storage){ of(s), mem_term, mem_entries, mem_snapshot_read };
}

static int mem_load(struct store *s, struct raft_init *init, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct mem_store *m = of(s);
    init->hard_state = m->hs;
    init->conf = m->conf;
    init->conf_len = m->conf_len;
    init->snapshot = m->snap;
    init->last_index = m->snap.index + m->n;
    return 0;
}

static void drop_from(struct mem_store *m, size_t keep)
{
    raft_entries_free(m->log + keep, m->n - keep);
    m->n = keep;
}

static void set_snapshot(struct mem_store *m, uint64_t index, uint64_t term, const uint8_t *data,
                         size_t len)
{
    free(m->snap_data);
    m->snap_data = xmalloc(len ? len : 1);
    if (len) /* an empty state's snapshot may come as NULL */
        memcpy(m->snap_data, data, len);
    m->snap_len = len;
    m->snap.index = index;
    m->snap.term = term;
}

static int mem_save(struct store *s, const struct raft_ready *rd, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct mem_store *m = of(s);
    if (rd->has_snapshot) {
        drop_from(m, 0);
        set_snapshot(m, rd->snapshot.index, rd->snapshot.term, rd->snapshot_data, rd->snapshot_len);
    }
    if (rd->n_entries) {
        uint64_t first = rd->entries[0].index;
        size_t keep = first - m->snap.index - 1;
        drop_from(m, MIN(keep, m->n));
        if (m->n + rd->n_entries > m->cap) {
            m->cap = MAX(m->cap * 2, m->n + rd->n_entries);
            m->log = xrealloc(m->log, m->cap * sizeof *m->log);
        }
        for (size_t i = 0; i < rd->n_entries; i++) {
            struct raft_entry *e = &m->log[m->n++];
            *e = rd->entries[i];
            e->data = xmalloc(e->len ? e->len : 1);
            memcpy(e->data, rd->entries[i].data, e->len);
        }
    }
    if (rd->hard_state_changed)
        m->hs = rd->hard_state;
    if (rd->conf_changed) {
        free(m->conf);
        m->conf = xmalloc(rd->conf_len ? rd->conf_len : 1);
        memcpy(m->conf, rd->conf, rd->conf_len);
        m->conf_len = rd->conf_len;
    }
    return 0;
}

static int mem_compact(struct store *s, uint64_t index, uint64_t term, const uint8_t *data,
                       size_t len, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct mem_store *m = of(s);
    size_t drop = MIN((size_t)(index - m->snap.index), m->n);
    raft_entries_free(m->log, drop);
    memmove(m->log, m->log + drop, (m->n - drop) * sizeof *m->log);
    m->n -= drop;
    set_snapshot(m, index, term, data, len);
    return 0;
}

static int mem_snapshot(struct store *s, struct raft_snapshot_meta *meta, uint8_t **data,
                        size_t *len)
{
    struct mem_store *m = of(s);
    *meta = m->snap;
    *data = NULL;
    *len = 0;
    if (m->snap.index) {
        *data = xmalloc(m->snap_len ? m->snap_len : 1);
        memcpy(*data, m->snap_data, m->snap_len);
        *len = m->snap_len;
    }
    return 0;
}

static uint64_t mem_size(struct store *s)
{
    struct mem_store *m = of(s);
    size_t bytes = HARD_STATE_SIZE;
    for (size_t i = 0; i < m->n; i++)
        bytes += ENTRY_OVERHEAD + m->log[i].len;
    return bytes;
}

static void mem_wipe(struct sim_store *s, bool recover)
{
    struct mem_store *m = ms(s);
    drop_from(m, 0);
    free(m->snap_data);
    m->snap_data = NULL;
    m->snap_len = 0;
    m->snap = (struct raft_snapshot_meta){ 0, 0 };
    m->hs = (struct raft_hard_state){ .recovering = recover };
    free(m->conf);
    m->conf = NULL;
    m->conf_len = 0;
}

static void mem_crash(struct sim_store *s);

static void mem_destroy(struct sim_store *s)
{
    struct mem_store *m = ms(s);
    mem_crash(s);
    drop_from(m, 0);
    free(m->log);
    free(m->snap_data);
    free(m->conf);
    free(m);
}

/* ---- snapshots written by the caller's writer, and in the background ----------------------- */

struct buf_sink {
    struct store_sink sink;
    uint8_t *p;
    size_t len, at;
};

static void buf_append(struct store_sink *sink, const uint8_t *data, size_t len)
{
    struct buf_sink *b = (struct buf_sink *)sink;
    if (len > b->len - b->at)
        abort(); /* a writer that breaks its promise of len bytes */
    memcpy(b->p + b->at, data, len);
    b->at += len;
}

static uint8_t *written(store_write_fn write, void *arg, size_t len)
{
    struct buf_sink b = { { buf_append }, xmalloc(len ? len : 1), len, 0 };
    write(arg, &b.sink, len);
    if (b.at != len)
        abort();
    return b.p;
}

static int mem_compact_fill(struct store *s, uint64_t index, uint64_t term, size_t len,
                            store_write_fn write, void *arg, char *err, size_t errlen)
{
    uint8_t *data = written(write, arg, len);
    int rc = mem_compact(s, index, term, data, len, err, errlen);
    free(data);
    return rc;
}

/* As lib/storage's fork: the bytes are taken now (the child's image of the state), the store
 * changes only when compact_poll finds the writer done, a few polls (readies) later. */
static int mem_compact_begin(struct store *s, uint64_t index, uint64_t term, size_t len,
                             store_write_fn write, void *arg, char *err, size_t errlen)
{
    struct mem_store *m = of(s);
    if (m->bg.on || index <= m->snap.index) {
        snprintf(err, errlen, "memstore: a background snapshot at %llu refused",
                 (unsigned long long)index);
        return STORAGE_ERR;
    }
    m->bg = (struct mem_bg){ true, index, term, written(write, arg, len), len,
                             1 + (unsigned)(index % 4) };
    return 0;
}

static int mem_compact_poll(struct store *s, uint64_t *index, uint64_t *term, size_t *len,
                            char *err, size_t errlen)
{
    struct mem_store *m = of(s);
    if (!m->bg.on) {
        snprintf(err, errlen, "memstore: no background snapshot");
        return STORAGE_ERR;
    }
    if (m->bg.polls-- > 0)
        return STORAGE_PENDING;
    m->bg.on = false;
    *index = 0;
    if (m->bg.index > m->snap.index) {
        mem_compact(s, m->bg.index, m->bg.term, m->bg.data, m->bg.len, err, errlen);
        *index = m->bg.index;
        *term = m->bg.term;
        *len = m->bg.len;
        m->sim.bg_adopted++;
    } else {
        m->sim.bg_superseded++;
    }
    free(m->bg.data);
    return 0;
}

static void mem_crash(struct sim_store *s)
{
    struct mem_store *m = ms(s);
    if (!m->bg.on)
        return;
    m->bg.on = false;
    free(m->bg.data);
    m->sim.bg_lost++;
}

static const struct store_ops mem_ops = {
    mem_reader, mem_load, mem_save, mem_compact, mem_snapshot, mem_size, mem_compact_fill,
    mem_compact_begin, mem_compact_poll,
};

struct sim_store *sim_mem_store_new(void)
{
    struct mem_store *m = xcalloc(1, sizeof *m);
    m->iface.ops = &mem_ops;
    m->sim = (struct sim_store){ &m->iface, mem_wipe, mem_destroy, mem_crash, 0, 0, 0 };
    return &m->sim;
}
