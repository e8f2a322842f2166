#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "coord.h"
#include "metrics/metrics.h"

enum { PENDING, RUNNING, DONE, N_STATES };

struct coord_metrics {
    const struct coord *c;
    struct metric *tasks[2][N_STATES], *failed[2];
    struct metric *timeouts, *reassigned, *workers, *done, *job_failed;
};

static void collect(void *arg)
{
    struct coord_metrics *cm = arg;
    struct coord_stats st;
    coord_stats(cm->c, &st);
    const uint32_t total[2] = { st.c.maps_total, st.c.reduces_total };
    const uint32_t running[2] = { st.c.maps_running, st.c.reduces_running };
    const uint32_t done[2] = { st.c.maps_done, st.c.reduces_done };
    for (int k = 0; k < 2; k++) {
        metric_set(cm->tasks[k][PENDING], total[k] - running[k] - done[k]);
        metric_set(cm->tasks[k][RUNNING], running[k]);
        metric_set(cm->tasks[k][DONE], done[k]);
        metric_set(cm->failed[k], (double)st.failed_reports[k]);
    }
    metric_set(cm->timeouts, (double)st.timeouts);
    metric_set(cm->reassigned, (double)st.c.reassigned);
    metric_set(cm->workers, st.workers);
    metric_set(cm->done, st.c.done);
    metric_set(cm->job_failed, st.c.failed);
}

struct coord_metrics *coord_metrics_new(struct metrics *reg, const struct coord *c)
{
    static const char *const kinds[2] = { "map", "reduce" };
    static const char *const states[N_STATES] = { "pending", "running", "done" };
    struct coord_metrics *cm = xcalloc(1, sizeof *cm);
    cm->c = c;
    struct metric_family *tasks = metrics_family(
        reg, METRIC_GAUGE, "raftkv_mr_tasks",
        "The job's tasks by kind (map, reduce) and state (pending: waiting for a worker, "
        "running: handed out, done).", "kind,state", NULL, 0);
    struct metric_family *failed = metrics_family(
        reg, METRIC_COUNTER, "raftkv_mr_task_failures_total",
        "Task attempts that workers reported failed, by kind.", "kind", NULL, 0);
    for (int k = 0; k < 2; k++) {
        for (int s = 0; s < N_STATES; s++) {
            const char *v[] = { kinds[k], states[s] };
            cm->tasks[k][s] = metric_child(tasks, v);
        }
        const char *v[] = { kinds[k] };
        cm->failed[k] = metric_child(failed, v);
    }
    cm->timeouts = metrics_counter(reg, "raftkv_mr_task_timeouts_total",
                                   "Running tasks given to another worker after --task-timeout.");
    cm->reassigned = metrics_counter(reg, "raftkv_mr_task_reassignments_total",
                                     "Hand-outs of a task that had been handed out before.");
    cm->workers = metrics_gauge(reg, "raftkv_mr_workers", "Workers heard from recently.");
    cm->done = metrics_gauge(reg, "raftkv_mr_job_done", "1 once every output is final.");
    cm->job_failed = metrics_gauge(reg, "raftkv_mr_job_failed",
                                   "1 once a task failed --max-failures times (the job failed).");
    metrics_on_collect(reg, collect, cm);
    return cm;
}

void coord_metrics_free(struct coord_metrics *cm) { free(cm); }

int coord_metrics_healthz(void *arg, char *why, size_t len)
{
    (void)arg;
    (void)why;
    (void)len;
    return 0; /* it answers: its loop runs (nothing else can make a coordinator unhealthy) */
}

int coord_metrics_readyz(void *arg, char *why, size_t len)
{
    struct coord_metrics *cm = arg;
    struct coord_stats st;
    coord_stats(cm->c, &st);
    if (st.finished || st.stopping) {
        snprintf(why, len, "the job is %s; the coordinator is about to exit",
                 st.c.failed ? "failed" : st.finished ? "done" : "stopped");
        return 1;
    }
    return 0;
}
