/* 6.5840 Lab 4 (kvraft), 4A and 4B, on real kvd processes behind test/cluster's fault proxies
 * (docs/KV-TESTS.md). Test names are the lab's (TestBasic4A -> Basic4A). Every history is
 * checked by lincheck ($KV_HISTORY_DIR keeps them). KV_TEST_SECONDS sets the client rounds. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "kvtest.h"

#define BIT(i) (1u << (i))

static void generic(const char *name, int nclients, int nservers, bool unreliable, bool crash,
                    bool partitions, int maxraftstate, bool randomkeys)
{
    struct kvt_params p = { .lab = 4, .nclients = nclients, .nservers = nservers,
                            .unreliable = unreliable, .crash = crash, .partitions = partitions,
                            .maxraftstate = maxraftstate, .randomkeys = randomkeys };
    kvt_generic(name, &p);
}

/* The leader among the nodes (polls kv.Status up to 10 s). */
static unsigned wait_leader(struct kvt *t)
{
    uint64_t end = clock_mono_ms() + 10000;
    while (clock_mono_ms() < end) {
        unsigned leader = 0;
        uint64_t best = 0;
        for (unsigned i = 1; i <= t->n; i++) {
            Kv__StatusReply *st = kvt_status(t, i);
            if (st && st->node && strcmp(st->node->role, "leader") == 0 && st->node->term >= best) {
                best = st->node->term;
                leader = i;
            }
            if (st)
                kv__status_reply__free_unpacked(st, NULL);
        }
        if (leader)
            return leader;
        clock_sleep_ms(50);
    }
    ck_abort_msg("no leader within 10 s");
    return 0;
}

/* ---- 4A ------------------------------------------------------------------------------------ */

START_TEST(Basic4A) { generic("Basic4A", 1, 5, false, false, false, -1, false); }
END_TEST

static void speed(const char *name, int maxraftstate)
{
    const int numOps = 1000;
    struct kvt *t = kvt_new(name, 3, false, maxraftstate);
    struct kvt_ck *ck = kvt_ck_new(t);
    /* wait until the first op completes, so a leader is elected and the servers are ready */
    free(kvt_get(ck, "x"));
    uint64_t start = clock_mono_ns();
    for (int i = 0; i < numOps; i++) {
        char v[64];
        snprintf(v, sizeof v, "x 0 %d y", i);
        kvt_append(ck, "x", v, false, NULL);
    }
    double dur_ms = (double)(clock_mono_ns() - start) / 1e6;
    char *v = kvt_get(ck, "x");
    kvt_check_clnt_appends(0, v, numOps);
    free(v);
    /* heartbeat interval ~100 ms; at least 3 ops per interval */
    double per_op = dur_ms / numOps;
    printf("  %s: %d appends in %.0f ms: %.2f ms/op (limit 33.33), max raft state %llu B\n", name,
           numOps, dur_ms, per_op, (unsigned long long)kvt_max_raft_state(t));
    ck_assert_msg(per_op <= 100.0 / 3, "Operations completed too slowly %.2f ms/op > 33.33 ms/op",
                  per_op);
    if (maxraftstate > 0)
        ck_assert_uint_le(kvt_max_raft_state(t), 8 * (uint64_t)maxraftstate);
    kvt_ck_free(ck);
    kvt_check_linearizable(t);
    kvt_free(t);
}

START_TEST(Speed4A) { speed("Speed4A", -1); }
END_TEST

START_TEST(Concurrent4A) { generic("Concurrent4A", 5, 5, false, false, false, -1, false); }
END_TEST

START_TEST(Unreliable4A) { generic("Unreliable4A", 5, 5, true, false, false, -1, false); }
END_TEST

START_TEST(UnreliableOneKey4A)
{
    struct kvt *t = kvt_new("UnreliableOneKey4A", 5, true, -1);
    kvt_concurrent_one_key(t, 5, 10, false);
    kvt_check_linearizable(t);
    kvt_free(t);
}
END_TEST

