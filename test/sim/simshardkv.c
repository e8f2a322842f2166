/* shardkvd's groups on the simulated nodes (simshardkv.h). */
#include "simshardkv.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "kv/codec.h"
#include "shardkv.pb-c.h"
#include "shardkv/codec.h"
#include "shardkv/driver.h"
#include "simtransport.h"
#include "statecheck.h"

#define PULL_MAX_BYTES (1u << 20) /* the server's cap on a chunk (the driver asks for less) */

struct simshardkv {
    struct simshardkv_opts o;
    struct simsvc *svc;
    struct sim *sim;
    struct simnet *net;
    const char *servers[SIMSKV_MAX_GROUPS][SIM_MAX_NODES];
    struct statecheck *check[SIMSKV_MAX_GROUPS];
    struct simshardkv_stats st; /* of drivers freed */
    struct node *nodes[SIM_MAX_NODES];
};

/* A node's state machine ctx and its driver. */
struct node {
    struct simshardkv *k;
    size_t i, g;
    struct shardkv *skv;
    struct simtransport *ctrl;
    struct skv_driver *drv;
    uint64_t kick; /* a pending kick timer (0: none) */
    uint64_t nudged_term;
};

/* A request as classify saw it. */
enum method { M_OP, M_PULL, M_DELETE };
struct request {
    enum method m;
    Kv__Command *get; /* M_OP Get */
    uint8_t *payload; /* M_PULL: the PullRequest bytes */
    size_t len;
};

/* ---- the driver's ops ------------------------------------------------------------------------ */

static bool d_leader(void *ctx)
{
    struct node *nd = ctx;
    uint64_t term;
    return sim_get_state(nd->k->sim, nd->i, &term);
}

static void d_propose(void *ctx, uint8_t *cmd, size_t len)
{
    struct node *nd = ctx;
    uint64_t index, term;
    sim_propose(nd->k->sim, nd->i, cmd, len, NULL, NULL, &index, &term);
    free(cmd);
}

static struct clerk_transport d_transport(void *ctx, const char *const *servers, size_t n)
{
    return simshardkv_transport(((struct node *)ctx)->k->net, servers, n);
}

static void d_transport_free(void *ctx, struct clerk_transport *t)
{
    (void)ctx;
    simshardkv_transport_free(t);
}

static const struct skv_driver_ops driver_ops = { d_leader, d_propose, d_transport,
                                                  d_transport_free };

static void driver_start(struct node *nd)
{
    struct simshardkv *k = nd->k;
    nd->ctrl = simtransport_new(k->net, k->o.n_ctrl);
    struct clerk_transport ct = simtransport_get(nd->ctrl);
    struct skv_driver_opts o;
    skv_driver_opts_default(&o);
    o.poll_ms = k->o.poll_ms ? k->o.poll_ms : 100;
    if (k->o.chunk_bytes)
        o.chunk_bytes = k->o.chunk_bytes;
    o.seed = (sim_rand(k->sim, UINT64_MAX) << 1) | 1;
    nd->drv = skv_driver_new(nd->skv, &driver_ops, nd, &ct, &o);
}

static void driver_stop(struct node *nd)
{
    struct simshardkv *k = nd->k;
    if (nd->kick)
        simnet_timer_cancel(k->net, nd->kick);
    nd->kick = 0;
    if (!nd->drv)
        return;
    struct skv_driver_stats ds;
    skv_driver_stats(nd->drv, &ds);
    k->st.configs_proposed += ds.configs_proposed;
    k->st.installs_proposed += ds.installs_proposed;
    k->st.gc_proposed += ds.gc_proposed;
    skv_driver_free(nd->drv);
    simtransport_free(nd->ctrl);
    nd->drv = NULL;
    nd->ctrl = NULL;
}

static void on_kick(void *arg)
{
    struct node *nd = arg;
    nd->kick = 0;
    if (nd->drv)
        skv_driver_kick(nd->drv);
}

/* After an entry that may have made the driver's next step due: a kick, outside the apply
 * (the driver proposes). */
static void kick_soon(struct node *nd)
{
    if (nd->drv && !nd->kick)
        nd->kick = simnet_timer(nd->k->net, 1, on_kick, nd);
}

/* ---- the state machine ----------------------------------------------------------------------- */

/* Whether an entry is a client's OP (what skv_codec_op_entry makes: no type field first). */
static bool entry_is_op(const uint8_t *data, size_t len)
{
    return !(len >= 2 && data[0] == 0x08 && data[1] != 0);
}

