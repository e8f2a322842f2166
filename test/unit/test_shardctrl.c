/* lib/shardctrl's state machine against shardctrl.h's contract — config 0, queries of the
 * latest / past the latest / old configs, server lists verbatim, refusals (BAD_REQUEST, a message,
 * nothing changed), at-most-once writes, the shard-count rule, group sharing that keeps old
 * configs intact — and its codec (codec.h): commands round-trip, garbage in the log changes
 * nothing, invalid replies and snapshots are refused with the state left as it was. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardctrl.pb-c.h"
#include "shardctrl/codec.h"
#include "shardctrl/shardctrl.h"
#include "shardctrl_testlib.h"

static const struct tl_w NOSESSION = { 0, 0, 0 };

static uint64_t gid_count(const struct sc_config *c, uint32_t gid)
{
    uint64_t n = 0;
    for (uint32_t s = 0; s < c->n_shards; s++)
        n += c->shards[s] == gid;
    return n;
}

static void snapshot(const struct shardctrl *sc, uint8_t **data, size_t *len)
{
    sc_codec_snapshot(sc, data, len);
    ck_assert_ptr_nonnull(*data);
}

/* Asserts sc's snapshot is still the bytes (data, len). */
static void assert_snapshot_is(const struct shardctrl *sc, const uint8_t *data, size_t len,
                               const char *what)
{
    uint8_t *now;
    size_t n;
    snapshot(sc, &now, &n);
    ck_assert_msg(n == len && memcmp(now, data, n) == 0, "%s: the state changed", what);
    free(now);
}

START_TEST(test_config_zero)
{
    uint32_t counts[] = { 1, SC_DEFAULT_SHARDS, 777, SC_MAX_SHARDS };
    for (size_t i = 0; i < 4; i++) {
        struct shardctrl *sc = shardctrl_new(counts[i]);
        ck_assert_uint_eq(shardctrl_n_shards(sc), counts[i]);
        ck_assert(!shardctrl_fixed(sc));
        ck_assert_uint_eq(shardctrl_latest(sc), 0);
        int64_t nums[] = { 0, -1, 1, 1000, INT64_MAX };
        for (size_t j = 0; j < 5; j++) {
            const struct sc_config *c = shardctrl_query(sc, nums[j]);
            ck_assert_ptr_nonnull(c);
            ck_assert_uint_eq(c->num, 0);
            ck_assert_uint_eq(c->n_shards, counts[i]);
            ck_assert_uint_eq(c->n_groups, 0);
            ck_assert_uint_eq(gid_count(c, 0), counts[i]);
            struct sc_result r = tl_query(sc, nums[j]);
            ck_assert_int_eq(r.err, SC_OK);
            ck_assert_ptr_eq(r.config, c);
        }
        shardctrl_free(sc);
    }
}
END_TEST

/* Query(-1) and anything past the latest give the latest; Query(i) gives config i exactly as it
 * was made, after many writes. */
START_TEST(test_query_history)
{
    struct shardctrl *sc = shardctrl_new(10);
    struct sc_config *made[40];
    made[0] = sc_config_copy(shardctrl_query(sc, 0));
    for (uint64_t i = 1; i < 40; i++) {
        uint32_t gid = 1 + (uint32_t)(i % 6);
        struct sc_result r;
        if (i % 5 == 4 && shardctrl_query(sc, -1)->n_groups > 0)
            r = tl_move(sc, (uint32_t)i % 10, shardctrl_query(sc, -1)->groups[0]->gid, NOSESSION);
        else if (sc_config_group(shardctrl_query(sc, -1), gid))
            r = tl_leave(sc, &gid, 1, NOSESSION);
        else
            r = tl_join(sc, &gid, 1, NOSESSION);
        ck_assert_msg(r.err == SC_OK, "write %" PRIu64 ": %s", i, r.error);
        ck_assert_uint_eq(r.num, i);
        made[i] = sc_config_copy(shardctrl_query(sc, -1));
        ck_assert_uint_eq(made[i]->num, i);
    }
    ck_assert_uint_eq(shardctrl_latest(sc), 39);
    for (int64_t i = 0; i < 40; i++) {
        const char *d = tl_config_diff(shardctrl_query(sc, i), made[i]);
        ck_assert_msg(!d, "Query(%" PRId64 "): %s", i, d);
        struct sc_result r = tl_query(sc, i);
        ck_assert_int_eq(r.err, SC_OK);
        ck_assert_ptr_null(tl_config_diff(r.config, made[i]));
    }
    int64_t latest[] = { -1, 40, 41, 1 << 30, INT64_MAX };
    for (size_t i = 0; i < 5; i++) {
        ck_assert_ptr_null(tl_config_diff(shardctrl_query(sc, latest[i]), made[39]));
        struct sc_result r = tl_query(sc, latest[i]);
        ck_assert_ptr_null(tl_config_diff(r.config, made[39]));
    }
    /* Config 0 after all that. */
    const struct sc_config *c0 = shardctrl_query(sc, 0);
    ck_assert_uint_eq(c0->num, 0);
    ck_assert_uint_eq(c0->n_groups, 0);
    ck_assert_uint_eq(gid_count(c0, 0), 10);
    /* Queries made no configs. */
    ck_assert_uint_eq(shardctrl_latest(sc), 39);
    for (int i = 0; i < 40; i++)
        sc_config_free(made[i]);
    shardctrl_free(sc);
}
END_TEST

