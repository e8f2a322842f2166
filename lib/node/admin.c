#include "node/admin.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "node.pb-c.h"
#include "node/node.h"
#include "rpc/rpc.h"

#define TRANSFER_POLL_MS 5

/* A node.TransferLeader call waiting for this node to stop leading. */
struct transfer {
    struct rpc_call *call;
    uint32_t target;
    struct transfer *next;
};

struct node_admin {
    struct node *node;
    struct event *poll_ev; /* watches the transfers while any waits */
    struct transfer *transfers;
};

/* ---- replies ------------------------------------------------------------------------------ */

/* The membership as this node sees it, into r (initialized); free with members_release. */
static void members_fill(struct node *n, Node__MembersReply *r)
{
    const struct raft_membership *m = node_membership(n);
    /* (none on a node that joins, before it learns the membership: members stays NULL) */
    Node__Member *ms = m->n ? xcalloc(m->n, sizeof *ms) : NULL;
    r->members = m->n ? xcalloc(m->n, sizeof *r->members) : NULL;
    for (size_t i = 0; i < m->n; i++) {
        node__member__init(&ms[i]);
        ms[i].id = m->m[i].id;
        ms[i].addr = (char *)node_peer_addr(n, m->m[i].id);
        ms[i].learner = !m->m[i].voter;
        ms[i].match_index = node_peer_match(n, m->m[i].id);
        r->members[i] = &ms[i];
    }
    r->n_members = m->n;
    const char *addr;
    r->leader_id = node_leader(n, &addr);
    r->leader_addr = (char *)addr;
    bool committed;
    r->config_index = node_membership_index(n, &committed);
    r->committed = committed;
    struct node_status st;
    node_status(n, &st);
    r->answered_by = st.id;
}

static void members_release(Node__MembersReply *r)
{
    if (r->members)
        free(r->members[0]);
    free(r->members);
}

/* Answers call with status and error; with_members: the membership after a change. */
static void admin_reply(struct node *n, struct rpc_call *call, Node__AdminStatus status,
                        const char *error, bool with_members)
{
    Node__AdminReply r = NODE__ADMIN_REPLY__INIT;
    Node__MembersReply m = NODE__MEMBERS_REPLY__INIT;
    r.status = status;
    r.error = (char *)(error ? error : "");
    const char *addr = "";
    r.leader_id = n ? node_leader(n, &addr) : 0;
    r.leader_addr = (char *)addr;
    if (with_members) {
        members_fill(n, &m);
        r.members = &m;
    }
    rpc_call_reply_msg(call, &r.base);
    if (with_members)
        members_release(&m);
}

/* A refusal of the core, as the reply says it. */
static Node__AdminStatus status_of(int rc)
{
    switch (rc) {
    case RAFT_ERR_NOT_LEADER: return NODE__ADMIN_STATUS__ADMIN_NOT_LEADER;
    case RAFT_ERR_BUSY: return NODE__ADMIN_STATUS__ADMIN_BUSY;
    case RAFT_ERR_LAGGING: return NODE__ADMIN_STATUS__ADMIN_LAGGING;
    case RAFT_ERR_INVALID: return NODE__ADMIN_STATUS__ADMIN_INVALID;
    default: return NODE__ADMIN_STATUS__ADMIN_FAILED;
    }
}

/* ---- node.Members ------------------------------------------------------------------------ */

static void handle_members(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct node_admin *a = arg;
    if (node_forward_unless_leader(a->node, call, "node.Members", req, len))
        return;
    Node__MembersReply r = NODE__MEMBERS_REPLY__INIT;
    members_fill(a->node, &r);
    rpc_call_reply_msg(call, &r.base);
    members_release(&r);
}

/* ---- node.ChangeMember ------------------------------------------------------------------- */

struct change {
    struct node_admin *admin;
    struct rpc_call *call;
    char what[64];
};

static void on_changed(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                       size_t len, void *arg)
{
    (void)term, (void)result, (void)len;
    struct change *c = arg;
    struct node *n = c->admin->node;
    switch (res) {
    case NODE_OK:
        LOG_INFO("node", "membership change applied at index %llu: %s", (unsigned long long)index,
                 c->what);
        admin_reply(n, c->call, NODE__ADMIN_STATUS__ADMIN_OK, NULL, true);
        break;
    case NODE_LEADERSHIP_LOST:
        admin_reply(n, c->call, NODE__ADMIN_STATUS__ADMIN_UNCERTAIN,
                    "leadership moved before the change applied: it may still commit "
                    "(member list tells)", false);
        break;
    case NODE_SHUTDOWN:
        admin_reply(NULL, c->call, NODE__ADMIN_STATUS__ADMIN_FAILED, "the node is stopping", false);
        break;
    default:
        admin_reply(n, c->call, NODE__ADMIN_STATUS__ADMIN_FAILED,
                    "a new leader's entry took its place: the change did not happen", false);
        break;
    }
    free(c);
}