static void check_state(struct node *nd, uint64_t index, const char *how)
{
    struct simshardkv *k = nd->k;
    if (!k->sim || sim_failed(k->sim))
        return;
    uint8_t *data;
    size_t len;
    skv_codec_snapshot(nd->skv, &data, &len);
    statecheck_record(k->check[nd->g], k->sim, nd->i, index, data, len, how);
    free(data);
}

/* An INSTALL tagged with another config or hand-over than the current one that the other
 * guards (PULLING, the cursor) would let through: what SKV_BUG_OLD_INSTALL needs to have any
 * effect. */
static void count_stale_install(struct node *nd, const uint8_t *data, size_t len)
{
    if (entry_is_op(data, len))
        return;
    struct skv_codec_cmd d;
    if (skv_codec_decode_cmd(data, len, &d) != 0)
        return;
    const struct skv_cmd *c = &d.cmd;
    if (c->type == SKV_INSTALL && c->shard < shardkv_n_shards(nd->skv)) {
        struct skv_shard_info si;
        shardkv_shard_info(nd->skv, c->shard, &si);
        bool other = c->num != shardkv_config(nd->skv)->num || c->left_at != si.left_at;
        bool at_cursor = c->first ? !si.started
                                  : si.started && c->in_sessions == si.in_sessions &&
                                        (c->in_sessions ? c->after_client == si.after_client
                                                        : c->after_len == si.after_len &&
                                                              (!c->after_len ||
                                                               !memcmp(c->after, si.after,
                                                                       c->after_len)));
        if (other && si.state == SKV_PULLING && at_cursor)
            nd->k->st.stale_installs++;
    }
    skv_codec_cmd_release(&d);
}

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len)
{
    struct node *nd = ctx;
    if (e->type == RAFT_ENTRY_NORMAL) {
        count_stale_install(nd, e->data, e->len);
        skv_codec_apply(nd->skv, e->data, e->len, result, result_len);
        if (!entry_is_op(e->data, e->len))
            kick_soon(nd);
        shardkv_background(nd->skv, 16); /* a shard that left, freed in small steps */
    }
    check_state(nd, e->index, "after applying");
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    skv_codec_snapshot(((struct node *)ctx)->skv, data, len);
}

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    struct node *nd = ctx;
    if (skv_codec_restore(nd->skv, data, len) != 0)
        return -1;
    kick_soon(nd);
    check_state(nd, index, "after restoring a snapshot at");
    return 0;
}

static struct node_sm create(void *arg, size_t i)
{
    struct simshardkv *k = arg;
    struct node *nd = xcalloc(1, sizeof *nd);
    nd->k = k;
    nd->i = i;
    nd->g = (i - k->o.first) / k->o.group_size;
    nd->skv = shardkv_new(simshardkv_gid(k, nd->g));
    shardkv_set_planted_bug(nd->skv, k->o.bugs);
    k->nodes[i] = nd;
    if (k->net) /* a restart (the first start comes before the net: simshardkv_attach) */
        driver_start(nd);
    return (struct node_sm){ .ctx = nd, .apply = sm_apply, .snapshot = sm_snapshot, .restore = sm_restore };
}

static void destroy(void *arg, size_t i, void *ctx)
{
    struct simshardkv *k = arg;
    struct node *nd = ctx;
    driver_stop(nd);
    shardkv_free(nd->skv);
    k->nodes[i] = NULL;
    free(nd);
}

/* ---- the service ----------------------------------------------------------------------------- */

static enum simsvc_kind classify(void *arg, const uint8_t *req, size_t len, void **read)
{
    (void)arg;
    const char *method;
    const uint8_t *p;
    size_t plen;
    if (simtransport_unframe(req, len, &method, &p, &plen) != 0)
        return SIMSVC_DROP;
    struct request *r = xcalloc(1, sizeof *r);
    enum simsvc_kind kind = SIMSVC_DROP;
    if (!strcmp(method, "shardkv.Op")) {
        r->m = M_OP;
        Kv__Command *c = kv__command__unpack(NULL, plen, p);
        if (c && c->op == KV__OP_TYPE__GET) {
            r->get = c;
            kind = SIMSVC_READ; /* through the log while the leader is not ready, as shardkvd */
        } else if (c && kv_codec_op_known(c->op)) {
            kv__command__free_unpacked(c, NULL);
            kind = SIMSVC_WRITE;
        } else if (c) {
            kv__command__free_unpacked(c, NULL);
        }
    } else if (!strcmp(method, "shardkv.Pull")) {
        r->m = M_PULL;
        r->payload = xmalloc(plen ? plen : 1);
        memcpy(r->payload, p, plen);
        r->len = plen;
        kind = SIMSVC_LEADER_READ;
    } else if (!strcmp(method, "shardkv.Delete")) {
        r->m = M_DELETE;
        Shardkv__DeleteRequest *d = shardkv__delete_request__unpack(NULL, plen, p);
        if (d) {
            shardkv__delete_request__free_unpacked(d, NULL);
            kind = SIMSVC_WRITE;
        }
    }
    if (kind == SIMSVC_DROP) {
        free(r->payload);
        free(r);
        return kind;
    }
    *read = r;
    return kind;
}