/* Server lists are kept verbatim and in order: duplicates, odd characters, an unsorted order,
 * groups given in one Join out of gid order; and they are copies of the caller's strings. */
START_TEST(test_servers_verbatim)
{
    struct shardctrl *sc = shardctrl_new(10);
    char b1[16] = "zeta:1", b2[16] = "b", b3[16] = "b";
    const char *s3[] = { b1, b2, b3 };
    const char *s1[] = { "[::1]:7001", "127.0.0.2:7002", "alpha" };
    const char *s2[] = { "only one, with spaces" };
    struct sc_join_group jg[] = { { 30, s3, 3 }, { 10, s1, 3 }, { 20, s2, 1 } };
    struct sc_cmd c;
    memset(&c, 0, sizeof c);
    c.op = SC_OP_JOIN;
    c.groups = jg;
    c.n_groups = 3;
    struct sc_result r;
    shardctrl_apply(sc, &c, &r);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 1);
    strcpy(b1, "changed");
    strcpy(b2, "changed");
    const struct sc_config *c1 = shardctrl_query(sc, 1);
    ck_assert_uint_eq(c1->n_groups, 3);
    ck_assert_uint_eq(c1->groups[0]->gid, 10);
    ck_assert_uint_eq(c1->groups[1]->gid, 20);
    ck_assert_uint_eq(c1->groups[2]->gid, 30);
    const struct sc_group *g30 = sc_config_group(c1, 30), *g10 = sc_config_group(c1, 10);
    ck_assert_ptr_eq(g30, c1->groups[2]);
    ck_assert_uint_eq(g30->gid, 30);
    ck_assert_uint_eq(g30->n_servers, 3);
    ck_assert_str_eq(g30->servers[0], "zeta:1");
    ck_assert_str_eq(g30->servers[1], "b");
    ck_assert_str_eq(g30->servers[2], "b");
    ck_assert_uint_eq(g10->n_servers, 3);
    ck_assert_str_eq(g10->servers[0], "[::1]:7001");
    ck_assert_str_eq(g10->servers[1], "127.0.0.2:7002");
    ck_assert_str_eq(g10->servers[2], "alpha");
    ck_assert_str_eq(sc_config_group(c1, 20)->servers[0], "only one, with spaces");
    ck_assert_ptr_null(sc_config_group(c1, 0));
    ck_assert_ptr_null(sc_config_group(c1, 15));
    ck_assert_ptr_null(sc_config_group(c1, 31));
    /* 10 shards over 3 groups from nothing: 4/3/3. */
    ck_assert_uint_eq(gid_count(c1, 10) + gid_count(c1, 20) + gid_count(c1, 30), 10);
    ck_assert_uint_le(gid_count(c1, 10), 4);
    ck_assert_uint_ge(gid_count(c1, 30), 3);
    /* Through the codec (a Query's Reply, decoded as a clerk does): the same lists. */
    uint8_t *reply;
    size_t len;
    sc_codec_query(sc, 1, &reply, &len);
    struct sc_reply rep;
    ck_assert_int_eq(sc_codec_decode_reply(reply, len, &rep), 0);
    ck_assert_int_eq(rep.err, 0);
    ck_assert_ptr_nonnull(rep.config);
    const char *d = tl_config_diff(rep.config, c1);
    ck_assert_msg(!d, "%s", d);
    sc_config_free(rep.config);
    free(reply);
    shardctrl_free(sc);
}
END_TEST

/* Applies c expecting a refusal that changes nothing (snapshot bytes identical: no session). */
static void expect_refused(struct shardctrl *sc, const struct sc_cmd *c, const char *what)
{
    uint8_t *before;
    size_t len;
    snapshot(sc, &before, &len);
    uint64_t latest = shardctrl_latest(sc);
    struct sc_result r;
    memset(&r, 0x5A, sizeof r);
    shardctrl_apply(sc, c, &r);
    ck_assert_msg(r.err == SC_BAD_REQUEST, "%s: err %d, not BAD_REQUEST", what, r.err);
    ck_assert_msg(r.error[0] != '\0' && memchr(r.error, '\0', sizeof r.error),
                  "%s: no message", what);
    ck_assert_msg(r.num == 0, "%s: num %" PRIu64, what, r.num);
    ck_assert_msg(shardctrl_latest(sc) == latest, "%s: made a config", what);
    assert_snapshot_is(sc, before, len, what);
    free(before);
}

