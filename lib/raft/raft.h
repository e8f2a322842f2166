/* The Raft consensus core: a pure, deterministic state machine.
 *
 * It does no I/O, reads no clock and uses no global randomness: time arrives as raft_tick(),
 * messages as raft_step(), commands as raft_propose(); randomness comes from a generator seeded
 * by the config. Its output is drained by the driver (lib/node, or the simulator):
 *
 *     while (raft_has_ready(r)) {
 *         struct raft_ready rd;
 *         raft_ready(r, &rd);
 *         persist rd.snapshot, rd.entries and rd.hard_state in one durable transaction;
 *         send rd.msgs;
 *         apply rd.snapshot (restore) and then rd.committed, in order;
 *         raft_advance(r, &rd);
 *     }
 *
 * No other raft_* call that changes state may come between raft_ready and raft_advance.
 * Entries that are durable are read back through struct raft_storage (read-only); every write
 * flows through the ready. See docs/RAFT.md for the protocol details. */
#ifndef RAFT_RAFT_H
#define RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/membership.h"

#define RAFT_NONE 0u /* no node id: ids are non-zero */

enum raft_error {
    RAFT_OK = 0,
    RAFT_ERR_NOT_LEADER = -1,  /* propose on a node that is not the leader */
    RAFT_ERR_STORAGE = -2,     /* the storage interface failed: the node cannot go on */
    RAFT_ERR_INVALID = -3,     /* an argument out of range (e.g. compacting past applied) */
    RAFT_ERR_NOT_READY = -4,   /* a read on a leader that has not yet committed in its term */
    RAFT_ERR_BUSY = -5,        /* a membership change while another is pending (or before the
                                  leader committed in its term), or during a leadership transfer */
    RAFT_ERR_LAGGING = -6,     /* promoting a learner that has not caught up with the leader */
};

enum raft_role { RAFT_FOLLOWER, RAFT_PRECANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* a command proposed by a client */
    RAFT_ENTRY_NOOP = 1,   /* appended by a new leader when config.noop_on_elect is set */
    RAFT_ENTRY_CONFIG = 2, /* a membership change: data is the new membership (membership.h),
                              in force from the moment it is appended */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint32_t type;
    uint8_t *data; /* owned by whoever holds the entry; malloc'd */
    size_t len;
};

struct raft_hard_state {
    uint64_t term;
    uint32_t vote;
    uint64_t commit;
    /* Recovery of a node whose store was lost (docs/RAFT.md, "Replacing a lost store"): while
     * recovering the node neither campaigns nor grants (pre-)votes. recover_term 0: it is still
     * learning every other member's term (probes), and acknowledges nothing; otherwise it has
     * moved past every term it may have promised in, follows leaders normally, and votes again
     * once its log holds an entry of term >= recover_term. */
    bool recovering;
    uint64_t recover_term;
};

struct raft_snapshot_meta {
    uint64_t index; /* last index the snapshot covers */
    uint64_t term;  /* term of that entry */
};

enum raft_msg_type {
    RAFT_MSG_VOTE,            /* RequestVote (or pre-vote when prevote is set) */
    RAFT_MSG_VOTE_REPLY,
    RAFT_MSG_APPEND,          /* AppendEntries; heartbeats are appends without entries */
    RAFT_MSG_APPEND_REPLY,
    RAFT_MSG_SNAPSHOT,        /* one chunk of InstallSnapshot */
    RAFT_MSG_SNAPSHOT_REPLY,
    RAFT_MSG_PROBE,           /* a recovering node asks for the receiver's current term */
    RAFT_MSG_PROBE_REPLY,     /* term: the receiver's current term (its state is untouched) */
    RAFT_MSG_TIMEOUT_NOW,     /* leadership transfer: the leader tells its target to campaign */
};

