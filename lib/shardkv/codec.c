/* shardkv.Command / PullRequest / PullReply / Snapshot <-> lib/shardkv's calls. */
#include "shardkv/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "kv/codec.h"
#include "shardctrl/codec.h"
#include "shardkv.pb-c.h"

/* ---- commands ---------------------------------------------------------------------------------- */

/* pb's pairs / sessions as the state machine's (pointing into pb), malloc'd arrays. */
static struct skv_pair *pairs_of(Kv__Pair *const *p, size_t n)
{
    struct skv_pair *out = xcalloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct skv_pair){ p[i]->key.data, p[i]->value.data, p[i]->key.len,
                                    p[i]->value.len };
    return out;
}

static struct session_entry *sessions_of(Kv__Session *const *s, size_t n)
{
    struct session_entry *out = xcalloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct session_entry){ s[i]->client_id, s[i]->seq, s[i]->prev.data,
                                         s[i]->prev.len };
    return out;
}

int skv_codec_decode_cmd(const uint8_t *buf, size_t len, struct skv_codec_cmd *out)
{
    memset(out, 0, sizeof *out);
    Shardkv__Command *pb = shardkv__command__unpack(NULL, len, buf);
    if (!pb)
        return -1;
    struct skv_cmd *c = &out->cmd;
    c->type = (enum skv_cmd_type)pb->type;
    bool ok = true;
    switch (pb->type) {
    case SHARDKV__COMMAND_TYPE__OP: {
        struct kv_codec_cmd *op = xmalloc(sizeof *op);
        if (kv_codec_decode_cmd(pb->op.data, pb->op.len, op)) {
            free(op);
            ok = false;
            break;
        }
        c->op = op->cmd;
        out->op = op;
        break;
    }
    case SHARDKV__COMMAND_TYPE__CONFIG: {
        char why[160];
        out->config = pb->config ? sc_config_from_pb(pb->config, why, sizeof why) : NULL;
        c->config = out->config;
        ok = out->config != NULL;
        break;
    }
    case SHARDKV__COMMAND_TYPE__INSTALL: {
        const Shardkv__Install *in = pb->install;
        if (!in) {
            ok = false;
            break;
        }
        out->pairs = pairs_of(in->pairs, in->n_pairs);
        out->sessions = sessions_of(in->sessions, in->n_sessions);
        c->num = in->num;
        c->shard = in->shard;
        c->left_at = in->left_at;
        c->first = in->first;
        c->after = in->after.data;
        c->after_len = in->after.len;
        c->in_sessions = in->in_sessions;
        c->after_client = in->after_client;
        c->chunk = (struct skv_chunk){ out->pairs, in->n_pairs, in->pairs_end, out->sessions,
                                       in->n_sessions, in->done };
        break;
    }
    case SHARDKV__COMMAND_TYPE__DELETE:
    case SHARDKV__COMMAND_TYPE__GC_DONE:
        if (!pb->ref) {
            ok = false;
            break;
        }
        c->shard = pb->ref->shard;
        c->left_at = pb->ref->left_at;
        c->num = pb->ref->num;
        break;
    default:
        ok = false;
    }
    out->pb = pb;
    if (!ok) {
        skv_codec_cmd_release(out);
        return -1;
    }
    return 0;
}

void skv_codec_cmd_release(struct skv_codec_cmd *c)
{
    if (c->op) {
        kv_codec_cmd_release(c->op);
        free(c->op);
    }
    shardkv__command__free_unpacked(c->pb, NULL);
    sc_config_free(c->config);
    free(c->pairs);
    free(c->sessions);
    memset(c, 0, sizeof *c);
}

static void pack_command(const Shardkv__Command *pb, uint8_t **out, size_t *out_len)
{
    *out_len = shardkv__command__get_packed_size(pb);
    *out = xmalloc(*out_len ? *out_len : 1);
    shardkv__command__pack(pb, *out);
}

