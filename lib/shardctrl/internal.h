/* lib/shardctrl's own helpers for configs and groups (config.c), shared by the state machine
 * and the codec. Not for users of the library. */
#ifndef SHARDCTRL_INTERNAL_H
#define SHARDCTRL_INTERNAL_H

#include "shardctrl/shardctrl.h"

/* The bytes a group costs (accounting). */
size_t sc_group_bytes(const struct sc_group *g);


/* Checks a config's shape: gids ascending, distinct, none 0; each server list non-empty; every
 * shard on a listed gid when there are groups, on 0 when there are none.
 * Returns 0, or -1 with a message. */
int sc_config_check(const uint32_t *shards, uint32_t n_shards, const uint32_t *gids,
                    const size_t *n_servers, size_t n_groups, char *err, size_t errlen);

/* ---- restores: the codec rebuilds a controller from a snapshot with these ---- */

/* Empties the controller for a restore: no configs at all, no sessions, n_shards set and fixed
 * as given. Then append every config from 0 in order with shardctrl_restore_config. */
void shardctrl_reset(struct shardctrl *sc, uint32_t n_shards, bool fixed);
/* Appends the next config (its num must be latest + 1, or 0 first): shards (n_shards gids) are
 * copied, groups (by gid ascending) get a reference each (the caller keeps its own). Returns 0,
 * or -1 with a message when it does not fit (wrong number, order or shard count). */
int shardctrl_restore_config(struct shardctrl *sc, uint64_t num, const uint32_t *shards,
                             uint32_t n_shards, struct sc_group *const *groups, size_t n_groups,
                             char *err, size_t errlen);
/* Counts a group into the configs' bytes (a restore: once per group, however many configs). */
void shardctrl_account_group(struct shardctrl *sc, const struct sc_group *g);

/* Exchanges the whole states of a and b (a restore builds aside, then swaps, so a snapshot that
 * does not fit leaves the state as it was). */
void sc_swap(struct shardctrl *a, struct shardctrl *b);

#endif
