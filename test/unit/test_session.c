/* lib/session: the at-most-once table — new / duplicate / stale, export, import (the higher seq
 * wins) and drop of one partition leaving the others untouched, exact memory accounting, and
 * listings in an order that does not depend on the order of recording. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "session/session.h"

#define REC(t, part, client, seq, s) session_record(t, part, client, seq, (const uint8_t *)(s), strlen(s))

static enum session_verdict check(const struct session_table *t, uint32_t part, uint64_t client,
                                  uint64_t seq, const char **reply)
{
    const uint8_t *r = NULL;
    size_t len = 0;
    enum session_verdict v = session_check(t, part, client, seq, &r, &len);
    static char buf[256];
    if (v == SESSION_DUPLICATE) {
        memcpy(buf, r, len);
        buf[len] = '\0';
        *reply = buf;
    }
    return v;
}

START_TEST(test_new_duplicate_stale)
{
    struct session_table *t = session_new();
    const char *reply = NULL;
    ck_assert_int_eq(check(t, 0, 5, 1, &reply), SESSION_NEW);
    REC(t, 0, 5, 3, "three");
    ck_assert_int_eq(check(t, 0, 5, 3, &reply), SESSION_DUPLICATE);
    ck_assert_str_eq(reply, "three");
    ck_assert_int_eq(check(t, 0, 5, 2, &reply), SESSION_STALE);
    ck_assert_int_eq(check(t, 0, 5, 4, &reply), SESSION_NEW);
    ck_assert_int_eq(check(t, 0, 6, 3, &reply), SESSION_NEW); /* another client */
    ck_assert_int_eq(check(t, 1, 5, 3, &reply), SESSION_NEW); /* another partition */
    REC(t, 0, 5, 4, "four");                                  /* replaces seq 3 */
    ck_assert_int_eq(check(t, 0, 5, 3, &reply), SESSION_STALE);
    ck_assert_int_eq(check(t, 0, 5, 4, &reply), SESSION_DUPLICATE);
    ck_assert_str_eq(reply, "four");
    ck_assert_uint_eq(session_count(t), 1);
    /* Client id 0 has no session. */
    ck_assert_ptr_null(REC(t, 0, 0, 9, "x"));
    ck_assert_int_eq(check(t, 0, 0, 9, &reply), SESSION_NEW);
    ck_assert_uint_eq(session_count(t), 1);
    session_free(t);
}
END_TEST

START_TEST(test_memory_accounting_exact)
{
    struct session_table *t = session_new();
    ck_assert_uint_eq(session_bytes(t), 0);
    REC(t, 0, 1, 1, "abc");
    ck_assert_uint_eq(session_bytes(t), 3 + SESSION_ENTRY_OVERHEAD);
    REC(t, 2, 1, 1, "");
    ck_assert_uint_eq(session_bytes(t), 3 + 2 * SESSION_ENTRY_OVERHEAD);
    REC(t, 0, 1, 2, "abcdefgh"); /* replaces: down by 3, up by 8 */
    ck_assert_uint_eq(session_bytes(t), 8 + 2 * SESSION_ENTRY_OVERHEAD);
    REC(t, 0, 1, 3, "a");
    ck_assert_uint_eq(session_bytes(t), 1 + 2 * SESSION_ENTRY_OVERHEAD);
    session_drop(t, 0);
    ck_assert_uint_eq(session_bytes(t), SESSION_ENTRY_OVERHEAD);
    ck_assert_uint_eq(session_count(t), 1);
    struct session_entry e = { 7, 1, (const uint8_t *)"hello", 5 };
    session_import(t, 3, &e, 1);
    ck_assert_uint_eq(session_bytes(t), 5 + 2 * SESSION_ENTRY_OVERHEAD);
    session_clear(t);
    ck_assert_uint_eq(session_bytes(t), 0);
    ck_assert_uint_eq(session_count(t), 0);
    session_free(t);
}
END_TEST

