/* 6.5840 Lab 5A's shardkv tests (Spring 2024; /work/shared/LAB5-TESTS.md §3.5) on real
 * processes: a shardctrld controller and 3 groups of 3 shardkvd (test/shardkv/skvtest.h),
 * every link through test/cluster's fault proxies. Names are the lab's (TestStaticShards5A ->
 * StaticShards5A; KV_TEST_ONLY picks tests, CLUSTER_SEED replays the harness's choices).
 *
 * The lab's "exactly 5 of 10" relies on its first-byte key2shard, which puts keys "0".."9" on
 * the 10 shards one each; here a key's shard is sc_key_shard's hash, so the count expected is
 * computed: exactly the keys whose shards the live group owns in the controller's latest
 * config, and the Gets that return must be those keys. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kv/labcheck.h"
#include "../shardkv/skvtest.h"
#include "shardctrl/keyshard.h"

#define N 10

struct keys {
    char buf[N][16];
    const char *k[N];
};

static void keys_init(struct keys *ks)
{
    for (int i = 0; i < N; i++) {
        skt_key(i, ks->buf[i], sizeof ks->buf[i]);
        ks->k[i] = ks->buf[i];
    }
}

/* "0:s3 1:s7 ..." with the owner of each key's shard in cfg. */
static void fmt_owners(const struct sc_config *cfg, const struct keys *ks, char *buf, size_t len)
{
    size_t o = 0;
    for (int i = 0; i < N && o < len; i++) {
        uint32_t s = sc_key_shard((const uint8_t *)ks->k[i], strlen(ks->k[i]), cfg->n_shards);
        o += (size_t)snprintf(buf + o, len - o, "%s%s:shard %u on %u", i ? ", " : "", ks->k[i], s,
                              cfg->shards[s]);
    }
}

/* The 10 keys with 20-character values, put and checked (both tests' first step). */
static void put_and_check(struct skt *t, struct skt_ck *ck, const struct keys *ks, char **va)
{
    for (int i = 0; i < N; i++) {
        va[i] = skt_randstr(t, 20);
        skt_put(ck, ks->k[i], va[i]);
    }
    for (int i = 0; i < N; i++)
        skt_check(ck, ks->k[i], va[i]);
}

START_TEST(StaticShards5A)
{
    struct skt *t = skt_new("StaticShards5A", "5A", "static shards", false, -1, false);
    struct skt_ck *ck = skt_ck_new(t, NULL);
    struct keys ks;
    keys_init(&ks);
    char *va[N];
    skt_join(t, 0);
    skt_join(t, 1);
    put_and_check(t, ck, &ks, va);

    /* make sure that the data really is sharded by shutting down one shard and checking that
     * some Get()s don't succeed */
    skt_shutdown_group(t, 1);
    skt_checklogs(t); /* forbid snapshots */
    struct sc_config *cfg = skt_query(t);
    bool owned[N];
    size_t want = skt_owned_keys(cfg, SKT_GID(0), ks.k, N, owned);
    char owners[1024];
    fmt_owners(cfg, &ks, owners, sizeof owners);

    /* one clerk per Get: only one call allowed per client */
    struct skt_ck *cks[N];
    for (int i = 0; i < N; i++)
        cks[i] = skt_ck_new(t, NULL);
    char *got[N];
    skt_gets_until_quiet(t, cks, ks.k, N, 2000, got);
    size_t ndone = 0;
    for (int i = 0; i < N; i++) {
        if (!got[i])
            continue;
        SKT_EXPECT(t, strcmp(got[i], va[i]) == 0, "Get(%s): expected:\n%s\nreceived:\n%s",
                   ks.k[i], va[i], got[i]);
        SKT_EXPECT(t, owned[i], "Get(%s) returned, but its shard is on gid 101, which is down (%s)",
                   ks.k[i], owners);
        ndone++;
        free(got[i]);
    }
    SKT_EXPECT(t, ndone == want, "expected %zu completions with one group shutdown; got %zu (%s)",
               want, ndone, owners);
    printf("  %zu of %d Gets returned with gid 101 down: exactly the keys on gid 100 (config %llu: "
           "%s)\n",
           ndone, N, (unsigned long long)cfg->num, owners);
    sc_config_free(cfg);

    /* bring the crashed shard/group back to life */
    skt_start_group(t, 1);
    for (int i = 0; i < N; i++)
        skt_check(ck, ks.k[i], va[i]);
    for (int i = 0; i < N; i++)
        free(va[i]);
    skt_ck_free(ck);
    skt_free(t);
}
END_TEST

START_TEST(Rejection5A)
{
    struct skt *t = skt_new("Rejection5A", "5A", "rejection", false, -1, false);
    struct skt_ck *ck = skt_ck_new(t, NULL);
    struct keys ks;
    keys_init(&ks);
    char *va[N];
    skt_join(t, 0);
    skt_join(t, 1);
    put_and_check(t, ck, &ks, va);

    /* now create a separate controller that thinks there is only one group, and have clients
     * use it: the kv servers must reject what the real controller does not give them */
    struct cluster *ctl1 = skt_new_ctrler(t);
    skt_ctljoin(t, 0, ctl1);
    struct sc_config *cfg = skt_query(t); /* the real one */
    bool owned[N];
    size_t want = skt_owned_keys(cfg, SKT_GID(0), ks.k, N, owned);
    char owners[1024];
    fmt_owners(cfg, &ks, owners, sizeof owners);

    struct skt_ck *cks[N];
    for (int i = 0; i < N; i++)
        cks[i] = skt_ck_new(t, ctl1);
    char *got[N];
    skt_gets_until_quiet(t, cks, ks.k, N, 2000, got);
    size_t ndone = 0;
    for (int i = 0; i < N; i++) {
        if (!got[i])
            continue;
        SKT_EXPECT(t, got[i][0] || !va[i][0],
                   "Get(%s): returned a value, but server should have rejected the request due to "
                   "wrong shard (%s)",
                   ks.k[i], owners);
        SKT_EXPECT(t, strcmp(got[i], va[i]) == 0, "Get(%s): expected:\n%s\nreceived:\n%s",
                   ks.k[i], va[i], got[i]);
        SKT_EXPECT(t, owned[i],
                   "Get(%s) answered by gid 100, but the real config puts its shard on gid 101 "
                   "(%s)",
                   ks.k[i], owners);
        ndone++;
        free(got[i]);
    }
    SKT_EXPECT(t, ndone == want, "expected %zu completions; got %zu (%s)", want, ndone, owners);
    printf("  %zu of %d Gets sent to gid 100 by the second controller returned: exactly the keys "
           "gid 100 owns in the real config %llu (%s)\n",
           ndone, N, (unsigned long long)cfg->num, owners);
    sc_config_free(cfg);
    for (int i = 0; i < N; i++)
        free(va[i]);
    skt_ck_free(ck);
    skt_free(t);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shardkv_lab5a");
    TCase *tc = tcase_create("5A");
    tcase_set_timeout(tc, 180); /* the lab's own rule (120 s) is checked inside each test */
    KV_ADD_TEST(tc, StaticShards5A);
    KV_ADD_TEST(tc, Rejection5A);
    suite_add_tcase(s, tc);
    return s;
}
