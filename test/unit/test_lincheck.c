/* The linearizability checker (test/lincheck): hand-written linearizable and non-linearizable
 * histories (stale reads, lost and duplicated appends, values never written), unknown-outcome
 * operations, Lab 2's append outputs, the JSON-lines loader and writer, the time limit, random
 * small histories against a brute-force checker, and a generated 10,000-operation history. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lincheck/internal.h"
#include "../lincheck/lincheck.h"
#include "base/clock.h"
#include "base/util.h"
#include "lincheck_testlib.h"

#define NR LIN_NO_RETURN

static enum lin_result check(const struct lin_history *h, struct lin_report *r)
{
    return lin_check(h, 60000, r);
}

/* Checks h, expects `want`, frees everything. */
static void expect(struct lin_history *h, enum lin_result want)
{
    struct lin_report r;
    enum lin_result got = check(h, &r);
    ck_assert_msg(got == want, "expected %s, got %s: %s", lin_result_name(want),
                  lin_result_name(got), r.explanation ? r.explanation : "");
    ck_assert_int_eq(r.result, got);
    lin_report_free(&r);
    lin_history_free(h);
}

#define ADD(h, c, k, key, v, out, call, ret) \
    ck_assert_int_eq(lin_history_add(h, c, k, key, v, out, call, ret), 0)

/* ---- hand-written histories ------------------------------------------------------------------ */

START_TEST(empty_history)
{
    struct lin_history h;
    lin_history_init(&h);
    struct lin_report r;
    ck_assert_int_eq(check(&h, &r), LIN_OK);
    ck_assert_uint_eq(r.ops, 0);
    ck_assert_uint_eq(r.keys, 0);
    ck_assert_ptr_null(r.key);
    ck_assert_ptr_null(r.explanation);
    lin_report_free(&r);
}
END_TEST

START_TEST(sequential)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_GET, "k", NULL, "", 0, 10);
    ADD(&h, 1, LIN_PUT, "k", "a", NULL, 20, 30);
    ADD(&h, 1, LIN_APPEND, "k", "b", NULL, 40, 50);
    ADD(&h, 1, LIN_GET, "k", NULL, "ab", 60, 70);
    ADD(&h, 1, LIN_PUT, "k", "", NULL, 80, 90);
    ADD(&h, 1, LIN_GET, "k", NULL, "", 100, 110);
    expect(&h, LIN_OK);
}
END_TEST

/* Two overlapping puts: a later read may see either, but two later reads must agree. */
START_TEST(concurrent_either_order)
{
    const char *outs[] = { "a", "b" };
    for (int i = 0; i < 2; i++) {
        struct lin_history h = { 0 };
        ADD(&h, 1, LIN_PUT, "k", "a", NULL, 0, 10);
        ADD(&h, 2, LIN_PUT, "k", "b", NULL, 5, 15);
        ADD(&h, 3, LIN_GET, "k", NULL, "", 1, 12); /* overlaps both: may come first */
        ADD(&h, 3, LIN_GET, "k", NULL, outs[i], 20, 30);
        ADD(&h, 4, LIN_GET, "k", NULL, outs[i], 40, 50);
        expect(&h, LIN_OK);
    }
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_PUT, "k", "a", NULL, 0, 10);
    ADD(&h, 2, LIN_PUT, "k", "b", NULL, 5, 15);
    ADD(&h, 3, LIN_GET, "k", NULL, "a", 20, 30);
    ADD(&h, 4, LIN_GET, "k", NULL, "b", 40, 50);
    expect(&h, LIN_ILLEGAL);

    /* reads overlapping a put may flip once, never back */
    struct lin_history g = { 0 };
    ADD(&g, 1, LIN_PUT, "k", "x", NULL, 0, 100);
    ADD(&g, 2, LIN_GET, "k", NULL, "", 10, 20);
    ADD(&g, 3, LIN_GET, "k", NULL, "x", 30, 40);
    ADD(&g, 2, LIN_GET, "k", NULL, "x", 50, 60);
    expect(&g, LIN_OK);
    lin_history_init(&g);
    ADD(&g, 1, LIN_PUT, "k", "x", NULL, 0, 100);
    ADD(&g, 2, LIN_GET, "k", NULL, "x", 10, 20);
    ADD(&g, 3, LIN_GET, "k", NULL, "", 30, 40);
    expect(&g, LIN_ILLEGAL);
}
END_TEST

/* A call at the same instant as another operation's return is concurrent with it. */
START_TEST(equal_times_are_concurrent)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_PUT, "k", "x", NULL, 0, 10);
    ADD(&h, 2, LIN_GET, "k", NULL, "", 10, 20);
    expect(&h, LIN_OK);
    lin_history_init(&h);
    ADD(&h, 1, LIN_PUT, "k", "x", NULL, 0, 10);
    ADD(&h, 2, LIN_GET, "k", NULL, "", 11, 20);
    expect(&h, LIN_ILLEGAL);
}
END_TEST

