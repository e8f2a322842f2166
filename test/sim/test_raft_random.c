/* Randomized safety mode: many seeds, 3-7 nodes, random partitions, crashes and restarts,
 * drops, delays, long reordering, duplicates, proposals and snapshots. After every event the
 * Raft safety properties of raftcheck.h are checked (election safety, leader append-only, log
 * matching, leader completeness; state machine safety is the simulator's applier's check).
 * After the faults heal, a new proposal must commit within 10 simulated seconds (liveness).
 * With lost stores on, some restarts lose the node's whole store first (a lost disk), at most a
 * minority of members at a time (a node counts as damaged until its log holds an entry of a
 * term above every term known when it lost its store); done right (recovery mode, the node
 * replaces the lost member) every check holds, done wrong (it restarts as a new node: the
 * planted bug) the checks catch it.
 * A failure prints the seed and the last events; SEED=n replays that seed alone.
 * RANDOM_SEEDS sets how many seeds run (default 2,000; `make test-long` runs 10,000). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "harness.h"
#include "raftcheck.h"
#include "sim.h"

#define STEPS 200

struct checker {
    struct raftcheck rc;                /* first: the observer's argument */
    uint64_t wipe_term[SIM_MAX_NODES];  /* lost-store mode: damaged until its log reaches this */
};

enum lost_stores { LOST_NONE, LOST_RECOVER, LOST_AS_NEW };

static uint64_t last_term_of(const struct raft *r)
{
    uint64_t t = 0;
    raft_term_at(r, raft_last_index(r), &t);
    return t;
}

/* Lost stores are a fault like any other, within Raft's fault model: at most a minority of
 * members may be damaged at a time (losing a majority of copies loses committed data, which no
 * protocol can prevent). */
static size_t damaged(struct sim *s, struct checker *c)
{
    size_t count = 0;
    for (size_t i = 0; i < sim_n(s); i++) {
        const struct raft *r = sim_raft(s, i);
        if (c->wipe_term[i] && r && last_term_of(r) >= c->wipe_term[i])
            c->wipe_term[i] = 0;
        count += c->wipe_term[i] != 0;
    }
    return count;
}

static void heal(struct sim *s)
{
    sim_set_unreliable(s, false);
    sim_set_long_reordering(s, false);
    sim_set_duplicates(s, false);
    for (size_t i = 0; i < sim_n(s); i++) {
        if (!sim_is_alive(s, i))
            sim_restart(s, i);
        sim_connect(s, i);
    }
}

static uint64_t reads_confirmed; /* over all seeds run */
static uint64_t recoveries;      /* stores lost, over all seeds run */

/* Runs one seed; returns true when every check held. On failure prints the seed and events. */
static bool run_seed(uint64_t seed, int planted_bug, enum lost_stores lost, bool quiet)
{
    struct rng pick;
    rng_seed(&pick, seed);
    struct sim_opts o = { .n = 3 + rng_below(&pick, 5), .seed = seed,
                          .snapshots = rng_below(&pick, 2) == 1, .planted_bug = planted_bug,
                          .noop_on_elect = rng_below(&pick, 4) == 0,
                          .no_check_quorum = rng_below(&pick, 4) == 0 };
    struct sim *s = sim_new(&o);
    struct checker *c = xcalloc(1, sizeof *c);
    sim_set_observer(s, raftcheck_observe, c);
    size_t n = o.n;
    uint64_t next_cmd = 1;
    for (int step = 0; step < STEPS && !sim_failed(s); step++) {
        uint64_t a = sim_rand(s, 100);
        int leader = -1;
        if (a < 35) {
            /* Start commands on every live node, as Figure 8 does; remember who took them. */
            size_t k = 1 + sim_rand(s, 4);
            for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; j < k; j++) {
                    struct cmd cm = cmd_int(next_cmd++);
                    uint64_t index, term;
                    if (sim_start(s, i, cm.b, 8, &index, &term))
                        leader = (int)i;
                }
            }
        } else if (a < 45) {
            int group[SIM_MAX_NODES];
            int groups = 2 + (int)sim_rand(s, 2);
            for (size_t i = 0; i < n; i++)
                group[i] = (int)sim_rand(s, (uint64_t)groups);
            sim_partition(s, group);
        } else if (a < 55) {
            for (size_t i = 0; i < n; i++)
                sim_connect(s, i);
        } else if (a < 62) {
            sim_crash(s, sim_rand(s, n));
        } else if (a < 80) {
            size_t i = sim_rand(s, n);
            if (lost != LOST_NONE && !sim_is_alive(s, i) && sim_rand(s, 3) == 0 &&
                damaged(s, c) < (n - 1) / 2) {
                c->wipe_term[i] = c->rc.max_term + 1;
                recoveries++;
                sim_restart_empty(s, i, lost == LOST_RECOVER);
            } else if (!sim_is_alive(s, i)) {
                sim_restart(s, i);
            }
        } else if (a < 85) {
            sim_set_unreliable(s, sim_rand(s, 2));
        } else if (a < 88) {
            sim_set_duplicates(s, sim_rand(s, 2));
        } else if (a < 90) {
            sim_set_long_reordering(s, sim_rand(s, 2));
        } else if (a < 93) {
            /* Cut a leader off long enough for the others to elect a new one (it may linger as
             * a stale leader: reads and proposals keep coming to it). */
            for (size_t i = 0; i < n; i++) {
                uint64_t term;
                if (sim_get_state(s, i, &term)) {
                    sim_disconnect(s, i);
                    sim_run_for(s, 300 + sim_rand(s, 500));
                    break;
                }
            }
        }
        /* ReadIndex reads on every node: only leaders take them, stale ones included. */
        if (sim_rand(s, 2) == 0)
            for (size_t i = 0; i < n; i++)
                sim_read(s, i);
        /* Mostly short pauses (a leader often dies before its entries spread), sometimes long. */
        sim_run_for(s, sim_rand(s, 10) == 0 ? 1 + sim_rand(s, 500) : 1 + sim_rand(s, 13));
        if (leader >= 0 && sim_rand(s, 2) == 0)
            sim_crash(s, (size_t)leader);
    }
    /* Liveness: once everything heals, a new command commits everywhere within 10 s. */
    if (!sim_failed(s)) {
        heal(s);
        sim_run_for(s, 2000);
        h_one_int(s, 1u << 31, n, true);
        raftcheck_log_matching(s);
        /* and a replaced store has finished its recovery: it votes again */
        sim_run_for(s, 1000);
        for (size_t i = 0; i < n && !sim_failed(s); i++)
            if (raft_recovering(sim_raft(s, i)))
                sim_fail(s, "node %zu still recovering 1 s after the cluster healed", i);
    }
    reads_confirmed += sim_reads_confirmed(s);
    bool ok = !sim_failed(s);
    if (!ok && !quiet)
        sim_dump(s);
    if (getenv("SIM_VERBOSE"))
        printf("  seed %llu: %zu nodes, %.1f s simulated, %llu entries applied, %llu events, %llu RPCs\n",
               (unsigned long long)seed, n, sim_now(s) / 1000.0,
               (unsigned long long)sim_max_index(s), (unsigned long long)c->rc.events,
               (unsigned long long)sim_rpc_total(s));
    free(c);
    sim_free(s);
    return ok;
}

