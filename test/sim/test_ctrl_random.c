/* The randomized shard controller mode: lib/shardctrl through its codec on every simulated
 * node (simctrl), lib/clerk's controller clerks (ctrl_clerk_new_on on the simulator's
 * transport) issuing random Joins (1-3 groups at once, gids from a small pool, so groups leave
 * and join again; random server names), Leaves, Moves and Queries (of -1 and of a number),
 * under the randomized kv mode's faults (faults.h: partitions, crashes, restarts, message
 * loss, delays, duplicates of Raft messages and of client requests, long reordering, clerks
 * cut from some servers), with snapshots at a small max_raft_state in most seeds and a slow
 * applier in some. After the faults heal every clerk must finish, and a last clerk queries
 * every config from 0 to the latest. The history is judged by ctrlcheck (configs immutable,
 * each made by exactly one accepted write, each what its write makes of the one before and
 * balanced, Query(-1) linearizable); simctrl compares the replicas' whole state at every
 * applied index; the simulator checks that the logs agree and that no ReadIndex read is stale.
 *
 * RANDOM_SEEDS sets how many seeds run (default 1,000; `make test-long` runs 10,000); SEED=n
 * replays one seed (printing its events and its operations on failure). Two planted bugs must
 * be caught within the seeds `make test` runs: writes applied without their session (a retry
 * makes a second config) and Queries answered by any node from its own state without
 * ReadIndex. A run of the same seed twice must give the same history. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "clerk/ctrl.h"
#include "ctrlcheck.h"
#include "faults.h"
#include "sim.h"
#include "simctrl.h"
#include "simnet.h"
#include "simtransport.h"

#define STEPS 60
#define DEFAULT_SEEDS 1000
#define MAX_CLERKS 6
#define GIDS 7              /* the gid pool: 1..GIDS */
#define THINK_MS 40         /* a clerk waits 0..THINK_MS between operations */
#define ATTEMPT_MS 500
#define FINISH_MS 120000    /* after the heal, every clerk must finish within this */

struct figures {
    uint64_t seeds, ops, writes, refused, configs, latest_queries, sim_ms, crashes, partitions,
        snapshots, reads, logged_reads, states_compared;
};
static struct figures fig;

struct seed_run {
    uint64_t digest, ops, end_ms;
    char failure[512];
};

struct run;

struct clerk {
    struct run *r;
    int id;
    struct simtransport *tp;
    struct ctrl_clerk *ck;
    struct rng rng;
    bool busy, halted;
    size_t op;
    uint64_t timer;
};

struct run {
    struct sim *s;
    struct simnet *net;
    struct simctrl *ctrl;
    struct ctrlcheck *h;
    uint32_t n_shards;
    size_t n_clerks;
    struct clerk clerks[MAX_CLERKS + 1]; /* the last: the final queries' */
    size_t finished;
};

static void clerk_init(struct run *r, struct clerk *c, int id, size_t n)
{
    *c = (struct clerk){ .r = r, .id = id };
    c->tp = simtransport_new(r->net, n);
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = 0; /* retry forever: every write ends accepted or refused, none unknown */
    o.attempt_ms = ATTEMPT_MS;
    o.seed = (sim_rand(r->s, UINT64_MAX) << 1) | 1;
    rng_seed(&c->rng, o.seed);
    struct clerk_transport t = simtransport_get(c->tp);
    c->ck = ctrl_clerk_new_on(&t, &o);
}

static void clerk_fini(struct clerk *c)
{
    if (c->timer)
        simnet_timer_cancel(c->r->net, c->timer);
    ctrl_clerk_free(c->ck); /* cancels its call in flight and its timer */
    simtransport_free(c->tp);
}

static void on_done(enum clerk_result res, uint64_t num, const struct sc_config *config,
                    void *arg)
{
    struct clerk *c = arg;
    struct run *r = c->r;
    char err[512];
    c->busy = false;
    if (!ctrlcheck_return(r->h, c->op, res, num, config, err, sizeof err) && !sim_failed(r->s))
        sim_fail(r->s, "%s", err);
    sim_stop(r->s);
}

