/* The linearizability checker's delete and compare-and-swap (test/lincheck, docs/LINCHECK.md):
 * hand-written legal and illegal histories (a deleted key reads as absent; a cas's recorded
 * success or failure, and a failed one's current value, must be consistent; "" is not absent
 * but an output "" fits an absent key), operations without a return, the JSON fields and their
 * errors, the recording API, random small histories against a brute-force checker, and the
 * model's rules against the plain search on generated histories with deletes and cas (the
 * brute force and the cross-check are lincheck_testlib.c's). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lincheck/internal.h"
#include "../lincheck/lincheck.h"
#include "base/util.h"
#include "lincheck_testlib.h"

#define NR LIN_NO_RETURN

/* Adds o to h with the lengths taken from its strings: value NULL is ""; output set (or absent)
 * means an output was recorded. */
static void add(struct lin_history *h, struct lin_op o)
{
    if (!o.key)
        o.key = "k";
    o.key_len = strlen(o.key);
    if (!o.value)
        o.value = "";
    o.value_len = strlen(o.value);
    if (o.absent)
        o.output = "";
    o.has_output = o.output != NULL;
    o.output_len = o.output ? strlen(o.output) : 0;
    o.expected_len = o.expected ? strlen(o.expected) : 0;
    ck_assert_int_eq(lin_history_add_op(h, &o), 0);
}

#define GET(h, c, out, call, ret) \
    add(h, (struct lin_op){ .client = c, .kind = LIN_GET, .output = out, .call_ns = call, .return_ns = ret })
#define GET_ABSENT(h, c, call, ret) \
    add(h, (struct lin_op){ .client = c, .kind = LIN_GET, .absent = true, .call_ns = call, .return_ns = ret })
#define PUT(h, c, v, call, ret) \
    add(h, (struct lin_op){ .client = c, .kind = LIN_PUT, .value = v, .call_ns = call, .return_ns = ret })
#define APPEND(h, c, v, call, ret) \
    add(h, (struct lin_op){ .client = c, .kind = LIN_APPEND, .value = v, .call_ns = call, .return_ns = ret })
/* A delete that found the key (existed) or not. */
#define DEL(h, c, existed, call, ret)                                                             \
    add(h, (struct lin_op){ .client = c, .kind = LIN_DELETE, .has_ok = true, .ok = existed,      \
                            .call_ns = call, .return_ns = ret })
/* A cas from e (NULL: if absent) to v that swapped. */
#define CAS_OK(h, c, e, v, call, ret)                                                            \
    add(h, (struct lin_op){ .client = c, .kind = LIN_CAS, .expected = e, .expect_absent = !(e),  \
                            .value = v, .has_ok = true, .ok = true, .call_ns = call,             \
                            .return_ns = ret })
/* A cas that failed reporting the current value cur (NULL: the key is absent). */
#define CAS_FAILED(h, c, e, v, cur, call, ret)                                                   \
    add(h, (struct lin_op){ .client = c, .kind = LIN_CAS, .expected = e, .expect_absent = !(e),  \
                            .value = v, .has_ok = true, .ok = false, .output = cur,              \
                            .absent = !(cur), .call_ns = call, .return_ns = ret })
/* A cas without a return (outcome unknown). */
#define CAS_LOST(h, c, e, v, call)                                                               \
    add(h, (struct lin_op){ .client = c, .kind = LIN_CAS, .expected = e, .expect_absent = !(e),  \
                            .value = v, .call_ns = call, .return_ns = NR })

/* Checks h with and without the model's rules, expects `want` from both, frees h. */
static void expect(struct lin_history *h, enum lin_result want)
{
    struct lin_report r, plain;
    enum lin_result got = lin_check(h, 60000, &r);
    ck_assert_msg(got == want, "expected %s, got %s: %s", lin_result_name(want),
                  lin_result_name(got), r.explanation ? r.explanation : "");
    ck_assert_int_eq(lin_check_flags(h, 60000, LIN_FLAG_NO_PRUNE, &plain), want);
    lin_report_free(&r);
    lin_report_free(&plain);
    lin_history_free(h);
}

/* ---- delete ------------------------------------------------------------------------------- */

