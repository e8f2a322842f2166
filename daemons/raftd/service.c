#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
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
    return (struct node_sm){ st, sm_apply, sm_snapshot, sm_restore };
}

/* ---- the client service ------------------------------------------------------------------ */

struct service {
    struct node *node;
    struct raftd_state *state;
};

static void reply_propose(struct rpc_call *call, Raftd__Error e, uint64_t index, uint64_t term,
                          uint64_t hash, struct node *n)
{
    Raftd__ProposeReply r = RAFTD__PROPOSE_REPLY__INIT;
    r.error = e;
    r.index = index;
    r.term = term;
    r.applied_hash = hash;
    const char *leader_addr;
    r.leader_id = node_leader(n, &leader_addr);
    r.leader_addr = (char *)leader_addr;
    rpc_call_reply_msg(call, &r.base);
}

struct propose_ctx {
    struct rpc_call *call;
    struct node *node;
};

static void on_proposed(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                        size_t len, void *arg)
{
    struct propose_ctx *p = arg;
    static const Raftd__Error map[] = {
        [NODE_OK] = RAFTD__ERROR__OK, [NODE_NOT_LEADER] = RAFTD__ERROR__NOT_LEADER,
        [NODE_LEADERSHIP_LOST] = RAFTD__ERROR__LEADERSHIP_LOST,
        [NODE_OVERWRITTEN] = RAFTD__ERROR__OVERWRITTEN, [NODE_SHUTDOWN] = RAFTD__ERROR__SHUTTING_DOWN,
    };
    reply_propose(p->call, map[res], index, term, len == 8 ? be64_get(result) : 0, p->node);
    free(p);
}

static void handle_propose(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct service *s = arg;
    Raftd__ProposeRequest *r = raftd__propose_request__unpack(NULL, len, req);
    if (!r) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "raftd.Propose: request does not decode");
        return;
    }
    struct propose_ctx *p = xmalloc(sizeof *p);
    *p = (struct propose_ctx){ call, s->node };
    uint64_t index, term;
    enum node_result res = node_propose(s->node, r->data.data, r->data.len, on_proposed, p, &index,
                                        &term);
    if (res != NODE_OK) {
        free(p);
        if (res == NODE_NO_SPACE)
            reply_propose(call, RAFTD__ERROR__NO_SPACE, 0, 0, 0, s->node);
        else if (!node_forward(s->node, call, "raftd.Propose", req, len))
            reply_propose(call, RAFTD__ERROR__NOT_LEADER, 0, 0, 0, s->node);
    }
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
    size_t max = r->max ? MIN(r->max, 10000u) : 1000;
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
    Node__Status r = NODE__STATUS__INIT;
    node_status_pb(s->node, s->state->hash, &r);
    rpc_call_reply_msg(call, &r.base);
    node_status_pb_release(&r);
}

struct service *raftd_service_new(struct rpc_server *srv, struct node *n, struct raftd_state *st)
{
    struct service *s = xmalloc(sizeof *s);
    *s = (struct service){ n, st };
    rpc_server_handle(srv, "raftd.Propose", handle_propose, s);
    rpc_server_handle(srv, "raftd.ReadLog", handle_read_log, s);
    rpc_server_handle(srv, "raftd.Status", handle_status, s);
    return s;
}

void raftd_service_free(struct service *s) { free(s); }
