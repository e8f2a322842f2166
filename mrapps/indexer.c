/* Inverted index (the lab's indexer): for every word, "word N doc1,doc2,..." where the N
 * documents containing it are sorted by name. */
#include "common/appkit.h"

#include <string.h>

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

MR_APP_EXPORT int mr_map(const char *document, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    struct appkit_words w;
    int rc = appkit_words_count(&w, contents, len);
    size_t dlen = strlen(document);
    for (size_t i = 0; rc == 0 && w.slots && i <= w.mask; i++) {
        const struct appkit_word *e = &w.slots[i];
        if (e->count)
            rc = mr_emit(out, appkit_word_bytes(e), e->len, document, dlen);
    }
    appkit_words_free(&w);
    return rc;
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    char prefix[24];
    size_t n = appkit_format_u64(prefix, nvalues);
    prefix[n] = ' ';
    prefix[n + 1] = '\0';
    return appkit_emit_sorted_join(prefix, values, nvalues, ",", out);
}
