/* The shard controller's state machine at its limits (make bench-rebalance): 16,384 shards and
 * 1,000 groups of 3 servers. Times, each the median of REPS runs on a fresh controller (the setup
 * untimed): one Join of the 1,000th group into 999; one Join of 1,000 groups at once into none;
 * one Leave of one group and one of 500 groups out of 1,000; a Move; a Query's Reply encoding
 * (sc_codec_query); the snapshot's encoding and restore. Prints the bytes of an encoded config
 * (a Query's Reply) and of the snapshot after those configs. Figures only, no assertions on
 * time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchgroups.h"
#include "shardctrl/codec.h"
#include "shardctrl/shardctrl.h"

#define SHARDS SC_MAX_SHARDS
#define GROUPS 1000u
#define SERVERS BENCH_SERVERS
#define REPS 9

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what, const struct sc_result *r)
{
    fprintf(stderr, "bench_rebalance: %s: err %d %s\n", what, r->err, r->error);
    exit(1);
}

/* Joins gids first..first+n-1 in one command. */
static void join_range(struct shardctrl *sc, uint32_t first, uint32_t n)
{
    struct bench_groups b;
    bench_groups_make(&b, first, n);
    struct sc_cmd c = { .op = SC_OP_JOIN, .groups = b.g, .n_groups = n, .n_shards = SHARDS };
    struct sc_result r;
    shardctrl_apply(sc, &c, &r);
    if (r.err != SC_OK)
        die("join", &r);
    bench_groups_free(&b);
}

static void leave_range(struct shardctrl *sc, uint32_t first, uint32_t n)
{
    uint32_t *gids = malloc(n * sizeof *gids);
    for (uint32_t i = 0; i < n; i++)
        gids[i] = first + i;
    struct sc_cmd c = { .op = SC_OP_LEAVE, .gids = gids, .n_gids = n, .n_shards = SHARDS };
    struct sc_result r;
    shardctrl_apply(sc, &c, &r);
    if (r.err != SC_OK)
        die("leave", &r);
    free(gids);
}

static void move_one(struct shardctrl *sc)
{
    struct sc_cmd c = { .op = SC_OP_MOVE, .shard = 12345, .gid = 7, .n_shards = SHARDS };
    struct sc_result r;
    shardctrl_apply(sc, &c, &r);
    if (r.err != SC_OK)
        die("move", &r);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, REPS, sizeof *v, cmp_double);
    return v[REPS / 2];
}

static void report(const char *what, double *us)
{
    double m = median(us); /* sorts us */
    printf("%-44s median %10.1f us   (min %.1f, max %.1f, %d runs)\n", what, m, us[0],
           us[REPS - 1], REPS);
}

/* A controller holding 1,000 groups (config 1). */
static struct shardctrl *full(void)
{
    struct shardctrl *sc = shardctrl_new(SHARDS);
    join_range(sc, 1, GROUPS);
    return sc;
}

int main(void)
{
    double t[REPS], t0;
    printf("shard controller, %u shards, %u groups of %d servers; median of %d runs each\n",
           SHARDS, GROUPS, SERVERS, REPS);

    for (int i = 0; i < REPS; i++) {
        struct shardctrl *sc = shardctrl_new(SHARDS);
        join_range(sc, 1, GROUPS - 1);
        t0 = now_us();
        join_range(sc, GROUPS, 1);
        t[i] = now_us() - t0;
        shardctrl_free(sc);
    }
    report("Join of the 1000th group into 999", t);

    for (int i = 0; i < REPS; i++) {
        struct shardctrl *sc = shardctrl_new(SHARDS);
        t0 = now_us();
        join_range(sc, 1, GROUPS); /* includes building the command's arrays */
        t[i] = now_us() - t0;
        shardctrl_free(sc);
    }
    report("Join of 1000 groups at once into none", t);

    for (int i = 0; i < REPS; i++) {
        struct shardctrl *sc = full();
        t0 = now_us();
        leave_range(sc, 500, 1);
        t[i] = now_us() - t0;
        shardctrl_free(sc);
    }
    report("Leave of 1 group out of 1000", t);

    for (int i = 0; i < REPS; i++) {
        struct shardctrl *sc = full();
        t0 = now_us();
        leave_range(sc, 1, GROUPS / 2);
        t[i] = now_us() - t0;
        shardctrl_free(sc);
    }
    report("Leave of 500 groups out of 1000", t);

    for (int i = 0; i < REPS; i++) {
        struct shardctrl *sc = full();
        t0 = now_us();
        move_one(sc);
        t[i] = now_us() - t0;
        shardctrl_free(sc);
    }
    report("Move", t);

    /* One controller through every kind of config above, for the sizes and the encodings. */
    struct shardctrl *sc = shardctrl_new(SHARDS);
    join_range(sc, 1, GROUPS - 1); /* 1: 999 groups */
    join_range(sc, GROUPS, 1);     /* 2: 1000 */
    leave_range(sc, 500, 1);       /* 3: 999 */
    join_range(sc, 500, 1);        /* 4: 1000 */
    leave_range(sc, 1, GROUPS / 2); /* 5: 500 */
    join_range(sc, 1, GROUPS / 2); /* 6: 1000 */
    move_one(sc);                  /* 7: 1000 */
    uint8_t *buf = NULL;
    size_t reply_len = 0, snap_len = 0;
    for (int i = 0; i < REPS; i++) {
        free(buf);
        t0 = now_us();
        sc_codec_query(sc, -1, &buf, &reply_len);
        t[i] = now_us() - t0;
    }
    free(buf);
    report("Query's Reply encoding (sc_codec_query)", t);
    buf = NULL;
    for (int i = 0; i < REPS; i++) {
        free(buf);
        t0 = now_us();
        sc_codec_snapshot(sc, &buf, &snap_len);
        t[i] = now_us() - t0;
    }
    report("Snapshot encoding (8 configs)", t);
    for (int i = 0; i < REPS; i++) {
        struct shardctrl *re = shardctrl_new(SHARDS);
        t0 = now_us();
        int rc = sc_codec_restore(re, buf, snap_len);
        t[i] = now_us() - t0;
        if (rc != 0) {
            fprintf(stderr, "bench_rebalance: restore failed\n");
            return 1;
        }
        shardctrl_free(re);
    }
    report("Snapshot restore (8 configs)", t);
    free(buf);
    struct sc_stats st;
    shardctrl_stats(sc, &st);
    printf("encoded config (a Query's Reply, 1000 groups): %zu bytes\n", reply_len);
    printf("snapshot after configs 0-%" PRIu64 ": %zu bytes (the state machine's own accounting: "
           "%" PRIu64 " bytes)\n", shardctrl_latest(sc), snap_len, st.bytes);
    shardctrl_free(sc);
    return 0;
}