START_TEST(stale_read)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_PUT, "k", "old", NULL, 0, 10);
    ADD(&h, 1, LIN_PUT, "k", "new", NULL, 20, 30);
    ADD(&h, 2, LIN_GET, "k", NULL, "old", 40, 50);
    ADD(&h, 3, LIN_GET, "other", NULL, "", 0, 50);
    struct lin_report r;
    ck_assert_int_eq(check(&h, &r), LIN_ILLEGAL);
    ck_assert_str_eq(r.key, "k");
    ck_assert_uint_eq(r.key_len, 1);
    ck_assert_uint_eq(r.keys, 2);
    ck_assert_ptr_nonnull(r.explanation);
    ck_assert_msg(strstr(r.explanation, "key \"k\"") != NULL, "%s", r.explanation);
    ck_assert_msg(strstr(r.explanation, "it read \"old\", but the value is \"new\"") != NULL,
                  "%s", r.explanation);
    ck_assert_msg(strstr(r.explanation, "op #2: client 2 get") != NULL, "%s", r.explanation);
    char line[256];
    lin_report_summary(&r, line, sizeof line);
    ck_assert_msg(strncmp(line, "NOT linearizable: key \"k\"", 25) == 0, "%s", line);
    lin_report_free(&r);
    lin_history_free(&h);
}
END_TEST

START_TEST(lost_append)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_APPEND, "k", "a", NULL, 0, 10);
    ADD(&h, 2, LIN_APPEND, "k", "b", NULL, 20, 30);
    ADD(&h, 3, LIN_GET, "k", NULL, "a", 40, 50);
    expect(&h, LIN_ILLEGAL);
    /* the same final read while b is still running is fine */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "a", NULL, 0, 10);
    ADD(&h, 2, LIN_APPEND, "k", "b", NULL, 20, 60);
    ADD(&h, 3, LIN_GET, "k", NULL, "a", 40, 50);
    expect(&h, LIN_OK);
}
END_TEST

START_TEST(duplicated_append)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_APPEND, "k", "a", NULL, 0, 10);
    ADD(&h, 2, LIN_APPEND, "k", "b", NULL, 20, 30);
    ADD(&h, 3, LIN_GET, "k", NULL, "abb", 40, 50);
    expect(&h, LIN_ILLEGAL);
    /* a retried append applied twice, seen while it was still running */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "x", NULL, 0, 100);
    ADD(&h, 2, LIN_GET, "k", NULL, "xx", 10, 20);
    expect(&h, LIN_ILLEGAL);
    /* concurrent appends in either order */
    for (int i = 0; i < 2; i++) {
        lin_history_init(&h);
        ADD(&h, 1, LIN_APPEND, "k", "a", NULL, 0, 10);
        ADD(&h, 2, LIN_APPEND, "k", "b", NULL, 0, 10);
        ADD(&h, 3, LIN_GET, "k", NULL, i ? "ba" : "ab", 20, 30);
        expect(&h, LIN_OK);
    }
}
END_TEST

START_TEST(value_never_written)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_PUT, "k", "a", NULL, 0, 10);
    ADD(&h, 2, LIN_PUT, "k", "b", NULL, 0, 10);
    ADD(&h, 3, LIN_GET, "k", NULL, "c", 0, 10);
    struct lin_report r;
    ck_assert_int_eq(check(&h, &r), LIN_ILLEGAL);
    ck_assert_msg(strstr(r.explanation, "No operation can be linearized first") == NULL,
                  "%s", r.explanation); /* puts can */
    ck_assert_msg(strstr(r.explanation, "it read \"c\"") != NULL, "%s", r.explanation);
    lin_report_free(&r);
    lin_history_free(&h);

    lin_history_init(&h);
    ADD(&h, 3, LIN_GET, "k", NULL, "ghost", 0, 10);
    ck_assert_int_eq(check(&h, &r), LIN_ILLEGAL);
    ck_assert_msg(strstr(r.explanation, "No operation can be linearized first") != NULL, "%s",
                  r.explanation);
    lin_report_free(&r);
    lin_history_free(&h);
}
END_TEST

