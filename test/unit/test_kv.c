/* lib/kv: the state machine's semantics — Get/Put/Append, at-most-once writes from (client id,
 * sequence), Gets leaving no per-client state, previous values, snapshot round trips, memory
 * accounting bounded by clients rather than requests. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.pb-c.h"
#include "kv/kv.h"

struct res {
    Kv__Err err;
    char value[256];
};

static struct res run(struct kv *kv, Kv__OpType op, const char *key, const char *val,
                      uint64_t client, uint64_t seq, bool want_prev)
{
    Kv__Command c = KV__COMMAND__INIT;
    c.op = op;
    c.key.data = (uint8_t *)key;
    c.key.len = strlen(key);
    c.value.data = (uint8_t *)val;
    c.value.len = val ? strlen(val) : 0;
    c.client_id = client;
    c.seq = seq;
    c.want_prev = want_prev;
    uint8_t buf[1024];
    size_t n = kv__command__pack(&c, buf);
    uint8_t *reply;
    size_t len;
    kv_apply(kv, buf, n, &reply, &len);
    Kv__Reply *r = kv__reply__unpack(NULL, len, reply);
    ck_assert_ptr_nonnull(r);
    struct res out = { r->err, "" };
    snprintf(out.value, sizeof out.value, "%.*s", (int)r->value.len, (const char *)r->value.data);
    kv__reply__free_unpacked(r, NULL);
    free(reply);
    return out;
}

#define GET(kv, k) run(kv, KV__OP_TYPE__GET, k, NULL, 0, 0, false)
#define PUT(kv, k, v, cl, seq) run(kv, KV__OP_TYPE__PUT, k, v, cl, seq, true)
#define APPEND(kv, k, v, cl, seq) run(kv, KV__OP_TYPE__APPEND, k, v, cl, seq, true)

START_TEST(test_basic_ops)
{
    struct kv *kv = kv_new();
    ck_assert_int_eq(GET(kv, "a").err, KV__ERR__NO_KEY);
    ck_assert_str_eq(PUT(kv, "a", "1", 7, 1).value, "");
    ck_assert_str_eq(GET(kv, "a").value, "1");
    ck_assert_str_eq(APPEND(kv, "a", "23", 7, 2).value, "1"); /* the previous value */
    ck_assert_str_eq(GET(kv, "a").value, "123");
    ck_assert_str_eq(PUT(kv, "a", "x", 7, 3).value, "123");
    ck_assert_str_eq(APPEND(kv, "new", "v", 7, 4).value, "");
    ck_assert_str_eq(GET(kv, "new").value, "v");
    kv_free(kv);
}
END_TEST

START_TEST(test_at_most_once)
{
    struct kv *kv = kv_new();
    ck_assert_str_eq(APPEND(kv, "k", "x", 1, 1).value, "");
    /* The same (client, seq) again: the first reply, and the append is not redone. */
    ck_assert_str_eq(APPEND(kv, "k", "x", 1, 1).value, "");
    ck_assert_str_eq(GET(kv, "k").value, "x");
    /* Another client's identical request is a different request. */
    APPEND(kv, "k", "x", 2, 1);
    ck_assert_str_eq(GET(kv, "k").value, "xx");
    /* An older sequence number is stale, not executed. */
    APPEND(kv, "k", "y", 1, 2);
    ck_assert_int_eq(APPEND(kv, "k", "z", 1, 1).err, KV__ERR__STALE);
    ck_assert_str_eq(GET(kv, "k").value, "xxy");
    kv_free(kv);
}
END_TEST

START_TEST(test_gets_leave_no_client_state)
{
    struct kv *kv = kv_new();
    PUT(kv, "k", "v", 1, 1);
    struct kv_stats before, after;
    kv_stats(kv, &before);
    for (int i = 0; i < 1000; i++)
        GET(kv, "k");
    kv_stats(kv, &after);
    ck_assert_uint_eq(after.clients, before.clients);
    ck_assert_uint_eq(after.bytes, before.bytes);
    kv_free(kv);
}
END_TEST

START_TEST(test_memory_is_per_client_not_per_request)
{
    struct kv *kv = kv_new();
    /* Many appends by one client: no history of old values or requests is kept. */
    char val[1001];
    memset(val, 'v', 1000);
    val[1000] = '\0';
    for (uint64_t i = 1; i <= 1000; i++)
        run(kv, KV__OP_TYPE__APPEND, "big", val, 3, i, false);
    struct kv_stats st;
    kv_stats(kv, &st);
    ck_assert_uint_eq(st.clients, 1);
    ck_assert_uint_lt(st.bytes, 1000 * 1000 + 200); /* the value itself, plus small change */
    /* Many clients, one small put each: bounded bytes per client. */
    struct kv *kv2 = kv_new();
    for (uint64_t c = 1; c <= 10000; c++)
        run(kv2, KV__OP_TYPE__PUT, "k", "v", c, 1, false);
    kv_stats(kv2, &st);
    ck_assert_uint_eq(st.clients, 10000);
    ck_assert_msg(st.bytes / 10000 < 200, "%llu bytes per client",
                  (unsigned long long)(st.bytes / 10000));
    kv_free(kv);
    kv_free(kv2);
}
END_TEST

START_TEST(test_snapshot_round_trip)
{
    struct kv *kv = kv_new();
    PUT(kv, "a", "1", 1, 1);
    APPEND(kv, "b", "2", 2, 5);
    uint8_t *snap;
    size_t len;
    kv_snapshot(kv, &snap, &len);
    struct kv *copy = kv_new();
    PUT(copy, "junk", "gone", 9, 1);
    ck_assert_int_eq(kv_restore(copy, snap, len), 0);
    ck_assert_int_eq(GET(copy, "junk").err, KV__ERR__NO_KEY);
    ck_assert_str_eq(GET(copy, "a").value, "1");
    ck_assert_str_eq(GET(copy, "b").value, "2");
    /* The de-duplication table travels with the snapshot. */
    ck_assert_str_eq(APPEND(copy, "b", "2", 2, 5).value, "");
    ck_assert_str_eq(GET(copy, "b").value, "2");
    struct kv_stats s1, s2;
    kv_stats(kv, &s1);
    kv_stats(copy, &s2);
    ck_assert_uint_eq(s1.bytes, s2.bytes);
    ck_assert_int_eq(kv_restore(copy, (const uint8_t *)"\xff\xff\xff", 3), -1);
    ck_assert_str_eq(GET(copy, "a").value, "1"); /* unchanged after a bad snapshot */
    free(snap);
    kv_free(kv);
    kv_free(copy);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kv");
    TCase *tc = tcase_create("kv");
    tcase_add_test(tc, test_basic_ops);
    tcase_add_test(tc, test_at_most_once);
    tcase_add_test(tc, test_gets_leave_no_client_state);
    tcase_add_test(tc, test_memory_is_per_client_not_per_request);
    tcase_add_test(tc, test_snapshot_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