START_TEST(deleted_key_reads_absent)
{
    struct lin_history h = { 0 };
    PUT(&h, 1, "1", 0, 10);
    DEL(&h, 1, true, 20, 30);
    GET_ABSENT(&h, 2, 40, 50);
    expect(&h, LIN_OK);

    /* a get after a committed delete returning the old value */
    PUT(&h, 1, "1", 0, 10);
    DEL(&h, 1, true, 20, 30);
    GET(&h, 2, "1", 40, 50);
    expect(&h, LIN_ILLEGAL);

    /* an output "" fits an absent key (recorders that do not tell them apart) */
    PUT(&h, 1, "1", 0, 10);
    DEL(&h, 1, true, 20, 30);
    GET(&h, 2, "", 40, 50);
    expect(&h, LIN_OK);

    /* the read overlaps the delete: either value */
    PUT(&h, 1, "1", 0, 10);
    DEL(&h, 1, true, 20, 30);
    GET(&h, 2, "1", 25, 50);
    GET_ABSENT(&h, 3, 26, 50);
    expect(&h, LIN_OK);

    /* ... but once absent was read, not the old value again */
    PUT(&h, 1, "1", 0, 10);
    DEL(&h, 1, true, 20, 60);
    GET_ABSENT(&h, 3, 21, 30);
    GET(&h, 2, "1", 40, 50);
    expect(&h, LIN_ILLEGAL);
}
END_TEST

START_TEST(delete_outcome)
{
    struct lin_history h = { 0 };
    DEL(&h, 1, false, 0, 10); /* never written: was absent */
    expect(&h, LIN_OK);
    DEL(&h, 1, true, 0, 10); /* never written, yet "existed" */
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "x", 0, 10);
    DEL(&h, 2, false, 20, 30); /* present, yet "was absent" */
    expect(&h, LIN_ILLEGAL);
    /* two deletes of one value: only one finds it */
    PUT(&h, 1, "x", 0, 10);
    DEL(&h, 2, true, 20, 40);
    DEL(&h, 3, true, 20, 40);
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "x", 0, 10);
    DEL(&h, 2, true, 20, 40);
    DEL(&h, 3, false, 20, 40);
    expect(&h, LIN_OK);
    /* an append after a delete starts from nothing */
    PUT(&h, 1, "x", 0, 10);
    DEL(&h, 1, true, 20, 30);
    APPEND(&h, 1, "y", 40, 50);
    GET(&h, 2, "y", 60, 70);
    expect(&h, LIN_OK);
    PUT(&h, 1, "x", 0, 10);
    DEL(&h, 1, true, 20, 30);
    APPEND(&h, 1, "y", 40, 50);
    GET(&h, 2, "xy", 60, 70);
    expect(&h, LIN_ILLEGAL);
}
END_TEST

/* ---- cas ---------------------------------------------------------------------------------- */

START_TEST(cas_sequential)
{
    struct lin_history h = { 0 };
    CAS_OK(&h, 1, NULL, "a", 0, 10);
    CAS_OK(&h, 1, "a", "b", 20, 30);
    CAS_FAILED(&h, 1, "a", "c", "b", 40, 50);
    GET(&h, 2, "b", 60, 70);
    expect(&h, LIN_OK);

    CAS_OK(&h, 1, "a", "b", 0, 10); /* expected a value on a never-written key */
    expect(&h, LIN_ILLEGAL);
    CAS_FAILED(&h, 1, "a", "b", NULL, 0, 10); /* ... and failing there, absent, is right */
    expect(&h, LIN_OK);

    PUT(&h, 1, "b", 0, 10);
    CAS_FAILED(&h, 1, "a", "c", "a", 20, 30); /* reports a current value that is not it */
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "b", 0, 10);
    CAS_FAILED(&h, 1, "a", "c", NULL, 20, 30); /* reports absent while present */
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "b", 0, 10);
    CAS_FAILED(&h, 1, "a", "c", "b", 20, 30);
    GET(&h, 2, "c", 40, 50); /* a failed cas wrote nothing */
    expect(&h, LIN_ILLEGAL);
}
END_TEST

