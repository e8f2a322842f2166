/* What the 6.5840 kv testers share between the real-process ports (kvtest.c) and the
 * simulator's (test/sim/kvlab.c), free of any test framework: the checks of appended values (a
 * value built of "x <cli> <j> y" elements must hold each expected element exactly once and in
 * order) and the KV_TEST_ONLY filter. */
#ifndef TEST_KV_LABCHECK_H
#define TEST_KV_LABCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* checkClntAppends: elements "x clnt 0 y" .. "x clnt count-1 y" are in v, once each, in order.
 * Returns true, or false with what is wrong in why. */
bool kv_appends_check_client(int clnt, const char *v, int count, char *why, size_t len);

/* checkConcurrentAppends: the same for clients 0..nclients-1, counts[i] elements each. */
bool kv_appends_check_concurrent(const char *v, const int *counts, int nclients, char *why,
                                 size_t len);

/* KV_TEST_ONLY=Name[,Name...] runs only those tests: true when name is wanted. */
bool kv_test_wanted(const char *name);

/* tcase_add_test, skipped for tests KV_TEST_ONLY leaves out. */
#define KV_ADD_TEST(tc, fn) \
    do { \
        if (kv_test_wanted(#fn)) \
            tcase_add_test((tc), fn); \
    } while (0)

#endif
