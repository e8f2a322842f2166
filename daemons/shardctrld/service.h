/* shardctrld's client service: "shardctrl.Op" (Join, Leave and Move through the Raft log;
 * Query by ReadIndex) and "shardctrl.Status". lib/shardctrl as the node's state machine is
 * machine.h's. */
#ifndef SHARDCTRLD_SERVICE_H
#define SHARDCTRLD_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "node/daemon.h"
#include "shardctrl/shardctrl.h"

/* The service's own options ([shardctrl] in the INI file). */
struct shardctrld_opts {
    int64_t shards;
};

/* What main hands to the hooks: the controller, created by the check hook from the options. */
struct shardctrld {
    struct shardctrl *sc;
};

/* node_service.check (arg: the struct shardctrld): creates the controller with --shards. */
int shardctrld_check(const void *opts, char *err, size_t errlen, void *arg);
/* node_service.start and .stop. */
void *shardctrld_service_start(const struct node_service_env *env, char *err, size_t errlen,
                               void *arg);
void shardctrld_service_stop(void *service);

#endif
