/* kvd's client service: "kv.Op" (a kv.Command through the Raft log, answered once applied) and
 * "kv.Status". lib/kv as the node's state machine is machine.h's. */
#ifndef KVD_SERVICE_H
#define KVD_SERVICE_H

#include "kv/kv.h"
#include "node/node.h"

struct rpc_server;
struct kvd_service;

struct kvd_service *kvd_service_new(struct rpc_server *srv, struct node *n, struct kv *kv);
void kvd_service_free(struct kvd_service *s);

#endif