/* The chunk's pairs and sessions as kv.Pair / kv.Session messages (pointing into the chunk). */
struct chunk_pb {
    Kv__Pair *pairs, **pp;
    Kv__Session *sessions, **sp;
};

static void chunk_pb(const struct skv_chunk *ch, struct chunk_pb *v)
{
    v->pairs = xcalloc(ch->n_pairs + 1, sizeof *v->pairs);
    v->pp = xcalloc(ch->n_pairs + 1, sizeof *v->pp);
    for (size_t i = 0; i < ch->n_pairs; i++) {
        kv__pair__init(&v->pairs[i]);
        v->pairs[i].key = (ProtobufCBinaryData){ ch->pairs[i].klen, (uint8_t *)ch->pairs[i].key };
        v->pairs[i].value = (ProtobufCBinaryData){ ch->pairs[i].vlen, (uint8_t *)ch->pairs[i].val };
        v->pp[i] = &v->pairs[i];
    }
    v->sessions = xcalloc(ch->n_sessions + 1, sizeof *v->sessions);
    v->sp = xcalloc(ch->n_sessions + 1, sizeof *v->sp);
    for (size_t i = 0; i < ch->n_sessions; i++) {
        kv__session__init(&v->sessions[i]);
        v->sessions[i].client_id = ch->sessions[i].client_id;
        v->sessions[i].seq = ch->sessions[i].seq;
        v->sessions[i].prev = (ProtobufCBinaryData){ ch->sessions[i].reply_len,
                                                     (uint8_t *)ch->sessions[i].reply };
        v->sp[i] = &v->sessions[i];
    }
}

static void chunk_pb_release(struct chunk_pb *v)
{
    free(v->pairs);
    free(v->pp);
    free(v->sessions);
    free(v->sp);
}

void skv_codec_encode_cmd(const struct skv_cmd *cmd, uint8_t **out, size_t *out_len)
{
    Shardkv__Command pb = SHARDKV__COMMAND__INIT;
    pb.type = (Shardkv__CommandType)cmd->type;
    uint8_t *op = NULL;
    struct sc_config_pb cv = { 0 };
    Shardkv__Install in = SHARDKV__INSTALL__INIT;
    Shardkv__ShardRef ref = SHARDKV__SHARD_REF__INIT;
    struct chunk_pb ch = { 0 };
    switch (cmd->type) {
    case SKV_OP:
        kv_codec_encode_cmd(&cmd->op, &op, &pb.op.len);
        pb.op.data = op;
        break;
    case SKV_CONFIG:
        sc_config_pb_init(cmd->config, &cv);
        pb.config = &cv.pb;
        break;
    case SKV_INSTALL:
        in.num = cmd->num;
        in.shard = cmd->shard;
        in.left_at = cmd->left_at;
        in.first = cmd->first;
        in.after = (ProtobufCBinaryData){ cmd->after_len, (uint8_t *)cmd->after };
        chunk_pb(&cmd->chunk, &ch);
        in.n_pairs = cmd->chunk.n_pairs;
        in.pairs = ch.pp;
        in.done = cmd->chunk.done;
        in.pairs_end = cmd->chunk.pairs_end;
        in.in_sessions = cmd->in_sessions;
        in.after_client = cmd->after_client;
        in.n_sessions = cmd->chunk.n_sessions;
        in.sessions = ch.sp;
        pb.install = &in;
        break;
    case SKV_DELETE:
    case SKV_GC_DONE:
        ref.shard = cmd->shard;
        ref.left_at = cmd->left_at;
        ref.num = cmd->num;
        pb.ref = &ref;
        break;
    }
    pack_command(&pb, out, out_len);
    free(op);
    if (cmd->type == SKV_CONFIG)
        sc_config_pb_release(&cv);
    if (cmd->type == SKV_INSTALL)
        chunk_pb_release(&ch);
}