START_TEST(OnePartition4A)
{
    const unsigned nservers = 5;
    struct kvt *t = kvt_new("OnePartition4A", nservers, false, -1);
    struct kvt_ck *ck = kvt_ck_new(t);
    kvt_put(ck, "1", "13");
    /* progress in majority: the leader goes to the minority p2 with one other server */
    unsigned leader = wait_leader(t);
    uint32_t p1 = 0, p2 = BIT(leader);
    for (unsigned i = 1; i <= nservers; i++)
        if (i != leader) {
            if (!(p2 & ~BIT(leader)))
                p2 |= BIT(i);
            else
                p1 |= BIT(i);
        }
    uint32_t groups[2] = { p1, p2 };
    cluster_partition(t->c, groups, 2);
    struct kvt_ck *ckp1 = kvt_ck_new_on(t, p1);
    struct kvt_ck *ckp2a = kvt_ck_new_on(t, p2);
    struct kvt_ck *ckp2b = kvt_ck_new_on(t, p2);
    uint64_t t0 = clock_mono_ns();
    kvt_put(ckp1, "1", "14");
    kvt_check(ckp1, "1", "14");
    printf("  progress in majority: Put+Get in %.0f ms after the partition\n",
           (double)(clock_mono_ns() - t0) / 1e6);
    /* no progress in minority */
    struct kvt_op *put = kvt_start_put(ckp2a, "1", "15");
    struct kvt_op *get = kvt_start_get(ckp2b, "1");
    uint64_t end = clock_mono_ms() + 1000;
    bool put_done = false, get_done = false;
    while (clock_mono_ms() < end && !put_done && !get_done) {
        put_done = kvt_wait_op(t, put, 10);
        if (!put_done)
            get_done = kvt_wait_op(t, get, 10);
    }
    ck_assert_msg(!put_done, "Put in minority completed");
    ck_assert_msg(!get_done, "Get in minority completed");
    kvt_check(ckp1, "1", "14");
    kvt_put(ckp1, "1", "16");
    kvt_check(ckp1, "1", "16");
    /* completion after heal */
    cluster_heal(t->c);
    kvt_ck_connect(ckp2a, CLUSTER_ALL);
    kvt_ck_connect(ckp2b, CLUSTER_ALL);
    kvt_run_for(t, KVT_ELECTION_MS);
    ck_assert_msg(put_done || kvt_wait_op(t, put, 3000), "Put did not complete");
    ck_assert_msg(get_done || kvt_wait_op(t, get, 3000), "Get did not complete");
    kvt_check(ck, "1", "15");
    kvt_ck_free(ckp1);
    kvt_ck_free(ckp2a);
    kvt_ck_free(ckp2b);
    kvt_ck_free(ck);
    kvt_check_linearizable(t);
    kvt_free(t);
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
    struct kvt *t = kvt_new("SnapshotRPC4B", 3, false, maxraftstate);
    struct kvt_ck *ck = kvt_ck_new(t);
    kvt_put(ck, "a", "A");
    kvt_check(ck, "a", "A");
    /* a bunch of puts into the majority partition */
    uint32_t g1[2] = { BIT(1) | BIT(2), BIT(3) };
    cluster_partition(t->c, g1, 2);
    {
        struct kvt_ck *ck1 = kvt_ck_new_on(t, BIT(1) | BIT(2));
        for (int i = 0; i < 50; i++) {
            char k[16];
            snprintf(k, sizeof k, "%d", i);
            kvt_put(ck1, k, k);
        }
        kvt_run_for(t, KVT_ELECTION_MS);
        kvt_put(ck1, "b", "B");
        kvt_ck_free(ck1);
    }
    /* the majority partition has thrown away most of its log entries */
    uint64_t sz = kvt_max_raft_state(t);
    ck_assert_msg(sz <= 8 * (uint64_t)maxraftstate, "logs were not trimmed (%llu > 8*%d)",
                  (unsigned long long)sz, maxraftstate);
    /* now a group that requires the lagging server, so that it has to catch up */
    uint32_t g2[2] = { BIT(1) | BIT(3), BIT(2) };
    cluster_partition(t->c, g2, 2);
    {
        struct kvt_ck *ck1 = kvt_ck_new_on(t, BIT(1) | BIT(3));
        kvt_put(ck1, "c", "C");
        kvt_put(ck1, "d", "D");
        kvt_check(ck1, "a", "A");
        kvt_check(ck1, "b", "B");
        kvt_check(ck1, "1", "1");
        kvt_check(ck1, "49", "49");
        kvt_ck_free(ck1);
    }
    /* now everybody */
    uint32_t g3[1] = { BIT(1) | BIT(2) | BIT(3) };
    cluster_partition(t->c, g3, 1);
    kvt_put(ck, "e", "E");
    kvt_check(ck, "c", "C");
    kvt_check(ck, "e", "E");
    kvt_check(ck, "1", "1");
    Kv__StatusReply *st = kvt_status(t, 3);
    ck_assert(st && st->node);
    printf("  SnapshotRPC4B: raft state after the majority's puts %llu B; node 3 installed %llu "
           "snapshot(s)\n",
           (unsigned long long)sz, (unsigned long long)st->node->snapshots_installed);
    ck_assert_uint_gt(st->node->snapshots_installed, 0);
    kv__status_reply__free_unpacked(st, NULL);
    kvt_ck_free(ck);
    kvt_check_linearizable(t);
    kvt_free(t);
}
END_TEST