START_TEST(test_refusals)
{
    struct shardctrl *sc = shardctrl_new(10);
    uint32_t g12[] = { 1, 2 };
    ck_assert_int_eq(tl_join(sc, g12, 2, NOSESSION).err, SC_OK);
    struct tl_join *j = malloc(sizeof *j);
    uint32_t gids[4];
    struct sc_cmd c;

    gids[0] = 9;
    c = tl_leave_cmd(gids, 1, NOSESSION);
    expect_refused(sc, &c, "leave of an unknown gid");
    gids[0] = 1, gids[1] = 9;
    c = tl_leave_cmd(gids, 2, NOSESSION);
    expect_refused(sc, &c, "leave of a known and an unknown gid");
    gids[0] = 0;
    c = tl_leave_cmd(gids, 1, NOSESSION);
    expect_refused(sc, &c, "leave of gid 0");

    c = tl_move_cmd(3, 9, NOSESSION);
    expect_refused(sc, &c, "move to an unknown gid");
    c = tl_move_cmd(3, 0, NOSESSION);
    expect_refused(sc, &c, "move to gid 0");
    c = tl_move_cmd(10, 1, NOSESSION);
    expect_refused(sc, &c, "move of shard n_shards");
    c = tl_move_cmd(UINT32_MAX, 1, NOSESSION);
    expect_refused(sc, &c, "move of shard 2^32-1");

    gids[0] = 0;
    c = tl_join_cmd(j, gids, 1, NOSESSION);
    expect_refused(sc, &c, "join of gid 0");
    gids[0] = 5, gids[1] = 0;
    c = tl_join_cmd(j, gids, 2, NOSESSION);
    expect_refused(sc, &c, "join of a good gid and gid 0");
    gids[0] = 5, gids[1] = 6, gids[2] = 5;
    c = tl_join_cmd(j, gids, 3, NOSESSION);
    expect_refused(sc, &c, "join of a gid twice in one call");
    gids[0] = 2;
    c = tl_join_cmd(j, gids, 1, NOSESSION);
    expect_refused(sc, &c, "join of a gid already there");
    gids[0] = 7, gids[1] = 1;
    c = tl_join_cmd(j, gids, 2, NOSESSION);
    expect_refused(sc, &c, "join of a new gid and one already there");
    gids[0] = 7, gids[1] = 8;
    c = tl_join_cmd(j, gids, 2, NOSESSION);
    j->groups[1].n_servers = 0;
    expect_refused(sc, &c, "join of a group without servers");
    j->groups[0].n_servers = 0;
    c.n_groups = 1;
    expect_refused(sc, &c, "join of a lone group without servers");

    /* A controller with no groups refuses moves (no gid is known). */
    struct shardctrl *empty = shardctrl_new(10);
    c = tl_move_cmd(0, 1, NOSESSION);
    expect_refused(empty, &c, "move with no groups");
    shardctrl_free(empty);

    /* And after all that the controller still works: the refused gids were not half-applied. */
    gids[0] = 5, gids[1] = 6;
    struct sc_result r = tl_join(sc, gids, 2, NOSESSION);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 2);
    ck_assert_uint_eq(shardctrl_query(sc, -1)->n_groups, 4);
    free(j);
    shardctrl_free(sc);
}
END_TEST

START_TEST(test_at_most_once)
{
    struct shardctrl *sc = shardctrl_new(10);
    uint32_t g1[] = { 1 }, g2[] = { 2 }, g5[] = { 5 };
    struct tl_w w71 = { 7, 1, 0 }, w72 = { 7, 2, 0 };
    struct sc_result r = tl_join(sc, g1, 1, w71);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 1);
    /* The same write again (a retry): the first reply, no config. */
    r = tl_join(sc, g1, 1, w71);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 1);
    ck_assert_uint_eq(shardctrl_latest(sc), 1);
    /* A different command under the same (client, seq) is that write again too. */
    r = tl_join(sc, g2, 1, w71);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 1);
    ck_assert_ptr_null(sc_config_group(shardctrl_query(sc, -1), 2));
    r = tl_move(sc, 0, 1, w72);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 2);
    /* An older seq: STALE, not executed. */
    r = tl_join(sc, g2, 1, w71);
    ck_assert_int_eq(r.err, SC_STALE);
    ck_assert_uint_eq(shardctrl_latest(sc), 2);
    ck_assert_ptr_null(sc_config_group(shardctrl_query(sc, -1), 2));
    /* Another client is independent. */
    r = tl_join(sc, g2, 1, (struct tl_w){ 8, 1, 0 });
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 3);

    /* A refusal is the write's reply: repeated after it would succeed, still the refusal. */
    struct tl_w w91 = { 9, 1, 0 };
    r = tl_leave(sc, g5, 1, w91);
    ck_assert_int_eq(r.err, SC_BAD_REQUEST);
    char msg[sizeof r.error];
    strcpy(msg, r.error);
    ck_assert_uint_eq(shardctrl_latest(sc), 3);
    ck_assert_int_eq(tl_join(sc, g5, 1, (struct tl_w){ 10, 1, 0 }).err, SC_OK);
    ck_assert_uint_eq(shardctrl_latest(sc), 4);
    r = tl_leave(sc, g5, 1, w91);
    ck_assert_int_eq(r.err, SC_BAD_REQUEST);
    ck_assert_str_eq(r.error, msg);
    ck_assert_uint_eq(r.num, 0);
    ck_assert_uint_eq(shardctrl_latest(sc), 4);
    ck_assert_ptr_nonnull(sc_config_group(shardctrl_query(sc, -1), 5));

    /* Client id 0: no session; the same Move twice makes two configs, and no client is kept. */
    struct sc_stats st;
    shardctrl_stats(sc, &st);
    ck_assert_uint_eq(st.clients, 4);
    ck_assert_uint_eq(st.configs, 5);
    ck_assert_int_eq(tl_move(sc, 0, 2, NOSESSION).num, 5);
    ck_assert_int_eq(tl_move(sc, 0, 2, NOSESSION).num, 6);
    shardctrl_stats(sc, &st);
    ck_assert_uint_eq(st.clients, 4);
    ck_assert_uint_eq(st.configs, 7);

    /* The sessions travel in the snapshot: a restored controller answers the retry the same. */
    uint8_t *snap;
    size_t len;
    snapshot(sc, &snap, &len);
    struct shardctrl *re = shardctrl_new(10);
    ck_assert_int_eq(sc_codec_restore(re, snap, len), 0);
    r = tl_move(re, 0, 1, w72);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 2);
    ck_assert_int_eq(tl_join(re, g2, 1, w71).err, SC_STALE);
    r = tl_leave(re, g5, 1, w91);
    ck_assert_int_eq(r.err, SC_BAD_REQUEST);
    ck_assert_str_eq(r.error, msg);
    ck_assert_uint_eq(shardctrl_latest(re), 6);
    free(snap);
    shardctrl_free(re);
    shardctrl_free(sc);
}
END_TEST