/* Operations without a return may take effect at any time after their call, or never. */
START_TEST(unknown_outcome)
{
    struct lin_history h = { 0 };
    /* never applied */
    ADD(&h, 1, LIN_PUT, "k", "x", NULL, 0, NR);
    ADD(&h, 2, LIN_GET, "k", NULL, "", 10, 20);
    ADD(&h, 2, LIN_GET, "k", NULL, "", 1000, 2000);
    expect(&h, LIN_OK);
    /* applied long after the client gave up */
    lin_history_init(&h);
    ADD(&h, 1, LIN_PUT, "k", "x", NULL, 0, NR);
    ADD(&h, 2, LIN_GET, "k", NULL, "", 10, 20);
    ADD(&h, 2, LIN_GET, "k", NULL, "x", 1000, 2000);
    expect(&h, LIN_OK);
    /* but once seen it stays */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "x", NULL, 0, NR);
    ADD(&h, 2, LIN_GET, "k", NULL, "x", 10, 20);
    ADD(&h, 2, LIN_GET, "k", NULL, "", 30, 40);
    expect(&h, LIN_ILLEGAL);
    /* and it cannot act before its call */
    lin_history_init(&h);
    ADD(&h, 2, LIN_GET, "k", NULL, "x", 10, 20);
    ADD(&h, 1, LIN_PUT, "k", "x", NULL, 30, NR);
    expect(&h, LIN_ILLEGAL);
    /* nor apply twice */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "x", NULL, 0, NR);
    ADD(&h, 2, LIN_GET, "k", NULL, "xx", 10, 20);
    expect(&h, LIN_ILLEGAL);
    /* two pending appends, applied in the opposite order of their calls */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "a", NULL, 0, NR);
    ADD(&h, 2, LIN_APPEND, "k", "b", NULL, 5, NR);
    ADD(&h, 3, LIN_GET, "k", NULL, "b", 10, 20);
    ADD(&h, 3, LIN_GET, "k", NULL, "ba", 30, 40);
    expect(&h, LIN_OK);
    /* a get whose reply never came constrains nothing */
    lin_history_init(&h);
    ADD(&h, 1, LIN_GET, "k", NULL, NULL, 0, NR);
    ADD(&h, 1, LIN_GET, "k", NULL, NULL, 0, 5);
    expect(&h, LIN_OK);
}
END_TEST

/* Lab 2: Append returns the old value, which must be the value before it. */
START_TEST(append_old_value)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_APPEND, "k", "a", "", 0, 10);
    ADD(&h, 1, LIN_APPEND, "k", "b", "a", 20, 30);
    ADD(&h, 1, LIN_GET, "k", NULL, "ab", 40, 50);
    expect(&h, LIN_OK);
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "a", "", 0, 10);
    ADD(&h, 1, LIN_APPEND, "k", "b", "", 20, 30);
    struct lin_report r;
    ck_assert_int_eq(check(&h, &r), LIN_ILLEGAL);
    ck_assert_msg(strstr(r.explanation, "it saw the old value \"\", but the value is \"a\""),
                  "%s", r.explanation);
    lin_report_free(&r);
    lin_history_free(&h);
    /* concurrent appends cannot both see the empty value... */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "a", "", 0, 10);
    ADD(&h, 2, LIN_APPEND, "k", "b", "", 0, 10);
    expect(&h, LIN_ILLEGAL);
    /* ...but one may see the other's */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "a", "b", 0, 10);
    ADD(&h, 2, LIN_APPEND, "k", "b", "", 0, 10);
    ADD(&h, 3, LIN_GET, "k", NULL, "ba", 20, 30);
    expect(&h, LIN_OK);
    /* an append without an output is not checked against the old value */
    lin_history_init(&h);
    ADD(&h, 1, LIN_APPEND, "k", "a", NULL, 0, 10);
    ADD(&h, 1, LIN_APPEND, "k", "b", "a", 20, 30);
    expect(&h, LIN_OK);
}
END_TEST

START_TEST(partitions_are_independent)
{
    struct lin_history h = { 0 };
    for (int i = 0; i < 10; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        ADD(&h, i, LIN_PUT, key, key, NULL, 0, 10);
        ADD(&h, i, LIN_GET, key, NULL, key, 20, 30);
    }
    /* the same ops on one key would be illegal (ten different reads after all puts) */
    struct lin_report r;
    ck_assert_int_eq(check(&h, &r), LIN_OK);
    ck_assert_uint_eq(r.keys, 10);
    ck_assert_uint_eq(r.keys_checked, 10);
    ck_assert_uint_eq(r.ops, 20);
    char line[256];
    lin_report_summary(&r, line, sizeof line);
    ck_assert_msg(strncmp(line, "linearizable: 20 operations, 10 keys, ", 38) == 0, "%s", line);
    lin_report_free(&r);
    ADD(&h, 99, LIN_GET, "k7", NULL, "k3", 40, 50);
    ck_assert_int_eq(check(&h, &r), LIN_ILLEGAL);
    ck_assert_str_eq(r.key, "k7");
    lin_report_free(&r);
    lin_history_free(&h);
}
END_TEST