struct raft_msg {
    enum raft_msg_type type;
    uint32_t from, to;
    uint64_t term;
    /* VOTE / VOTE_REPLY */
    bool prevote;
    bool transfer;              /* VOTE: asked for by the leader (TIMEOUT_NOW): no lease applies */
    uint64_t last_index, last_term; /* VOTE: the candidate's log; APPEND_REPLY: last_index is
                                       the follower's last log index */
    bool granted;
    /* APPEND */
    uint64_t prev_index, prev_term, commit;
    struct raft_entry *entries; /* owned by the message */
    size_t n_entries;
    bool heartbeat;             /* an empty append sent by the heartbeat timer (echoed) */
    uint64_t hb_round;          /* APPEND: the leader's heartbeat round when sent; REPLY: echoed */
    uint32_t grace;             /* APPEND: ticks of silence the leader asks not to count (raft_grace) */
    uint64_t read_seq;          /* APPEND: the leader's read round; APPEND_REPLY: echoed */
    /* APPEND_REPLY / SNAPSHOT_REPLY */
    bool success;
    uint64_t match_index;       /* success: the follower's log matches up to here */
    uint64_t conflict_term;     /* reject: term of the follower's entry at prev_index (0: none) */
    uint64_t conflict_index;    /* reject: first index of conflict_term, or last_index + 1 */
    /* SNAPSHOT / SNAPSHOT_REPLY */
    struct raft_snapshot_meta snap;
    uint64_t offset;            /* SNAPSHOT: where data goes; REPLY: the next offset wanted */
    uint8_t *data;              /* owned by the message */
    size_t len;
    bool done;                  /* SNAPSHOT: last chunk */
    uint8_t *conf;              /* SNAPSHOT: the membership at snap.index (membership_encode), */
    size_t conf_len;            /* owned by the message */
    /* PROBE / PROBE_REPLY: the prober's round, echoed (a reply to an older round is ignored) */
    uint64_t nonce;
    bool recovering;            /* replies: the sender is recovering (see raft_hard_state) */
};

/* A read the leader has confirmed (raft_read_index): serve it once applied >= index. */
struct raft_read {
    uint64_t id;
    uint64_t index;
};

/* Read-only access to what the driver made durable. Each returns 0, or -1 on failure. */
struct raft_storage {
    void *ctx;
    /* Term of the stored entry at index (snapshot index < index <= last stored index). */
    int (*term)(void *ctx, uint64_t index, uint64_t *term);
    /* Copies of stored entries lo..hi (inclusive) into out[], stopping early after max_bytes
     * of data (at least one entry is returned); *n gets the count. The caller owns the copies. */
    int (*entries)(void *ctx, uint64_t lo, uint64_t hi, size_t max_bytes, struct raft_entry *out,
                   size_t *n);
    /* Reads up to cap bytes of the stored snapshot from offset into buf; *n gets the count,
     * *total the snapshot's size and *meta its metadata. */
    int (*snapshot)(void *ctx, uint64_t offset, uint8_t *buf, size_t cap, size_t *n,
                    uint64_t *total, struct raft_snapshot_meta *meta);
};

struct raft_config {
    uint32_t id;              /* this node; non-zero */
    /* The initial members, all voters (copied): used until the store holds a membership (a
     * config entry or a snapshot's). None for a node that joins a running cluster: it learns
     * the membership from the leader and never campaigns before it is a voter. */
    const uint32_t *peers;
    size_t n_peers;
    const char *const *peer_addrs; /* optional: their addresses, kept in the membership so that
                                      every member learns them (each < RAFT_ADDR_MAX bytes) */
    unsigned election_ticks;  /* election timeout, randomized in [election, 2 * election) */
    unsigned heartbeat_ticks; /* leader heartbeat interval; < election_ticks */
    bool pre_vote;            /* campaign with a pre-vote round first */
    bool check_quorum;        /* leaders step down without a live majority; votes are ignored
                                 while a leader is known to be alive (leader lease) */
    bool noop_on_elect;       /* a new leader appends a no-op entry (commits earlier terms at once) */
    size_t max_msg_bytes;     /* entry data per append message (at least one entry) */
    unsigned max_inflight;    /* append messages in flight per follower while replicating */
    size_t max_inflight_bytes; /* entry data in flight per follower (at least one append) */
    size_t snapshot_chunk;    /* bytes of snapshot per InstallSnapshot message */
    size_t max_apply_bytes;   /* committed entry data handed out per ready */
    uint64_t seed;            /* for randomized election timeouts */
    struct raft_storage storage;
    /* Test-only: plant a known bug so the safety checks can be shown to catch it. */
    enum {
        RAFT_BUG_NONE,
        RAFT_BUG_COMMIT_OLD_TERM,
        RAFT_BUG_DOUBLE_VOTE,
        RAFT_BUG_READ_WITHOUT_QUORUM, /* reads confirmed without asking the followers */
        RAFT_BUG_TWO_PENDING_CHANGES, /* a membership change while another is uncommitted */
    } planted_bug;
};