START_TEST(test_shard_count_rule)
{
    uint32_t g1[] = { 1 }, g2[] = { 2 }, g3[] = { 3 };
    /* A Query does not fix the count; the first write does, to the count it carries. */
    struct shardctrl *a = shardctrl_new(10), *b = shardctrl_new(16), *c = shardctrl_new(3);
    struct shardctrl *reps[] = { a, b, c };
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tl_query(reps[i], -1).err, SC_OK);
        ck_assert(!shardctrl_fixed(reps[i]));
        struct sc_result r = tl_join(reps[i], g1, 1, (struct tl_w){ 1, 1, 16 });
        ck_assert_msg(r.err == SC_OK, "replica %d: %s", i, r.error);
        ck_assert(shardctrl_fixed(reps[i]));
        ck_assert_uint_eq(shardctrl_n_shards(reps[i]), 16);
        ck_assert_uint_eq(shardctrl_query(reps[i], -1)->n_shards, 16);
        /* Another count: refused, nothing made. */
        r = tl_join(reps[i], g2, 1, (struct tl_w){ 1, 2, 10 });
        ck_assert_int_eq(r.err, SC_BAD_REQUEST);
        ck_assert(r.error[0] != '\0');
        ck_assert_uint_eq(shardctrl_latest(reps[i]), 1);
        ck_assert_uint_eq(shardctrl_n_shards(reps[i]), 16);
        /* 0 (unknown) and the same count: accepted. */
        ck_assert_int_eq(tl_join(reps[i], g2, 1, (struct tl_w){ 1, 3, 0 }).err, SC_OK);
        ck_assert_int_eq(tl_join(reps[i], g3, 1, (struct tl_w){ 1, 4, 16 }).err, SC_OK);
        ck_assert_uint_eq(shardctrl_latest(reps[i]), 3);
    }
    /* Replicas started with different counts agree, config 0 included, byte for byte. */
    const char *d = tl_history_diff(a, b);
    ck_assert_msg(!d, "%s", d);
    d = tl_history_diff(a, c);
    ck_assert_msg(!d, "%s", d);
    ck_assert_uint_eq(shardctrl_query(a, 0)->n_shards, 16);
    ck_assert(tl_snapshots_equal(a, b));
    ck_assert(tl_snapshots_equal(a, c));
    /* The fixed count travels in the snapshot. */
    uint8_t *snap;
    size_t len;
    snapshot(a, &snap, &len);
    struct shardctrl *re = shardctrl_new(5);
    ck_assert_int_eq(sc_codec_restore(re, snap, len), 0);
    ck_assert(shardctrl_fixed(re));
    ck_assert_uint_eq(shardctrl_n_shards(re), 16);
    ck_assert_int_eq(tl_move(re, 0, 1, (struct tl_w){ 2, 1, 5 }).err, SC_BAD_REQUEST);
    ck_assert_int_eq(tl_move(re, 15, 1, (struct tl_w){ 2, 2, 16 }).err, SC_OK);
    free(snap);
    for (int i = 0; i < 3; i++)
        shardctrl_free(reps[i]);
    shardctrl_free(re);

    /* A first write carrying 0 is accepted with the controller's own count, and fixes it. */
    a = shardctrl_new(10);
    ck_assert_int_eq(tl_join(a, g1, 1, NOSESSION).err, SC_OK);
    ck_assert_uint_eq(shardctrl_n_shards(a), 10);
    ck_assert(shardctrl_fixed(a));
    ck_assert_int_eq(tl_join(a, g2, 1, (struct tl_w){ 0, 0, 12 }).err, SC_BAD_REQUEST);
    ck_assert_uint_eq(shardctrl_latest(a), 1);
    shardctrl_free(a);

    /* A count beyond SC_MAX_SHARDS can not become the controller's (shardctrl_new's range). */
    a = shardctrl_new(10);
    struct sc_result r = tl_join(a, g1, 1, (struct tl_w){ 0, 0, SC_MAX_SHARDS + 1 });
    ck_assert_int_eq(r.err, SC_BAD_REQUEST);
    ck_assert_uint_eq(shardctrl_latest(a), 0);
    ck_assert_uint_le(shardctrl_n_shards(a), SC_MAX_SHARDS);
    shardctrl_free(a);
}
END_TEST

