#include "session/session.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"
#include "base/util.h"

/* One stored session: the header and the reply bytes in one allocation. */
struct record {
    uint64_t seq;
    size_t len;
    uint8_t reply[];
};

/* parts[p] maps client id -> struct record for partition p. Lookups are by hash; anything that
 * lists entries sorts them by client id, so map order never reaches a caller. */
struct session_table {
    struct u64map *parts;
    uint32_t nparts;
    size_t count, bytes;
};

struct session_table *session_new(void) { return xcalloc(1, sizeof(struct session_table)); }

static const struct u64map *part_of(const struct session_table *t, uint32_t part)
{
    return part < t->nparts ? &t->parts[part] : NULL;
}

/* The partition's map, the array grown to hold it. */
static struct u64map *part_make(struct session_table *t, uint32_t part)
{
    assert(part < SESSION_MAX_PARTITIONS);
    if (part >= t->nparts) {
        t->parts = xrealloc(t->parts, ((size_t)part + 1) * sizeof *t->parts);
        memset(&t->parts[t->nparts], 0, ((size_t)part + 1 - t->nparts) * sizeof *t->parts);
        t->nparts = part + 1;
    }
    return &t->parts[part];
}

static void free_record(uint64_t key, void *val, void *arg)
{
    (void)key;
    struct session_table *t = arg;
    struct record *r = val;
    t->count--;
    t->bytes -= r->len + SESSION_ENTRY_OVERHEAD;
    free(r);
}

void session_drop(struct session_table *t, uint32_t part)
{
    if (part >= t->nparts)
        return;
    u64map_each(&t->parts[part], free_record, t);
    u64map_free(&t->parts[part]);
}

void session_clear(struct session_table *t)
{
    for (uint32_t p = 0; p < t->nparts; p++)
        session_drop(t, p);
    free(t->parts);
    t->parts = NULL;
    t->nparts = 0;
}

void session_free(struct session_table *t)
{
    if (!t)
        return;
    session_clear(t);
    free(t);
}

enum session_verdict session_check(const struct session_table *t, uint32_t part,
                                   uint64_t client_id, uint64_t seq, const uint8_t **reply,
                                   size_t *reply_len)
{
    const struct u64map *m = part_of(t, part);
    const struct record *r = client_id && m ? u64map_get(m, client_id) : NULL;
    if (!r || seq > r->seq)
        return SESSION_NEW;
    if (seq < r->seq)
        return SESSION_STALE;
    *reply = r->reply;
    *reply_len = r->len;
    return SESSION_DUPLICATE;
}

const uint8_t *session_record(struct session_table *t, uint32_t part, uint64_t client_id,
                              uint64_t seq, const uint8_t *reply, size_t reply_len)
{
    if (!client_id)
        return NULL;
    struct u64map *m = part_make(t, part);
    struct record *old = u64map_get(m, client_id);
    if (old)
        free_record(client_id, old, t);
    struct record *r = xmalloc(sizeof *r + reply_len);
    r->seq = seq;
    r->len = reply_len;
    if (reply_len)
        memcpy(r->reply, reply, reply_len);
    u64map_put(m, client_id, r);
    t->count++;
    t->bytes += reply_len + SESSION_ENTRY_OVERHEAD;
    return r->reply;
}

struct collect {
    struct session_entry *e;
    size_t n;
};

static void collect_one(uint64_t key, void *val, void *arg)
{
    struct collect *c = arg;
    const struct record *r = val;
    c->e[c->n++] = (struct session_entry){ key, r->seq, r->reply, r->len };
}

static int by_client(const void *a, const void *b)
{
    uint64_t x = ((const struct session_entry *)a)->client_id;
    uint64_t y = ((const struct session_entry *)b)->client_id;
    return x < y ? -1 : x > y;
}

size_t session_export(const struct session_table *t, uint32_t part,
                      struct session_entry **entries)
{
    const struct u64map *m = part_of(t, part);
    *entries = NULL;
    if (!m || m->len == 0)
        return 0;
    struct collect c = { xmalloc(m->len * sizeof *c.e), 0 };
    u64map_each(m, collect_one, &c);
    qsort(c.e, c.n, sizeof *c.e, by_client);
    *entries = c.e;
    return c.n;
}

void session_import(struct session_table *t, uint32_t part, const struct session_entry *entries,
                    size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct session_entry *e = &entries[i];
        if (!e->client_id)
            continue;
        const struct u64map *m = part_of(t, part);
        const struct record *have = m ? u64map_get(m, e->client_id) : NULL;
        if (!have || e->seq > have->seq)
            session_record(t, part, e->client_id, e->seq, e->reply, e->reply_len);
    }
}

size_t session_count(const struct session_table *t) { return t->count; }

size_t session_count_part(const struct session_table *t, uint32_t part)
{
    const struct u64map *m = part_of(t, part);
    return m ? m->len : 0;
}

size_t session_bytes(const struct session_table *t) { return t->bytes; }

void session_each(const struct session_table *t,
                  void (*fn)(uint32_t part, const struct session_entry *e, void *arg), void *arg)
{
    for (uint32_t p = 0; p < t->nparts; p++) {
        struct session_entry *e;
        size_t n = session_export(t, p, &e);
        for (size_t i = 0; i < n; i++)
            fn(p, &e[i], arg);
        free(e);
    }
}
