/* What every Raft daemon (raftd, kvd) shares: the node's options (flags and INI keys), and the
 * run loop (config, logging, listen, open the node, serve, clean shutdown on SIGTERM/SIGINT).
 * A daemon's main() only adds its own options and its service. */
#ifndef NODE_DAEMON_H
#define NODE_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "node/node.h"

struct rpc_server;

/* The options of a Raft node, embedded in a daemon's option struct. */
struct node_opts {
    int64_t id;
    char *listen, *peers, *data_dir, *log_level;
    char *initial_cluster_state; /* "new" or "existing" (see node_opts_table) */
    uint64_t tick_ms, max_raft_state, max_request_bytes, frame_timeout_ms;
    int64_t election_ticks, heartbeat_ticks, max_connections;
    bool fsync, pre_vote, check_quorum, noop_on_elect;
};

/* Number of node options. */
size_t node_options_count(void);

/* Writes the node options into out[0..node_options_count()), their offsets shifted by base
 * (the offset of the struct node_opts inside the daemon's option struct). */
void node_options_fill(struct config_option *out, size_t base);

/* A daemon's service: registers its methods on srv for node n; returns the service state that
 * free_service releases at the end (may be NULL). */
struct node_service {
    void *(*start)(struct rpc_server *srv, struct node *n, void *arg);
    void (*stop)(void *service);
    void *arg;
    const struct node_sm *sm;
};

/* Parses argv with spec (whose options include the node options at node_opts_offset in the
 * option struct opts), validates, runs the node and the service until SIGTERM/SIGINT, and
 * returns the process exit status (2: bad flags or config; 1: cannot listen, data directory
 * locked, corrupted, or its store lost while --initial-cluster-state is new; 0: clean
 * shutdown). */
int node_daemon_main(const struct config_spec *spec, void *opts, size_t node_opts_offset,
                     const struct node_service *svc, int argc, char **argv);

#endif
