/* Replicas' states compared index by index (statecheck.h). */
#include "statecheck.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct statecheck {
    /* Per index (index - 1): the digest of the state right after it (0: no node there yet),
     * and whether a second node compared against it. */
    uint64_t *digest;
    bool *compared;
    size_t cap;
    uint64_t n_compared;
};

struct statecheck *statecheck_new(void) { return xcalloc(1, sizeof(struct statecheck)); }

void statecheck_free(struct statecheck *c)
{
    if (!c)
        return;
    free(c->digest);
    free(c->compared);
    free(c);
}

static uint64_t digest(const uint8_t *data, size_t len)
{
    /* eight bytes a step (a byte-wise FNV here was a fifth of the controller mode's time) */
    uint64_t h = 0xcbf29ce484222325ull ^ len;
    size_t k = 0;
    for (; k + 8 <= len; k += 8) {
        uint64_t w;
        memcpy(&w, data + k, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; k < len; k++)
        h = (h ^ data[k]) * 0x100000001b3ull;
    return h | 1; /* never 0: 0 means "not seen" */
}

void statecheck_record(struct statecheck *c, struct sim *s, size_t node, uint64_t index,
                       const uint8_t *data, size_t len, const char *how)
{
    if (!index || !s || sim_failed(s))
        return;
    if (index > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < index)
            cap *= 2;
        c->digest = xrealloc(c->digest, cap * sizeof *c->digest);
        c->compared = xrealloc(c->compared, cap * sizeof *c->compared);
        memset(c->digest + c->cap, 0, (cap - c->cap) * sizeof *c->digest);
        memset(c->compared + c->cap, 0, (cap - c->cap) * sizeof *c->compared);
        c->cap = cap;
    }
    uint64_t d = digest(data, len);
    if (!c->digest[index - 1]) {
        c->digest[index - 1] = d;
    } else if (c->digest[index - 1] != d) {
        sim_fail(s, "server %zu %s index %llu: its state (snapshot digest %016llx) differs from "
                 "another server's there (%016llx)", node, how, (unsigned long long)index,
                 (unsigned long long)d, (unsigned long long)c->digest[index - 1]);
    } else if (!c->compared[index - 1]) {
        c->compared[index - 1] = true;
        c->n_compared++;
    }
}

uint64_t statecheck_compared(const struct statecheck *c) { return c->n_compared; }
