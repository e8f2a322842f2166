#include "service.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "driver_io.h"
#include "metrics.h"
#include "kv.pb-c.h"
#include "kv/codec.h"
#include "kv/reply.h"
#include "node/reply.h"
#include "node/status_pb.h"
#include "rpc/rpc.h"
#include "shardkv.pb-c.h"
#include "shardkv/codec.h"
#include "shardkv/shardkv.h"

struct service {
    struct node *node;
    struct shardkvd_machine *m;
    uint64_t chunk_bytes;
    struct node_reply op, pull, del; /* "shardkv.Op", "shardkv.Pull", "shardkv.Delete" */
    uint64_t nudged_term;            /* the term of the last nudge (see nudge) */
    struct driver_io *io;
    struct event *background_ev;     /* shardkv_background's turns */
    struct shardkvd_metrics *metrics;
};

/* ---- options ------------------------------------------------------------------------------- */

int shardkvd_check(const void *opts, char *err, size_t errlen, void *arg)
{
    const struct shardkvd_opts *o = opts;
    struct shardkvd_machine *m = arg;
    if (o->gid == 0) {
        snprintf(err, errlen, "--gid is required (this group's id, 1..4294967295)");
        return -1;
    }
    if (!o->ctrlers) {
        snprintf(err, errlen, "--ctrlers is required (the shard controller's HOST:PORT,...)");
        return -1;
    }
    char **v;
    size_t n = split_list(o->ctrlers, &v);
    int rc = n ? 0 : -1;
    if (!n)
        snprintf(err, errlen, "--ctrlers: no address in '%s' (expected HOST:PORT,...)",
                 o->ctrlers);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char host[256];
        uint16_t port;
        if (parse_host_port(v[i], host, sizeof host, &port) != 0 || port == 0) {
            snprintf(err, errlen, "--ctrlers: '%s' is not HOST:PORT", v[i]);
            rc = -1;
        }
    }
    strv_free(v, n);
    if (rc == 0)
        m->skv = shardkv_new((uint32_t)o->gid);
    /* For tests only: start with one of lib/shardkv's planted bugs (enum skv_bug, a number), to
     * show that a chaos test catches it (test/docker/test-docker-sharded.sh PLANT=...). */
    const char *bug = getenv("SHARDKVD_PLANTED_BUG");
    if (rc == 0 && bug && atoi(bug) > 0) {
        shardkv_set_planted_bug(m->skv, atoi(bug));
        LOG_WARN("shardkv", "SHARDKVD_PLANTED_BUG=%d: running with a planted bug (tests only)",
                 atoi(bug));
    }
    return rc;
}

/* ---- error replies, with the leader hint ----------------------------------------------------- */

static Shardkv__Err failure_err(const struct node_failure *f)
{
    return f->kind == NODE_FAIL_NO_SPACE ? SHARDKV__ERR__NO_SPACE
           : f->kind == NODE_FAIL_SHUTDOWN ? SHARDKV__ERR__SHUTTING_DOWN
                                           : SHARDKV__ERR__WRONG_LEADER;
}

static void pull_fail(struct rpc_call *call, const struct node_failure *f, void *arg)
{
    (void)arg;
    Shardkv__PullReply r = SHARDKV__PULL_REPLY__INIT;
    r.err = failure_err(f);
    r.leader_id = f->leader_id;
    r.leader_addr = (char *)f->leader_addr;
    rpc_call_reply_msg(call, &r.base);
}

static void delete_fail(struct rpc_call *call, const struct node_failure *f, void *arg)
{
    (void)arg;
    Shardkv__DeleteReply r = SHARDKV__DELETE_REPLY__INIT;
    r.err = failure_err(f);
    r.leader_id = f->leader_id;
    r.leader_addr = (char *)f->leader_addr;
    rpc_call_reply_msg(call, &r.base);
}

/* ---- shardkv.Op ------------------------------------------------------------------------------ */

struct get {
    struct service *s;
    Kv__Command *cmd;
};

