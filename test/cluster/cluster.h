/* The multi-process test harness (level 3 of the testing plan): real daemons on 127.0.0.1, each
 * with its own temporary data directory and generated INI file, a frame-aware fault proxy on
 * every directed peer link and in front of every node's client port, crash / restart / pause,
 * and waits that are always bounded in time. docs/CLUSTER-TESTS.md explains how to use it.
 *
 * Threads: a struct cluster belongs to the thread that created it (for Check tests, the test's
 * own process): call every cluster_* function from that thread only, except the address getters
 * (their strings never change) and cluster_seed. Daemons are forked from that thread and get
 * PR_SET_PDEATHSIG = SIGKILL, so none outlives the test process, whichever way it ends.
 * A struct cluster_proxy runs its own thread; its setters may be called from any thread.
 *
 * Node ids are 1..n (they are the daemons' --id); an id out of range is a bug in the test and
 * aborts. A node set is a bit mask: bit i = node i.
 *
 * Several clusters in one test (a shard controller and its replica groups): each is a
 * struct cluster of its own (own proxies, directory and watcher); the daemons of one are given
 * another's cluster_client_addrs (so that traffic goes through the other's client proxies too);
 * ports never clash across them, even with a node down; one CLUSTER_SEED replays all (see
 * cluster_opts.seed). */
#ifndef TEST_CLUSTER_CLUSTER_H
#define TEST_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/util.h"
#include "node.pb-c.h"
#include "raftd.pb-c.h"
#include "rpc/rpc.h"

/* ======================= the fault proxy ====================================================
 * One thread with its own event_base serving any number of links. A link listens on
 * 127.0.0.1:<free port> and, for every connection accepted there, opens one connection to its
 * target and forwards whole frames (4-byte big-endian length + body) both ways, applying the
 * link's faults to each frame: discarded while the link is down (the connections stay open),
 * dropped with a probability, delayed by a uniform random time, and, with reorder off, kept in
 * order per connection and direction whatever the delays. When either side closes, the proxy
 * closes the other (frames still delayed are lost, as in a crash).
 *
 * A dropped rpc CALL (towards the target) or REPLY (back from it) fails at once, as in labrpc
 * ("the caller gets false, as if the call timed out"): after the dropped frame's drawn delay
 * the proxy sends the caller a REPLY of the same call_id with status DISCONNECTED (it may or
 * may not have run: a dropped reply's handler did), so the caller tries elsewhere instead of
 * waiting out its attempt timeout. ONEWAY frames (Raft's peer messages) are dropped silently,
 * as are frames met while the link is down, and with silent_drop every frame. */

struct cluster_proxy;

struct cluster_faults {
    double drop;           /* probability in [0, 1] that a frame is discarded */
    uint32_t delay_min_ms; /* each frame waits a uniform time in [delay_min_ms, delay_max_ms] */
    uint32_t delay_max_ms;
    bool reorder;          /* false: frames leave in arrival order (a frame never overtakes the
                              one before it); true: each frame has its own delay */
    bool silent_drop;      /* true: a dropped CALL or REPLY vanishes too (its caller waits for
                              its own timeout); false: its caller gets DISCONNECTED (above) */
};

/* Counters of one link (all connections, both directions). */
struct cluster_link_stats {
    uint64_t conns;     /* connections accepted */
    uint64_t frames;    /* frames received from either side */
    uint64_t forwarded; /* frames written to the other side */
    uint64_t dropped;   /* frames discarded: link down, drop probability, or output overflow */
    uint64_t bytes;     /* bytes forwarded */
    uint64_t failed;    /* failure replies written in place of a dropped CALL or REPLY (not in
                           frames, forwarded or bytes; one that meets a down link or a full
                           output is discarded uncounted) */
};

/* Creates a proxy (not running yet) whose random choices come from seed. Free with
 * cluster_proxy_free. */
struct cluster_proxy *cluster_proxy_new(uint64_t seed);

/* Adds a link forwarding to target ("127.0.0.1:port"; it need not be listening yet: a
 * connection accepted while the target is down is closed at once). Only before
 * cluster_proxy_start. Returns the link's index (0, 1, ...), or -1 with a message in err. */
int cluster_proxy_add_link(struct cluster_proxy *p, const char *target, char *err, size_t errlen);

