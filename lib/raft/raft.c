/* The Raft core: roles, elections (with pre-vote and check-quorum), replication with flow
 * control and fast backtracking, commitment, snapshots (chunked InstallSnapshot), membership
 * changes and leadership transfer, and the ready/advance output interface. Pure: see raft.h. */
#include "raft/raft.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "raft/log.h"

enum pr_state { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

/* What the leader knows about one follower (and, outside leadership, vote tallies). */
struct progress {
    uint32_t id;
    bool voter;              /* false: a learner (replicated to, never counted) */
    uint64_t match, next;
    enum pr_state state;
    bool probe_sent;         /* PROBE: one append is out; wait for its reply or a heartbeat */
    uint64_t *inflight;      /* REPLICATE: ring of the last index of each append in flight */
    size_t *in_size;         /* ... and of its entry bytes */
    unsigned in_head, in_count;
    size_t in_bytes;         /* entry bytes in flight */
    bool recent_active;      /* heard from since the last check-quorum round */
    uint64_t commit_sent;    /* highest commit index this follower was told */
    uint64_t sent_round;     /* the heartbeat round in which entries (or a probe) last left */
    uint64_t read_ack;       /* highest read round this follower has acknowledged */
    struct raft_snapshot_meta snap; /* SNAPSHOT: the one being sent */
    uint64_t snap_offset;    /* SNAPSHOT: the next byte the follower wants */
    bool vote_responded, vote_granted;
    bool probe_heard;        /* recovering: this member answered the current probe round */
};

struct raft {
    struct raft_config cfg;
    struct rng rng;
    uint64_t term;
    uint32_t vote;
    uint64_t commit;
    enum raft_role role;
    uint32_t leader;
    struct raft_log log;
    uint64_t applied;
    unsigned election_elapsed, heartbeat_elapsed, randomized_timeout;
    struct progress *prs; /* one per member, this node included */
    size_t n_prs;
    bool need_broadcast;  /* proposals arrived: send appends when the ready is built */
    bool need_commit_notify; /* commit moved: tell followers at the next tick (coalesced) */
    struct raft_msg *msgs;
    size_t n_msgs, cap_msgs;
    /* ReadIndex: reads wait for a quorum to acknowledge read round `seq` (or a later one) */
    uint64_t read_seq;       /* the latest read round; carried by every append */
    uint64_t hb_round;       /* heartbeat rounds sent as leader; carried by every append */
    unsigned grace;          /* ticks of silence not counted (raft_grace): the leader's own, or
                                on a follower the last its leader sent */
    bool need_read_round;    /* reads arrived: send heartbeats when the ready is built */
    struct read_wait { uint64_t id, index, seq; } *reads_waiting;
    size_t n_reads_waiting, cap_reads_waiting;
    struct raft_read *reads_ready;
    size_t n_reads_ready, cap_reads_ready;
    /* InstallSnapshot being received: recv_snap from leader recv_from in term recv_term (two
     * leaders' snapshots of one index may differ in bytes: chunks of one are never appended to
     * the other's) */
    struct raft_snapshot_meta recv_snap;
    uint32_t recv_from;
    uint64_t recv_term;
    uint8_t *recv_buf;
    size_t recv_len, recv_cap;
    /* a received snapshot to hand out in the next ready */
    bool install_pending;
    struct raft_snapshot_meta install_snap;
    uint8_t *install_data;
    size_t install_len;
    /* what the last ready reported, to detect changes */
    struct raft_hard_state prev_hs;
    struct raft_soft_state prev_ss;
    int storage_failed;
    /* Recovery of a lost store (raft_hard_state.recovering; docs/RAFT.md) */
    bool recovering;
    uint64_t recover_term;   /* 0 while probing; then: votes again once the log reaches it */
    uint64_t probe_nonce;    /* the current probe round */
    uint64_t probe_max;      /* the highest term the members answered in this round */
    unsigned probe_elapsed;  /* ticks since the last probes went out */
    /* Membership (membership.h): prs follows the latest membership */
    struct membership_state ms;
    bool conf_dirty;         /* ms changed since the last ready reported it */
    uint8_t *conf_buf;       /* its encoding, for the ready */
    size_t conf_len;
    /* Leadership transfer (raft_transfer_leader) */
    uint32_t transfer_to;
    unsigned transfer_elapsed;
    bool transfer_sent;      /* TIMEOUT_NOW went out */
};

/* A learner may be promoted once it has acknowledged the log up to this many entries below
 * the commit index (and is being replicated to normally, not sent a snapshot). */
#define PROMOTE_LAG 1000

static void send_append(struct raft *r, struct progress *pr, bool force);
static void become_follower(struct raft *r, uint64_t term, uint32_t leader);

/* ---- small helpers ----------------------------------------------------------------------- */

void raft_config_default(struct raft_config *c)
{
    memset(c, 0, sizeof *c);
    c->election_ticks = RAFT_DEFAULT_ELECTION_TICKS;
    c->heartbeat_ticks = RAFT_DEFAULT_HEARTBEAT_TICKS;
    c->pre_vote = true;
    c->check_quorum = true;
    c->max_msg_bytes = 1u << 20;
    c->max_inflight = 256;
    c->max_inflight_bytes = 16u << 20;
    c->snapshot_chunk = 1u << 20;
    c->max_apply_bytes = 16u << 20;
}

static bool peers_distinct(const struct raft_config *c)
{
    for (size_t i = 0; i < c->n_peers; i++) {
        if (c->peers[i] == RAFT_NONE)
            return false;
        for (size_t j = 0; j < i; j++)
            if (c->peers[j] == c->peers[i])
                return false;
    }
    return true;
}

int raft_config_check(const struct raft_config *c, char *err, size_t errlen)
{
    const char *problem = NULL;
    if (c->id == RAFT_NONE)
        problem = "id must not be zero";
    else if (c->n_peers > RAFT_MAX_MEMBERS)
        problem = "too many members (at most 16)";
    else if (!peers_distinct(c))
        problem = "peers must be distinct non-zero ids";
    else if (c->heartbeat_ticks == 0)
        problem = "heartbeat_ticks must be at least 1";
    else if (c->election_ticks <= c->heartbeat_ticks)
        problem = "election_ticks must be larger than heartbeat_ticks";
    else if (c->max_inflight == 0 || c->max_inflight_bytes == 0)
        problem = "max_inflight and max_inflight_bytes must not be zero";
    else if (c->snapshot_chunk == 0)
        problem = "snapshot_chunk must not be zero";
    if (!problem)
        return 0;
    snprintf(err, errlen, "%s", problem);
    return -1;
}

const char *raft_role_name(enum raft_role role)
{
    static const char *const n[] = { "follower", "precandidate", "candidate", "leader" };
    return (unsigned)role < ARRAY_LEN(n) ? n[role] : "?";
}

const char *raft_msg_type_name(enum raft_msg_type t)
{
    static const char *const n[] = { "Vote", "VoteReply", "Append", "AppendReply", "Snapshot",
                                     "SnapshotReply", "Probe", "ProbeReply", "TimeoutNow" };
    return (unsigned)t < ARRAY_LEN(n) ? n[t] : "?";
}

void raft_msg_free_contents(struct raft_msg *m)
{
    raft_entries_free(m->entries, m->n_entries);
    free(m->entries);
    free(m->data);
    free(m->conf);
    m->entries = NULL;
    m->n_entries = 0;
    m->data = NULL;
    m->len = 0;
    m->conf = NULL;
    m->conf_len = 0;
}

void raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src)
{
    *dst = *src;
    dst->entries = NULL;
    dst->data = NULL;
    dst->conf = NULL;
    if (src->n_entries) {
        dst->entries = xmalloc(src->n_entries * sizeof *dst->entries);
        for (size_t i = 0; i < src->n_entries; i++) {
            dst->entries[i] = src->entries[i];
            dst->entries[i].data = xmalloc(src->entries[i].len ? src->entries[i].len : 1);
            memcpy(dst->entries[i].data, src->entries[i].data, src->entries[i].len);
        }
    }
    if (src->data) {
        dst->data = xmalloc(src->len ? src->len : 1);
        memcpy(dst->data, src->data, src->len);
    }
    if (src->conf) {
        dst->conf = xmalloc(src->conf_len ? src->conf_len : 1);
        memcpy(dst->conf, src->conf, src->conf_len);
    }
}

