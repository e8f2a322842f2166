/* Measurement of one run: every completed operation's latency (kept exactly, sorted at the end
 * for percentiles), counts per kind, misses and errors. */
#ifndef KVBENCH_STATS_H
#define KVBENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

struct stats {
    uint64_t *lat; /* nanoseconds, one per completed operation */
    size_t n, cap;
    uint64_t done[OP_KINDS]; /* completed (OK or MISS) per kind */
    uint64_t misses, errors;
    char first_error[128];   /* the first error's reason, for the report */
};

/* Records a completed operation of kind k that took ns nanoseconds. */
void stats_add(struct stats *s, enum op_kind k, uint64_t ns);

/* Records a failed operation (not part of the latencies) and remembers the first reason. */
void stats_error(struct stats *s, const char *why);

/* Sorts the latencies; call once, before stats_pct_ms. */
void stats_finish(struct stats *s);

/* The p-quantile (0..1) of the latencies in milliseconds (nearest rank); 0 when empty. */
double stats_pct_ms(const struct stats *s, double p);

/* Completed operations of every kind. */
uint64_t stats_ops(const struct stats *s);

/* Releases the latency array. */
void stats_free(struct stats *s);

#endif