/* The address the link listens on, "127.0.0.1:<port>" (valid while p lives). */
const char *cluster_proxy_link_addr(const struct cluster_proxy *p, int link);

/* Makes every connection of the proxy TLS on both sides (proxy.c), with identity tls (not
 * owned; keep it alive while p lives): its certificate must name 127.0.0.1 and be signed by the
 * CA the daemons and clients trust. Only before cluster_proxy_start. */
struct rpc_tls;
void cluster_proxy_set_tls(struct cluster_proxy *p, struct rpc_tls *tls);

/* Starts the proxy thread. Returns 0, or -1 when the thread cannot start. */
int cluster_proxy_start(struct cluster_proxy *p);

/* Sets whether a link passes frames (links start up) / its faults (they start at zero). Both
 * apply to the next frame read and to frames already delayed (a frame due while its link is
 * down is discarded). Any thread, any time. */
void cluster_proxy_set_up(struct cluster_proxy *p, int link, bool up);
void cluster_proxy_set_faults(struct cluster_proxy *p, int link, const struct cluster_faults *f);
bool cluster_proxy_up(struct cluster_proxy *p, int link);

/* Copies a link's counters. Any thread. */
void cluster_proxy_stats(struct cluster_proxy *p, int link, struct cluster_link_stats *out);

/* Stops the thread (if started), closes every listener and connection, frees p. NULL is a
 * no-op. */
void cluster_proxy_free(struct cluster_proxy *p);

/* ======================= processes (used by the cluster; usable alone) ===================== */

/* Forks and executes argv[0] with argv: the child gets PR_SET_PDEATHSIG = SIGKILL, stdin from
 * /dev/null, stdout and stderr appended to log_path, and no other inherited descriptor.
 * Returns the pid, or -1 with a message in err (exec failure included). */
pid_t cluster_proc_spawn(char *const argv[], const char *log_path, char *err, size_t errlen);
/* The same with NAME=VALUE strings (NULL-terminated; NULL: none) added to the environment it
 * inherits, replacing those of the same NAME. */
pid_t cluster_proc_spawn_env(char *const argv[], char *const env[], const char *log_path,
                             char *err, size_t errlen);

/* Sends sig (0: none), then waits up to timeout_ms for pid to exit; after that, SIGKILL and a
 * blocking wait. Stores the wait status in *status (may be NULL). Returns 0 if it exited
 * within the time, 1 if it had to be killed, -1 on a waitpid error. */
int cluster_proc_end(pid_t pid, int sig, uint64_t timeout_ms, int *status);

/* Prints the last `lines` lines of a text file to stderr, each prefixed by prefix. */
void cluster_print_tail(const char *path, int lines, const char *prefix);

/* ======================= TLS =============================================================
 * A TLS cluster's daemons get --tls-cert/--tls-key/--tls-ca (one node certificate for all, SAN
 * IP:127.0.0.1), its proxy ends TLS on both sides with an identity of its own, and the test
 * process's own clients (the harness's, the suites' clerks, anything using lib/rpc's default)
 * present a client certificate: rpc_tls_set_default is set while a TLS cluster lives. All of
 * them come from one test CA per process (test/support/tlscerts), so the clusters of a test
 * trust each other. */
struct cluster_tls {
    const char *ca, *node_cert, *node_key;  /* PEM files */
    struct rpc_tls *node, *proxy, *client;  /* the identities, loaded */
};

/* Whether o asks for TLS (o->tls, or env CLUSTER_TLS=1). */
struct cluster_opts;
bool cluster_tls_wanted(const struct cluster_opts *o);
/* The process's PKI, made at the first call (which also sets the default client identity);
 * NULL with a message in err on failure. Each call is matched by a cluster_tls_release; the
 * last one removes the files and unsets the default (they are removed at exit otherwise). */
const struct cluster_tls *cluster_tls_acquire(char *err, size_t errlen);
void cluster_tls_release(void);

/* ======================= the cluster ====================================================== */

#define CLUSTER_MAX_NODES 9
#define CLUSTER_ALL 0xffffffffu /* every node (as a node set) */

