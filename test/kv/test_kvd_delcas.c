/* Delete and compare-and-swap in the Lab 4 style load on real kvd processes (docs/KV-TESTS.md):
 * kvtest's GenericTest with random keys and deletes and cas mixed into the appends, puts and
 * gets (kvt_params.delcas), under an unreliable network, partitions, crashes and snapshots;
 * every history is checked by lincheck (a deleted key must read as absent, a cas's success or
 * failure and the current value a failed one reports must be consistent, retries executed at
 * most once). The last scenario plants a bug in every kvd (lib/kv's KV_BUG_CAS_ALWAYS_SWAPS,
 * through KVD_PLANTED_BUG) and requires the checker to reject the history. */
#include <check.h>

#include "kv/kv.h"
#include "kvtest.h"

static void delcas(const char *name, int nclients, bool unreliable, bool crash, bool partitions,
                   int maxraftstate, int planted_bug)
{
    struct kvt_params p = { .lab = 4, .nclients = nclients, .nservers = 5,
                            .unreliable = unreliable, .crash = crash, .partitions = partitions,
                            .maxraftstate = maxraftstate, .randomkeys = true, .delcas = true,
                            .planted_bug = planted_bug };
    kvt_generic(name, &p);
}

START_TEST(DeleteCasConcurrent) { delcas("DeleteCasConcurrent", 5, false, false, false, -1, 0); }
END_TEST

START_TEST(DeleteCasUnreliable) { delcas("DeleteCasUnreliable", 5, true, false, false, -1, 0); }
END_TEST

START_TEST(DeleteCasSnapshotUnreliableRecoverConcurrentPartition)
{
    delcas("DeleteCasSnapshotUnreliableRecoverConcurrentPartition", 5, true, true, true, 1000, 0);
}
END_TEST

/* With every cas swapping whatever the key holds, the checker must notice. */
START_TEST(DeleteCasCatchesPlantedCasBug)
{
    delcas("DeleteCasCatchesPlantedCasBug", 5, false, false, false, -1, KV_BUG_CAS_ALWAYS_SWAPS);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kvd_delcas");
    TCase *t = tcase_create("delcas");
    tcase_set_timeout(t, 240);
    KVT_ADD_TEST(t, DeleteCasConcurrent);
    KVT_ADD_TEST(t, DeleteCasUnreliable);
    KVT_ADD_TEST(t, DeleteCasSnapshotUnreliableRecoverConcurrentPartition);
    KVT_ADD_TEST(t, DeleteCasCatchesPlantedCasBug);
    suite_add_tcase(s, t);
    return s;
}
