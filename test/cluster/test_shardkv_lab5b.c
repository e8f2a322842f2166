/* 6.5840 Lab 5B's shardkv tests (Spring 2024; /work/shared/LAB5-TESTS.md §3.5) on real
 * processes: a shardctrld controller and 3 groups of 3 shardkvd (test/shardkv/skvtest.h),
 * every link through test/cluster's fault proxies, with the lab's steps, sleeps, value sizes
 * and max_raft_state values. G0/G1/G2 are group indexes 0/1/2 (gids 100/101/102). The
 * Concurrent tests and Unreliable3 record every clerk operation and lincheck judges the
 * history (the Concurrent ones also check every key's final value, as the lab). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kv/labcheck.h"
#include "../shardkv/skvtest.h"
#include "base/clock.h"
#include "base/util.h"

#define N 30 /* the most keys a test uses (Snapshot5B) */

struct kv {
    struct skt *t;
    struct skt_ck *ck;
    int n;
    char key[N][16];
    char *va[N];
};

/* The lab's opening: a clerk, join(first), n keys put with len-character values. */
static void kv_init(struct kv *v, struct skt *t, int n, size_t len, bool check)
{
    v->t = t;
    v->n = n;
    v->ck = skt_ck_new(t, NULL);
    for (int i = 0; i < n; i++) {
        skt_key(i, v->key[i], sizeof v->key[i]);
        v->va[i] = skt_randstr(t, len);
        skt_put(v->ck, v->key[i], v->va[i]);
    }
    if (check)
        for (int i = 0; i < n; i++)
            skt_check(v->ck, v->key[i], v->va[i]);
}

static void kv_check_all(struct kv *v)
{
    for (int i = 0; i < v->n; i++)
        skt_check(v->ck, v->key[i], v->va[i]);
}

/* For each key: check, then Append len characters. */
static void kv_check_append(struct kv *v, size_t len)
{
    for (int i = 0; i < v->n; i++) {
        skt_check(v->ck, v->key[i], v->va[i]);
        char *x = skt_randstr(v->t, len);
        skt_append(v->ck, v->key[i], x);
        size_t a = strlen(v->va[i]);
        v->va[i] = xrealloc(v->va[i], a + len + 1);
        memcpy(v->va[i] + a, x, len + 1);
        free(x);
    }
}

static void kv_free(struct kv *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->va[i]);
    skt_ck_free(v->ck);
}

/* ---- TestJoinLeave5B -------------------------------------------------------------------- */

START_TEST(JoinLeave5B)
{
    struct skt *t = skt_new("JoinLeave5B", "5B", "join then leave", false, -1, false);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 10, 5, true);
    skt_join(t, 1);
    kv_check_append(&v, 5);
    skt_leave(t, 0);
    kv_check_append(&v, 5);
    skt_sleep(1000); /* allow time for shards to transfer */
    skt_checklogs(t);
    skt_shutdown_group(t, 0);
    kv_check_all(&v);
    kv_free(&v);
    skt_free(t);
}
END_TEST

/* ---- TestSnapshot5B --------------------------------------------------------------------- */

START_TEST(Snapshot5B)
{
    struct skt *t = skt_new("Snapshot5B", "5B", "snapshots, join, and leave", false, 1000, false);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 30, 20, true);
    skt_join(t, 1);
    skt_join(t, 2);
    skt_leave(t, 0);
    kv_check_append(&v, 20);
    skt_leave(t, 1);
    skt_join(t, 0);
    kv_check_append(&v, 20);
    skt_sleep(1000);
    kv_check_all(&v);
    skt_sleep(1000);
    skt_checklogs(t);
    skt_expect_snapshots(t); /* beyond the lab (skvtest.h) */
    for (int gi = 0; gi < 3; gi++)
        skt_shutdown_group(t, gi);
    for (int gi = 0; gi < 3; gi++)
        skt_start_group(t, gi);
    kv_check_all(&v);
    kv_free(&v);
    skt_free(t);
}
END_TEST

/* ---- TestMissChange5B ------------------------------------------------------------------- */

