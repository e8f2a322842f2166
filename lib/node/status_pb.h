/* A node's status as the node.Status message (proto/node.proto), which every Raft daemon
 * reports: as "node.Status" (registered by the daemon shape), raftd also as "raftd.Status", kvd
 * inside kv.StatusReply. */
#ifndef NODE_STATUS_PB_H
#define NODE_STATUS_PB_H

#include "node/node.h"
#include "node.pb-c.h"

/* Fills r (already initialized) from n; strings point into n, the peer arrays are malloc'd.
 * applied_hash: the state machine's hash, or 0 when it has none. */
void node_status_pb(const struct node *n, uint64_t applied_hash, Node__Status *r);

/* Frees what node_status_pb allocated (not r itself). */
void node_status_pb_release(Node__Status *r);

struct rpc_call;

/* Answers call with n's node.Status (applied_hash as in node_status_pb). */
void node_status_reply(struct rpc_call *call, const struct node *n, uint64_t applied_hash);

#endif