/* A refused write changes nothing, the shard count included: the first write that is refused
 * (here: a Move with no groups, carrying another count) neither fixes the count nor remakes
 * config 0 with the count it carried. */
START_TEST(test_refused_first_write_fixes_nothing)
{
    struct shardctrl *sc = shardctrl_new(10);
    struct sc_result r = tl_move(sc, 0, 1, (struct tl_w){ 0, 0, 16 });
    ck_assert_int_eq(r.err, SC_BAD_REQUEST);
    ck_assert_msg(!shardctrl_fixed(sc), "a refused write fixed the shard count");
    ck_assert_msg(shardctrl_n_shards(sc) == 10 && shardctrl_query(sc, 0)->n_shards == 10,
                  "a refused write changed the shard count to %u (config 0: %u shards)",
                  shardctrl_n_shards(sc), shardctrl_query(sc, 0)->n_shards);
    /* So the first write that applies still sets it. */
    uint32_t g1[] = { 1 };
    ck_assert_int_eq(tl_join(sc, g1, 1, (struct tl_w){ 0, 0, 12 }).err, SC_OK);
    ck_assert_uint_eq(shardctrl_n_shards(sc), 12);
    shardctrl_free(sc);
}
END_TEST

/* Configs share groups; leaving, rejoining and freeing intermediate copies must leave every old
 * config exactly as made. And a group kept by the next config is the same group (shared). */
START_TEST(test_group_sharing)
{
    struct shardctrl *sc = shardctrl_new(10);
    struct sc_config *made[16];
    size_t n = 0;
    made[n++] = sc_config_copy(shardctrl_query(sc, 0));
    uint32_t g123[] = { 1, 2, 3 }, g4[] = { 4 }, g2[] = { 2 }, g13[] = { 1, 3 }, g24[] = { 2, 4 };
#define STEP(call)                                                                                 \
    do {                                                                                           \
        struct sc_result r_ = call;                                                                \
        ck_assert_msg(r_.err == SC_OK, "%s", r_.error);                                            \
        made[n++] = sc_config_copy(shardctrl_query(sc, -1));                                       \
    } while (0)
    STEP(tl_join(sc, g123, 3, NOSESSION));
    STEP(tl_join(sc, g4, 1, NOSESSION));
    STEP(tl_leave(sc, g2, 1, NOSESSION));
    STEP(tl_move(sc, 0, 4, NOSESSION));
    STEP(tl_leave(sc, g13, 2, NOSESSION));
    STEP(tl_join(sc, g2, 1, NOSESSION));
    STEP(tl_join(sc, g13, 2, NOSESSION));
    STEP(tl_leave(sc, g24, 2, NOSESSION));
    STEP(tl_leave(sc, g13, 2, NOSESSION));
#undef STEP
    ck_assert_uint_eq(shardctrl_query(sc, -1)->n_groups, 0);
    ck_assert_uint_eq(gid_count(shardctrl_query(sc, -1), 0), 10);
    for (size_t i = 0; i < n; i++) {
        const char *d = tl_config_diff(shardctrl_query(sc, (int64_t)i), made[i]);
        ck_assert_msg(!d, "config %zu: %s", i, d);
        d = tl_config_servers_check(made[i]);
        ck_assert_msg(!d, "%s", d);
    }
    /* Kept groups are shared, not copied per config. */
    ck_assert_ptr_eq(sc_config_group(shardctrl_query(sc, 1), 1),
                     sc_config_group(shardctrl_query(sc, 2), 1));
    ck_assert_ptr_eq(sc_config_group(shardctrl_query(sc, 2), 4),
                     sc_config_group(shardctrl_query(sc, 5), 4));
    /* A copy outlives the controller. */
    struct sc_config *copy = sc_config_copy(shardctrl_query(sc, 2));
    shardctrl_free(sc);
    ck_assert_ptr_null(tl_config_diff(copy, made[2]));
    sc_config_free(copy);
    sc_config_free(NULL);
    for (size_t i = 0; i < n; i++)
        sc_config_free(made[i]);
}
END_TEST

/* ---- the codec ---- */