START_TEST(MissChange5B)
{
    struct skt *t = skt_new("MissChange5B", "5B", "servers miss configuration changes", false,
                            1000, false);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 10, 20, true);
    skt_join(t, 1);
    for (int gi = 0; gi < 3; gi++)
        skt_shutdown_server(t, gi, 0);
    skt_join(t, 2);
    skt_leave(t, 1);
    skt_leave(t, 0);
    kv_check_append(&v, 20);
    skt_join(t, 1);
    kv_check_append(&v, 20);
    for (int gi = 0; gi < 3; gi++)
        skt_start_server(t, gi, 0);
    kv_check_append(&v, 20);
    skt_sleep(2000);
    for (int gi = 0; gi < 3; gi++)
        skt_shutdown_server(t, gi, 1);
    skt_join(t, 0);
    skt_leave(t, 2);
    kv_check_append(&v, 20);
    for (int gi = 0; gi < 3; gi++)
        skt_start_server(t, gi, 1);
    kv_check_all(&v);
    kv_free(&v);
    skt_free(t);
}
END_TEST

/* ---- the concurrent tests ---------------------------------------------------------------- */

/* Stops the workers, checks every key's final value (each Append exactly once, in order) and
 * the whole history. */
static void end_concurrent(struct kv *v, struct skt_workers *w)
{
    skt_workers_stop(w);
    kv_check_all(v);
    skt_check_linearizable(v->t);
}

START_TEST(Concurrent1_5B)
{
    struct skt *t = skt_new("Concurrent1_5B", "5B", "concurrent puts and configuration changes",
                            false, 100, true);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 10, 5, false);
    struct skt_workers *w = skt_workers_start(t, 10, SKT_APPEND, 5, 10, v.va);
    skt_sleep(150);
    skt_join(t, 1);
    skt_sleep(500);
    skt_join(t, 2);
    skt_sleep(500);
    skt_leave(t, 0);
    skt_shutdown_group(t, 0);
    skt_sleep(100);
    skt_shutdown_group(t, 1);
    skt_sleep(100);
    skt_shutdown_group(t, 2);
    skt_leave(t, 2);
    skt_sleep(100);
    skt_start_group(t, 0);
    skt_start_group(t, 1);
    skt_start_group(t, 2);
    skt_sleep(100);
    skt_join(t, 0);
    skt_leave(t, 1);
    skt_sleep(500);
    skt_join(t, 1);
    skt_sleep(1000);
    end_concurrent(&v, w);
    kv_free(&v);
    skt_free(t);
}
END_TEST

/* The lab's comment: "the various sources from which a re-starting group might need to fetch
 * shard contents". */
START_TEST(Concurrent2_5B)
{
    struct skt *t = skt_new("Concurrent2_5B", "5B",
                            "more concurrent puts and configuration changes", false, -1, true);
    struct kv v;
    skt_join(t, 1);
    skt_join(t, 0);
    skt_join(t, 2);
    kv_init(&v, t, 10, 1, false);
    struct skt_workers *w = skt_workers_start(t, 10, SKT_APPEND, 1, 50, v.va);
    skt_leave(t, 0);
    skt_leave(t, 2);
    skt_sleep(3000);
    skt_join(t, 0);
    skt_join(t, 2);
    skt_leave(t, 1);
    skt_sleep(3000);
    skt_join(t, 1);
    skt_leave(t, 0);
    skt_leave(t, 2);
    skt_sleep(3000);
    skt_shutdown_group(t, 1);
    skt_shutdown_group(t, 2);
    skt_sleep(1000);
    skt_start_group(t, 1);
    skt_start_group(t, 2);
    skt_sleep(2000);
    end_concurrent(&v, w);
    kv_free(&v);
    skt_free(t);
}
END_TEST