static const struct raft_membership *latest(const struct raft *r)
{
    return membership_latest(&r->ms);
}

static size_t quorum(const struct raft *r) { return membership_quorum(latest(r)); }

static struct progress *progress_of(struct raft *r, uint32_t id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

static bool is_self(const struct raft *r, const struct progress *pr) { return pr->id == r->cfg.id; }

static struct raft_msg *msg_new(struct raft *r, enum raft_msg_type type, uint32_t to)
{
    if (r->n_msgs == r->cap_msgs) {
        r->cap_msgs = r->cap_msgs ? r->cap_msgs * 2 : 16;
        r->msgs = xrealloc(r->msgs, r->cap_msgs * sizeof *r->msgs);
    }
    struct raft_msg *m = &r->msgs[r->n_msgs++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = r->cfg.id;
    m->to = to;
    m->term = r->term;
    if (type == RAFT_MSG_APPEND) {
        m->read_seq = r->read_seq;
        m->hb_round = r->hb_round;
        m->grace = r->grace;
    }
    return m;
}

/* Reads a term the core needs; a storage failure is remembered and surfaces from raft_ready. */
static uint64_t term_at(struct raft *r, uint64_t index, int *rc)
{
    uint64_t t = 0;
    *rc = raft_log_term(&r->log, index, &t);
    if (*rc == LOG_ERR)
        r->storage_failed = 1;
    return t;
}

static void reset_election_timer(struct raft *r)
{
    r->election_elapsed = 0;
    r->randomized_timeout =
        r->cfg.election_ticks + (unsigned)rng_below(&r->rng, r->cfg.election_ticks);
}

/* ---- inflight window --------------------------------------------------------------------- */

/* Bounded in count and in bytes, so that a large entry cannot queue many more behind it on a
 * slow link (one append is always allowed, however large). */
static bool inflight_full(const struct raft *r, const struct progress *pr)
{
    return pr->in_count >= r->cfg.max_inflight ||
           (pr->in_count > 0 && pr->in_bytes >= r->cfg.max_inflight_bytes);
}

static void inflight_add(const struct raft *r, struct progress *pr, uint64_t last, size_t bytes)
{
    unsigned slot = (pr->in_head + pr->in_count) % r->cfg.max_inflight;
    pr->inflight[slot] = last;
    pr->in_size[slot] = bytes;
    pr->in_count++;
    pr->in_bytes += bytes;
}

/* Frees every append in flight whose last index is <= to. */
static void inflight_free_to(const struct raft *r, struct progress *pr, uint64_t to)
{
    while (pr->in_count > 0 && pr->inflight[pr->in_head] <= to) {
        pr->in_bytes -= pr->in_size[pr->in_head];
        pr->in_head = (pr->in_head + 1) % r->cfg.max_inflight;
        pr->in_count--;
    }
}

static void progress_probe(struct progress *pr, uint64_t next)
{
    pr->state = PR_PROBE;
    pr->next = MAX(next, pr->match + 1);
    pr->probe_sent = false;
    pr->in_count = 0;
    pr->in_bytes = 0;
}

/* ---- membership ------------------------------------------------------------------------- */

static void progress_free(struct progress *pr)
{
    free(pr->inflight);
    free(pr->in_size);
}

/* Makes prs follow the latest membership: progress kept for those who stay, new progress (in
 * probe, from the end of the log, on a leader) for those who join. */
static void sync_progress(struct raft *r)
{
    const struct raft_membership *c = latest(r);
    struct progress *prs = xcalloc(c->n ? c->n : 1, sizeof *prs);
    uint64_t last = raft_log_last(&r->log);
    for (size_t i = 0; i < c->n; i++) {
        struct progress *old = progress_of(r, c->m[i].id);
        if (old) {
            prs[i] = *old;
            old->id = RAFT_NONE; /* moved: not freed below */
        } else {
            prs[i].id = c->m[i].id;
            prs[i].inflight = xcalloc(r->cfg.max_inflight, sizeof *prs[i].inflight);
            prs[i].in_size = xcalloc(r->cfg.max_inflight, sizeof *prs[i].in_size);
            prs[i].recent_active = true;
            progress_probe(&prs[i], last + 1);
        }
        prs[i].voter = c->m[i].voter;
    }
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id != RAFT_NONE)
            progress_free(&r->prs[i]);
    free(r->prs);
    r->prs = prs;
    r->n_prs = c->n;
    r->conf_dirty = true;
    if (r->transfer_to && !membership_is_voter(c, r->transfer_to))
        r->transfer_to = RAFT_NONE;
}

/* Appends entries to the log (replacing it from e[0].index): the membership follows, config
 * entries being in force once appended. Returns false (storage_failed set) when a config
 * entry cannot be read, which only a corrupted log gives. */
static bool append_entries(struct raft *r, const struct raft_entry *e, size_t n)
{
    if (n == 0)
        return true;
    uint64_t before = membership_latest_index(&r->ms);
    membership_truncate(&r->ms, e[0].index);
    bool changed = membership_latest_index(&r->ms) != before;
    for (size_t i = 0; i < n; i++) {
        if (e[i].type != RAFT_ENTRY_CONFIG)
            continue;
        struct raft_membership c;
        if (membership_decode(e[i].data, e[i].len, &c) != 0) {
            r->storage_failed = 1;
            return false;
        }
        membership_push(&r->ms, e[i].index, &c);
        changed = true;
    }
    raft_log_append(&r->log, e, n);
    if (changed)
        sync_progress(r);
    return true;
}

/* ---- roles ------------------------------------------------------------------------------- */

static void become_follower(struct raft *r, uint64_t term, uint32_t leader)
{
    if (term != r->term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->transfer_to = RAFT_NONE;
    r->grace = 0; /* a grace is one leader's, for its followers */
    r->n_reads_waiting = r->n_reads_ready = 0; /* the driver fails them on the role change */
    r->need_read_round = false;
    reset_election_timer(r);
}

static void reset_votes(struct raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++)
        r->prs[i].vote_responded = r->prs[i].vote_granted = false;
}

static void become_leader(struct raft *r);

/* Counts this vote; returns granted - quorum reached (>0), rejected - quorum (<0), or 0. */
static int tally(struct raft *r, uint32_t from, bool granted)
{
    struct progress *pr = progress_of(r, from);
    if (pr && !pr->vote_responded) {
        pr->vote_responded = true;
        pr->vote_granted = granted;
    }
    size_t yes = 0, no = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        if (!r->prs[i].voter || !r->prs[i].vote_responded)
            continue;
        if (r->prs[i].vote_granted)
            yes++;
        else
            no++;
    }
    return yes >= quorum(r) ? 1 : no >= quorum(r) ? -1 : 0;
}

/* Starts a (pre-)election round: asks every other voter for its vote. transfer: the leader
 * asked for it (TIMEOUT_NOW), so the voters' leases do not apply. */
static void request_votes(struct raft *r, bool prevote, bool transfer)
{
    reset_votes(r);
    uint64_t last = raft_log_last(&r->log), last_term = raft_log_last_term(&r->log);
    if (tally(r, r->cfg.id, true) > 0) { /* a one-member cluster */
        if (prevote) {
            r->term++;
            r->vote = r->cfg.id;
        }
        become_leader(r);
        return;
    }
    for (size_t i = 0; i < r->n_prs; i++) {
        if (is_self(r, &r->prs[i]) || !r->prs[i].voter)
            continue;
        struct raft_msg *m = msg_new(r, RAFT_MSG_VOTE, r->prs[i].id);
        m->prevote = prevote;
        m->transfer = transfer;
        m->term = prevote ? r->term + 1 : r->term;
        m->last_index = last;
        m->last_term = last_term;
    }
}

