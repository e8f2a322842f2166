/* 6.5840 Lab 5's two optional challenges (Spring 2024; /work/shared/LAB5-TESTS.md §3.5:
 * TestChallenge1Delete, TestChallenge2Unaffected, TestChallenge2Partial) on real processes: a
 * shardctrld controller and 3 groups of 3 shardkvd (test/shardkv/skvtest.h), every link
 * through test/cluster's fault proxies, with the lab's steps, sleeps, values and bounds. G0/G1/
 * G2 are group indexes 0/1/2 (gids 100/101/102).
 *
 * A key's shard is sc_key_shard's hash, not the lab's first byte: keys "0".."9" fall on shards
 * 7,2,9,4,3,8,5,0,9,4 (two keys on shards 4 and 9, none on 1 and 6). The Challenge2 tests
 * compute which keys they check from the controller's config, as the lab's do, and fail when
 * that leaves none (a test that checks nothing cannot fail). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kv/labcheck.h"
#include "../shardkv/skvtest.h"
#include "base/clock.h"
#include "base/util.h"
#include "shardctrl/keyshard.h"
#include "shardkv.pb-c.h"

#define NMAX 30 /* Challenge1Delete's keys */
#define DELETE_BUDGET 117000 /* 3 replicas x (27 x 1000 + 2 x 3 x 1000 + 6000): the lab's */

struct keys {
    int n;
    char k[NMAX][16];
    char *va[NMAX];
};

static void keys_init(struct keys *ks, int n)
{
    ks->n = n;
    for (int i = 0; i < n; i++) {
        skt_key(i, ks->k[i], sizeof ks->k[i]);
        ks->va[i] = NULL;
    }
}

static void keys_free(struct keys *ks)
{
    for (int i = 0; i < ks->n; i++)
        free(ks->va[i]);
}

static void set_va(struct keys *ks, int i, const char *v)
{
    free(ks->va[i]);
    ks->va[i] = xstrdup(v);
}

static uint32_t key_shard(const struct sc_config *cfg, const char *key)
{
    return sc_key_shard((const uint8_t *)key, strlen(key), cfg->n_shards);
}

/* ---- TestChallenge1Delete ------------------------------------------------------------------ */

static void check_first3(struct skt_ck *ck, struct keys *ks)
{
    for (int i = 0; i < 3; i++)
        skt_check(ck, ks->k[i], ks->va[i]);
}

/* The lab's assertion: persisted Raft state + snapshots of all 9 servers within the budget. */
static void expect_within_budget(struct skt *t, const char *when)
{
    printf("  %s:\n", when);
    uint64_t total = skt_stored_bytes(t);
    SKT_EXPECT(t, total <= DELETE_BUDGET,
               "snapshot + persisted Raft state are too big: %llu > %d (%s)",
               (unsigned long long)total, DELETE_BUDGET, when);
}

/* "Force snapshot after every log entry" (maxraftstate 1): the shards that left a group must
 * be gone from its state, its snapshots and its kept log, so that the 30 KB of values are
 * stored on one group's 3 replicas only. */
START_TEST(Challenge1Delete)
{
    struct skt *t = skt_new("Challenge1Delete", NULL, "shard deletion (challenge 1)", false, 1,
                            false);
    struct skt_ck *ck = skt_ck_new(t, NULL);
    struct keys ks;
    keys_init(&ks, 30);
    skt_join(t, 0);
    /* 30,000 bytes total */
    for (int i = 0; i < ks.n; i++) {
        ks.va[i] = skt_randstr(t, 1000);
        skt_put(ck, ks.k[i], ks.va[i]);
    }
    check_first3(ck, &ks);
    for (int iters = 0; iters < 2; iters++) {
        skt_join(t, 1);
        skt_leave(t, 0);
        skt_join(t, 2);
        skt_sleep(3000);
        check_first3(ck, &ks);
        skt_leave(t, 1);
        skt_join(t, 0);
        skt_leave(t, 2);
        skt_sleep(3000);
        check_first3(ck, &ks);
    }
    skt_join(t, 1);
    skt_join(t, 2);
    for (int i = 0; i < 3; i++) {
        skt_sleep(1000);
        check_first3(ck, &ks);
    }
    /* 27 keys should be stored once; 3 keys should also be stored in client dup tables (the
     * lab's reckoning; Gets leave no session state here) */
    expect_within_budget(t, "after the lab's steps");
    for (int i = 0; i < ks.n; i++)
        skt_check(ck, ks.k[i], ks.va[i]);

    /* Beyond the lab (the handout: "even if all the servers in a group crash and come back
     * up"): every group down, its disk within the budget; every group up again, the budget
     * kept and every key there. */
    for (int gi = 0; gi < 3; gi++)
        skt_shutdown_group(t, gi);
    expect_within_budget(t, "every group down");
    for (int gi = 0; gi < 3; gi++)
        skt_start_group(t, gi);
    for (int i = 0; i < ks.n; i++)
        skt_check(ck, ks.k[i], ks.va[i]);
    expect_within_budget(t, "every group restarted, all 30 keys read");
    keys_free(&ks);
    skt_ck_free(ck);
    skt_free(t);
}
END_TEST