static void answer(void *arg, void *ctx, void *read, uint8_t **reply, size_t *len)
{
    struct simshardkv *k = arg;
    struct node *nd = ctx;
    struct request *r = read;
    if (r->m == M_OP) {
        skv_codec_get(nd->skv, r->get->key.data, r->get->key.len, reply, len);
        return;
    }
    if (skv_codec_pull(nd->skv, r->payload, r->len, PULL_MAX_BYTES, reply, len) != 0) {
        *reply = xmalloc(1); /* classify let only PullRequests through: not reached */
        *len = 0;
    }
    k->st.pulls_served++;
}

static void read_free(void *arg, void *read)
{
    (void)arg;
    struct request *r = read;
    if (r->get)
        kv__command__free_unpacked(r->get, NULL);
    free(r->payload);
    free(r);
}

static void write_cmd(void *arg, const uint8_t *req, size_t len, uint8_t **cmd, size_t *cmd_len)
{
    struct simshardkv *k = arg;
    const char *method;
    const uint8_t *p;
    size_t plen;
    if (simtransport_unframe(req, len, &method, &p, &plen) != 0)
        return;
    if (!strcmp(method, "shardkv.Op")) {
        skv_codec_op_entry(p, plen, cmd, cmd_len);
        return;
    }
    Shardkv__DeleteRequest *d = shardkv__delete_request__unpack(NULL, plen, p);
    if (!d)
        return;
    struct skv_cmd c = { .type = SKV_DELETE, .shard = d->shard, .left_at = d->left_at };
    skv_codec_encode_cmd(&c, cmd, cmd_len);
    shardkv__delete_request__free_unpacked(d, NULL);
    k->st.deletes++;
}

static void error(void *arg, enum simsvc_err err, void *read, uint32_t leader_id,
                  const char *leader_addr, uint8_t **reply, size_t *len)
{
    (void)arg;
    struct request *r = read;
    if (r->m == M_OP) {
        Kv__Reply m = KV__REPLY__INIT;
        m.err = err == SIMSVC_NO_SPACE ? KV__ERR__NO_SPACE : KV__ERR__WRONG_LEADER;
        m.leader_id = leader_id;
        m.leader_addr = (char *)leader_addr;
        *len = kv__reply__get_packed_size(&m);
        *reply = xmalloc(*len ? *len : 1);
        kv__reply__pack(&m, *reply);
        return;
    }
    Shardkv__Err e = err == SIMSVC_NO_SPACE ? SHARDKV__ERR__NO_SPACE : SHARDKV__ERR__WRONG_LEADER;
    if (r->m == M_PULL) {
        Shardkv__PullReply m = SHARDKV__PULL_REPLY__INIT;
        m.err = e;
        m.leader_id = leader_id;
        m.leader_addr = (char *)leader_addr;
        *len = shardkv__pull_reply__get_packed_size(&m);
        *reply = xmalloc(*len ? *len : 1);
        shardkv__pull_reply__pack(&m, *reply);
        return;
    }
    Shardkv__DeleteReply m = SHARDKV__DELETE_REPLY__INIT;
    m.err = e;
    m.leader_id = leader_id;
    m.leader_addr = (char *)leader_addr;
    *len = shardkv__delete_reply__get_packed_size(&m);
    *reply = xmalloc(*len ? *len : 1);
    shardkv__delete_reply__pack(&m, *reply);
}

/* A Get through the log: its OP entry. */
static void read_cmd(void *arg, const uint8_t *req, size_t len, uint8_t **cmd, size_t *cmd_len)
{
    (void)arg;
    const char *method;
    const uint8_t *p;
    size_t plen;
    if (simtransport_unframe(req, len, &method, &p, &plen) == 0)
        skv_codec_op_entry(p, plen, cmd, cmd_len);
}

/* A Pull on a leader not ready for ReadIndex: NOT_READY, and (as shardkvd: an idle holder
 * would never commit an entry of its term) once a term an entry every replica ignores, a
 * CONFIG of the current number. */
