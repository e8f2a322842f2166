/* The lab's crash.go and nocrash.go, which differ only by maybe_crash(). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "appkit.h"

static void maybe_crash(void)
{
    uint64_t r = appkit_random_below(1000);
    if (r < 330)
        _exit(1); /* a crash: no cleanup, no flushing */
    if (r < 660)
        appkit_sleep_ms(appkit_random_below(10 * 1000));
}

int appkit_crashtest_map(bool crash, const char *filename, size_t len, struct mr_emitter *out)
{
    if (crash)
        maybe_crash();
    char num[21];
    size_t flen = strlen(filename);
    int rc = mr_emit(out, "a", 1, filename, flen);
    if (!rc)
        rc = mr_emit(out, "b", 1, num, appkit_format_u64(num, flen));
    if (!rc)
        rc = mr_emit(out, "c", 1, num, appkit_format_u64(num, len));
    if (!rc)
        rc = mr_emit(out, "d", 1, "xyzzy", 5);
    return rc;
}

int appkit_crashtest_reduce(bool crash, const struct mr_slice *values, size_t n,
                            struct mr_emitter *out)
{
    if (crash)
        maybe_crash();
    return appkit_emit_sorted_join("", values, n, " ", out);
}
