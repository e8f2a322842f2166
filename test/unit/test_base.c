/* lib/base: parsers, the u64 map, the seeded generator, the hash. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/u64map.h"
#include "base/util.h"

START_TEST(test_parse_numbers)
{
    uint64_t u;
    int64_t i;
    ck_assert_int_eq(parse_u64("18446744073709551615", &u), 0);
    ck_assert(u == UINT64_MAX);
    ck_assert_int_eq(parse_u64("18446744073709551616", &u), -1);
    ck_assert_int_eq(parse_u64("-1", &u), -1);
    ck_assert_int_eq(parse_u64("12x", &u), -1);
    ck_assert_int_eq(parse_u64("", &u), -1);
    ck_assert_int_eq(parse_i64("-9223372036854775808", &i), 0);
    ck_assert(i == INT64_MIN);
    ck_assert_int_eq(parse_i64("9223372036854775808", &i), -1);
    ck_assert_int_eq(parse_i64("+42", &i), 0);
    ck_assert_int_eq(i, 42);
}
END_TEST

START_TEST(test_parse_units)
{
    uint64_t v;
    ck_assert_int_eq(parse_duration_ms("250ms", &v), 0);
    ck_assert_int_eq(v, 250);
    ck_assert_int_eq(parse_duration_ms("2s", &v), 0);
    ck_assert_int_eq(v, 2000);
    ck_assert_int_eq(parse_duration_ms("1m", &v), 0);
    ck_assert_int_eq(v, 60000);
    /* A bare number has no unit: refused (kvcli --timeout 5 is not 5 ms), but 0 is 0. */
    ck_assert_int_eq(parse_duration_ms("15", &v), -1);
    ck_assert_int_eq(parse_duration_ms("0", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(parse_duration_ms("1.5s", &v), -1);
    ck_assert_int_eq(parse_duration_ms("s", &v), -1);
    ck_assert_int_eq(parse_size("64MiB", &v), 0);
    ck_assert_int_eq(v, 64u << 20);
    ck_assert_int_eq(parse_size("4K", &v), 0);
    ck_assert_int_eq(v, 4096);
    ck_assert_int_eq(parse_size("17179869184GiB", &v), -1); /* overflows */
    bool b;
    ck_assert_int_eq(parse_bool("yes", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(parse_bool("OFF", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(parse_bool("maybe", &b), -1);
}
END_TEST

START_TEST(test_parse_host_port)
{
    char host[64];
    uint16_t port;
    ck_assert_int_eq(parse_host_port("127.0.0.1:7001", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 7001);
    ck_assert_int_eq(parse_host_port("[::1]:80", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(parse_host_port("kv1:7001", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "kv1");
    ck_assert_int_eq(parse_host_port("nohost", host, sizeof host, &port), -1);
    ck_assert_int_eq(parse_host_port(":80", host, sizeof host, &port), -1);
    ck_assert_int_eq(parse_host_port("h:65536", host, sizeof host, &port), -1);
    ck_assert_int_eq(parse_host_port("h:", host, sizeof host, &port), -1);
}
END_TEST

/* The map against a plain array over random inserts, replacements and deletions. */
START_TEST(test_split_list)
{
    char **v;
    size_t n = split_list("a:1,,b:2,c", &v);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(v[0], "a:1");
    ck_assert_str_eq(v[1], "b:2");
    ck_assert_str_eq(v[2], "c");
    strv_free(v, n);
    ck_assert_uint_eq(split_list("", &v), 0);
    strv_free(v, 0);
}
END_TEST

START_TEST(test_u64map_random)
{
    enum { KEYS = 2000, OPS = 200000 };
    static void *ref[KEYS];
    memset(ref, 0, sizeof ref);
    struct u64map m = { 0 };
    struct rng r;
    rng_seed(&r, 42);
    for (int op = 0; op < OPS; op++) {
        uint64_t k = rng_below(&r, KEYS);
        uint64_t key = k * 0x10000 + 1; /* clustered keys, never 0 */
        if (rng_below(&r, 3) == 0) {
            void *got = u64map_del(&m, key);
            ck_assert_ptr_eq(got, ref[k]);
            ref[k] = NULL;
        } else {
            void *val = (void *)(uintptr_t)(op + 1);
            u64map_put(&m, key, val);
            ref[k] = val;
        }
        if (op % 1000 == 0) {
            size_t live = 0;
            for (uint64_t j = 0; j < KEYS; j++) {
                ck_assert_ptr_eq(u64map_get(&m, j * 0x10000 + 1), ref[j]);
                live += ref[j] != NULL;
            }
            ck_assert_uint_eq(m.len, live);
        }
    }
    u64map_free(&m);
}
END_TEST

START_TEST(test_rng_and_hash)
{
    struct rng a, b;
    rng_seed(&a, 7);
    rng_seed(&b, 7);
    for (int i = 0; i < 1000; i++)
        ck_assert(rng_next(&a) == rng_next(&b));
    for (int i = 0; i < 1000; i++)
        ck_assert(rng_below(&a, 10) < 10);
    /* Reference values of FNV-1a 32. */
    ck_assert_uint_eq(hash_fnv1a32("", 0), 0x811c9dc5u);
    ck_assert_uint_eq(hash_fnv1a32("a", 1), 0xe40c292cu);
    ck_assert_uint_eq(hash_fnv1a32("foobar", 6), 0xbf9cf968u);
}
END_TEST

START_TEST(test_b64)
{
    /* RFC 4648's test vectors, each encoded and decoded back. */
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                         "Zm9vYmFy" };
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);
        ck_assert_uint_eq(n, b64_encoded_len(strlen(plain[i])));
        ck_assert_uint_eq(n, strlen(coded[i]));
        ck_assert(memcmp(out, coded[i], n) == 0);
        uint8_t back[16];
        ck_assert_int_eq(b64_decode(coded[i], n, back), (long)strlen(plain[i]));
        ck_assert(memcmp(back, plain[i], strlen(plain[i])) == 0);
    }
    uint8_t all[256], back[258];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char out[344];
    size_t n = b64_encode(all, 256, out);
    ck_assert_int_eq(b64_decode(out, n, back), 256);
    ck_assert(memcmp(all, back, 256) == 0);
    ck_assert_int_eq(b64_decode("Zm9", 3, back), -1);  /* not a multiple of 4 */
    ck_assert_int_eq(b64_decode("Zm9*", 4, back), -1); /* not in the alphabet */
}
END_TEST

START_TEST(test_utf8_valid)
{
    static const char *const good[] = { "", "abc", "caf\xc3\xa9", "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf" };
    static const char *const bad[] = {
        "\xc3",             /* truncated */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xff",             /* never in UTF-8 */
        "a\x80" "b",        /* a lone continuation byte */
        "\xe2\x82",         /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(utf8_valid((const uint8_t *)good[i], strlen(good[i])), "good %zu", i);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!utf8_valid((const uint8_t *)bad[i], strlen(bad[i])), "bad %zu", i);
    ck_assert(utf8_valid((const uint8_t *)"a\0b", 3)); /* NUL is a character (escaped in JSON) */
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("base");
    tcase_add_test(tc, test_parse_numbers);
    tcase_add_test(tc, test_parse_units);
    tcase_add_test(tc, test_parse_host_port);
    tcase_add_test(tc, test_u64map_random);
    tcase_add_test(tc, test_rng_and_hash);
    tcase_add_test(tc, test_split_list);
    tcase_add_test(tc, test_b64);
    tcase_add_test(tc, test_utf8_valid);
    suite_add_tcase(s, tc);
    return s;
}
