/* raftd's state machine (a running hash of every applied command) and its client service
 * (raftd.Propose, raftd.ReadLog, raftd.Status; proto/raftd.proto). */
#ifndef RAFTD_SERVICE_H
#define RAFTD_SERVICE_H

#include <stdint.h>

#include "node/node.h"

/* The replicated state: how many commands were applied and their running hash
 * (FNV-1a 64 over the previous hash's 8 bytes followed by the command). */
struct raftd_state {
    uint64_t count;
    uint64_t hash;
};

/* The node_sm over a raftd_state (ctx = the state). */
struct node_sm raftd_state_machine(struct raftd_state *st);

struct rpc_server;
struct service;

/* Registers the client methods on srv, serving from node n and state st. Free the service
 * (after the server has stopped dispatching) with raftd_service_free. */
struct service *raftd_service_new(struct rpc_server *srv, struct node *n, struct raftd_state *st);
void raftd_service_free(struct service *s);

#endif