struct cluster_opts {
    unsigned n;               /* number of nodes, 1..CLUSTER_MAX_NODES (3) */
    unsigned members;         /* membership changes: nodes 1..members form the cluster and are
                                 started; the others are started by the test after a member
                                 add (cluster_restart_node), with --join (0: n) */
    const char *daemon;       /* program to run: a path (with a '/'), or a bare name run from $BIN
                                 (BIN defaulting to "bin"), e.g. "kvd"; NULL: "raftd" */
    const char *const *args;  /* extra flags for every node, NULL-terminated (or NULL); they
                                 follow --config FILE, so they override the file */
    const char *ini;          /* text appended to every node's INI file (or NULL), e.g.
                                 "[raft]\nmax_raft_state = 4KiB\n" (the file sets
                                 max_raft_state = 0, no snapshots, before it) */
    uint64_t seed;            /* 0: env CLUSTER_SEED, else drawn from the clock, for the
                                 first cluster of the process; the k-th one after it that also
                                 has 0 gets that seed + k, so one CLUSTER_SEED replays every
                                 cluster of a test made in the same order; printed */
    const char *name;         /* a label for messages and the temp directory ("cluster") */
    const char *status_method;/* the method answering a Node__Status to an empty request
                                 ("node.Status", which every Raft daemon answers); a node
                                 counts as started once it answers it ("": once its port
                                 accepts connections) */
    uint64_t start_timeout_ms;/* how long a node may take to start (15000) */
    bool tls;                 /* every connection mutual TLS (below, "TLS"); env CLUSTER_TLS=1
                                 turns it on for every cluster */
    bool powercut;            /* every node runs under the power-cut shim (below, "power
                                 cuts"); env CLUSTER_POWERCUT=1 turns it on for every cluster */
};

/* Fills *o with the defaults above. */
void cluster_opts_default(struct cluster_opts *o);

struct cluster;

/* Creates the temp directory (/tmp/cluster-<name>-XXXXXX: n<i>/data, n<i>/node.ini,
 * n<i>/log), picks a port per node, starts the proxies, then every node, and waits until each
 * has started (see status_method). Each node's INI file has [node] id, listen (its real address), peers
 * (its own real address; for every other node j, the proxy of link i->j) and data_dir. Prints
 * the seed. Returns NULL with a message in err (everything started is torn down). The options
 * are copied. Free with cluster_free. */
struct cluster *cluster_new(const struct cluster_opts *o, char *err, size_t errlen);

/* Kills (SIGKILL) every node still running, stops the proxies, frees c. The temp directory is
 * removed unless env KEEP_CLUSTER=1. If the process dies before this call (a failed Check
 * assertion, a crash, a timeout), a watcher process forked by cluster_new prints the seed and
 * the last 30 lines of every node's log, and removes the directory (same rule). NULL: no-op. */
void cluster_free(struct cluster *c);

/* Whether c runs with TLS (cluster_opts.tls, CLUSTER_TLS). */
bool cluster_tls_on(const struct cluster *c);

/* The seed of every random choice the harness made (proxies, cluster_rng). */
uint64_t cluster_seed(const struct cluster *c);

/* A generator seeded from the cluster's seed, for the test's own random choices (owned by c;
 * same thread rule as c). */
struct rng *cluster_rng(struct cluster *c);

unsigned cluster_size(const struct cluster *c);
/* Node i's real address, and the address of the client proxy in front of it. Valid while c
 * lives; any thread. */
const char *cluster_node_addr(const struct cluster *c, unsigned i);
const char *cluster_client_addr(const struct cluster *c, unsigned i);
/* Every node's client address, out[0..n-1] = nodes 1..n (e.g. the server list a client or
 * another cluster's daemons are given). Returns n. */
size_t cluster_client_addrs(const struct cluster *c, const char *out[CLUSTER_MAX_NODES]);
/* Node i's directory (holding data/, node.ini and log) and its log file. */
const char *cluster_node_dir(const struct cluster *c, unsigned i);
const char *cluster_node_log(const struct cluster *c, unsigned i);

/* ---- processes ---- */

/* SIGKILL + wait. Returns 0, or -1 when i is not running. */
int cluster_crash_node(struct cluster *c, unsigned i);
/* SIGTERM + wait (10 s, then SIGKILL). Returns the exit code (0 = clean), 128+signal when it
 * died by a signal, or -1 when i was not running. */
int cluster_stop_node(struct cluster *c, unsigned i);
/* Starts a crashed or stopped node again on the same data directory, config and ports, and
 * waits until it has started (see status_method). A running node: no-op. Returns 0, or -1 (printed) when it will not start. */