/* A cas that failed while the value must have matched. */
START_TEST(cas_failed_while_matching)
{
    struct lin_history h = { 0 };
    PUT(&h, 1, "x", 0, 10);
    CAS_FAILED(&h, 2, "x", "y", "x", 20, 30);
    expect(&h, LIN_ILLEGAL);
    /* also without the current value recorded */
    PUT(&h, 1, "x", 0, 10);
    add(&h, (struct lin_op){ .client = 2, .kind = LIN_CAS, .expected = "x", .value = "y",
                             .has_ok = true, .ok = false, .call_ns = 20, .return_ns = 30 });
    expect(&h, LIN_ILLEGAL);
    /* a concurrent put explains it */
    PUT(&h, 1, "x", 0, 10);
    PUT(&h, 3, "z", 15, 35);
    CAS_FAILED(&h, 2, "x", "y", "z", 20, 30);
    expect(&h, LIN_OK);
}
END_TEST

/* Two cas from the same expected value cannot both swap, unless the value came back between. */
START_TEST(concurrent_cas_same_expected)
{
    struct lin_history h = { 0 };
    PUT(&h, 1, "x", 0, 10);
    CAS_OK(&h, 2, "x", "y1", 20, 40);
    CAS_OK(&h, 3, "x", "y2", 20, 40);
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "x", 0, 10);
    CAS_OK(&h, 2, "x", "y1", 20, 40);
    CAS_FAILED(&h, 3, "x", "y2", "y1", 20, 40);
    GET(&h, 1, "y1", 50, 60);
    expect(&h, LIN_OK);
    /* the loser reports the winner's value, but a later read sees the loser's */
    PUT(&h, 1, "x", 0, 10);
    CAS_OK(&h, 2, "x", "y1", 20, 40);
    CAS_FAILED(&h, 3, "x", "y2", "y1", 20, 40);
    GET(&h, 1, "y2", 50, 60);
    expect(&h, LIN_ILLEGAL);
    /* a concurrent put of x again: both can swap */
    PUT(&h, 1, "x", 0, 10);
    CAS_OK(&h, 2, "x", "y1", 20, 40);
    CAS_OK(&h, 3, "x", "y2", 20, 40);
    PUT(&h, 4, "x", 20, 40);
    expect(&h, LIN_OK);
    /* only if absent: two clients create the key at once, one wins */
    CAS_OK(&h, 1, NULL, "a", 0, 20);
    CAS_OK(&h, 2, NULL, "b", 0, 20);
    expect(&h, LIN_ILLEGAL);
    CAS_OK(&h, 1, NULL, "a", 0, 20);
    CAS_FAILED(&h, 2, NULL, "b", "a", 0, 20);
    expect(&h, LIN_OK);
    /* an only-if-absent cas cannot fail on an absent key */
    CAS_FAILED(&h, 1, NULL, "a", NULL, 0, 20);
    expect(&h, LIN_ILLEGAL);
    /* a retried cas executed twice (swapped, then the retry fails seeing its own value) */
    PUT(&h, 1, "x", 0, 10);
    CAS_FAILED(&h, 2, "x", "y", "y", 20, 30);
    expect(&h, LIN_ILLEGAL);
}
END_TEST

/* "" is a value, not absence: a cas tells them apart. */
START_TEST(empty_is_not_absent)
{
    struct lin_history h = { 0 };
    PUT(&h, 1, "", 0, 10);
    CAS_OK(&h, 1, NULL, "a", 20, 30);
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "", 0, 10);
    CAS_FAILED(&h, 1, NULL, "a", "", 20, 30);
    expect(&h, LIN_OK);
    CAS_OK(&h, 1, "", "a", 0, 10); /* never written: "" does not match */
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "", 0, 10);
    CAS_OK(&h, 1, "", "a", 20, 30);
    expect(&h, LIN_OK);
    PUT(&h, 1, "", 0, 10);
    GET_ABSENT(&h, 2, 20, 30); /* present with "", read as absent */
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "", 0, 10);
    DEL(&h, 2, false, 20, 30);
    expect(&h, LIN_ILLEGAL);
    GET(&h, 2, "", 0, 10); /* a never-written key read as "" (old recorders) */
    CAS_OK(&h, 1, NULL, "a", 20, 30);
    expect(&h, LIN_OK);
}
END_TEST

