/* The Raft node runtime: drives the replica layer (lib/replica: the core, proposals, reads,
 * applies, snapshots) on a libevent loop, persists in LMDB (lib/storage), and streams peer
 * messages over lib/rpc.
 *
 * Every input (a tick, a peer message, a proposal) only marks the node dirty; the output is
 * processed once per loop turn, so everything that arrived together costs one LMDB transaction
 * and one fsync (group commit), written before any message that depends on it is sent. */
#ifndef NODE_NODE_H
#define NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "replica/replica.h" /* node_sm, node_result, node_done_fn, node_read_fn */

struct event_base;
struct rpc_server;
struct rpc_call;

struct node_peer {
    uint32_t id;
    char addr[RAFT_ADDR_MAX]; /* host:port this node uses to reach the peer */
};

/* Parses "1=host:port,2=host:port,..." into a malloc'd array. Returns 0, or -1 with err (a bad
 * entry, a repeated or zero id, too long an address). */
int node_parse_peers(const char *spec, struct node_peer **out, size_t *count, char *err,
                     size_t errlen);

struct node_config {
    uint32_t id;
    /* The initial members, this node included (copied): the cluster's first membership, used
     * until the store holds one. A joining node gives the members it fetched: they are only
     * where to reach them (it learns the membership from the leader). */
    const struct node_peer *peers;
    size_t n_peers;
    bool joining; /* joins a running cluster as a learner (node.ChangeMember added it) */
    /* Where this node reaches these members, whatever address the membership gives them
     * (--peer-addrs: proxies, NAT); copied. */
    const struct node_peer *routes;
    size_t n_routes;
    const char *data_dir;
    uint64_t tick_ms;
    unsigned election_ticks, heartbeat_ticks;
    uint64_t max_raft_state; /* snapshot when the persisted Raft state exceeds this; 0: never */
    uint64_t background_snapshot_min; /* replica_config's (0: every snapshot in the loop) */
    uint64_t background_snapshot_rate; /* storage_opts.background_write_rate */
    bool fsync;
    bool pre_vote, check_quorum, noop_on_elect;
    size_t max_frame; /* of the peer connections: at least the largest entry + NODE_FRAME_SLACK
                         (0: lib/rpc's default) */
    bool replace; /* replaces a member whose store was lost (storage_opts.replace) */
    const char *peer_method; /* the ONEWAY method carrying Raft messages (NULL: NODE_PEER_METHOD) */
};

#define NODE_PEER_METHOD "raft.Message"

/* Room for what surrounds an entry's data in a frame (envelope, Raft message, other entries). */
#define NODE_FRAME_SLACK (2u << 20)

struct node;

/* Opens the data directory (refused when locked by another process, corrupted, or its store
 * lost while c->replace is off), restores
 * the state machine from the stored snapshot, starts the core, connects to the peers and
 * registers c->peer_method on srv. Returns NULL with a message in err. */
struct node *node_new(struct event_base *base, struct rpc_server *srv, const struct node_config *c,
                      const struct node_sm *sm, char *err, size_t errlen);

/* Stops ticking and fails every pending proposal with NODE_SHUTDOWN; frees everything. */
void node_free(struct node *n);

/* Proposes a command (copied). Returns NODE_OK with *index and *term set, and done is called
 * later; or at once (done is not called) NODE_NOT_LEADER, or NODE_NO_SPACE on a leader whose
 * data volume is under its reserve (storage_space) or that holds a write it could not store:
 * writes are refused until there is room again, while reads and Raft go on. */
enum node_result node_propose(struct node *n, const uint8_t *cmd, size_t len, node_done_fn done,
                              void *arg, uint64_t *index, uint64_t *term);

/* Asks for a linearizable read without a log entry (ReadIndex: a quorum confirms this node's
 * leadership, then the read waits until the state machine has applied the commit index of
 * the time of the call). Returns NODE_OK and done is called later (NODE_OK, or
 * NODE_LEADERSHIP_LOST / NODE_SHUTDOWN); or at once NODE_NOT_LEADER (also on a node holding a
 * write it could not store), or NODE_NOT_READY on a new leader that has not yet committed an
 * entry of its term (propose the read instead). */
enum node_result node_read(struct node *n, node_read_fn done, void *arg);

