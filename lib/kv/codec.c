#include "kv/codec.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "session/session.h"

int kv_codec_decode_cmd(const uint8_t *buf, size_t len, struct kv_codec_cmd *out)
{
    Kv__Command *c = kv__command__unpack(NULL, len, buf);
    if (!c || !kv_codec_op_known(c->op)) {
        if (c)
            kv__command__free_unpacked(c, NULL);
        return -1;
    }
    out->pb = c;
    out->cmd = (struct kv_cmd){ .op = (enum kv_op)c->op,
                                .key = c->key.data,
                                .klen = c->key.len,
                                .value = c->value.data,
                                .vlen = c->value.len,
                                .client_id = c->client_id,
                                .seq = c->seq,
                                .want_prev = c->want_prev,
                                .expected = c->expected.data,
                                .elen = c->expected.len,
                                .expect_absent = c->expect_absent };
    return 0;
}

void kv_codec_cmd_release(struct kv_codec_cmd *c)
{
    if (c->pb)
        kv__command__free_unpacked(c->pb, NULL);
    c->pb = NULL;
}

void kv_codec_encode_cmd(const struct kv_cmd *cmd, uint8_t **out, size_t *out_len)
{
    Kv__Command c = KV__COMMAND__INIT;
    c.op = (Kv__OpType)cmd->op;
    c.key.data = (uint8_t *)cmd->key;
    c.key.len = cmd->klen;
    c.value.data = (uint8_t *)cmd->value;
    c.value.len = cmd->vlen;
    c.client_id = cmd->client_id;
    c.seq = cmd->seq;
    c.want_prev = cmd->want_prev;
    c.expected.data = (uint8_t *)cmd->expected;
    c.expected.len = cmd->elen;
    c.expect_absent = cmd->expect_absent;
    *out_len = kv__command__get_packed_size(&c);
    *out = xmalloc(*out_len ? *out_len : 1);
    kv__command__pack(&c, *out);
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

void kv_codec_encode_result(const struct kv_result *res, uint8_t **out, size_t *out_len)
{
    encode_reply((Kv__Err)res->err, res->value, res->vlen, out, out_len);
}

void kv_codec_apply(struct kv *kv, const uint8_t *cmd, size_t len, uint8_t **reply,
                    size_t *reply_len)
{
    struct kv_codec_cmd c;
    if (kv_codec_decode_cmd(cmd, len, &c) != 0) {
        encode_reply(KV__ERR__STALE, NULL, 0, reply, reply_len);
        return;
    }
    struct kv_result res;
    kv_apply(kv, &c.cmd, &res);
    kv_codec_encode_result(&res, reply, reply_len);
    kv_codec_cmd_release(&c);
}

void kv_codec_get(const struct kv *kv, const uint8_t *key, size_t klen, uint8_t **reply,
                  size_t *reply_len)
{
    struct kv_result res;
    kv_get(kv, key, klen, &res);
    kv_codec_encode_result(&res, reply, reply_len);
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static void add_pair(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
    struct kv_codec_view *v = arg;
    Kv__Pair *p = &v->pairs[v->n_pairs];
    kv__pair__init(p);
    p->key.data = (uint8_t *)key;
    p->key.len = klen;
    p->value.data = (uint8_t *)val;
    p->value.len = vlen;
    v->pair_ptrs[v->n_pairs++] = p;
}

static void add_session(uint32_t part, const struct session_entry *e, void *arg)
{
    struct kv_codec_view *v = arg;
    Kv__Session *s = &v->sessions[v->n_sessions];
    kv__session__init(s);
    s->client_id = e->client_id;
    s->seq = e->seq;
    s->prev.data = (uint8_t *)e->reply;
    s->prev.len = e->reply_len;
    s->partition = part; /* 0 (kvd) is not written: such a snapshot is the old format's bytes */
    v->session_ptrs[v->n_sessions++] = s;
}

void kv_codec_view_init(const struct kv *kv, struct kv_codec_view *v)
{
    struct kv_stats st;
    kv_stats(kv, &st);
    *v = (struct kv_codec_view){ .pairs = xcalloc(st.keys + 1, sizeof(Kv__Pair)),
                                 .pair_ptrs = xcalloc(st.keys + 1, sizeof(Kv__Pair *)),
                                 .sessions = xcalloc(st.clients + 1, sizeof(Kv__Session)),
                                 .session_ptrs = xcalloc(st.clients + 1, sizeof(Kv__Session *)) };
    kv_each_pair(kv, add_pair, v);
    session_each(kv_sessions(kv), add_session, v);
}

void kv_codec_view_release(struct kv_codec_view *v)
{
    free(v->pairs);
    free(v->pair_ptrs);
    free(v->sessions);
    free(v->session_ptrs);
}

int kv_codec_load(struct kv *kv, Kv__Pair *const *pairs, size_t n_pairs,
                  Kv__Session *const *sessions, size_t n_sessions)
{
    for (size_t i = 0; i < n_sessions; i++)
        if (sessions[i]->partition >= SESSION_MAX_PARTITIONS)
            return -1;
    for (size_t i = 0; i < n_pairs; i++)
        kv_load_pair(kv, pairs[i]->key.data, pairs[i]->key.len, pairs[i]->value.data,
                     pairs[i]->value.len);
    struct session_table *t = kv_sessions_mut(kv);
    for (size_t i = 0; i < n_sessions; i++)
        session_record(t, sessions[i]->partition, sessions[i]->client_id, sessions[i]->seq,
                       sessions[i]->prev.data, sessions[i]->prev.len);
    return 0;
}

struct kv_snapshot_view {
    struct kv_codec_view v;
    Kv__Snapshot snap;
};

struct kv_snapshot_view *kv_codec_snapshot_begin(const struct kv *kv, size_t *len)
{
    struct kv_snapshot_view *sv = xmalloc(sizeof *sv);
    kv_codec_view_init(kv, &sv->v);
    kv__snapshot__init(&sv->snap);
    sv->snap.pairs = sv->v.pair_ptrs;
    sv->snap.n_pairs = sv->v.n_pairs;
    sv->snap.sessions = sv->v.session_ptrs;
    sv->snap.n_sessions = sv->v.n_sessions;
    *len = kv__snapshot__get_packed_size(&sv->snap);
    return sv;
}

struct append_buffer {
    ProtobufCBuffer base;
    kv_append_fn append;
    void *arg;
};

static void append_to(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct append_buffer *a = (struct append_buffer *)b;
    a->append(a->arg, data, len);
}

void kv_codec_pack_to(const ProtobufCMessage *m, kv_append_fn append, void *arg)
{
    struct append_buffer b = { { append_to }, append, arg };
    protobuf_c_message_pack_to_buffer(m, &b.base);
}

void kv_codec_snapshot_write(const struct kv_snapshot_view *v, kv_append_fn append, void *arg)
{
    kv_codec_pack_to(&v->snap.base, append, arg);
}

void kv_codec_snapshot_end(struct kv_snapshot_view *v)
{
    if (!v)
        return;
    kv_codec_view_release(&v->v);
    free(v);
}

void kv_codec_snapshot(const struct kv *kv, uint8_t **data, size_t *len)
{
    struct kv_snapshot_view *v = kv_codec_snapshot_begin(kv, len);
    *data = xmalloc(*len ? *len : 1);
    kv__snapshot__pack(&v->snap, *data);
    kv_codec_snapshot_end(v);
}

int kv_codec_restore(struct kv *kv, const uint8_t *data, size_t len)
{
    Kv__Snapshot *snap = kv__snapshot__unpack(NULL, len, data);
    if (!snap)
        return -1;
    for (size_t i = 0; i < snap->n_sessions; i++) {
        if (snap->sessions[i]->partition >= SESSION_MAX_PARTITIONS) {
            kv__snapshot__free_unpacked(snap, NULL);
            return -1;
        }
    }
    kv_clear(kv);
    kv_codec_load(kv, snap->pairs, snap->n_pairs, snap->sessions, snap->n_sessions);
    kv__snapshot__free_unpacked(snap, NULL);
    return 0;
}