static void become_candidate(struct raft *r, bool transfer)
{
    r->term++;
    r->vote = r->cfg.id;
    r->role = RAFT_CANDIDATE;
    r->leader = RAFT_NONE;
    reset_election_timer(r);
    request_votes(r, false, transfer);
}

/* Whether this node may stand for election: as a voter of its latest membership, or of the
 * one in force at its commit index. The second: a removal of itself that it has not seen
 * commit may yet be lost, and its log may be the one the others need to elect anybody (it
 * counts the votes by its latest membership, in which its own does not count). A learner, a
 * joining node and a node whose removal committed never campaign. */
static bool may_campaign(const struct raft *r)
{
    return membership_is_voter(latest(r), r->cfg.id) ||
           membership_is_voter(membership_at(&r->ms, r->commit), r->cfg.id);
}

static void campaign(struct raft *r)
{
    if (!may_campaign(r))
        return;
    if (r->recovering)
        return; /* it may not vote for itself either (see raft_hard_state.recovering) */
    if (r->cfg.pre_vote) {
        r->role = RAFT_PRECANDIDATE;
        r->leader = RAFT_NONE;
        reset_election_timer(r);
        request_votes(r, true, false);
    } else {
        become_candidate(r, false);
    }
}

static void become_leader(struct raft *r)
{
    r->role = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->transfer_to = RAFT_NONE;
    r->grace = 0;
    r->need_commit_notify = false;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    uint64_t last = raft_log_last(&r->log);
    for (size_t i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        pr->match = 0;
        pr->commit_sent = 0;
        pr->sent_round = 0;
        pr->recent_active = true;
        pr->read_ack = 0;
        progress_probe(pr, last + 1);
    }
    /* A membership change left uncommitted by an earlier leader commits only through an entry
     * of this term: one comes at once (else, without client writes, no further change could
     * ever be made, nor would a leader that removed itself step down). */
    if (r->cfg.noop_on_elect || membership_latest_index(&r->ms) > r->commit) {
        struct raft_entry e = { r->term, last + 1, RAFT_ENTRY_NOOP, NULL, 0 };
        append_entries(r, &e, 1);
    }
    /* Announce leadership at once: an append (a probe) to every follower. */
    for (size_t i = 0; i < r->n_prs; i++)
        if (!is_self(r, &r->prs[i]))
            send_append(r, &r->prs[i], true);
}

/* ---- replication (leader side) ---------------------------------------------------------- */

static void send_snapshot_chunk(struct raft *r, struct progress *pr)
{
    struct raft_msg *m = msg_new(r, RAFT_MSG_SNAPSHOT, pr->id);
    uint64_t total = 0;
    size_t n = 0;
    struct raft_snapshot_meta meta;
    m->data = xmalloc(r->cfg.snapshot_chunk);
    if (r->cfg.storage.snapshot(r->cfg.storage.ctx, pr->snap_offset, m->data, r->cfg.snapshot_chunk,
                                &n, &total, &meta) != 0) {
        r->storage_failed = 1;
        r->n_msgs--;
        free(m->data);
        return;
    }
    if (meta.index != pr->snap.index || meta.term != pr->snap.term) {
        /* The stored snapshot changed under the transfer: start over with the new one. */
        pr->snap = meta;
        pr->snap_offset = 0;
        if (r->cfg.storage.snapshot(r->cfg.storage.ctx, 0, m->data, r->cfg.snapshot_chunk, &n,
                                    &total, &meta) != 0) {
            r->storage_failed = 1;
            r->n_msgs--;
            free(m->data);
            return;
        }
    }
    m->snap = meta;
    m->offset = pr->snap_offset;
    m->len = n;
    m->done = pr->snap_offset + n >= total;
    /* The stored snapshot is the one the core compacted to (raft_compact): the base. */
    membership_encode(membership_at(&r->ms, meta.index), &m->conf, &m->conf_len);
}

static void start_snapshot(struct raft *r, struct progress *pr)
{
    pr->state = PR_SNAPSHOT;
    pr->snap = (struct raft_snapshot_meta){ r->log.snap_index, r->log.snap_term };
    pr->snap_offset = 0;
    pr->in_count = 0;
    pr->in_bytes = 0;
    send_snapshot_chunk(r, pr);
}

/* Sends the follower what it lacks, as flow control allows. force: send even when there is
 * no entry to carry (a probe, or to learn the follower's position). */
static void send_append(struct raft *r, struct progress *pr, bool force)
{
    if (pr->state == PR_SNAPSHOT)
        return;
    if (pr->state == PR_PROBE && pr->probe_sent)
        return;
    if (pr->state == PR_REPLICATE && inflight_full(r, pr))
        return;
    uint64_t last = raft_log_last(&r->log);
    if (!force && pr->next > last)
        return;
    int rc;
    uint64_t prev = pr->next - 1;
    uint64_t prev_term = term_at(r, prev, &rc);
    if (rc == LOG_COMPACTED) {
        start_snapshot(r, pr);
        return;
    }
    if (rc != LOG_OK)
        return;
    struct raft_entry *e = NULL;
    size_t n = 0;
    if (pr->next <= last &&
        raft_log_entries(&r->log, pr->next, last, r->cfg.max_msg_bytes, &e, &n) != LOG_OK) {
        r->storage_failed = 1;
        return;
    }
    struct raft_msg *m = msg_new(r, RAFT_MSG_APPEND, pr->id);
    m->prev_index = prev;
    m->prev_term = prev_term;
    m->entries = e;
    m->n_entries = n;
    m->commit = r->commit;
    pr->commit_sent = MAX(pr->commit_sent, MIN(r->commit, prev + n));
    if (n > 0 || pr->state == PR_PROBE)
        pr->sent_round = r->hb_round;
    if (pr->state == PR_REPLICATE) {
        if (n > 0) {
            size_t bytes = 0;
            for (size_t i = 0; i < n; i++)
                bytes += e[i].len;
            pr->next = prev + n + 1;
            inflight_add(r, pr, prev + n, bytes);
        }
    } else {
        pr->probe_sent = true;
    }
}

/* A heartbeat carries only the commit index, bounded by what the follower is known to match,
 * so the follower can apply it without a log check. prev_index tells it how far the leader
 * has sent, so the reply reveals appends lost on the way. */
static void send_heartbeat(struct raft *r, struct progress *pr)
{
    struct raft_msg *m = msg_new(r, RAFT_MSG_APPEND, pr->id);
    m->heartbeat = true;
    m->commit = MIN(r->commit, pr->match);
    m->prev_index = pr->next - 1;
    pr->commit_sent = MAX(pr->commit_sent, m->commit);
}

static void broadcast_appends(struct raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (!is_self(r, &r->prs[i]))
            send_append(r, &r->prs[i], false);
}

/* After the commit index moves: tell followers that can use it, at the next tick, so that a
 * burst of acknowledgements costs one notification per follower rather than one each. */
static void broadcast_commit(struct raft *r) { r->need_commit_notify = true; }

static void notify_commit(struct raft *r)
{
    r->need_commit_notify = false;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (!is_self(r, pr) && pr->state != PR_SNAPSHOT && MIN(r->commit, pr->match) > pr->commit_sent)
            send_heartbeat(r, pr);
    }
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

/* The highest value that a quorum of members has reached, given each member's value. */
static uint64_t quorum_value(const struct raft *r, uint64_t (*value)(const struct raft *,
                                                                     const struct progress *))
{
    uint64_t v[RAFT_MAX_MEMBERS];
    size_t n = 0;
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].voter)
            v[n++] = value(r, &r->prs[i]);
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_desc);
    return v[quorum(r) - 1];
}

/* What a voter holds durably (the leader's own entries count once stored; a leader that is
 * removing itself is not in prs, so it does not count). */
