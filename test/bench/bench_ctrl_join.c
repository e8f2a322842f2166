/* One Join end to end on a running shard controller (make bench-shard, part c): a client's
 * Join through the controller clerk, committed by the controller's Raft (fsync on) and applied
 * (the rebalance), at the controller's shard count (start it with --shards 16384) and 1,000
 * groups. Joins gids 1..999 in one command (untimed), then REPS times: Join gid 1000 (timed),
 * Leave gid 1000 (timed). Prints the medians as "join_ms=... leave_ms=..." (figures only).
 *   bench_ctrl_join CTRLERS          e.g. 127.0.0.1:7501,127.0.0.1:7502,127.0.0.1:7503 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "benchgroups.h"
#include "clerk/ctrl.h"
#include "shardctrl/shardctrl.h"

#define GROUPS 1000u
#define die(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(1))
#define SERVERS BENCH_SERVERS
#define REPS 9

static void join(struct ctrl_sync *s, uint32_t first, uint32_t n)
{
    struct bench_groups b;
    bench_groups_make(&b, first, n);
    if (ctrl_sync_join(s, b.g, n, NULL) != CLERK_OK)
        die("bench_ctrl_join: join of gids %u-%u: %s", first, first + n - 1,
            ctrl_clerk_error(ctrl_sync_clerk(s)));
    bench_groups_free(&b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, REPS, sizeof *v, cmp_double);
    return v[REPS / 2];
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_ctrl_join CTRLERS\n");
        return 2;
    }
    char **servers;
    size_t n = split_list(argv[1], &servers);
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = 30000;
    char err[256];
    struct ctrl_sync *s = ctrl_sync_new((const char *const *)servers, n, &o, err, sizeof err);
    if (!s)
        die("bench_ctrl_join: %s", err);
    struct sc_config *c;
    if (ctrl_sync_query(s, -1, &c) != CLERK_OK)
        die("bench_ctrl_join: the controller does not answer");
    size_t shards = c->n_shards;
    sc_config_free(c);
    join(s, 1, GROUPS - 1);
    double join_ms[REPS], leave_ms[REPS];
    uint32_t last = GROUPS;
    for (int i = 0; i < REPS; i++) {
        uint64_t t0 = clock_mono_ns();
        join(s, last, 1);
        uint64_t t1 = clock_mono_ns();
        if (ctrl_sync_leave(s, &last, 1, NULL) != CLERK_OK)
            die("bench_ctrl_join: leave of gid %u: %s", last, ctrl_clerk_error(ctrl_sync_clerk(s)));
        uint64_t t2 = clock_mono_ns();
        join_ms[i] = (double)(t1 - t0) / 1e6;
        leave_ms[i] = (double)(t2 - t1) / 1e6;
    }
    double jm = median(join_ms), lm = median(leave_ms); /* sorts them */
    double jmin = join_ms[0], lmin = leave_ms[0];
    printf("controller: %zu shards, %u groups of %d servers; one Join of the 1000th group %.2f ms "
           "(min %.2f, max %.2f), one Leave of it %.2f ms (min %.2f, max %.2f), median of %d\n",
           shards, GROUPS, SERVERS, jm, jmin, join_ms[REPS - 1], lm, lmin, leave_ms[REPS - 1],
           REPS);
    printf("shards=%zu groups=%u join_ms=%.3f leave_ms=%.3f\n", shards, GROUPS, jm, lm);
    ctrl_sync_free(s);
    for (size_t i = 0; i < n; i++)
        free(servers[i]);
    free(servers);
    return 0;
}
