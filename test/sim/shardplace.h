/* Where a shard's data lives once the sharded service is quiet (the randomized mode's last
 * invariant, on skvlab's controller and groups). Quiet: every node up, every group server at
 * the controller's latest config and settled (shardkv_settled), and each group's replicas
 * having applied all they know committed, the same index. Then every shard's data (its keys and its
 * sessions) lives in exactly one group: on every replica of that group, the same there, and on
 * no replica of any other group. Which group:
 *   - a shard the config gives to a group: that group, whose replicas all serve it;
 *   - a parked shard (the config gives it to nobody: every group left): the last group that
 *     owned it, its holder, which every replica of every group must name alike; its replicas
 *     keep it frozen (LEAVING, not served) until some config gives it to a group. A shard
 *     nobody ever held has no data anywhere.
 * "Holds data" is content: a replica without the shard's container, or with an empty one,
 * holds none of it. */
#ifndef SIM_SHARDPLACE_H
#define SIM_SHARDPLACE_H

#include <stdbool.h>
#include <stdint.h>

#include "skvlab.h"

struct shardplace_stats {
    uint64_t checks;        /* quiet points checked */
    uint64_t shards;        /* shard placements checked */
    uint64_t parked;        /* ... of parked shards */
    uint64_t with_data;     /* ... of shards with keys or sessions */
};

/* Runs c (in steps of simulated time) until it is quiet, for up to max_ms; false (and c's
 * run failed) when it never is. */
bool shardplace_settle(struct skvl *c, uint64_t max_ms);
/* Checks the placement of every shard at a quiet point; the first violation fails c's run.
 * Returns whether all held. */
bool shardplace_check(struct skvl *c, struct shardplace_stats *st);

#endif
