#include "benchgroups.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"

void bench_groups_make(struct bench_groups *b, uint32_t first, uint32_t n)
{
    b->n = n;
    b->g = xcalloc(n, sizeof *b->g);
    b->ptrs = xcalloc((size_t)n * BENCH_SERVERS, sizeof *b->ptrs);
    b->names = xcalloc((size_t)n * BENCH_SERVERS, sizeof *b->names);
    for (uint32_t i = 0; i < n; i++) {
        for (size_t s = 0; s < BENCH_SERVERS; s++) {
            size_t at = (size_t)i * BENCH_SERVERS + s;
            snprintf(b->names[at], sizeof b->names[at], "group%u-replica%zu.example:7%03u",
                     first + i, s, (first + i) % 1000);
            b->ptrs[at] = b->names[at];
        }
        b->g[i] = (struct sc_join_group){ first + i, b->ptrs + (size_t)i * BENCH_SERVERS,
                                          BENCH_SERVERS };
    }
}

void bench_groups_free(struct bench_groups *b)
{
    free(b->g);
    free(b->ptrs);
    free(b->names);
}
