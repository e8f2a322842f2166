#include "node/node.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "node/codec.h"
#include "node/health.h"
#include "node/peers.h"
#include "rpc/rpc.h"
#include "storage/storage.h"
#include "storage/store.h"

#define SPACE_CHECK_MS 100    /* how often the data volume's free space is looked at */
#define SAVE_RETRY_MS 200     /* how often a ready that found no room is saved again */

/* A client call relayed to the leader (node_forward), until its reply comes back. */
struct relay {
    struct node *node;
    struct rpc_call *call;
    struct rpc_client *to;
    uint64_t call_id;
    struct relay *prev, *next;
};

struct node {
    struct event_base *base;
    struct node_config cfg;
    struct peers book;          /* every peer's address and connection */
    uint64_t conf_index;        /* the membership the book was last synced with */
    struct storage *store;
    struct replica *rep;
    struct event *tick_ev, *process_ev;
    struct relay *relays;  /* node_forward calls in flight */
    unsigned ticks_unprocessed; /* ticks since process() last ran */
    struct rpc_server *srv;
    uint64_t heard_ms;          /* when a message from the known leader last arrived */
    node_role_fn on_role;
    void *on_role_arg;
    node_timing_fn on_timing;
    void *on_timing_arg;
    /* For metrics and health (node_status, node_health_facts). */
    uint64_t leader_changes;
    uint32_t last_leader;       /* the leader as of the last soft state */
    uint64_t ready_index;       /* the commit index known when that leader was learned */
    uint64_t last_applied;      /* the applied index at the last after_replica */
    uint64_t apply_ok_ms;       /* when applied last reached commit or moved */
    /* A full data volume (docs/RAFT.md, "Storage"). While an episode lasts, proposals are
     * refused (NODE_NO_SPACE); it is logged once as it starts (WARN) and once as it ends. */
    bool no_space;           /* an episode is on (replica_refusing_writes) */
    bool space_low;          /* the volume is under its reserve (checked every SPACE_CHECK_MS) */
    struct event *retry_ev;  /* saves a held ready again, every SAVE_RETRY_MS */
    uint64_t space_checked_ms;
    char space_why[512];     /* what found the volume full, for the WARN */
};

/* A node that cannot persist cannot keep any promise: stop at once, loudly. */
static void fatal(const char *what, const char *err)
{
    LOG_ERROR("node", "fatal: %s: %s", what, err);
    abort();
}

static void kick(struct node *n) { event_active(n->process_ev, EV_READ, 0); }

static const struct raft *core(const struct node *n) { return replica_raft(n->rep); }

/* ---- a full data volume ---------------------------------------------------------------------- */

