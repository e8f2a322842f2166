#include "simctrl.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "shardctrl.pb-c.h"
#include "shardctrl/codec.h"
#include "statecheck.h"
#include "../../daemons/shardctrld/machine.h"

struct simctrl {
    struct simsvc *svc;
    struct sim *sim;
    uint32_t n_shards;
    int bugs;
    struct statecheck *check;
};

/* A node's state machine ctx. */
struct node {
    struct simctrl *c;
    size_t i;
    struct shardctrl *sc;
    struct node_sm inner; /* shardctrld's adapter (daemons/shardctrld/machine.h) on sc */
};

/* ---- around shardctrld's adapter: the planted bug and the state comparison ---------------- */

/* The planted SIMCTRL_BUG_NO_DEDUP: the write re-encoded without its session. */
static void apply_without_session(struct shardctrl *sc, const uint8_t *cmd, size_t len,
                                  uint8_t **reply, size_t *reply_len)
{
    struct sc_codec_cmd d;
    bool decoded = sc_codec_decode_cmd(cmd, len, &d) == 0;
    if (!decoded || d.cmd.op == SC_OP_QUERY) {
        if (decoded)
            sc_codec_cmd_release(&d);
        sc_codec_apply(sc, cmd, len, reply, reply_len);
        return;
    }
    struct sc_cmd plain = d.cmd;
    plain.client_id = 0;
    plain.seq = 0;
    uint8_t *buf;
    size_t blen;
    sc_codec_encode_cmd(&plain, &buf, &blen);
    sc_codec_cmd_release(&d);
    sc_codec_apply(sc, buf, blen, reply, reply_len);
    free(buf);
}

/* The state after index must be the same on every node. */
static void check_state(struct node *nd, uint64_t index, const char *how)
{
    struct simctrl *c = nd->c;
    if (!index || !c->sim || sim_failed(c->sim))
        return;
    uint8_t *data;
    size_t len;
    sc_codec_snapshot(nd->sc, &data, &len);
    statecheck_record(c->check, c->sim, nd->i, index, data, len, how);
    free(data);
}

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len)
{
    struct node *nd = ctx;
    if (e->type == RAFT_ENTRY_NORMAL && (nd->c->bugs & SIMCTRL_BUG_NO_DEDUP))
        apply_without_session(nd->sc, e->data, e->len, result, result_len);
    else
        nd->inner.apply(nd->inner.ctx, e, result, result_len);
    check_state(nd, e->index, "after applying");
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    struct node *nd = ctx;
    nd->inner.snapshot(nd->inner.ctx, data, len);
}

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    struct node *nd = ctx;
    int rc = nd->inner.restore(nd->inner.ctx, index, data, len);
    if (rc == 0)
        check_state(nd, index, "after restoring a snapshot at");
    return rc;
}

/* ---- the service ---------------------------------------------------------------------------- */

static struct node_sm create(void *arg, size_t i)
{
    struct simctrl *c = arg;
    struct node *nd = xcalloc(1, sizeof *nd);
    *nd = (struct node){ c, i, shardctrl_new(c->n_shards), { 0 } };
    nd->inner = shardctrl_state_machine(&nd->sc);
    return (struct node_sm){ .ctx = nd, .apply = sm_apply, .snapshot = sm_snapshot, .restore = sm_restore };
}

static void destroy(void *arg, size_t i, void *ctx)
{
    (void)arg;
    (void)i;
    struct node *nd = ctx;
    shardctrl_free(nd->sc);
    free(nd);
}

static enum simsvc_kind classify(void *arg, const uint8_t *req, size_t len, void **read)
{
    (void)arg;
    struct sc_codec_cmd d;
    if (sc_codec_decode_cmd(req, len, &d) != 0)
        return SIMSVC_DROP;
    enum simsvc_kind kind = SIMSVC_WRITE;
    if (d.cmd.op == SC_OP_QUERY) {
        int64_t *num = xmalloc(sizeof *num);
        *num = d.cmd.num;
        *read = num;
        kind = SIMSVC_READ;
    }
    sc_codec_cmd_release(&d);
    return kind;
}

static void answer(void *arg, void *ctx, void *read, uint8_t **reply, size_t *len)
{
    (void)arg;
    sc_codec_query(((struct node *)ctx)->sc, *(int64_t *)read, reply, len);
}

static void read_free(void *arg, void *read)
{
    (void)arg;
    free(read);
}

/* As shardctrld: a write carries the servers' shard count into the log. */
static void write_cmd(void *arg, const uint8_t *req, size_t len, uint8_t **cmd, size_t *cmd_len)
{
    struct simctrl *c = arg;
    struct sc_codec_cmd d;
    if (sc_codec_decode_cmd(req, len, &d) != 0)
        return; /* classify let it through: it decodes */
    d.cmd.n_shards = c->n_shards;
    sc_codec_encode_cmd(&d.cmd, cmd, cmd_len);
    sc_codec_cmd_release(&d);
}

static void error(void *arg, enum simsvc_err err, void *read, uint32_t leader_id,
                  const char *leader_addr, uint8_t **reply, size_t *len)
{
    (void)arg;
    (void)read;
    Shardctrl__Reply r = SHARDCTRL__REPLY__INIT;
    r.err = err == SIMSVC_NO_SPACE ? SHARDCTRL__ERR__NO_SPACE : SHARDCTRL__ERR__WRONG_LEADER;
    r.leader_id = leader_id;
    r.leader_addr = (char *)leader_addr;
    *len = shardctrl__reply__get_packed_size(&r);
    *reply = xmalloc(*len ? *len : 1);
    shardctrl__reply__pack(&r, *reply);
}

static const struct simsvc_ops ctrl_ops = { create,    destroy,   classify, answer,
                                            read_free, write_cmd, error,   NULL,     NULL };

/* ---- life cycle ----------------------------------------------------------------------------- */

struct simctrl *simctrl_new(uint32_t n_shards, int bugs)
{
    struct simctrl *c = xcalloc(1, sizeof *c);
    c->n_shards = n_shards;
    c->bugs = bugs;
    c->svc = simsvc_new(&ctrl_ops, c);
    c->check = statecheck_new();
    simsvc_set_stale_reads(c->svc, bugs & SIMCTRL_BUG_STALE_QUERY);
    return c;
}

struct simsvc *simctrl_svc(struct simctrl *c) { return c->svc; }

void simctrl_attach(struct simctrl *c, struct sim *s, struct simnet *net)
{
    simctrl_attach_on(c, s, net, UINT32_MAX);
}

void simctrl_attach_on(struct simctrl *c, struct sim *s, struct simnet *net, uint32_t servers)
{
    c->sim = s;
    simsvc_attach_on(c->svc, s, net, servers);
}

void simctrl_free(struct simctrl *c)
{
    if (!c)
        return;
    simsvc_free(c->svc);
    statecheck_free(c->check);
    free(c);
}

struct shardctrl *simctrl_sc(struct simctrl *c, size_t i)
{
    struct node *nd = simsvc_ctx(c->svc, i);
    return nd ? nd->sc : NULL;
}

uint64_t simctrl_states_compared(const struct simctrl *c)
{
    return statecheck_compared(c->check);
}