/* A Get confirmed by ReadIndex: read the state directly (WRONG_GROUP when the key's shard is
 * not served here now). */
static void on_get_read(struct rpc_call *call, enum node_result res, void *arg)
{
    struct get *g = arg;
    if (res == NODE_OK) {
        uint8_t *reply;
        size_t len;
        skv_codec_get(g->s->m->skv, g->cmd->key.data, g->cmd->key.len, &reply, &len);
        kv_reply_ok(g->s->node, call, reply, len);
        free(reply);
    }
    kv__command__free_unpacked(g->cmd, NULL);
    free(g);
}

static void handle_op(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct service *s = arg;
    /* Only well-formed commands enter the log. */
    Kv__Command *c = kv__command__unpack(NULL, len, req);
    if (!c || !kv_codec_op_known(c->op)) {
        if (c)
            kv__command__free_unpacked(c, NULL);
        rpc_call_fail(call, RPC_BAD_REQUEST, "shardkv.Op: request is not a valid kv.Command");
        return;
    }
    if (c->op == KV__OP_TYPE__GET) {
        /* Gets skip the log (ReadIndex) unless the leader cannot confirm reads yet. */
        struct get *g = xmalloc(sizeof *g);
        *g = (struct get){ s, c };
        enum node_result res = node_reply_read(&s->op, call, req, len, on_get_read, g);
        if (res != NODE_NOT_READY) {
            if (res != NODE_OK) {
                kv__command__free_unpacked(c, NULL);
                free(g);
            }
            return;
        }
        free(g);
    }
    kv__command__free_unpacked(c, NULL);
    uint8_t *entry;
    size_t entry_len;
    skv_codec_op_entry(req, len, &entry, &entry_len);
    node_reply_propose(&s->op, call, req, len, entry, entry_len, kv_reply_result, s->node);
    free(entry);
}

/* ---- work in steps -------------------------------------------------------------------------- */

/* lib/shardkv's work in steps (shardkv_background): a shard that left freed, a frozen shard's
 * pull index built, BACKGROUND_STEP slots or pairs per shard every BACKGROUND_MS (about 1-3 ms
 * of work per turn), so that a 1 GiB shard does not stall the group's other shards (freeing it
 * took 488 ms in one apply, sorting its index at the first pull up to 980 ms). */
#define BACKGROUND_STEP 16384
#define BACKGROUND_MS 5

static void background_soon(struct service *s)
{
    struct timeval tv = { 0, BACKGROUND_MS * 1000 };
    if (!evtimer_pending(s->background_ev, NULL))
        evtimer_add(s->background_ev, &tv);
}

static void on_background(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct service *s = arg;
    if (shardkv_background(s->m->skv, BACKGROUND_STEP) > 0)
        background_soon(s);
}

/* ---- shardkv.Pull ---------------------------------------------------------------------------- */

/* A new leader confirms reads only once an entry of its term commits; an idle group (a holder
 * whose shards are frozen waits for its DELETE and proposes nothing) would never get one, and
 * its Pulls would stay NOT_READY. So the first such Pull of a term proposes an entry every
 * replica ignores: a CONFIG of the current number (CONFIG applies only as the next one). */
static void nudge(struct service *s)
{
    struct node_status st;
    node_status(s->node, &st);
    if (st.soft.term == s->nudged_term)
        return;
    s->nudged_term = st.soft.term;
    struct skv_cmd cmd = { .type = SKV_CONFIG, .config = shardkv_config(s->m->skv) };
    uint8_t *entry;
    size_t len;
    skv_codec_encode_cmd(&cmd, &entry, &len);
    driver_io_propose(s->io, entry, len);
}

struct pull {
    struct service *s;
    size_t len;
    uint8_t req[]; /* the PullRequest */
};

