#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"

void stats_add(struct stats *s, enum op_kind k, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 16;
        s->lat = xrealloc(s->lat, s->cap * sizeof *s->lat);
    }
    s->lat[s->n++] = ns;
    s->done[k]++;
}

void stats_error(struct stats *s, const char *why)
{
    if (s->errors++ == 0)
        snprintf(s->first_error, sizeof s->first_error, "%s", why ? why : "unknown");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void stats_finish(struct stats *s)
{
    if (s->n)
        qsort(s->lat, s->n, sizeof *s->lat, cmp_u64);
}

double stats_pct_ms(const struct stats *s, double p)
{
    if (s->n == 0)
        return 0;
    double rank = ceil(p * (double)s->n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return (double)s->lat[MIN(i, s->n - 1)] / 1e6;
}

uint64_t stats_ops(const struct stats *s) { return s->done[OP_PUT] + s->done[OP_GET] + s->done[OP_APPEND]; }

void stats_free(struct stats *s)
{
    free(s->lat);
    s->lat = NULL;
    s->n = s->cap = 0;
}
