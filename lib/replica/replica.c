#include "replica/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/u64map.h"
#include "base/util.h"
#include "storage/store.h"

#define COMPACT_RETRY_MS 1000 /* how often a snapshot that found no room is tried again */

struct pending {
    uint64_t term;
    uint64_t proposed_ns; /* when proposed (with io.timing) */
    node_done_fn done;
    void *arg;
};

struct read {
    node_read_fn done;
    void *arg;
    uint64_t index; /* once confirmed: serve when applied reaches it */
};

struct replica {
    struct replica_config cfg;
    struct store *store;
    struct node_sm sm;
    struct replica_io io;
    struct raft *r;
    struct u64map pending;  /* index -> struct pending */
    struct u64map reads;    /* read id -> struct read, until a quorum confirms it */
    struct read *confirmed; /* confirmed reads waiting for the applies, FIFO by index */
    size_t n_confirmed, cap_confirmed;
    uint64_t next_read_id;
    uint64_t snapshots_installed, snapshots_taken, snapshots_background;
    bool was_leader;
    uint64_t durable_term; /* the hard state's term and vote as last made durable */
    uint32_t durable_vote;
    uint64_t recover_term; /* the recovery state last made durable, for its log lines */
    bool recovering;
    bool space_low;       /* the driver's volume is under its reserve */
    bool holding;         /* `held` found no room: the core waits between ready and advance */
    struct raft_ready held;
    bool compact_blocked; /* the last snapshot found no room (tried again after compact_after) */
    bool compact_pending; /* a snapshot is being written in the background (compact_begin) */
    bool background_off;  /* the background writer failed once: snapshots in the foreground */
    uint64_t bg_began_ms, bg_fork_ms; /* when the background snapshot began; the pause */
    uint64_t compact_after_ms;
    uint64_t snapshot_len; /* the last snapshot's size (taken, installed or loaded) */
    char error[1024];
};

const char *node_result_name(enum node_result r)
{
    static const char *const names[] = { "OK", "NOT_LEADER", "LEADERSHIP_LOST", "OVERWRITTEN",
                                         "SHUTDOWN", "NOT_READY", "NO_SPACE" };
    return (unsigned)r < ARRAY_LEN(names) ? names[r] : "?";
}

void replica_config_default(struct replica_config *c)
{
    memset(c, 0, sizeof *c);
    raft_config_default(&c->raft);
    c->send_early = true;
}

static int fatal(struct replica *rep, const char *what, const char *why)
{
    snprintf(rep->error, sizeof rep->error, "%s: %s", what, why);
    return REPLICA_ERR_FATAL;
}

/* ---- proposals ------------------------------------------------------------------------------- */

static void finish(struct pending *p, enum node_result res, uint64_t index, const uint8_t *result,
                   size_t len)
{
    p->done(res, index, p->term, result, len, p->arg);
    free(p);
}

struct keys {
    uint64_t *keys;
    size_t n;
};

