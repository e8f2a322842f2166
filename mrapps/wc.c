/* Word count: key = a word (a maximal run of letters, case-sensitive; UTF-8, see appkit.h),
 * value = how many times it occurs. The map counts the words of its file itself (an in-mapper
 * combiner), so it emits each distinct word once with its count, and the reduce sums the
 * counts. The output is the lab's wc: "word N" for every word of the input. */
#include "common/appkit.h"

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    (void)filename;
    struct appkit_words w;
    int rc = appkit_words_count(&w, contents, len);
    char num[21];
    for (size_t i = 0; rc == 0 && w.slots && i <= w.mask; i++) {
        const struct appkit_word *e = &w.slots[i];
        if (e->count)
            rc = mr_emit(out, appkit_word_bytes(e), e->len, num, appkit_format_u64(num, e->count));
    }
    appkit_words_free(&w);
    return rc;
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    uint64_t sum = 0;
    for (size_t i = 0; i < nvalues; i++) {
        uint64_t v;
        if (appkit_parse_u64(&values[i], &v) != 0)
            return 1; /* not a count: not our intermediate data */
        sum += v;
    }
    return appkit_emit_u64(out, sum);
}
