/* The randomized kv mode: kvd's state machine and service rules in the simulator (kvlab.h)
 * under random partitions, crashes, restarts, message drops, delays, duplicates (of Raft
 * messages and of client requests) and long reordering, with snapshots at a small
 * max_raft_state and, in some seeds, a slow applier (the state machine lags behind the commit
 * index). Several clerks run the lab's generic client loop on a few shared keys; after the
 * faults heal, every clerk must finish and every key is read once more. Every history is
 * checked by lincheck (anything but linearizable fails, an unknown too); the simulator checks
 * on every apply that the nodes agree, and on every ReadIndex read that its index is not stale.
 *
 * RANDOM_SEEDS sets how many seeds run (default 1,000; `make test-long` runs 10,000); SEED=n
 * replays one seed (printing its events on failure). Two planted bugs must be caught within
 * the seeds `make test` runs: a retried append applied twice (lib/kv's de-duplication
 * skipped: KV_BUG_REAPPLY_RETRY) and a read answered before the state machine has applied up to
 * its index (REPLICA_BUG_READ_BEFORE_APPLY). A run of the same seed twice must give the same
 * history. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "faults.h"
#include "kvlab.h"

#define STEPS 60
#define DEFAULT_SEEDS 1000

struct figures {
    uint64_t seeds, ops, sim_ms, crashes, partitions, snapshots, reads, logged_gets, lagging;
    uint64_t bg_seeds, bg_adopted, bg_superseded, bg_lost;
};
static struct figures fig;

struct seed_run {
    uint64_t digest, ops, end_ms;
    char failure[512];
};

/* Runs one seed; returns true when every check held (out, when not NULL, gets its figures). */
static bool run_seed(uint64_t seed, int kv_bugs, enum replica_bug rbug, bool verbose,
                     struct seed_run *out)
{
    struct rng pick;
    rng_seed(&pick, seed);
    unsigned n = 3 + (unsigned)rng_below(&pick, 3);
    int maxraftstate = rng_below(&pick, 4) == 0 ? -1 : 200 + (int)rng_below(&pick, 1200);
    uint64_t lag = rng_below(&pick, 2) ? 1 + rng_below(&pick, 20) : 0;
    int nclients = 2 + (int)rng_below(&pick, 3);
    int nkeys = 1 + (int)rng_below(&pick, 3);
    bool noop = rng_below(&pick, 4) == 0;
    bool bg = rng_below(&pick, 2) == 0;
    struct kvl_opts o = { .name = "random", .nservers = n, .maxraftstate = maxraftstate,
                          .seed = seed, .kv_bugs = kv_bugs, .replica_bug = rbug,
                          .apply_lag_ms = lag, .noop_on_elect = noop, .quiet = true,
                          .background_snapshots = bg };
    struct kvl *t = kvl_new(&o);
    struct sim *s = t->s;
    struct kvl_pool_params pp = { .nclients = nclients, .randomkeys = true, .nkeys = nkeys };
    struct kvl_pool *pool = kvl_pool_start(t, &pp);
    struct simnet_ep *eps[8];
    for (int c = 0; c < nclients; c++)
        eps[c] = kvl_ck_ep(kvl_pool_clerk(pool, c));
    struct sim_faults_stats fst = { 0 };
    for (int step = 0; step < STEPS && !kvl_failed(t); step++) {
        sim_faults_step(s, t->net, eps, (size_t)nclients, &fst);
        kvl_run_for(t, 30 + sim_rand(s, 300));
    }
    fig.partitions += fst.partitions;
    fig.crashes += fst.crashes;
    /* heal: every node up and connected, the network reliable; the clerks must finish */
    sim_faults_heal(s, t->net, eps, (size_t)nclients);
    kvl_pool_wait(pool);
    kvl_pool_free(pool);
    struct kvl_ck *ck = kvl_ck_new(t);
    for (int k = 0; k < nkeys && !kvl_failed(t); k++) {
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        free(kvl_get(ck, key));
    }
    kvl_ck_free(ck);
    /* the lab's bound on the Raft state, once everything is applied */
    uint64_t sz = kvl_max_raft_state(t);
    if (maxraftstate > 0 && !kvl_failed(t) && sz > 8 * (uint64_t)maxraftstate)
        kvl_fail(t, "logs were not trimmed (%llu > 8*%d)", (unsigned long long)sz, maxraftstate);
    char sum[256] = "";
    if (!kvl_failed(t))
        kvl_check_linearizable(t, sum, sizeof sum);
    bool ok = !kvl_failed(t);
    struct simsvc_stats st;
    simsvc_stats(simkv_svc(t->k), &st);
    fig.seeds++;
    fig.ops += t->hist.len;
    fig.sim_ms += sim_now(s);
    fig.reads += st.reads;
    fig.logged_gets += st.logged_reads;
    fig.lagging += lag > 0;
    for (unsigned i = 0; i < n; i++)
        fig.snapshots += sim_snapshots_installed_on(s, i);
    uint64_t adopted, superseded, lost;
    sim_background_snapshots(s, &adopted, &superseded, &lost);
    fig.bg_seeds += bg;
    fig.bg_adopted += adopted;
    fig.bg_superseded += superseded;
    fig.bg_lost += lost;
    if (out) {
        out->digest = kvl_history_digest(t);
        out->ops = t->hist.len;
        out->end_ms = sim_now(s);
        snprintf(out->failure, sizeof out->failure, "%s", sim_failure(s));
    }
    if (verbose || getenv("SIM_VERBOSE"))
        printf("  seed %llu: %u servers, max_raft_state %d, apply lag %llu ms, noop %d, %d clients "
               "on %d keys: %zu ops, %.1f s simulated: %s\n", (unsigned long long)seed, n,
               maxraftstate, (unsigned long long)lag, noop, nclients, nkeys, t->hist.len,
               sim_now(s) / 1000.0, ok ? sum : sim_failure(s));
    if (!ok && verbose)
        sim_dump(s);
    kvl_free(t);
    return ok;
}

