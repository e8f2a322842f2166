#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/u64map.h"
#include "base/util.h"
#include "kv.pb-c.h"
#include "kv/codec.h"
#include "kv/reply.h"
#include "node/reply.h"
#include "node/status_pb.h"
#include "rpc/rpc.h"

/* ---- the service ------------------------------------------------------------------------- */

struct kvd_service {
    struct node *node;
    struct kv *kv;
    struct node_reply op; /* "kv.Op" through the log */
    struct u64map writes; /* write_key(client, seq) -> struct op_ctx: writes in the log, pending */
};

struct op_ctx {
    struct kvd_service *s;
    Kv__Command *get; /* a Get served by ReadIndex: the decoded command */
    /* A write proposed by this leader: retries of the same (client, seq) that arrive while it
     * is pending wait for its outcome instead of appending another copy to the log. */
    uint64_t client_id, seq;
    struct rpc_call **retries;
    size_t n_retries;
};

/* The writes map's key (entries hold the pair itself, so a collision only costs a dedup). */
static uint64_t write_key(uint64_t client_id, uint64_t seq)
{
    uint64_t k = client_id * 0x9E3779B97F4A7C15ull ^ seq;
    return k ? k : 1;
}

static void op_free(struct op_ctx *op)
{
    if (op->get)
        kv__command__free_unpacked(op->get, NULL);
    if (op->client_id) {
        struct u64map *w = &op->s->writes;
        if (u64map_get(w, write_key(op->client_id, op->seq)) == op)
            u64map_del(w, write_key(op->client_id, op->seq));
    }
    free(op->retries);
    free(op);
}

/* The first call has its answer (on failure, from node_reply); its joined retries get the
 * same. */
static void on_applied(struct rpc_call *call, enum node_result res, uint64_t index, uint64_t term,
                       const uint8_t *result, size_t len, void *arg)
{
    struct op_ctx *op = arg;
    if (res == NODE_OK)
        kv_reply_ok(op->s->node, call, result, len); /* the state machine's encoded kv.Reply */
    for (size_t i = 0; i < op->n_retries; i++) {
        if (res == NODE_OK)
            kv_reply_ok(op->s->node, op->retries[i], result, len);
        else
            node_reply_fail(&op->s->op, op->retries[i], res, index, term);
    }
    op_free(op);
}

/* A Get confirmed by ReadIndex: read the state machine directly. */
static void on_read(struct rpc_call *call, enum node_result res, void *arg)
{
    struct op_ctx *op = arg;
    if (res == NODE_OK) {
        uint8_t *reply;
        size_t len;
        kv_codec_get(op->s->kv, op->get->key.data, op->get->key.len, &reply, &len);
        kv_reply_ok(op->s->node, call, reply, len);
        free(reply);
    }
    op_free(op);
}

/* A retry of a write this leader has in its log and not yet applied joins it. */
static bool join_pending_write(struct kvd_service *s, struct rpc_call *call, const Kv__Command *c)
{
    if (!c->client_id)
        return false;
    struct op_ctx *op = u64map_get(&s->writes, write_key(c->client_id, c->seq));
    if (!op || op->client_id != c->client_id || op->seq != c->seq)
        return false;
    op->retries = xrealloc(op->retries, (op->n_retries + 1) * sizeof *op->retries);
    op->retries[op->n_retries++] = call;
    return true;
}

static void handle_op(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct kvd_service *s = arg;
    /* Only well-formed commands enter the log. */
    Kv__Command *c = kv__command__unpack(NULL, len, req);
    if (!c || !kv_codec_op_known(c->op)) {
        if (c)
            kv__command__free_unpacked(c, NULL);
        rpc_call_fail(call, RPC_BAD_REQUEST, "kv.Op: request is not a valid kv.Command");
        return;
    }
    struct op_ctx *op = xcalloc(1, sizeof *op);
    op->s = s;
    if (c->op == KV__OP_TYPE__GET) {
        /* Gets skip the log (ReadIndex) unless the leader cannot confirm reads yet. */
        op->get = c;
        enum node_result res = node_reply_read(&s->op, call, req, len, on_read, op);
        if (res != NODE_NOT_READY) {
            if (res != NODE_OK)
                op_free(op);
            return;
        }
        kv__command__free_unpacked(op->get, NULL);
        op->get = NULL;
    } else {
        bool joined = join_pending_write(s, call, c);
        uint64_t client_id = c->client_id, seq = c->seq;
        kv__command__free_unpacked(c, NULL);
        if (joined) {
            free(op);
            return;
        }
        op->client_id = client_id;
        op->seq = seq;
    }
    if (node_reply_propose(&s->op, call, req, len, req, len, on_applied, op) != NODE_OK) {
        op->client_id = 0; /* never registered */
        op_free(op);
        return;
    }
    if (op->client_id && !u64map_get(&s->writes, write_key(op->client_id, op->seq)))
        u64map_put(&s->writes, write_key(op->client_id, op->seq), op);
}

static void handle_status(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    struct kvd_service *s = arg;
    Node__Status node = NODE__STATUS__INIT;
    node_status_pb(s->node, 0, &node);
    struct kv_stats ks;
    kv_stats(s->kv, &ks);
    Kv__StatusReply r = KV__STATUS_REPLY__INIT;
    r.node = &node;
    r.keys = ks.keys;
    r.clients = ks.clients;
    r.kv_bytes = ks.bytes;
    rpc_call_reply_msg(call, &r.base);
    node_status_pb_release(&node);
}

void *kvd_service_start(const struct node_service_env *env, char *err, size_t errlen, void *kv)
{
    (void)err;
    (void)errlen;
    struct kvd_service *s = xmalloc(sizeof *s);
    *s = (struct kvd_service){ .node = env->node, .kv = kv };
    s->op = (struct node_reply){ env->node, "kv.Op", kv_reply_fail, s };
    /* For tests only: start with one of lib/kv's planted bugs (enum kv_bug, a number), to show
     * that a real-process test catches it (test/kv/test_kvd_delcas.c). */
    const char *bug = getenv("KVD_PLANTED_BUG");
    if (bug && atoi(bug) > 0) {
        kv_set_planted_bug(kv, atoi(bug));
        LOG_WARN("kvd", "KVD_PLANTED_BUG=%d: running with a planted bug (tests only)", atoi(bug));
    }
    rpc_server_handle(env->srv, "kv.Op", handle_op, s);
    rpc_server_handle(env->srv, "kv.Status", handle_status, s);
    return s;
}

/* Called after node_free, which completed every proposal (and so emptied writes). */
void kvd_service_stop(void *service)
{
    struct kvd_service *s = service;
    u64map_free(&s->writes);
    free(s);
}
