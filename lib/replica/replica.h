/* The replica layer: everything a replicated service needs beyond the Raft core, with no I/O.
 *
 * A replica owns a Raft core (lib/raft) and drives it with the one ready loop of the house:
 * persist through a store (storage/store.h), send through the driver, apply committed entries
 * to a state machine (struct node_sm), advance. Around the loop it keeps the proposals by
 * index and term, the ReadIndex reads until the state machine has caught up with them, and the
 * snapshot policy. lib/node drives it on libevent with LMDB and sockets; the deterministic
 * simulator (test/sim) drives the same code with a memory store and a simulated network.
 *
 * The order inside one ready (docs/RAFT.md, "Sending before the fsync"):
 *   1. a leader's replication traffic (appends, snapshots) is sent, then flushed;
 *   2. the ready is saved (one durable batch);
 *   3. every other message is sent (votes and acknowledgements only after the save), flushed;
 *   4. a received snapshot is restored, committed entries are applied and their proposals
 *      completed, the role change is handled (pending proposals and reads fail when
 *      leadership ends), confirmed reads are queued;
 *   5. raft_advance; reads whose index is now applied are served; a snapshot is taken when
 *      the policy says so.
 * A ready whose save finds no room is held (not lost): the replica then takes no input
 * (ticks, messages, proposals and reads are refused or dropped) until replica_retry stores it.
 *
 * Every call comes from the driver's one thread; callbacks are made from inside replica calls.
 * Names of the vocabulary shared with every service (node_sm, node_result, node_done_fn,
 * node_read_fn) keep the node_ prefix: services see them through lib/node. */
#ifndef REPLICA_REPLICA_H
#define REPLICA_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct store;
struct store_sink;

/* The replicated state machine (lib/kv, raftd's running hash, the simulator's checker). */
struct node_sm {
    void *ctx;
    /* Applies a committed entry, in index order; e->type says whether it is a command
     * (RAFT_ENTRY_NORMAL) or a leader's no-op (which most machines ignore). May set *result
     * (malloc'd; the replica frees it), handed to the proposal's done callback. */
    void (*apply)(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len);
    /* Serializes the whole state, as of the last applied entry, into *data (malloc'd; the
     * replica frees it). */
    void (*snapshot)(void *ctx, uint8_t **data, size_t *len);
    /* Replaces the whole state with a snapshot covering entries up to index. Returns 0, or
     * -1 when data is not a valid snapshot. */
    int (*restore)(void *ctx, uint64_t index, const uint8_t *data, size_t len);
    /* Optional (NULL: snapshot is used), for a state too large to encode twice: the snapshot
     * appended straight into the store's space (store.h's compact_fill), or written by the
     * store in the background (compact_begin). snapshot_size begins a snapshot of the state
     * as of the last applied entry and returns its encoded size; snapshot_write appends
     * exactly those bytes to sink (once or more: the store may retry; in the background, in
     * a forked image of the process as it was when compact_begin was called); then
     * snapshot_done ends it. In the foreground no entry is applied in between. */
    size_t (*snapshot_size)(void *ctx);
    void (*snapshot_write)(void *ctx, struct store_sink *sink, size_t len);
    void (*snapshot_done)(void *ctx);
};

enum node_result {
    NODE_OK = 0,
    NODE_NOT_LEADER,       /* not the leader now: nothing was proposed */
    NODE_LEADERSHIP_LOST,  /* leadership ended before the entry applied: it may still commit */
    NODE_OVERWRITTEN,      /* another entry committed at the proposed index */
    NODE_SHUTDOWN,         /* the node is stopping */
    NODE_NOT_READY,        /* a read on a leader not yet ready for ReadIndex: use the log */
    NODE_NO_SPACE,         /* the leader's data volume is (nearly) full: nothing was proposed */
};

const char *node_result_name(enum node_result r);

/* Outcome of a proposal: called exactly once. result is the state machine's result for the
 * command (valid during the call), on NODE_OK. */
typedef void (*node_done_fn)(enum node_result res, uint64_t index, uint64_t term,
                             const uint8_t *result, size_t len, void *arg);

