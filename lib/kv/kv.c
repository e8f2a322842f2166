#include "kv/kv.h"

#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"
#include "base/util.h"
#include "kv.pb-c.h"
#include "kv/table.h"

/* Accounting overheads (what an entry costs beyond its bytes, roughly as laid out here). */
#define KEY_OVERHEAD 40u     /* slot: hash, two pointers, two lengths */
#define SESSION_OVERHEAD 48u /* map slot + struct session */

/* The last write of one client: its sequence number and reply value. */
struct session {
    uint64_t seq;
    uint8_t *prev;
    size_t prev_len;
};

struct kv {
    struct kv_table table;
    struct u64map sessions;
    size_t session_bytes;
    int bugs; /* enum kv_bug, tests only */
};

struct kv *kv_new(void) { return xcalloc(1, sizeof(struct kv)); }

static void free_session(uint64_t key, void *val, void *arg)
{
    (void)key;
    (void)arg;
    struct session *s = val;
    free(s->prev);
    free(s);
}

static void clear(struct kv *kv)
{
    kv_table_free(&kv->table);
    u64map_each(&kv->sessions, free_session, NULL);
    u64map_free(&kv->sessions);
    kv->session_bytes = 0;
}

void kv_free(struct kv *kv)
{
    if (!kv)
        return;
    clear(kv);
    free(kv);
}

static void encode_reply(Kv__Err err, const uint8_t *value, size_t len, uint8_t **out,
                         size_t *out_len)
{
    Kv__Reply r = KV__REPLY__INIT;
    r.err = err;
    r.value.data = (uint8_t *)value;
    r.value.len = len;
    *out_len = kv__reply__get_packed_size(&r);
    *out = xmalloc(*out_len ? *out_len : 1);
    kv__reply__pack(&r, *out);
}

/* Records a client's latest write and its reply. */
static void remember(struct kv *kv, uint64_t client, uint64_t seq, const uint8_t *prev, size_t len)
{
    struct session *s = u64map_get(&kv->sessions, client);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        u64map_put(&kv->sessions, client, s);
        kv->session_bytes += SESSION_OVERHEAD;
    }
    kv->session_bytes -= s->prev_len;
    free(s->prev);
    s->seq = seq;
    s->prev = NULL;
    s->prev_len = 0;
    if (prev) {
        s->prev = xmalloc(len ? len : 1);
        if (len)
            memcpy(s->prev, prev, len);
        s->prev_len = len;
        kv->session_bytes += len;
    }
}

static void apply_write(struct kv *kv, const Kv__Command *c, uint8_t **reply, size_t *reply_len)
{
    if (c->client_id != 0) {
        struct session *s = u64map_get(&kv->sessions, c->client_id);
        bool redo = kv->bugs & KV_BUG_REAPPLY_RETRY;
        if (s && c->seq == s->seq && !redo) { /* a retry of the last write: answer it, not redo */
            encode_reply(KV__ERR__OK, s->prev, s->prev_len, reply, reply_len);
            return;
        }
        if (s && c->seq < s->seq) {
            encode_reply(KV__ERR__STALE, NULL, 0, reply, reply_len);
            return;
        }
    }
    size_t old_len = 0;
    const uint8_t *old = kv_table_get(&kv->table, c->key.data, c->key.len, &old_len);
    uint8_t *prev = NULL;
    if (c->want_prev) {
        prev = xmalloc(old_len ? old_len : 1);
        if (old_len)
            memcpy(prev, old, old_len);
    }
    if (c->op == KV__OP_TYPE__PUT)
        kv_table_put(&kv->table, c->key.data, c->key.len, c->value.data, c->value.len);
    else
        kv_table_append(&kv->table, c->key.data, c->key.len, c->value.data, c->value.len);
    if (c->client_id != 0)
        remember(kv, c->client_id, c->seq, prev, c->want_prev ? old_len : 0);
    encode_reply(KV__ERR__OK, prev, c->want_prev ? old_len : 0, reply, reply_len);
    free(prev);
}