static void on_pull_read(struct rpc_call *call, enum node_result res, void *arg)
{
    struct pull *p = arg;
    if (res == NODE_OK) {
        uint8_t *reply;
        size_t len;
        background_soon(p->s); /* a first pull starts the shard's index */
        if (skv_codec_pull(p->s->m->skv, p->req, p->len, p->s->chunk_bytes, &reply, &len) == 0) {
            rpc_call_reply(call, reply, len);
            free(reply);
        } else {
            rpc_call_fail(call, RPC_BAD_REQUEST, "shardkv.Pull: request is not a valid "
                          "shardkv.PullRequest");
        }
    }
    free(p);
}

/* Answered by the leader (a follower relays the call to it, or says WRONG_LEADER), once it
 * has applied everything committed (ReadIndex): the chunk reflects every entry before. */
static void handle_pull(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct service *s = arg;
    Shardkv__PullRequest *pr = shardkv__pull_request__unpack(NULL, len, req);
    if (!pr) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "shardkv.Pull: request is not a valid "
                      "shardkv.PullRequest");
        return;
    }
    shardkv__pull_request__free_unpacked(pr, NULL);
    struct pull *p = xmalloc(sizeof *p + len);
    p->s = s;
    p->len = len;
    memcpy(p->req, req, len);
    enum node_result res = node_reply_read(&s->pull, call, req, len, on_pull_read, p);
    if (res == NODE_OK)
        return;
    free(p);
    if (res == NODE_NOT_READY) {
        nudge(s);
        Shardkv__PullReply r = SHARDKV__PULL_REPLY__INIT;
        r.err = SHARDKV__ERR__NOT_READY;
        rpc_call_reply_msg(call, &r.base);
    }
}

/* ---- shardkv.Delete -------------------------------------------------------------------------- */

static void on_deleted(struct rpc_call *call, enum node_result res, uint64_t index,
                       uint64_t term, const uint8_t *result, size_t len, void *arg)
{
    (void)index;
    (void)term;
    (void)result;
    (void)len;
    (void)arg;
    if (res != NODE_OK)
        return;
    /* Applied: the shard is dropped now, or was before (a DELETE that does not apply). */
    Shardkv__DeleteReply r = SHARDKV__DELETE_REPLY__INIT;
    r.err = SHARDKV__ERR__OK;
    rpc_call_reply_msg(call, &r.base);
}

static void handle_delete(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct service *s = arg;
    Shardkv__DeleteRequest *dr = shardkv__delete_request__unpack(NULL, len, req);
    if (!dr) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "shardkv.Delete: request is not a valid "
                      "shardkv.DeleteRequest");
        return;
    }
    struct skv_cmd cmd = { .type = SKV_DELETE, .shard = dr->shard, .left_at = dr->left_at };
    shardkv__delete_request__free_unpacked(dr, NULL);
    uint8_t *entry;
    size_t entry_len;
    skv_codec_encode_cmd(&cmd, &entry, &entry_len);
    node_reply_propose(&s->del, call, req, len, entry, entry_len, on_deleted, NULL);
    free(entry);
}

/* ---- shardkv.Status -------------------------------------------------------------------------- */

static void handle_status(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    struct service *s = arg;
    const struct shardkv *skv = s->m->skv;
    Node__Status node = NODE__STATUS__INIT;
    node_status_pb(s->node, 0, &node);
    uint32_t n = shardkv_n_shards(skv);
    Shardkv__ShardStatus *shards = xmalloc((n ? n : 1) * sizeof *shards);
    Shardkv__ShardStatus **ptrs = xmalloc((n ? n : 1) * sizeof *ptrs);
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct skv_shard_info si;
        shardkv_shard_info(skv, i, &si);
        if (si.state == SKV_NOT_OWNED)
            continue;
        Shardkv__ShardStatus *ss = &shards[k];
        *ss = (Shardkv__ShardStatus)SHARDKV__SHARD_STATUS__INIT;
        ss->shard = i;
        ss->state = (Shardkv__ShardState)si.state; /* enum skv_state has the wire's values */
        if (si.state == SKV_PULLING || si.state == SKV_GC)
            ss->from_gid = si.holder;
        ss->left_at = si.left_at;
        ss->keys = si.keys;
        ptrs[k++] = ss;
    }
    struct skv_stats st;
    shardkv_stats(skv, &st);
    Shardkv__StatusReply r = SHARDKV__STATUS_REPLY__INIT;
    r.node = &node;
    r.gid = shardkv_gid(skv);
    r.config_num = shardkv_config(skv)->num;
    r.n_shards = k;
    r.shards = ptrs;
    r.bytes = st.bytes;
    rpc_call_reply_msg(call, &r.base);
    free(ptrs);
    free(shards);
    node_status_pb_release(&node);
}