/* Outcome of a read: called exactly once. On NODE_OK the state machine has applied at least
 * up to index, the commit index when the read was asked, and may be read now: what it holds
 * is linearizable for this read. */
typedef void (*node_read_fn)(enum node_result res, uint64_t index, void *arg);

/* What the replica can time for its driver's metrics (replica_io.timing). */
enum replica_timing {
    REPLICA_TIME_COMMIT, /* a tracked proposal, from replica_propose to the ready that says it
                            committed (only proposals that committed as proposed) */
    REPLICA_TIME_SAVE,   /* one ready's save: one durable batch (the fsync) */
    REPLICA_TIME_APPLY,  /* one committed entry's apply to the state machine */
};

/* What the replica asks of its driver. */
struct replica_io {
    void *ctx;
    /* Sends a message to m->to (copy what you keep). May drop it: Raft retransmits. */
    void (*send)(void *ctx, const struct raft_msg *m);
    /* Pushes what send queued out now (lib/node flushes its sockets). Optional. */
    void (*flush)(void *ctx);
    /* The driver's monotonic clock in ms (the simulator's clock in the simulator): when a
     * snapshot that found no room is tried again, and how long a ready took. */
    uint64_t (*now_ms)(void *ctx);
    /* The role, term or known leader changed (after the ready that changed it was saved).
     * Optional. */
    void (*on_soft_state)(void *ctx, const struct raft_soft_state *st, bool was_leader);
    /* Optional, both or neither: a clock in ns and what is timed with it (in ns). Without them
     * nothing is timed. */
    uint64_t (*now_ns)(void *ctx);
    void (*timing)(void *ctx, enum replica_timing what, uint64_t ns);
};

/* Planted bugs: each breaks one promise, so that a test can show it would notice. */
enum replica_bug {
    REPLICA_BUG_NONE,
    REPLICA_BUG_READ_BEFORE_APPLY, /* a confirmed read is served before its index is applied */
};

struct replica_config {
    /* The core's config; its storage is set by replica_new (the store's reader). */
    struct raft_config raft;
    /* Take a snapshot once the store's Raft state reaches max_raft_state bytes (0: never), or
     * once snapshot_every entries were applied past the last snapshot (0: never). A state
     * larger than max_raft_state lets the log grow to its last snapshot's size, up to 4 x
     * max_raft_state (replica_log_limit): every snapshot writes the whole state, so a state
     * growing by its log (a shard pulled in) is written once per doubling while it is under
     * 4 x max_raft_state, and a quarter as often as with max_raft_state alone beyond; the log
     * stays within 4 x max_raft_state plus one ready (the lab's check is 8x). */
    uint64_t max_raft_state, snapshot_every;
    /* A snapshot of at least this many bytes is written by the store in the background
     * (store.h's compact_begin: the state machine goes on applying meanwhile) when the store
     * and the state machine (snapshot_size) can; 0: never. */
    uint64_t background_snapshot_min;
    /* A leader's appends leave before its own fsync (step 1 above); otherwise every message
     * waits for the save. */
    bool send_early;
    /* A ready that takes longer is logged with its times (0: never). */
    uint64_t slow_ready_ms;
    enum replica_bug planted_bug;
};

/* The Raft state size at which a snapshot is due, the last snapshot being snapshot_len bytes
 * (max_raft_state non-zero): max(max_raft_state, min(snapshot_len, 4 x max_raft_state)). */
uint64_t replica_log_limit(const struct replica_config *c, uint64_t snapshot_len);

/* Fills c with the core's defaults (raft_config_default) and the replica's: no snapshots,
 * send_early on, no slow-ready log. */
void replica_config_default(struct replica_config *c);

enum replica_error {
    REPLICA_HELD = 1,         /* (not an error) a save found no room: the ready is held */
    REPLICA_ERR_FATAL = -1,   /* the store or the core failed: the node cannot go on */
};

struct replica;

/* Loads the store (not owned; it must outlive the replica), restores sm from the stored
 * snapshot and starts the core. Returns NULL with a message in err: the store does not load,
 * its snapshot does not restore, or the Raft config is invalid. */