static void collect_key(uint64_t key, void *val, void *arg)
{
    (void)val;
    struct keys *k = arg;
    k->keys[k->n++] = key;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The keys of m in ascending order (malloc'd): what fails first must not depend on the map's
 * layout (the simulator's runs are a function of their seed, and proposals fail in log order). */
static struct keys sorted_keys(const struct u64map *m)
{
    struct keys k = { xmalloc((m->len ? m->len : 1) * sizeof(uint64_t)), 0 };
    u64map_each(m, collect_key, &k);
    qsort(k.keys, k.n, sizeof *k.keys, cmp_u64);
    return k;
}

/* Fails every pending proposal (leadership lost, or shutting down), in index order. */
static void fail_proposals(struct replica *rep, enum node_result res)
{
    if (rep->pending.len == 0)
        return;
    struct keys k = sorted_keys(&rep->pending);
    for (size_t i = 0; i < k.n; i++) {
        struct pending *p = u64map_del(&rep->pending, k.keys[i]);
        if (p)
            finish(p, res, k.keys[i], NULL, 0);
    }
    free(k.keys);
}

bool replica_refusing_writes(const struct replica *rep)
{
    return rep->space_low || rep->holding || rep->compact_blocked;
}

/* Remembers the proposal at index so that done hears how it ends. */
static void track(struct replica *rep, uint64_t index, uint64_t term, node_done_fn done, void *arg)
{
    struct pending *old = u64map_del(&rep->pending, index);
    if (old) /* an earlier proposal at this index (older term) can no longer commit there */
        finish(old, NODE_OVERWRITTEN, index, NULL, 0);
    if (done) {
        struct pending *p = xmalloc(sizeof *p);
        *p = (struct pending){ term, rep->io.timing ? rep->io.now_ns(rep->io.ctx) : 0, done, arg };
        u64map_put(&rep->pending, index, p);
    }
}

enum node_result replica_propose(struct replica *rep, const uint8_t *cmd, size_t len,
                                 node_done_fn done, void *arg, uint64_t *index, uint64_t *term)
{
    /* Refused before the core sees it, so the leader never holds entries it cannot store. */
    if (replica_refusing_writes(rep) && raft_soft_state(rep->r).role == RAFT_LEADER)
        return NODE_NO_SPACE;
    if (rep->holding) /* a follower that cannot store: not a state change to ask the core for */
        return NODE_NOT_LEADER;
    if (raft_propose(rep->r, cmd, len, index, term) != RAFT_OK)
        return NODE_NOT_LEADER;
    track(rep, *index, *term, done, arg);
    return NODE_OK;
}

int replica_propose_change(struct replica *rep, enum raft_change_type type, uint32_t id,
                           const char *addr, node_done_fn done, void *arg, uint64_t *index,
                           uint64_t *term, char *err, size_t errlen)
{
    if (rep->holding) {
        snprintf(err, errlen, "the node cannot store its log now");
        return RAFT_ERR_BUSY;
    }
    int rc = raft_propose_change(rep->r, type, id, addr, index, term, err, errlen);
    if (rc == RAFT_OK)
        track(rep, *index, *term, done, arg);
    return rc;
}

int replica_transfer_leader(struct replica *rep, uint32_t target)
{
    return rep->holding ? RAFT_ERR_BUSY : raft_transfer_leader(rep->r, target);
}

/* ---- reads ----------------------------------------------------------------------------------- */

enum node_result replica_read(struct replica *rep, node_read_fn done, void *arg)
{
    if (rep->holding) /* cannot ask the core (between ready and advance), nor confirm leadership */
        return NODE_NOT_LEADER;
    uint64_t id = ++rep->next_read_id;
    int rc = raft_read_index(rep->r, id);
    if (rc == RAFT_ERR_NOT_LEADER)
        return NODE_NOT_LEADER;
    if (rc != RAFT_OK)
        return NODE_NOT_READY;
    struct read *rd = xmalloc(sizeof *rd);
    *rd = (struct read){ done, arg, 0 };
    u64map_put(&rep->reads, id, rd);
    return NODE_OK;
}

/* The core confirmed these reads: they wait for the applies (indexes never decrease). */
static void reads_confirmed(struct replica *rep, const struct raft_read *reads, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct read *rd = u64map_del(&rep->reads, reads[i].id);
        if (!rd)
            continue;
        if (rep->n_confirmed == rep->cap_confirmed) {
            rep->cap_confirmed = rep->cap_confirmed ? 2 * rep->cap_confirmed : 16;
            rep->confirmed = xrealloc(rep->confirmed, rep->cap_confirmed * sizeof *rep->confirmed);
        }
        rd->index = reads[i].index;
        rep->confirmed[rep->n_confirmed++] = *rd;
        free(rd);
    }
}

/* Answers the confirmed reads the state machine has caught up with. */
static void serve_reads(struct replica *rep)
{
    uint64_t applied = raft_applied(rep->r);
    bool early = rep->cfg.planted_bug == REPLICA_BUG_READ_BEFORE_APPLY;
    size_t done = 0;
    while (done < rep->n_confirmed && (early || rep->confirmed[done].index <= applied))
        done++;
    if (done == 0)
        return;
    struct read *batch = xmalloc(done * sizeof *batch); /* callbacks may ask for new reads */
    memcpy(batch, rep->confirmed, done * sizeof *batch);
    rep->n_confirmed -= done;
    memmove(rep->confirmed, rep->confirmed + done, rep->n_confirmed * sizeof *rep->confirmed);
    for (size_t i = 0; i < done; i++)
        batch[i].done(NODE_OK, batch[i].index, batch[i].arg);
    free(batch);
}

/* Fails every read not yet answered (leadership lost, or shutting down). */
static void fail_reads(struct replica *rep, enum node_result res)
{
    size_t total = rep->reads.len + rep->n_confirmed;
    if (total == 0)
        return;
    struct read *all = xmalloc(total * sizeof *all), *end = all;
    if (rep->n_confirmed) /* confirmed may be NULL (memcpy's pointers must not be, even for 0) */
        memcpy(end, rep->confirmed, rep->n_confirmed * sizeof *all);
    end += rep->n_confirmed;
    rep->n_confirmed = 0;
    struct keys k = sorted_keys(&rep->reads); /* then the unconfirmed ones, as asked */
    for (size_t i = 0; i < k.n; i++) {
        struct read *rd = u64map_del(&rep->reads, k.keys[i]);
        *end++ = *rd;
        free(rd);
    }
    free(k.keys);
    u64map_free(&rep->reads);
    for (struct read *rd = all; rd < end; rd++)
        rd->done(res, rd->index, rd->arg);
    free(all);
}

/* ---- the ready loop -------------------------------------------------------------------------- */

/* Whether m may leave before this ready is durable. Only the leader's replication traffic may:
 * it promises nothing (the core counts the leader's own entries toward commitment only once
 * they are durable), as etcd's leader writes its log in parallel with replicating it. Votes
 * and acknowledgements always wait for the save; so does everything while the term or vote is
 * changing. */
static bool may_send_early(const struct replica *rep, const struct raft_ready *rd,
                           const struct raft_msg *m)
{
    if (!rep->cfg.send_early || rd->soft_state.role != RAFT_LEADER)
        return false;
    if (rd->hard_state_changed &&
        (rd->hard_state.term != rep->durable_term || rd->hard_state.vote != rep->durable_vote))
        return false;
    return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT;
}

/* Sends the messages selected by early, then flushes them at once: early ones so that the
 * followers write while the leader does, late ones (acknowledgements) so that they do not wait
 * for this node's applies. */
static void send_msgs(struct replica *rep, const struct raft_ready *rd, bool early)
{
    bool any = false;
    for (size_t i = 0; i < rd->n_msgs; i++) {
        if (may_send_early(rep, rd, &rd->msgs[i]) != early)
            continue;
        rep->io.send(rep->io.ctx, &rd->msgs[i]);
        any = true;
    }
    if (any && rep->io.flush)
        rep->io.flush(rep->io.ctx);
}

/* Applies e, committed as of committed_ns (with io.timing). */
static void apply_committed(struct replica *rep, const struct raft_entry *e, uint64_t committed_ns)
{
    uint8_t *result = NULL;
    size_t rlen = 0;
    uint64_t t0 = rep->io.timing ? rep->io.now_ns(rep->io.ctx) : 0;
    rep->sm.apply(rep->sm.ctx, e, &result, &rlen);
    if (rep->io.timing)
        rep->io.timing(rep->io.ctx, REPLICA_TIME_APPLY, rep->io.now_ns(rep->io.ctx) - t0);
    struct pending *p = u64map_del(&rep->pending, e->index);
    if (p && p->term == e->term && rep->io.timing)
        rep->io.timing(rep->io.ctx, REPLICA_TIME_COMMIT, committed_ns - p->proposed_ns);
    if (p)
        finish(p, p->term == e->term ? NODE_OK : NODE_OVERWRITTEN, e->index, result, rlen);
    free(result);
}

static bool snapshot_due(struct replica *rep, uint64_t applied)
{
    uint64_t snap = raft_snapshot_index(rep->r);
    if (applied <= snap)
        return false;
    if (rep->cfg.snapshot_every && applied - snap >= rep->cfg.snapshot_every)
        return true;
    return rep->cfg.max_raft_state &&
           rep->store->ops->raft_state_size(rep->store) >= replica_log_limit(&rep->cfg,
                                                                             rep->snapshot_len);
}

uint64_t replica_log_limit(const struct replica_config *c, uint64_t snapshot_len)
{
    uint64_t m = c->max_raft_state;
    return MAX(m, MIN(snapshot_len, 4 * m));
}

/* The store holds a snapshot at index (len bytes): the core drops the log up to it. */
static int compacted(struct replica *rep, uint64_t index, uint64_t term, size_t len)
{
    if (raft_compact(rep->r, index, &term) != RAFT_OK) /* index <= applied <= stable */
        return fatal(rep, "compacting the log", "the core refused a snapshot already stored");
    rep->compact_blocked = false;
    rep->snapshot_len = len;
    rep->snapshots_taken++;
    LOG_DEBUG("replica", "snapshot at index %llu (%zu bytes)", (unsigned long long)index, len);
    return 0;
}

static void compact_no_space(struct replica *rep, const char *err)
{
    rep->compact_blocked = true;
    rep->compact_after_ms = rep->io.now_ms(rep->io.ctx) + COMPACT_RETRY_MS;
    snprintf(rep->error, sizeof rep->error, "%s", err);
}

/* Whether the background writer has finished; once it has, the core compacts (unless a
 * snapshot received meanwhile superseded it). */
static int background_done(struct replica *rep)
{
    uint64_t index = 0, term = 0;
    size_t len = 0;
    char err[512];
    int rc = rep->store->ops->compact_poll(rep->store, &index, &term, &len, err, sizeof err);
    if (rc == STORAGE_PENDING)
        return 0;
    rep->compact_pending = false;
    if (rc == STORAGE_OK) {
        if (!index)
            return 0; /* a snapshot received meanwhile superseded it */
        LOG_INFO("replica", "snapshot at index %llu (%.1f MiB) written in the background in %llu ms "
                 "(its view and fork paused the node %llu ms)", (unsigned long long)index,
                 len / 1048576.0, (unsigned long long)(rep->io.now_ms(rep->io.ctx) - rep->bg_began_ms),
                 (unsigned long long)rep->bg_fork_ms);
        rep->snapshots_background++;
        return compacted(rep, index, term, len);
    }
    if (rc == STORAGE_NO_SPACE) {
        compact_no_space(rep, err);
        return 0;
    }
    if (rc == STORAGE_BG_FAILED) {
        LOG_WARN("replica", "%s; snapshots are written in the foreground from now on", err);
        rep->background_off = true;
        return 0;
    }
    return fatal(rep, "storing a snapshot", err);
}

static bool in_background(const struct replica *rep, size_t len)
{
    return rep->store->ops->compact_begin && rep->cfg.background_snapshot_min &&
           len >= rep->cfg.background_snapshot_min && !rep->background_off;
}

/* Takes a snapshot when the policy says so. The store first, then the core: a snapshot that
 * finds no room leaves both as they were (the log keeps growing meanwhile, and the leader
 * refuses new writes until a retry a second later fits). A large one is written in the
 * background: the core compacts once the store has it (background_done, at a later ready). */
static int maybe_snapshot(struct replica *rep)
{
    if (rep->compact_pending) {
        int rc = background_done(rep);
        if (rc != 0 || rep->compact_pending)
            return rc;
    }
    uint64_t index = raft_applied(rep->r), term;
    if (!snapshot_due(rep, index) || raft_term_at(rep->r, index, &term) != RAFT_OK)
        return 0;
    if (rep->compact_blocked && rep->io.now_ms(rep->io.ctx) < rep->compact_after_ms)
        return 0;
    size_t len;
    char err[512];
    int rc;
    const struct store_ops *ops = rep->store->ops;
    if (rep->sm.snapshot_size && ops->compact_fill) {
        uint64_t t0 = rep->io.now_ms(rep->io.ctx);
        len = rep->sm.snapshot_size(rep->sm.ctx);
        if (in_background(rep, len)) {
            rep->bg_began_ms = t0;
            rc = ops->compact_begin(rep->store, index, term, len, rep->sm.snapshot_write,
                                    rep->sm.ctx, err, sizeof err);
            rep->bg_fork_ms = rep->io.now_ms(rep->io.ctx) - rep->bg_began_ms;
            if (rc == 0) {
                rep->sm.snapshot_done(rep->sm.ctx); /* the child has its own image */
                rep->compact_pending = true;
                return 0;
            }
            LOG_WARN("replica", "cannot write a snapshot in the background (%s); writing it in "
                     "the foreground from now on", err);
            rep->background_off = true;
        }
        rc = ops->compact_fill(rep->store, index, term, len, rep->sm.snapshot_write,
                               rep->sm.ctx, err, sizeof err);
        rep->sm.snapshot_done(rep->sm.ctx);
    } else {
        uint8_t *data;
        rep->sm.snapshot(rep->sm.ctx, &data, &len);
        rc = ops->compact(rep->store, index, term, data, len, err, sizeof err);
        free(data);
    }
    if (rc == STORAGE_NO_SPACE) {
        compact_no_space(rep, err);
        return 0;
    }
    if (rc != 0)
        return fatal(rep, "storing a snapshot", err);
    return compacted(rep, index, term, len);
}

/* One line per step of the recovery of a lost store (see raft_hard_state.recovering). */
static void log_recovery(struct replica *rep, const struct raft_hard_state *hs)
{
    if (hs->recovering && hs->recover_term && !rep->recover_term)
        LOG_INFO("node", "recovery: learnt every member's term; now in term %llu, voting again "
                 "once the log holds an entry of term %llu or later",
                 (unsigned long long)hs->term, (unsigned long long)hs->recover_term);
    else if (!hs->recovering && rep->recovering)
        LOG_INFO("node", "recovery complete: the log holds an entry of term %llu; voting again",
                 (unsigned long long)rep->recover_term);
    rep->recovering = hs->recovering;
    rep->recover_term = hs->recover_term;
}

/* Steps 3 to 5 of a ready whose save succeeded. */
static int after_save(struct replica *rep, struct raft_ready *rd)
{
    if (rd->hard_state_changed) {
        rep->durable_term = rd->hard_state.term;
        rep->durable_vote = rd->hard_state.vote;
        log_recovery(rep, &rd->hard_state);
    }
    send_msgs(rep, rd, false);
    if (rd->has_snapshot) {
        if (rep->sm.restore(rep->sm.ctx, rd->snapshot.index, rd->snapshot_data,
                            rd->snapshot_len) != 0)
            return fatal(rep, "restoring a received snapshot", "invalid snapshot data");
        rep->snapshots_installed++;
        rep->snapshot_len = rd->snapshot_len;
        LOG_INFO("node", "installed snapshot at index %llu from the leader",
                 (unsigned long long)rd->snapshot.index);
    }
    uint64_t committed_ns = rep->io.timing && rd->n_committed ? rep->io.now_ns(rep->io.ctx) : 0;
    for (size_t i = 0; i < rd->n_committed; i++)
        apply_committed(rep, &rd->committed[i], committed_ns);
    if (rd->soft_state_changed) {
        bool leader = rd->soft_state.role == RAFT_LEADER, was = rep->was_leader;
        if (was && !leader) {
            fail_proposals(rep, NODE_LEADERSHIP_LOST);
            fail_reads(rep, NODE_LEADERSHIP_LOST);
        }
        rep->was_leader = leader;
        if (rep->io.on_soft_state)
            rep->io.on_soft_state(rep->io.ctx, &rd->soft_state, was);
    }
    reads_confirmed(rep, rd->reads, rd->n_reads);
    raft_advance(rep->r, rd);
    serve_reads(rep);
    return maybe_snapshot(rep);
}

/* A ready whose save found no room is kept, not lost: nothing that depends on it is sent or
 * applied, and, since nothing may call into the core between raft_ready and raft_advance, the
 * replica takes no input until a retry stores it. Its peers see a silent node and go on
 * without it; it catches up once it stores again. */
static int hold(struct replica *rep, const struct raft_ready *rd, const char *err)
{
    rep->held = *rd;
    rep->holding = true;
    snprintf(rep->error, sizeof rep->error, "%s", err);
    LOG_DEBUG("node", "holding a ready that found no room (%zu entries): %s", rd->n_entries, err);
    if (rd->soft_state.role == RAFT_LEADER) {
        /* It cannot lead like this (no heartbeats): the others will elect a leader. What it
         * proposed may still commit, through them or through it later: as LEADERSHIP_LOST. */
        fail_proposals(rep, NODE_LEADERSHIP_LOST);
        fail_reads(rep, NODE_LEADERSHIP_LOST);
    }
    return REPLICA_HELD;
}

bool replica_has_ready(const struct replica *rep)
{
    return !rep->holding && raft_has_ready(rep->r);
}

int replica_process_one(struct replica *rep)
{
    if (rep->holding || !raft_has_ready(rep->r))
        return 0;
    struct raft_ready rd;
    char err[512];
    uint64_t t0 = rep->io.now_ms(rep->io.ctx);
    if (raft_ready(rep->r, &rd) != RAFT_OK)
        return fatal(rep, "reading the log", "storage read failed");
    send_msgs(rep, &rd, true); /* 1. replication goes out while the leader's copy is written */
    uint64_t t1 = rep->io.now_ms(rep->io.ctx);
    uint64_t save_ns = rep->io.timing ? rep->io.now_ns(rep->io.ctx) : 0;
    int rc = rep->store->ops->save(rep->store, &rd, err, sizeof err); /* 2. */
    if (rep->io.timing && rc == 0)
        rep->io.timing(rep->io.ctx, REPLICA_TIME_SAVE, rep->io.now_ns(rep->io.ctx) - save_ns);
    if (rc == STORAGE_NO_SPACE)
        return hold(rep, &rd, err);
    if (rc != 0)
        return fatal(rep, "persisting Raft state", err);
    uint64_t t2 = rep->io.now_ms(rep->io.ctx);
    if ((rc = after_save(rep, &rd)) != 0) /* 3. to 5. */
        return rc;
    uint64_t t3 = rep->io.now_ms(rep->io.ctx);
    if (rep->cfg.slow_ready_ms && t3 - t0 > rep->cfg.slow_ready_ms)
        LOG_WARN("node", "slow ready: %llu ms (send %llu, save %llu, apply %llu)",
                 (unsigned long long)(t3 - t0), (unsigned long long)(t1 - t0),
                 (unsigned long long)(t2 - t1), (unsigned long long)(t3 - t2));
    return 0;
}

int replica_process(struct replica *rep)
{
    while (!rep->holding && raft_has_ready(rep->r)) {
        int rc = replica_process_one(rep);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int replica_retry(struct replica *rep)
{
    if (!rep->holding)
        return replica_process(rep);
    char err[512];
    int rc = rep->store->ops->save(rep->store, &rep->held, err, sizeof err);
    if (rc == STORAGE_NO_SPACE)
        return REPLICA_HELD;
    if (rc != 0)
        return fatal(rep, "persisting Raft state", err);
    struct raft_ready rd = rep->held;
    memset(&rep->held, 0, sizeof rep->held);
    rep->holding = false;
    if ((rc = after_save(rep, &rd)) != 0)
        return rc;
    return replica_process(rep);
}

/* ---- inputs --------------------------------------------------------------------------------- */

void replica_tick(struct replica *rep)
{
    if (!rep->holding) /* time stands still for a replica that cannot store (see hold) */
        raft_tick(rep->r);
}

int replica_step(struct replica *rep, const struct raft_msg *m)
{
    if (rep->holding)
        return 0; /* dropped, as by the network: Raft retransmits */
    if (raft_step(rep->r, m) != RAFT_OK)
        return fatal(rep, "handling a message", "storage read failed");
    return 0;
}

int replica_grace(struct replica *rep, unsigned ticks)
{
    if (rep->holding)
        return RAFT_ERR_NOT_LEADER;
    return raft_grace(rep->r, ticks);
}

void replica_set_space_low(struct replica *rep, bool low) { rep->space_low = low; }
bool replica_holding(const struct replica *rep) { return rep->holding; }
const char *replica_error(const struct replica *rep) { return rep->error; }
const struct raft *replica_raft(const struct replica *rep) { return rep->r; }
uint64_t replica_snapshots_installed(const struct replica *rep) { return rep->snapshots_installed; }
uint64_t replica_snapshots_taken(const struct replica *rep) { return rep->snapshots_taken; }
uint64_t replica_snapshots_background(const struct replica *rep)
{
    return rep->snapshots_background;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

struct replica *replica_new(const struct replica_config *c, struct store *store,
                            const struct node_sm *sm, const struct replica_io *io, char *err,
                            size_t errlen)
{
    struct raft_init init;
    if (store->ops->load(store, &init, err, errlen) != 0)
        return NULL;
    struct replica *rep = xcalloc(1, sizeof *rep);
    rep->cfg = *c;
    rep->store = store;
    rep->sm = *sm;
    rep->io = *io;
    rep->durable_term = init.hard_state.term;
    rep->durable_vote = init.hard_state.vote;
    rep->recovering = init.hard_state.recovering;
    rep->recover_term = init.hard_state.recover_term;
    if (init.snapshot.index > 0) {
        struct raft_snapshot_meta meta;
        uint8_t *data = NULL;
        size_t len = 0;
        if (store->ops->snapshot(store, &meta, &data, &len) != 0 ||
            sm->restore(sm->ctx, meta.index, data, len) != 0) {
            snprintf(err, errlen, "corrupted data directory: the stored snapshot does not restore");
            free(data);
            free(rep);
            return NULL;
        }
        free(data);
        rep->snapshot_len = len;
    }
    struct raft_config rc = c->raft;
    rc.storage = store->ops->reader(store);
    char why[128];
    if (raft_config_check(&rc, why, sizeof why) != 0) {
        snprintf(err, errlen, "invalid Raft configuration: %s", why);
        free(rep);
        return NULL;
    }
    rep->r = raft_new(&rc, &init);
    if (!rep->r) { /* the config is valid: what the store holds is not */
        snprintf(err, errlen, "corrupted data directory: the stored membership (or the last log "
                              "entry's term) cannot be read");
        free(rep);
        return NULL;
    }
    return rep;
}

void replica_free(struct replica *rep)
{
    if (!rep)
        return;
    if (rep->holding) { /* the applies' copies are the one part of a ready raft_free does not own */
        raft_entries_free(rep->held.committed, rep->held.n_committed);
        free(rep->held.committed);
    }
    fail_proposals(rep, NODE_SHUTDOWN);
    u64map_free(&rep->pending);
    fail_reads(rep, NODE_SHUTDOWN);
    u64map_free(&rep->reads); /* its arrays outlive its entries */
    free(rep->confirmed);
    raft_free(rep->r);
    free(rep);
}