/* ---- TestChallenge2Unaffected --------------------------------------------------------------- */

/* Beyond the lab: gid 101's leader is stuck in a hand-over from gid 100 (shut down) that it
 * can never finish: it pulls a shard from gid 100 (in the Leave of gid 100, config num, or
 * before it: then it never gets there), or it has one in GC whose holder gid 100 can no longer
 * be told to delete (it then never settles). Waited for (at most 15 s) after the lab's last
 * sleep, and required again after the checks, which therefore all ran in that state. */
static void stuck(struct skt *t, uint64_t num)
{
    uint64_t t0 = clock_mono_ms();
    for (;;) {
        struct skt_group_view v;
        int who = skt_group_view(t, 1, &v);
        char pulling[64] = "", gc[64] = "";
        for (int s = 0; s < SKT_NSHARDS; s++) {
            char *into = v.state[s] == SHARDKV__SHARD_STATE__PULLING ? pulling
                         : v.state[s] == SHARDKV__SHARD_STATE__GC   ? gc
                                                                    : NULL;
            if (into && v.from[s] == SKT_GID(0))
                snprintf(into + strlen(into), 64 - strlen(into), " %d", s);
        }
        bool is_stuck = who >= 0 && (pulling[0] || gc[0]);
        if (is_stuck) {
            printf("  gid 101's leader (server %d) stuck in config %llu (the Leave of gid 100: "
                   "%llu): from gid 100, pulling:%s, gc:%s\n",
                   who, (unsigned long long)v.config, (unsigned long long)num,
                   pulling[0] ? pulling : " none", gc[0] ? gc : " none");
            fflush(stdout);
            return;
        }
        if (clock_mono_ms() - t0 >= 15000) {
            char all[256] = "";
            for (int s = 0; s < SKT_NSHARDS; s++)
                snprintf(all + strlen(all), sizeof all - strlen(all), " %d:%d<%u", s, v.state[s],
                         v.from[s]);
            skt_print_group(t, 1);
            skt_fail(t, __LINE__,
                     "gid 101 is not stuck in a hand-over from gid 100 after 15 s (its leader: "
                     "server %d, config %llu; the Leave of gid 100 is config %llu; shard:state<from"
                     "%s)",
                     who, (unsigned long long)v.config, (unsigned long long)num, all);
        }
        skt_sleep(50);
    }
}

/* The lab's "put all 10 keys with value v". */
static void put_all(struct skt_ck *ck, struct keys *ks, const char *v)
{
    for (int i = 0; i < ks->n; i++) {
        set_va(ks, i, v);
        skt_put(ck, ks->k[i], ks->va[i]);
    }
}

/* The lab's ownership table: owned[s] = whether the latest config puts shard s on gid. */
static struct sc_config *query_owned(struct skt *t, uint32_t gid, bool owned[SKT_NSHARDS])
{
    struct sc_config *c = skt_query(t);
    SKT_EXPECT(t, c->n_shards == SKT_NSHARDS, "config %llu has %u shards",
               (unsigned long long)c->num, c->n_shards);
    for (int s = 0; s < SKT_NSHARDS; s++)
        owned[s] = c->shards[s] == gid;
    return c;
}

/* Both tests' last step, for each key whose shard (in c) is owned: check, Put value+suffix,
 * check; with gid 101 stuck around it (stuck). Fails when no key is checked; prints how many
 * were (of what). Then frees c, ks, ck and t. */
