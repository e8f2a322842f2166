/* The lab's early_exit: map emits (filename, 1); the reduce of keys containing "sherlock" or
 * "tom" sleeps 3 s, so a worker or coordinator that exits before every output is final is
 * caught by the test. The reduce returns the number of values. */
#include "common/appkit.h"

#include <string.h>

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    (void)contents;
    (void)len;
    return mr_emit(out, filename, strlen(filename), "1", 1);
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key_len;
    (void)values;
    if (strstr(key, "sherlock") || strstr(key, "tom"))
        appkit_sleep_ms(3000);
    return appkit_emit_u64(out, nvalues);
}
