/* An RPC server's metrics, registered in a registry: calls by method and status and their
 * latency (rpc_server_on_call_done), and the server's own counters (rpc_server_stats: bad
 * input, slow-client drops, connections...) copied in at each scrape. The method label is a
 * registered method's name, or "unknown" for every name without a handler, so that clients
 * cannot grow the label set. */
#ifndef METRICS_RPC_H
#define METRICS_RPC_H

struct metrics;
struct rpc_server;
struct rpc_metrics;

/* Registers the raftkv_rpc_* families in reg and observes srv. */
struct rpc_metrics *rpc_metrics_new(struct metrics *reg, struct rpc_server *srv);
/* Frees, once srv is freed (it observes srv's calls until then), and reg is no longer
 * rendered (its collect callback reads srv). */
void rpc_metrics_free(struct rpc_metrics *rm);

#endif
