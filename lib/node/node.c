#include "node/node.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/u64map.h"
#include "base/util.h"
#include "node/codec.h"
#include "rpc/rpc.h"
#include "storage/storage.h"

#define SPACE_CHECK_MS 100    /* how often the data volume's free space is looked at */
#define SAVE_RETRY_MS 200     /* how often a ready that found no room is saved again */
#define COMPACT_RETRY_MS 1000 /* how often a snapshot that found no room is tried again */

struct pending {
    uint64_t term;
    node_done_fn done;
    void *arg;
};

/* A client call relayed to the leader (node_forward), until its reply comes back. */
struct relay {
    struct node *node;
    struct rpc_call *call;
    struct rpc_client *to;
    uint64_t call_id;
    struct relay *prev, *next;
};

struct read {
    node_read_fn done;
    void *arg;
    uint64_t index; /* once confirmed: serve when applied reaches it */
};

struct node {
    struct event_base *base;
    struct node_config cfg;
    struct node_peer *peers;
    uint32_t *ids;
    struct rpc_client **clients; /* per peer (NULL for this node) */
    struct node_sm sm;
    struct storage *store;
    struct raft *r;
    struct event *tick_ev, *process_ev;
    struct u64map pending; /* index -> struct pending */
    struct u64map reads;   /* read id -> struct read, until a quorum confirms it */
    struct read *confirmed; /* confirmed reads waiting for the applies, FIFO by index */
    size_t n_confirmed, cap_confirmed;
    uint64_t next_read_id;
    uint64_t snapshots_installed, snapshots_taken;
    bool was_leader;
    uint64_t durable_term; /* the hard state's term and vote as last made durable */
    uint32_t durable_vote;
    struct relay *relays;  /* node_forward calls in flight */
    unsigned ticks_unprocessed; /* ticks since process() last ran */
    struct rpc_server *srv;
    uint64_t heard_ms;          /* when a message from the known leader last arrived */
    uint64_t recover_term; /* the recovery state last made durable, for its log lines */
    bool recovering;
    /* A full data volume (docs/RAFT.md, "Storage"). While an episode lasts, proposals are
     * refused (NODE_NO_SPACE); it is logged once as it starts (WARN) and once as it ends. */
    bool no_space;           /* an episode is on: any of the three causes below */
    bool space_low;          /* the volume is under its reserve (checked every SPACE_CHECK_MS) */
    bool holding;            /* `held` found no room: the core waits between ready and advance */
    bool compact_blocked;    /* the last snapshot found no room (tried again after compact_after) */
    struct raft_ready held;
    struct event *retry_ev;  /* saves `held` again, every SAVE_RETRY_MS */
    uint64_t space_checked_ms, compact_after_ms;
    char space_why[512];     /* what found the volume full, for the WARN */
};

const char *node_result_name(enum node_result r)
{
    static const char *const names[] = { "OK", "NOT_LEADER", "LEADERSHIP_LOST", "OVERWRITTEN",
                                         "SHUTDOWN", "NOT_READY", "NO_SPACE" };
    return (unsigned)r < ARRAY_LEN(names) ? names[r] : "?";
}

/* A node that cannot persist cannot keep any promise: stop at once, loudly. */
static void fatal(struct node *n, const char *what, const char *err)
{
    LOG_ERROR("node", "fatal: %s: %s", what, err);
    (void)n;
    abort();
}

static void kick(struct node *n) { event_active(n->process_ev, EV_READ, 0); }

/* ---- a full data volume ---------------------------------------------------------------------- */

/* Starts or ends the no-space episode as its causes come and go, logging each change once. */
static void space_update(struct node *n)
{
    bool on = n->space_low || n->holding || n->compact_blocked;
    if (on == n->no_space)
        return;
    n->no_space = on;
    if (on) {
        LOG_WARN("node", "no space left on the data volume: %s; refusing new writes until there "
                         "is room (reads and Raft go on)", n->space_why);
    } else {
        uint64_t avail = 0, reserve = 0;
        storage_space(n->store, &avail, &reserve);
        LOG_INFO("node", "space is back on the data volume (%s: %llu MiB free): writes resume",
                 n->cfg.data_dir, (unsigned long long)(avail >> 20));
    }
}

/* Compares the volume's free space with its reserve. The episode ends only with an eighth of
 * the reserve to spare, so that a volume hovering at the line does not flip it at every check. */
