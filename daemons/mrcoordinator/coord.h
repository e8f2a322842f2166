/* The coordinator service: lib/mr's scheduler behind the mr.* RPC methods (proto/mr.proto),
 * with task timeouts, held GetTask calls and the progress display driven by a timer on the
 * loop. It keeps the job's state in memory only: a restarted coordinator starts the job over. */
#ifndef MRCOORDINATOR_COORD_H
#define MRCOORDINATOR_COORD_H

#include <stdbool.h>
#include <stdint.h>

#include "mr/mr.h"

struct event_base;
struct rpc_server;
struct coord;

struct coord_config {
    char *const *inputs;      /* one map task per input (names as given; workers open them) */
    uint32_t ninputs;
    uint32_t nreduce;
    uint64_t task_timeout_ms; /* a running task not finished by then is given to another worker */
    const char *workdir;      /* where workers write mr-X-Y and mr-out-Y */
    uint64_t hold_ms;         /* a GetTask with nothing to hand out is answered WAIT after this
                                 (or after the shorter wait the worker asked for) */
    uint64_t linger_ms;       /* once done, wait at most this long for busy workers to hear so */
    uint32_t max_failures;    /* failures of one task that fail the job */
    bool keep_intermediate;   /* leave mr-X-Y in workdir when done */
    bool progress_bar;        /* draw a bar on stderr (a terminal) instead of log lines */
    uint64_t job_id;          /* random; tells this job's workers from stale ones */
};

/* Registers mr.GetTask, mr.FinishTask and mr.Progress on srv and starts the job. When every
 * output is final (or the job failed) and the workers have been told, it shuts srv down and
 * exits the loop of base. cfg's strings must outlive the coordinator. Free with coord_free
 * after the loop returns (before freeing srv). */
struct coord *coord_new(struct event_base *base, struct rpc_server *srv,
                        const struct coord_config *cfg);

/* Stops at once (SIGINT/SIGTERM): answers held calls, shuts srv down, exits the loop. */
void coord_stop(struct coord *c);

/* The exit status for main: 0 when every output is final, 1 when the job failed or was
 * stopped before the end. */
int coord_exit_status(const struct coord *c);

/* What the metrics show (daemons/mrcoordinator/metrics.c). */
struct coord_stats {
    struct mr_sched_counts c;
    uint64_t failed_reports[2]; /* tasks reported failed by workers: [0] maps, [1] reduces */
    uint64_t timeouts;          /* running tasks given to another worker after the timeout */
    uint32_t workers;           /* workers heard from recently */
    bool finished, stopping;
};
void coord_stats(const struct coord *c, struct coord_stats *st);

void coord_free(struct coord *c);

#endif