static unsigned long seed_count(void)
{
    const char *env = getenv("RANDOM_SEEDS");
    return env && *env ? strtoul(env, NULL, 10) : DEFAULT_SEEDS;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* for the report only */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(random_kv)
{
    const char *one = getenv("SEED");
    if (one && *one) {
        uint64_t seed = strtoull(one, NULL, 10);
        ck_assert_msg(run_seed(seed, 0, REPLICA_BUG_NONE, true, NULL), "seed %llu failed",
                      (unsigned long long)seed);
        return;
    }
    unsigned long count = seed_count();
    fig = (struct figures){ 0 };
    double t0 = wall_s();
    for (unsigned long k = 1; k <= count; k++) {
        struct seed_run r;
        bool ok = run_seed(k, 0, REPLICA_BUG_NONE, false, &r);
        ck_assert_msg(ok, "seed %lu failed (replay: SEED=%lu): %s", k, k, r.failure);
    }
    double secs = wall_s() - t0;
    printf("sim randomized kv mode: %lu seeds passed in %.1f s (%.0f seeds/s), every history "
           "linearizable: %llu ops (%.0f per seed), %.0f s simulated; %llu partitions, %llu "
           "crashes, %llu snapshots installed, %llu ReadIndex reads, %llu Gets through the log, "
           "%llu seeds with a slow applier\n",
           count, secs, (double)count / secs, (unsigned long long)fig.ops,
           (double)fig.ops / (double)count, fig.sim_ms / 1000.0,
           (unsigned long long)fig.partitions, (unsigned long long)fig.crashes,
           (unsigned long long)fig.snapshots, (unsigned long long)fig.reads,
           (unsigned long long)fig.logged_gets, (unsigned long long)fig.lagging);
    printf("  snapshots in the background in %llu seeds: %llu adopted, %llu superseded by a "
           "received one, %llu lost to a crash\n", (unsigned long long)fig.bg_seeds,
           (unsigned long long)fig.bg_adopted, (unsigned long long)fig.bg_superseded,
           (unsigned long long)fig.bg_lost);
    fflush(stdout);
    /* the faults and paths the mode is for did happen */
    ck_assert_uint_gt(fig.snapshots, 0);
    ck_assert_uint_gt(fig.reads, 0);
    ck_assert_uint_gt(fig.logged_gets, 0);
    ck_assert_uint_gt(fig.bg_adopted, 0);
    ck_assert_uint_gt(fig.bg_lost, 0);
}
END_TEST

/* A planted bug must make some seed among those `make test` runs fail. */
static void expect_caught(int kv_bugs, enum replica_bug rbug, const char *name)
{
    unsigned long limit = seed_count();
    double t0 = wall_s();
    for (unsigned long k = 1; k <= limit; k++) {
        struct seed_run r;
        if (!run_seed(k, kv_bugs, rbug, false, &r)) {
            char first[sizeof r.failure];
            snprintf(first, sizeof first, "%s", r.failure);
            char *nl = strchr(first, '\n');
            if (nl)
                *nl = '\0';
            printf("sim planted bug caught: %s, at seed %lu of %lu (%.2f s): %s\n", name, k,
                   limit, wall_s() - t0, first);
            fflush(stdout);
            ck_assert_msg(run_seed(k, 0, REPLICA_BUG_NONE, false, NULL),
                          "seed %lu fails without the bug too", k);
            return;
        }
    }
    ck_abort_msg("planted bug %s went unnoticed for %lu seeds", name, limit);
}

START_TEST(planted_reapplied_retry_is_caught)
{
    expect_caught(KV_BUG_REAPPLY_RETRY, REPLICA_BUG_NONE, "a retried append applied twice");
}
END_TEST

START_TEST(planted_read_before_apply_is_caught)
{
    expect_caught(KV_BUG_NONE, REPLICA_BUG_READ_BEFORE_APPLY,
                  "a read answered before the state machine applied up to its index");
}
END_TEST

/* Determinism: the same seed gives the same run (history, operations, simulated time). */
START_TEST(same_seed_same_run)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct seed_run a, b;
        ck_assert(run_seed(seed, 0, REPLICA_BUG_NONE, false, &a));
        ck_assert(run_seed(seed, 0, REPLICA_BUG_NONE, false, &b));
        ck_assert_msg(a.digest == b.digest && a.ops == b.ops && a.end_ms == b.end_ms,
                      "seed %llu: two runs differ (digest %016llx vs %016llx, %llu vs %llu ops)",
                      (unsigned long long)seed, (unsigned long long)a.digest,
                      (unsigned long long)b.digest, (unsigned long long)a.ops,
                      (unsigned long long)b.ops);
    }
    struct seed_run a, c;
    run_seed(1, 0, REPLICA_BUG_NONE, false, &a);
    run_seed(2, 0, REPLICA_BUG_NONE, false, &c);
    ck_assert_msg(a.digest != c.digest, "two seeds gave the same history");
    printf("sim replay: 20 seeds run twice, the same history digest each time\n");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("sim_kv_random");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, same_seed_same_run);
    tcase_add_test(tc, random_kv);
    tcase_add_test(tc, planted_reapplied_retry_is_caught);
    tcase_add_test(tc, planted_read_before_apply_is_caught);
    suite_add_tcase(s, tc);
    return s;
}
