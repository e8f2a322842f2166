/* lib/mr records: the partition function, the intermediate format (round trip and rejection of
 * damaged data), and the stable sort and grouping, checked against qsort on random keys. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "mr/mr.h"

START_TEST(test_partition)
{
    /* FNV-1a("a") = 0xe40c292c; ("hello") = 0x4f9f2cab; & 0x7fffffff, then mod n. */
    ck_assert_uint_eq(mr_partition("a", 1, 10), 0x640c292cu % 10);
    ck_assert_uint_eq(mr_partition("a", 1, 10), 2);
    ck_assert_uint_eq(mr_partition("hello", 5, 10), 3);
    ck_assert_uint_eq(mr_partition("hello", 5, 7), 2);
    ck_assert_uint_eq(mr_partition("anything", 8, 1), 0);
}
END_TEST

START_TEST(test_roundtrip)
{
    struct mr_kvbuf b;
    mr_kvbuf_init(&b);
    const char bin[] = { 'x', '\0', 'y' };
    ck_assert_int_eq(mr_kvbuf_add(&b, "key", 3, "value", 5), MR_OK);
    ck_assert_int_eq(mr_kvbuf_add(&b, "", 0, "", 0), MR_OK);
    ck_assert_int_eq(mr_kvbuf_add(&b, bin, 3, bin, 3), MR_OK);
    char big[10000];
    memset(big, 'z', sizeof big);
    ck_assert_int_eq(mr_kvbuf_add(&b, big, sizeof big, "v", 1), MR_OK); /* grows the buffer */

    struct mr_kvlist l = { 0 };
    char err[256];
    ck_assert_int_eq(mr_kvlist_parse(&l, b.data, b.len, "buf", err, sizeof err), MR_OK);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_uint_eq(l.items[0].key_len, 3);
    ck_assert_str_eq(l.items[0].key, "key"); /* '\0'-terminated in place */
    ck_assert_str_eq(l.items[0].value, "value");
    ck_assert_uint_eq(l.items[1].key_len, 0);
    ck_assert_str_eq(l.items[1].key, "");
    ck_assert_uint_eq(l.items[2].key_len, 3);
    ck_assert(memcmp(l.items[2].key, bin, 3) == 0 && l.items[2].key[3] == '\0');
    ck_assert_uint_eq(l.items[3].key_len, sizeof big);
    ck_assert_str_eq(l.items[3].value, "v");

    /* Parsing appends: the same buffer twice gives every pair twice. */
    ck_assert_int_eq(mr_kvlist_parse(&l, b.data, b.len, "buf", err, sizeof err), MR_OK);
    ck_assert_uint_eq(l.n, 8);

    mr_kvbuf_reset(&b);
    mr_kvlist_free(&l);
    ck_assert_int_eq(mr_kvlist_parse(&l, b.data, b.len, "empty", err, sizeof err), MR_OK);
    ck_assert_uint_eq(l.n, 0);
    mr_kvlist_free(&l);
    mr_kvbuf_free(&b);
}
END_TEST

START_TEST(test_damaged)
{
    struct mr_kvbuf b;
    mr_kvbuf_init(&b);
    mr_kvbuf_add(&b, "alpha", 5, "1", 1);
    mr_kvbuf_add(&b, "beta", 4, "22", 2);
    struct mr_kvlist l = { 0 };
    char err[256];

    ck_assert_int_eq(mr_kvlist_parse(&l, "XXXX", 4, "f", err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "f: not an intermediate file") != NULL);
    ck_assert_int_eq(mr_kvlist_parse(&l, b.data, 2, "f", err, sizeof err), MR_ERR);

    /* Every truncation inside the second record is refused, after the first was indexed. */
    size_t second = 4 + 8 + 5 + 1 + 1 + 1;
    for (size_t cut = second + 1; cut < b.len; cut++) {
        l.n = 0;
        ck_assert_int_eq(mr_kvlist_parse(&l, b.data, cut, "f", err, sizeof err), MR_ERR);
        ck_assert_uint_eq(l.n, 1);
        ck_assert(strstr(err, "offset 20") != NULL);
    }
    /* A length that points past the end, and a missing terminator. */
    char *copy = xmalloc(b.len);
    memcpy(copy, b.data, b.len);
    copy[second] = (char)0xff;
    l.n = 0;
    ck_assert_int_eq(mr_kvlist_parse(&l, copy, b.len, "f", err, sizeof err), MR_ERR);
    memcpy(copy, b.data, b.len);
    copy[4 + 8 + 5] = 'x'; /* the first key's terminator */
    l.n = 0;
    ck_assert_int_eq(mr_kvlist_parse(&l, copy, b.len, "f", err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "malformed record at offset 4") != NULL);
    free(copy);
    mr_kvlist_free(&l);
    mr_kvbuf_free(&b);
}
END_TEST