START_TEST(random_safety)
{
    const char *one = getenv("SEED");
    if (one) {
        uint64_t seed = strtoull(one, NULL, 10);
        ck_assert_msg(run_seed(seed, 0, LOST_NONE, false) && run_seed(seed, 0, LOST_RECOVER, false),
                      "seed %llu failed", (unsigned long long)seed);
        return;
    }
    unsigned long count = raftcheck_seeds();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long k = 1; k <= count; k++)
        ck_assert_msg(run_seed(k, 0, LOST_NONE, false), "seed %lu failed (replay: SEED=%lu)", k, k);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("  randomized mode: %lu seeds passed in %.2f s (%.0f seeds/s), %llu reads confirmed\n",
           count, secs, (double)count / secs, (unsigned long long)reads_confirmed);
    ck_assert_uint_gt(reads_confirmed, count); /* the read checks did run */
}
END_TEST

/* Lost stores replaced by nodes in recovery mode: every check holds on every seed. */
START_TEST(random_safety_lost_stores)
{
    unsigned long count = raftcheck_seeds();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t before = recoveries;
    for (unsigned long k = 1; k <= count; k++)
        ck_assert_msg(run_seed(k, 0, LOST_RECOVER, false),
                      "seed %lu failed with lost stores (replay: SEED=%lu)", k, k);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("  randomized mode with lost stores: %lu seeds passed in %.2f s, %llu stores lost "
           "and replaced\n", count, secs, (unsigned long long)(recoveries - before));
    ck_assert_uint_gt(recoveries - before, count / 4); /* the lost stores did happen */
}
END_TEST

/* The checks can fail: with a planted bug, some seed must report a violation. */
static void expect_violation_lost(int bug, enum lost_stores lost, const char *name)
{
    unsigned long limit = 2000;
    for (unsigned long k = 1; k <= limit; k++) {
        if (!run_seed(k, bug, lost, true)) {
            printf("  planted bug %s caught at seed %lu\n", name, k);
            return;
        }
    }
    ck_abort_msg("planted bug %s went unnoticed for %lu seeds", name, limit);
}

static void expect_violation(int bug, const char *name)
{
    expect_violation_lost(bug, LOST_NONE, name);
}

START_TEST(planted_restart_as_new_is_caught)
{
    expect_violation_lost(0, LOST_AS_NEW, "a node that lost its store restarts as a new one");
}
END_TEST

START_TEST(planted_double_vote_is_caught)
{
    expect_violation(RAFT_BUG_DOUBLE_VOTE, "double vote");
}
END_TEST

START_TEST(planted_read_without_quorum_is_caught)
{
    expect_violation(RAFT_BUG_READ_WITHOUT_QUORUM, "a read confirmed without a quorum");
}
END_TEST

START_TEST(planted_old_term_commit_is_caught)
{
    expect_violation(RAFT_BUG_COMMIT_OLD_TERM, "commit of an old-term entry by counting replicas");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("raft_random");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, random_safety);
    tcase_add_test(tc, random_safety_lost_stores);
    tcase_add_test(tc, planted_restart_as_new_is_caught);
    tcase_add_test(tc, planted_double_vote_is_caught);
    tcase_add_test(tc, planted_old_term_commit_is_caught);
    tcase_add_test(tc, planted_read_without_quorum_is_caught);
    suite_add_tcase(s, tc);
    return s;
}