static void assert_cmd_equal(const struct sc_cmd *a, const struct sc_cmd *b)
{
    ck_assert_int_eq(a->op, b->op);
    ck_assert_uint_eq(a->client_id, b->client_id);
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_uint_eq(a->n_shards, b->n_shards);
    switch (a->op) {
    case SC_OP_QUERY:
        ck_assert_int_eq(a->num, b->num);
        break;
    case SC_OP_JOIN:
        ck_assert_uint_eq(a->n_groups, b->n_groups);
        for (size_t g = 0; g < a->n_groups; g++) {
            ck_assert_uint_eq(a->groups[g].gid, b->groups[g].gid);
            ck_assert_uint_eq(a->groups[g].n_servers, b->groups[g].n_servers);
            for (size_t i = 0; i < a->groups[g].n_servers; i++)
                ck_assert_str_eq(a->groups[g].servers[i], b->groups[g].servers[i]);
        }
        break;
    case SC_OP_LEAVE:
        ck_assert_uint_eq(a->n_gids, b->n_gids);
        for (size_t i = 0; i < a->n_gids; i++)
            ck_assert_uint_eq(a->gids[i], b->gids[i]);
        break;
    case SC_OP_MOVE:
        ck_assert_uint_eq(a->shard, b->shard);
        ck_assert_uint_eq(a->gid, b->gid);
        break;
    }
}

static void round_trip(const struct sc_cmd *c)
{
    uint8_t *buf;
    size_t len;
    sc_codec_encode_cmd(c, &buf, &len);
    struct sc_codec_cmd d;
    ck_assert_int_eq(sc_codec_decode_cmd(buf, len, &d), 0);
    assert_cmd_equal(c, &d.cmd);
    sc_codec_cmd_release(&d);
    free(buf);
}

START_TEST(test_codec_cmd_round_trip)
{
    struct tl_join *j = malloc(sizeof *j);
    uint32_t gids[] = { 9, 1, UINT32_MAX, 44 };
    struct tl_w w = { UINT64_MAX, UINT64_MAX - 1, SC_MAX_SHARDS };
    struct sc_cmd c = tl_join_cmd(j, gids, 4, w);
    round_trip(&c);
    c = tl_join_cmd(j, gids, 1, NOSESSION);
    round_trip(&c);
    c = tl_leave_cmd(gids, 4, (struct tl_w){ 3, 4, 10 });
    round_trip(&c);
    c = tl_move_cmd(16383, UINT32_MAX, (struct tl_w){ 1, 1, 0 });
    round_trip(&c);
    int64_t nums[] = { -1, 0, 7, INT64_MAX };
    for (size_t i = 0; i < 4; i++) {
        memset(&c, 0, sizeof c);
        c.op = SC_OP_QUERY;
        c.num = nums[i];
        round_trip(&c);
    }
    /* Not a Command, and a Command naming no known op. */
    struct sc_codec_cmd d;
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    ck_assert_int_eq(sc_codec_decode_cmd(junk, sizeof junk, &d), -1);
    Shardctrl__Command pb = SHARDCTRL__COMMAND__INIT;
    pb.op = (Shardctrl__OpType)9;
    uint8_t buf[64];
    size_t len = shardctrl__command__pack(&pb, buf);
    ck_assert_int_eq(sc_codec_decode_cmd(buf, len, &d), -1);
    free(j);
}
END_TEST

/* A controller with a few configs and sessions. */
static struct shardctrl *busy_controller(void)
{
    struct shardctrl *sc = shardctrl_new(10);
    uint32_t g123[] = { 1, 2, 3 }, g2[] = { 2 };
    ck_assert_int_eq(tl_join(sc, g123, 3, (struct tl_w){ 1, 1, 10 }).err, SC_OK);
    ck_assert_int_eq(tl_leave(sc, g2, 1, (struct tl_w){ 2, 1, 10 }).err, SC_OK);
    ck_assert_int_eq(tl_move(sc, 9, 1, (struct tl_w){ 1, 2, 10 }).err, SC_OK);
    ck_assert_int_eq(tl_join(sc, g2, 1, (struct tl_w){ 3, 5, 10 }).err, SC_OK);
    return sc;
}