static void last_step_and_free(struct skt *t, struct skt_ck *ck, struct keys *ks,
                               struct sc_config *c, const bool *owned, const char *suffix,
                               const char *what)
{
    stuck(t, c->num + 1);
    int checked = 0;
    for (int i = 0; i < ks->n; i++) {
        if (!owned[key_shard(c, ks->k[i])])
            continue;
        skt_check(ck, ks->k[i], ks->va[i]);
        char nv[32];
        snprintf(nv, sizeof nv, "%s%s", ks->va[i], suffix);
        skt_put(ck, ks->k[i], nv);
        set_va(ks, i, nv);
        skt_check(ck, ks->k[i], ks->va[i]);
        checked++;
    }
    SKT_EXPECT(t, checked > 0, "no key is on a shard of the table made from config %llu",
               (unsigned long long)c->num);
    stuck(t, c->num + 1);
    printf("  %d keys of %s (config %llu) read and written at gid 101 with gid 100 gone\n",
           checked, what, (unsigned long long)c->num);
    sc_config_free(c);
    keys_free(ks);
    skt_ck_free(ck);
    skt_free(t);
}

/* Is a group able to continue serving shards that it owns while it is stuck in a config
 * transition it cannot finish (the shards it gained from a group that is gone)? */
START_TEST(Challenge2Unaffected)
{
    struct skt *t = skt_new("Challenge2Unaffected", NULL, "unaffected shard access (challenge 2)",
                            true, 100, false);
    struct skt_ck *ck = skt_ck_new(t, NULL);
    struct keys ks;
    keys_init(&ks, 10);
    /* JOIN 100 */
    skt_join(t, 0);
    /* Do a bunch of puts to keys in all shards */
    put_all(ck, &ks, "100");
    /* JOIN 101 */
    skt_join(t, 1);
    /* QUERY to find shards now owned by 101 */
    bool owned[SKT_NSHARDS];
    struct sc_config *c = query_owned(t, SKT_GID(1), owned);
    /* Wait for migration to new config to complete, and for clients to next config */
    skt_sleep(1000);
    /* Now, set up this as the only group (the lab indexes owned by key index here, not by the
     * key's shard: kept, as harmless: gid 100 is still up and serves its keys) */
    for (int i = 0; i < ks.n; i++)
        if (owned[i]) {
            set_va(&ks, i, "101");
            skt_put(ck, ks.k[i], ks.va[i]);
        }
    /* KILL 100 */
    skt_shutdown_group(t, 0);
    /* LEAVE 100: 101 doesn't get a chance to migrate things previously owned by 100 */
    skt_leave(t, 0);
    /* Wait to make sure clients see new config */
    skt_sleep(1000);
    /* And finally: check that gets/puts for 101-owned keys still complete */
    last_step_and_free(t, ck, &ks, c, owned, "-1", "gid 101's shards");
}
END_TEST

/* ---- TestChallenge2Partial ------------------------------------------------------------------ */

/* Is a group able to serve the shards whose data has arrived while others never will? And
 * does a group that left the config keep answering migrations of what it held? */
START_TEST(Challenge2Partial)
{
    struct skt *t = skt_new("Challenge2Partial", NULL,
                            "partial migration shard access (challenge 2)", true, 100, false);
    struct skt_ck *ck = skt_ck_new(t, NULL);
    struct keys ks;
    keys_init(&ks, 10);
    /* JOIN 100 + 101 + 102 */
    const int all[3] = { 0, 1, 2 };
    skt_joinm(t, all, 3);
    /* Give the implementation some time to reconfigure */
    skt_sleep(1000);
    /* Do a bunch of puts to keys in all shards */
    put_all(ck, &ks, "100");
    /* QUERY to find shards owned by 102 */
    bool owned[SKT_NSHARDS];
    struct sc_config *c = query_owned(t, SKT_GID(2), owned);
    /* KILL 100 */
    skt_shutdown_group(t, 0);
    /* LEAVE 100 + 102: 101 can get old shards from 102, but not from 100; 101 should start
     * serving shards from 102 as soon as possible */
    const int gone[2] = { 0, 2 };
    skt_leavem(t, gone, 2);
    /* Give the implementation some time to start reconfiguration, and to migrate 102 -> 101 */
    skt_sleep(1000);
    /* And finally: check that gets/puts for formerly 102-owned keys still complete */
    last_step_and_free(t, ck, &ks, c, owned, "-2", "gid 102's former shards");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shardkv_challenge");
    TCase *tc = tcase_create("challenge");
    tcase_set_timeout(tc, 180); /* the lab's own rule (120 s) is checked inside each test */
    KV_ADD_TEST(tc, Challenge1Delete);
    KV_ADD_TEST(tc, Challenge2Unaffected);
    KV_ADD_TEST(tc, Challenge2Partial);
    suite_add_tcase(s, tc);
    return s;
}
