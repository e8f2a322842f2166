/* Power cuts on real kvd processes (issue 19, docs/POWERCUT.md): every node runs under the
 * power-cut shim (CLUSTER_POWERCUT), and while kvtest's GenericTest load runs (5 clients, each
 * appending to its own key and reading, every operation in the lincheck history), cuts
 * come at random moments to one node, to two, and to all three at the same instant: SIGKILL,
 * then each cut node's writes that no fsync covered are lost or torn page by page
 * (POWERCUT_MIXED), then the nodes start again. The history must stay linearizable and every
 * client's acknowledged appends must all be there, in order (kvt_check_clnt_appends).
 *
 * A SIGKILL keeps the page cache; only these cuts test the fsyncs. So the planted bug: with
 * STORAGE_PLANTED_BUG=ack-before-fsync every node's save returns before its fsync (which
 * comes one write later), and cuts of all three nodes that lose every unsynced page
 * (POWERCUT_LOSE, the store stays consistent at its last sync) must leave a history the
 * checker rejects. The same scenario with kill -9 instead passes (docs/POWERCUT.md).
 *
 * Disk errors: a node whose fsync (or write) fails with EIO must stop at once with a clear log
 * line, acknowledging nothing it could not make durable, while the other two go on serving;
 * the failed fsync's pages are then lost for good (the shim never counts them synced again),
 * the node is power-cut and restarted without the fault, and it catches up. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../powercut/powercut.h"
#include "base/clock.h"
#include "base/util.h"
#include "kvtest.h"

#define CUTS_PER_ITERATION 4

struct cuts {
    enum powercut_mode mode;
    bool all_only;          /* every cut takes all three nodes (the planted-bug run) */
    int round, by_size[4];  /* cuts made, by the number of nodes cut */
    struct powercut_stats st;
};

/* A random set of `size` of the n nodes. */
static uint32_t random_set(struct rng *r, unsigned n, unsigned size)
{
    uint32_t set = 0;
    while ((unsigned)__builtin_popcount(set) < size)
        set |= 1u << (1 + rng_below(r, n));
    return set;
}

/* The client phase: CUTS_PER_ITERATION cuts, each after 300-700 ms of load, the nodes down for
 * 0-300 ms; after a cut of a majority, the next waits for a leader (the load needs one). */
static void cut_during(struct kvt *t, int iter, uint64_t client_ms, void *arg)
{
    (void)iter;
    (void)client_ms;
    struct cuts *k = arg;
    struct rng *r = cluster_rng(t->c);
    char err[512];
    for (int j = 0; j < CUTS_PER_ITERATION; j++) {
        clock_sleep_ms(300 + rng_below(r, 400));
        unsigned size = k->all_only ? t->n : 1 + (unsigned)(k->round % 3);
        uint32_t set = random_set(r, t->n, size);
        ck_assert_msg(cluster_power_cut(t->c, set, rng_next(r), k->mode, &k->st, err,
                                        sizeof err) == 0,
                      "%s", err);
        k->round++;
        k->by_size[size]++;
        clock_sleep_ms(rng_below(r, 300));
        for (unsigned i = 1; i <= t->n; i++)
            if (set >> i & 1)
                ck_assert_msg(cluster_restart_node(t->c, i) == 0,
                              "node %u did not start again after a power cut (seed %llu)", i,
                              (unsigned long long)cluster_seed(t->c));
        if (size * 2 > t->n)
            ck_assert_msg(cluster_wait_leader(t->c, CLUSTER_ALL, 15000, NULL) > 0,
                          "no leader within 15 s after a cut of %u nodes", size);
    }
}

/* The cuts must have taken something away, or the test proved nothing. */
static void cut_summary(struct kvt *t, void *arg)
{
    (void)t;
    struct cuts *k = arg;
    printf("  power cuts: %d (%d of one node, %d of two, %d of all three); %llu unsynced pages "
           "in %u files: %llu kept, %llu lost, %llu torn\n",
           k->round, k->by_size[1], k->by_size[2], k->by_size[3],
           (unsigned long long)k->st.pages, k->st.files, (unsigned long long)k->st.kept,
           (unsigned long long)k->st.lost, (unsigned long long)k->st.torn);
    fflush(stdout);
    ck_assert_msg(k->st.lost + k->st.torn > 0, "no cut took any unsynced page away");
}

static void powercut_generic(const char *name, int maxraftstate, struct cuts *k, bool randomkeys,
                             const char *planted_env)
{
    setenv("CLUSTER_POWERCUT", "1", 1);
    struct kvt_params p = { .lab = 4, .nclients = 5, .nservers = 3, .maxraftstate = maxraftstate,
                            .randomkeys = randomkeys, .during = cut_during,
                            .after = cut_summary, .during_arg = k,
                            .planted_env = planted_env };
    kvt_generic(name, &p);
}

