/* A Raft node's metrics (raftkv_raft_*, raftkv_snapshot*, raftkv_node_*): the node's indexes,
 * term, role and leader, read at scrape time (node_status); leader changes and snapshots as
 * counters; and the replica's timings (node_on_timing) as histograms: proposal to commit, the
 * save (fsync) of one ready, one entry's apply. Also the probes /healthz and /readyz
 * (lib/node/health.h) for the daemon's endpoint. Nothing of it is in lib/raft. */
#ifndef NODE_METRICS_H
#define NODE_METRICS_H

#include <stddef.h>

struct metrics;
struct node;
struct node_metrics;

/* Registers the families in reg and observes n (which must outlive every rendering of reg). */
struct node_metrics *node_metrics_new(struct metrics *reg, struct node *n);
/* Stops observing n and frees (the families stay in reg, which must not be rendered again). */
void node_metrics_free(struct node_metrics *nm);

/* The probes, as metrics_probe_fn (arg: the node_metrics): 0, or 1 with a reason. */
int node_metrics_healthz(void *arg, char *why, size_t len);
int node_metrics_readyz(void *arg, char *why, size_t len);

#endif
