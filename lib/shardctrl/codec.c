/* shardctrl.Command / Reply / Config / Snapshot <-> lib/shardctrl's calls. */
#include "shardctrl/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"
#include "base/util.h"
#include "session/session.h"
#include "shardctrl.pb-c.h"
#include "shardctrl/internal.h"

/* ---- commands ------------------------------------------------------------------------------ */

int sc_codec_decode_cmd(const uint8_t *buf, size_t len, struct sc_codec_cmd *out)
{
    Shardctrl__Command *pb = shardctrl__command__unpack(NULL, len, buf);
    if (!pb)
        return -1;
    if (pb->op > SHARDCTRL__OP_TYPE__MOVE) {
        shardctrl__command__free_unpacked(pb, NULL);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->pb = pb;
    out->groups = xcalloc(pb->n_groups ? pb->n_groups : 1, sizeof *out->groups);
    for (size_t i = 0; i < pb->n_groups; i++)
        out->groups[i] = (struct sc_join_group){ pb->groups[i]->gid,
                                                 (const char *const *)pb->groups[i]->servers,
                                                 pb->groups[i]->n_servers };
    out->cmd = (struct sc_cmd){
        .op = (enum sc_op)pb->op,
        .groups = out->groups,
        .n_groups = pb->n_groups,
        .gids = pb->gids,
        .n_gids = pb->n_gids,
        .shard = pb->shard,
        .gid = pb->gid,
        .num = pb->num,
        .client_id = pb->client_id,
        .seq = pb->seq,
        .n_shards = pb->n_shards,
    };
    return 0;
}

void sc_codec_cmd_release(struct sc_codec_cmd *c)
{
    shardctrl__command__free_unpacked(c->pb, NULL);
    free(c->groups);
    c->pb = NULL;
    c->groups = NULL;
}

void sc_codec_encode_cmd(const struct sc_cmd *cmd, uint8_t **out, size_t *out_len)
{
    Shardctrl__Command pb = SHARDCTRL__COMMAND__INIT;
    pb.op = (Shardctrl__OpType)cmd->op;
    Shardctrl__Group *groups = xcalloc(cmd->n_groups ? cmd->n_groups : 1, sizeof *groups);
    Shardctrl__Group **gp = xcalloc(cmd->n_groups ? cmd->n_groups : 1, sizeof *gp);
    for (size_t i = 0; i < cmd->n_groups; i++) {
        shardctrl__group__init(&groups[i]);
        groups[i].gid = cmd->groups[i].gid;
        groups[i].n_servers = cmd->groups[i].n_servers;
        groups[i].servers = (char **)cmd->groups[i].servers;
        gp[i] = &groups[i];
    }
    pb.n_groups = cmd->n_groups;
    pb.groups = gp;
    pb.n_gids = cmd->n_gids;
    pb.gids = (uint32_t *)cmd->gids;
    pb.shard = cmd->shard;
    pb.gid = cmd->gid;
    pb.num = cmd->num;
    pb.client_id = cmd->client_id;
    pb.seq = cmd->seq;
    pb.n_shards = cmd->n_shards;
    *out_len = shardctrl__command__get_packed_size(&pb);
    *out = xmalloc(*out_len ? *out_len : 1);
    shardctrl__command__pack(&pb, *out);
    free(gp);
    free(groups);
}

/* ---- configs ------------------------------------------------------------------------------- */

void sc_config_pb_init(const struct sc_config *c, struct sc_config_pb *v)
{
    shardctrl__config__init(&v->pb);
    v->pb.num = c->num;
    v->pb.n_shards = c->n_shards;
    v->pb.shards = c->shards;
    v->groups = xcalloc(c->n_groups ? c->n_groups : 1, sizeof *v->groups);
    v->gp = xcalloc(c->n_groups ? c->n_groups : 1, sizeof *v->gp);
    for (size_t i = 0; i < c->n_groups; i++) {
        shardctrl__group__init(&v->groups[i]);
        v->groups[i].gid = c->groups[i]->gid;
        v->groups[i].n_servers = c->groups[i]->n_servers;
        v->groups[i].servers = c->groups[i]->servers;
        v->gp[i] = &v->groups[i];
    }
    v->pb.n_groups = c->n_groups;
    v->pb.groups = v->gp;
}

void sc_config_pb_release(struct sc_config_pb *v)
{
    free(v->groups);
    free(v->gp);
}

struct sc_config *sc_config_from_pb(const Shardctrl__Config *pb, char *err, size_t errlen)
{
    if (pb->n_shards < 1 || pb->n_shards > SC_MAX_SHARDS) {
        snprintf(err, errlen, "a config of %zu shards", pb->n_shards);
        return NULL;
    }
    uint32_t *gids = xmalloc((pb->n_groups ? pb->n_groups : 1) * sizeof *gids);
    size_t *ns = xmalloc((pb->n_groups ? pb->n_groups : 1) * sizeof *ns);
    for (size_t i = 0; i < pb->n_groups; i++) {
        gids[i] = pb->groups[i]->gid;
        ns[i] = pb->groups[i]->n_servers;
    }
    int rc = sc_config_check(pb->shards, (uint32_t)pb->n_shards, gids, ns, pb->n_groups, err,
                             errlen);
    free(gids);
    free(ns);
    if (rc)
        return NULL;
    struct sc_config *c = sc_config_alloc(pb->num, (uint32_t)pb->n_shards, pb->n_groups);
    memcpy(c->shards, pb->shards, pb->n_shards * sizeof *c->shards);
    for (size_t i = 0; i < pb->n_groups; i++)
        c->groups[i] = sc_group_new(pb->groups[i]->gid,
                                    (const char *const *)pb->groups[i]->servers,
                                    pb->groups[i]->n_servers);
    return c;
}

/* ---- replies ------------------------------------------------------------------------------- */

void sc_codec_encode_result(const struct sc_result *res, uint8_t **out, size_t *out_len)
{
    Shardctrl__Reply r = SHARDCTRL__REPLY__INIT;
    r.err = (Shardctrl__Err)res->err;
    r.error = (char *)res->error;
    r.num = res->num;
    struct sc_config_pb v = { 0 };
    if (res->config) {
        sc_config_pb_init(res->config, &v);
        r.config = &v.pb;
    }
    *out_len = shardctrl__reply__get_packed_size(&r);
    *out = xmalloc(*out_len ? *out_len : 1);
    shardctrl__reply__pack(&r, *out);
    if (res->config)
        sc_config_pb_release(&v);
}

void sc_codec_apply(struct shardctrl *sc, const uint8_t *cmd, size_t len, uint8_t **reply,
                    size_t *reply_len)
{
    struct sc_codec_cmd c;
    struct sc_result res;
    if (sc_codec_decode_cmd(cmd, len, &c)) {
        memset(&res, 0, sizeof res);
        res.err = SC_BAD_REQUEST;
        snprintf(res.error, sizeof res.error, "not a shardctrl.Command");
    } else {
        shardctrl_apply(sc, &c.cmd, &res);
        sc_codec_cmd_release(&c);
    }
    sc_codec_encode_result(&res, reply, reply_len);
}

void sc_codec_query(const struct shardctrl *sc, int64_t num, uint8_t **reply, size_t *reply_len)
{
    struct sc_result res = { .err = SC_OK, .config = shardctrl_query(sc, num) };
    res.num = res.config->num;
    sc_codec_encode_result(&res, reply, reply_len);
}

int sc_codec_decode_reply(const uint8_t *buf, size_t len, struct sc_reply *out)
{
    memset(out, 0, sizeof *out);
    Shardctrl__Reply *r = shardctrl__reply__unpack(NULL, len, buf);
    if (!r)
        return -1;
    out->err = r->err;
    snprintf(out->error, sizeof out->error, "%s", r->error);
    out->num = r->num;
    out->leader_id = r->leader_id;
    snprintf(out->leader_addr, sizeof out->leader_addr, "%s", r->leader_addr);
    int rc = 0;
    if (r->config) {
        char why[160];
        out->config = sc_config_from_pb(r->config, why, sizeof why);
        if (!out->config) {
            snprintf(out->error, sizeof out->error, "an invalid configuration: %s", why);
            rc = -2;
        }
    }
    shardctrl__reply__free_unpacked(r, NULL);
    return rc;
}

/* ---- snapshots ----------------------------------------------------------------------------- */

struct session_list {
    Shardctrl__Session *s, **sp;
    size_t n;
};

static void add_session(uint32_t part, const struct session_entry *e, void *arg)
{
    (void)part; /* the controller keeps every session in partition 0 */
    struct session_list *l = arg;
    shardctrl__session__init(&l->s[l->n]);
    l->s[l->n].client_id = e->client_id;
    l->s[l->n].seq = e->seq;
    l->s[l->n].reply.data = (uint8_t *)e->reply;
    l->s[l->n].reply.len = e->reply_len;
    l->sp[l->n] = &l->s[l->n];
    l->n++;
}

/* The snapshot's group table: each group object once, in order of first use, and each
 * config's groups as indexes into it (a group shared by many configs is stored once). */
struct group_table {
    struct u64map index; /* group pointer -> its index + 1 */
    Shardctrl__Group *groups, **gp;
    size_t n, cap;
};

static uint32_t table_index(struct group_table *t, const struct sc_group *g)
{
    uintptr_t i = (uintptr_t)u64map_get(&t->index, (uintptr_t)g);
    if (i)
        return (uint32_t)(i - 1);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->groups = xrealloc(t->groups, t->cap * sizeof *t->groups);
    }
    shardctrl__group__init(&t->groups[t->n]);
    t->groups[t->n].gid = g->gid;
    t->groups[t->n].n_servers = g->n_servers;
    t->groups[t->n].servers = (char **)g->servers;
    u64map_put(&t->index, (uintptr_t)g, (void *)(uintptr_t)(t->n + 1));
    return (uint32_t)t->n++;
}

