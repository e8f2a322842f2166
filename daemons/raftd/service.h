/* raftd's state machine (a running hash of every applied command) and its client service
 * (raftd.Propose, raftd.ReadLog, raftd.Status; proto/raftd.proto). */
#ifndef RAFTD_SERVICE_H
#define RAFTD_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "node/daemon.h"

/* The replicated state: how many commands were applied and their running hash
 * (FNV-1a 64 over the previous hash's 8 bytes followed by the command). */
struct raftd_state {
    uint64_t count;
    uint64_t hash;
};

/* The node_sm over a raftd_state (ctx = the state). */
struct node_sm raftd_state_machine(struct raftd_state *st);

/* raftd's own options ([raftd] in the file). */
struct raftd_opts {
    int64_t read_log_max;     /* entries per raftd.ReadLog reply, at most */
    int64_t read_log_default; /* entries when the request's max is 0 */
};

/* node_service.check: read_log_default <= read_log_max. */
int raftd_check_opts(const void *opts, char *err, size_t errlen, void *arg);

/* node_service.applied_hash (arg: the raftd_state). */
uint64_t raftd_applied_hash(void *state);

/* node_service.start (arg: the raftd_state; env->opts: the raftd_opts) and .stop. */
void *raftd_service_start(const struct node_service_env *env, char *err, size_t errlen,
                          void *state);
void raftd_service_stop(void *service);

#endif