START_TEST(Concurrent3_5B)
{
    struct skt *t = skt_new("Concurrent3_5B", "5B", "concurrent configuration change and restart",
                            false, 300, true);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 10, 1, false);
    struct skt_workers *w = skt_workers_start(t, 10, SKT_APPEND, 1, 0, v.va);
    uint64_t t0 = clock_mono_ms();
    int rounds = 0;
    while (clock_mono_ms() - t0 < 12000 && rounds < 1000) { /* 12 s, as the lab */
        rounds++;
        skt_join(t, 2);
        skt_join(t, 1);
        skt_sleep(rng_below(skt_rng(t), 900));
        for (int gi = 0; gi < 3; gi++)
            skt_shutdown_group(t, gi);
        for (int gi = 0; gi < 3; gi++)
            skt_start_group(t, gi);
        skt_sleep(rng_below(skt_rng(t), 900));
        skt_leave(t, 1);
        skt_leave(t, 2);
        skt_sleep(rng_below(skt_rng(t), 900));
    }
    printf("  %d rounds of join, full restart, leave in %.1f s\n", rounds,
           (clock_mono_ms() - t0) / 1e3);
    skt_sleep(2000);
    end_concurrent(&v, w);
    kv_free(&v);
    skt_free(t);
}
END_TEST

/* ---- the unreliable tests ----------------------------------------------------------------- */

START_TEST(Unreliable1_5B)
{
    struct skt *t = skt_new("Unreliable1_5B", "5B", "unreliable 1", true, 100, false);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 10, 5, false);
    skt_join(t, 1);
    skt_join(t, 2);
    skt_leave(t, 0);
    for (int ii = 0; ii < 20; ii++) {
        int i = ii % 10;
        skt_check(v.ck, v.key[i], v.va[i]);
        char *x = skt_randstr(t, 5);
        skt_append(v.ck, v.key[i], x);
        size_t a = strlen(v.va[i]);
        v.va[i] = xrealloc(v.va[i], a + 6);
        memcpy(v.va[i] + a, x, 6);
        free(x);
    }
    skt_join(t, 0);
    skt_leave(t, 1);
    for (int ii = 0; ii < 20; ii++) {
        int i = ii % 10;
        skt_check(v.ck, v.key[i], v.va[i]);
    }
    kv_free(&v);
    skt_free(t);
}
END_TEST

/* Unreliable2's and Unreliable3's reconfiguration schedule. */
static void unreliable_schedule(struct skt *t)
{
    skt_sleep(150);
    skt_join(t, 1);
    skt_sleep(500);
    skt_join(t, 2);
    skt_sleep(500);
    skt_leave(t, 0);
    skt_sleep(500);
    skt_leave(t, 1);
    skt_sleep(500);
    skt_join(t, 1);
    skt_join(t, 0);
    skt_sleep(2000);
}

START_TEST(Unreliable2_5B)
{
    struct skt *t = skt_new("Unreliable2_5B", "5B", "unreliable 2", true, 100, false);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 10, 5, false);
    struct skt_workers *w = skt_workers_start(t, 10, SKT_APPEND, 5, 0, v.va);
    unreliable_schedule(t);
    skt_workers_done(w);
    skt_set_unreliable(t, false);
    skt_workers_stop(w);
    kv_check_all(&v);
    kv_free(&v);
    skt_free(t);
}
END_TEST

START_TEST(Unreliable3_5B)
{
    struct skt *t = skt_new("Unreliable3_5B", "5B", "unreliable 3", true, 100, true);
    struct kv v;
    skt_join(t, 0);
    kv_init(&v, t, 10, 5, false); /* recorded: client 0's Puts */
    struct skt_workers *w = skt_workers_start(t, 10, SKT_MIX, 5, 0, v.va);
    unreliable_schedule(t);
    skt_workers_done(w);
    skt_set_unreliable(t, false);
    skt_workers_stop(w);
    skt_check_linearizable(t);
    kv_free(&v);
    skt_free(t);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shardkv_lab5b");
    TCase *tc = tcase_create("5B");
    tcase_set_timeout(tc, 180); /* the lab's own rule (120 s) is checked inside each test */
    KV_ADD_TEST(tc, JoinLeave5B);
    KV_ADD_TEST(tc, Snapshot5B);
    KV_ADD_TEST(tc, MissChange5B);
    KV_ADD_TEST(tc, Concurrent1_5B);
    KV_ADD_TEST(tc, Concurrent2_5B);
    KV_ADD_TEST(tc, Concurrent3_5B);
    KV_ADD_TEST(tc, Unreliable1_5B);
    KV_ADD_TEST(tc, Unreliable2_5B);
    KV_ADD_TEST(tc, Unreliable3_5B);
    suite_add_tcase(s, tc);
    return s;
}