/* Operations without a return: either took effect (once, after their call) or never. */
START_TEST(unknown_outcomes)
{
    struct lin_history h = { 0 };
    PUT(&h, 1, "x", 0, 10);
    CAS_LOST(&h, 2, "x", "y", 20);
    GET(&h, 3, "y", 40, 50);
    GET(&h, 3, "y", 60, 70);
    expect(&h, LIN_OK);
    PUT(&h, 1, "x", 0, 10);
    CAS_LOST(&h, 2, "x", "y", 20);
    GET(&h, 3, "x", 40, 50);
    expect(&h, LIN_OK);
    PUT(&h, 1, "x", 0, 10);
    CAS_LOST(&h, 2, "x", "y", 20);
    GET(&h, 3, "y", 40, 50);
    GET(&h, 3, "x", 60, 70); /* took effect, then undone? */
    expect(&h, LIN_ILLEGAL);
    PUT(&h, 1, "x", 0, 10);
    CAS_LOST(&h, 2, "z", "y", 20); /* would never match */
    GET(&h, 3, "y", 40, 50);
    expect(&h, LIN_ILLEGAL);
    /* a lost put is what a later cas and delete found (nothing may leave it out) */
    PUT(&h, 1, "x", 0, NR);
    CAS_OK(&h, 2, "x", "y", 20, 30);
    expect(&h, LIN_OK);
    PUT(&h, 1, "x", 0, NR);
    DEL(&h, 2, true, 20, 30);
    expect(&h, LIN_OK);
    add(&h, (struct lin_op){ .client = 1, .kind = LIN_APPEND, .value = "x", .call_ns = 0,
                             .return_ns = NR });
    CAS_FAILED(&h, 2, NULL, "y", "x", 20, 30);
    expect(&h, LIN_OK);
    DEL(&h, 2, true, 20, 30); /* nothing could have made it exist */
    expect(&h, LIN_ILLEGAL);
    /* a lost delete */
    PUT(&h, 1, "x", 0, 10);
    add(&h, (struct lin_op){ .client = 2, .kind = LIN_DELETE, .call_ns = 20, .return_ns = NR });
    GET_ABSENT(&h, 3, 40, 50);
    CAS_OK(&h, 3, NULL, "z", 60, 70);
    expect(&h, LIN_OK);
    /* not before its call */
    PUT(&h, 1, "x", 0, 10);
    GET_ABSENT(&h, 3, 20, 30);
    add(&h, (struct lin_op){ .client = 2, .kind = LIN_DELETE, .call_ns = 40, .return_ns = NR });
    expect(&h, LIN_ILLEGAL);
}
END_TEST

/* The explanation of an illegal cas key names the value and what the cas claimed. */
START_TEST(explanation)
{
    struct lin_history h = { 0 };
    PUT(&h, 1, "x", 0, 10);
    DEL(&h, 1, true, 20, 30);
    CAS_FAILED(&h, 2, NULL, "y", "x", 40, 50);
    struct lin_report r;
    ck_assert_int_eq(lin_check(&h, 10000, &r), LIN_ILLEGAL);
    ck_assert_msg(strstr(r.explanation, "The value after it is (absent).") != NULL, "%s",
                  r.explanation);
    ck_assert_msg(strstr(r.explanation, "cas (absent) to \"y\" -> failed, current \"x\"") != NULL,
                  "%s", r.explanation);
    ck_assert_msg(strstr(r.explanation, "it failed reporting \"x\", but the value is (absent)") !=
                      NULL,
                  "%s", r.explanation);
    lin_report_free(&r);
    lin_history_free(&h);
}
END_TEST

/* ---- JSON and recording ------------------------------------------------------------------- */

static bool same_op(const struct lin_op *a, const struct lin_op *b)
{
    return a->client == b->client && a->kind == b->kind && a->key_len == b->key_len &&
           memcmp(a->key, b->key, a->key_len) == 0 && a->value_len == b->value_len &&
           memcmp(a->value, b->value, a->value_len) == 0 && a->has_output == b->has_output &&
           a->absent == b->absent && a->output_len == b->output_len &&
           (!a->has_output || memcmp(a->output, b->output, a->output_len) == 0) &&
           a->expect_absent == b->expect_absent && a->expected_len == b->expected_len &&
           memcmp(a->expected, b->expected, a->expected_len) == 0 && a->has_ok == b->has_ok &&
           a->ok == b->ok && a->call_ns == b->call_ns && a->return_ns == b->return_ns;
}

