/* The lab's nocrash: the crash app without crashes, for the reference output. Map emits
 * a -> filename, b -> len(filename), c -> len(contents), d -> xyzzy; reduce sorts and joins. */
#include "common/appkit.h"

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    (void)contents;
    return appkit_crashtest_map(false, filename, len, out);
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    return appkit_crashtest_reduce(false, values, nvalues, out);
}
