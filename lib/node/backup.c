#include "node/backup.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "base/util.h"
#include "node.pb-c.h"
#include "node/node.h"
#include "rpc/rpc.h"

#define EXPIRE_CHECK_MS 5000

/* A snapshot held for the clients reading it. */
struct held {
    uint64_t id, index, term;
    uint8_t *data;
    size_t len;
    uint32_t crc;
    struct raft_membership members; /* n 0: not known at index */
    unsigned readers, finished;     /* saves answered with it; reads that reached its end */
    uint64_t used_ms;
    struct held *next;              /* newest first */
};

/* A node.SnapshotSave call until it is answered. */
struct save {
    struct node_backup *b;
    struct rpc_call *call;
    uint32_t max_bytes;
    bool ready;                     /* confirmed: the next take answers it */
    struct save *prev, *next;
};

struct node_backup {
    struct node *node;
    struct node_backup_config cfg;
    struct event *take_ev;          /* takes the snapshot, outside the node's processing */
    struct event *expire_ev;
    struct save *saves;
    struct held *held;
    struct rng rng;
};

/* ---- replies ------------------------------------------------------------------------------ */

static void save_unlink(struct save *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->b->saves = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

/* Answers a save that failed (b NULL: the node is gone, no leader hint) and frees it. */
static void save_fail(struct save *s, Node__AdminStatus status, const char *error, bool hint)
{
    Node__SnapshotSaveReply r = NODE__SNAPSHOT_SAVE_REPLY__INIT;
    r.status = status;
    r.error = (char *)error;
    const char *addr = "";
    r.leader_id = hint ? node_leader(s->b->node, &addr) : 0;
    r.leader_addr = (char *)addr;
    rpc_call_reply_msg(s->call, &r.base);
    save_unlink(s);
    free(s);
}

static void save_fail_result(struct save *s, enum node_result res)
{
    switch (res) {
    case NODE_NOT_LEADER:
    case NODE_LEADERSHIP_LOST:
        save_fail(s, NODE__ADMIN_STATUS__ADMIN_NOT_LEADER, "not the leader (or leadership moved): "
                  "ask the leader", true);
        break;
    case NODE_SHUTDOWN:
        save_fail(s, NODE__ADMIN_STATUS__ADMIN_FAILED, "the node is stopping", false);
        break;
    case NODE_NO_SPACE:
        save_fail(s, NODE__ADMIN_STATUS__ADMIN_BUSY, "a new leader cannot confirm its leadership "
                  "through the log: no space left on its data volume", true);
        break;
    default:
        save_fail(s, NODE__ADMIN_STATUS__ADMIN_BUSY, "leadership moved: retry", true);
        break;
    }
}

static void save_answer(struct save *s, struct held *h)
{
    Node__SnapshotSaveReply r = NODE__SNAPSHOT_SAVE_REPLY__INIT;
    Node__Member ms[RAFT_MAX_MEMBERS], *mp[RAFT_MAX_MEMBERS];
    r.status = NODE__ADMIN_STATUS__ADMIN_OK;
    r.error = "";
    const char *addr = "";
    r.leader_id = node_leader(s->b->node, &addr);
    r.leader_addr = (char *)addr;
    r.transfer_id = h->id;
    r.index = h->index;
    r.term = h->term;
    r.size = h->len;
    r.crc32c = h->crc;
    r.machine = (char *)s->b->cfg.machine;
    for (size_t i = 0; i < h->members.n; i++) {
        node__member__init(&ms[i]);
        ms[i].id = h->members.m[i].id;
        ms[i].addr = h->members.m[i].addr;
        ms[i].learner = !h->members.m[i].voter;
        mp[i] = &ms[i];
    }
    r.members = mp;
    r.n_members = h->members.n;
    struct node_status st;
    node_status(s->b->node, &st);
    r.taken_by = st.id;
    r.data.data = h->data;
    r.data.len = MIN(h->len, MIN(s->max_bytes ? s->max_bytes : NODE_BACKUP_CHUNK, NODE_BACKUP_CHUNK));
    h->readers++;
    if (r.data.len == h->len)
        h->finished++;
    rpc_call_reply_msg(s->call, &r.base);
    save_unlink(s);
    free(s);
}

/* ---- the held snapshots ------------------------------------------------------------------- */

static void held_drop(struct node_backup *b, struct held *h)
{
    for (struct held **p = &b->held; *p; p = &(*p)->next) {
        if (*p == h) {
            *p = h->next;
            break;
        }
    }
    free(h->data);
    free(h);
}

static struct held *held_find(struct node_backup *b, uint64_t id)
{
    for (struct held *h = b->held; h; h = h->next)
        if (h->id == id)
            return h;
    return NULL;
}

static void arm_expire(struct node_backup *b)
{
    if (b->held && !evtimer_pending(b->expire_ev, NULL)) {
        struct timeval tv = { EXPIRE_CHECK_MS / 1000, 0 };
        evtimer_add(b->expire_ev, &tv);
    }
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct node_backup *b = arg;
    uint64_t now = clock_mono_ms();
    for (struct held *h = b->held, *next; h; h = next) {
        next = h->next;
        if (now - h->used_ms >= NODE_BACKUP_IDLE_MS) {
            LOG_INFO("node", "backup: snapshot %016llx at index %llu let go after %d s unread",
                     (unsigned long long)h->id, (unsigned long long)h->index,
                     NODE_BACKUP_IDLE_MS / 1000);
            held_drop(b, h);
        }
    }
    arm_expire(b);
}

/* The state machine's snapshot now. Runs from its own event, never inside the node's
 * processing, so the state machine is exactly at the applied index (node_applied): every save
 * marked ready had its leadership confirmed at an index <= this one. */
static struct held *take(struct node_backup *b)
{
    struct held *h = xcalloc(1, sizeof *h);
    /* The state is about the last stored snapshot plus the log since: a large one takes the
     * loop for a while (about 1.3 s per GB here), which the followers are told of first. */
    struct node_status st;
    node_status(b->node, &st);
    node_grace(b->node, st.snapshot_bytes + st.raft_state_bytes);
    uint64_t t0 = clock_mono_ns();
    node_applied(b->node, &h->index, &h->term);
    b->cfg.sm->snapshot(b->cfg.sm->ctx, &h->data, &h->len);
    h->crc = crc32c(0, h->data, h->len);
    bool committed;
    if (node_membership_index(b->node, &committed) <= h->index) {
        h->members = *node_membership(b->node);
        for (size_t i = 0; i < h->members.n; i++)
            snprintf(h->members.m[i].addr, sizeof h->members.m[i].addr, "%s",
                     node_peer_addr(b->node, h->members.m[i].id));
    }
    do
        h->id = rng_next(&b->rng);
    while (h->id == 0 || held_find(b, h->id));
    h->used_ms = clock_mono_ms();
    /* Newest first; past the limit the oldest goes (its readers start again). */
    h->next = b->held;
    b->held = h;
    size_t n = 0;
    for (struct held *p = b->held, *next; p; p = next) {
        next = p->next;
        if (++n > NODE_BACKUP_HELD)
            held_drop(b, p);
    }
    arm_expire(b);
    LOG_INFO("node", "backup: snapshot %016llx at index %llu (term %llu), %zu bytes, taken in "
             "%llu ms", (unsigned long long)h->id, (unsigned long long)h->index,
             (unsigned long long)h->term, h->len, (unsigned long long)(clock_mono_ns() - t0) / 1000000);
    return h;
}

static void on_take(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct node_backup *b = arg;
    bool any = false;
    for (struct save *s = b->saves; s; s = s->next)
        any |= s->ready;
    if (!any)
        return;
    /* First: take runs the node's processing (its grace), whose callbacks may answer other
     * saves or confirm more; every save ready after it is answered with this snapshot. */
    struct held *h = take(b);
    for (struct save *s = b->saves, *next; s; s = next) {
        next = s->next;
        if (s->ready)
            save_answer(s, h);
    }
}

/* ---- node.SnapshotSave -------------------------------------------------------------------- */

static void confirmed(struct save *s, enum node_result res)
{
    if (res != NODE_OK) {
        save_fail_result(s, res);
        return;
    }
    s->ready = true;
    event_active(s->b->take_ev, EV_TIMEOUT, 0);
}

static void on_read(enum node_result res, uint64_t index, void *arg)
{
    (void)index;
    confirmed(arg, res);
}

static void on_barrier(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                       size_t len, void *arg)
{
    (void)index, (void)term, (void)result, (void)len;
    confirmed(arg, res);
}

static void handle_save(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct node_backup *b = arg;
    Node__SnapshotSaveRequest *q = node__snapshot_save_request__unpack(NULL, len, req);
    if (!q) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "malformed node.SnapshotSaveRequest");
        return;
    }
    uint32_t max_bytes = q->max_bytes;
    node__snapshot_save_request__free_unpacked(q, NULL);
    if (node_forward_unless_leader(b->node, call, "node.SnapshotSave", req, len))
        return;
    struct save *s = xcalloc(1, sizeof *s);
    *s = (struct save){ b, call, max_bytes, false, NULL, b->saves };
    if (b->saves)
        b->saves->prev = s;
    b->saves = s;
    /* At least every write acknowledged before this call: a ReadIndex round, or on a new
     * leader that cannot confirm reads yet, a barrier through the log. */
    enum node_result res = node_read(b->node, on_read, s);
    if (res == NODE_NOT_READY && b->cfg.barrier) {
        uint64_t index, term;
        res = node_propose(b->node, b->cfg.barrier, b->cfg.barrier_len, on_barrier, s, &index,
                           &term);
        if (res == NODE_OK)
            LOG_INFO("node", "backup: a new leader: confirming through the log (index %llu)",
                     (unsigned long long)index);
    } else if (res == NODE_NOT_READY) {
        save_fail(s, NODE__ADMIN_STATUS__ADMIN_BUSY, "a new leader has not committed an entry of "
                  "its term yet: retry shortly", true);
        return;
    }
    if (res != NODE_OK)
        save_fail_result(s, res);
}