int cluster_restart_node(struct cluster *c, unsigned i);
/* SIGSTOP / SIGCONT. Return 0, or -1 when i is not running. */
int cluster_pause_node(struct cluster *c, unsigned i);
int cluster_resume_node(struct cluster *c, unsigned i);
bool cluster_node_running(const struct cluster *c, unsigned i);
/* Node i's process id, 0 while it is not running (for signals the harness does not send). */
pid_t cluster_node_pid(const struct cluster *c, unsigned i);
bool cluster_node_paused(const struct cluster *c, unsigned i);
/* SIGTERM to every running node at once, then waits for all (10 s each at most). Prints and
 * counts every node whose exit was not 0, and adds cluster_unexpected_exits. Returns that
 * count: 0 means every node always stopped cleanly when asked and never otherwise. */
int cluster_stop_all(struct cluster *c);
/* How many times a node exited without the harness asking (a crash, an abort, a sanitizer
 * report). Each is printed with the node's last log lines when noticed: here, in
 * cluster_status (and so in every wait) and in cluster_stop_all. Such a node counts as down. */
int cluster_unexpected_exits(struct cluster *c);
/* Restarts every node that is not running. Returns 0 or -1. */
int cluster_restart_all(struct cluster *c);

/* ---- power cuts (test/powercut, docs/POWERCUT.md) ----
 * A cluster with opts.powercut runs each node with LD_PRELOAD of the shim ($POWERCUT_LIB, else
 * build/$MODE/test/libpowercut.so), POWERCUT_DIR its data directory and POWERCUT_JOURNAL
 * <node dir>/powercut: every write to the data directory that no fsync covered yet is
 * journaled, so that a cut can take it away. */

/* Cuts the power of every running node of set at the same instant: SIGKILL to all of them,
 * then, once all are dead, each one's unsynced writes lost or torn page by page
 * (powercut_apply with mode, a POWERCUT_* value, and a seed drawn from seed and the node id).
 * The nodes stay down (cluster_restart_node). Adds the pages' fates to *st (may be NULL).
 * Returns 0, or -1 with err (a node of set that was not running is no error). */
struct powercut_stats;
int cluster_power_cut(struct cluster *c, uint32_t set, uint64_t seed, int mode,
                      struct powercut_stats *st, char *err, size_t errlen);

/* NAME=VALUE added to node i's environment from its next start on (e.g. the shim's
 * POWERCUT_EIO); NULL removes it. */
void cluster_set_node_env(struct cluster *c, unsigned i, const char *assignment);

/* ---- network (labrpc semantics on the peer links) ---- */

/* Sets the directed peer link from -> to up or down. */
void cluster_set_link(struct cluster *c, unsigned from, unsigned to, bool up);
bool cluster_link_up(const struct cluster *c, unsigned from, unsigned to);
/* Connects node i: its links to and from every connected node come up. */
void cluster_connect(struct cluster *c, unsigned i);
/* Disconnects node i: every link to and from i goes down. */
void cluster_disconnect(struct cluster *c, unsigned i);
/* Splits the nodes into groups (node sets; a node in no group is isolated): links within a
 * group come up, all others go down, and every node counts as connected. */
void cluster_partition(struct cluster *c, const uint32_t *groups, size_t n_groups);
/* Every node connected, every link up. */
void cluster_heal(struct cluster *c);
/* Sets the faults of every peer link (NULL: none). */
void cluster_set_peer_faults(struct cluster *c, const struct cluster_faults *f);
/* Sets the faults of the client proxy in front of node i (0: every node; NULL: none). */
void cluster_set_client_faults(struct cluster *c, unsigned i, const struct cluster_faults *f);
/* Sets the faults of every link of c, peer links and client proxies (NULL: none). A test with
 * several clusters (a controller and shard groups reaching each other through their client
 * proxies) calls it on each to make the whole network unreliable, or reliable again. */
void cluster_set_faults(struct cluster *c, const struct cluster_faults *f);
/* A proxy of the test's own in front of c's nodes (not started; free it with
 * cluster_proxy_free): its seed drawn from c's generator, and TLS on both sides when c runs
 * with TLS, as c's own proxy (a plain one would read a TLS client's records as frames). */