static uint64_t match_of(const struct raft *r, const struct progress *pr)
{
    return is_self(r, pr) ? r->log.stable_last : pr->match;
}

/* Commits the highest index stored on a majority, if it is of the current term (Figure 8:
 * entries of earlier terms commit only indirectly). Returns true when commit moved. */
static bool maybe_commit(struct raft *r)
{
    uint64_t n = quorum_value(r, match_of);
    if (n <= r->commit)
        return false;
    int rc;
    uint64_t t = term_at(r, n, &rc);
    if (rc != LOG_OK)
        return false;
    if (t != r->term && r->cfg.planted_bug != RAFT_BUG_COMMIT_OLD_TERM)
        return false;
    r->commit = n;
    return true;
}

static void send_timeout_now(struct raft *r, struct progress *pr)
{
    msg_new(r, RAFT_MSG_TIMEOUT_NOW, pr->id);
    r->transfer_sent = true;
}

/* A leader whose removal has committed steps down, first telling the most up-to-date voter
 * to campaign at once, so that the cluster does not wait an election timeout for a leader.
 * Called where no caller holds a progress pointer (the end of each input). */
static void step_down_if_removed(struct raft *r)
{
    if (r->role != RAFT_LEADER || membership_find(latest(r), r->cfg.id) ||
        membership_latest_index(&r->ms) > r->commit)
        return;
    struct progress *best = NULL;
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].voter && (!best || r->prs[i].match > best->match))
            best = &r->prs[i];
    if (best && best->match == raft_log_last(&r->log))
        send_timeout_now(r, best);
    become_follower(r, r->term, RAFT_NONE);
}

/* The leader's next index for a follower that rejected an append at prev_index, from the
 * follower's hints: skip a whole conflicting term at a time. */
static uint64_t backtrack(struct raft *r, const struct raft_msg *m)
{
    if (m->conflict_term == 0)
        return m->conflict_index;
    /* The last entry of conflict_term in the leader's log, searching down from prev_index. */
    uint64_t i = MIN(m->prev_index, raft_log_last(&r->log));
    for (; i > r->log.snap_index; i--) {
        int rc;
        uint64_t t = term_at(r, i, &rc);
        if (rc != LOG_OK || t < m->conflict_term)
            break;
        if (t == m->conflict_term)
            return i + 1;
    }
    return m->conflict_index;
}

static void confirm_reads(struct raft *r);

/* A recovering follower votes again only once its log holds an entry of a term above every
 * term it may have promised in: a leader without an entry of its own term gives it one. */
static void help_recovery(struct raft *r, const struct raft_msg *m)
{
    if (!m->recovering || raft_log_last_term(&r->log) == r->term)
        return;
    struct raft_entry e = { r->term, raft_log_last(&r->log) + 1, RAFT_ENTRY_NOOP, NULL, 0 };
    append_entries(r, &e, 1);
    r->need_broadcast = true;
}

static void handle_append_reply(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = progress_of(r, m->from);
    if (!pr || is_self(r, pr))
        return;
    pr->recent_active = true;
    help_recovery(r, m);
    if (m->read_seq > pr->read_ack) { /* any reply of this term acknowledges the leadership */
        pr->read_ack = MIN(m->read_seq, r->read_seq);
        if (r->n_reads_waiting)
            confirm_reads(r);
    }
    if (m->heartbeat) {
        /* Links are FIFO: when this heartbeat left after the last entries (or probe) sent to
         * the follower, their replies would have come first; since the follower is still not
         * known to hold them, they or their replies were lost: send again. Evidence, not a
         * clock: a large entry that simply takes long to move and to store is sent once. */
        bool after = m->hb_round > pr->sent_round;
        if (pr->state == PR_PROBE && after) {
            pr->probe_sent = false;
            send_append(r, pr, true);
        } else if (pr->state == PR_REPLICATE && after && pr->match < pr->next - 1) {
            progress_probe(pr, MIN(m->last_index + 1, pr->next));
            send_append(r, pr, true);
        }
        return;
    }
    if (!m->success) {
        /* Only a rejection of the append this progress is waiting on moves next back. */
        bool stale = pr->state == PR_PROBE ? m->prev_index != pr->next - 1
                                           : m->prev_index <= pr->match;
        if (stale)
            return;
        uint64_t next = MIN(backtrack(r, m), m->prev_index); /* always move back */
        progress_probe(pr, MAX(next, 1));
        send_append(r, pr, true);
        return;
    }
    if (m->match_index > pr->match) {
        pr->match = m->match_index;
        if (pr->next <= pr->match)
            pr->next = pr->match + 1;
        inflight_free_to(r, pr, pr->match);
        if (pr->state == PR_PROBE) {
            pr->state = PR_REPLICATE;
            pr->next = pr->match + 1;
            pr->probe_sent = false;
            pr->in_count = 0;
            pr->in_bytes = 0;
        }
        if (maybe_commit(r))
            broadcast_commit(r);
        if (r->transfer_to == pr->id && !r->transfer_sent && pr->match == raft_log_last(&r->log))
            send_timeout_now(r, pr); /* the target caught up: it may campaign now */
    } else if (pr->state == PR_PROBE) {
        pr->probe_sent = false;
        if (m->match_index == pr->match && pr->next == pr->match + 1) {
            pr->state = PR_REPLICATE;
            pr->in_count = 0;
            pr->in_bytes = 0;
        }
    }
    send_append(r, pr, false);
}

static void handle_snapshot_reply(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = progress_of(r, m->from);
    if (!pr || is_self(r, pr))
        return;
    pr->recent_active = true;
    help_recovery(r, m);
    if (pr->state != PR_SNAPSHOT || m->snap.index != pr->snap.index || m->snap.term != pr->snap.term)
        return;
    if (m->done) {
        pr->match = MAX(pr->match, m->snap.index);
        progress_probe(pr, pr->match + 1);
        send_append(r, pr, true);
        return;
    }
    /* The next chunk goes when the follower moved on (or went back: it lost what it had). A
     * reply that wants the chunk already sent answers a duplicate (the heartbeats resend
     * unacknowledged chunks): sending again on it would add one more copy of every later
     * chunk to the link at each heartbeat. */
    if (m->offset == pr->snap_offset)
        return;
    pr->snap_offset = m->offset;
    send_snapshot_chunk(r, pr);
}

/* ---- follower side ------------------------------------------------------------------------ */

static void reply_append(struct raft *r, const struct raft_msg *req, bool success, uint64_t match,
                         uint64_t conflict_term, uint64_t conflict_index)
{
    struct raft_msg *m = msg_new(r, RAFT_MSG_APPEND_REPLY, req->from);
    m->success = success;
    m->heartbeat = req->heartbeat;
    m->prev_index = req->prev_index;
    m->match_index = match;
    m->conflict_term = conflict_term;
    m->conflict_index = conflict_index;
    m->last_index = raft_log_last(&r->log);
    m->read_seq = req->read_seq;
    m->hb_round = req->hb_round;
    m->recovering = r->recovering;
}

static void set_commit(struct raft *r, uint64_t c)
{
    if (c > r->commit)
        r->commit = c;
}