static void check_space(struct node *n)
{
    n->space_checked_ms = clock_mono_ms();
    uint64_t avail, reserve;
    if (storage_space(n->store, &avail, &reserve) != 0)
        return; /* keep the last answer: a failed statvfs says nothing about the space */
    bool low = avail < (n->space_low ? reserve + reserve / 8 : reserve);
    if (low && !n->space_low)
        snprintf(n->space_why, sizeof n->space_why, "%s: %llu KiB free, under the reserve of "
                 "%llu KiB", n->cfg.data_dir, (unsigned long long)(avail >> 10),
                 (unsigned long long)(reserve >> 10));
    n->space_low = low;
    space_update(n);
}

static size_t peer_index(const struct node *n, uint32_t id)
{
    for (size_t i = 0; i < n->cfg.n_peers; i++)
        if (n->peers[i].id == id)
            return i;
    return SIZE_MAX;
}

/* ---- proposals -------------------------------------------------------------------------- */

static void finish(struct pending *p, enum node_result res, uint64_t index, const uint8_t *result,
                   size_t len)
{
    p->done(res, index, p->term, result, len, p->arg);
    free(p);
}

struct fail_ctx {
    enum node_result res;
    uint64_t *keys;
    size_t n;
};

static void collect_key(uint64_t key, void *val, void *arg)
{
    (void)val;
    struct fail_ctx *f = arg;
    f->keys[f->n++] = key;
}

/* Fails every pending proposal (leadership lost, or shutting down). */
static void fail_all(struct node *n, enum node_result res)
{
    if (n->pending.len == 0)
        return;
    struct fail_ctx f = { res, xmalloc(n->pending.len * sizeof(uint64_t)), 0 };
    u64map_each(&n->pending, collect_key, &f);
    for (size_t i = 0; i < f.n; i++) {
        struct pending *p = u64map_del(&n->pending, f.keys[i]);
        if (p)
            finish(p, res, f.keys[i], NULL, 0);
    }
    free(f.keys);
}

enum node_result node_propose(struct node *n, const uint8_t *cmd, size_t len, node_done_fn done,
                              void *arg, uint64_t *index, uint64_t *term)
{
    /* Refused before the core sees it, so the leader never holds entries it cannot store. */
    if (n->no_space && raft_soft_state(n->r).role == RAFT_LEADER)
        return NODE_NO_SPACE;
    if (n->holding) /* a follower that cannot store: not a state change to ask the core for */
        return NODE_NOT_LEADER;
    if (raft_propose(n->r, cmd, len, index, term) != RAFT_OK)
        return NODE_NOT_LEADER;
    struct pending *p = xmalloc(sizeof *p);
    *p = (struct pending){ *term, done, arg };
    struct pending *old = u64map_get(&n->pending, *index);
    if (old) { /* an earlier proposal at this index (older term) can no longer commit there */
        u64map_del(&n->pending, *index);
        finish(old, NODE_OVERWRITTEN, *index, NULL, 0);
    }
    u64map_put(&n->pending, *index, p);
    kick(n);
    return NODE_OK;
}

/* ---- reads ------------------------------------------------------------------------------------ */

enum node_result node_read(struct node *n, node_read_fn done, void *arg)
{
    if (n->holding) /* cannot ask the core (between ready and advance), nor confirm leadership */
        return NODE_NOT_LEADER;
    uint64_t id = ++n->next_read_id;
    int rc = raft_read_index(n->r, id);
    if (rc == RAFT_ERR_NOT_LEADER)
        return NODE_NOT_LEADER;
    if (rc != RAFT_OK)
        return NODE_NOT_READY;
    struct read *rd = xmalloc(sizeof *rd);
    *rd = (struct read){ done, arg, 0 };
    u64map_put(&n->reads, id, rd);
    kick(n);
    return NODE_OK;
}

/* The core confirmed these reads: they wait for the applies (indexes never decrease). */
static void reads_confirmed(struct node *n, const struct raft_read *reads, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct read *rd = u64map_del(&n->reads, reads[i].id);
        if (!rd)
            continue;
        if (n->n_confirmed == n->cap_confirmed) {
            n->cap_confirmed = n->cap_confirmed ? 2 * n->cap_confirmed : 16;
            n->confirmed = xrealloc(n->confirmed, n->cap_confirmed * sizeof *n->confirmed);
        }
        rd->index = reads[i].index;
        n->confirmed[n->n_confirmed++] = *rd;
        free(rd);
    }
}