/* The durable state the driver found at start (all zero for a new node; hard_state.recovering
 * set for a node that replaces a lost store). */
struct raft_init {
    struct raft_hard_state hard_state;
    struct raft_snapshot_meta snapshot; /* the stored snapshot (index 0: none) */
    uint64_t last_index;                /* last stored log index (= snapshot.index when empty) */
    /* The membership state the core saved (raft_ready.conf), or NULL: none yet. */
    const uint8_t *conf;
    size_t conf_len;
};

struct raft_soft_state {
    enum raft_role role;
    uint32_t leader; /* RAFT_NONE when unknown */
    uint64_t term;
};

struct raft_ready {
    bool soft_state_changed;
    struct raft_soft_state soft_state;
    bool hard_state_changed;
    struct raft_hard_state hard_state;
    /* The membership state (the membership at the snapshot point and every config entry after
     * it): to store with the hard state, given back in raft_init.conf at the next start. */
    bool conf_changed;
    const uint8_t *conf;
    size_t conf_len;
    /* A snapshot received from the leader, to store (replacing the whole log) and restore. */
    bool has_snapshot;
    struct raft_snapshot_meta snapshot;
    const uint8_t *snapshot_data;
    size_t snapshot_len;
    /* Entries to store: delete every stored entry >= entries[0].index, then append these. */
    struct raft_entry *entries;
    size_t n_entries;
    /* Messages to send once the above is durable. */
    struct raft_msg *msgs;
    size_t n_msgs;
    /* Entries to apply, in order (already durable once the above is). */
    struct raft_entry *committed;
    size_t n_committed;
    /* Reads confirmed by a quorum (raft_read_index), in the order they were asked. */
    struct raft_read *reads;
    size_t n_reads;
};

struct raft;

/* The default timing, in ticks (plain numbers: daemons stringify them into their option
 * tables). */
#define RAFT_DEFAULT_ELECTION_TICKS 20
#define RAFT_DEFAULT_HEARTBEAT_TICKS 10

/* Sets the defaults: election RAFT_DEFAULT_ELECTION_TICKS, heartbeat
 * RAFT_DEFAULT_HEARTBEAT_TICKS, pre-vote and check-quorum on, 1 MiB messages, 256 or 16 MiB in
 * flight, 1 MiB snapshot chunks, 16 MiB applied per ready. */
void raft_config_default(struct raft_config *c);

/* Validates c as raft_new does (a non-zero id, at least one member, a heartbeat of at least
 * one tick below the election timeout, non-zero in-flight limits and snapshot chunk). Returns
 * 0, or -1 with a message naming the field in err. */
int raft_config_check(const struct raft_config *c, char *err, size_t errlen);

/* Creates a node from its config and durable state. Returns NULL if the config is invalid
 * (raft_config_check). */
struct raft *raft_new(const struct raft_config *c, const struct raft_init *init);
void raft_free(struct raft *r);

/* Advances time by one tick. */
void raft_tick(struct raft *r);


/* Handles a message addressed to this node (the caller keeps ownership of m). Messages from
 * unknown nodes or of stale terms are handled as Raft says (often: ignored). */
int raft_step(struct raft *r, const struct raft_msg *m);

/* On the leader: work of about `ticks` ticks is coming that blocks this node and its followers
 * (a large entry to receive, encode, store and apply: the driver sizes it). Heartbeats go out
 * at once carrying the grace; until it is used up (one per tick), the followers do not count
 * silence from this leader toward their election timeout (nor grant votes to others), and the
 * leader does not step down for lack of a quorum. Only timers change, never safety; a leader
 * that dies meanwhile is replaced up to `ticks` later. RAFT_ERR_NOT_LEADER elsewhere. */
int raft_grace(struct raft *r, unsigned ticks);

/* Appends a command (copied) to the leader's log. On RAFT_OK, *index and *term say where it
 * will commit if it commits at all. Returns RAFT_ERR_NOT_LEADER on other nodes, and
 * RAFT_ERR_BUSY on a leader handing over (raft_transfer_leader). */
