#include "simkv.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "kv/codec.h"
#include "../../daemons/kvd/machine.h"

struct simkv {
    struct sim *sim;
    struct simnet *net;
    int bugs;
    struct kv *kv[SIM_MAX_NODES];
    struct simkv_stats st;
};

/* One request being served. */
struct op {
    struct simkv *k;
    size_t node;
    struct simnet_req *rq;
    Kv__Command *get; /* a Get served by ReadIndex */
};

const char *simkv_addr(size_t server)
{
    static const char *const addrs[SIM_MAX_NODES] = { "s1", "s2", "s3", "s4", "s5",
                                                      "s6", "s7", "s8", "s9" };
    return server < SIM_MAX_NODES ? addrs[server] : "";
}

/* ---- the state machine factory -------------------------------------------------------------- */

static struct node_sm machine_create(void *arg, size_t node)
{
    struct simkv *k = arg;
    k->kv[node] = kv_new();
    kv_set_planted_bug(k->kv[node], k->bugs);
    return kvd_state_machine(k->kv[node]);
}

static void machine_destroy(void *arg, size_t node, void *ctx)
{
    struct simkv *k = arg;
    kv_free(ctx);
    k->kv[node] = NULL;
}

const struct sim_machine *simkv_machine(void)
{
    static const struct sim_machine m = { machine_create, machine_destroy };
    return &m;
}

/* ---- the service (daemons/kvd/service.c's rules) -------------------------------------------- */

static void reply_error(struct op *op, Kv__Err err)
{
    Kv__Reply r = KV__REPLY__INIT;
    r.err = err;
    const struct raft *rf = sim_raft(op->k->sim, op->node);
    uint32_t leader = rf ? raft_soft_state(rf).leader : 0;
    r.leader_id = leader;
    r.leader_addr = (char *)(leader ? simkv_addr(leader - 1) : "");
    uint8_t buf[128];
    size_t len = kv__reply__pack(&r, buf);
    simnet_reply(op->rq, buf, len);
}

static void op_free(struct op *op)
{
    if (op->get)
        kv__command__free_unpacked(op->get, NULL);
    free(op);
}

static void on_applied(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                       size_t len, void *arg)
{
    (void)index;
    (void)term;
    struct op *op = arg;
    if (res == NODE_OK)
        simnet_reply(op->rq, result, len); /* the state machine's encoded kv.Reply */
    else if (res != NODE_SHUTDOWN)       /* a crashing node answers nothing */
        reply_error(op, KV__ERR__WRONG_LEADER);
    op_free(op);
}

static void on_read(enum node_result res, uint64_t index, void *arg)
{
    (void)index;
    struct op *op = arg;
    if (res == NODE_OK) {
        uint8_t *reply;
        size_t len;
        kv_codec_get(op->k->kv[op->node], op->get->key.data, op->get->key.len, &reply, &len);
        simnet_reply(op->rq, reply, len);
        free(reply);
    } else if (res != NODE_SHUTDOWN) {
        reply_error(op, KV__ERR__WRONG_LEADER);
    }
    op_free(op);
}

static void serve(void *arg, size_t node, struct simnet_req *rq, const uint8_t *req, size_t len)
{
    struct simkv *k = arg;
    Kv__Command *c = kv__command__unpack(NULL, len, req);
    if (!c || c->op > KV__OP_TYPE__APPEND) {
        if (c)
            kv__command__free_unpacked(c, NULL);
        return;
    }
    struct op *op = xcalloc(1, sizeof *op);
    *op = (struct op){ .k = k, .node = node, .rq = rq };
    if (c->op == KV__OP_TYPE__GET) {
        op->get = c;
        enum node_result res = sim_read_async(k->sim, node, on_read, op);
        if (res == NODE_OK) {
            k->st.reads++;
            return;
        }
        kv__command__free_unpacked(op->get, NULL);
        op->get = NULL;
        if (res != NODE_NOT_READY) {
            k->st.wrong_leader++;
            reply_error(op, KV__ERR__WRONG_LEADER);
            op_free(op);
            return;
        }
        k->st.logged_gets++; /* a new leader not ready for ReadIndex: the Get goes in the log */
    } else {
        kv__command__free_unpacked(c, NULL);
        k->st.writes++;
    }
    uint64_t index, term;
    enum node_result res = sim_propose(k->sim, node, req, len, on_applied, op, &index, &term);
    if (res != NODE_OK) {
        k->st.wrong_leader++;
        reply_error(op, res == NODE_NO_SPACE ? KV__ERR__NO_SPACE : KV__ERR__WRONG_LEADER);
        op_free(op);
    }
}

/* ---- life cycle ----------------------------------------------------------------------------- */

struct simkv *simkv_new(int kv_bugs)
{
    struct simkv *k = xcalloc(1, sizeof *k);
    k->bugs = kv_bugs;
    return k;
}

void simkv_attach(struct simkv *k, struct sim *s, struct simnet *net)
{
    k->sim = s;
    k->net = net;
    simnet_serve(net, serve, k);
}

void simkv_free(struct simkv *k) { free(k); }

struct kv *simkv_kv(struct simkv *k, size_t i) { return k->kv[i]; }

void simkv_stats(const struct simkv *k, struct simkv_stats *st) { *st = k->st; }