/* Starts or ends the no-space episode as its causes come and go, logging each change once. */
static void space_update(struct node *n)
{
    bool on = replica_refusing_writes(n->rep);
    if (on == n->no_space)
        return;
    n->no_space = on;
    if (on) {
        LOG_WARN("node", "no space left on the data volume: %s; refusing new writes until there "
                         "is room (reads and Raft go on)",
                 n->space_low ? n->space_why : replica_error(n->rep));
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
    replica_set_space_low(n->rep, low);
    space_update(n);
}

/* ---- proposals and reads -------------------------------------------------------------------- */

enum node_result node_propose(struct node *n, const uint8_t *cmd, size_t len, node_done_fn done,
                              void *arg, uint64_t *index, uint64_t *term)
{
    enum node_result res = replica_propose(n->rep, cmd, len, done, arg, index, term);
    if (res == NODE_OK)
        kick(n);
    return res;
}

enum node_result node_read(struct node *n, node_read_fn done, void *arg)
{
    enum node_result res = replica_read(n->rep, done, arg);
    if (res == NODE_OK)
        kick(n);
    return res;
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
    uint32_t leader = raft_soft_state(core(n)).leader;
    struct peer_link *l = peers_find(&n->book, leader);
    if (rpc_call_forwarded(call) || leader == n->cfg.id || !l || !l->client)
        return false;
    struct relay *r = xcalloc(1, sizeof *r);
    *r = (struct relay){ n, call, l->client, 0, NULL, n->relays };
    if (n->relays)
        n->relays->prev = r;
    n->relays = r;
    r->call_id = rpc_client_forward(r->to, method, req, len,
                                    RELAY_TIMEOUT_MS + len / RELAY_BYTES_PER_MS, on_relayed, r);
    return true;
}

bool node_forward_unless_leader(struct node *n, struct rpc_call *call, const char *method,
                                const uint8_t *req, size_t len)
{
    return raft_soft_state(core(n)).role != RAFT_LEADER && node_forward(n, call, method, req, len);
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

/* ---- the replica's I/O ----------------------------------------------------------------------- */

static void io_send(void *ctx, const struct raft_msg *m)
{
    struct node *n = ctx;
    struct peer_link *l = peers_find(&n->book, m->to);
    if (!l || !l->client)
        return;
    uint8_t *buf;
    size_t len = node_msg_pack(m, &buf);
    /* Dropped when disconnected or backed up: Raft retransmits. */
    rpc_client_send(l->client, n->cfg.peer_method, buf, len);
    free(buf);
}

/* Flushed to the sockets at once rather than when the loop next runs (see replica.h). */
static void io_flush(void *ctx)
{
    struct node *n = ctx;
    for (size_t k = 0; k < n->book.n; k++)
        if (n->book.links[k].client)
            rpc_client_flush(n->book.links[k].client);
}

static uint64_t io_now_ms(void *ctx)
{
    (void)ctx;
    return clock_mono_ms();
}

static uint64_t io_now_ns(void *ctx)
{
    (void)ctx;
    return clock_mono_ns();
}

static void io_timing(void *ctx, enum replica_timing what, uint64_t ns)
{
    struct node *n = ctx;
    if (n->on_timing)
        n->on_timing(what, ns, n->on_timing_arg);
}

void node_on_timing(struct node *n, node_timing_fn fn, void *arg)
{
    n->on_timing = fn;
    n->on_timing_arg = arg;
}

static void io_soft_state(void *ctx, const struct raft_soft_state *st, bool was_leader)
{
    struct node *n = ctx;
    bool leader = st->role == RAFT_LEADER;
    if (st->leader != n->last_leader) {
        n->last_leader = st->leader;
        n->ready_index = raft_hard_state(core(n)).commit;
        if (st->leader != RAFT_NONE)
            n->leader_changes++;
    }
    if (st->role == RAFT_PRECANDIDATE || st->role == RAFT_CANDIDATE)
        LOG_INFO("node", "%s in term %llu: last heard from a leader %lld ms ago (-1: never)",
                 raft_role_name(st->role), (unsigned long long)st->term,
                 n->heard_ms ? (long long)(clock_mono_ms() - n->heard_ms) : -1LL);
    if (leader != was_leader) {
        LOG_INFO("node", "%s in term %llu", leader ? "became leader" : "no longer leader",
                 (unsigned long long)st->term);
        if (n->on_role)
            n->on_role(leader, st->term, n->on_role_arg);
    }
}

/* ---- processing ------------------------------------------------------------------------------ */

/* After the replica ran: a ready it could not store is retried every SAVE_RETRY_MS (the node
 * is silent meanwhile); a fatal error stops the process. */
static void after_replica(struct node *n, int rc)
{
    if (rc == REPLICA_ERR_FATAL)
        fatal("replica", replica_error(n->rep));
    if (raft_membership_index(core(n)) != n->conf_index) { /* a change: learn the addresses */
        n->conf_index = raft_membership_index(core(n));
        peers_sync(&n->book, raft_membership(core(n)));
    }
    uint64_t applied = raft_applied(core(n));
    if (applied != n->last_applied || applied >= raft_hard_state(core(n)).commit)
        n->apply_ok_ms = clock_mono_ms();
    n->last_applied = applied;
    if (rc == REPLICA_HELD && !evtimer_pending(n->retry_ev, NULL)) {
        struct timeval tv = { 0, SAVE_RETRY_MS * 1000 };
        evtimer_add(n->retry_ev, &tv);
    }
    space_update(n);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    after_replica(n, replica_retry(n->rep));
    if (!replica_holding(n->rep)) {
        check_space(n); /* ends the episode unless the volume is still under its reserve */
        kick(n);
    }
}

static void process(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    n->ticks_unprocessed = 0;
    if (!replica_holding(n->rep))
        after_replica(n, replica_process(n->rep));
}

/* The rate at which a large message is assumed to be received, encoded, stored and applied,
 * for the grace it is announced with: this machine does 50 MB in about 0.6-1 s; the grace is a
 * few times that, so a leader that dies meanwhile is replaced at most a few seconds late. */
#define GRACE_BYTES_PER_MS 10000

bool node_grace(struct node *n, size_t bytes)
{
    unsigned ticks = (unsigned)MIN(bytes / GRACE_BYTES_PER_MS / n->cfg.tick_ms, 100000);
    if (ticks == 0 || replica_grace(n->rep, ticks) != RAFT_OK)
        return false;
    LOG_DEBUG("node", "work on %zu bytes coming: grace of %u ticks announced", bytes, ticks);
    process(-1, 0, n);
    return true;
}

/* A large frame begins to arrive (rpc_server_on_big_frame): as leader, announce the time it
 * will take before it takes the loop. */
static void on_big_frame(size_t len, void *arg) { node_grace(arg, len); }

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    if (clock_mono_ms() - n->space_checked_ms >= SPACE_CHECK_MS)
        check_space(n);
    if (replica_holding(n->rep))
        return; /* time stands still for a node that cannot store (see replica.h) */
    replica_tick(n->rep);
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
    if (replica_holding(n->rep))
        return; /* dropped, as by the network: Raft retransmits */
    struct raft_msg m;
    void *keep;
    if (node_msg_unpack(msg, len, &m, &keep) != 0) {
        LOG_WARN("node", "dropping a malformed raft message (%zu bytes)", len);
        return;
    }
    uint64_t now = clock_mono_ms();
    if (m.from == raft_soft_state(core(n)).leader)
        n->heard_ms = now;
    struct peer_link *from = peers_find(&n->book, m.from);
    if (from)
        from->heard_ms = now;
    int rc = replica_step(n->rep, &m);
    node_msg_release(&m, keep);
    after_replica(n, rc);
    kick(n);
}

void node_on_role(struct node *n, node_role_fn fn, void *arg)
{
    n->on_role = fn;
    n->on_role_arg = arg;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static struct replica *open_replica(struct node *n, const struct node_config *c,
                                    const struct node_sm *sm, char *err, size_t errlen)
{
    struct replica_config rc;
    replica_config_default(&rc);
    rc.raft.id = c->id;
    uint32_t ids[RAFT_MAX_MEMBERS];
    const char *addrs[RAFT_MAX_MEMBERS];
    for (size_t i = 0; i < c->n_peers && i < RAFT_MAX_MEMBERS; i++) {
        ids[i] = c->peers[i].id;
        addrs[i] = c->peers[i].addr;
    }
    rc.raft.peers = ids; /* (copied by the core) */
    rc.raft.peer_addrs = addrs;
    rc.raft.n_peers = c->joining ? 0 : c->n_peers; /* a joining node learns its members */
    rc.raft.election_ticks = c->election_ticks;
    rc.raft.heartbeat_ticks = c->heartbeat_ticks;
    rc.raft.pre_vote = c->pre_vote;
    rc.raft.check_quorum = c->check_quorum;
    rc.raft.noop_on_elect = c->noop_on_elect;
    rc.raft.seed = clock_wall_ns() ^ ((uint64_t)c->id << 48);
    rc.max_raft_state = c->max_raft_state;
    rc.background_snapshot_min = c->background_snapshot_min;
    rc.slow_ready_ms = c->tick_ms * c->heartbeat_ticks;
    struct replica_io io = { .ctx = n, .send = io_send, .flush = io_flush, .now_ms = io_now_ms,
                             .on_soft_state = io_soft_state, .now_ns = io_now_ns,
                             .timing = io_timing };
    char why[512];
    struct replica *rep = replica_new(&rc, storage_store(n->store), sm, &io, why, sizeof why);
    if (!rep)
        snprintf(err, errlen, "%s: %s", c->data_dir, why);
    return rep;
}

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
    if (c->n_peers > RAFT_MAX_MEMBERS) {
        snprintf(err, errlen, "too many peers: a cluster has at most %d members", RAFT_MAX_MEMBERS);
        return NULL;
    }
    struct storage_opts so;
    storage_opts_default(&so);
    so.sync = c->fsync;
    so.replace = c->replace;
    so.background_write_rate = c->background_snapshot_rate;
    /* For tests only (lib/storage's planted bug, which the power-cut tests must catch). */
    const char *bug = getenv("STORAGE_PLANTED_BUG");
    so.planted_late_sync = bug && strcmp(bug, "ack-before-fsync") == 0;
    if (so.planted_late_sync)
        LOG_WARN("node", "STORAGE_PLANTED_BUG=ack-before-fsync: every save is acknowledged "
                         "before its fsync (tests only)");
    struct storage *store;
    if (storage_open(c->data_dir, &so, &store, err, errlen) != 0)
        return NULL;
    struct node *n = xcalloc(1, sizeof *n);
    n->base = base;
    n->cfg = *c;
    if (!n->cfg.peer_method)
        n->cfg.peer_method = NODE_PEER_METHOD;
    n->store = store;
    n->cfg.peers = NULL; /* (the book holds them) */
    peers_init(&n->book, base, c->id, c->max_frame);
    if (peers_add(&n->book, c->peers, c->n_peers, !c->joining, err, errlen) != 0 ||
        peers_add(&n->book, c->routes, c->n_routes, true, err, errlen) != 0) {
        node_free(n);
        return NULL;
    }
    n->rep = open_replica(n, c, sm, err, errlen);
    if (!n->rep) {
        node_free(n);
        return NULL;
    }
    n->conf_index = raft_membership_index(core(n));
    n->apply_ok_ms = clock_mono_ms();
    peers_sync(&n->book, raft_membership(core(n)));
    struct raft_hard_state hs = raft_hard_state(core(n));
    if (hs.recovering && !hs.recover_term)
        LOG_INFO("node", "recovery: this node replaces a lost store; it asks every member for its "
                 "term and neither votes nor acknowledges before it knows them all");
    else if (hs.recovering)
        LOG_INFO("node", "recovery: resumed; voting again once the log holds an entry of term "
                 "%llu or later", (unsigned long long)hs.recover_term);
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
    rpc_server_handle_message(srv, n->cfg.peer_method, on_message, n);
    n->srv = srv;
    rpc_server_on_big_frame(srv, on_big_frame, n);
    LOG_INFO("node", "started: term %llu, log %llu..%llu, snapshot at %llu, commit %llu",
             (unsigned long long)hs.term, (unsigned long long)raft_snapshot_index(core(n)) + 1,
             (unsigned long long)raft_last_index(core(n)),
             (unsigned long long)raft_snapshot_index(core(n)), (unsigned long long)hs.commit);
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
    if (n->rep && !replica_holding(n->rep) &&
        storage_save_commit(n->store, raft_hard_state(core(n)).commit, err, sizeof err) != 0)
        LOG_WARN("node", "cannot store the commit index at shutdown: %s", err);
    if (n->retry_ev)
        event_free(n->retry_ev);
    if (n->tick_ev)
        event_free(n->tick_ev);
    if (n->process_ev)
        event_free(n->process_ev);
    replica_free(n->rep); /* fails what is pending with NODE_SHUTDOWN */
    fail_relays(n);
    peers_free(&n->book);
    storage_close(n->store);
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
    uint32_t id = raft_soft_state(core(n)).leader;
    if (replica_holding(n->rep) && id == n->cfg.id)
        id = RAFT_NONE;
    *addr = node_peer_addr(n, id);
    return id;
}

void node_status(const struct node *n, struct node_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = n->cfg.id;
    st->soft = raft_soft_state(core(n));
    node_leader(n, &st->leader_addr);
    st->commit = raft_hard_state(core(n)).commit;
    st->applied = raft_applied(core(n));
    st->last_index = raft_last_index(core(n));
    st->snapshot_index = raft_snapshot_index(core(n));
    raft_term_at(core(n), st->snapshot_index, &st->snapshot_term);
    st->snapshots_installed = replica_snapshots_installed(n->rep);
    st->snapshots_taken = replica_snapshots_taken(n->rep);
    st->snapshots_background = replica_snapshots_background(n->rep);
    st->raft_state_bytes = storage_raft_state_size(n->store);
    st->snapshot_bytes = storage_snapshot_size(n->store);
    st->leader_changes = n->leader_changes;
}

void node_health_facts(const struct node *n, struct node_health_facts *f)
{
    uint64_t now = clock_mono_ms();
    const struct raft_membership *m = raft_membership(core(n));
    const char *addr;
    memset(f, 0, sizeof *f);
    f->self = n->cfg.id;
    f->leader = node_leader(n, &addr);
    f->window_ms = MAX(2 * n->cfg.election_ticks * n->cfg.tick_ms, NODE_HEALTH_WINDOW_MIN_MS);
    f->leader_heard_ago_ms = n->heard_ms ? now - n->heard_ms : UINT64_MAX;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->m[i].voter)
            continue;
        const struct peer_link *l = peers_find(&n->book, m->m[i].id);
        if (m->m[i].id == n->cfg.id || (l && l->heard_ms && now - l->heard_ms <= f->window_ms))
            f->voters_heard++;
    }
    f->quorum = membership_quorum(m);
    f->voter = membership_is_voter(m, n->cfg.id);
    f->holding = replica_holding(n->rep);
    f->refusing_writes = replica_refusing_writes(n->rep);
    f->commit = raft_hard_state(core(n)).commit;
    f->applied = raft_applied(core(n));
    f->apply_ok_ago_ms = now - n->apply_ok_ms;
    f->ready_index = n->ready_index;
}

