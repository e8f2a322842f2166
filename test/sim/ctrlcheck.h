/* The shard controller's history checker: every operation the clerks ran (Join, Leave, Move,
 * Query), with its call and return on one logical clock, judged against the controller's
 * contract (lib/shardctrl/shardctrl.h, rebalance.h):
 *   - every config is immutable: the first time a config number is seen (a Query's reply) it
 *     is recorded, and every later observation of that number must be identical (num, shards,
 *     groups, server lists in order); a Query(n) returns config n, or the latest when n is
 *     past it (never a higher number);
 *   - at most once, and exactly once: every config 1..latest was made by exactly one accepted
 *     write (the write's reply names it), and no accepted write names another's;
 *   - each config is what its write makes of the one before: Join adds exactly its groups
 *     (server lists verbatim), Leave removes exactly its gids, Move puts its shard on its gid
 *     and changes nothing else; after a Join or Leave the config is balanced (max - min <= 1
 *     over the groups, no shard on gid 0 or an absent gid when groups exist, every shard on
 *     gid 0 when none), and from a balanced config a Join moves shards only to the new groups
 *     and a Leave moves only the leavers' shards;
 *   - linearizability: config k is made at a point p_k inside its write's call..return, p_1 <
 *     p_2 < ...; a Query(-1) (or a Query(n) answered with an older latest) returning r reads at
 *     a point inside its call..return with p_r <= point < p_(r+1); a Query(n) returning n needs
 *     p_n before its return. Whether such points exist is decided exactly (the configs are
 *     totally ordered by number, so the earliest feasible points, taken greedily, decide).
 * Refused writes (CLERK_REFUSED) make no config and are not judged further. */
#ifndef SIM_CTRLCHECK_H
#define SIM_CTRLCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clerk/engine.h"
#include "shardctrl/shardctrl.h"

struct ctrlcheck;

struct ctrlcheck *ctrlcheck_new(uint32_t n_shards);
void ctrlcheck_free(struct ctrlcheck *h);

/* An operation's call (cmd copied: groups with their servers, gids); returns its id. */
size_t ctrlcheck_call(struct ctrlcheck *h, int clerk, const struct sc_cmd *cmd);
/* Its return: the clerk's result, the num (a write's config, a Query's), a Query's config.
 * Returns false with a message (err) when it breaks a rule that can be judged at once (a
 * config that differs from the recorded one, a Query(n) answered with a number above n, an
 * outcome that is neither OK nor REFUSED). */
bool ctrlcheck_return(struct ctrlcheck *h, size_t id, enum clerk_result r, uint64_t num,
                      const struct sc_config *config, char *err, size_t errlen);

/* The latest config seen so far (NULL: none yet): what clerks pick their arguments from. */
const struct sc_config *ctrlcheck_latest(const struct ctrlcheck *h);
uint64_t ctrlcheck_latest_num(const struct ctrlcheck *h);

/* The whole-history checks, once every operation returned and every config 0..latest was
 * queried. Returns false with a message. */
bool ctrlcheck_finish(struct ctrlcheck *h, char *err, size_t errlen);

struct ctrlcheck_stats {
    uint64_t ops, writes, refused, queries, latest_queries, configs;
};
void ctrlcheck_stats(const struct ctrlcheck *h, struct ctrlcheck_stats *st);
/* A digest of the history (every operation's kind, arguments, times and outcome). */
uint64_t ctrlcheck_digest(const struct ctrlcheck *h);
/* Prints every operation, one a line (a failed seed's replay). */
void ctrlcheck_print(const struct ctrlcheck *h, FILE *f);

#endif
