/* A replicated service's client rules on the simulated nodes (simsvc.h). */
#include "simsvc.h"

#include <stdlib.h>

#include "base/util.h"

struct simsvc {
    const struct simsvc_ops *ops;
    void *arg;
    struct sim *sim;
    struct simnet *net;
    bool stale_reads;
    void *ctx[SIM_MAX_NODES];
    struct simsvc_stats st;
};

/* One request being served. */
struct op {
    struct simsvc *v;
    size_t node;
    struct simnet_req *rq;
    void *read; /* a read served by ReadIndex: what classify kept */
};

const char *simsvc_addr(size_t server)
{
    static const char *const addrs[SIM_MAX_NODES] = { "s1",  "s2",  "s3",  "s4",  "s5",  "s6",
                                                      "s7",  "s8",  "s9",  "s10", "s11", "s12",
                                                      "s13", "s14", "s15", "s16" };
    return server < SIM_MAX_NODES ? addrs[server] : "";
}

/* ---- the state machine factory -------------------------------------------------------------- */

static struct node_sm machine_create(void *arg, size_t node)
{
    struct simsvc *v = arg;
    struct node_sm sm = v->ops->create(v->arg, node);
    v->ctx[node] = sm.ctx;
    return sm;
}

static void machine_destroy(void *arg, size_t node, void *ctx)
{
    struct simsvc *v = arg;
    v->ops->destroy(v->arg, node, ctx);
    v->ctx[node] = NULL;
}

const struct sim_machine *simsvc_machine(void)
{
    static const struct sim_machine m = { machine_create, machine_destroy };
    return &m;
}

/* ---- the service ---------------------------------------------------------------------------- */

static void reply_error(struct op *op, enum simsvc_err err)
{
    const struct raft *rf = sim_raft(op->v->sim, op->node);
    uint32_t leader = rf ? raft_soft_state(rf).leader : 0;
    uint8_t *buf;
    size_t len;
    op->v->ops->error(op->v->arg, err, op->read, leader, leader ? simsvc_addr(leader - 1) : "",
                      &buf, &len);
    simnet_reply(op->rq, buf, len);
    free(buf);
}

static void op_free(struct op *op)
{
    if (op->read && op->v->ops->read_free)
        op->v->ops->read_free(op->v->arg, op->read);
    free(op);
}

static void answer_read(struct op *op)
{
    uint8_t *reply;
    size_t len;
    op->v->ops->answer(op->v->arg, op->v->ctx[op->node], op->read, &reply, &len);
    simnet_reply(op->rq, reply, len);
    free(reply);
}

static void on_applied(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                       size_t len, void *arg)
{
    (void)index;
    (void)term;
    struct op *op = arg;
    if (res == NODE_OK)
        simnet_reply(op->rq, result, len); /* the state machine's encoded reply */
    else if (res != NODE_SHUTDOWN)       /* a crashing node answers nothing */
        reply_error(op, SIMSVC_WRONG_LEADER);
    op_free(op);
}

static void on_read(enum node_result res, uint64_t index, void *arg)
{
    (void)index;
    struct op *op = arg;
    if (res == NODE_OK)
        answer_read(op);
    else if (res != NODE_SHUTDOWN)
        reply_error(op, SIMSVC_WRONG_LEADER);
    op_free(op);
}

static void serve(void *arg, size_t node, struct simnet_req *rq, const uint8_t *req, size_t len)
{
    struct simsvc *v = arg;
    void *read = NULL;
    enum simsvc_kind kind = v->ops->classify(v->arg, req, len, &read);
    if (kind == SIMSVC_DROP)
        return;
    struct op *op = xcalloc(1, sizeof *op);
    *op = (struct op){ .v = v, .node = node, .rq = rq, .read = read };
    bool is_read = kind == SIMSVC_READ || kind == SIMSVC_LEADER_READ;
    if (is_read && v->stale_reads && v->ctx[node]) {
        answer_read(op); /* the planted bug: no ReadIndex, whatever this node is */
        op_free(op);
        return;
    }
    if (is_read) {
        enum node_result res = sim_read_async(v->sim, node, on_read, op);
        if (res == NODE_OK) {
            v->st.reads++;
            return;
        }
        if (res == NODE_NOT_READY && kind == SIMSVC_LEADER_READ && v->ops->not_ready) {
            uint8_t *buf;
            size_t blen;
            v->ops->not_ready(v->arg, node, op->read, &buf, &blen);
            simnet_reply(op->rq, buf, blen);
            free(buf);
            op_free(op);
            return;
        }
        if (res != NODE_NOT_READY || kind == SIMSVC_LEADER_READ) {
            v->st.wrong_leader++;
            reply_error(op, SIMSVC_WRONG_LEADER);
            op_free(op);
            return;
        }
        v->st.logged_reads++; /* a new leader not ready for ReadIndex: the read goes in the log */
    } else {
        v->st.writes++;
    }
    uint8_t *cmd = NULL;
    size_t cmd_len = len;
    if (kind == SIMSVC_WRITE && v->ops->write_cmd)
        v->ops->write_cmd(v->arg, req, len, &cmd, &cmd_len);
    else if (kind == SIMSVC_READ && v->ops->read_cmd)
        v->ops->read_cmd(v->arg, req, len, &cmd, &cmd_len);
    uint64_t index, term;
    enum node_result res = sim_propose(v->sim, node, cmd ? cmd : req, cmd_len, on_applied, op,
                                       &index, &term);
    free(cmd);
    if (res != NODE_OK) {
        v->st.wrong_leader++;
        reply_error(op, res == NODE_NO_SPACE ? SIMSVC_NO_SPACE : SIMSVC_WRONG_LEADER);
        op_free(op);
    }
}

/* ---- life cycle ----------------------------------------------------------------------------- */

struct simsvc *simsvc_new(const struct simsvc_ops *ops, void *arg)
{
    struct simsvc *v = xcalloc(1, sizeof *v);
    v->ops = ops;
    v->arg = arg;
    return v;
}

void simsvc_attach(struct simsvc *v, struct sim *s, struct simnet *net)
{
    simsvc_attach_on(v, s, net, UINT32_MAX);
}

void simsvc_attach_on(struct simsvc *v, struct sim *s, struct simnet *net, uint32_t servers)
{
    v->sim = s;
    v->net = net;
    simnet_serve_on(net, servers, serve, v);
}

void simsvc_free(struct simsvc *v) { free(v); }

void *simsvc_ctx(const struct simsvc *v, size_t i) { return v->ctx[i]; }

void simsvc_set_stale_reads(struct simsvc *v, bool on) { v->stale_reads = on; }

void simsvc_stats(const struct simsvc *v, struct simsvc_stats *st) { *st = v->st; }
