/* The lab's mtiming: tests that workers run map tasks in parallel. Each map notes its start
 * time and how many map workers were alive at once (appkit_nparallel); the reduce joins the
 * sorted values. The test expects exactly two "times-<pid>" keys and some "parallel-<pid>"
 * line with a 2. */
#include "common/appkit.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    (void)filename;
    (void)contents;
    (void)len;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double ts = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    long pid = (long)getpid();
    int n = appkit_nparallel("map");
    if (n < 0)
        return 1;
    char key[64], val[64];
    int kl = snprintf(key, sizeof key, "times-%ld", pid);
    int vl = snprintf(val, sizeof val, "%.1f", ts);
    int rc = mr_emit(out, key, (size_t)kl, val, (size_t)vl);
    kl = snprintf(key, sizeof key, "parallel-%ld", pid);
    vl = snprintf(val, sizeof val, "%d", n);
    return rc ? rc : mr_emit(out, key, (size_t)kl, val, (size_t)vl);
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    return appkit_emit_sorted_join("", values, nvalues, " ", out);
}
