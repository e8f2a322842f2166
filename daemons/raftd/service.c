#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "node/reply.h"
#include "node/status_pb.h"
#include "node.pb-c.h"
#include "raftd.pb-c.h"
#include "rpc/rpc.h"

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

/* ---- the state machine ------------------------------------------------------------------- */

static uint64_t fnv64(uint64_t h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    return h;
}

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len)
{
    if (e->type != RAFT_ENTRY_NORMAL)
        return;
    const uint8_t *cmd = e->data;
    size_t len = e->len;
    struct raftd_state *st = ctx;
    uint8_t prev[8];
    be64_put(prev, st->hash);
    st->hash = fnv64(fnv64(FNV64_OFFSET, prev, 8), cmd, len);
    st->count++;
    *result = xmalloc(8);
    be64_put(*result, st->hash);
    *result_len = 8;
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    struct raftd_state *st = ctx;
    *data = xmalloc(16);
    be64_put(*data, st->count);
    be64_put(*data + 8, st->hash);
    *len = 16;
}

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    (void)index;
    if (len != 16)
        return -1;
    struct raftd_state *st = ctx;
    st->count = be64_get(data);
    st->hash = be64_get(data + 8);
    return 0;
}

struct node_sm raftd_state_machine(struct raftd_state *st)
{
    return (struct node_sm){ .ctx = st, .apply = sm_apply, .snapshot = sm_snapshot, .restore = sm_restore };
}

/* ---- the client service ------------------------------------------------------------------ */

struct service {
    struct node *node;
    struct raftd_state *state;
    struct raftd_opts opts;
    struct node_reply propose; /* "raftd.Propose" through the log */
};

static void reply_propose(struct rpc_call *call, Raftd__Error e, uint64_t index, uint64_t term,
                          uint64_t hash, uint32_t leader_id, const char *leader_addr)
{
    Raftd__ProposeReply r = RAFTD__PROPOSE_REPLY__INIT;
    r.error = e;
    r.index = index;
    r.term = term;
    r.applied_hash = hash;
    r.leader_id = leader_id;
    r.leader_addr = (char *)leader_addr;
    rpc_call_reply_msg(call, &r.base);
}

/* raftd.Propose's error reply: ProposeReply's Error with the leader hint. */
static void propose_failed(struct rpc_call *call, const struct node_failure *f, void *arg)
{
    (void)arg;
    static const Raftd__Error map[] = {
        [NODE_FAIL_NOT_LEADER] = RAFTD__ERROR__NOT_LEADER,
        [NODE_FAIL_LEADERSHIP_LOST] = RAFTD__ERROR__LEADERSHIP_LOST,
        [NODE_FAIL_OVERWRITTEN] = RAFTD__ERROR__OVERWRITTEN,
        [NODE_FAIL_SHUTDOWN] = RAFTD__ERROR__SHUTTING_DOWN,
        [NODE_FAIL_NO_SPACE] = RAFTD__ERROR__NO_SPACE,
    };
    reply_propose(call, map[f->kind], f->index, f->term, 0, f->leader_id, f->leader_addr);
}

static void on_proposed(struct rpc_call *call, enum node_result res, uint64_t index,
                        uint64_t term, const uint8_t *result, size_t len, void *arg)
{
    struct service *s = arg;
    if (res != NODE_OK)
        return; /* answered by propose_failed */
    const char *leader_addr;
    uint32_t leader_id = node_leader(s->node, &leader_addr);
    reply_propose(call, RAFTD__ERROR__OK, index, term, len == 8 ? be64_get(result) : 0, leader_id,
                  leader_addr);
}

static void handle_propose(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct service *s = arg;
    Raftd__ProposeRequest *r = raftd__propose_request__unpack(NULL, len, req);
    if (!r) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "raftd.Propose: request does not decode");
        return;
    }
    node_reply_propose(&s->propose, call, req, len, r->data.data, r->data.len, on_proposed, s);
    raftd__propose_request__free_unpacked(r, NULL);
}

static void handle_read_log(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct service *s = arg;
    Raftd__ReadLogRequest *r = raftd__read_log_request__unpack(NULL, len, req);
    if (!r) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "raftd.ReadLog: request does not decode");
        return;
    }
    size_t max = (size_t)(r->max ? MIN((uint64_t)r->max, (uint64_t)s->opts.read_log_max)
                                 : (uint64_t)s->opts.read_log_default);
    struct raft_entry *e;
    size_t n;
    bool compacted;
    if (node_read_log(s->node, r->from, max, &e, &n, &compacted) != 0) {
        raftd__read_log_request__free_unpacked(r, NULL);
        rpc_call_fail(call, RPC_APP_ERROR, "reading the log failed");
        return;
    }
    Raftd__ReadLogReply rep = RAFTD__READ_LOG_REPLY__INIT;
    Raftd__LogEntry *ents = xcalloc(n + 1, sizeof *ents);
    Raftd__LogEntry **ptrs = xcalloc(n + 1, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        raftd__log_entry__init(&ents[i]);
        ents[i].index = e[i].index;
        ents[i].term = e[i].term;
        ents[i].type = e[i].type;
        ents[i].data.data = e[i].data;
        ents[i].data.len = e[i].len;
        ptrs[i] = &ents[i];
    }
    struct node_status st;
    node_status(s->node, &st);
    rep.entries = ptrs;
    rep.n_entries = n;
    rep.compacted = compacted;
    rep.snapshot_index = st.snapshot_index;
    rep.commit_index = st.commit;
    rpc_call_reply_msg(call, &rep.base);
    raft_entries_free(e, n);
    free(e);
    free(ents);
    free(ptrs);
    raftd__read_log_request__free_unpacked(r, NULL);
}

static void handle_status(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    struct service *s = arg;
    node_status_reply(call, s->node, s->state->hash);
}

int raftd_check_opts(const void *opts, char *err, size_t errlen, void *arg)
{
    (void)arg;
    const struct raftd_opts *o = opts;
    if (o->read_log_default > o->read_log_max) {
        snprintf(err, errlen, "--read-log-default (%lld) must not exceed --read-log-max (%lld)",
                 (long long)o->read_log_default, (long long)o->read_log_max);
        return -1;
    }
    return 0;
}

uint64_t raftd_applied_hash(void *state) { return ((struct raftd_state *)state)->hash; }

void *raftd_service_start(const struct node_service_env *env, char *err, size_t errlen,
                          void *state)
{
    (void)err;
    (void)errlen;
    struct service *s = xmalloc(sizeof *s);
    *s = (struct service){ .node = env->node, .state = state };
    s->opts = *(const struct raftd_opts *)env->opts;
    s->propose = (struct node_reply){ env->node, "raftd.Propose", propose_failed, s };
    rpc_server_handle(env->srv, "raftd.Propose", handle_propose, s);
    rpc_server_handle(env->srv, "raftd.ReadLog", handle_read_log, s);
    /* node.Status under raftd's own name (the shape registers node.Status itself). */
    rpc_server_handle(env->srv, "raftd.Status", handle_status, s);
    return s;
}

void raftd_service_stop(void *s) { free(s); }