START_TEST(SnapshotSize4B)
{
    const int maxraftstate = 1000, maxsnapshotstate = 500;
    struct kvt *t = kvt_new("SnapshotSize4B", 3, false, maxraftstate);
    struct kvt_ck *ck = kvt_ck_new(t);
    for (int i = 0; i < 200; i++) {
        kvt_put(ck, "x", "0");
        kvt_check(ck, "x", "0");
        kvt_put(ck, "x", "1");
        kvt_check(ck, "x", "1");
    }
    uint64_t sz = kvt_max_raft_state(t);
    ck_assert_msg(sz <= 8 * (uint64_t)maxraftstate, "logs were not trimmed (%llu > 8*%d)",
                  (unsigned long long)sz, maxraftstate);
    kvt_ck_free(ck);
    uint64_t ssz = kvt_max_snapshot(t);
    printf("  SnapshotSize4B: max raft state %llu B (limit %d), max snapshot %llu B (limit %d)\n",
           (unsigned long long)sz, 8 * maxraftstate, (unsigned long long)ssz, maxsnapshotstate);
    ck_assert_msg(ssz <= (uint64_t)maxsnapshotstate, "snapshot too large (%llu > %d)",
                  (unsigned long long)ssz, maxsnapshotstate);
    kvt_check_linearizable(t);
    kvt_free(t);
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

/* Additions, not the lab's: two 4B scenarios again with every snapshot written by a forked
 * child (lib/storage's background writer) under the same crashes, partitions and drops. */
static void background(const char *name, int nclients, bool unreliable, bool partitions)
{
    struct kvt_params p = { .lab = 4, .nclients = nclients, .nservers = 5,
                            .unreliable = unreliable, .crash = true, .partitions = partitions,
                            .maxraftstate = 1000, .background_snapshots = true };
    kvt_generic(name, &p);
}

START_TEST(BackgroundSnapshotRecoverManyClients4B)
{
    background("BackgroundSnapshotRecoverManyClients4B", 20, false, false);
}
END_TEST

START_TEST(BackgroundSnapshotUnreliableRecoverConcurrentPartition4B)
{
    background("BackgroundSnapshotUnreliableRecoverConcurrentPartition4B", 5, true, true);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kvraft_lab4");
    TCase *a = tcase_create("4A");
    tcase_set_timeout(a, 240);
    KVT_ADD_TEST(a, Basic4A);
    KVT_ADD_TEST(a, Speed4A);
    KVT_ADD_TEST(a, Concurrent4A);
    KVT_ADD_TEST(a, Unreliable4A);
    KVT_ADD_TEST(a, UnreliableOneKey4A);
    KVT_ADD_TEST(a, OnePartition4A);
    KVT_ADD_TEST(a, ManyPartitionsOneClient4A);
    KVT_ADD_TEST(a, ManyPartitionsManyClients4A);
    KVT_ADD_TEST(a, PersistOneClient4A);
    KVT_ADD_TEST(a, PersistConcurrent4A);
    KVT_ADD_TEST(a, PersistConcurrentUnreliable4A);
    KVT_ADD_TEST(a, PersistPartition4A);
    KVT_ADD_TEST(a, PersistPartitionUnreliable4A);
    KVT_ADD_TEST(a, PersistPartitionUnreliableLinearizable4A);
    suite_add_tcase(s, a);
    TCase *b = tcase_create("4B");
    tcase_set_timeout(b, 240);
    KVT_ADD_TEST(b, SnapshotRPC4B);
    KVT_ADD_TEST(b, SnapshotSize4B);
    KVT_ADD_TEST(b, Speed4B);
    KVT_ADD_TEST(b, SnapshotRecover4B);
    KVT_ADD_TEST(b, SnapshotRecoverManyClients4B);
    KVT_ADD_TEST(b, SnapshotUnreliable4B);
    KVT_ADD_TEST(b, SnapshotUnreliableRecover4B);
    KVT_ADD_TEST(b, SnapshotUnreliableRecoverConcurrentPartition4B);
    KVT_ADD_TEST(b, SnapshotUnreliableRecoverConcurrentPartitionLinearizable4B);
    KVT_ADD_TEST(b, BackgroundSnapshotRecoverManyClients4B);
    KVT_ADD_TEST(b, BackgroundSnapshotUnreliableRecoverConcurrentPartition4B);
    suite_add_tcase(s, b);
    return s;
}