static const char *op_name(uint32_t op)
{
    static const char *const names[] = { "add learner", "promote", "remove" };
    return op < ARRAY_LEN(names) ? names[op] : "?";
}

static void handle_change(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct node_admin *a = arg;
    Node__ChangeMemberRequest *q = node__change_member_request__unpack(NULL, len, req);
    if (!q) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "malformed node.ChangeMemberRequest");
        return;
    }
    if (q->op > RAFT_CHANGE_REMOVE) {
        node__change_member_request__free_unpacked(q, NULL);
        rpc_call_fail(call, RPC_BAD_REQUEST, "node.ChangeMember: op must be 0 (add), 1 (promote) "
                                             "or 2 (remove)");
        return;
    }
    if (node_forward_unless_leader(a->node, call, "node.ChangeMember", req, len)) {
        node__change_member_request__free_unpacked(q, NULL);
        return;
    }
    struct change *c = xmalloc(sizeof *c);
    *c = (struct change){ a, call, "" };
    snprintf(c->what, sizeof c->what, "%s %u%s%s", op_name(q->op), q->id, q->addr[0] ? " at " : "",
             q->addr);
    char err[256] = "";
    int rc = node_change_member(a->node, (enum raft_change_type)q->op, q->id, q->addr, on_changed,
                                c, err, sizeof err);
    if (rc != RAFT_OK) {
        admin_reply(a->node, call, status_of(rc), err, false);
        free(c);
    } else {
        LOG_INFO("node", "membership change proposed: %s", c->what);
    }
    node__change_member_request__free_unpacked(q, NULL);
}

/* ---- node.TransferLeader ----------------------------------------------------------------- */

static void arm_poll(struct node_admin *a)
{
    struct timeval tv = { 0, TRANSFER_POLL_MS * 1000 };
    evtimer_add(a->poll_ev, &tv);
}

/* Answers the transfers that ended: this node no longer leads (done), or it leads with no
 * transfer under way (abandoned). */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct node_admin *a = arg;
    struct node_status st;
    node_status(a->node, &st);
    bool leading = st.soft.role == RAFT_LEADER;
    if (leading && node_transfer_target(a->node) != RAFT_NONE) {
        arm_poll(a);
        return;
    }
    while (a->transfers) {
        struct transfer *t = a->transfers;
        a->transfers = t->next;
        if (leading) {
            char err[128];
            snprintf(err, sizeof err, "abandoned: member %u did not take over within an election "
                     "timeout", t->target);
            admin_reply(a->node, t->call, NODE__ADMIN_STATUS__ADMIN_FAILED, err, false);
        } else {
            LOG_INFO("node", "leadership handed to member %u", t->target);
            admin_reply(a->node, t->call, NODE__ADMIN_STATUS__ADMIN_OK, NULL, false);
        }
        free(t);
    }
}

static void handle_transfer(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct node_admin *a = arg;
    Node__TransferLeaderRequest *q = node__transfer_leader_request__unpack(NULL, len, req);
    if (!q) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "malformed node.TransferLeaderRequest");
        return;
    }
    uint32_t target = q->id;
    node__transfer_leader_request__free_unpacked(q, NULL);
    if (node_forward_unless_leader(a->node, call, "node.TransferLeader", req, len))
        return;
    int rc = node_transfer_leader(a->node, target);
    struct node_status st;
    node_status(a->node, &st);
    if (rc == RAFT_OK && target == st.id) {
        admin_reply(a->node, call, NODE__ADMIN_STATUS__ADMIN_OK, NULL, false);
        return;
    }
    if (rc != RAFT_OK) {
        admin_reply(a->node, call, status_of(rc),
                    rc == RAFT_ERR_INVALID ? "not a voter of this cluster" : "not the leader",
                    false);
        return;
    }
    LOG_INFO("node", "handing leadership to member %u", target);
    struct transfer *t = xmalloc(sizeof *t);
    *t = (struct transfer){ call, target, a->transfers };
    a->transfers = t;
    arm_poll(a);
}

/* ---- life cycle ------------------------------------------------------------------------- */

struct node_admin *node_admin_new(struct event_base *base, struct rpc_server *srv,
                                  struct node *node)
{
    struct node_admin *a = xcalloc(1, sizeof *a);
    a->node = node;
    a->poll_ev = evtimer_new(base, on_poll, a);
    rpc_server_handle(srv, "node.Members", handle_members, a);
    rpc_server_handle(srv, "node.ChangeMember", handle_change, a);
    rpc_server_handle(srv, "node.TransferLeader", handle_transfer, a);
    return a;
}

void node_admin_free(struct node_admin *a)
{
    if (!a)
        return;
    while (a->transfers) {
        struct transfer *t = a->transfers;
        a->transfers = t->next;
        admin_reply(NULL, t->call, NODE__ADMIN_STATUS__ADMIN_FAILED, "the node is stopping", false);
        free(t);
    }
    event_free(a->poll_ev);
    free(a);
}