/* The reference order: bytewise, unsigned, shorter first on a common prefix. */
static int ref_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, MIN(al, bl));
    return c ? c : (al > bl) - (al < bl);
}

struct ref {
    const struct mr_kv *kv;
    size_t index; /* parse order, for stability */
};

static int ref_qsort(const void *x, const void *y)
{
    const struct ref *a = x, *b = y;
    int c = ref_cmp(a->kv->key, a->kv->key_len, b->kv->key, b->kv->key_len);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

START_TEST(test_sort_random)
{
    struct rng g;
    rng_seed(&g, 1234 + (uint64_t)_i);
    const size_t n = _i == 0 ? 20 : 5000; /* below and above the insertion-sort run */
    struct mr_kvbuf b;
    mr_kvbuf_init(&b);
    char key[24], val[24];
    for (size_t i = 0; i < n; i++) {
        /* Few distinct keys, sharing long prefixes, with bytes 0x00 and 0xff. */
        size_t kl = rng_below(&g, 14);
        for (size_t k = 0; k < kl; k++) {
            static const char alphabet[] = { 'a', 'b', '\0', (char)0xff };
            key[k] = k < 6 ? 'p' : alphabet[rng_below(&g, 4)];
        }
        int vl = snprintf(val, sizeof val, "%zu", i);
        mr_kvbuf_add(&b, key, kl, val, (size_t)vl);
    }
    struct mr_kvlist l = { 0 };
    char err[128];
    ck_assert_int_eq(mr_kvlist_parse(&l, b.data, b.len, "r", err, sizeof err), MR_OK);
    struct ref *want = xmalloc(n * sizeof *want);
    struct mr_kv *orig = xmalloc(n * sizeof *orig);
    memcpy(orig, l.items, n * sizeof *orig);
    for (size_t i = 0; i < n; i++)
        want[i] = (struct ref){ &orig[i], i };
    qsort(want, n, sizeof *want, ref_qsort);
    mr_kvlist_sort(&l);
    for (size_t i = 0; i < n; i++) /* same keys and, being stable, same values */
        ck_assert_ptr_eq(l.items[i].value, want[i].kv->value);
    /* Groups: maximal runs of equal keys, in order. */
    size_t groups = 0;
    for (size_t i = 0; i < n;) {
        size_t j = mr_kvlist_group_end(&l, i);
        ck_assert_uint_gt(j, i);
        for (size_t k = i; k < j; k++)
            ck_assert_int_eq(ref_cmp(l.items[k].key, l.items[k].key_len, l.items[i].key,
                                     l.items[i].key_len), 0);
        if (j < n)
            ck_assert_int_lt(ref_cmp(l.items[i].key, l.items[i].key_len, l.items[j].key,
                                     l.items[j].key_len), 0);
        groups++;
        i = j;
    }
    ck_assert_uint_gt(groups, 1);
    free(want);
    free(orig);
    mr_kvlist_free(&l);
    mr_kvbuf_free(&b);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("mr_kv");
    TCase *tc = tcase_create("mr_kv");
    tcase_add_test(tc, test_partition);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_damaged);
    tcase_add_loop_test(tc, test_sort_random, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}