void node_applied(const struct node *n, uint64_t *index, uint64_t *term)
{
    *index = raft_applied(core(n));
    *term = 0;
    raft_term_at(core(n), *index, term);
}

uint64_t node_peer_match(const struct node *n, uint32_t peer) { return raft_peer_match(core(n), peer); }

const struct raft_membership *node_membership(const struct node *n)
{
    return raft_membership(core(n));
}

const char *node_peer_addr(const struct node *n, uint32_t id)
{
    const struct peer_link *l = peers_find(&n->book, id);
    return l ? l->peer.addr : "";
}

int node_change_member(struct node *n, enum raft_change_type type, uint32_t id, const char *addr,
                       node_done_fn done, void *arg, char *err, size_t errlen)
{
    uint64_t index, term;
    int rc = replica_propose_change(n->rep, type, id, addr, done, arg, &index, &term, err, errlen);
    if (rc == RAFT_OK)
        kick(n);
    return rc;
}

int node_transfer_leader(struct node *n, uint32_t target)
{
    int rc = replica_transfer_leader(n->rep, target);
    if (rc == RAFT_OK)
        kick(n);
    return rc;
}

uint32_t node_transfer_target(const struct node *n) { return raft_transfer_target(core(n)); }

uint64_t node_membership_index(const struct node *n, bool *committed)
{
    uint64_t index = raft_membership_index(core(n));
    *committed = index <= raft_hard_state(core(n)).commit;
    return index;
}

int node_read_log(struct node *n, uint64_t from, size_t max, struct raft_entry **out, size_t *count,
                  bool *compacted)
{
    *out = NULL;
    *count = 0;
    uint64_t snap = raft_snapshot_index(core(n));
    *compacted = from <= snap;
    if (*compacted)
        from = snap + 1;
    uint64_t commit = MIN(raft_hard_state(core(n)).commit, raft_applied(core(n)));
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