struct replica *replica_new(const struct replica_config *c, struct store *store,
                            const struct node_sm *sm, const struct replica_io *io, char *err,
                            size_t errlen);

/* Fails every pending proposal and read with NODE_SHUTDOWN and frees everything. */
void replica_free(struct replica *rep);

/* ---- inputs: each may leave output for replica_process ---- */

/* One tick of time (nothing while a ready is held). */
void replica_tick(struct replica *rep);

/* A message from a peer (the caller keeps m). Dropped while a ready is held. Returns 0, or
 * REPLICA_ERR_FATAL (replica_error says why). */
int replica_step(struct replica *rep, const struct raft_msg *m);

/* Proposes a command (copied). Returns NODE_OK with *index and *term set, and done is called
 * later (done may be NULL: nothing is tracked); or at once (done is not called)
 * NODE_NOT_LEADER, or NODE_NO_SPACE on a leader while writes are refused
 * (replica_refusing_writes). */
enum node_result replica_propose(struct replica *rep, const uint8_t *cmd, size_t len,
                                 node_done_fn done, void *arg, uint64_t *index, uint64_t *term);

/* Asks for a linearizable read without a log entry (ReadIndex). Returns NODE_OK and done is
 * called later (NODE_OK once applied reaches the read's index, or NODE_LEADERSHIP_LOST /
 * NODE_SHUTDOWN); or at once NODE_NOT_LEADER (also while a ready is held), or NODE_NOT_READY
 * on a new leader that has not yet committed an entry of its term (propose the read instead). */
enum node_result replica_read(struct replica *rep, node_read_fn done, void *arg);

/* Proposes a membership change (raft_propose_change: its return codes, the reason in err);
 * on RAFT_OK done hears how it ends, as a proposal's (NODE_OK once the change applies). */
int replica_propose_change(struct replica *rep, enum raft_change_type type, uint32_t id,
                           const char *addr, node_done_fn done, void *arg, uint64_t *index,
                           uint64_t *term, char *err, size_t errlen);
/* Starts a leadership transfer (raft_transfer_leader). */
int replica_transfer_leader(struct replica *rep, uint32_t target);

/* On the leader: announces about `ticks` ticks of blocking work (raft_grace). Returns
 * RAFT_OK or RAFT_ERR_NOT_LEADER. */
int replica_grace(struct replica *rep, unsigned ticks);

/* ---- the ready loop ---- */

/* True when replica_process has something to do. */
bool replica_has_ready(const struct replica *rep);

/* Runs the ready loop until the core has nothing more to say. Returns 0; REPLICA_HELD when a
 * save found no room (the ready is kept: call replica_retry later); or REPLICA_ERR_FATAL. */
int replica_process(struct replica *rep);

/* Runs one ready, if there is one (same results as replica_process). A driver that lets
 * other inputs in between readies (the simulator's slow applier: the state machine lags behind
 * the commit index) calls it again while replica_has_ready. */
int replica_process_one(struct replica *rep);

/* Saves the held ready again and, when it fits, finishes it and goes on processing. Returns
 * 0, REPLICA_HELD (still no room) or REPLICA_ERR_FATAL. */
int replica_retry(struct replica *rep);

/* ---- writes refused for lack of space (docs/RAFT.md, "Storage") ---- */

/* The driver found its volume under its reserve (or not any more): while set, a leader
 * refuses proposals with NODE_NO_SPACE. */
void replica_set_space_low(struct replica *rep, bool low);

/* Whether proposals are refused now for lack of space: the volume is low, a ready is held,
 * or the last snapshot found no room (tried again a second later). */
bool replica_refusing_writes(const struct replica *rep);

/* Whether a ready is held (see replica_process). */
bool replica_holding(const struct replica *rep);

/* What last found no room, or the fatal error, in words. */
const char *replica_error(const struct replica *rep);

/* ---- observers ---- */

const struct raft *replica_raft(const struct replica *rep);
uint64_t replica_snapshots_installed(const struct replica *rep);
uint64_t replica_snapshots_taken(const struct replica *rep);
uint64_t replica_snapshots_background(const struct replica *rep); /* of those taken */

#endif
