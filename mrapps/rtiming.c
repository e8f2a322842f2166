/* The lab's rtiming: tests that workers run reduce tasks in parallel. Every map emits the keys
 * a..j; each reduce reports how many reduce workers were alive at once (appkit_nparallel).
 * The test expects at least two lines "<letter> 2". */
#include "common/appkit.h"

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    (void)filename;
    (void)contents;
    (void)len;
    int rc = 0;
    for (char k = 'a'; k <= 'j' && rc == 0; k++)
        rc = mr_emit(out, &k, 1, "1", 1);
    return rc;
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    (void)values;
    (void)nvalues;
    int n = appkit_nparallel("reduce");
    return n < 0 ? 1 : appkit_emit_u64(out, (uint64_t)n);
}