void kv_get(const struct kv *kv, const uint8_t *key, size_t klen, uint8_t **reply,
            size_t *reply_len)
{
    size_t vlen = 0;
    const uint8_t *v = kv_table_get(&kv->table, key, klen, &vlen);
    encode_reply(v ? KV__ERR__OK : KV__ERR__NO_KEY, v, vlen, reply, reply_len);
}

void kv_apply(struct kv *kv, const uint8_t *cmd, size_t len, uint8_t **reply, size_t *reply_len)
{
    Kv__Command *c = kv__command__unpack(NULL, len, cmd);
    if (!c) {
        encode_reply(KV__ERR__STALE, NULL, 0, reply, reply_len);
        return;
    }
    if (c->op == KV__OP_TYPE__GET)
        kv_get(kv, c->key.data, c->key.len, reply, reply_len);
    else
        apply_write(kv, c, reply, reply_len);
    kv__command__free_unpacked(c, NULL);
}

struct snap_build {
    Kv__Session *sessions;
    Kv__Session **ptrs;
    size_t n;
};

static void add_session(uint64_t key, void *val, void *arg)
{
    struct snap_build *b = arg;
    struct session *s = val;
    Kv__Session *ks = &b->sessions[b->n];
    kv__session__init(ks);
    ks->client_id = key;
    ks->seq = s->seq;
    ks->prev.data = s->prev;
    ks->prev.len = s->prev_len;
    b->ptrs[b->n++] = ks;
}

void kv_snapshot(const struct kv *kv, uint8_t **data, size_t *len)
{
    Kv__Snapshot snap = KV__SNAPSHOT__INIT;
    size_t np = kv->table.len;
    Kv__Pair *pairs = xcalloc(np + 1, sizeof *pairs);
    Kv__Pair **pp = xcalloc(np + 1, sizeof *pp);
    size_t k = 0;
    for (size_t i = 0; i < kv->table.cap; i++) {
        const struct kv_slot *s = &kv->table.slots[i];
        if (!s->hash)
            continue;
        kv__pair__init(&pairs[k]);
        pairs[k].key.data = s->key;
        pairs[k].key.len = s->klen;
        pairs[k].value.data = s->val;
        pairs[k].value.len = s->vlen;
        pp[k] = &pairs[k];
        k++;
    }
    struct snap_build b = { xcalloc(kv->sessions.len + 1, sizeof(Kv__Session)),
                            xcalloc(kv->sessions.len + 1, sizeof(Kv__Session *)), 0 };
    u64map_each(&kv->sessions, add_session, &b);
    snap.pairs = pp;
    snap.n_pairs = k;
    snap.sessions = b.ptrs;
    snap.n_sessions = b.n;
    *len = kv__snapshot__get_packed_size(&snap);
    *data = xmalloc(*len ? *len : 1);
    kv__snapshot__pack(&snap, *data);
    free(pairs);
    free(pp);
    free(b.sessions);
    free(b.ptrs);
}

int kv_restore(struct kv *kv, const uint8_t *data, size_t len)
{
    Kv__Snapshot *snap = kv__snapshot__unpack(NULL, len, data);
    if (!snap)
        return -1;
    clear(kv);
    for (size_t i = 0; i < snap->n_pairs; i++)
        kv_table_put(&kv->table, snap->pairs[i]->key.data, snap->pairs[i]->key.len,
                     snap->pairs[i]->value.data, snap->pairs[i]->value.len);
    for (size_t i = 0; i < snap->n_sessions; i++) {
        const Kv__Session *s = snap->sessions[i];
        if (s->client_id)
            remember(kv, s->client_id, s->seq, s->prev.len ? s->prev.data : NULL, s->prev.len);
    }
    kv__snapshot__free_unpacked(snap, NULL);
    return 0;
}

void kv_set_planted_bug(struct kv *kv, int bugs) { kv->bugs = bugs; }

void kv_stats(const struct kv *kv, struct kv_stats *st)
{
    st->keys = kv->table.len;
    st->clients = kv->sessions.len;
    st->bytes = kv->table.bytes + kv->table.len * KEY_OVERHEAD + kv->session_bytes;
}