/* ---- random operations ----------------------------------------------------------------------- */

/* A gid of the pool, present in the latest known config (want_present) when one is. */
static uint32_t pick_gid(struct clerk *c, bool want_present)
{
    const struct sc_config *cfg = ctrlcheck_latest(c->r->h);
    uint32_t cand[GIDS];
    size_t n = 0;
    for (uint32_t g = 1; g <= GIDS; g++)
        if (!cfg || (sc_config_group(cfg, g) != NULL) == want_present)
            cand[n++] = g;
    if (!n || rng_below(&c->rng, 8) == 0) /* sometimes any: a refusal, or a race, is fine */
        return 1 + (uint32_t)rng_below(&c->rng, GIDS);
    return cand[rng_below(&c->rng, n)];
}

static void issue(struct clerk *c)
{
    struct run *r = c->r;
    uint64_t a = rng_below(&c->rng, 100);
    struct sc_cmd cmd = { 0 };
    struct sc_join_group groups[3];
    char names[3][3][24];
    const char *servers[3][3];
    uint32_t gids[2];
    if (a < 25) {
        cmd.op = SC_OP_JOIN;
        cmd.n_groups = 1 + rng_below(&c->rng, 3);
        for (size_t g = 0; g < cmd.n_groups; g++) {
            uint32_t gid = pick_gid(c, false);
            for (size_t k = 0; k < g; k++)
                if (groups[k].gid == gid)
                    gid = 1 + (gid % GIDS); /* distinct within the call (mostly) */
            size_t ns = 1 + rng_below(&c->rng, 3);
            for (size_t s = 0; s < ns; s++) {
                snprintf(names[g][s], sizeof names[g][s], "g%u-%llx", gid,
                         (unsigned long long)rng_below(&c->rng, 1u << 20));
                servers[g][s] = names[g][s];
            }
            groups[g] = (struct sc_join_group){ gid, servers[g], ns };
        }
        cmd.groups = groups;
    } else if (a < 45) {
        cmd.op = SC_OP_LEAVE;
        cmd.n_gids = 1 + rng_below(&c->rng, 2);
        gids[0] = pick_gid(c, true);
        gids[1] = pick_gid(c, true);
        if (cmd.n_gids == 2 && gids[1] == gids[0])
            cmd.n_gids = 1;
        cmd.gids = gids;
    } else if (a < 60) {
        cmd.op = SC_OP_MOVE;
        cmd.shard = (uint32_t)rng_below(&c->rng, r->n_shards);
        cmd.gid = pick_gid(c, true);
    } else {
        cmd.op = SC_OP_QUERY;
        cmd.num = a < 82 ? -1
                         : (int64_t)rng_below(&c->rng, ctrlcheck_latest_num(r->h) + 3);
    }
    c->op = ctrlcheck_call(r->h, c->id, &cmd);
    c->busy = true;
    switch (cmd.op) {
    case SC_OP_JOIN:
        ctrl_clerk_join(c->ck, cmd.groups, cmd.n_groups, on_done, c);
        break;
    case SC_OP_LEAVE:
        ctrl_clerk_leave(c->ck, cmd.gids, cmd.n_gids, on_done, c);
        break;
    case SC_OP_MOVE:
        ctrl_clerk_move(c->ck, cmd.shard, cmd.gid, on_done, c);
        break;
    default:
        ctrl_clerk_query(c->ck, cmd.num, on_done, c);
    }
}

/* A clerk's loop: think, issue, and again once the operation returned (polled each tick of
 * its timer, so on_done stays a plain recorder). */
static void clerk_tick(void *arg)
{
    struct clerk *c = arg;
    c->timer = 0;
    if (c->busy) {
        c->timer = simnet_timer(c->r->net, 1, clerk_tick, c);
        return;
    }
    if (c->halted || sim_failed(c->r->s)) {
        c->r->finished++;
        sim_stop(c->r->s); /* run_until checks whether all finished */
        return;
    }
    issue(c);
    c->timer = simnet_timer(c->r->net, 1 + rng_below(&c->rng, THINK_MS), clerk_tick, c);
}