void skv_codec_op_entry(const uint8_t *kv_cmd, size_t len, uint8_t **out, size_t *out_len)
{
    Shardkv__Command pb = SHARDKV__COMMAND__INIT;
    pb.type = SHARDKV__COMMAND_TYPE__OP;
    pb.op = (ProtobufCBinaryData){ len, (uint8_t *)kv_cmd };
    pack_command(&pb, out, out_len);
}

/* ---- applies and reads --------------------------------------------------------------------------- */

static void encode_kv(const struct skv_result *res, uint8_t **out, size_t *out_len)
{
    if (res->err == SKV_WRONG_GROUP) {
        struct kv_result r = { .err = (enum kv_err)KV__ERR__WRONG_GROUP };
        kv_codec_encode_result(&r, out, out_len);
    } else {
        kv_codec_encode_result(&res->kv, out, out_len);
    }
}

void skv_codec_apply(struct shardkv *s, const uint8_t *cmd, size_t len, uint8_t **result,
                     size_t *result_len)
{
    *result = NULL;
    *result_len = 0;
    struct skv_codec_cmd c;
    if (skv_codec_decode_cmd(cmd, len, &c))
        return; /* in the log, so every replica ignores it the same way */
    struct skv_result res;
    shardkv_apply(s, &c.cmd, &res);
    if (c.cmd.type == SKV_OP)
        encode_kv(&res, result, result_len);
    skv_codec_cmd_release(&c);
}

void skv_codec_get(const struct shardkv *s, const uint8_t *key, size_t klen, uint8_t **reply,
                   size_t *reply_len)
{
    struct skv_result res;
    shardkv_get(s, key, klen, &res);
    encode_kv(&res, reply, reply_len);
}

/* ---- pulls ------------------------------------------------------------------------------------- */

int skv_codec_pull(struct shardkv *s, const uint8_t *req, size_t len, size_t max_bytes,
                   uint8_t **reply, size_t *reply_len)
{
    Shardkv__PullRequest *rq = shardkv__pull_request__unpack(NULL, len, req);
    if (!rq)
        return -1;
    size_t budget = rq->max_bytes && rq->max_bytes < max_bytes ? rq->max_bytes : max_bytes;
    struct skv_chunk ch;
    Shardkv__PullReply r = SHARDKV__PULL_REPLY__INIT;
    struct chunk_pb v = { 0 };
    if (shardkv_pull(s, rq->shard, rq->left_at, rq->first, rq->after.data, rq->after.len,
                     rq->in_sessions, rq->after_client, budget, &ch)) {
        r.err = SHARDKV__ERR__NOT_READY;
    } else {
        chunk_pb(&ch, &v);
        r.n_pairs = ch.n_pairs;
        r.pairs = v.pp;
        r.done = ch.done;
        r.pairs_end = ch.pairs_end;
        r.n_sessions = ch.n_sessions;
        r.sessions = v.sp;
    }
    *reply_len = shardkv__pull_reply__get_packed_size(&r);
    *reply = xmalloc(*reply_len ? *reply_len : 1);
    shardkv__pull_reply__pack(&r, *reply);
    if (r.err == SHARDKV__ERR__OK)
        chunk_pb_release(&v);
    shardkv__pull_request__free_unpacked(rq, NULL);
    return 0;
}

void skv_codec_pull_request(const struct skv_action *a, uint32_t my_gid, size_t max_bytes,
                            uint8_t **out, size_t *out_len)
{
    Shardkv__PullRequest rq = SHARDKV__PULL_REQUEST__INIT;
    rq.shard = a->shard;
    rq.left_at = a->left_at;
    rq.first = a->first;
    rq.after = (ProtobufCBinaryData){ a->after_len, (uint8_t *)a->after };
    rq.max_bytes = max_bytes;
    rq.gid = my_gid;
    rq.in_sessions = a->in_sessions;
    rq.after_client = a->after_client;
    *out_len = shardkv__pull_request__get_packed_size(&rq);
    *out = xmalloc(*out_len ? *out_len : 1);
    shardkv__pull_request__pack(&rq, *out);
}

