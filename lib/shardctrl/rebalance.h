/* The controller's rebalancer: given a config's shard -> gid array and the groups of the next
 * config, moves as few shards as balance needs. Pure and deterministic (no hash-map order): the
 * same input gives the same output on every replica.
 *
 * The rule. With k groups and n shards, each group's target is n / k, and the n % k groups
 * that own the most shards now (ties: the lower gid) get one more; with more groups than
 * shards, n groups own one and the rest none. A shard is free when its gid is not among the
 * groups (gid 0, a group that left); a group above its target frees its highest-numbered
 * shards down to it. Free shards, in ascending order, go to the groups below their target, by
 * gid ascending. So, from a balanced config, a Join moves shards only to the new groups, and
 * only as many as balance needs; a Leave moves only the leavers' shards; no group owns more
 * than one shard more than another. With no groups every shard goes to gid 0. */
#ifndef SHARDCTRL_REBALANCE_H
#define SHARDCTRL_REBALANCE_H

#include <stddef.h>
#include <stdint.h>

/* Rebalances shards[0..n) in place over gids[0..k) (ascending, distinct, none 0). */
void sc_rebalance(uint32_t *shards, uint32_t n, const uint32_t *gids, size_t k);

#endif
