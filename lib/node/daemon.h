/* The shape of every Raft daemon (raftd, kvd): the node's options (flags and INI keys), the
 * run loop (config, logging, join a running cluster (--join), listen, open the node, serve,
 * clean shutdown on SIGTERM/SIGINT), "node.Status", the membership administration
 * (lib/node/admin.h), backups (lib/node/backup.h), the metrics endpoint (--metrics-listen:
 * /metrics, /healthz, /readyz; lib/node/metrics.h), TLS on every connection (--tls-cert,
 * --tls-key, --tls-ca: lib/tlsopt), and the hooks through which a service checks
 * its own options, starts, hears of leadership changes and stops. A daemon's main() is its state machine and its service. */
#ifndef NODE_DAEMON_H
#define NODE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "node/node.h"
#include "tlsopt/tlsopt.h"

struct event_base;
struct metrics;
struct rpc_server;

/* The options of a Raft node (filled by node_daemon_main; services see them in
 * node_service_env). */
struct node_opts {
    int64_t id;
    char *listen, *peers, *join, *peer_addrs, *data_dir, *log_level;
    char *metrics_listen; /* NULL: no metrics endpoint */
    char *initial_cluster_state; /* "new" or "existing" */
    uint64_t tick_ms, max_raft_state, max_request_bytes, frame_timeout_ms;
    uint64_t background_snapshot_min, background_snapshot_rate;
    int64_t election_ticks, heartbeat_ticks, max_connections;
    bool fsync, pre_vote, check_quorum, noop_on_elect;
    struct tls_opts tls; /* [tls] cert, key, ca: the identity of every connection (docs/TLS.md) */
};

/* What a service's start gets. Valid until its stop returns. */
struct node_service_env {
    struct event_base *base;
    struct rpc_server *srv;
    struct node *node;
    const struct node_opts *node_opts;
    const void *opts; /* the service's own options (NULL when it has none) */
    /* The daemon's metrics registry (lib/metrics), served on --metrics-listen: a service adds
     * its own families to it (it lives until after the service's stop). */
    struct metrics *metrics;
};

/* A daemon's service. Every hook but start is optional; arg is passed to check and start. */
struct node_service {
    /* Validates the service's own options (opts, as in node_service_env) after the flags and
     * the file are read and before anything opens. Returns 0, or -1 with a message in err:
     * the daemon prints it and exits 2. */
    int (*check)(const void *opts, char *err, size_t errlen, void *arg);
    /* Registers the service's methods on env->srv once the node is open (its loop not yet
     * running). Returns the service state handed to the other hooks, or NULL with a message
     * in err: the daemon closes the node and exits 1. */
    void *(*start)(const struct node_service_env *env, char *err, size_t errlen, void *arg);
    /* Called from the loop each time the node becomes leader (leader true) or stops being
     * leader (node_on_role). */
    void (*on_role)(void *service, bool leader, uint64_t term);
    /* The state machine's running hash for node.Status's applied_hash (absent: 0). Gets arg. */
    uint64_t (*applied_hash)(void *arg);
    /* Frees the service, after the node and the server are gone (every proposal completed). */
    void (*stop)(void *service);
    void *arg;
    const struct node_sm *sm; /* the state machine the node applies to (required) */
    /* Optional: a command whose apply changes nothing, which node.SnapshotSave proposes on a
     * new leader that cannot confirm a read yet (lib/node/backup.h); NULL: none. */
    const uint8_t *barrier;
    size_t barrier_len;
};

/* A Raft daemon: its name and --help text, its own options, and its service. */
struct node_daemon {
    const char *program; /* "kvd" */
    const char *summary; /* the paragraph of --help */
    /* The service's own options (sections other than the node's), their offsets within a
     * struct of opts_size bytes that the daemon allocates, fills and frees (NULL, 0, 0: none). */
    const struct config_option *options;
    size_t n_options, opts_size;
    struct node_service service;
};

/* Parses argv, validates (the node's options, then service.check), runs the node and the
 * service until SIGTERM/SIGINT, and returns the process exit status (2: bad flags or config;
 * 1: cannot listen, data directory locked, corrupted, or its store lost while
 * --initial-cluster-state is new, or the service did not start; 0: clean shutdown). */
int node_daemon_main(const struct node_daemon *d, int argc, char **argv);

#endif