START_TEST(jsonl_round_trip)
{
    struct lin_history h = { 0 };
    GET_ABSENT(&h, 1, 0, 5);
    DEL(&h, 2, true, 1, 6);
    DEL(&h, 2, false, 7, 8);
    add(&h, (struct lin_op){ .client = 3, .kind = LIN_DELETE, .call_ns = 9, .return_ns = NR });
    CAS_OK(&h, 4, "e\"x", "n\new", 10, 11);
    CAS_FAILED(&h, 4, NULL, "v", "cur", 12, 13);
    CAS_FAILED(&h, 4, "", "v", NULL, 14, 15);
    CAS_LOST(&h, 5, "x", "y", 16);
    char *path = lt_temp_path("rt.jsonl");
    char err[256];
    ck_assert_int_eq(lin_history_write_jsonl(&h, path, err, sizeof err), 0);
    struct lin_history g = { 0 };
    ck_assert_msg(lin_history_load_jsonl(&g, path, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(g.len, h.len);
    for (size_t i = 0; i < h.len; i++)
        ck_assert_msg(same_op(&h.ops[i], &g.ops[i]), "op %zu differs", i);
    FILE *f = fopen(path, "r");
    char line[256];
    const char *want[] = {
        "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"value\":\"\",\"absent\":true,\"call\":0,"
        "\"return\":5}\n",
        "{\"client\":2,\"op\":\"delete\",\"key\":\"k\",\"value\":\"\",\"ok\":true,\"call\":1,"
        "\"return\":6}\n",
        NULL,
        NULL,
        "{\"client\":4,\"op\":\"cas\",\"key\":\"k\",\"value\":\"n\\new\",\"expected\":\"e\\\"x\","
        "\"ok\":true,\"call\":10,\"return\":11}\n",
        "{\"client\":4,\"op\":\"cas\",\"key\":\"k\",\"value\":\"v\",\"output\":\"cur\","
        "\"if_absent\":true,\"ok\":false,\"call\":12,\"return\":13}\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        if (want[i])
            ck_assert_str_eq(line, want[i]);
    }
    fclose(f);
    unlink(path);
    free(path);
    lin_history_free(&g);
    lin_history_free(&h);
}
END_TEST

START_TEST(jsonl_errors)
{
    static const struct {
        const char *line, *message;
    } bad[] = {
        { "{\"client\":1,\"op\":\"cas\",\"key\":\"k\",\"value\":\"v\",\"call\":1}",
          "missing field \"expected\"" },
        { "{\"client\":1,\"op\":\"cas\",\"key\":\"k\",\"call\":1,\"if_absent\":true}",
          "missing field \"value\"" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"absent\":true,\"output\":\"x\",\"call\":1}",
          "contradict" },
        { "{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"expected\":\"x\",\"call\":1}",
          "for cas only" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"ok\":true,\"call\":1}",
          "for delete and cas only" },
        { "{\"client\":1,\"op\":\"delete\",\"key\":\"k\",\"ok\":1,\"call\":1}",
          "ok must be true or false" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"absent\":\"yes\",\"call\":1}",
          "absent must be true or false" },
    };
    char *path = lt_temp_path("bad.jsonl");
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        FILE *f = fopen(path, "w");
        fprintf(f, "{\"client\":1,\"op\":\"delete\",\"key\":\"k\",\"call\":1}\n%s\n", bad[i].line);
        fclose(f);
        struct lin_history h = { 0 };
        char err[512];
        ck_assert_int_eq(lin_history_load_jsonl(&h, path, err, sizeof err), LIN_ERR_PARSE);
        ck_assert_msg(strstr(err, ":2: column ") && strstr(err, bad[i].message), "%s: got %s",
                      bad[i].line, err);
        ck_assert_uint_eq(h.len, 1); /* the delete without "value" on line 1 is fine */
        lin_history_free(&h);
    }
    unlink(path);
    free(path);
}
END_TEST

START_TEST(recording_api)
{
    struct lin_history h = { 0 };
    size_t i, j, k;
    struct lin_op cas = { .client = 1, .kind = LIN_CAS, .key = "k", .key_len = 1,
                          .value = "new", .value_len = 3, .expect_absent = true, .call_ns = 0 };
    ck_assert_int_eq(lin_history_call_op(&h, &cas, &i), 0);
    struct lin_op del = { .client = 2, .kind = LIN_DELETE, .key = "k", .key_len = 1, .call_ns = 5 };
    ck_assert_int_eq(lin_history_call_op(&h, &del, &j), 0);
    struct lin_op get = { .client = 3, .kind = LIN_GET, .key = "k", .key_len = 1, .call_ns = 30 };
    ck_assert_int_eq(lin_history_call_op(&h, &get, &k), 0);
    ck_assert_int_eq(lin_history_return_op(&h, i, true, false, NULL, 0, 10), 0);
    ck_assert_int_eq(lin_history_return_op(&h, j, true, false, NULL, 0, 20), 0);
    ck_assert_int_eq(lin_history_return_op(&h, k, false, true, NULL, 0, 40), 0);
    ck_assert_int_eq(lin_history_return_op(&h, k, false, true, NULL, 0, 40), LIN_ERR_INVALID);
    ck_assert(h.ops[i].has_ok && h.ops[i].ok && h.ops[i].expect_absent);
    ck_assert(h.ops[k].has_output && h.ops[k].absent && !h.ops[k].has_ok);
    expect(&h, LIN_OK);
}
END_TEST

/* ---- random small histories against a brute-force checker ---------------------------------- */

START_TEST(random_against_brute_force)
{
    static const char *const outs[] = { "", "a", "b", "ab", "ba", "aa" };
    static const char *const exps[] = { "", "a", "b", "ab" };
    struct rng rng;
    rng_seed(&rng, 4242);
    int counts[2] = { 0, 0 };
    for (int iter = 0; iter < 6000; iter++) {
        struct lin_history h = { 0 };
        size_t n = 1 + rng_below(&rng, 7);
        unsigned keys = 1 + (unsigned)rng_below(&rng, 2);
        for (size_t i = 0; i < n; i++) {
            char key[2] = { (char)('a' + rng_below(&rng, keys)), 0 };
            struct lin_op o = { .client = (int64_t)i, .kind = (enum lin_kind)rng_below(&rng, 5),
                                .key = key };
            o.value = rng_below(&rng, 2) ? "a" : "b";
            bool out = o.kind == LIN_GET || (o.kind == LIN_APPEND && rng_below(&rng, 3) == 0);
            if (o.kind == LIN_DELETE || o.kind == LIN_CAS) {
                o.has_ok = rng_below(&rng, 4) != 0;
                o.ok = rng_below(&rng, 2);
                out = o.kind == LIN_CAS && o.has_ok && !o.ok && rng_below(&rng, 4) != 0;
            }
            if (o.kind == LIN_CAS) {
                o.expect_absent = rng_below(&rng, 4) == 0;
                o.expected = o.expect_absent ? NULL : exps[rng_below(&rng, ARRAY_LEN(exps))];
            }
            if (out) {
                o.absent = rng_below(&rng, 4) == 0;
                o.output = o.absent ? NULL : outs[rng_below(&rng, ARRAY_LEN(outs))];
                if (!o.absent && !o.output)
                    o.output = "";
            }
            if (o.kind == LIN_GET || o.kind == LIN_DELETE)
                o.value = NULL;
            o.call_ns = (int64_t)rng_below(&rng, 20);
            o.return_ns = rng_below(&rng, 5) == 0 ? NR : o.call_ns + (int64_t)rng_below(&rng, 10);
            add(&h, o);
        }
        counts[lt_brute_agrees(&h, iter)]++;
        lin_history_free(&h);
    }
    printf("random small histories with delete and cas: %d linearizable, %d not\n", counts[1],
           counts[0]);
    ck_assert_int_gt(counts[0], 1000);
    ck_assert_int_gt(counts[1], 1000);
}
END_TEST

/* ---- generated histories ------------------------------------------------------------------ */

/* The model's rules never change a verdict with deletes and cas about: generated one-key
 * histories, each with one mutation (an outcome flipped, an output replaced, an interval
 * moved), checked with and without the rules. */
static void delcas_params(struct lin_gen_params *p, struct rng *rng, int iter)
{
    p->seed = 5000 + (uint64_t)iter;
    p->ops = 20 + rng_below(rng, 40);
    p->clients = 2 + (unsigned)rng_below(rng, 3);
    p->put_pct = (unsigned)rng_below(rng, 15);
    p->append_pct = 20 + (unsigned)rng_below(rng, 30);
    p->delete_pct = (unsigned)rng_below(rng, 10);
    p->cas_pct = 5 + (unsigned)rng_below(rng, 20);
    p->append_output = rng_below(rng, 3) == 0;
    p->lost_pct = (unsigned)rng_below(rng, 10);
}

/* A delete's or cas's recorded outcome flipped, or an output replaced by another one's. */
static void delcas_mutate(struct lin_op *op, const struct lin_op *other, unsigned how)
{
    if (how == 0 && op->has_ok) {
        op->ok = !op->ok;
    } else if (how == 1 && other->has_output && op->has_output) {
        op->output = other->output;
        op->output_len = other->output_len;
        op->absent = other->absent;
    }
}

START_TEST(pruning_agrees_with_plain_search)
{
    lt_mutated_rules_agree("delete/cas", 400, 77, delcas_params, delcas_mutate);
}
END_TEST

/* A generated history with deletes and cas is linearizable, and flipping one returned cas's
 * recorded outcome makes it not. */
START_TEST(generated_with_delete_and_cas)
{
    struct lin_gen_params p;
    lin_gen_params_default(&p);
    p.delete_pct = 5;
    p.cas_pct = 15;
    p.put_pct = 5;
    p.append_pct = 35;
    p.lost_pct = 3;
    struct lin_history h = { 0 };
    lin_history_generate(&h, &p);
    size_t swapped = 0, failed = 0, deleted = 0, flip = SIZE_MAX;
    for (size_t i = 0; i < h.len; i++) {
        const struct lin_op *o = &h.ops[i];
        swapped += o->kind == LIN_CAS && o->has_ok && o->ok;
        failed += o->kind == LIN_CAS && o->has_ok && !o->ok;
        deleted += o->kind == LIN_DELETE && o->has_ok && o->ok;
        if (o->kind == LIN_CAS && o->has_ok && o->ok && flip == SIZE_MAX && i > h.len / 2)
            flip = i;
    }
    ck_assert_uint_gt(swapped, 100);
    ck_assert_uint_gt(failed, 100);
    ck_assert_uint_gt(deleted, 50);
    struct lin_report r;
    ck_assert_int_eq(lin_check(&h, 60000, &r), LIN_OK);
    char line[256];
    lin_report_summary(&r, line, sizeof line);
    printf("lincheck: %zu operations with %zu swapped / %zu failed cas, %zu deletes: %s\n", h.len,
           swapped, failed, deleted, line);
    lin_report_free(&r);
    ck_assert_uint_ne(flip, SIZE_MAX);
    h.ops[flip].ok = false; /* a swap reported as a failure (no current value recorded) */
    ck_assert_int_eq(lin_check(&h, 60000, &r), LIN_ILLEGAL);
    lin_report_free(&r);
    lin_history_free(&h);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("lincheck_delcas");
    TCase *t = tcase_create("model");
    tcase_add_test(t, deleted_key_reads_absent);
    tcase_add_test(t, delete_outcome);
    tcase_add_test(t, cas_sequential);
    tcase_add_test(t, cas_failed_while_matching);
    tcase_add_test(t, concurrent_cas_same_expected);
    tcase_add_test(t, empty_is_not_absent);
    tcase_add_test(t, unknown_outcomes);
    tcase_add_test(t, explanation);
    tcase_add_test(t, jsonl_round_trip);
    tcase_add_test(t, jsonl_errors);
    tcase_add_test(t, recording_api);
    suite_add_tcase(s, t);
    TCase *big = tcase_create("search");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, random_against_brute_force);
    tcase_add_test(big, pruning_agrees_with_plain_search);
    tcase_add_test(big, generated_with_delete_and_cas);
    suite_add_tcase(s, big);
    return s;
}