/* Answers the confirmed reads the state machine has caught up with. */
static void serve_reads(struct node *n)
{
    uint64_t applied = raft_applied(n->r);
    size_t done = 0;
    while (done < n->n_confirmed && n->confirmed[done].index <= applied)
        done++;
    if (done == 0)
        return;
    struct read *batch = xmalloc(done * sizeof *batch); /* callbacks may ask for new reads */
    memcpy(batch, n->confirmed, done * sizeof *batch);
    n->n_confirmed -= done;
    memmove(n->confirmed, n->confirmed + done, n->n_confirmed * sizeof *n->confirmed);
    for (size_t i = 0; i < done; i++)
        batch[i].done(NODE_OK, batch[i].arg);
    free(batch);
}

static void collect_read(uint64_t key, void *val, void *arg)
{
    (void)key;
    struct read *rd = val, **list = arg;
    **list = *rd;
    (*list)++;
    free(rd);
}

/* Fails every read not yet answered (leadership lost, or shutting down). */
static void fail_reads(struct node *n, enum node_result res)
{
    size_t total = n->reads.len + n->n_confirmed;
    if (total == 0)
        return;
    struct read *all = xmalloc(total * sizeof *all), *end = all;
    memcpy(end, n->confirmed, n->n_confirmed * sizeof *all);
    end += n->n_confirmed;
    n->n_confirmed = 0;
    u64map_each(&n->reads, collect_read, &end);
    u64map_free(&n->reads);
    for (struct read *rd = all; rd < end; rd++)
        rd->done(res, rd->arg);
    free(all);
}

/* ---- relaying client calls to the leader ----------------------------------------------------- */

/* The relay's time: the client's clerk gives up on its attempt after about a second plus the
 * time its request takes to move, so the relay need not outlive that by much. */
#define RELAY_TIMEOUT_MS 5000
#define RELAY_BYTES_PER_MS 32768