/* Keys and values are byte strings: NUL bytes and prefixes of each other are distinct keys. */
START_TEST(binary_keys)
{
    struct lin_history h = { 0 };
    struct lin_op op = { .client = 1, .kind = LIN_PUT, .key = "a\0b", .key_len = 3,
                         .value = "v\0", .value_len = 2, .call_ns = 0, .return_ns = 10 };
    ck_assert_int_eq(lin_history_add_op(&h, &op), 0);
    op = (struct lin_op){ .client = 1, .kind = LIN_GET, .key = "a", .key_len = 1, .value = "",
                          .output = "", .output_len = 0, .has_output = true, .call_ns = 20,
                          .return_ns = 30 };
    ck_assert_int_eq(lin_history_add_op(&h, &op), 0);
    op = (struct lin_op){ .client = 1, .kind = LIN_GET, .key = "a\0b", .key_len = 3, .value = "",
                          .output = "v\0", .output_len = 2, .has_output = true, .call_ns = 20,
                          .return_ns = 30 };
    ck_assert_int_eq(lin_history_add_op(&h, &op), 0);
    struct lin_report r;
    ck_assert_int_eq(check(&h, &r), LIN_OK);
    ck_assert_uint_eq(r.keys, 2);
    lin_report_free(&r);
    op.output_len = 1; /* "v" != "v\0" */
    op.call_ns = 40;
    op.return_ns = 50;
    ck_assert_int_eq(lin_history_add_op(&h, &op), 0);
    ck_assert_int_eq(check(&h, &r), LIN_ILLEGAL);
    ck_assert_uint_eq(r.key_len, 3);
    ck_assert_int_eq(memcmp(r.key, "a\0b", 3), 0);
    lin_report_free(&r);
    lin_history_free(&h);
}
END_TEST

START_TEST(building_api)
{
    struct lin_history h = { 0 };
    ck_assert_int_eq(lin_history_add(&h, 1, LIN_PUT, "k", "v", NULL, 10, 5), LIN_ERR_INVALID);
    ck_assert_int_eq(lin_history_add(&h, 1, LIN_PUT, "k", "v", NULL, -1, 5), LIN_ERR_INVALID);
    ck_assert_int_eq(lin_history_add(&h, 1, LIN_PUT, "k", "v", NULL, 0, -7), LIN_ERR_INVALID);
    ck_assert_int_eq(lin_history_add(&h, 1, (enum lin_kind)7, "k", "v", NULL, 0, 5),
                     LIN_ERR_INVALID);
    ck_assert_uint_eq(h.len, 0);

    size_t a, b;
    ck_assert_int_eq(lin_history_call(&h, 1, LIN_APPEND, "k", 1, "xy", 2, 100, &a), 0);
    ck_assert_int_eq(lin_history_call(&h, 2, LIN_GET, "k", 1, NULL, 0, 110, &b), 0);
    ck_assert_uint_eq(a, 0);
    ck_assert_uint_eq(b, 1);
    ck_assert_int_eq(h.ops[a].return_ns, LIN_NO_RETURN);
    ck_assert(!h.ops[b].has_output);
    ck_assert_int_eq(lin_history_return(&h, b, "xy", 2, 105), LIN_ERR_INVALID); /* before call */
    ck_assert_int_eq(lin_history_return(&h, 5, "xy", 2, 200), LIN_ERR_INVALID);
    ck_assert_int_eq(lin_history_return(&h, b, "xy", 2, 200), 0);
    ck_assert_int_eq(lin_history_return(&h, b, "xy", 2, 300), LIN_ERR_INVALID); /* twice */
    ck_assert_int_eq(lin_history_return(&h, a, NULL, 0, 150), 0);
    ck_assert_int_eq(h.ops[b].return_ns, 200);
    ck_assert(h.ops[b].has_output);
    ck_assert_str_eq(h.ops[b].output, "xy");
    ck_assert_str_eq(h.ops[b].key, "k");
    ck_assert_str_eq(h.ops[a].value, "xy");
    ck_assert(!h.ops[a].has_output);
    ck_assert_str_eq(lin_kind_name(LIN_APPEND), "append");
    expect(&h, LIN_OK);
}
END_TEST

/* ---- JSON lines ------------------------------------------------------------------------------ */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static bool same_op(const struct lin_op *a, const struct lin_op *b)
{
    return a->client == b->client && a->kind == b->kind && a->key_len == b->key_len &&
           memcmp(a->key, b->key, a->key_len) == 0 && a->value_len == b->value_len &&
           memcmp(a->value, b->value, a->value_len) == 0 && a->has_output == b->has_output &&
           a->output_len == b->output_len &&
           (!a->has_output || memcmp(a->output, b->output, a->output_len) == 0) &&
           a->call_ns == b->call_ns && a->return_ns == b->return_ns;
}