START_TEST(PowerCutOneTwoAll)
{
    struct cuts k = { .mode = POWERCUT_MIXED };
    powercut_generic("PowerCutOneTwoAll", -1, &k, false, NULL);
}
END_TEST

/* With snapshots (max_raft_state 1000): compactions and installed snapshots are cut too. */
START_TEST(PowerCutSnapshots)
{
    struct cuts k = { .mode = POWERCUT_MIXED };
    powercut_generic("PowerCutSnapshots", 1000, &k, false, NULL);
}
END_TEST

/* Acknowledged before the fsync: cuts of every node lose what was acknowledged. (Random keys,
 * so that the loss is judged by the checker rather than stopping the test at the first
 * client's appends check.) */
START_TEST(PowerCutCatchesAckBeforeFsync)
{
    struct cuts k = { .mode = POWERCUT_LOSE, .all_only = true };
    powercut_generic("PowerCutCatchesAckBeforeFsync", -1, &k, true,
                     "STORAGE_PLANTED_BUG=ack-before-fsync");
}
END_TEST

/* ---- disk errors ---------------------------------------------------------------------------- */

/* Whether the file at path holds needle. */
static bool log_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

struct eio {
    const char *fault; /* POWERCUT_EIO=... */
    unsigned node;
    bool stopped;
};

/* Iteration 0: node `node` restarts with the fault armed and must stop by itself within 10 s
 * of load, saying why; the load goes on against the other two meanwhile (the clients' ops keep
 * completing: the iteration's appends are checked after). Iteration 1: it is power-cut (its
 * journal: the failed fsync's pages included), restarted without the fault, and catches up. */
static void eio_during(struct kvt *t, int iter, uint64_t client_ms, void *arg)
{
    struct eio *e = arg;
    char err[512];
    if (iter == 0) {
        cluster_set_node_env(t->c, e->node, e->fault);
        ck_assert_int_eq(cluster_crash_node(t->c, e->node), 0);
        ck_assert_int_eq(cluster_restart_node(t->c, e->node), 0);
        int before = cluster_unexpected_exits(t->c);
        uint64_t deadline = clock_mono_ms() + 10000;
        while (cluster_unexpected_exits(t->c) == before && clock_mono_ms() < deadline)
            clock_sleep_ms(20);
        e->stopped = !cluster_node_running(t->c, e->node);
        t->expected_exits++;
        ck_assert_msg(e->stopped, "node %u kept running with %s", e->node, e->fault);
        const char *log = cluster_node_log(t->c, e->node);
        ck_assert_msg(log_has(log, "powercut: injected EIO"), "the fault was not injected");
        ck_assert_msg(log_has(log, "fatal:") && log_has(log, "Input/output error"),
                      "node %u stopped without a log line naming the I/O error (%s)", e->node,
                      log);
        clock_sleep_ms(client_ms); /* the other two serve on */
    } else if (iter == 1) {
        cluster_set_node_env(t->c, e->node, NULL);
        ck_assert_msg(cluster_power_cut(t->c, 1u << e->node, 77, POWERCUT_MIXED, NULL, err,
                                        sizeof err) == 0,
                      "%s", err);
        ck_assert_int_eq(cluster_restart_node(t->c, e->node), 0);
        clock_sleep_ms(client_ms);
    } else {
        clock_sleep_ms(client_ms);
    }
}

static void eio_generic(const char *name, const char *fault)
{
    setenv("CLUSTER_POWERCUT", "1", 1);
    struct eio e = { .fault = fault, .node = 2 };
    struct kvt_params p = { .lab = 4, .nclients = 5, .nservers = 3, .maxraftstate = -1,
                            .during = eio_during, .during_arg = &e };
    kvt_generic(name, &p);
    ck_assert(e.stopped);
}

START_TEST(FsyncEIOStopsTheNode) { eio_generic("FsyncEIOStopsTheNode", "POWERCUT_EIO=fsync:20"); }
END_TEST

START_TEST(WriteEIOStopsTheNode) { eio_generic("WriteEIOStopsTheNode", "POWERCUT_EIO=write:40"); }
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kvd_powercut");
    TCase *t = tcase_create("powercut");
    tcase_set_timeout(t, 240);
    KVT_ADD_TEST(t, PowerCutOneTwoAll);
    KVT_ADD_TEST(t, PowerCutSnapshots);
    KVT_ADD_TEST(t, PowerCutCatchesAckBeforeFsync);
    KVT_ADD_TEST(t, FsyncEIOStopsTheNode);
    KVT_ADD_TEST(t, WriteEIOStopsTheNode);
    suite_add_tcase(s, t);
    return s;
}
