#include "node/reply.h"

#include <stdlib.h>

#include "base/util.h"
#include "rpc/rpc.h"

struct pending {
    const struct node_reply *r;
    struct rpc_call *call;
    node_reply_done_fn done;
    node_reply_read_fn read_done;
    void *arg;
};

void node_reply_fail(const struct node_reply *r, struct rpc_call *call, enum node_result res,
                     uint64_t index, uint64_t term)
{
    struct node_failure f = { NODE_FAIL_NOT_LEADER, index, term, RAFT_NONE, "" };
    switch (res) {
    case NODE_LEADERSHIP_LOST: f.kind = NODE_FAIL_LEADERSHIP_LOST; break;
    case NODE_OVERWRITTEN: f.kind = NODE_FAIL_OVERWRITTEN; break;
    case NODE_SHUTDOWN: f.kind = NODE_FAIL_SHUTDOWN; break;
    case NODE_NO_SPACE: f.kind = NODE_FAIL_NO_SPACE; break;
    default: break; /* NODE_NOT_LEADER */
    }
    f.leader_id = node_leader(r->node, &f.leader_addr);
    r->fail(call, &f, r->arg);
}

/* Not proposed: relay a call this node cannot serve to the leader, or answer it. */
static void refused(const struct node_reply *r, struct rpc_call *call, enum node_result res,
                    const uint8_t *req, size_t len)
{
    if (res == NODE_NO_SPACE || !node_forward(r->node, call, r->method, req, len))
        node_reply_fail(r, call, res, 0, 0);
}

static void on_applied(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                       size_t len, void *arg)
{
    struct pending p = *(struct pending *)arg;
    free(arg);
    if (res != NODE_OK)
        node_reply_fail(p.r, p.call, res, index, term);
    p.done(p.call, res, index, term, result, len, p.arg);
}

enum node_result node_reply_propose(const struct node_reply *r, struct rpc_call *call,
                                    const uint8_t *req, size_t req_len, const uint8_t *cmd,
                                    size_t cmd_len, node_reply_done_fn done, void *arg)
{
    struct pending *p = xmalloc(sizeof *p);
    *p = (struct pending){ r, call, done, NULL, arg };
    uint64_t index, term;
    enum node_result res = node_propose(r->node, cmd, cmd_len, on_applied, p, &index, &term);
    if (res != NODE_OK) {
        free(p);
        refused(r, call, res, req, req_len);
    }
    return res;
}

static void on_read(enum node_result res, uint64_t index, void *arg)
{
    (void)index;
    struct pending p = *(struct pending *)arg;
    free(arg);
    if (res != NODE_OK)
        node_reply_fail(p.r, p.call, res, 0, 0);
    p.read_done(p.call, res, p.arg);
}

enum node_result node_reply_read(const struct node_reply *r, struct rpc_call *call,
                                 const uint8_t *req, size_t req_len, node_reply_read_fn done,
                                 void *arg)
{
    struct pending *p = xmalloc(sizeof *p);
    *p = (struct pending){ r, call, NULL, done, arg };
    enum node_result res = node_read(r->node, on_read, p);
    if (res != NODE_OK) {
        free(p);
        if (res != NODE_NOT_READY)
            refused(r, call, res, req, req_len);
    }
    return res;
}

void node_reply_result(struct rpc_call *call, enum node_result res, uint64_t index, uint64_t term,
                       const uint8_t *result, size_t len, void *arg)
{
    (void)index;
    (void)term;
    (void)arg;
    if (res == NODE_OK)
        rpc_call_reply(call, result, len);
}