/* ---- node.SnapshotChunk ------------------------------------------------------------------- */

static void chunk_reply(struct rpc_call *call, Node__AdminStatus status, const char *error,
                        const uint8_t *data, size_t len)
{
    Node__SnapshotChunkReply r = NODE__SNAPSHOT_CHUNK_REPLY__INIT;
    r.status = status;
    r.error = (char *)error;
    r.data.data = (uint8_t *)data;
    r.data.len = len;
    rpc_call_reply_msg(call, &r.base);
}

static void handle_chunk(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct node_backup *b = arg;
    Node__SnapshotChunkRequest *q = node__snapshot_chunk_request__unpack(NULL, len, req);
    if (!q) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "malformed node.SnapshotChunkRequest");
        return;
    }
    uint64_t id = q->transfer_id, offset = q->offset;
    size_t max = q->max_bytes ? MIN(q->max_bytes, NODE_BACKUP_CHUNK) : NODE_BACKUP_CHUNK;
    node__snapshot_chunk_request__free_unpacked(q, NULL);
    struct held *h = held_find(b, id);
    if (!h) {
        /* Taken by the leader, which this member may be relaying for. */
        if (node_forward_unless_leader(b->node, call, "node.SnapshotChunk", req, len))
            return;
        char err[256];
        snprintf(err, sizeof err, "no snapshot %016llx is held here: it was read to its end, "
                 "replaced by newer saves or let go unread, or leadership moved; save again",
                 (unsigned long long)id);
        chunk_reply(call, NODE__ADMIN_STATUS__ADMIN_INVALID, err, NULL, 0);
        return;
    }
    if (offset > h->len) {
        chunk_reply(call, NODE__ADMIN_STATUS__ADMIN_INVALID, "offset beyond the snapshot's end",
                    NULL, 0);
        return;
    }
    size_t n = (size_t)MIN(max, h->len - offset);
    h->used_ms = clock_mono_ms();
    chunk_reply(call, NODE__ADMIN_STATUS__ADMIN_OK, "", h->data + offset, n);
    if (n > 0 && offset + n == h->len && ++h->finished >= h->readers)
        held_drop(b, h); /* every save it answered has read it all */
}

/* ---- life cycle --------------------------------------------------------------------------- */

struct node_backup *node_backup_new(struct event_base *base, struct rpc_server *srv,
                                    struct node *node, const struct node_backup_config *c)
{
    struct node_backup *b = xcalloc(1, sizeof *b);
    b->node = node;
    b->cfg = *c;
    rng_seed(&b->rng, clock_wall_ns() ^ clock_mono_ns());
    b->take_ev = event_new(base, -1, 0, on_take, b);
    b->expire_ev = evtimer_new(base, on_expire, b);
    rpc_server_handle(srv, "node.SnapshotSave", handle_save, b);
    rpc_server_handle(srv, "node.SnapshotChunk", handle_chunk, b);
    return b;
}

void node_backup_free(struct node_backup *b)
{
    if (!b)
        return;
    while (b->saves) /* confirmed, not yet taken */
        save_fail(b->saves, NODE__ADMIN_STATUS__ADMIN_FAILED, "the node is stopping", false);
    while (b->held)
        held_drop(b, b->held);
    event_free(b->take_ev);
    event_free(b->expire_ev);
    free(b);
}