START_TEST(test_codec_apply)
{
    struct shardctrl *sc = busy_controller();
    uint8_t *before, *reply;
    size_t len, rlen;
    snapshot(sc, &before, &len);
    /* Garbage from the log: a BAD_REQUEST reply, nothing changed. */
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    sc_codec_apply(sc, junk, sizeof junk, &reply, &rlen);
    struct sc_reply rep;
    ck_assert_int_eq(sc_codec_decode_reply(reply, rlen, &rep), 0);
    ck_assert_int_eq(rep.err, SHARDCTRL__ERR__BAD_REQUEST);
    ck_assert(rep.error[0] != '\0');
    ck_assert_ptr_null(rep.config);
    free(reply);
    assert_snapshot_is(sc, before, len, "garbage applied");
    /* A truncated real command: the same. */
    uint32_t g7[] = { 7 };
    struct tl_join *j = malloc(sizeof *j);
    struct sc_cmd c = tl_join_cmd(j, g7, 1, (struct tl_w){ 5, 1, 10 });
    uint8_t *cmd;
    size_t clen;
    sc_codec_encode_cmd(&c, &cmd, &clen);
    sc_codec_apply(sc, cmd, 5, &reply, &rlen); /* inside the first group */
    ck_assert_int_eq(sc_codec_decode_reply(reply, rlen, &rep), 0);
    ck_assert_int_eq(rep.err, SHARDCTRL__ERR__BAD_REQUEST);
    free(reply);
    assert_snapshot_is(sc, before, len, "truncated command applied");
    /* The whole command: a config. */
    sc_codec_apply(sc, cmd, clen, &reply, &rlen);
    ck_assert_int_eq(sc_codec_decode_reply(reply, rlen, &rep), 0);
    ck_assert_int_eq(rep.err, 0);
    ck_assert_uint_eq(rep.num, 5);
    ck_assert_ptr_null(rep.config);
    free(reply);
    ck_assert_uint_eq(shardctrl_latest(sc), 5);
    /* Its retry: the same reply bytes. */
    uint8_t *again;
    size_t alen;
    sc_codec_apply(sc, cmd, clen, &reply, &rlen);
    sc_codec_apply(sc, cmd, clen, &again, &alen);
    ck_assert(rlen == alen && memcmp(reply, again, rlen) == 0);
    ck_assert_int_eq(sc_codec_decode_reply(again, alen, &rep), 0);
    ck_assert_uint_eq(rep.num, 5);
    ck_assert_uint_eq(shardctrl_latest(sc), 5);
    free(reply);
    free(again);
    /* A Query through the log and through sc_codec_query: the config itself. */
    memset(&c, 0, sizeof c);
    c.op = SC_OP_QUERY;
    c.num = 2;
    free(cmd);
    sc_codec_encode_cmd(&c, &cmd, &clen);
    sc_codec_apply(sc, cmd, clen, &reply, &rlen);
    ck_assert_int_eq(sc_codec_decode_reply(reply, rlen, &rep), 0);
    ck_assert_int_eq(rep.err, 0);
    const char *d = tl_config_diff(rep.config, shardctrl_query(sc, 2));
    ck_assert_msg(!d, "%s", d);
    sc_config_free(rep.config);
    free(reply);
    sc_codec_query(sc, -1, &reply, &rlen);
    ck_assert_int_eq(sc_codec_decode_reply(reply, rlen, &rep), 0);
    d = tl_config_diff(rep.config, shardctrl_query(sc, 5));
    ck_assert_msg(!d, "%s", d);
    sc_config_free(rep.config);
    free(reply);
    free(cmd);
    free(before);
    free(j);
    shardctrl_free(sc);
}
END_TEST

/* A Reply carrying a config built by hand. */
static size_t reply_with(uint32_t *shards, size_t n_shards, const uint32_t *gids, size_t n_groups,
                         uint8_t *buf)
{
    static char s0[] = "a:1";
    static char *servers[] = { s0 };
    Shardctrl__Group groups[8], *gp[8];
    for (size_t i = 0; i < n_groups; i++) {
        shardctrl__group__init(&groups[i]);
        groups[i].gid = gids[i];
        groups[i].n_servers = 1;
        groups[i].servers = servers;
        gp[i] = &groups[i];
    }
    Shardctrl__Config cfg = SHARDCTRL__CONFIG__INIT;
    cfg.num = 3;
    cfg.n_shards = n_shards;
    cfg.shards = shards;
    cfg.n_groups = n_groups;
    cfg.groups = gp;
    Shardctrl__Reply r = SHARDCTRL__REPLY__INIT;
    r.config = &cfg;
    return shardctrl__reply__pack(&r, buf);
}

START_TEST(test_decode_reply_refuses_invalid_config)
{
    uint8_t buf[512];
    struct sc_reply rep;
    uint32_t shards[4] = { 1, 2, 1, 2 }, g12[] = { 1, 2 }, g21[] = { 2, 1 }, g11[] = { 1, 1 };
    size_t len = reply_with(shards, 4, g12, 2, buf);
    ck_assert_int_eq(sc_codec_decode_reply(buf, len, &rep), 0); /* the valid one */
    ck_assert_ptr_nonnull(rep.config);
    ck_assert_uint_eq(rep.config->num, 3);
    ck_assert_uint_eq(rep.config->n_shards, 4);
    ck_assert_uint_eq(rep.config->n_groups, 2);
    ck_assert_str_eq(sc_config_group(rep.config, 2)->servers[0], "a:1");
    sc_config_free(rep.config);
    /* Groups out of order, or twice: the shards all on gid 1, so only the order is wrong. */
    uint32_t on1[4] = { 1, 1, 1, 1 };
    len = reply_with(on1, 4, g21, 2, buf);
    ck_assert_int_eq(sc_codec_decode_reply(buf, len, &rep), -2);
    ck_assert_msg(strstr(rep.error, "ascending"), "why: %s", rep.error);
    len = reply_with(on1, 4, g11, 2, buf);
    ck_assert_int_eq(sc_codec_decode_reply(buf, len, &rep), -2);
    len = reply_with(on1, 4, g12, 2, buf); /* valid: group 2 with no shard */
    ck_assert_int_eq(sc_codec_decode_reply(buf, len, &rep), 0);
    sc_config_free(rep.config);
    shards[3] = 3;
    len = reply_with(shards, 4, g12, 2, buf);
    ck_assert_int_eq(sc_codec_decode_reply(buf, len, &rep), -2);
    ck_assert_msg(strstr(rep.error, "shard 3 is on gid 3"), "why: %s", rep.error);
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    ck_assert_int_eq(sc_codec_decode_reply(junk, sizeof junk, &rep), -1);
}
END_TEST

