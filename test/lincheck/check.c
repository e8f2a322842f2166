/* The whole check: partition the history per key, search each partition (search.c), smallest
 * first, and report. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "internal.h"
#include "lincheck.h"

#define MAX_PARTITION_OPS (UINT32_C(1) << 30)

struct sort_ctx_op {
    const struct lin_op *op;
    size_t index;
};

static int cmp_key_call(const void *a, const void *b)
{
    const struct sort_ctx_op *x = a, *y = b;
    size_t n = MIN(x->op->key_len, y->op->key_len);
    int c = n ? memcmp(x->op->key, y->op->key, n) : 0;
    if (c)
        return c;
    if (x->op->key_len != y->op->key_len)
        return x->op->key_len < y->op->key_len ? -1 : 1;
    if (x->op->call_ns != y->op->call_ns)
        return x->op->call_ns < y->op->call_ns ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

struct part {
    size_t start, count;
};

static int cmp_part(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void set_key(struct lin_report *r, const struct lin_op *op)
{
    r->key = xmalloc(op->key_len + 1);
    memcpy(r->key, op->key, op->key_len);
    r->key[op->key_len] = '\0';
    r->key_len = op->key_len;
}

static char *explain_unknown(const struct lin_report *r, size_t m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return xstrdup("gave up");
    if (r->memory_limit)
        fprintf(f, "memory limit of %zu MiB reached while searching key ",
                (size_t)LIN_MEMORY_LIMIT >> 20);
    else
        fprintf(f, "time limit of %llu ms reached while searching key ",
                (unsigned long long)r->timeout_ms);
    lin_quote(f, r->key, r->key_len, 64);
    fprintf(f, " (%zu operations); %zu of %zu keys were decided, none illegal", m,
            r->keys_checked, r->keys);
    fclose(f);
    return text;
}

enum lin_result lin_check(const struct lin_history *h, uint64_t timeout_ms,
                          struct lin_report *report)
{
    return lin_check_flags(h, timeout_ms, 0, report);
}

enum lin_result lin_check_flags(const struct lin_history *h, uint64_t timeout_ms, unsigned flags,
                                struct lin_report *report)
{
    uint64_t start = clock_mono_ns();
    memset(report, 0, sizeof *report);
    report->ops = h->len;
    report->timeout_ms = timeout_ms;

    /* Gets without an output (or without a return, whose output cannot be known) constrain
     * nothing and change nothing: leave them out. */
    struct sort_ctx_op *sorted = xmalloc((h->len ? h->len : 1) * sizeof *sorted);
    size_t n = 0;
    for (size_t i = 0; i < h->len; i++)
        if (h->ops[i].kind != LIN_GET ||
            (h->ops[i].has_output && h->ops[i].return_ns != LIN_NO_RETURN))
            sorted[n++] = (struct sort_ctx_op){ &h->ops[i], i };
    qsort(sorted, n, sizeof *sorted, cmp_key_call);

    size_t *index = xmalloc((n ? n : 1) * sizeof *index);
    struct part *parts = xmalloc((n ? n : 1) * sizeof *parts);
    size_t nparts = 0;
    for (size_t i = 0; i < n; i++) {
        index[i] = sorted[i].index;
        if (i == 0 || sorted[i].op->key_len != sorted[i - 1].op->key_len ||
            memcmp(sorted[i].op->key, sorted[i - 1].op->key, sorted[i].op->key_len) != 0)
            parts[nparts++] = (struct part){ i, 0 };
        parts[nparts - 1].count++;
    }
    free(sorted);
    report->keys = nparts;
    qsort(parts, nparts, sizeof *parts, cmp_part);

    struct lin_search s = { 0 };
    s.prune = !(flags & LIN_FLAG_NO_PRUNE);
    s.deadline_ns = timeout_ms == LIN_TIMEOUT_NONE ? 0 : start + timeout_ms * UINT64_C(1000000);
    enum lin_result result = LIN_OK;
    for (size_t p = 0; p < nparts; p++) {
        size_t *ops = index + parts[p].start;
        size_t m = s.prune ? lin_drop_unobserved(h, ops, parts[p].count) : parts[p].count;
        size_t best_len = 0;
        enum lin_result r;
        if ((s.deadline_ns && clock_mono_ns() >= s.deadline_ns) || m > MAX_PARTITION_OPS)
            r = LIN_UNKNOWN;
        else
            r = lin_search_partition(&s, h, ops, m, &best_len);
        if (r == LIN_OK) {
            report->keys_checked++;
            continue;
        }
        if (r == LIN_ILLEGAL) {
            report->keys_checked++;
            set_key(report, &h->ops[ops[0]]);
            struct lin_failure fail = { h, ops, m, s.best, best_len };
            report->explanation = lin_explain_illegal(&fail);
            result = LIN_ILLEGAL;
            break;
        }
        /* Unknown: the time is up for every remaining key too, but a small one might still be
         * illegal; stop here (an honest "unknown"). */
        set_key(report, &h->ops[ops[0]]);
        report->memory_limit = s.out_of_memory;
        report->explanation = explain_unknown(report, m);
        result = LIN_UNKNOWN;
        break;
    }
    lin_search_free(&s);
    free(parts);
    free(index);
    report->result = result;
    report->elapsed_ns = clock_mono_ns() - start;
    return result;
}