/* The cursor after a chunk, as apply_install moves it (lib/shardkv/shardkv.c). */
static void next_cursor(const struct skv_action *a, const Shardkv__PullReply *r,
                        struct skv_cursor *next)
{
    const uint8_t *after = a->after;
    size_t after_len = a->after_len;
    if (r->n_pairs) {
        after = r->pairs[r->n_pairs - 1]->key.data;
        after_len = r->pairs[r->n_pairs - 1]->key.len;
    }
    next->first = false;
    next->after = after_len ? xmalloc(after_len) : NULL;
    if (after_len)
        memcpy(next->after, after, after_len);
    next->after_len = after_len;
    next->in_sessions = a->in_sessions || r->pairs_end;
    next->after_client = r->n_sessions ? r->sessions[r->n_sessions - 1]->client_id
                                       : a->after_client;
    next->done = r->done;
}

int skv_codec_install_entry(const struct skv_action *a, const uint8_t *reply, size_t len,
                            uint8_t **out, size_t *out_len, struct skv_cursor *next)
{
    Shardkv__PullReply *r = shardkv__pull_reply__unpack(NULL, len, reply);
    if (!r)
        return -1;
    if (r->err != SHARDKV__ERR__OK) {
        shardkv__pull_reply__free_unpacked(r, NULL);
        return -1;
    }
    Shardkv__Command pb = SHARDKV__COMMAND__INIT;
    Shardkv__Install in = SHARDKV__INSTALL__INIT;
    pb.type = SHARDKV__COMMAND_TYPE__INSTALL;
    in.num = a->num;
    in.shard = a->shard;
    in.left_at = a->left_at;
    in.first = a->first;
    in.after = (ProtobufCBinaryData){ a->after_len, (uint8_t *)a->after };
    in.n_pairs = r->n_pairs;
    in.pairs = r->pairs;
    in.done = r->done;
    in.pairs_end = r->pairs_end;
    in.in_sessions = a->in_sessions;
    in.after_client = a->after_client;
    in.n_sessions = r->n_sessions;
    in.sessions = r->sessions;
    pb.install = &in;
    pack_command(&pb, out, out_len);
    if (next)
        next_cursor(a, r, next);
    shardkv__pull_reply__free_unpacked(r, NULL);
    return 0;
}

/* ---- snapshots ----------------------------------------------------------------------------------- */

/* A snapshot's protobuf view of the state: messages pointing into it, no copy of the data (a
 * pb view per pair and session). */
struct skv_snapshot_view {
    const struct shardkv *s;
    Shardkv__Snapshot snap;
    struct sc_config_pb cv;
    Shardkv__ShardSnapshot *sh, **sp;
    struct kv_codec_view *views;
    size_t len;
};

struct skv_snapshot_view *skv_codec_snapshot_begin(const struct shardkv *s, size_t *len)
{
    struct skv_snapshot_view *v = xcalloc(1, sizeof *v);
    const struct sc_config *cfg = shardkv_config(s);
    uint32_t n = cfg->n_shards;
    v->s = s;
    shardkv__snapshot__init(&v->snap);
    v->snap.gid = shardkv_gid(s);
    if (cfg->num) { /* before the first config there is none to store */
        sc_config_pb_init(cfg, &v->cv);
        v->snap.config = &v->cv.pb;
    }
    v->sh = xcalloc(n + 1, sizeof *v->sh);
    v->sp = xcalloc(n + 1, sizeof *v->sp);
    v->views = xcalloc(n + 1, sizeof *v->views);
    for (uint32_t i = 0; i < n; i++) {
        Shardkv__ShardSnapshot *sh = &v->sh[i];
        struct skv_shard_info info;
        shardkv_shard_info(s, i, &info);
        shardkv__shard_snapshot__init(sh);
        sh->shard = i;
        sh->state = (Shardkv__ShardState)info.state;
        sh->owner_gid = info.holder;
        if (info.holder_group) {
            sh->n_owner_servers = info.holder_group->n_servers;
            sh->owner_servers = (char **)info.holder_group->servers;
        }
        sh->left_at = info.left_at;
        sh->started = info.started;
        sh->in_sessions = info.in_sessions;
        sh->after_client = info.after_client;
        sh->after = (ProtobufCBinaryData){ info.after_len, (uint8_t *)info.after };
        const struct kv *kv = shardkv_shard_kv(s, i);
        if (kv) {
            kv_codec_view_init(kv, &v->views[i]);
            sh->n_pairs = v->views[i].n_pairs;
            sh->pairs = v->views[i].pair_ptrs;
            sh->n_sessions = v->views[i].n_sessions;
            sh->sessions = v->views[i].session_ptrs;
        }
        v->sp[i] = sh;
    }
    v->snap.n_shards = n;
    v->snap.shards = v->sp;
    *len = v->len = shardkv__snapshot__get_packed_size(&v->snap);
    return v;
}