void sc_codec_snapshot(const struct shardctrl *sc, uint8_t **data, size_t *len)
{
    Shardctrl__Snapshot snap = SHARDCTRL__SNAPSHOT__INIT;
    snap.n_shards = shardctrl_n_shards(sc);
    snap.fixed = shardctrl_fixed(sc);
    size_t n = (size_t)shardctrl_latest(sc) + 1;
    Shardctrl__StoredConfig *v = xcalloc(n, sizeof *v);
    Shardctrl__StoredConfig **cp = xcalloc(n, sizeof *cp);
    struct group_table t = { 0 };
    for (size_t i = 0; i < n; i++) {
        const struct sc_config *c = shardctrl_query(sc, (int64_t)i);
        shardctrl__stored_config__init(&v[i]);
        v[i].num = c->num;
        v[i].n_shards = c->n_shards;
        v[i].shards = c->shards;
        v[i].n_groups = c->n_groups;
        v[i].groups = xcalloc(c->n_groups ? c->n_groups : 1, sizeof *v[i].groups);
        for (size_t g = 0; g < c->n_groups; g++)
            v[i].groups[g] = table_index(&t, c->groups[g]);
        cp[i] = &v[i];
    }
    snap.n_configs = n;
    snap.configs = cp;
    t.gp = xcalloc(t.n ? t.n : 1, sizeof *t.gp);
    for (size_t i = 0; i < t.n; i++)
        t.gp[i] = &t.groups[i];
    snap.n_groups = t.n;
    snap.groups = t.gp;
    size_t ns = session_count(shardctrl_sessions(sc));
    struct session_list l = { xcalloc(ns ? ns : 1, sizeof *l.s), xcalloc(ns ? ns : 1, sizeof *l.sp),
                              0 };
    session_each(shardctrl_sessions(sc), add_session, &l);
    snap.n_sessions = l.n;
    snap.sessions = l.sp;
    *len = shardctrl__snapshot__get_packed_size(&snap);
    *data = xmalloc(*len ? *len : 1);
    shardctrl__snapshot__pack(&snap, *data);
    for (size_t i = 0; i < n; i++)
        free(v[i].groups);
    free(v);
    free(cp);
    free(t.groups);
    free(t.gp);
    u64map_free(&t.index);
    free(l.s);
    free(l.sp);
}

