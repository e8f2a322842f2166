/* The deterministic simulator: Raft cores under a simulated clock and network, everything
 * drawn from one seed, so the same seed replays the same run exactly.
 *
 * Nodes are numbered 0..n-1 (Raft ids 1..n). Each node is a replica (lib/replica), the same
 * layer lib/node drives: after every input its ready loop persists (to a sim_store), sends,
 * applies, advances. An applier per node checks, as the 6.5840 tester does, that every node
 * applies the same command at every index and in order; the first violation is recorded and
 * stops the run. The applier is the node's state machine, or wraps the one opts.machine gives
 * (lib/kv in the kv scenarios), whose results go back to the proposers.
 *
 * Network model (labrpc's): links are one-directional and enabled or disabled; disconnect(i)
 * disables all links to and from i, connect(i) re-enables those to connected peers. Reliable:
 * every message takes 1 ms, links are FIFO. Unreliable: each message is delayed 0-26 ms and
 * dropped with probability 10% (requests and replies alike). Long reordering: with probability
 * 2/3 a reply is delayed 200 + rand(1 + rand(2000)) ms. Duplicates: a message is delivered
 * twice with probability 5%. A crash deletes the node: messages to or from it that are still
 * in flight are never delivered; a restart reloads the persisted state.
 *
 * Several clusters (opts.cluster_size) share the clock and the network: a shard controller
 * and its groups. sim_max_index and sim_n_committed look at cluster 0. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "replica/replica.h"

#define SIM_MAX_NODES 16
#define SIM_TICK_MS 10
#define SIM_SNAPSHOT_INTERVAL 10

enum sim_storage { SIM_STORAGE_MEM, SIM_STORAGE_LMDB };

/* A state machine for the nodes, made fresh at every start (a restart rebuilds it from the
 * stored snapshot and the log, as a daemon does). */
struct sim_machine {
    struct node_sm (*create)(void *arg, size_t node);
    void (*destroy)(void *arg, size_t node, void *ctx);
};

struct sim_opts {
    size_t n;
    uint64_t seed;
    enum sim_storage storage;
    bool snapshots;        /* 3D: the applier snapshots after every 10th index */
    int planted_bug;       /* passed to every core (raft_config.planted_bug) */
    bool noop_on_elect;
    bool no_check_quorum;  /* leaders do not step down without a quorum (stale leaders linger) */
    const struct sim_machine *machine; /* NULL: the applier alone (the Raft scenarios) */
    void *machine_arg;
    uint64_t max_raft_state; /* the replica's snapshot policy by size (0: none) */
    enum replica_bug replica_bug; /* planted in every replica */
    /* A slow applier (0: none): each node runs one ready per input and the rest one at a
     * time, 1..apply_lag_ms apart, one committed entry each, so its state machine lags
     * behind its commit index (what a ReadIndex read must wait out). */
    uint64_t apply_lag_ms;
    /* Several Raft clusters in one simulation (one clock, one network): nodes i / cluster_size
     * form cluster i / cluster_size, whose peers are each other only (0: one cluster of n).
     * The applier's checks (same command at an index, reads not stale) hold per cluster. */
    size_t cluster_size;
    /* Snapshots written in the background (replica_config.background_snapshot_min 1; the
     * memory store's compact_begin: taken at once, adopted a few readies later, lost when the
     * node crashes first). Memory storage only (lib/storage's would fork). */
    bool background_snapshots;
    /* Membership changes (one cluster): nodes 0..members-1 start as the cluster, the others
     * start empty, knowing no member, and join when a leader adds them (0: all are members). */
    size_t members;
};

struct sim;

/* A function run at a simulated time (sim_schedule): run is false when the simulation is
 * freed first (then only release arg). */
typedef void (*sim_call_fn)(struct sim *s, void *arg, bool run);

struct sim *sim_new(const struct sim_opts *o);
void sim_free(struct sim *s);

/* ---- time ---- */
uint64_t sim_now(const struct sim *s);
/* Runs events for ms of simulated time (returns early once a failure is recorded). */
void sim_run_for(struct sim *s, uint64_t ms);
/* The run's generator: scenarios draw their own randomness from it. */
uint64_t sim_rand(struct sim *s, uint64_t n);
/* Calls fn(s, arg, true) delay_ms from now (after the events already due then). */
void sim_schedule(struct sim *s, uint64_t delay_ms, sim_call_fn fn, void *arg);
/* Makes the sim_run_for in progress return after the current event (time stays there). */
void sim_stop(struct sim *s);

/* ---- network ---- */
void sim_connect(struct sim *s, size_t i);
void sim_disconnect(struct sim *s, size_t i);
bool sim_is_connected(const struct sim *s, size_t i);
/* Enables exactly the links within each group (group[i] is node i's group number). */
void sim_partition(struct sim *s, const int *group);
void sim_set_unreliable(struct sim *s, bool on);
void sim_set_long_reordering(struct sim *s, bool on);
void sim_set_duplicates(struct sim *s, bool on);