START_TEST(jsonl_round_trip)
{
    struct lin_history h = { 0 };
    ADD(&h, 7, LIN_GET, "k", NULL, "o", 123, 456);
    ADD(&h, -3, LIN_PUT, "we\"ird\\key", "line\nbreak\ttab\r", NULL, 0, 0);
    ADD(&h, 9223372036854775807LL, LIN_APPEND, "k", "\x01\x1f\x7f caf\xc3\xa9", "", 5, NR);
    ADD(&h, 1, LIN_APPEND, "", "", "old", 6, 9223372036854775807LL);
    ADD(&h, 2, LIN_GET, "k", NULL, NULL, 7, 8);
    struct lin_op op = { .client = 3, .kind = LIN_PUT, .key = "n\0l", .key_len = 3,
                         .value = "\0", .value_len = 1, .call_ns = 1, .return_ns = 2 };
    ck_assert_int_eq(lin_history_add_op(&h, &op), 0);

    char *path = lt_temp_path("rt.jsonl");
    char err[256];
    ck_assert_int_eq(lin_history_write_jsonl(&h, path, err, sizeof err), 0);
    struct lin_history g = { 0 };
    ck_assert_msg(lin_history_load_jsonl(&g, path, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(g.len, h.len);
    for (size_t i = 0; i < h.len; i++) {
        ck_assert_msg(same_op(&h.ops[i], &g.ops[i]), "op %zu differs", i);
        ck_assert_uint_eq(g.ops[i].line, i + 1);
    }
    /* the exact text of the first line is the documented format */
    FILE *f = fopen(path, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "{\"client\":7,\"op\":\"get\",\"key\":\"k\",\"value\":\"\",\"output\":\"o\","
                           "\"call\":123,\"return\":456}\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(strstr(line, "\"return\":-1}") != NULL, "%s", line);
    fclose(f);
    unlink(path);
    ck_assert_int_eq(lin_history_write_jsonl(&h, "/nonexistent-dir/x.jsonl", err, sizeof err),
                     LIN_ERR_IO);
    ck_assert_msg(strstr(err, "/nonexistent-dir/x.jsonl") != NULL, "%s", err);
    free(path);
    lin_history_free(&g);
    lin_history_free(&h);
}
END_TEST

START_TEST(jsonl_accepted_forms)
{
    char *path = lt_temp_path("forms.jsonl");
    write_file(path,
               "\n"
               "  { \"op\" : \"put\", \"key\":\"k\", \"value\":\"\\u0041\\u00e9\\ud83d\\ude00\\/\\b\\f\","
               " \"client\":1, \"call\":0, \"return\":10 }  \r\n"
               "{\"client\":2,\"op\":\"get\",\"key\":\"k\",\"output\":null,\"call\":5}\n"
               "   \n"
               "{\"client\":3,\"op\":\"append\",\"key\":\"k\",\"value\":\"x\",\"call\":20,\"return\":null}\n"
               "{\"client\":4,\"op\":\"get\",\"key\":\"k\",\"value\":\"ignored\",\"output\":\"y\","
               "\"call\":0,\"return\":-1}");
    struct lin_history h = { 0 };
    char err[256];
    ck_assert_msg(lin_history_load_jsonl(&h, path, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(h.len, 4);
    ck_assert_str_eq(h.ops[0].value, "A\xc3\xa9\xf0\x9f\x98\x80/\b\f");
    ck_assert_uint_eq(h.ops[0].line, 2);
    ck_assert_int_eq(h.ops[0].return_ns, 10);
    ck_assert_int_eq(h.ops[1].kind, LIN_GET);
    ck_assert(!h.ops[1].has_output);
    ck_assert_int_eq(h.ops[1].return_ns, NR);
    ck_assert_uint_eq(h.ops[1].line, 3);
    ck_assert_int_eq(h.ops[2].return_ns, NR);
    ck_assert(!h.ops[2].has_output);
    ck_assert_uint_eq(h.ops[2].line, 5);
    ck_assert_str_eq(h.ops[3].value, ""); /* a get's value is dropped */
    ck_assert_int_eq(h.ops[3].return_ns, NR);
    unlink(path);
    free(path);
    lin_history_free(&h);
}
END_TEST

START_TEST(jsonl_errors)
{
    static const struct {
        const char *line, *message;
    } bad[] = {
        { "[1]", "column 1: expected '{'" },
        { "{}", "empty object" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\"}", "missing field \"call\"" },
        { "{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"call\":1}", "missing field \"value\"" },
        { "{\"op\":\"get\",\"key\":\"k\",\"call\":1}", "missing field \"client\"" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"call\":1,\"retrun\":2}",
          "column 43: unknown field \"retrun\"" },
        { "{\"client\":1,\"client\":2}", "field \"client\" appears twice" },
        { "{\"client\":1,\"op\":\"frob\"}", "op must be \"get\", \"put\", \"append\", \"delete\" or \"cas\"" },
        { "{\"client\":1.5}", "client must be an integer" },
        { "{\"client\":\"1\"}", "expected an integer for client" },
        { "{\"client\":01}", "leading zero" },
        { "{\"client\":99999999999999999999}", "client is out of range" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"call\":-5}", "call must not be negative" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"call\":5,\"return\":4}",
          "return (4) is before call (5)" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"call\":5,\"return\":-2}",
          "return must be -1" },
        { "{\"client\":1,\"key\":\"k\\q\"}", "unknown escape \\q" },
        { "{\"client\":1,\"key\":\"k\\u12\"}", "four hex digits" },
        { "{\"client\":1,\"key\":\"k\\udc00\"}", "low surrogate" },
        { "{\"client\":1,\"key\":\"k\\ud800x\"}", "high surrogate" },
        { "{\"client\":1,\"key\":\"k\tx\"}", "control character 0x09" },
        { "{\"client\":1,\"key\":\"k", "unterminated string" },
        { "{\"client\":1 \"op\":\"get\"}", "expected ',' or '}'" },
        { "{\"client\":1,", "line ends; expected a string for a field name" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"call\":1} x", "unexpected text after" },
        { "{\"client\" 1}", "expected ':'" },
        { "{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"call\":1,\"output\":5}",
          "expected a string for output" },
    };
    char *path = lt_temp_path("bad.jsonl");
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char *text = xasprintf("{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"output\":\"\",\"call\":1,"
                               "\"return\":2}\n\n%s\n{\"client\":1,\"op\":\"get\",\"key\":\"k\","
                               "\"call\":1}\n",
                               bad[i].line);
        write_file(path, text);
        free(text);
        struct lin_history h = { 0 };
        char err[512];
        ck_assert_int_eq(lin_history_load_jsonl(&h, path, err, sizeof err), LIN_ERR_PARSE);
        char *where = xasprintf("%s:3: column ", path);
        ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "%s: %s", bad[i].line, err);
        ck_assert_msg(strstr(err, bad[i].message) != NULL, "%s: want \"%s\", got \"%s\"",
                      bad[i].line, bad[i].message, err);
        ck_assert_uint_eq(h.len, 1); /* the lines before the bad one */
        free(where);
        lin_history_free(&h);
    }
    unlink(path);
    struct lin_history h = { 0 };
    char err[512];
    ck_assert_int_eq(lin_history_load_jsonl(&h, path, err, sizeof err), LIN_ERR_IO);
    ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
    free(path);
}
END_TEST

START_TEST(check_and_save)
{
    struct lin_history h = { 0 };
    ADD(&h, 1, LIN_PUT, "k", "v", NULL, 0, 10);
    ADD(&h, 2, LIN_GET, "k", NULL, "v", 20, 30);
    char *dir = lt_temp_path("histories");
    unsetenv(LIN_HISTORY_DIR_ENV);
    struct lin_report r;
    ck_assert_int_eq(lin_check_and_save(&h, "TestNothing", 1000, &r), LIN_OK);
    lin_report_free(&r);
    ck_assert_int_eq(access(dir, F_OK), -1);

    setenv(LIN_HISTORY_DIR_ENV, dir, 1);
    ck_assert_int_eq(lin_check_and_save(&h, "4A/TestBasic", 1000, &r), LIN_OK);
    lin_report_free(&r);
    char *file = xasprintf("%s/4A_TestBasic.jsonl", dir);
    struct lin_history g = { 0 };
    char err[256];
    ck_assert_msg(lin_history_load_jsonl(&g, file, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(g.len, 2);
    lin_history_free(&g);
    unlink(file);
    rmdir(dir);
    free(file);

    setenv(LIN_HISTORY_DIR_ENV, "/nonexistent-dir/deeper", 1);
    ck_assert_int_eq(lin_check_and_save(&h, "T", 1000, &r), LIN_ERR_IO);
    ck_assert_ptr_nonnull(r.explanation);
    lin_report_free(&r);
    unsetenv(LIN_HISTORY_DIR_ENV);
    free(dir);
    lin_history_free(&h);
}
END_TEST

/* ---- the time limit -------------------------------------------------------------------------- */

/* n concurrent puts of one value and a concurrent read of it, then a read of a value nobody
 * wrote: with n past the pruning rule's limits, the memo cannot merge the 2^n subsets of
 * linearized puts, so the search must try them all before it can say "illegal". */
static void adversarial(struct lin_history *h, int n)
{
    for (int i = 0; i < n; i++)
        ADD(h, i, LIN_PUT, "k", "v", NULL, 0, 100);
    ADD(h, 98, LIN_GET, "k", NULL, "v", 0, 100);
    ADD(h, 99, LIN_GET, "k", NULL, "impossible", 200, 300);
}

START_TEST(time_limit_gives_unknown)
{
    struct lin_history h = { 0 };
    adversarial(&h, 40);
    ADD(&h, 1, LIN_PUT, "small", "v", NULL, 0, 10); /* decided before the big key */
    struct lin_report r;
    uint64_t t0 = clock_mono_ns();
    ck_assert_int_eq(lin_check(&h, 50, &r), LIN_UNKNOWN);
    double ms = (double)(clock_mono_ns() - t0) / 1e6;
    printf("time limit 50 ms: gave up after %.1f ms\n", ms);
    ck_assert_msg(ms < 10000, "the limit was not honoured: %.1f ms", ms);
    ck_assert_int_eq(r.result, LIN_UNKNOWN);
    ck_assert_str_eq(r.key, "k");
    ck_assert_uint_eq(r.keys, 2);
    ck_assert_uint_eq(r.keys_checked, 1);
    ck_assert_msg(strstr(r.explanation, "time limit of 50 ms") != NULL, "%s", r.explanation);
    char line[256];
    lin_report_summary(&r, line, sizeof line);
    ck_assert_msg(strncmp(line, "unknown: time limit 50 ms reached on key \"k\"", 44) == 0, "%s",
                  line);
    lin_report_free(&r);
    /* an illegal small key is still found first */
    ADD(&h, 1, LIN_GET, "small", NULL, "w", 20, 30);
    ck_assert_int_eq(lin_check(&h, 50, &r), LIN_ILLEGAL);
    ck_assert_str_eq(r.key, "small");
    lin_report_free(&r);
    lin_history_free(&h);
    /* a small adversarial history is decided without a limit */
    adversarial(&h, 6);
    expect(&h, LIN_ILLEGAL);
}
END_TEST

/* ---- random small histories against a brute-force checker ------------------------------------ */

START_TEST(random_against_brute_force)
{
    static const char *const outs[] = { "", "a", "b", "ab", "ba", "aa", "bb", "aba" };
    struct rng rng;
    rng_seed(&rng, 42);
    int counts[2] = { 0, 0 };
    for (int iter = 0; iter < 4000; iter++) {
        struct lin_history h = { 0 };
        size_t n = 1 + rng_below(&rng, 7);
        unsigned keys = 1 + (unsigned)rng_below(&rng, 2);
        for (size_t i = 0; i < n; i++) {
            enum lin_kind kind = (enum lin_kind)rng_below(&rng, 3);
            char key[2] = { (char)('a' + rng_below(&rng, keys)), 0 };
            const char *value = rng_below(&rng, 2) ? "a" : "b";
            const char *out = NULL;
            if (kind == LIN_GET || (kind == LIN_APPEND && rng_below(&rng, 3) == 0))
                out = outs[rng_below(&rng, ARRAY_LEN(outs))];
            int64_t call = (int64_t)rng_below(&rng, 20);
            int64_t ret = rng_below(&rng, 5) == 0 ? NR : call + (int64_t)rng_below(&rng, 10);
            ADD(&h, (int64_t)i, kind, key, kind == LIN_GET ? NULL : value, out, call, ret);
        }
        counts[lt_brute_agrees(&h, iter)]++;
        lin_history_free(&h);
    }
    printf("random small histories: %d linearizable, %d not\n", counts[1], counts[0]);
    ck_assert_int_gt(counts[0], 500);
    ck_assert_int_gt(counts[1], 500);
}
END_TEST

/* The pruning rule must never change a verdict: compare with the plain memoized search on
 * generated one-key histories (few clients, so the plain search finishes) with one mutation each:
 * an output replaced by another one of the history, an append's value duplicated, an interval
 * moved. */
static void plain_params(struct lin_gen_params *p, struct rng *rng, int iter)
{
    p->seed = 1000 + (uint64_t)iter;
    p->ops = 20 + rng_below(rng, 40);
    p->clients = 2 + (unsigned)rng_below(rng, 3);
    p->put_pct = (unsigned)rng_below(rng, 20);
    p->append_output = rng_below(rng, 3) == 0;
    p->lost_pct = (unsigned)rng_below(rng, 10);
}

/* An output replaced by another one's, or an append's value by another append's. */
static void plain_mutate(struct lin_op *op, const struct lin_op *other, unsigned how)
{
    if (how == 0 && other->has_output) {
        op->output = other->output;
        op->output_len = other->output_len;
        op->has_output = op->kind != LIN_PUT;
    } else if (how == 1 && op->kind == LIN_APPEND && other->kind == LIN_APPEND) {
        op->value = other->value;
        op->value_len = other->value_len;
    }
}

START_TEST(pruning_agrees_with_plain_search)
{
    lt_mutated_rules_agree("get/put/append", 400, 7, plain_params, plain_mutate);
}
END_TEST

/* ---- generated histories --------------------------------------------------------------------- */

START_TEST(generated_10000_ops)
{
    struct lin_gen_params p;
    lin_gen_params_default(&p);
    ck_assert_uint_eq(p.ops, 10000);
    ck_assert_uint_eq(p.clients, 15);
    struct lin_history h = { 0 };
    lin_history_generate(&h, &p);
    ck_assert_uint_eq(h.len, 10000);
    struct lin_report r;
    uint64_t t0 = clock_mono_ns();
    enum lin_result res = lin_check(&h, 60000, &r);
    double ms = (double)(clock_mono_ns() - t0) / 1e6;
    printf("lincheck: 10000 operations, 15 clients, %zu keys: %s in %.1f ms\n", r.keys,
           lin_result_name(res), ms);
    ck_assert_msg(res == LIN_OK, "%s", r.explanation ? r.explanation : "");
    ck_assert_uint_eq(r.keys, 15);
    lin_report_free(&r);

    /* The same history with one read made stale: its value minus the last append, which had
     * returned before the read was called. Values are unique, so no order can explain it. */
    size_t target = h.len;
    const char *stale_key = NULL;
    for (size_t g = h.len / 2; g < h.len && target == h.len; g++) {
        const struct lin_op *get = &h.ops[g];
        if (get->kind != LIN_GET || get->output_len == 0)
            continue;
        for (size_t a = 0; a < g; a++) {
            const struct lin_op *ap = &h.ops[a];
            if (ap->kind == LIN_APPEND && ap->key_len == get->key_len &&
                memcmp(ap->key, get->key, ap->key_len) == 0 && ap->return_ns < get->call_ns &&
                ap->value_len < get->output_len &&
                memcmp(get->output + get->output_len - ap->value_len, ap->value,
                       ap->value_len) == 0) {
                target = g;
                break;
            }
        }
    }
    ck_assert_uint_lt(target, h.len);
    struct lin_op *get = &h.ops[target];
    stale_key = get->key;
    size_t last = get->output_len - 1;
    while (get->output[last] != 'x') /* the last append's "x <client> <n> y" */
        last--;
    get->output_len = last; /* the library owns the string; shortening it in place is safe */
    t0 = clock_mono_ns();
    res = lin_check(&h, 60000, &r);
    ms = (double)(clock_mono_ns() - t0) / 1e6;
    printf("lincheck: the same with one stale read: %s in %.1f ms\n", lin_result_name(res), ms);
    ck_assert_int_eq(res, LIN_ILLEGAL);
    ck_assert_str_eq(r.key, stale_key);
    printf("%s\n", r.explanation);
    lin_report_free(&r);
    lin_history_free(&h);
}
END_TEST

START_TEST(generated_variants)
{
    struct {
        const char *what;
        size_t ops;
        unsigned clients, keys, lost_pct;
        bool append_output;
        uint64_t seed;
    } cases[] = {
        { "one key, 15 clients", 2000, 15, 1, 0, false, 7 },
        { "Lab 2 appends with old values, one key", 2000, 5, 1, 0, true, 8 },
        { "5% lost operations", 5000, 15, 15, 5, false, 9 },
        { "one key, 10% lost, append outputs", 1000, 5, 1, 10, true, 10 },
        { "many keys", 10000, 15, 1000, 0, false, 11 },
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct lin_gen_params p;
        lin_gen_params_default(&p);
        p.ops = cases[i].ops;
        p.clients = cases[i].clients;
        p.keys = cases[i].keys;
        p.lost_pct = cases[i].lost_pct;
        p.append_output = cases[i].append_output;
        p.seed = cases[i].seed;
        struct lin_history h = { 0 };
        lin_history_generate(&h, &p);
        struct lin_report r;
        uint64_t t0 = clock_mono_ns();
        enum lin_result res = lin_check(&h, 60000, &r);
        double ms = (double)(clock_mono_ns() - t0) / 1e6;
        printf("lincheck: %s (%zu operations): %s in %.1f ms\n", cases[i].what, h.len,
               lin_result_name(res), ms);
        ck_assert_msg(res == LIN_OK, "%s: %s", cases[i].what, r.explanation ? r.explanation : "");
        lin_report_free(&r);
        lin_history_free(&h);
    }
}
END_TEST

/* The generator is deterministic. */
START_TEST(generator_is_deterministic)
{
    struct lin_gen_params p;
    lin_gen_params_default(&p);
    p.ops = 500;
    p.lost_pct = 10;
    struct lin_history a = { 0 }, b = { 0 };
    lin_history_generate(&a, &p);
    lin_history_generate(&b, &p);
    ck_assert_uint_eq(a.len, b.len);
    for (size_t i = 0; i < a.len; i++)
        ck_assert(same_op(&a.ops[i], &b.ops[i]));
    lin_history_free(&b);
    p.seed = 2;
    lin_history_generate(&b, &p);
    bool differ = a.len != b.len;
    for (size_t i = 0; i < a.len && !differ; i++)
        differ = !same_op(&a.ops[i], &b.ops[i]);
    ck_assert(differ);
    lin_history_free(&a);
    lin_history_free(&b);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("lincheck");
    TCase *t = tcase_create("histories");
    tcase_add_test(t, empty_history);
    tcase_add_test(t, sequential);
    tcase_add_test(t, concurrent_either_order);
    tcase_add_test(t, equal_times_are_concurrent);
    tcase_add_test(t, stale_read);
    tcase_add_test(t, lost_append);
    tcase_add_test(t, duplicated_append);
    tcase_add_test(t, value_never_written);
    tcase_add_test(t, unknown_outcome);
    tcase_add_test(t, append_old_value);
    tcase_add_test(t, partitions_are_independent);
    tcase_add_test(t, binary_keys);
    tcase_add_test(t, building_api);
    suite_add_tcase(s, t);

    TCase *j = tcase_create("jsonl");
    tcase_add_test(j, jsonl_round_trip);
    tcase_add_test(j, jsonl_accepted_forms);
    tcase_add_test(j, jsonl_errors);
    tcase_add_test(j, check_and_save);
    suite_add_tcase(s, j);

    TCase *big = tcase_create("search");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, time_limit_gives_unknown);
    tcase_add_test(big, random_against_brute_force);
    tcase_add_test(big, pruning_agrees_with_plain_search);
    tcase_add_test(big, generated_10000_ops);
    tcase_add_test(big, generated_variants);
    tcase_add_test(big, generator_is_deterministic);
    suite_add_tcase(s, big);
    return s;
}