static void relay_unlink(struct relay *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        r->node->relays = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void on_relayed(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                       void *arg)
{
    struct relay *r = arg;
    relay_unlink(r);
    if (st == RPC_OK)
        rpc_call_reply(r->call, payload, len);
    else
        rpc_call_fail(r->call, st, error);
    free(r);
}

bool node_forward(struct node *n, struct rpc_call *call, const char *method, const uint8_t *req,
                  size_t len)
{
    uint32_t leader = raft_soft_state(n->r).leader;
    size_t k = peer_index(n, leader);
    if (rpc_call_forwarded(call) || leader == n->cfg.id || k == SIZE_MAX || !n->clients[k])
        return false;
    struct relay *r = xcalloc(1, sizeof *r);
    *r = (struct relay){ n, call, n->clients[k], 0, NULL, n->relays };
    if (n->relays)
        n->relays->prev = r;
    n->relays = r;
    r->call_id = rpc_client_forward(r->to, method, req, len,
                                    RELAY_TIMEOUT_MS + len / RELAY_BYTES_PER_MS, on_relayed, r);
    return true;
}

static void fail_relays(struct node *n)
{
    while (n->relays) {
        struct relay *r = n->relays;
        relay_unlink(r);
        rpc_client_cancel(r->to, r->call_id);
        rpc_call_fail(r->call, RPC_SHUTTING_DOWN, "the node is stopping");
        free(r);
    }
}

/* ---- processing the core's output -------------------------------------------------------- */

/* Whether message m may leave before this ready is durable. Only the leader's replication
 * traffic may: it promises nothing (the core counts the leader's own entries toward commitment
 * only once they are durable), as etcd's leader writes its log in parallel with replicating it.
 * Votes and acknowledgements always wait for the fsync; so does everything while the term or
 * vote is changing. */
static bool may_send_early(const struct node *n, const struct raft_ready *rd, const struct raft_msg *m)
{
    if (rd->soft_state.role != RAFT_LEADER)
        return false;
    if (rd->hard_state_changed &&
        (rd->hard_state.term != n->durable_term || rd->hard_state.vote != n->durable_vote))
        return false;
    return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT;
}

/* Sends the messages selected by early (true: those that may go before the fsync; false: the
 * others), then flushes them to the sockets at once rather than when the loop next runs: early
 * ones so that followers write while the leader does, late ones (acknowledgements) so that they
 * do not wait for this node's applies. */
static void send_msgs(struct node *n, const struct raft_ready *rd, bool early)
{
    const struct raft_msg *msgs = rd->msgs;
    for (size_t i = 0; i < rd->n_msgs; i++) {
        if (may_send_early(n, rd, &msgs[i]) != early)
            continue;
        size_t k = peer_index(n, msgs[i].to);
        if (k == SIZE_MAX || !n->clients[k])
            continue;
        uint8_t *buf;
        size_t len = node_msg_pack(&msgs[i], &buf);
        /* Dropped when disconnected or backed up: Raft retransmits. */
        rpc_client_send(n->clients[k], "raft.Message", buf, len);
        free(buf);
    }
    for (size_t k = 0; k < n->cfg.n_peers; k++)
        if (n->clients[k])
            rpc_client_flush(n->clients[k]);
}

static void apply_committed(struct node *n, const struct raft_entry *e)
{
    uint8_t *result = NULL;
    size_t rlen = 0;
    if (e->type == RAFT_ENTRY_NORMAL)
        n->sm.apply(n->sm.ctx, e->index, e->data, e->len, &result, &rlen);
    struct pending *p = u64map_del(&n->pending, e->index);
    if (p)
        finish(p, p->term == e->term ? NODE_OK : NODE_OVERWRITTEN, e->index, result, rlen);
    free(result);
}

/* Takes a snapshot once the persisted Raft state outgrows max_raft_state. */
static void maybe_snapshot(struct node *n)
{
    if (!n->cfg.max_raft_state || storage_raft_state_size(n->store) < n->cfg.max_raft_state)
        return;
    uint64_t index = raft_applied(n->r), term;
    if (index <= raft_snapshot_index(n->r) || raft_term_at(n->r, index, &term) != RAFT_OK)
        return;
    if (n->compact_blocked && clock_mono_ms() < n->compact_after_ms)
        return;
    uint8_t *data;
    size_t len;
    n->sm.snapshot(n->sm.ctx, &data, &len);
    char err[512];
    /* The store first, then the core: a snapshot that finds no room leaves both as they were
     * (the log keeps growing meanwhile, and the node refuses new writes). */
    int rc = storage_compact(n->store, index, term, data, len, err, sizeof err);
    free(data);
    if (rc == STORAGE_NO_SPACE) {
        n->compact_blocked = true;
        n->compact_after_ms = clock_mono_ms() + COMPACT_RETRY_MS;
        snprintf(n->space_why, sizeof n->space_why, "%s", err);
        space_update(n);
        return;
    }
    if (rc != 0)
        fatal(n, "storing a snapshot", err);
    if (raft_compact(n->r, index, &term) != RAFT_OK) /* index <= applied <= stable, after advance */
        fatal(n, "compacting the log", "the core refused a snapshot already stored");
    if (n->compact_blocked) {
        n->compact_blocked = false;
        space_update(n);
    }
    n->snapshots_taken++;
    LOG_DEBUG("node", "snapshot at index %llu (%zu bytes)", (unsigned long long)index, len);
}

/* One line per step of the recovery of a lost store (see raft_hard_state.recovering). */
static void log_recovery(struct node *n, const struct raft_hard_state *hs)
{
    if (hs->recovering && hs->recover_term && !n->recover_term)
        LOG_INFO("node", "recovery: learnt every member's term; now in term %llu, voting again "
                 "once the log holds an entry of term %llu or later",
                 (unsigned long long)hs->term, (unsigned long long)hs->recover_term);
    else if (!hs->recovering && n->recovering)
        LOG_INFO("node", "recovery complete: the log holds an entry of term %llu; voting again",
                 (unsigned long long)n->recover_term);
    n->recovering = hs->recovering;
    n->recover_term = hs->recover_term;
}

/* Steps 3 and 4 of a ready whose save succeeded: the messages that depend on it, the applies,
 * the role change, the reads, then raft_advance and a snapshot when due. */
static void after_save(struct node *n, struct raft_ready *rd)
{
    if (rd->hard_state_changed) {
        n->durable_term = rd->hard_state.term;
        n->durable_vote = rd->hard_state.vote;
        log_recovery(n, &rd->hard_state);
    }
    /* 3. everything else */
    send_msgs(n, rd, false);
    /* 4. apply */
    if (rd->has_snapshot) {
        if (n->sm.restore(n->sm.ctx, rd->snapshot_data, rd->snapshot_len) != 0)
            fatal(n, "restoring a received snapshot", "invalid snapshot data");
        n->snapshots_installed++;
        LOG_INFO("node", "installed snapshot at index %llu from the leader",
                 (unsigned long long)rd->snapshot.index);
    }
    for (size_t i = 0; i < rd->n_committed; i++)
        apply_committed(n, &rd->committed[i]);
    if (rd->soft_state_changed) {
        bool leader = rd->soft_state.role == RAFT_LEADER;
        if (rd->soft_state.role == RAFT_PRECANDIDATE || rd->soft_state.role == RAFT_CANDIDATE)
            LOG_INFO("node", "%s in term %llu: last heard from a leader %lld ms ago (-1: never)",
                     raft_role_name(rd->soft_state.role), (unsigned long long)rd->soft_state.term,
                     n->heard_ms ? (long long)(clock_mono_ms() - n->heard_ms) : -1LL);
        if (leader != n->was_leader)
            LOG_INFO("node", "%s in term %llu", leader ? "became leader" : "no longer leader",
                     (unsigned long long)rd->soft_state.term);
        if (n->was_leader && !leader) {
            fail_all(n, NODE_LEADERSHIP_LOST);
            fail_reads(n, NODE_LEADERSHIP_LOST);
        }
        n->was_leader = leader;
    }
    reads_confirmed(n, rd->reads, rd->n_reads);
    raft_advance(n->r, rd);
    serve_reads(n);
    maybe_snapshot(n);
}

/* A ready whose save found no room is kept, not lost: nothing that depends on it is sent or
 * applied, and, since nothing may call into the core between raft_ready and raft_advance, the
 * node takes no input (ticks, peer messages, proposals, reads) until a retry stores it. Its
 * peers see a silent node and go on without it; it catches up once it stores again. */
static void hold(struct node *n, const struct raft_ready *rd, const char *err)
{
    n->held = *rd;
    n->holding = true;
    LOG_DEBUG("node", "holding a ready that found no room (%zu entries): %s", rd->n_entries, err);
    snprintf(n->space_why, sizeof n->space_why, "%s", err);
    space_update(n);
    if (rd->soft_state.role == RAFT_LEADER) {
        /* It cannot lead like this (no heartbeats): the others will elect a leader. What it
         * proposed may still commit, through them or through it later: as LEADERSHIP_LOST. */
        fail_all(n, NODE_LEADERSHIP_LOST);
        fail_reads(n, NODE_LEADERSHIP_LOST);
    }
    struct timeval tv = { 0, SAVE_RETRY_MS * 1000 };
    evtimer_add(n->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    char err[512];
    int rc = storage_save(n->store, &n->held, err, sizeof err);
    if (rc == STORAGE_NO_SPACE) {
        struct timeval tv = { 0, SAVE_RETRY_MS * 1000 };
        evtimer_add(n->retry_ev, &tv);
        return;
    }
    if (rc != 0)
        fatal(n, "persisting Raft state", err);
    struct raft_ready rd = n->held;
    memset(&n->held, 0, sizeof n->held);
    n->holding = false;
    after_save(n, &rd);
    check_space(n); /* ends the episode unless the volume is still under its reserve */
    kick(n);
}

static void process(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    n->ticks_unprocessed = 0;
    while (!n->holding && raft_has_ready(n->r)) {
        struct raft_ready rd;
        char err[512];
        uint64_t t0 = clock_mono_ns() / 1000;
        if (raft_ready(n->r, &rd) != RAFT_OK)
            fatal(n, "reading the log", "storage read failed");
        /* 1. the leader's replication traffic goes out while its own copy is written */
        send_msgs(n, &rd, true);
        /* 2. durable before anything that depends on it leaves the node */
        uint64_t t1 = clock_mono_ns() / 1000;
        int rc = storage_save(n->store, &rd, err, sizeof err);
        if (rc == STORAGE_NO_SPACE) {
            hold(n, &rd, err);
            return;
        }
        if (rc != 0)
            fatal(n, "persisting Raft state", err);
        uint64_t t2 = clock_mono_ns() / 1000;
        /* 3. and 4. */
        after_save(n, &rd);
        uint64_t t3 = clock_mono_ns() / 1000;
        if (t3 - t0 > n->cfg.tick_ms * 1000 * n->cfg.heartbeat_ticks)
            LOG_WARN("node", "slow ready: %llu ms (send %llu, save %llu, apply %llu)",
                     (unsigned long long)(t3 - t0) / 1000, (unsigned long long)(t1 - t0) / 1000,
                     (unsigned long long)(t2 - t1) / 1000, (unsigned long long)(t3 - t2) / 1000);
    }
}

/* The rate at which a large message is assumed to be received, encoded, stored and applied,
 * for the grace it is announced with: this machine does 50 MB in about 0.6-1 s; the grace is a
 * few times that, so a leader that dies meanwhile is replaced at most a few seconds late. */
#define GRACE_BYTES_PER_MS 10000

/* A large frame begins to arrive (rpc_server_on_big_frame): as leader, announce the time it
 * will take before it takes the loop (raft_grace), and send that announcement at once. */
static void on_big_frame(size_t len, void *arg)
{
    struct node *n = arg;
    unsigned ticks = (unsigned)MIN(len / GRACE_BYTES_PER_MS / n->cfg.tick_ms, 100000);
    if (ticks == 0 || raft_grace(n->r, ticks) != RAFT_OK)
        return;
    LOG_DEBUG("node", "a %zu-byte frame is arriving: grace of %u ticks announced", len, ticks);
    process(-1, 0, n);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    if (clock_mono_ms() - n->space_checked_ms >= SPACE_CHECK_MS)
        check_space(n);
    if (n->holding)
        return; /* time stands still for a node that cannot store (see hold) */
    raft_tick(n->r);
    /* Processing waits for the sockets to go quiet (node_new), but not longer than a tick:
     * a socket that stays readable (a large request arriving 4 KiB per callback) must not hold
     * back the heartbeats and acknowledgements. */
    if (++n->ticks_unprocessed > 1)
        process(-1, 0, n);
    else
        kick(n);
}

static void on_message(const uint8_t *msg, size_t len, void *arg)
{
    struct node *n = arg;
    if (n->holding)
        return; /* dropped, as by the network: Raft retransmits */
    struct raft_msg m;
    void *keep;
    if (node_msg_unpack(msg, len, &m, &keep) != 0) {
        LOG_WARN("node", "dropping a malformed raft message (%zu bytes)", len);
        return;
    }
    if (m.from == raft_soft_state(n->r).leader)
        n->heard_ms = clock_mono_ms();
    if (raft_step(n->r, &m) != RAFT_OK)
        fatal(n, "handling a message", "storage read failed");
    node_msg_release(&m, keep);
    kick(n);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

struct node *node_new(struct event_base *base, struct rpc_server *srv, const struct node_config *c,
                      const struct node_sm *sm, char *err, size_t errlen)
{
    bool member = false;
    for (size_t i = 0; i < c->n_peers; i++)
        member |= c->peers[i].id == c->id;
    if (!member) {
        snprintf(err, errlen, "node id %u is not among the peers", c->id);
        return NULL;
    }
    struct storage_opts so;
    storage_opts_default(&so);
    so.sync = c->fsync;
    so.replace = c->replace;
    struct storage *store;
    if (storage_open(c->data_dir, &so, &store, err, errlen) != 0)
        return NULL;
    struct raft_init init;
    if (storage_load(store, &init, err, errlen) != 0) {
        storage_close(store);
        return NULL;
    }
    struct node *n = xcalloc(1, sizeof *n);
    n->base = base;
    n->cfg = *c;
    n->sm = *sm;
    n->store = store;
    n->durable_term = init.hard_state.term;
    n->durable_vote = init.hard_state.vote;
    n->recovering = init.hard_state.recovering;
    n->recover_term = init.hard_state.recover_term;
    if (n->recovering && !n->recover_term)
        LOG_INFO("node", "recovery: this node replaces a lost store; it asks every member for its "
                 "term and neither votes nor acknowledges before it knows them all");
    else if (n->recovering)
        LOG_INFO("node", "recovery: resumed; voting again once the log holds an entry of term "
                 "%llu or later", (unsigned long long)n->recover_term);
    n->peers = xmalloc(c->n_peers * sizeof *n->peers);
    memcpy(n->peers, c->peers, c->n_peers * sizeof *n->peers);
    n->cfg.peers = n->peers;
    n->ids = xmalloc(c->n_peers * sizeof *n->ids);
    for (size_t i = 0; i < c->n_peers; i++)
        n->ids[i] = c->peers[i].id;
    if (init.snapshot.index > 0) {
        struct raft_snapshot_meta meta;
        uint8_t *data;
        size_t len;
        if (storage_snapshot(store, &meta, &data, &len) != 0 || sm->restore(sm->ctx, data, len) != 0) {
            snprintf(err, errlen, "%s: corrupted data directory: the stored snapshot does not restore",
                     c->data_dir);
            free(data);
            node_free(n);
            return NULL;
        }
        free(data);
    }
    struct raft_config rc;
    raft_config_default(&rc);
    rc.id = c->id;
    rc.peers = n->ids;
    rc.n_peers = c->n_peers;
    rc.election_ticks = c->election_ticks;
    rc.heartbeat_ticks = c->heartbeat_ticks;
    rc.pre_vote = c->pre_vote;
    rc.check_quorum = c->check_quorum;
    rc.noop_on_elect = c->noop_on_elect;
    rc.seed = clock_wall_ns() ^ ((uint64_t)c->id << 48);
    rc.storage = storage_reader(store);
    n->r = raft_new(&rc, &init);
    if (!n->r) {
        snprintf(err, errlen, "invalid Raft configuration (election ticks must exceed heartbeat "
                              "ticks)");
        node_free(n);
        return NULL;
    }
    n->clients = xcalloc(c->n_peers, sizeof *n->clients);
    for (size_t i = 0; i < c->n_peers; i++) {
        if (c->peers[i].id == c->id)
            continue;
        struct rpc_client_opts co;
        rpc_client_opts_default(&co);
        if (c->max_frame > co.limits.max_frame) {
            co.limits.max_frame = c->max_frame;
            co.limits.out_drop = c->max_frame + (8u << 20);
        }
        n->clients[i] = rpc_client_new(base, c->peers[i].addr, &co, err, errlen);
        if (!n->clients[i]) {
            node_free(n);
            return NULL;
        }
    }
    n->process_ev = event_new(base, -1, 0, process, n);
    /* Processing runs at the base's lowest priority, i.e. only once no socket has anything
     * left to read: libevent reads at most 4 KiB per callback, so a busy client's requests
     * arrive over several loop turns, and this makes them one ready (one fsync) rather than
     * a batch per 4 KiB. Reading is bounded (the RPC server pauses a connection at 1024
     * pending calls), so processing is delayed, never starved. */
    event_priority_set(n->process_ev, event_base_get_npriorities(base) - 1);
    n->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, n);
    n->retry_ev = evtimer_new(base, on_retry, n);
    struct timeval tv = { (time_t)(c->tick_ms / 1000), (suseconds_t)(c->tick_ms % 1000) * 1000 };
    evtimer_add(n->tick_ev, &tv);
    rpc_server_handle_message(srv, "raft.Message", on_message, n);
    n->srv = srv;
    rpc_server_on_big_frame(srv, on_big_frame, n);
    LOG_INFO("node", "started: term %llu, log %llu..%llu, snapshot at %llu, commit %llu",
             (unsigned long long)init.hard_state.term,
             (unsigned long long)init.snapshot.index + 1, (unsigned long long)init.last_index,
             (unsigned long long)init.snapshot.index, (unsigned long long)init.hard_state.commit);
    check_space(n);
    kick(n);
    return n;
}

void node_free(struct node *n)
{
    if (!n)
        return;
    if (n->srv)
        rpc_server_on_big_frame(n->srv, NULL, NULL);
    char err[512];
    /* Not while a ready is held: the commit index may then cover entries the store lacks, or
     * stored ones about to be replaced. It is relearned from the leader. */
    if (n->r && !n->holding &&
        storage_save_commit(n->store, raft_hard_state(n->r).commit, err, sizeof err) != 0)
        LOG_WARN("node", "cannot store the commit index at shutdown: %s", err);
    if (n->holding) { /* the applies' copies are the one part of a ready raft_free does not own */
        raft_entries_free(n->held.committed, n->held.n_committed);
        free(n->held.committed);
    }
    if (n->retry_ev)
        event_free(n->retry_ev);
    if (n->tick_ev)
        event_free(n->tick_ev);
    if (n->process_ev)
        event_free(n->process_ev);
    fail_all(n, NODE_SHUTDOWN);
    u64map_free(&n->pending);
    fail_reads(n, NODE_SHUTDOWN);
    u64map_free(&n->reads); /* its arrays outlive its entries */
    fail_relays(n);
    free(n->confirmed);
    if (n->clients)
        for (size_t i = 0; i < n->cfg.n_peers; i++)
            rpc_client_free(n->clients[i]);
    free(n->clients);
    raft_free(n->r);
    storage_close(n->store);
    free(n->peers);
    free(n->ids);
    free(n);
}

int node_parse_peers(const char *spec, struct node_peer **out, size_t *count, char *err,
                     size_t errlen)
{
    struct node_peer *peers = NULL;
    size_t n = 0;
    char *copy = xstrdup(spec), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        uint64_t id;
        char host[256];
        uint16_t port;
        if (eq)
            *eq = '\0';
        if (!eq || parse_u64(item, &id) != 0 || id == 0 || id > UINT32_MAX ||
            strlen(eq + 1) >= sizeof peers->addr ||
            parse_host_port(eq + 1, host, sizeof host, &port) != 0 || port == 0) {
            snprintf(err, errlen, "peers: bad entry '%s%s%s' (expected ID=HOST:PORT with ID >= 1)",
                     item, eq ? "=" : "", eq ? eq + 1 : "");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (peers[i].id == id) {
                snprintf(err, errlen, "peers: id %llu appears twice", (unsigned long long)id);
                goto fail;
            }
        }
        peers = xrealloc(peers, (n + 1) * sizeof *peers);
        peers[n].id = (uint32_t)id;
        snprintf(peers[n].addr, sizeof peers[n].addr, "%s", eq + 1);
        n++;
    }
    free(copy);
    if (n == 0) {
        snprintf(err, errlen, "peers: empty (expected ID=HOST:PORT,...)");
        free(peers);
        return -1;
    }
    *out = peers;
    *count = n;
    return 0;
fail:
    free(copy);
    free(peers);
    return -1;
}

/* ---- observers ----------------------------------------------------------------------------- */

uint32_t node_leader(const struct node *n, const char **addr)
{
    uint32_t id = raft_soft_state(n->r).leader;
    if (n->holding && id == n->cfg.id)
        id = RAFT_NONE;
    size_t k = peer_index(n, id);
    *addr = k == SIZE_MAX ? "" : n->peers[k].addr;
    return id;
}

void node_status(const struct node *n, struct node_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = n->cfg.id;
    st->soft = raft_soft_state(n->r);
    node_leader(n, &st->leader_addr);
    st->commit = raft_hard_state(n->r).commit;
    st->applied = raft_applied(n->r);
    st->last_index = raft_last_index(n->r);
    st->snapshot_index = raft_snapshot_index(n->r);
    raft_term_at(n->r, st->snapshot_index, &st->snapshot_term);
    st->snapshots_installed = n->snapshots_installed;
    st->snapshots_taken = n->snapshots_taken;
    st->raft_state_bytes = storage_raft_state_size(n->store);
}

uint64_t node_peer_match(const struct node *n, uint32_t peer) { return raft_peer_match(n->r, peer); }

size_t node_peers(const struct node *n, const struct node_peer **peers)
{
    *peers = n->peers;
    return n->cfg.n_peers;
}

int node_read_log(struct node *n, uint64_t from, size_t max, struct raft_entry **out, size_t *count,
                  bool *compacted)
{
    *out = NULL;
    *count = 0;
    uint64_t snap = raft_snapshot_index(n->r);
    *compacted = from <= snap;
    if (*compacted)
        from = snap + 1;
    uint64_t commit = MIN(raft_hard_state(n->r).commit, raft_applied(n->r));
    if (from == 0 || from > commit || max == 0)
        return 0;
    uint64_t hi = MIN(commit, from + max - 1);
    struct raft_storage st = storage_reader(n->store);
    struct raft_entry *e = xcalloc((size_t)(hi - from + 1), sizeof *e);
    size_t got = 0;
    if (st.entries(st.ctx, from, hi, 4u << 20, e, &got) != 0) {
        free(e);
        return -1;
    }
    *out = e;
    *count = got;
    return 0;
}
