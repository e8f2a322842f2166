/* shardkvd's service: the clients' "shardkv.Op" (kv.Commands: writes through the Raft log, Gets
 * by ReadIndex), the group-to-group "shardkv.Pull" (a chunk of a frozen shard, from the leader)
 * and "shardkv.Delete" (drop a handed-over shard, through the log), "shardkv.Status"; and the
 * group's driver (driver_io.h), which moves the group through the controller's configs.
 * lib/shardkv as the node's state machine is machine.h's. */
#ifndef SHARDKVD_SERVICE_H
#define SHARDKVD_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "node/daemon.h"

/* The service's own options ([shardkv] in the INI file). */
struct shardkvd_opts {
    int64_t gid;
    char *ctrlers;
    uint64_t poll_ms, chunk_bytes, peer_attempt_ms, pull_window;
};

/* node_service.check (arg: the struct shardkvd_machine): checks --gid and --ctrlers and creates
 * the group's state (shardkv_new(--gid)). */
int shardkvd_check(const void *opts, char *err, size_t errlen, void *arg);
/* node_service.start, .on_role and .stop. */
void *shardkvd_service_start(const struct node_service_env *env, char *err, size_t errlen,
                             void *arg);
void shardkvd_service_on_role(void *service, bool leader, uint64_t term);
void shardkvd_service_stop(void *service);

#endif