/* ---- hooks ----------------------------------------------------------------------------------- */

static void moved(void *arg)
{
    struct service *s = arg;
    driver_io_kick_soon(s->io);
    background_soon(s);
}

void *shardkvd_service_start(const struct node_service_env *env, char *err, size_t errlen,
                             void *arg)
{
    struct shardkvd_machine *m = arg;
    const struct shardkvd_opts *o = env->opts;
    struct skv_driver_opts dopts;
    skv_driver_opts_default(&dopts);
    dopts.poll_ms = o->poll_ms;
    dopts.chunk_bytes = o->chunk_bytes;
    dopts.attempt_ms = o->peer_attempt_ms;
    dopts.pull_window = o->pull_window;
    char **ctrlers;
    size_t n = split_list(o->ctrlers, &ctrlers);
    struct driver_io *io = driver_io_new(env->base, env->node, (uint32_t)env->node_opts->id,
                                         m->skv, (const char *const *)ctrlers, n, &dopts, err,
                                         errlen);
    strv_free(ctrlers, n);
    if (!io)
        return NULL;
    struct service *s = xmalloc(sizeof *s);
    *s = (struct service){ .node = env->node, .m = m, .chunk_bytes = o->chunk_bytes, .io = io };
    s->background_ev = evtimer_new(env->base, on_background, s);
    s->op = (struct node_reply){ env->node, "shardkv.Op", kv_reply_fail, s };
    s->pull = (struct node_reply){ env->node, "shardkv.Pull", pull_fail, s };
    s->del = (struct node_reply){ env->node, "shardkv.Delete", delete_fail, s };
    rpc_server_handle(env->srv, "shardkv.Op", handle_op, s);
    rpc_server_handle(env->srv, "shardkv.Pull", handle_pull, s);
    rpc_server_handle(env->srv, "shardkv.Delete", handle_delete, s);
    rpc_server_handle(env->srv, "shardkv.Status", handle_status, s);
    m->moved = moved;
    m->moved_arg = s;
    s->metrics = shardkvd_metrics_new(env->metrics, &m->skv);
    LOG_INFO("shardkv", "group %u at config %llu; controller %s", shardkv_gid(m->skv),
             (unsigned long long)shardkv_config(m->skv)->num, o->ctrlers);
    return s;
}

/* A new leader acts at once rather than at its next poll (deferred: this runs inside the
 * node's processing, which the driver must not re-enter with a proposal). */
void shardkvd_service_on_role(void *service, bool leader, uint64_t term)
{
    (void)term;
    struct service *s = service;
    if (leader)
        driver_io_kick_soon(s->io);
}

/* Runs after node_free and rpc_server_free (lib/node/daemon.c), with the loop stopped: no
 * timer or reply of the driver ran since the node went (they run only from the loop), and
 * node_free's last callbacks (proposals failed with SHUTDOWN, a role change) only reached
 * proposed() and driver_io_kick_soon, which touch no node. The driver goes first, so that
 * nothing of it can run on the freed node afterwards. */
void shardkvd_service_stop(void *service)
{
    struct service *s = service;
    s->m->moved = NULL;
    driver_io_free(s->io);
    event_free(s->background_ev);
    shardkvd_metrics_free(s->metrics);
    free(s);
}