static void handle_append(struct raft *r, const struct raft_msg *m)
{
    if (m->heartbeat) {
        set_commit(r, MIN(m->commit, raft_log_last(&r->log)));
        reply_append(r, m, true, 0, 0, 0);
        return;
    }
    uint64_t prev = m->prev_index, prev_term = m->prev_term;
    const struct raft_entry *e = m->entries;
    size_t n = m->n_entries;
    /* Entries at or below the snapshot are committed, hence equal to the leader's: skip. */
    if (prev < r->log.snap_index) {
        size_t skip = 0;
        while (skip < n && e[skip].index <= r->log.snap_index)
            skip++;
        e += skip;
        n -= skip;
        prev = r->log.snap_index;
        prev_term = r->log.snap_term;
        if (n == 0) {
            reply_append(r, m, true, r->log.snap_index, 0, 0);
            return;
        }
    }
    uint64_t last = raft_log_last(&r->log);
    if (prev > last) {
        reply_append(r, m, false, 0, 0, last + 1);
        return;
    }
    int rc;
    uint64_t t = term_at(r, prev, &rc);
    if (rc != LOG_OK)
        return;
    if (t != prev_term) {
        /* Fast backtracking: report the conflicting term and where it starts. */
        uint64_t first = prev;
        while (first - 1 > r->log.snap_index) {
            uint64_t tt = term_at(r, first - 1, &rc);
            if (rc != LOG_OK || tt != t)
                break;
            first--;
        }
        reply_append(r, m, false, 0, t, first);
        return;
    }
    /* Skip entries already present; from the first conflict (or the end), append. */
    size_t i = 0;
    for (; i < n; i++) {
        if (e[i].index > last)
            break;
        uint64_t have = term_at(r, e[i].index, &rc);
        if (rc != LOG_OK)
            return;
        if (have != e[i].term) {
            assert(e[i].index > r->commit); /* Raft never overwrites a committed entry */
            break;
        }
    }
    if (i < n && !append_entries(r, e + i, n - i))
        return;
    uint64_t last_new = prev + n;
    set_commit(r, MIN(m->commit, last_new));
    reply_append(r, m, true, last_new, 0, 0);
}

static void reply_snapshot(struct raft *r, const struct raft_msg *req, bool done, uint64_t offset)
{
    struct raft_msg *m = msg_new(r, RAFT_MSG_SNAPSHOT_REPLY, req->from);
    m->snap = req->snap;
    m->done = done;
    m->offset = offset;
    m->success = true;
    m->recovering = r->recovering;
}

static void install_snapshot(struct raft *r, const struct raft_membership *conf)
{
    struct raft_snapshot_meta s = r->recv_snap;
    int rc;
    uint64_t t = term_at(r, s.index, &rc);
    if (rc == LOG_OK && t == s.term) {
        /* Our log already holds that point: the snapshot only tells us it is committed. */
        set_commit(r, s.index);
        return;
    }
    free(r->install_data);
    r->install_pending = true;
    r->install_snap = s;
    r->install_data = r->recv_buf;
    r->install_len = r->recv_len;
    r->recv_buf = NULL;
    r->recv_len = r->recv_cap = 0;
    raft_log_restore(&r->log, &s);
    r->commit = s.index;
    membership_reset(&r->ms, s.index, conf);
    sync_progress(r);
}

static void handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    if (m->snap.index <= r->commit) {
        reply_snapshot(r, m, true, 0);
        return;
    }
    bool same = r->recv_snap.index == m->snap.index && r->recv_snap.term == m->snap.term &&
                r->recv_from == m->from && r->recv_term == m->term;
    if (!same && m->offset == 0) { /* a transfer begins (a duplicate first chunk does not) */
        r->recv_snap = m->snap;
        r->recv_from = m->from;
        r->recv_term = m->term;
        r->recv_len = 0;
        same = true;
    }
    if (!same || m->offset != r->recv_len) {
        /* Not the chunk we expect: tell the leader where to resume. */
        reply_snapshot(r, m, false, same ? r->recv_len : 0);
        return;
    }
    if (r->recv_len + m->len > r->recv_cap) {
        r->recv_cap = MAX(r->recv_cap * 2, r->recv_len + m->len);
        r->recv_buf = xrealloc(r->recv_buf, r->recv_cap);
    }
    if (m->len)
        memcpy(r->recv_buf + r->recv_len, m->data, m->len);
    r->recv_len += m->len;
    if (!m->done) {
        reply_snapshot(r, m, false, r->recv_len);
        return;
    }
    struct raft_membership conf;
    if (membership_decode(m->conf, m->conf_len, &conf) != 0)
        return; /* no leader sends this: the chunk is dropped, as by the network */
    install_snapshot(r, &conf);
    reply_snapshot(r, m, true, 0);
}

/* ---- votes ----------------------------------------------------------------------------- */

static void handle_vote(struct raft *r, const struct raft_msg *m)
{
    bool in_lease = r->cfg.check_quorum && r->leader != RAFT_NONE &&
                    (r->election_elapsed < r->cfg.election_ticks || r->grace > 0);
    if (m->term > r->term && in_lease && !m->transfer)
        return; /* a live leader exists: do not let a returning node disrupt it */
    if (m->term < r->term) {
        struct raft_msg *rep = msg_new(r, RAFT_MSG_VOTE_REPLY, m->from);
        rep->prevote = m->prevote;
        return;
    }
    if (!m->prevote && m->term > r->term)
        become_follower(r, m->term, RAFT_NONE);
    bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
                    (m->prevote && m->term > r->term);
    if (r->cfg.planted_bug == RAFT_BUG_DOUBLE_VOTE && !m->prevote)
        can_vote = true;
    uint64_t my_last = raft_log_last(&r->log), my_last_term = raft_log_last_term(&r->log);
    bool up_to_date = m->last_term > my_last_term ||
                      (m->last_term == my_last_term && m->last_index >= my_last);
    bool grant = can_vote && up_to_date && !r->recovering;
    struct raft_msg *rep = msg_new(r, RAFT_MSG_VOTE_REPLY, m->from);
    rep->prevote = m->prevote;
    rep->granted = grant;
    if (m->prevote)
        rep->term = grant ? m->term : r->term;
    if (grant && !m->prevote) {
        r->vote = m->from;
        reset_election_timer(r);
    }
}

static void handle_vote_reply(struct raft *r, const struct raft_msg *m)
{
    if (m->prevote) {
        if (r->role != RAFT_PRECANDIDATE)
            return;
        if (!m->granted && m->term > r->term) {
            become_follower(r, m->term, RAFT_NONE);
            return;
        }
        if (m->granted && m->term != r->term + 1)
            return; /* a reply to an older round */
    } else {
        if (r->role != RAFT_CANDIDATE || m->term != r->term)
            return;
    }
    int t = tally(r, m->from, m->granted);
    if (t > 0) {
        if (m->prevote)
            become_candidate(r, false);
        else
            become_leader(r);
    } else if (t < 0) {
        become_follower(r, r->term, RAFT_NONE);
    }
}

/* ---- recovery of a lost store (docs/RAFT.md, "Replacing a lost store") -------------------- */

static bool probing(const struct raft *r) { return r->recovering && r->recover_term == 0; }

/* Asks every member that has not answered this round for its current term. */
static void send_probes(struct raft *r)
{
    r->probe_elapsed = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        if (is_self(r, &r->prs[i]) || !r->prs[i].voter || r->prs[i].probe_heard)
            continue;
        struct raft_msg *m = msg_new(r, RAFT_MSG_PROBE, r->prs[i].id);
        m->nonce = r->probe_nonce;
    }
}

/* Votes again once the log holds an entry of term >= recover_term: such an entry was made by a
 * leader elected after every term this node may have voted or acknowledged in, so (leader
 * completeness and log matching) the log then holds everything committed before the loss. */
static void maybe_end_recovery(struct raft *r)
{
    if (r->recovering && r->recover_term > 0 &&
        raft_log_last_term(&r->log) >= r->recover_term) {
        r->recovering = false;
        r->recover_term = 0;
    }
}

/* Every other member answered: the highest of their terms is at least every term this node
 * may have voted or acknowledged in before its store was lost (terms are durable, and each
 * such term is known to the member it voted for or acknowledged). It moves one term past that,
 * with its vote in that term taken (it never campaigned there, so no candidate holds it), so no
 * leader it will ever follow can count an acknowledgement it gave before the loss. */
static void finish_probing(struct raft *r)
{
    uint64_t m = MAX(r->term, r->probe_max);
    r->term = m + 1;
    r->vote = r->cfg.id;
    r->recover_term = m + 1;
    r->role = RAFT_FOLLOWER;
    r->leader = RAFT_NONE;
    reset_election_timer(r);
}

