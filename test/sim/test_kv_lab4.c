/* 6.5840 Lab 4 (kvraft), 4A and 4B, in the deterministic simulator: kvd's state machine (the
 * real lib/kv through kvd's adapter) and service rules on the replica layer, simulated clerks
 * with lib/clerk's rules, at the lab's durations (5 s client phases, 3 iterations). The names,
 * parameters and assertions are those of test/kv/test_kvraft_lab4.c (the same scenarios on
 * real kvd processes). Every history is checked by lincheck; anything but "linearizable" (an
 * unknown too) fails. Each scenario has its own seed (printed); SEED=n replays one with that
 * seed (with KV_TEST_ONLY=Name to run just that one). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../kv/labcheck.h"
#include "kvlab.h"

#define BIT(i) (1u << (i))
#define CLIENT_MS 5000 /* the lab's client phase */

/* The scenario's seed: SEED, else one drawn from its name. */
static uint64_t scenario_seed(const char *name)
{
    const char *env = getenv("SEED");
    if (env && *env)
        return strtoull(env, NULL, 10);
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h % 1000000 + 1;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* for the report only: nothing simulated reads it */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct lab {
    struct kvl *t;
    const char *name;
    double t0;
};

static struct lab lab_new(const char *name, unsigned nservers, bool unreliable, int maxraftstate)
{
    struct kvl_opts o = { .name = name, .nservers = nservers, .unreliable = unreliable,
                          .maxraftstate = maxraftstate, .seed = scenario_seed(name) };
    printf("Test: %s (%u servers%s%s), in the simulator, seed %llu\n", name, nservers,
           unreliable ? ", unreliable" : "", maxraftstate > 0 ? ", max_raft_state set" : "",
           (unsigned long long)o.seed);
    fflush(stdout);
    return (struct lab){ kvl_new(&o), name, wall_s() };
}

/* Checks the history, prints the scenario's line, fails the test on any failure. */
static void lab_end(struct lab *l, const char *what)
{
    struct kvl *t = l->t;
    char sum[256] = "";
    if (!kvl_failed(t))
        kvl_check_linearizable(t, sum, sizeof sum);
    bool ok = !kvl_failed(t);
    if (!ok)
        sim_dump(t->s);
    printf("sim %s (seed %llu): %s, %zu ops, history %s; %.1f s simulated in %.2f s ... %s\n",
           l->name, (unsigned long long)t->o.seed, what, t->hist.len,
           ok ? sum : "not checked", sim_now(t->s) / 1000.0, wall_s() - l->t0,
           ok ? "passed" : "FAILED");
    fflush(stdout);
    char failure[2048];
    snprintf(failure, sizeof failure, "%s", sim_failure(t->s));
    kvl_free(t);
    ck_assert_msg(ok, "%s (replay: SEED=%llu KV_TEST_ONLY=%s)", failure,
                  (unsigned long long)scenario_seed(l->name), l->name);
}

static void generic(const char *name, int nclients, int nservers, bool unreliable, bool crash,
                    bool partitions, int maxraftstate, bool randomkeys)
{
    struct lab l = lab_new(name, (unsigned)nservers, unreliable, maxraftstate);
    struct kvl_params p = { .nclients = nclients, .nservers = nservers, .unreliable = unreliable,
                            .crash = crash, .partitions = partitions, .randomkeys = randomkeys,
                            .maxraftstate = maxraftstate, .client_ms = CLIENT_MS,
                            .iterations = 3 };
    struct kvl_result res;
    kvl_generic(l.t, &p, &res);
    char what[128];
    snprintf(what, sizeof what, "3 iterations, %d clients, max raft state %llu B", nclients,
             (unsigned long long)res.max_raft_state);
    lab_end(&l, what);
}

/* ---- 4A ------------------------------------------------------------------------------------ */

START_TEST(Basic4A) { generic("Basic4A", 1, 5, false, false, false, -1, false); }
END_TEST

static void speed(const char *name, int maxraftstate)
{
    const int numOps = 1000;
    struct lab l = lab_new(name, 3, false, maxraftstate);
    struct kvl *t = l.t;
    struct kvl_ck *ck = kvl_ck_new(t);
    /* wait until the first op completes, so a leader is elected and the servers are ready */
    free(kvl_get(ck, "x"));
    uint64_t start = sim_now(t->s);
    for (int i = 0; i < numOps && !kvl_failed(t); i++) {
        char v[64];
        snprintf(v, sizeof v, "x 0 %d y", i);
        kvl_append(ck, "x", v);
    }
    double dur_ms = (double)(sim_now(t->s) - start);
    char *v = kvl_get(ck, "x");
    char why[1024];
    if (!kvl_failed(t) && !kv_appends_check_client(0, v, numOps, why, sizeof why))
        kvl_fail(t, "client: %s", why);
    free(v);
    /* heartbeat interval ~100 ms; at least 3 ops per interval */
    double per_op = dur_ms / numOps;
    if (!kvl_failed(t) && per_op > 100.0 / 3)
        kvl_fail(t, "Operations completed too slowly %.2f ms/op > 33.33 ms/op", per_op);
    uint64_t sz = kvl_max_raft_state(t);
    if (maxraftstate > 0 && sz > 8 * (uint64_t)maxraftstate)
        kvl_fail(t, "logs were not trimmed (%llu > 8*%d)", (unsigned long long)sz, maxraftstate);
    kvl_ck_free(ck);
    char what[128];
    snprintf(what, sizeof what, "%d appends, %.2f simulated ms/op (limit 33.33), max raft state "
             "%llu B", numOps, per_op, (unsigned long long)sz);
    lab_end(&l, what);
}

START_TEST(Speed4A) { speed("Speed4A", -1); }
END_TEST

START_TEST(Concurrent4A) { generic("Concurrent4A", 5, 5, false, false, false, -1, false); }
END_TEST

START_TEST(Unreliable4A) { generic("Unreliable4A", 5, 5, true, false, false, -1, false); }
END_TEST

START_TEST(UnreliableOneKey4A)
{
    struct lab l = lab_new("UnreliableOneKey4A", 5, true, -1);
    kvl_concurrent_one_key(l.t, 5, 10);
    lab_end(&l, "5 clients x 10 appends to one key");
}
END_TEST

START_TEST(OnePartition4A)
{
    const unsigned nservers = 5;
    struct lab l = lab_new("OnePartition4A", nservers, false, -1);
    struct kvl *t = l.t;
    struct kvl_ck *ck = kvl_ck_new(t);
    kvl_put(ck, "1", "13");
    /* progress in majority: the leader goes to the minority p2 with one other server */
    int leader = kvl_wait_leader(t);
    uint32_t p1 = 0, p2 = leader >= 0 ? BIT(leader) : 0;
    int group[SIM_MAX_NODES];
    for (unsigned i = 0; i < nservers; i++) {
        if ((int)i == leader) {
            group[i] = 2;
        } else if (!(p2 & ~BIT(leader))) {
            p2 |= BIT(i);
            group[i] = 2;
        } else {
            p1 |= BIT(i);
            group[i] = 1;
        }
    }
    sim_partition(t->s, group);
    struct kvl_ck *ckp1 = kvl_ck_new_on(t, p1);
    struct kvl_ck *ckp2a = kvl_ck_new_on(t, p2);
    struct kvl_ck *ckp2b = kvl_ck_new_on(t, p2);
    uint64_t t0 = sim_now(t->s);
    kvl_put(ckp1, "1", "14");
    kvl_check(ckp1, "1", "14");
    uint64_t majority_ms = sim_now(t->s) - t0;
    /* no progress in minority */
    struct kvl_op *put = kvl_start_put(ckp2a, "1", "15");
    struct kvl_op *get = kvl_start_get(ckp2b, "1");
    uint64_t end = sim_now(t->s) + 1000;
    bool put_done = false, get_done = false;
    while (!kvl_failed(t) && sim_now(t->s) < end && !put_done && !get_done) {
        put_done = kvl_wait_op(t, put, 10);
        if (!put_done)
            get_done = kvl_wait_op(t, get, 10);
    }
    if (put_done)
        kvl_fail(t, "Put in minority completed");
    if (get_done)
        kvl_fail(t, "Get in minority completed");
    kvl_check(ckp1, "1", "14");
    kvl_put(ckp1, "1", "16");
    kvl_check(ckp1, "1", "16");
    /* completion after heal */
    for (unsigned i = 0; i < nservers; i++)
        sim_connect(t->s, i);
    kvl_ck_connect(ckp2a, UINT32_MAX);
    kvl_ck_connect(ckp2b, UINT32_MAX);
    kvl_run_for(t, KVL_ELECTION_MS);
    if (!put_done && !kvl_failed(t) && !(put_done = kvl_wait_op(t, put, 3000)))
        kvl_fail(t, "Put did not complete");
    if (!get_done && !kvl_failed(t) && !(get_done = kvl_wait_op(t, get, 3000)))
        kvl_fail(t, "Get did not complete");
    kvl_check(ck, "1", "15");
    kvl_ck_free(ckp1);
    kvl_ck_free(ckp2a);
    kvl_ck_free(ckp2b);
    if (!put_done)
        kvl_op_abandon(put);
    if (!get_done)
        kvl_op_abandon(get);
    kvl_ck_free(ck);
    char what[160];
    snprintf(what, sizeof what, "majority Put+Get in %llu ms after the partition; minority "
             "stalled 1 s; completed after heal", (unsigned long long)majority_ms);
    lab_end(&l, what);
}
END_TEST

START_TEST(ManyPartitionsOneClient4A)
{
    generic("ManyPartitionsOneClient4A", 1, 5, false, false, true, -1, false);
}
END_TEST

START_TEST(ManyPartitionsManyClients4A)
{
    generic("ManyPartitionsManyClients4A", 5, 5, false, false, true, -1, false);
}
END_TEST

START_TEST(PersistOneClient4A) { generic("PersistOneClient4A", 1, 5, false, true, false, -1, false); }
END_TEST

START_TEST(PersistConcurrent4A)
{
    generic("PersistConcurrent4A", 5, 5, false, true, false, -1, false);
}
END_TEST

START_TEST(PersistConcurrentUnreliable4A)
{
    generic("PersistConcurrentUnreliable4A", 5, 5, true, true, false, -1, false);
}
END_TEST

START_TEST(PersistPartition4A) { generic("PersistPartition4A", 5, 5, false, true, true, -1, false); }
END_TEST

START_TEST(PersistPartitionUnreliable4A)
{
    generic("PersistPartitionUnreliable4A", 5, 5, true, true, true, -1, false);
}
END_TEST

START_TEST(PersistPartitionUnreliableLinearizable4A)
{
    generic("PersistPartitionUnreliableLinearizable4A", 15, 7, true, true, true, -1, true);
}
END_TEST

/* ---- 4B ------------------------------------------------------------------------------------ */

START_TEST(SnapshotRPC4B)
{
    const int maxraftstate = 1000;
    struct lab l = lab_new("SnapshotRPC4B", 3, false, maxraftstate);
    struct kvl *t = l.t;
    struct kvl_ck *ck = kvl_ck_new(t);
    kvl_put(ck, "a", "A");
    kvl_check(ck, "a", "A");
    /* a bunch of puts into the majority partition */
    int g1[3] = { 1, 1, 2 };
    sim_partition(t->s, g1);
    {
        struct kvl_ck *ck1 = kvl_ck_new_on(t, BIT(0) | BIT(1));
        for (int i = 0; i < 50; i++) {
            char k[16];
            snprintf(k, sizeof k, "%d", i);
            kvl_put(ck1, k, k);
        }
        kvl_run_for(t, KVL_ELECTION_MS);
        kvl_put(ck1, "b", "B");
        kvl_ck_free(ck1);
    }
    /* the majority partition has thrown away most of its log entries */
    uint64_t sz = kvl_max_raft_state(t);
    if (sz > 8 * (uint64_t)maxraftstate)
        kvl_fail(t, "logs were not trimmed (%llu > 8*%d)", (unsigned long long)sz, maxraftstate);
    /* now a group that requires the lagging server, so that it has to catch up */
    int g2[3] = { 1, 2, 1 };
    sim_partition(t->s, g2);
    {
        struct kvl_ck *ck1 = kvl_ck_new_on(t, BIT(0) | BIT(2));
        kvl_put(ck1, "c", "C");
        kvl_put(ck1, "d", "D");
        kvl_check(ck1, "a", "A");
        kvl_check(ck1, "b", "B");
        kvl_check(ck1, "1", "1");
        kvl_check(ck1, "49", "49");
        kvl_ck_free(ck1);
    }
    /* now everybody */
    int g3[3] = { 1, 1, 1 };
    sim_partition(t->s, g3);
    kvl_put(ck, "e", "E");
    kvl_check(ck, "c", "C");
    kvl_check(ck, "e", "E");
    kvl_check(ck, "1", "1");
    uint64_t installed = sim_snapshots_installed_on(t->s, 2);
    if (!kvl_failed(t) && installed == 0)
        kvl_fail(t, "node 3 caught up without InstallSnapshot");
    kvl_ck_free(ck);
    char what[160];
    snprintf(what, sizeof what, "raft state after the majority's puts %llu B (limit 8000), node 3 "
             "installed %llu snapshot(s)", (unsigned long long)sz, (unsigned long long)installed);
    lab_end(&l, what);
}
END_TEST

START_TEST(SnapshotSize4B)
{
    const int maxraftstate = 1000, maxsnapshotstate = 500;
    struct lab l = lab_new("SnapshotSize4B", 3, false, maxraftstate);
    struct kvl *t = l.t;
    struct kvl_ck *ck = kvl_ck_new(t);
    for (int i = 0; i < 200 && !kvl_failed(t); i++) {
        kvl_put(ck, "x", "0");
        kvl_check(ck, "x", "0");
        kvl_put(ck, "x", "1");
        kvl_check(ck, "x", "1");
    }
    uint64_t sz = kvl_max_raft_state(t);
    if (sz > 8 * (uint64_t)maxraftstate)
        kvl_fail(t, "logs were not trimmed (%llu > 8*%d)", (unsigned long long)sz, maxraftstate);
    kvl_ck_free(ck);
    uint64_t ssz = kvl_max_snapshot(t);
    if (ssz > (uint64_t)maxsnapshotstate)
        kvl_fail(t, "snapshot too large (%llu > %d)", (unsigned long long)ssz, maxsnapshotstate);
    if (ssz == 0)
        kvl_fail(t, "no snapshot taken");
    char what[160];
    snprintf(what, sizeof what, "200 rounds, max raft state %llu B (limit %d), max snapshot %llu B "
             "(limit %d)", (unsigned long long)sz, 8 * maxraftstate, (unsigned long long)ssz,
             maxsnapshotstate);
    lab_end(&l, what);
}
END_TEST

START_TEST(Speed4B) { speed("Speed4B", 1000); }
END_TEST

START_TEST(SnapshotRecover4B) { generic("SnapshotRecover4B", 1, 5, false, true, false, 1000, false); }
END_TEST

START_TEST(SnapshotRecoverManyClients4B)
{
    generic("SnapshotRecoverManyClients4B", 20, 5, false, true, false, 1000, false);
}
END_TEST

START_TEST(SnapshotUnreliable4B)
{
    generic("SnapshotUnreliable4B", 5, 5, true, false, false, 1000, false);
}
END_TEST

START_TEST(SnapshotUnreliableRecover4B)
{
    generic("SnapshotUnreliableRecover4B", 5, 5, true, true, false, 1000, false);
}
END_TEST

START_TEST(SnapshotUnreliableRecoverConcurrentPartition4B)
{
    generic("SnapshotUnreliableRecoverConcurrentPartition4B", 5, 5, true, true, true, 1000, false);
}
END_TEST

START_TEST(SnapshotUnreliableRecoverConcurrentPartitionLinearizable4B)
{
    generic("SnapshotUnreliableRecoverConcurrentPartitionLinearizable4B", 15, 7, true, true, true,
            1000, true);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("sim_kv_lab4");
    TCase *a = tcase_create("4A");
    tcase_set_timeout(a, 300);
    KV_ADD_TEST(a, Basic4A);
    KV_ADD_TEST(a, Speed4A);
    KV_ADD_TEST(a, Concurrent4A);
    KV_ADD_TEST(a, Unreliable4A);
    KV_ADD_TEST(a, UnreliableOneKey4A);
    KV_ADD_TEST(a, OnePartition4A);
    KV_ADD_TEST(a, ManyPartitionsOneClient4A);
    KV_ADD_TEST(a, ManyPartitionsManyClients4A);
    KV_ADD_TEST(a, PersistOneClient4A);
    KV_ADD_TEST(a, PersistConcurrent4A);
    KV_ADD_TEST(a, PersistConcurrentUnreliable4A);
    KV_ADD_TEST(a, PersistPartition4A);
    KV_ADD_TEST(a, PersistPartitionUnreliable4A);
    KV_ADD_TEST(a, PersistPartitionUnreliableLinearizable4A);
    suite_add_tcase(s, a);
    TCase *b = tcase_create("4B");
    tcase_set_timeout(b, 300);
    KV_ADD_TEST(b, SnapshotRPC4B);
    KV_ADD_TEST(b, SnapshotSize4B);
    KV_ADD_TEST(b, Speed4B);
    KV_ADD_TEST(b, SnapshotRecover4B);
    KV_ADD_TEST(b, SnapshotRecoverManyClients4B);
    KV_ADD_TEST(b, SnapshotUnreliable4B);
    KV_ADD_TEST(b, SnapshotUnreliableRecover4B);
    KV_ADD_TEST(b, SnapshotUnreliableRecoverConcurrentPartition4B);
    KV_ADD_TEST(b, SnapshotUnreliableRecoverConcurrentPartitionLinearizable4B);
    suite_add_tcase(s, b);
    return s;
}
