/* kvd's client service: "kv.Op" (a kv.Command through the Raft log, answered once applied) and
 * "kv.Status". lib/kv as the node's state machine is machine.h's. */
#ifndef KVD_SERVICE_H
#define KVD_SERVICE_H

#include <stddef.h>

#include "kv/kv.h"
#include "node/daemon.h"

/* node_service.start (arg: the struct kv) and .stop. */
void *kvd_service_start(const struct node_service_env *env, char *err, size_t errlen, void *kv);
void kvd_service_stop(void *service);

#endif