static void start_probing(struct raft *r)
{
    r->probe_nonce = rng_next(&r->rng) | 1; /* never 0: a reply without a nonce is no answer */
    r->probe_max = 0;
    for (size_t i = 0; i < r->n_prs; i++)
        r->prs[i].probe_heard = false;
    size_t others = membership_voters(latest(r)) - membership_is_voter(latest(r), r->cfg.id);
    if (others == 0) { /* nobody to learn from: a lone voter has nothing to protect */
        r->recovering = false;
        r->recover_term = 0;
        return;
    }
    send_probes(r);
}

/* A probe is answered with the current term and changes nothing here (it neither raises this
 * node's term nor resets its timers), so probing cannot disturb the cluster. */
static void handle_probe(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg *rep = msg_new(r, RAFT_MSG_PROBE_REPLY, m->from);
    rep->nonce = m->nonce;
    rep->recovering = r->recovering;
}

static void handle_probe_reply(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = progress_of(r, m->from);
    if (!probing(r) || !pr || is_self(r, pr) || m->nonce != r->probe_nonce || pr->probe_heard)
        return;
    pr->probe_heard = true;
    r->probe_max = MAX(r->probe_max, m->term);
    for (size_t i = 0; i < r->n_prs; i++)
        if (!is_self(r, &r->prs[i]) && r->prs[i].voter && !r->prs[i].probe_heard)
            return;
    finish_probing(r);
}

/* ---- inputs ----------------------------------------------------------------------------- */

/* Who may send what: a leader, a candidate or a prober this node does not know as a member
 * may be one that it has not learned of yet (a joining node knows nobody at first); replies
 * matter only from members. */
static bool accepted_from(const struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_SNAPSHOT:
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PROBE:
    case RAFT_MSG_TIMEOUT_NOW:
        return true;
    default:
        return membership_find(latest(r), m->from) != NULL;
    }
}

/* The leader asks this node to campaign at once (raft_transfer_leader). */
static void handle_timeout_now(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_FOLLOWER || m->from != r->leader || r->recovering || !may_campaign(r))
        return;
    become_candidate(r, true);
}

static int step(struct raft *r, const struct raft_msg *m);

int raft_step(struct raft *r, const struct raft_msg *m)
{
    int rc = step(r, m);
    step_down_if_removed(r);
    return rc;
}

static int step(struct raft *r, const struct raft_msg *m)
{
    if (m->to != r->cfg.id || !accepted_from(r, m))
        return RAFT_OK;
    if (m->type == RAFT_MSG_PROBE || m->type == RAFT_MSG_PROBE_REPLY) {
        /* Outside the term rules: a probe's term means nothing, a reply's is the answer. */
        if (m->type == RAFT_MSG_PROBE)
            handle_probe(r, m);
        else
            handle_probe_reply(r, m);
        return RAFT_OK;
    }
    bool vote_like = m->type == RAFT_MSG_VOTE ||
                     (m->type == RAFT_MSG_VOTE_REPLY && m->prevote);
    if (m->term > r->term && !vote_like) {
        bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT ||
                           m->type == RAFT_MSG_TIMEOUT_NOW;
        become_follower(r, m->term, from_leader ? m->from : RAFT_NONE);
    } else if (m->term < r->term && !vote_like) {
        /* A stale leader learns the newer term from the rejection and steps down. */
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT) {
            struct raft_msg *rep = msg_new(r, RAFT_MSG_APPEND_REPLY, m->from);
            rep->success = false;
            rep->prev_index = 0;
        }
        return RAFT_OK;
    }
    switch (m->type) {
    case RAFT_MSG_VOTE:
        handle_vote(r, m);
        break;
    case RAFT_MSG_VOTE_REPLY:
        handle_vote_reply(r, m);
        break;
    case RAFT_MSG_APPEND:
    case RAFT_MSG_SNAPSHOT:
        if (r->role == RAFT_LEADER)
            return RAFT_OK; /* cannot happen: one leader per term */
        if (r->role != RAFT_FOLLOWER || r->leader != m->from)
            become_follower(r, m->term, m->from);
        r->election_elapsed = 0;
        r->grace = m->type == RAFT_MSG_APPEND ? m->grace : 0;
        if (probing(r))
            break; /* it must not acknowledge anything before it knows every member's term */
        if (m->type == RAFT_MSG_APPEND)
            handle_append(r, m);
        else
            handle_snapshot(r, m);
        maybe_end_recovery(r);
        break;
    case RAFT_MSG_APPEND_REPLY:
        if (r->role == RAFT_LEADER)
            handle_append_reply(r, m);
        break;
    case RAFT_MSG_SNAPSHOT_REPLY:
        if (r->role == RAFT_LEADER)
            handle_snapshot_reply(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        handle_timeout_now(r, m);
        break;
    case RAFT_MSG_PROBE:
    case RAFT_MSG_PROBE_REPLY:
        break; /* handled above */
    }
    return r->storage_failed ? RAFT_ERR_STORAGE : RAFT_OK;
}

static void leader_tick(struct raft *r)
{
    if (r->need_commit_notify)
        notify_commit(r);
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->grace)
        r->grace--;
    if (r->transfer_to && ++r->transfer_elapsed >= r->cfg.election_ticks)
        r->transfer_to = RAFT_NONE; /* abandoned: the target did not take over in time */
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        /* During a grace the followers may be busy storing what it announced: no step-down. */
        if (r->cfg.check_quorum && !r->grace) {
            size_t active = 0;
            for (size_t i = 0; i < r->n_prs; i++) {
                active += r->prs[i].voter && (is_self(r, &r->prs[i]) || r->prs[i].recent_active);
                r->prs[i].recent_active = false;
            }
            if (active < quorum(r)) {
                become_follower(r, r->term, RAFT_NONE);
                return;
            }
        }
    }
    if (r->heartbeat_elapsed < r->cfg.heartbeat_ticks)
        return;
    r->heartbeat_elapsed = 0;
    r->hb_round++; /* lost appends are found by the replies to these (handle_append_reply) */
    for (size_t i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (is_self(r, pr))
            continue;
        if (pr->state == PR_SNAPSHOT) {
            send_snapshot_chunk(r, pr); /* resend whatever the follower has not acknowledged */
            continue;
        }
        send_heartbeat(r, pr);
    }
}

int raft_grace(struct raft *r, unsigned ticks)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    r->grace = MAX(r->grace, ticks);
    for (size_t i = 0; i < r->n_prs; i++)
        if (!is_self(r, &r->prs[i]) && r->prs[i].state != PR_SNAPSHOT)
            send_heartbeat(r, &r->prs[i]);
    return RAFT_OK;
}

void raft_tick(struct raft *r)
{
    if (r->role == RAFT_LEADER) {
        leader_tick(r);
        return;
    }
    if (r->grace)
        r->grace--; /* a tick of the silence the leader announced (raft_grace): not counted */
    else
        r->election_elapsed++;
    if (probing(r) && ++r->probe_elapsed >= r->cfg.heartbeat_ticks)
        send_probes(r); /* to the members that have not answered yet */
    if (r->election_elapsed >= r->randomized_timeout)
        campaign(r);
}

static int append_command(struct raft *r, uint32_t type, const uint8_t *data, size_t len,
                          uint64_t *index, uint64_t *term)
{
    struct raft_entry e = { r->term, raft_log_last(&r->log) + 1, type, (uint8_t *)data, len };
    if (!append_entries(r, &e, 1))
        return RAFT_ERR_STORAGE;
    r->need_broadcast = true;
    *index = e.index;
    *term = e.term;
    return RAFT_OK;
}

int raft_propose(struct raft *r, const uint8_t *data, size_t len, uint64_t *index, uint64_t *term)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    if (r->transfer_to)
        return RAFT_ERR_BUSY; /* the target must catch up: the log stands still meanwhile */
    return append_command(r, RAFT_ENTRY_NORMAL, data, len, index, term);
}

