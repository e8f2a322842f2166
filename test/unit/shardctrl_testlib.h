/* Shared by test_rebalance and test_shardctrl (linked by mk/shardctrl-unit.mk, not by the other
 * unit tests): writes to a controller built from gid lists (each gid's servers made up from the
 * gid, so a test can check them verbatim), config comparison, snapshot bytes. */
#ifndef TEST_UNIT_SHARDCTRL_TESTLIB_H
#define TEST_UNIT_SHARDCTRL_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shardctrl/shardctrl.h"

#define TL_MAX_JOIN 64   /* groups in one Join built here */
#define TL_MAX_SERVERS 3 /* gid g has 1 + g % 3 servers */

/* A write's session and proposer shard count. */
struct tl_w {
    uint64_t client, seq;
    uint32_t n_shards;
};

/* Server i of gid g ("g<g>-<i>.example:<port>"); tl_n_servers(g) of them. */
size_t tl_n_servers(uint32_t gid);
void tl_server_name(uint32_t gid, size_t i, char *buf, size_t cap);

/* Storage for one Join's groups (servers per tl_server_name). */
struct tl_join {
    struct sc_join_group groups[TL_MAX_JOIN];
    const char *ptrs[TL_MAX_JOIN][TL_MAX_SERVERS];
    char names[TL_MAX_JOIN][TL_MAX_SERVERS][48];
};
void tl_join_fill(struct tl_join *j, const uint32_t *gids, size_t n);

/* Commands (pointing into the caller's arrays / j) and their application. */
struct sc_cmd tl_join_cmd(struct tl_join *j, const uint32_t *gids, size_t n, struct tl_w w);
struct sc_cmd tl_leave_cmd(const uint32_t *gids, size_t n, struct tl_w w);
struct sc_cmd tl_move_cmd(uint32_t shard, uint32_t gid, struct tl_w w);
struct sc_result tl_join(struct shardctrl *sc, const uint32_t *gids, size_t n, struct tl_w w);
struct sc_result tl_leave(struct shardctrl *sc, const uint32_t *gids, size_t n, struct tl_w w);
struct sc_result tl_move(struct shardctrl *sc, uint32_t shard, uint32_t gid, struct tl_w w);
struct sc_result tl_query(struct shardctrl *sc, int64_t num);

/* NULL when a and b are the same config (num, shards, gids, servers in order), else what
 * differs first (a static buffer). */
const char *tl_config_diff(const struct sc_config *a, const struct sc_config *b);
/* NULL when every server list of c is gid's made-up one, in order, and gids ascend. */
const char *tl_config_servers_check(const struct sc_config *c);
/* NULL when the controllers hold the same configs 0..latest, else the first difference. */
const char *tl_history_diff(const struct shardctrl *a, const struct shardctrl *b);
/* Whether the two controllers' sc_codec_snapshot bytes are identical. */
bool tl_snapshots_equal(const struct shardctrl *a, const struct shardctrl *b);

#endif