/* Runs the simulation until cond(r, arg) or ms pass (or the run failed). */
static bool run_until(struct run *r, bool (*cond)(struct run *, void *), void *arg, uint64_t ms)
{
    uint64_t end = sim_now(r->s) + ms;
    while (!cond(r, arg) && !sim_failed(r->s) && sim_now(r->s) < end)
        sim_run_for(r->s, end - sim_now(r->s));
    return cond(r, arg);
}

static bool all_finished(struct run *r, void *arg)
{
    (void)arg;
    return r->finished == r->n_clerks;
}

static bool not_busy(struct run *r, void *arg)
{
    (void)r;
    return !((struct clerk *)arg)->busy;
}

/* The last clerk's blocking Query(num). */
static void final_query(struct run *r, struct clerk *c, int64_t num)
{
    if (sim_failed(r->s))
        return;
    struct sc_cmd cmd = { .op = SC_OP_QUERY, .num = num };
    c->op = ctrlcheck_call(r->h, c->id, &cmd);
    c->busy = true;
    ctrl_clerk_query(c->ck, num, on_done, c);
    if (!run_until(r, not_busy, c, FINISH_MS))
        sim_fail(r->s, "the final Query(%lld) did not complete", (long long)num);
}

/* ---- one seed -------------------------------------------------------------------------------- */

