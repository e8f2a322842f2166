/* Made-up groups for the controller benchmarks (bench_rebalance, bench_ctrl_join): gids
 * first..first+n-1, each with BENCH_SERVERS server names that are never contacted. */
#ifndef BENCH_BENCHGROUPS_H
#define BENCH_BENCHGROUPS_H

#include <stdint.h>

#include "shardctrl/shardctrl.h"

#define BENCH_SERVERS 3

struct bench_groups {
    struct sc_join_group *g; /* n of them, for a Join */
    uint32_t n;
    const char **ptrs;
    char (*names)[40];
};

void bench_groups_make(struct bench_groups *b, uint32_t first, uint32_t n);
void bench_groups_free(struct bench_groups *b);

#endif