/* Rebuilds into sc (already reset) from snap; -1 on the first group or config that does not
 * fit. */
static int restore_into(struct shardctrl *sc, const Shardctrl__Snapshot *snap)
{
    char why[200];
    int rc = 0;
    struct sc_group **groups = xcalloc(snap->n_groups ? snap->n_groups : 1, sizeof *groups);
    for (size_t i = 0; i < snap->n_groups; i++) {
        groups[i] = sc_group_new(snap->groups[i]->gid,
                                 (const char *const *)snap->groups[i]->servers,
                                 snap->groups[i]->n_servers);
        shardctrl_account_group(sc, groups[i]);
    }
    struct sc_group **cg = NULL;
    for (size_t i = 0; i < snap->n_configs && !rc; i++) {
        const Shardctrl__StoredConfig *c = snap->configs[i];
        cg = xrealloc(cg, (c->n_groups ? c->n_groups : 1) * sizeof *cg);
        for (size_t g = 0; g < c->n_groups && !rc; g++) {
            if (c->groups[g] >= snap->n_groups)
                rc = -1;
            else
                cg[g] = groups[c->groups[g]];
        }
        if (!rc && (c->n_shards > SC_MAX_SHARDS ||
                    shardctrl_restore_config(sc, c->num, c->shards, (uint32_t)c->n_shards, cg,
                                             c->n_groups, why, sizeof why)))
            rc = -1;
    }
    free(cg);
    for (size_t i = 0; i < snap->n_groups; i++)
        sc_group_unref(groups[i]); /* the configs hold their own references */
    free(groups);
    if (rc)
        return -1;
    struct session_entry *e = xcalloc(snap->n_sessions ? snap->n_sessions : 1, sizeof *e);
    for (size_t i = 0; i < snap->n_sessions; i++)
        e[i] = (struct session_entry){ snap->sessions[i]->client_id, snap->sessions[i]->seq,
                                       snap->sessions[i]->reply.data,
                                       snap->sessions[i]->reply.len };
    session_import(shardctrl_sessions_mut(sc), 0, e, snap->n_sessions);
    free(e);
    return 0;
}

int sc_codec_restore(struct shardctrl *sc, const uint8_t *data, size_t len)
{
    Shardctrl__Snapshot *snap = shardctrl__snapshot__unpack(NULL, len, data);
    if (!snap)
        return -1;
    int rc = -1;
    if (snap->n_shards >= 1 && snap->n_shards <= SC_MAX_SHARDS && snap->n_configs >= 1 &&
        (snap->fixed || snap->n_configs == 1) /* no write applied: config 0 alone */) {
        struct shardctrl *fresh = shardctrl_new(snap->n_shards);
        shardctrl_reset(fresh, snap->n_shards, snap->fixed);
        rc = restore_into(fresh, snap);
        if (!rc)
            sc_swap(sc, fresh);
        shardctrl_free(fresh);
    }
    shardctrl__snapshot__free_unpacked(snap, NULL);
    return rc;
}