static bool run_seed(uint64_t seed, int bugs, bool verbose, struct seed_run *out)
{
    struct rng pick;
    rng_seed(&pick, seed);
    size_t n = rng_below(&pick, 2) ? 5 : 3;
    uint64_t max_raft_state = rng_below(&pick, 4) == 0 ? 0 : 300 + rng_below(&pick, 2000);
    uint64_t lag = rng_below(&pick, 3) == 0 ? 1 + rng_below(&pick, 20) : 0;
    size_t nclerks = 3 + rng_below(&pick, 4);
    static const uint32_t shard_counts[] = { 10, 10, 10, 3, 16 };
    uint32_t n_shards = shard_counts[rng_below(&pick, 5)];
    bool noop = rng_below(&pick, 4) == 0;

    struct run *r = xcalloc(1, sizeof *r);
    r->n_shards = n_shards;
    r->n_clerks = nclerks;
    r->ctrl = simctrl_new(n_shards, bugs);
    r->h = ctrlcheck_new(n_shards);
    struct sim_opts so = { .n = n, .seed = seed, .machine = simsvc_machine(),
                           .machine_arg = simctrl_svc(r->ctrl), .max_raft_state = max_raft_state,
                           .apply_lag_ms = lag, .noop_on_elect = noop };
    r->s = sim_new(&so);
    struct sim *s = r->s;
    r->net = simnet_new(s);
    simctrl_attach(r->ctrl, s, r->net);

    struct simnet_ep *eps[MAX_CLERKS];
    for (size_t c = 0; c < nclerks; c++) {
        clerk_init(r, &r->clerks[c], (int)c, n);
        eps[c] = simtransport_ep(r->clerks[c].tp);
        r->clerks[c].timer = simnet_timer(r->net, 1 + sim_rand(s, THINK_MS), clerk_tick,
                                          &r->clerks[c]);
    }
    struct sim_faults_stats fst = { 0 };
    for (int step = 0; step < STEPS && !sim_failed(s); step++) {
        sim_faults_step(s, r->net, eps, nclerks, &fst);
        uint64_t end = sim_now(s) + 30 + sim_rand(s, 300);
        while (!sim_failed(s) && sim_now(s) < end)
            sim_run_for(s, end - sim_now(s));
    }
    /* heal; every clerk must finish its operation, then a last one reads every config */
    sim_faults_heal(s, r->net, eps, nclerks);
    for (size_t c = 0; c < nclerks; c++)
        r->clerks[c].halted = true;
    if (!run_until(r, all_finished, NULL, FINISH_MS) && !sim_failed(s))
        sim_fail(s, "%zu of %zu clerks did not finish within %d ms of the heal",
                 nclerks - r->finished, nclerks, FINISH_MS);
    struct clerk *last = &r->clerks[nclerks];
    clerk_init(r, last, (int)nclerks, n);
    final_query(r, last, -1);
    uint64_t latest = ctrlcheck_latest_num(r->h);
    for (uint64_t k = 0; k <= latest && !sim_failed(s); k++)
        final_query(r, last, (int64_t)k);
    /* the lab's bound on the Raft state, once everything is applied */
    uint64_t sz = 0;
    for (size_t i = 0; i < n; i++)
        sz = MAX(sz, (uint64_t)sim_raft_state_size(s, i));
    if (max_raft_state && !sim_failed(s) && sz > 8 * max_raft_state)
        sim_fail(s, "logs were not trimmed (%llu > 8*%llu)", (unsigned long long)sz,
                 (unsigned long long)max_raft_state);
    char err[1024];
    if (!sim_failed(s) && !ctrlcheck_finish(r->h, err, sizeof err))
        sim_fail(s, "%s", err);
    bool ok = !sim_failed(s);

    struct ctrlcheck_stats hs;
    ctrlcheck_stats(r->h, &hs);
    struct simsvc_stats st;
    simsvc_stats(simctrl_svc(r->ctrl), &st);
    fig.seeds++;
    fig.ops += hs.ops;
    fig.writes += hs.writes;
    fig.refused += hs.refused;
    fig.configs += latest;
    fig.latest_queries += hs.latest_queries;
    fig.sim_ms += sim_now(s);
    fig.crashes += fst.crashes;
    fig.partitions += fst.partitions;
    fig.reads += st.reads;
    fig.logged_reads += st.logged_reads;
    fig.states_compared += simctrl_states_compared(r->ctrl);
    for (size_t i = 0; i < n; i++)
        fig.snapshots += sim_snapshots_installed_on(s, i);
    if (out) {
        out->digest = ctrlcheck_digest(r->h);
        out->ops = hs.ops;
        out->end_ms = sim_now(s);
        snprintf(out->failure, sizeof out->failure, "%s", sim_failure(s));
    }
    if (verbose || getenv("SIM_VERBOSE"))
        printf("  seed %llu: %zu servers, %u shards, max_raft_state %llu, apply lag %llu ms, "
               "noop %d, %zu clerks: %llu ops (%llu writes, %llu refused), %llu configs, "
               "%.1f s simulated: %s\n", (unsigned long long)seed, n, n_shards,
               (unsigned long long)max_raft_state, (unsigned long long)lag, noop, nclerks,
               (unsigned long long)hs.ops, (unsigned long long)hs.writes,
               (unsigned long long)hs.refused, (unsigned long long)latest, sim_now(s) / 1000.0,
               ok ? "ok" : sim_failure(s));
    fflush(stdout);
    if (!ok && verbose) {
        sim_dump(s);
        fprintf(stderr, "operations ([call..return] on the history's logical clock):\n");
        ctrlcheck_print(r->h, stderr);
    }
    for (size_t c = 0; c <= nclerks; c++)
        clerk_fini(&r->clerks[c]);
    sim_free(s);
    simnet_free(r->net);
    simctrl_free(r->ctrl);
    ctrlcheck_free(r->h);
    free(r);
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

START_TEST(random_ctrl)
{
    const char *one = getenv("SEED");
    if (one && *one) {
        uint64_t seed = strtoull(one, NULL, 10);
        int bugs = getenv("SIMCTRL_BUGS") ? atoi(getenv("SIMCTRL_BUGS")) : 0;
        ck_assert_msg(run_seed(seed, bugs, true, NULL), "seed %llu failed",
                      (unsigned long long)seed);
        return;
    }
    unsigned long count = seed_count();
    fig = (struct figures){ 0 };
    double t0 = wall_s();
    for (unsigned long k = 1; k <= count; k++) {
        struct seed_run r;
        bool ok = run_seed(k, 0, false, &r);
        ck_assert_msg(ok, "seed %lu failed (replay: SEED=%lu): %s", k, k, r.failure);
    }
    double secs = wall_s() - t0;
    printf("sim randomized controller mode: %lu seeds passed in %.1f s (%.0f seeds/s), every "
           "history judged: %llu ops (%.0f per seed), %llu writes (%llu refused), %llu configs, "
           "%llu latest reads, %.0f s simulated; %llu partitions, %llu crashes, %llu snapshots "
           "installed, %llu ReadIndex reads, %llu Queries through the log, %llu indexes whose "
           "states were compared across replicas\n",
           count, secs, (double)count / secs, (unsigned long long)fig.ops,
           (double)fig.ops / (double)count, (unsigned long long)fig.writes,
           (unsigned long long)fig.refused, (unsigned long long)fig.configs,
           (unsigned long long)fig.latest_queries, fig.sim_ms / 1000.0,
           (unsigned long long)fig.partitions, (unsigned long long)fig.crashes,
           (unsigned long long)fig.snapshots, (unsigned long long)fig.reads,
           (unsigned long long)fig.logged_reads, (unsigned long long)fig.states_compared);
    fflush(stdout);
    /* the faults and paths the mode is for did happen */
    ck_assert_uint_gt(fig.snapshots, 0);
    ck_assert_uint_gt(fig.reads, 0);
    ck_assert_uint_gt(fig.logged_reads, 0);
    ck_assert_uint_gt(fig.refused, 0);
    ck_assert_uint_gt(fig.states_compared, 0);
}
END_TEST

/* A planted bug must make some seed among those `make test` runs fail. */
static void expect_caught(int bugs, const char *name)
{
    unsigned long limit = seed_count();
    double t0 = wall_s();
    for (unsigned long k = 1; k <= limit; k++) {
        struct seed_run r;
        if (!run_seed(k, bugs, false, &r)) {
            char first[sizeof r.failure];
            snprintf(first, sizeof first, "%s", r.failure);
            char *nl = strchr(first, '\n');
            if (nl)
                *nl = '\0';
            printf("sim planted bug caught: %s, at seed %lu of %lu (%.2f s; replay: SEED=%lu "
                   "SIMCTRL_BUGS=%d): %s\n", name, k, limit, wall_s() - t0, k, bugs, first);
            fflush(stdout);
            ck_assert_msg(run_seed(k, 0, false, NULL), "seed %lu fails without the bug too", k);
            return;
        }
    }
    ck_abort_msg("planted bug %s went unnoticed for %lu seeds", name, limit);
}

START_TEST(planted_no_dedup_is_caught)
{
    expect_caught(SIMCTRL_BUG_NO_DEDUP, "writes applied without their session");
}
END_TEST

START_TEST(planted_stale_query_is_caught)
{
    expect_caught(SIMCTRL_BUG_STALE_QUERY, "Queries answered from any node's state");
}
END_TEST

/* Determinism: the same seed gives the same run (history, operations, simulated time). */
START_TEST(same_seed_same_run)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct seed_run a, b;
        ck_assert_msg(run_seed(seed, 0, false, &a), "seed %llu: %s", (unsigned long long)seed,
                      a.failure);
        ck_assert(run_seed(seed, 0, false, &b));
        ck_assert_msg(a.digest == b.digest && a.ops == b.ops && a.end_ms == b.end_ms,
                      "seed %llu: two runs differ (digest %016llx vs %016llx, %llu vs %llu ops)",
                      (unsigned long long)seed, (unsigned long long)a.digest,
                      (unsigned long long)b.digest, (unsigned long long)a.ops,
                      (unsigned long long)b.ops);
    }
    struct seed_run a, c;
    run_seed(1, 0, false, &a);
    run_seed(2, 0, false, &c);
    ck_assert_msg(a.digest != c.digest, "two seeds gave the same history");
    printf("sim replay: 20 controller seeds run twice, the same history digest each time\n");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("sim_ctrl_random");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, same_seed_same_run);
    tcase_add_test(tc, random_ctrl);
    tcase_add_test(tc, planted_no_dedup_is_caught);
    tcase_add_test(tc, planted_stale_query_is_caught);
    suite_add_tcase(s, tc);
    return s;
}
