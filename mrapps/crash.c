/* The lab's crash: at the start of every map and reduce, exits the process with probability
 * 1/3 or sleeps up to 10 s with probability 1/3; otherwise the same as nocrash. */
#include "common/appkit.h"

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    (void)contents;
    return appkit_crashtest_map(true, filename, len, out);
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    return appkit_crashtest_reduce(true, values, nvalues, out);
}