/* ---- membership changes and leadership transfer (docs/RAFT.md) ---------------------------- */

static int refuse(char *err, size_t errlen, int rc, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return rc;
}

int raft_propose_change(struct raft *r, enum raft_change_type type, uint32_t id, const char *addr,
                        uint64_t *index, uint64_t *term, char *err, size_t errlen)
{
    if (r->role != RAFT_LEADER)
        return refuse(err, errlen, RAFT_ERR_NOT_LEADER, "not the leader");
    if (r->transfer_to)
        return refuse(err, errlen, RAFT_ERR_BUSY, "a leadership transfer is under way");
    /* One change at a time, each on a log the leader knows to be committed up to its own term:
     * without the second rule a change of an earlier leader, uncommitted and unknown to this
     * one, could count as "the" pending change (Ongaro, raft-dev, 2015). */
    if (r->cfg.planted_bug != RAFT_BUG_TWO_PENDING_CHANGES) {
        if (membership_latest_index(&r->ms) > r->commit)
            return refuse(err, errlen, RAFT_ERR_BUSY, "another membership change is not committed yet");
        int rc;
        uint64_t t = r->commit ? term_at(r, r->commit, &rc) : 0;
        if (t != r->term) {
            /* Without client writes (and noop_on_elect) that could last: an entry of this term
             * is appended now, so that the retry finds it committed. */
            if (raft_log_last_term(&r->log) != r->term) {
                struct raft_entry e = { r->term, raft_log_last(&r->log) + 1, RAFT_ENTRY_NOOP, NULL, 0 };
                append_entries(r, &e, 1);
                r->need_broadcast = true;
            }
            return refuse(err, errlen, RAFT_ERR_BUSY, "the new leader has not committed in its term "
                                                      "yet (retry in a moment)");
        }
    }
    struct raft_membership next;
    if (membership_change(latest(r), type, id, addr, &next, err, errlen) != 0)
        return RAFT_ERR_INVALID;
    if (type == RAFT_CHANGE_PROMOTE) {
        const struct progress *pr = progress_of(r, id);
        if (!pr || pr->state != PR_REPLICATE || pr->match + PROMOTE_LAG < r->commit)
            return refuse(err, errlen, RAFT_ERR_LAGGING, "the learner has not caught up yet");
    }
    uint8_t *data;
    size_t len;
    membership_encode(&next, &data, &len);
    int rc = append_command(r, RAFT_ENTRY_CONFIG, data, len, index, term);
    free(data);
    return rc;
}

int raft_transfer_leader(struct raft *r, uint32_t target)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    if (target == r->cfg.id)
        return RAFT_OK;
    struct progress *pr = progress_of(r, target);
    if (!pr || !pr->voter)
        return RAFT_ERR_INVALID;
    r->transfer_to = target;
    r->transfer_elapsed = 0;
    r->transfer_sent = false;
    if (pr->match == raft_log_last(&r->log)) {
        send_timeout_now(r, pr);
    } else {
        if (pr->state == PR_PROBE)
            pr->probe_sent = false; /* probe now rather than at the next heartbeat's reply */
        send_append(r, pr, true);
    }
    return RAFT_OK;
}

uint32_t raft_transfer_target(const struct raft *r) { return r->transfer_to; }
const struct raft_membership *raft_membership(const struct raft *r) { return latest(r); }
uint64_t raft_membership_index(const struct raft *r) { return membership_latest_index(&r->ms); }

/* ---- linearizable reads (ReadIndex) ------------------------------------------------------ */

static uint64_t read_ack_of(const struct raft *r, const struct progress *pr)
{
    return is_self(r, pr) ? r->read_seq : pr->read_ack;
}

/* Moves the waiting reads whose round a quorum has acknowledged to the ready list (rounds only
 * grow along the waiting list, so these are a prefix). */
static void confirm_reads(struct raft *r)
{
    uint64_t acked = r->cfg.planted_bug == RAFT_BUG_READ_WITHOUT_QUORUM
                         ? r->read_seq
                         : quorum_value(r, read_ack_of);
    size_t done = 0;
    while (done < r->n_reads_waiting && r->reads_waiting[done].seq <= acked) {
        if (r->n_reads_ready == r->cap_reads_ready) {
            r->cap_reads_ready = r->cap_reads_ready ? 2 * r->cap_reads_ready : 16;
            r->reads_ready = xrealloc(r->reads_ready, r->cap_reads_ready * sizeof *r->reads_ready);
        }
        r->reads_ready[r->n_reads_ready++] =
            (struct raft_read){ r->reads_waiting[done].id, r->reads_waiting[done].index };
        done++;
    }
    r->n_reads_waiting -= done;
    memmove(r->reads_waiting, r->reads_waiting + done, r->n_reads_waiting * sizeof *r->reads_waiting);
}

int raft_read_index(struct raft *r, uint64_t id)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ERR_NOT_LEADER;
    /* Until it commits an entry of its own term, a new leader's commit index may be behind
     * what its predecessors committed (noop_on_elect makes this window short). */
    int rc = LOG_OK;
    uint64_t t = r->commit > 0 ? term_at(r, r->commit, &rc) : 0;
    if (r->commit == 0 || rc != LOG_OK || t != r->term)
        return RAFT_ERR_NOT_READY;
    if (!r->need_read_round) { /* every read asked before the next ready shares one round */
        r->read_seq++;
        r->need_read_round = true;
    }
    if (r->n_reads_waiting == r->cap_reads_waiting) {
        r->cap_reads_waiting = r->cap_reads_waiting ? 2 * r->cap_reads_waiting : 16;
        r->reads_waiting =
            xrealloc(r->reads_waiting, r->cap_reads_waiting * sizeof *r->reads_waiting);
    }
    r->reads_waiting[r->n_reads_waiting++] = (struct read_wait){ id, r->commit, r->read_seq };
    confirm_reads(r); /* a one-member cluster is its own quorum */
    return RAFT_OK;
}

/* Starts the read round: a heartbeat (carrying read_seq) to every follower. A lost one is
 * retried by the regular heartbeats, which carry the latest round too. */
static void send_read_round(struct raft *r)
{
    r->need_read_round = false;
    for (size_t i = 0; i < r->n_prs; i++)
        if (!is_self(r, &r->prs[i]) && r->prs[i].voter)
            send_heartbeat(r, &r->prs[i]);
}

int raft_compact(struct raft *r, uint64_t index, uint64_t *term)
{
    if (index <= r->log.snap_index)
        return RAFT_ERR_INVALID;
    if (index > r->applied || index > r->log.stable_last)
        return RAFT_ERR_INVALID;
    int rc;
    uint64_t t = term_at(r, index, &rc);
    if (rc != LOG_OK)
        return RAFT_ERR_STORAGE;
    raft_log_compact(&r->log, index, t);
    membership_compact(&r->ms, index);
    r->conf_dirty = true;
    *term = t;
    return RAFT_OK;
}

int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term)
{
    int rc = raft_log_term(&r->log, index, term);
    return rc == LOG_OK ? RAFT_OK : rc == LOG_ERR ? RAFT_ERR_STORAGE : RAFT_ERR_INVALID;
}

/* ---- ready / advance ----------------------------------------------------------------------- */

static struct raft_hard_state hard_state(const struct raft *r)
{
    return (struct raft_hard_state){ r->term, r->vote, r->commit, r->recovering, r->recover_term };
}

struct raft_soft_state raft_soft_state(const struct raft *r)
{
    return (struct raft_soft_state){ r->role, r->leader, r->term };
}

static bool hs_equal(struct raft_hard_state a, struct raft_hard_state b)
{
    return a.term == b.term && a.vote == b.vote && a.commit == b.commit &&
           a.recovering == b.recovering && a.recover_term == b.recover_term;
}

static bool ss_equal(struct raft_soft_state a, struct raft_soft_state b)
{
    return a.role == b.role && a.leader == b.leader && a.term == b.term;
}

