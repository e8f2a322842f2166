/* Reports: verdict names, the one-line summary, and the explanation of an illegal key (the
 * longest linearizable prefix, the value after it, and why nothing can come next). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "internal.h"
#include "lincheck.h"

#define QUOTE_LIMIT 48
#define PREFIX_SHOWN 8
#define NEXT_SHOWN 8

const char *lin_result_name(enum lin_result result)
{
    switch (result) {
    case LIN_OK:
        return "linearizable";
    case LIN_ILLEGAL:
        return "not linearizable";
    case LIN_UNKNOWN:
        return "unknown";
    }
    return "?";
}

void lin_report_free(struct lin_report *report)
{
    free(report->key);
    free(report->explanation);
    report->key = NULL;
    report->explanation = NULL;
    report->key_len = 0;
}

void lin_quote(FILE *out, const char *s, size_t len, size_t limit)
{
    size_t shown = len > limit ? limit : len;
    fputc('"', out);
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
    if (shown < len)
        fprintf(out, "...(%zu bytes)", len);
}

static void format_duration(char *buf, size_t len, uint64_t ns)
{
    if (ns < 1000000)
        snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    else if (ns < UINT64_C(10000000000))
        snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", (double)ns / 1e9);
}

void lin_report_summary(const struct lin_report *r, char *buf, size_t len)
{
    char took[32];
    format_duration(took, sizeof took, r->elapsed_ns);
    char *key = NULL;
    size_t key_size = 0;
    FILE *f = open_memstream(&key, &key_size);
    if (f) {
        if (r->key)
            lin_quote(f, r->key, r->key_len, 64);
        fclose(f);
    }
    switch (r->result) {
    case LIN_OK:
        snprintf(buf, len, "linearizable: %zu operations, %zu keys, %s", r->ops, r->keys, took);
        break;
    case LIN_ILLEGAL:
        snprintf(buf, len, "NOT linearizable: key %s (%zu of %zu keys checked, %s)",
                 key ? key : "?", r->keys_checked, r->keys, took);
        break;
    case LIN_UNKNOWN:
        if (r->memory_limit)
            snprintf(buf, len, "unknown: memory limit %zu MiB reached on key %s (%zu of %zu keys "
                     "checked, %s)", (size_t)LIN_MEMORY_LIMIT >> 20, key ? key : "?",
                     r->keys_checked, r->keys, took);
        else if (r->key)
            snprintf(buf, len, "unknown: time limit %llu ms reached on key %s (%zu of %zu keys "
                     "checked)", (unsigned long long)r->timeout_ms, key ? key : "?",
                     r->keys_checked, r->keys);
        else
            snprintf(buf, len, "unknown: %s", r->explanation ? r->explanation : "not checked");
        break;
    default:
        snprintf(buf, len, "?");
    }
    free(key);
}

/* "line 12: client 3 append "x" -> "old" [call 100, return 200]" */
static void describe_op(FILE *f, const struct lin_history *h, size_t index)
{
    const struct lin_op *op = &h->ops[index];
    if (op->line)
        fprintf(f, "line %" PRIu32 ": ", op->line);
    else
        fprintf(f, "op #%zu: ", index);
    fprintf(f, "client %" PRId64 " %s", op->client, lin_kind_name(op->kind));
    if (op->kind == LIN_CAS) {
        fputc(' ', f);
        if (op->expect_absent)
            fputs("(absent)", f);
        else
            lin_quote(f, op->expected, op->expected_len, QUOTE_LIMIT);
        fputs(" to", f);
    }
    if (op->kind != LIN_GET && op->kind != LIN_DELETE) {
        fputc(' ', f);
        lin_quote(f, op->value, op->value_len, QUOTE_LIMIT);
    }
    if (op->has_ok && op->kind == LIN_DELETE)
        fputs(op->ok ? " -> existed" : " -> was absent", f);
    if (op->has_ok && op->kind == LIN_CAS)
        fputs(op->ok ? " -> swapped" : " -> failed", f);
    if (op->has_output && op->kind != LIN_PUT && op->kind != LIN_DELETE &&
        (op->kind != LIN_CAS || (op->has_ok && !op->ok))) {
        fputs(op->kind == LIN_CAS ? ", current " : " -> ", f);
        if (op->absent)
            fputs("(absent)", f);
        else
            lin_quote(f, op->output, op->output_len, QUOTE_LIMIT);
    }
    if (op->return_ns == LIN_NO_RETURN)
        fprintf(f, " [call %" PRId64 ", no return]", op->call_ns);
    else
        fprintf(f, " [call %" PRId64 ", return %" PRId64 "]", op->call_ns, op->return_ns);
}

/* A growable string for the replayed value; absent: the key is absent (p is then ""). */
struct value {
    char *p;
    size_t len, cap;
    bool absent;
};

static void value_set(struct value *v, const char *s, size_t len, bool append)
{
    if (!append)
        v->len = 0;
    v->absent = false;
    if (v->len + len + 1 > v->cap) {
        v->cap = (v->len + len + 1) * 2;
        v->p = xrealloc(v->p, v->cap);
    }
    if (len)
        memcpy(v->p + v->len, s, len);
    v->len += len;
}

static void quote_value(FILE *f, const struct value *v, size_t limit)
{
    if (v->absent)
        fputs("(absent)", f);
    else
        lin_quote(f, v->p, v->len, limit);
}