/* Re-encodes snap (a shardctrl.Snapshot) after fn changed it. */
static void mutate_snapshot(const uint8_t *snap, size_t len, void (*fn)(Shardctrl__Snapshot *),
                            uint8_t **out, size_t *out_len)
{
    Shardctrl__Snapshot *s = shardctrl__snapshot__unpack(NULL, len, snap);
    ck_assert_ptr_nonnull(s);
    fn(s);
    *out_len = shardctrl__snapshot__get_packed_size(s);
    *out = malloc(*out_len);
    shardctrl__snapshot__pack(s, *out);
    shardctrl__snapshot__free_unpacked(s, NULL);
}

/* Takes config i out of the list. */
static void drop_config(Shardctrl__Snapshot *s, size_t i)
{
    shardctrl__stored_config__free_unpacked(s->configs[i], NULL);
    memmove(&s->configs[i], &s->configs[i + 1], (s->n_configs - i - 1) * sizeof *s->configs);
    s->n_configs--;
}
static void gap(Shardctrl__Snapshot *s) { drop_config(s, 2); }
static void no_zero(Shardctrl__Snapshot *s) { drop_config(s, 0); }
static void short_config(Shardctrl__Snapshot *s) { s->configs[3]->n_shards--; }
static void unlisted_gid(Shardctrl__Snapshot *s) { s->configs[2]->shards[0] = 999; }
static void bad_group_index(Shardctrl__Snapshot *s) { s->configs[2]->groups[0] = (uint32_t)s->n_groups; }
static void no_change(Shardctrl__Snapshot *s) { (void)s; }

START_TEST(test_restore_refuses)
{
    struct shardctrl *src = busy_controller();
    uint8_t *snap;
    size_t len;
    snapshot(src, &snap, &len);
    /* The target has a state of its own, which a refused restore must leave as it was. */
    struct shardctrl *dst = shardctrl_new(7);
    uint32_t g9[] = { 9 };
    ck_assert_int_eq(tl_join(dst, g9, 1, (struct tl_w){ 4, 4, 0 }).err, SC_OK);
    uint8_t *before;
    size_t blen;
    snapshot(dst, &before, &blen);
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    ck_assert_int_eq(sc_codec_restore(dst, junk, sizeof junk), -1);
    assert_snapshot_is(dst, before, blen, "garbage restore");
    ck_assert_int_eq(sc_codec_restore(dst, snap, len - 1), -1);
    assert_snapshot_is(dst, before, blen, "truncated restore");
    struct { void (*fn)(Shardctrl__Snapshot *); const char *what; } bad[] = {
        { gap, "a history with a gap" },
        { no_zero, "a history not starting at 0" },
        { short_config, "a config with a shard missing" },
        { unlisted_gid, "a shard on an unlisted gid" },
        { bad_group_index, "a config naming a group the table does not have" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *m;
        size_t mlen;
        mutate_snapshot(snap, len, bad[i].fn, &m, &mlen);
        ck_assert_msg(sc_codec_restore(dst, m, mlen) == -1, "%s: restored", bad[i].what);
        assert_snapshot_is(dst, before, blen, bad[i].what);
        ck_assert_uint_eq(shardctrl_latest(dst), 1);
        ck_assert_uint_eq(shardctrl_n_shards(dst), 7);
        free(m);
    }
    /* The same path with nothing changed restores (so the refusals above were for the change). */
    uint8_t *m;
    size_t mlen;
    mutate_snapshot(snap, len, no_change, &m, &mlen);
    ck_assert_int_eq(sc_codec_restore(dst, m, mlen), 0);
    ck_assert_ptr_null(tl_history_diff(src, dst));
    ck_assert(tl_snapshots_equal(src, dst));
    free(m);
    free(before);
    free(snap);
    shardctrl_free(src);
    shardctrl_free(dst);
}
END_TEST

START_TEST(test_stats)
{
    struct shardctrl *sc = shardctrl_new(10);
    struct sc_stats st0, st;
    shardctrl_stats(sc, &st0);
    ck_assert_uint_eq(st0.configs, 1);
    ck_assert_uint_eq(st0.clients, 0);
    shardctrl_free(sc);
    sc = busy_controller();
    shardctrl_stats(sc, &st);
    ck_assert_uint_eq(st.configs, 5);
    ck_assert_uint_eq(st.clients, 3);
    ck_assert_uint_gt(st.bytes, st0.bytes);
    shardctrl_free(sc);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shardctrl");
    TCase *tc = tcase_create("shardctrl");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_config_zero);
    tcase_add_test(tc, test_query_history);
    tcase_add_test(tc, test_servers_verbatim);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_at_most_once);
    tcase_add_test(tc, test_shard_count_rule);
    tcase_add_test(tc, test_refused_first_write_fixes_nothing);
    tcase_add_test(tc, test_group_sharing);
    tcase_add_test(tc, test_codec_cmd_round_trip);
    tcase_add_test(tc, test_codec_apply);
    tcase_add_test(tc, test_decode_reply_refuses_invalid_config);
    tcase_add_test(tc, test_restore_refuses);
    tcase_add_test(tc, test_stats);
    suite_add_tcase(s, tc);
    return s;
}
