#include "service.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/util.h"
#include "node/reply.h"
#include "node/status_pb.h"
#include "rpc/rpc.h"
#include "shardctrl.pb-c.h"
#include "shardctrl/codec.h"

struct service {
    struct node *node;
    struct shardctrl *sc;
    uint32_t shards;       /* --shards: carried by every write this node proposes */
    struct node_reply op;  /* "shardctrl.Op" */
};

int shardctrld_check(const void *opts, char *err, size_t errlen, void *arg)
{
    (void)err;
    (void)errlen;
    const struct shardctrld_opts *o = opts;
    struct shardctrld *st = arg;
    st->sc = shardctrl_new((uint32_t)o->shards); /* the option's bounds are checked already */
    return 0;
}

/* shardctrl.Op's error reply: shardctrl.Reply's Err with the leader hint. */
static void reply_error(struct rpc_call *call, const struct node_failure *f, void *arg)
{
    (void)arg;
    Shardctrl__Reply r = SHARDCTRL__REPLY__INIT;
    r.err = f->kind == NODE_FAIL_NO_SPACE ? SHARDCTRL__ERR__NO_SPACE
            : f->kind == NODE_FAIL_SHUTDOWN ? SHARDCTRL__ERR__SHUTTING_DOWN
                                            : SHARDCTRL__ERR__WRONG_LEADER;
    r.leader_id = f->leader_id;
    r.leader_addr = (char *)f->leader_addr;
    rpc_call_reply_msg(call, &r.base);
}

struct query {
    struct service *s;
    int64_t num;
};

/* A Query confirmed by ReadIndex: read the state machine directly. */
static void on_read(struct rpc_call *call, enum node_result res, void *arg)
{
    struct query *q = arg;
    if (res == NODE_OK) {
        uint8_t *reply;
        size_t len;
        sc_codec_query(q->s->sc, q->num, &reply, &len);
        rpc_call_reply(call, reply, len);
        free(reply);
    }
    free(q);
}

static void handle_op(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct service *s = arg;
    struct sc_codec_cmd c;
    if (sc_codec_decode_cmd(req, len, &c)) { /* only well-formed commands enter the log */
        rpc_call_fail(call, RPC_BAD_REQUEST, "shardctrl.Op: request is not a valid "
                      "shardctrl.Command");
        return;
    }
    if (c.cmd.op == SC_OP_QUERY) {
        /* Queries skip the log (ReadIndex) unless the leader cannot confirm reads yet. */
        struct query *q = xmalloc(sizeof *q);
        *q = (struct query){ s, c.cmd.num };
        sc_codec_cmd_release(&c);
        enum node_result res = node_reply_read(&s->op, call, req, len, on_read, q);
        if (res != NODE_NOT_READY) {
            if (res != NODE_OK)
                free(q);
            return;
        }
        free(q);
        node_reply_propose(&s->op, call, req, len, req, len, node_reply_result, NULL);
        return;
    }
    /* A write carries this node's --shards into the log (the shard count rule, shardctrl.h). */
    c.cmd.n_shards = s->shards;
    uint8_t *cmd;
    size_t cmd_len;
    sc_codec_encode_cmd(&c.cmd, &cmd, &cmd_len);
    sc_codec_cmd_release(&c);
    node_reply_propose(&s->op, call, req, len, cmd, cmd_len, node_reply_result, NULL);
    free(cmd);
}

static void handle_status(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    struct service *s = arg;
    Node__Status node = NODE__STATUS__INIT;
    node_status_pb(s->node, 0, &node);
    const struct sc_config *latest = shardctrl_query(s->sc, -1);
    struct sc_stats st;
    shardctrl_stats(s->sc, &st);
    Shardctrl__StatusReply r = SHARDCTRL__STATUS_REPLY__INIT;
    r.node = &node;
    r.latest = latest->num;
    r.n_shards = shardctrl_n_shards(s->sc);
    uint32_t *gids = xmalloc((latest->n_groups ? latest->n_groups : 1) * sizeof *gids);
    for (size_t i = 0; i < latest->n_groups; i++)
        gids[i] = latest->groups[i]->gid;
    r.n_gids = latest->n_groups;
    r.gids = gids;
    r.clients = st.clients;
    r.bytes = st.bytes;
    rpc_call_reply_msg(call, &r.base);
    free(gids);
    node_status_pb_release(&node);
}

void *shardctrld_service_start(const struct node_service_env *env, char *err, size_t errlen,
                               void *arg)
{
    (void)err;
    (void)errlen;
    struct shardctrld *st = arg;
    const struct shardctrld_opts *o = env->opts;
    struct service *s = xmalloc(sizeof *s);
    *s = (struct service){ .node = env->node, .sc = st->sc, .shards = (uint32_t)o->shards };
    if (shardctrl_fixed(s->sc) && shardctrl_n_shards(s->sc) != s->shards)
        LOG_WARN("shardctrl", "this controller has %u shards (from its data): --shards %u does "
                 "not apply, and writes this node proposes while leading will be refused",
                 shardctrl_n_shards(s->sc), s->shards);
    s->op = (struct node_reply){ env->node, "shardctrl.Op", reply_error, s };
    rpc_server_handle(env->srv, "shardctrl.Op", handle_op, s);
    rpc_server_handle(env->srv, "shardctrl.Status", handle_status, s);
    return s;
}

void shardctrld_service_stop(void *service) { free(service); }