START_TEST(test_export_import_drop_one_partition)
{
    struct session_table *src = session_new();
    for (uint64_t c = 1; c <= 20; c++) {
        REC(src, 1, c, 10 + c, "p1");
        REC(src, 2, c, 100 + c, "p2");
    }
    size_t bytes_before = session_bytes(src);
    struct session_entry *e;
    size_t n = session_export(src, 1, &e);
    ck_assert_uint_eq(n, 20);
    for (size_t i = 0; i < n; i++) { /* by client id, with their seqs and replies */
        ck_assert_uint_eq(e[i].client_id, i + 1);
        ck_assert_uint_eq(e[i].seq, 10 + i + 1);
        ck_assert_uint_eq(e[i].reply_len, 2);
        ck_assert(memcmp(e[i].reply, "p1", 2) == 0);
    }
    ck_assert_uint_eq(session_bytes(src), bytes_before); /* exporting changes nothing */

    /* The destination already knows client 3 at a higher seq and client 4 at a lower one. */
    struct session_table *dst = session_new();
    REC(dst, 1, 3, 500, "newer");
    REC(dst, 1, 4, 1, "older");
    REC(dst, 0, 3, 1, "other partition");
    session_import(dst, 1, e, n);
    free(e);
    ck_assert_uint_eq(session_count_part(dst, 1), 20);
    ck_assert_uint_eq(session_count_part(dst, 0), 1);
    const char *reply = NULL;
    ck_assert_int_eq(check(dst, 1, 3, 500, &reply), SESSION_DUPLICATE); /* kept: higher */
    ck_assert_str_eq(reply, "newer");
    ck_assert_int_eq(check(dst, 1, 4, 14, &reply), SESSION_DUPLICATE); /* replaced: imported */
    ck_assert_str_eq(reply, "p1");
    ck_assert_int_eq(check(dst, 1, 4, 1, &reply), SESSION_STALE);
    ck_assert_int_eq(check(dst, 1, 9, 19, &reply), SESSION_DUPLICATE);
    ck_assert_int_eq(check(dst, 0, 3, 1, &reply), SESSION_DUPLICATE);
    ck_assert_str_eq(reply, "other partition");
    ck_assert_uint_eq(session_bytes(dst),
                      strlen("newer") + 19 * 2 + strlen("other partition") +
                          21 * SESSION_ENTRY_OVERHEAD);

    /* Dropping partition 1 leaves partition 2 whole. */
    session_drop(src, 1);
    ck_assert_uint_eq(session_count_part(src, 1), 0);
    ck_assert_uint_eq(session_count_part(src, 2), 20);
    ck_assert_uint_eq(session_count(src), 20);
    ck_assert_uint_eq(session_bytes(src), 20 * (2 + SESSION_ENTRY_OVERHEAD));
    ck_assert_int_eq(check(src, 1, 5, 15, &reply), SESSION_NEW);
    ck_assert_int_eq(check(src, 2, 5, 105, &reply), SESSION_DUPLICATE);
    ck_assert_str_eq(reply, "p2");
    ck_assert_uint_eq(session_export(src, 1, &e), 0);
    ck_assert_ptr_null(e);
    ck_assert_uint_eq(session_export(src, 77, &e), 0); /* a partition never used */
    session_free(src);
    session_free(dst);
}
END_TEST

/* Serializes every entry as session_each lists it (what a snapshot would write). */
struct dump {
    uint8_t buf[1 << 16];
    size_t len;
};

static void put_bytes(struct dump *d, const void *p, size_t n)
{
    ck_assert_uint_le(d->len + n, sizeof d->buf);
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

static void dump_one(uint32_t part, const struct session_entry *e, void *arg)
{
    struct dump *d = arg;
    put_bytes(d, &part, sizeof part);
    put_bytes(d, &e->client_id, sizeof e->client_id);
    put_bytes(d, &e->seq, sizeof e->seq);
    put_bytes(d, e->reply, e->reply_len);
}

static struct session_table *build(int forward)
{
    struct session_table *t = session_new();
    for (int j = 0; j < 500; j++) {
        int i = forward ? j : 499 - j;
        /* Spread ids, so the hash map's slots would differ between the two orders. */
        uint64_t client = (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
        REC(t, (uint32_t)(i % 3), client, (uint64_t)i, "r");
    }
    return t;
}

START_TEST(test_listing_order_deterministic)
{
    struct session_table *a = build(1), *b = build(0);
    static struct dump da, db;
    da.len = db.len = 0;
    session_each(a, dump_one, &da);
    session_each(b, dump_one, &db);
    ck_assert_uint_eq(da.len, db.len);
    ck_assert_msg(memcmp(da.buf, db.buf, da.len) == 0, "same sessions, different listing");
    for (uint32_t p = 0; p < 3; p++) {
        struct session_entry *ea, *eb;
        size_t na = session_export(a, p, &ea), nb = session_export(b, p, &eb);
        ck_assert_uint_eq(na, nb);
        for (size_t i = 0; i < na; i++) {
            ck_assert_uint_eq(ea[i].client_id, eb[i].client_id);
            if (i)
                ck_assert_uint_lt(ea[i - 1].client_id, ea[i].client_id);
        }
        free(ea);
        free(eb);
    }
    session_free(a);
    session_free(b);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_test(tc, test_new_duplicate_stale);
    tcase_add_test(tc, test_memory_accounting_exact);
    tcase_add_test(tc, test_export_import_drop_one_partition);
    tcase_add_test(tc, test_listing_order_deterministic);
    suite_add_tcase(s, tc);
    return s;
}