struct node_status {
    uint32_t id;
    struct raft_soft_state soft;
    const char *leader_addr; /* "" when unknown */
    uint64_t commit, applied, last_index, snapshot_index, snapshot_term;
    uint64_t snapshots_installed, snapshots_taken, raft_state_bytes, snapshot_bytes;
    uint64_t snapshots_background; /* of snapshots_taken, written in the background */
    uint64_t leader_changes; /* times the known leader changed to another node (or this one) */
};
void node_status(const struct node *n, struct node_status *st);

/* Timings of the replica (replica.h's enum replica_timing, in ns), for metrics: fn is called
 * from the loop. One observer; NULL removes it. */
typedef void (*node_timing_fn)(enum replica_timing what, uint64_t ns, void *arg);
void node_on_timing(struct node *n, node_timing_fn fn, void *arg);

struct node_health_facts;
/* The facts /healthz and /readyz are judged on (lib/node/health.h), as of now. */
void node_health_facts(const struct node *n, struct node_health_facts *f);

/* Relays a client's call (method, req[0..len)) to the leader this node knows and answers call
 * with the leader's reply, whatever it is (so one reachable member is enough for a client).
 * Returns false, leaving call to the caller, when this node knows no other leader or call was
 * itself relayed (a relay is never relayed again: no loops while leadership moves). Relays
 * still in flight at node_free are answered SHUTTING_DOWN. */
bool node_forward(struct node *n, struct rpc_call *call, const char *method, const uint8_t *req,
                  size_t len);

/* node_forward, on a node that does not lead: for a method that only the leader can answer.
 * Returns false, leaving call to the caller, when this node leads or cannot relay. */
bool node_forward_unless_leader(struct node *n, struct rpc_call *call, const char *method,
                                const uint8_t *req, size_t len);

/* The leader as this node knows it: its id (RAFT_NONE when unknown) and, in *addr, its
 * configured address ("" when unknown). For the leader hints in wrong-leader replies. A leader
 * that holds a write it could not store says "unknown": it cannot lead until it stores it. */
uint32_t node_leader(const struct node *n, const char **addr);

/* Called from the loop each time this node becomes leader (leader true) or stops being leader. */
typedef void (*node_role_fn)(bool leader, uint64_t term, void *arg);
void node_on_role(struct node *n, node_role_fn fn, void *arg);

/* The membership in force (the latest config entry's: see raft_membership), and the index of
 * the entry that set it (*committed: whether it has committed). */
const struct raft_membership *node_membership(const struct node *n);
uint64_t node_membership_index(const struct node *n, bool *committed);
/* The address this node reaches member id at ("" when unknown). Addresses given on the
 * command line (--peers, --peer-addrs) win over the ones members were added with. */
const char *node_peer_addr(const struct node *n, uint32_t id);

/* Proposes a membership change on the leader (raft_propose_change's return codes, the reason
 * in err); on RAFT_OK done hears how it ends (NODE_OK once it applied). */
int node_change_member(struct node *n, enum raft_change_type type, uint32_t id, const char *addr,
                       node_done_fn done, void *arg, char *err, size_t errlen);
/* Starts a leadership transfer on the leader (raft_transfer_leader's codes); the transfer under
 * way (RAFT_NONE: none). */
int node_transfer_leader(struct node *n, uint32_t target);
uint32_t node_transfer_target(const struct node *n);

/* On the leader, before work on about `bytes` bytes that blocks the loop (a large frame, a
 * backup's encoding): announces a grace sized by them (raft_grace, docs/RAFT.md) and sends it
 * at once, so that followers do not count the silence toward an election. Not from inside a
 * node callback. Returns whether a grace was announced (false: not the leader, or too little
 * work to need one). */
bool node_grace(struct node *n, size_t bytes);

/* The index the state machine has applied and the term of that entry. Between the loop's
 * events (never from inside a node callback) the state machine is exactly at that index: what
 * a backup of it (lib/node/backup.c) is labelled with. */
void node_applied(const struct node *n, uint64_t *index, uint64_t *term);

/* The leader's match index for a peer (0 elsewhere). */
uint64_t node_peer_match(const struct node *n, uint32_t peer);

/* Copies of committed entries from..from+max-1 still in the log, into *out (malloc'd; free
 * with raft_entries_free + free). *compacted is set when from <= the snapshot index. */
int node_read_log(struct node *n, uint64_t from, size_t max, struct raft_entry **out, size_t *count,
                  bool *compacted);

#endif