static void quote_output(FILE *f, const struct lin_op *op)
{
    if (op->absent)
        fputs("(absent)", f);
    else
        lin_quote(f, op->output, op->output_len, QUOTE_LIMIT);
}

/* The model's rules (model.c) on a replayed value: an output "" also fits an absent key. */
static bool output_fits(const struct lin_op *op, const struct value *v)
{
    if (v->absent)
        return op->absent || op->output_len == 0;
    return !op->absent && op->output_len == v->len &&
           (v->len == 0 || memcmp(op->output, v->p, v->len) == 0);
}

static bool cas_matches(const struct lin_op *op, const struct value *v)
{
    if (op->expect_absent)
        return v->absent;
    return !v->absent && op->expected_len == v->len &&
           (v->len == 0 || memcmp(op->expected, v->p, v->len) == 0);
}

char *lin_explain_illegal(const struct lin_failure *fl)
{
    const struct lin_history *h = fl->h;
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (!f)
        return xstrdup("no linearization");

    bool *done = xcalloc(fl->n ? fl->n : 1, sizeof *done);
    struct value v = { 0 };
    value_set(&v, "", 0, false);
    v.absent = true;
    for (size_t i = 0; i < fl->best_len; i++) {
        const struct lin_op *op = &h->ops[fl->ops[fl->best[i]]];
        done[fl->best[i]] = true;
        if (op->kind == LIN_PUT || (op->kind == LIN_CAS && cas_matches(op, &v)))
            value_set(&v, op->value, op->value_len, false);
        else if (op->kind == LIN_APPEND)
            value_set(&v, op->value, op->value_len, true);
        else if (op->kind == LIN_DELETE)
            value_set(&v, "", 0, false), v.absent = true;
    }

    const struct lin_op *first = &h->ops[fl->ops[0]];
    fputs("key ", f);
    lin_quote(f, first->key, first->key_len, 64);
    fprintf(f, ": no linearization of its %zu operations exists.\n", fl->n);
    if (fl->best_len == 0) {
        fputs("No operation can be linearized first (the key starts absent).\n", f);
    } else {
        fprintf(f, "The longest linearizable prefix found has %zu operations", fl->best_len);
        size_t from = 0;
        if (fl->best_len > PREFIX_SHOWN) {
            from = fl->best_len - PREFIX_SHOWN;
            fprintf(f, " (the last %d shown)", PREFIX_SHOWN);
        }
        fputs(":\n", f);
        for (size_t i = from; i < fl->best_len; i++) {
            fprintf(f, "  %zu. ", i + 1);
            describe_op(f, h, fl->ops[fl->best[i]]);
            fputc('\n', f);
        }
        fputs("The value after it is ", f);
        quote_value(f, &v, 2 * QUOTE_LIMIT);
        fputs(".\n", f);
    }

    /* What may come next: every remaining operation called no later than the earliest return
     * among the remaining ones (a call at the same instant as a return counts as concurrent). */
    int64_t min_ret = INT64_MAX;
    for (size_t i = 0; i < fl->n; i++) {
        const struct lin_op *op = &h->ops[fl->ops[i]];
        if (!done[i] && op->return_ns != LIN_NO_RETURN && op->return_ns < min_ret)
            min_ret = op->return_ns;
    }
    fputs("None of the operations that may come next fits:\n", f);
    size_t shown = 0, candidates = 0;
    for (size_t i = 0; i < fl->n; i++) {
        const struct lin_op *op = &h->ops[fl->ops[i]];
        if (done[i] || op->call_ns > min_ret)
            continue;
        candidates++;
        if (shown == NEXT_SHOWN)
            continue;
        shown++;
        fputs("  ", f);
        describe_op(f, h, fl->ops[i]);
        bool returned = op->return_ns != LIN_NO_RETURN;
        bool checks = (op->kind == LIN_GET || op->kind == LIN_APPEND) && op->has_output && returned;
        if (checks && !output_fits(op, &v)) {
            fputs(op->kind == LIN_GET ? ": it read " : ": it saw the old value ", f);
            quote_output(f, op);
            fputs(", but the value is ", f);
            quote_value(f, &v, QUOTE_LIMIT);
        } else if (op->kind == LIN_DELETE && op->has_ok && returned && op->ok == v.absent) {
            fputs(op->ok ? ": it found the key, but the key is absent"
                         : ": it found the key absent, but the value is ", f);
            if (!op->ok)
                quote_value(f, &v, QUOTE_LIMIT);
        } else if (op->kind == LIN_CAS && op->has_ok && returned &&
                   (op->ok != cas_matches(op, &v) ||
                    (!op->ok && op->has_output && !output_fits(op, &v)))) {
            fputs(op->ok ? ": it swapped" : ": it failed", f);
            if (!op->ok && op->has_output) {
                fputs(" reporting ", f);
                quote_output(f, op);
            }
            fputs(", but the value is ", f);
            quote_value(f, &v, QUOTE_LIMIT);
        } else {
            fputs(": it fits here, but no linearization of the rest follows it", f);
        }
        fputc('\n', f);
    }
    if (candidates > shown)
        fprintf(f, "  ... and %zu more\n", candidates - shown);
    fclose(f);
    if (text_len && text[text_len - 1] == '\n')
        text[text_len - 1] = '\0';
    free(v.p);
    free(done);
    return text;
}
