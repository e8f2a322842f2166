#include "labcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *find_last(const char *hay, const char *needle)
{
    const char *last = NULL;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        last = p;
    return last;
}

bool kv_appends_check_client(int clnt, const char *v, int count, char *why, size_t len)
{
    long lastoff = -1;
    for (int j = 0; j < count; j++) {
        char wanted[64];
        snprintf(wanted, sizeof wanted, "x %d %d y", clnt, j);
        const char *p = strstr(v, wanted);
        if (!p) {
            snprintf(why, len, "missing element %s in Append result %s", wanted, v);
            return false;
        }
        if (find_last(v, wanted) != p) {
            snprintf(why, len, "duplicate element %s in Append result", wanted);
            return false;
        }
        long off = p - v;
        if (off <= lastoff) {
            snprintf(why, len, "wrong order for element %s in Append result", wanted);
            return false;
        }
        lastoff = off;
    }
    return true;
}

bool kv_appends_check_concurrent(const char *v, const int *counts, int nclients, char *why,
                                 size_t len)
{
    for (int i = 0; i < nclients; i++)
        if (!kv_appends_check_client(i, v, counts[i], why, len))
            return false;
    return true;
}

bool kv_test_wanted(const char *name)
{
    const char *only = getenv("KV_TEST_ONLY");
    if (!only || !*only)
        return true;
    size_t n = strlen(name);
    for (const char *p = strstr(only, name); p; p = strstr(p + 1, name))
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}