/* ---- nodes ---- */
void sim_crash(struct sim *s, size_t i);
void sim_restart(struct sim *s, size_t i); /* crash (if alive) + start from persisted state */
bool sim_is_alive(const struct sim *s, size_t i);
/* Node i's incarnation: changes at every crash (a restart is a new process). */
unsigned sim_incarnation(const struct sim *s, size_t i);
/* Crash (if alive), lose the whole store (a lost disk), start again: recover: as a replacement
 * member (recovery mode); otherwise as a brand-new node, which Raft does not allow (the
 * planted bug of the randomized mode). The applier's history is kept, so the checks compare
 * what it applies after with what it applied before. */
void sim_restart_empty(struct sim *s, size_t i, bool recover);
/* Proposes cmd on node i through its replica; done (may be NULL) is called with the outcome
 * and the state machine's result. */
enum node_result sim_propose(struct sim *s, size_t i, const uint8_t *cmd, size_t len,
                             node_done_fn done, void *arg, uint64_t *index, uint64_t *term);
/* Proposes cmd on node i (the lab's Start). Returns true if i is leader; *index, *term set. */
bool sim_start(struct sim *s, size_t i, const uint8_t *cmd, size_t len, uint64_t *index,
               uint64_t *term);
/* Asks node i for a ReadIndex read (raft_read_index); returns its result. The simulator checks
 * every confirmed read: its index must cover every index committed anywhere before it was
 * asked (a smaller one would serve a stale read). */
int sim_read(struct sim *s, size_t i);
/* The same read through the replica, with done (may be NULL) called once it is served or
 * fails (the check above is made first). */
enum node_result sim_read_async(struct sim *s, size_t i, node_read_fn done, void *arg);
uint64_t sim_reads_confirmed(const struct sim *s);
/* The lab's GetState: term and whether i thinks it is leader (false, 0 when crashed). */
bool sim_get_state(const struct sim *s, size_t i, uint64_t *term);
/* Proposes a membership change about node target on node i (raft_propose_change's codes);
 * done (may be NULL) hears how it ends. */
int sim_change(struct sim *s, size_t i, enum raft_change_type type, size_t target,
               node_done_fn done, void *arg);
/* Asks node i to hand its leadership to node target (raft_transfer_leader's codes). */
int sim_transfer(struct sim *s, size_t i, size_t target);
/* Whether node j is a member in live node i's membership (*voter: as a voter). */
bool sim_is_member(const struct sim *s, size_t i, size_t j, bool *voter);
const struct raft *sim_raft(const struct sim *s, size_t i); /* NULL when crashed */
size_t sim_n(const struct sim *s);

/* ---- observations ---- */
/* Number of nodes that applied index; cmd and len (may be NULL) point at the command. Records a
 * failure if two nodes applied different commands there. */
size_t sim_n_committed(struct sim *s, uint64_t index, const uint8_t **cmd, size_t *len);
uint64_t sim_max_index(const struct sim *s);
/* The term of the entry some node applied at index (0 when unknown: learned by snapshot). */
uint64_t sim_applied_term(const struct sim *s, uint64_t index);
/* The lowest term a node was in when it applied index (0 when unknown): the entry was
 * committed in that term or an earlier one. */
uint64_t sim_applied_at_term(const struct sim *s, uint64_t index);
uint64_t sim_rpc_total(const struct sim *s);   /* request messages sent (vote, append, snapshot) */
uint64_t sim_rpc_count(const struct sim *s, size_t i); /* request messages addressed to i */
uint64_t sim_snapshot_msgs(const struct sim *s, size_t i); /* InstallSnapshot chunks sent to i */
uint64_t sim_bytes_total(const struct sim *s);
uint64_t sim_snapshots_installed(const struct sim *s); /* InstallSnapshot completions */
uint64_t sim_snapshots_installed_on(const struct sim *s, size_t i); /* ... on node i */
size_t sim_snapshot_size(struct sim *s, size_t i); /* bytes of node i's stored snapshot */
/* Over every node: background snapshots adopted, superseded, lost (sim_opts.background_snapshots). */
void sim_background_snapshots(const struct sim *s, uint64_t *adopted, uint64_t *superseded,
                              uint64_t *lost);
size_t sim_raft_state_size(struct sim *s, size_t i);

/* ---- failures ---- */
/* Records the first failure (printf-style) and stops the run. */
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool sim_failed(const struct sim *s);
const char *sim_failure(const struct sim *s);
/* Prints the seed and the last events to stderr (called by tests on failure). */
void sim_dump(const struct sim *s);

/* Called after every event when set (randomized mode's safety checks). */
void sim_set_observer(struct sim *s, void (*fn)(struct sim *s, void *arg), void *arg);

#endif