void skv_codec_snapshot_write(const struct skv_snapshot_view *v, kv_append_fn append, void *arg)
{
    kv_codec_pack_to(&v->snap.base, append, arg);
}

void skv_codec_snapshot_end(struct skv_snapshot_view *v)
{
    if (!v)
        return;
    uint32_t n = shardkv_config(v->s)->n_shards;
    for (uint32_t i = 0; i < n; i++)
        if (shardkv_shard_kv(v->s, i))
            kv_codec_view_release(&v->views[i]);
    free(v->views);
    free(v->sh);
    free(v->sp);
    if (v->snap.config)
        sc_config_pb_release(&v->cv);
    free(v);
}

void skv_codec_snapshot(const struct shardkv *s, uint8_t **data, size_t *len)
{
    struct skv_snapshot_view *v = skv_codec_snapshot_begin(s, len);
    *data = xmalloc(*len ? *len : 1);
    shardkv__snapshot__pack(&v->snap, *data);
    skv_codec_snapshot_end(v);
}

int skv_codec_restore(struct shardkv *s, const uint8_t *data, size_t len)
{
    Shardkv__Snapshot *snap = shardkv__snapshot__unpack(NULL, len, data);
    if (!snap)
        return -1;
    char why[160];
    struct sc_config *cfg = snap->config ? sc_config_from_pb(snap->config, why, sizeof why)
                                         : sc_config_alloc(0, 0, 0);
    int rc = -1;
    /* Everything is checked before the state is touched. */
    bool ok = cfg && snap->gid == shardkv_gid(s) && snap->n_shards == cfg->n_shards &&
              (cfg->num > 0) == (cfg->n_shards > 0);
    for (size_t i = 0; ok && i < snap->n_shards; i++) {
        const Shardkv__ShardSnapshot *x = snap->shards[i];
        ok = x->shard == i && x->state <= SHARDKV__SHARD_STATE__GC &&
             (x->owner_gid == 0) == (x->n_owner_servers == 0);
        for (size_t j = 0; ok && j < x->n_sessions; j++)
            ok = x->sessions[j]->partition == 0;
    }
    if (ok) {
        shardkv_restore_begin(s, cfg);
        for (size_t i = 0; i < snap->n_shards; i++) {
            const Shardkv__ShardSnapshot *x = snap->shards[i];
            struct kv *kv = shardkv_restore_shard(
                s, (uint32_t)i, (enum skv_state)x->state, x->owner_gid,
                (const char *const *)x->owner_servers, x->n_owner_servers, x->left_at, x->started,
                x->after.data, x->after.len, x->in_sessions, x->after_client);
            if (kv)
                kv_codec_load(kv, x->pairs, x->n_pairs, x->sessions, x->n_sessions);
        }
        rc = 0;
    }
    sc_config_free(cfg);
    shardkv__snapshot__free_unpacked(snap, NULL);
    return rc;
}
