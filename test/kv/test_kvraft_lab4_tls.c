/* Lab 4 (kvraft) over TLS: one scenario of each kind of test_kvraft_lab4.c (basic, concurrent,
 * unreliable, partitions, crashes and restarts, snapshots), unchanged (same parameters, same
 * checks and thresholds, lincheck on every history), with every connection mutual TLS: the kvd
 * nodes get --tls-*, the fault proxies end TLS on both sides, the clerks present a client
 * certificate (test/cluster's TLS mode, docs/CLUSTER-TESTS.md). kvt_free also checks that the
 * nodes made TLS handshakes and refused nobody. */
#include <check.h>
#include <stdlib.h>

#include "kvtest.h"

/* Run after each scenario's checks: it did run with TLS (kvt_free then checks the nodes'
 * handshakes). */
static void require_tls(struct kvt *t, void *arg)
{
    (void)arg;
    ck_assert_msg(cluster_tls_on(t->c), "the cluster runs without TLS");
}

/* The scenarios of test_kvraft_lab4.c of the same names (its generic()). */
static void scenario(const char *name, int nclients, bool unreliable, bool crash,
                     bool partitions, int maxraftstate)
{
    struct kvt_params p = { .lab = 4, .nclients = nclients, .nservers = 5,
                            .unreliable = unreliable, .crash = crash, .partitions = partitions,
                            .maxraftstate = maxraftstate, .after = require_tls };
    kvt_generic(name, &p);
}

START_TEST(Basic4A) { scenario("Basic4A", 1, false, false, false, -1); }
END_TEST

START_TEST(Concurrent4A) { scenario("Concurrent4A", 5, false, false, false, -1); }
END_TEST

START_TEST(Unreliable4A) { scenario("Unreliable4A", 5, true, false, false, -1); }
END_TEST

START_TEST(ManyPartitionsOneClient4A)
{
    scenario("ManyPartitionsOneClient4A", 1, false, false, true, -1);
}
END_TEST

START_TEST(PersistOneClient4A) { scenario("PersistOneClient4A", 1, false, true, false, -1); }
END_TEST

START_TEST(SnapshotUnreliableRecover4B)
{
    scenario("SnapshotUnreliableRecover4B", 5, true, true, false, 1000);
}
END_TEST

Suite *test_suite(void)
{
    /* Every cluster of this program is a TLS one (read by cluster_new in each test's process). */
    setenv("CLUSTER_TLS", "1", 1);
    Suite *s = suite_create("kvraft_lab4_tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 240);
    KVT_ADD_TEST(tc, Basic4A);
    KVT_ADD_TEST(tc, Concurrent4A);
    KVT_ADD_TEST(tc, Unreliable4A);
    KVT_ADD_TEST(tc, ManyPartitionsOneClient4A);
    KVT_ADD_TEST(tc, PersistOneClient4A);
    KVT_ADD_TEST(tc, SnapshotUnreliableRecover4B);
    suite_add_tcase(s, tc);
    return s;
}