struct cluster_proxy *cluster_proxy_new_for(struct cluster *c);
/* The proxy and link indexes, for cluster_proxy_stats and finer control. */
struct cluster_proxy *cluster_proxy(struct cluster *c);
int cluster_peer_link(const struct cluster *c, unsigned from, unsigned to);
int cluster_client_link(const struct cluster *c, unsigned i);

/* ---- calls ---- */

/* Makes one call on s and unpacks the reply as a reply_desc message into *reply (free with
 * protobuf_c_message_free_unpacked). Returns RPC_OK, the call's failure, or RPC_APP_ERROR when
 * the reply does not decode (printed). */
enum rpc_status cluster_call(struct rpc_sync *s, const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *reply_desc, uint64_t timeout_ms,
                             ProtobufCMessage **reply);

/* The harness's own connection to node i's real address (no proxy), owned by c and replaced
 * when the node restarts. */
struct rpc_sync *cluster_sync(struct cluster *c, unsigned i);

/* The status of node i (asked directly, at most timeout_ms), or NULL when it does not answer
 * (not running, paused, timed out). Free with node__status__free_unpacked. */
Node__Status *cluster_status(struct cluster *c, unsigned i, uint64_t timeout_ms);

/* The statuses of every running, unpaused node in set (others stay NULL), out[1..n]. Returns
 * how many answered. Free with cluster_statuses_free. */
int cluster_statuses(struct cluster *c, uint32_t set, Node__Status *out[CLUSTER_MAX_NODES + 1]);
void cluster_statuses_free(Node__Status *st[CLUSTER_MAX_NODES + 1]);
/* Prints one line per node of set: role, term, leader, commit, applied, hash, snapshot. */
void cluster_print_statuses(struct cluster *c, uint32_t set);

/* Polls the running nodes of set until exactly one of them is leader of the highest term any
 * of them reports, at most timeout_ms (0: one poll, no wait, as the lab's Leader()). Returns
 * the leader's id (and its term in *term, if not NULL), 0 on timeout (the last statuses are
 * printed), or -1 when two nodes claim leadership of the same term (a safety violation;
 * printed). */
int cluster_wait_leader(struct cluster *c, uint32_t set, uint64_t timeout_ms, uint64_t *term);

/* Polls until every node of set answers with applied_index == commit_index >= min_index, all
 * equal, and the same applied_hash. Returns 0 with *index and *hash set (either may be NULL),
 * 1 on timeout (printed), or -1 when two nodes report different hashes at the same applied
 * index (a safety violation; printed). */
int cluster_wait_converged(struct cluster *c, uint32_t set, uint64_t min_index,
                           uint64_t timeout_ms, uint64_t *index, uint64_t *hash);

/* ---- raftd's log ---- */

struct cluster_entry {
    uint64_t index, term;
    uint32_t type;
    uint8_t *data;
    size_t len;
};

struct cluster_log {
    struct cluster_entry *e; /* e[k].index == first + k */
    size_t n;
    uint64_t first;          /* index of e[0] */
    uint64_t commit;         /* the node's commit index when the last page was read */
    uint64_t snapshot_index; /* entries up to here are compacted away */
};

/* Reads node s's committed log from index `from` to its commit index, in pages (raftd.ReadLog;
 * each page at most timeout_ms). If `from` is compacted, reading starts after the snapshot.
 * Returns 0, or -1 (printed). Free with cluster_log_free. */
int cluster_read_log(struct rpc_sync *s, uint64_t from, uint64_t timeout_ms,
                     struct cluster_log *out);
void cluster_log_free(struct cluster_log *l);
/* The entry at index, or NULL when l does not hold it. */
const struct cluster_entry *cluster_log_at(const struct cluster_log *l, uint64_t index);

/* raftd's running hash after applying cmd on top of hash h (FNV-1a 64 over h's 8 big-endian
 * bytes and the command), so a test can recompute applied_hash from a log. */
uint64_t cluster_raftd_hash(uint64_t h, const uint8_t *cmd, size_t len);

/* Proposes data through s (raftd.Propose, at most timeout_ms). Returns the reply (free with
 * raftd__propose_reply__free_unpacked), or NULL with the failure in *st (may be NULL). */
Raftd__ProposeReply *cluster_propose(struct rpc_sync *s, const void *data, size_t len,
                                     uint64_t timeout_ms, enum rpc_status *st);

#endif