int raft_propose(struct raft *r, const uint8_t *data, size_t len, uint64_t *index,
                 uint64_t *term);

/* Asks for a linearizable read without a log entry (ReadIndex, Raft thesis section 6.4). On
 * the leader it records read `id` (the driver's) with the current commit index and returns
 * RAFT_OK; once a majority has acknowledged this node's leadership in a heartbeat round that
 * began after the call, the read comes out in a ready's reads[] with that index, and the
 * driver serves it from the state machine when its applied index reaches it. Reads still
 * unconfirmed when leadership ends are dropped (the driver fails them when the role changes).
 * RAFT_ERR_NOT_LEADER on other nodes; RAFT_ERR_NOT_READY while the leader has not committed an
 * entry of its own term (its commit index may lag what earlier leaders committed): the driver
 * then reads through the log instead. */
int raft_read_index(struct raft *r, uint64_t id);

/* On the leader: proposes one membership change (addr: a new learner's address). Single-server
 * changes, in force once appended (docs/RAFT.md, "Membership changes"): RAFT_ERR_BUSY while an
 * earlier change is uncommitted, before the leader has committed an entry of its term, or
 * during a transfer; RAFT_ERR_LAGGING when promoting a learner that has not caught up;
 * RAFT_ERR_INVALID (reason in err) for a change that cannot apply. A leader that removes
 * itself steps down once the change commits. *index and *term as raft_propose's. */
int raft_propose_change(struct raft *r, enum raft_change_type type, uint32_t id, const char *addr,
                        uint64_t *index, uint64_t *term, char *err, size_t errlen);

/* On the leader: hands leadership to voter target. The leader refuses proposals meanwhile,
 * brings the target's log up to date, then tells it to campaign at once (TIMEOUT_NOW); the
 * transfer is abandoned after an election timeout. RAFT_ERR_INVALID for a non-voter;
 * RAFT_OK and nothing happens when target is this node. */
int raft_transfer_leader(struct raft *r, uint32_t target);
/* The transfer under way (RAFT_NONE: none). */
uint32_t raft_transfer_target(const struct raft *r);

/* The membership in force (the latest config entry's, committed or not). */
const struct raft_membership *raft_membership(const struct raft *r);
/* Index of the entry that set it (0: the initial members). */
uint64_t raft_membership_index(const struct raft *r);

/* The application took a snapshot covering everything up to index (<= applied): the core
 * forgets the log up to there and gives the term of that entry in *term. The driver then saves
 * the snapshot with (index, *term) and deletes the stored prefix, in one transaction, before
 * it calls into the core again. */
int raft_compact(struct raft *r, uint64_t index, uint64_t *term);

/* Term of the entry at index, for the driver to label a snapshot. Returns 0 or an error. */
int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term);

/* True when raft_ready would return something. */
bool raft_has_ready(const struct raft *r);

/* Fills rd with pending output; the core owns everything in it until raft_advance. */
int raft_ready(struct raft *r, struct raft_ready *rd);

/* Acknowledges that rd was persisted, sent and applied; frees it. */
void raft_advance(struct raft *r, struct raft_ready *rd);

/* Observers. */
struct raft_soft_state raft_soft_state(const struct raft *r);
struct raft_hard_state raft_hard_state(const struct raft *r);
uint64_t raft_last_index(const struct raft *r);
uint64_t raft_applied(const struct raft *r);
uint64_t raft_snapshot_index(const struct raft *r);
uint32_t raft_id(const struct raft *r);
/* On the leader: the match index of peer (0 when unknown or not leader). */
uint64_t raft_peer_match(const struct raft *r, uint32_t peer);
/* True while the node recovers a lost store (raft_hard_state.recovering). */
bool raft_recovering(const struct raft *r);

/* Copies src into dst with copies of what it owns (entries and data): for drivers that keep a
 * message past the ready it came in (the simulator's network). Free with
 * raft_msg_free_contents. */
void raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src);
/* Frees what a message owns (entries and data), not the message itself. */
void raft_msg_free_contents(struct raft_msg *m);
/* Frees the data of n entries, not the array. */
void raft_entries_free(struct raft_entry *e, size_t n);

const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(enum raft_msg_type t);

#endif