/* First index to apply next: after the applied point and any snapshot being installed. */
static uint64_t apply_from(const struct raft *r)
{
    uint64_t from = r->applied + 1;
    if (r->install_pending)
        from = MAX(from, r->install_snap.index + 1);
    return from;
}

bool raft_has_ready(const struct raft *r)
{
    return r->need_broadcast || r->need_read_round || r->n_reads_ready > 0 || r->n_msgs > 0 ||
           r->log.n_unstable > 0 || r->install_pending ||
           !hs_equal(hard_state(r), r->prev_hs) || !ss_equal(raft_soft_state(r), r->prev_ss) ||
           r->conf_dirty || r->commit >= apply_from(r) || r->storage_failed;
}

int raft_ready(struct raft *r, struct raft_ready *rd)
{
    memset(rd, 0, sizeof *rd);
    if (r->need_broadcast) {
        r->need_broadcast = false;
        if (r->role == RAFT_LEADER) {
            broadcast_appends(r);
            if (maybe_commit(r)) /* a one-member cluster commits on its own */
                broadcast_commit(r);
            step_down_if_removed(r);
        }
    }
    if (r->need_read_round && r->role == RAFT_LEADER)
        send_read_round(r);
    if (r->storage_failed)
        return RAFT_ERR_STORAGE;
    rd->soft_state = raft_soft_state(r);
    rd->soft_state_changed = !ss_equal(rd->soft_state, r->prev_ss);
    rd->hard_state = hard_state(r);
    rd->hard_state_changed = !hs_equal(rd->hard_state, r->prev_hs);
    if (r->conf_dirty) {
        free(r->conf_buf);
        membership_state_encode(&r->ms, &r->conf_buf, &r->conf_len);
        rd->conf_changed = true;
        rd->conf = r->conf_buf;
        rd->conf_len = r->conf_len;
    }
    if (r->install_pending) {
        rd->has_snapshot = true;
        rd->snapshot = r->install_snap;
        rd->snapshot_data = r->install_data;
        rd->snapshot_len = r->install_len;
    }
    rd->entries = r->log.unstable;
    rd->n_entries = r->log.n_unstable;
    rd->msgs = r->msgs;
    rd->n_msgs = r->n_msgs;
    rd->reads = r->reads_ready;
    rd->n_reads = r->n_reads_ready;
    uint64_t from = apply_from(r);
    if (r->commit >= from &&
        raft_log_entries(&r->log, from, r->commit, r->cfg.max_apply_bytes, &rd->committed,
                         &rd->n_committed) != LOG_OK) {
        r->storage_failed = 1;
        return RAFT_ERR_STORAGE;
    }
    return RAFT_OK;
}

void raft_advance(struct raft *r, struct raft_ready *rd)
{
    if (rd->has_snapshot) {
        r->applied = MAX(r->applied, rd->snapshot.index);
        free(r->install_data);
        r->install_data = NULL;
        r->install_pending = false;
    }
    bool stored = rd->n_entries > 0;
    raft_log_stabilize(&r->log);
    if (rd->n_committed)
        r->applied = rd->committed[rd->n_committed - 1].index;
    raft_entries_free(rd->committed, rd->n_committed);
    free(rd->committed);
    for (size_t i = 0; i < r->n_msgs; i++)
        raft_msg_free_contents(&r->msgs[i]);
    r->n_msgs = 0;
    r->n_reads_ready = 0;
    r->prev_hs = rd->hard_state;
    r->prev_ss = rd->soft_state;
    if (rd->conf_changed)
        r->conf_dirty = false; /* (nothing between ready and advance changes the membership) */
    /* The leader's own entries count toward commitment once durable. */
    if (stored && r->role == RAFT_LEADER && maybe_commit(r)) {
        broadcast_commit(r);
        step_down_if_removed(r);
    }
    memset(rd, 0, sizeof *rd);
}

/* ---- life cycle and observers ------------------------------------------------------------ */

/* The membership state the store gave back, or (none stored yet) the initial members. */
static bool load_membership(struct raft *r, const struct raft_config *c, const struct raft_init *init)
{
    if (init->conf) {
        if (membership_state_decode(init->conf, init->conf_len, &r->ms) != 0)
            return false;
        /* A snapshot stored after the state was last saved: the base moves up to it (every
         * config entry since the old base is in the state). Entries past the log's end were
         * never stored with it. */
        if (r->ms.base_index < init->snapshot.index)
            membership_compact(&r->ms, init->snapshot.index);
        membership_truncate(&r->ms, init->last_index + 1);
        return true;
    }
    r->ms.base_index = init->snapshot.index;
    for (size_t i = 0; i < c->n_peers; i++) {
        if (c->peers[i] == RAFT_NONE || membership_find(&r->ms.base, c->peers[i]))
            return false;
        struct raft_member *m = &r->ms.base.m[r->ms.base.n++];
        *m = (struct raft_member){ .id = c->peers[i], .voter = true };
        if (c->peer_addrs && c->peer_addrs[i] && strlen(c->peer_addrs[i]) < sizeof m->addr)
            snprintf(m->addr, sizeof m->addr, "%s", c->peer_addrs[i]);
    }
    return true;
}

struct raft *raft_new(const struct raft_config *c, const struct raft_init *init)
{
    char err[128];
    if (raft_config_check(c, err, sizeof err) != 0)
        return NULL;
    struct raft *r = xcalloc(1, sizeof *r);
    r->cfg = *c;
    rng_seed(&r->rng, c->seed ^ ((uint64_t)c->id << 32));
    if (!load_membership(r, c, init)) {
        raft_free(r);
        return NULL;
    }
    uint64_t last_term = init->snapshot.term;
    raft_log_init(&r->log, &c->storage, &init->snapshot, init->last_index, 0);
    if (init->last_index > init->snapshot.index &&
        c->storage.term(c->storage.ctx, init->last_index, &last_term) != 0) {
        raft_free(r);
        return NULL;
    }
    r->log.stable_last_term = last_term;
    r->term = init->hard_state.term;
    r->vote = init->hard_state.vote;
    r->commit = MAX(init->hard_state.commit, init->snapshot.index);
    r->applied = init->snapshot.index;
    r->recovering = init->hard_state.recovering;
    r->recover_term = r->recovering ? init->hard_state.recover_term : 0;
    r->prev_hs = hard_state(r);
    r->role = RAFT_FOLLOWER;
    r->prev_ss = raft_soft_state(r);
    sync_progress(r);
    r->conf_dirty = init->conf == NULL; /* the initial members: saved with the first ready */
    reset_election_timer(r);
    if (probing(r))
        start_probing(r); /* a new round: a restart forgets who answered */
    maybe_end_recovery(r);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_msgs; i++)
        raft_msg_free_contents(&r->msgs[i]);
    free(r->msgs);
    for (size_t i = 0; i < r->n_prs; i++)
        progress_free(&r->prs[i]);
    free(r->prs);
    membership_state_free(&r->ms);
    free(r->conf_buf);
    raft_log_free(&r->log);
    free(r->recv_buf);
    free(r->install_data);
    free(r->reads_waiting);
    free(r->reads_ready);
    free(r);
}

struct raft_hard_state raft_hard_state(const struct raft *r) { return hard_state(r); }
uint64_t raft_last_index(const struct raft *r) { return raft_log_last(&r->log); }
uint64_t raft_applied(const struct raft *r) { return r->applied; }
uint64_t raft_snapshot_index(const struct raft *r) { return r->log.snap_index; }
uint32_t raft_id(const struct raft *r) { return r->cfg.id; }
bool raft_recovering(const struct raft *r) { return r->recovering; }

uint64_t raft_peer_match(const struct raft *r, uint32_t peer)
{
    if (r->role != RAFT_LEADER)
        return 0;
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == peer)
            return r->prs[i].id == r->cfg.id ? r->log.stable_last : r->prs[i].match;
    return 0;
}