static void not_ready(void *arg, size_t node, void *read, uint8_t **reply, size_t *len)
{
    (void)read;
    struct simshardkv *k = arg;
    struct node *nd = k->nodes[node];
    uint64_t term;
    sim_get_state(k->sim, node, &term);
    if (nd && nd->nudged_term != term) {
        nd->nudged_term = term;
        struct skv_cmd cmd = { .type = SKV_CONFIG, .config = shardkv_config(nd->skv) };
        uint8_t *entry;
        size_t elen;
        skv_codec_encode_cmd(&cmd, &entry, &elen);
        d_propose(nd, entry, elen);
    }
    Shardkv__PullReply m = SHARDKV__PULL_REPLY__INIT;
    m.err = SHARDKV__ERR__NOT_READY;
    *len = shardkv__pull_reply__get_packed_size(&m);
    *reply = xmalloc(*len ? *len : 1);
    shardkv__pull_reply__pack(&m, *reply);
}

static const struct simsvc_ops skv_ops = { create,    destroy,   classify, answer,   read_free,
                                           write_cmd, error,     read_cmd, not_ready };

/* ---- transports ------------------------------------------------------------------------------ */

struct clerk_transport simshardkv_transport(struct simnet *net, const char *const *servers,
                                            size_t n)
{
    size_t idx[SIM_MAX_NODES];
    if (n > SIM_MAX_NODES)
        return (struct clerk_transport){ NULL, NULL };
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < sim_n(simnet_sim(net)) && strcmp(simsvc_addr(j), servers[i]) != 0)
            j++;
        if (j == sim_n(simnet_sim(net)))
            return (struct clerk_transport){ NULL, NULL };
        idx[i] = j;
    }
    return simtransport_get(simtransport_new_servers(net, idx, n, true));
}

void simshardkv_transport_free(struct clerk_transport *t)
{
    if (t->ops)
        simtransport_free(t->ctx);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

struct simshardkv *simshardkv_new(const struct simshardkv_opts *o)
{
    struct simshardkv *k = xcalloc(1, sizeof *k);
    k->o = *o;
    if (k->o.n_groups > SIMSKV_MAX_GROUPS)
        k->o.n_groups = SIMSKV_MAX_GROUPS;
    for (size_t g = 0; g < k->o.n_groups; g++) {
        k->check[g] = statecheck_new();
        for (size_t j = 0; j < o->group_size; j++)
            k->servers[g][j] = simsvc_addr(o->first + g * o->group_size + j);
    }
    k->svc = simsvc_new(&skv_ops, k);
    return k;
}

struct simsvc *simshardkv_svc(struct simshardkv *k) { return k->svc; }

void simshardkv_attach(struct simshardkv *k, struct sim *s, struct simnet *net)
{
    k->sim = s;
    k->net = net;
    uint32_t set = 0;
    for (size_t i = k->o.first; i < k->o.first + k->o.n_groups * k->o.group_size; i++)
        set |= 1u << i;
    simsvc_attach_on(k->svc, s, net, set);
    for (size_t i = 0; i < SIM_MAX_NODES; i++)
        if (k->nodes[i] && !k->nodes[i]->drv)
            driver_start(k->nodes[i]);
}

void simshardkv_free(struct simshardkv *k)
{
    if (!k)
        return;
    simsvc_free(k->svc);
    for (size_t g = 0; g < k->o.n_groups; g++)
        statecheck_free(k->check[g]);
    free(k);
}

uint32_t simshardkv_gid(const struct simshardkv *k, size_t g)
{
    return k->o.first_gid + (uint32_t)g;
}

const char *const *simshardkv_servers(const struct simshardkv *k, size_t g)
{
    return k->servers[g];
}

struct shardkv *simshardkv_skv(struct simshardkv *k, size_t i)
{
    return i < SIM_MAX_NODES && k->nodes[i] ? k->nodes[i]->skv : NULL;
}

void simshardkv_stats(const struct simshardkv *k, struct simshardkv_stats *st)
{
    *st = k->st;
    for (size_t i = 0; i < SIM_MAX_NODES; i++) {
        if (!k->nodes[i] || !k->nodes[i]->drv)
            continue;
        struct skv_driver_stats ds;
        skv_driver_stats(k->nodes[i]->drv, &ds);
        st->configs_proposed += ds.configs_proposed;
        st->installs_proposed += ds.installs_proposed;
        st->gc_proposed += ds.gc_proposed;
    }
}

uint64_t simshardkv_states_compared(const struct simshardkv *k)
{
    uint64_t n = 0;
    for (size_t g = 0; g < k->o.n_groups; g++)
        n += statecheck_compared(k->check[g]);
    return n;
}
