/* mrcoordinator's metrics (raftkv_mr_*): the job's tasks by kind and state, failures reported
 * by workers, timeouts, workers; and its probes: /healthz 200 while it serves, /readyz 200
 * while the job runs (503 once it is finished or stopping: it is about to exit). */
#ifndef MRCOORDINATOR_METRICS_H
#define MRCOORDINATOR_METRICS_H

#include <stddef.h>

struct coord;
struct metrics;
struct coord_metrics;

/* Registers the families in reg; c is read at every rendering. */
struct coord_metrics *coord_metrics_new(struct metrics *reg, const struct coord *c);
void coord_metrics_free(struct coord_metrics *cm);

/* metrics_probe_fn's (arg: the coord_metrics). */
int coord_metrics_healthz(void *arg, char *why, size_t len);
int coord_metrics_readyz(void *arg, char *why, size_t len);

#endif
