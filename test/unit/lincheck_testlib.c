/* The checker's unit tests' shared helpers (lincheck_testlib.h). */
#include "lincheck_testlib.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lincheck/internal.h"
#include "base/util.h"

char *lt_temp_path(const char *name)
{
    const char *dir = getenv("TMPDIR");
    return xasprintf("%s/lincheck-%d-%s", dir && *dir ? dir : "/tmp", (int)getpid(), name);
}

/* ---- brute force ------------------------------------------------------------------------- */

struct bstate {
    bool absent;
    char v[64];
};

struct brute {
    const struct lin_history *h;
    bool used[8];
    struct bstate st[2];
};

/* Does op's output describe s? ("" also fits an absent key.) */
static bool fits(const struct lin_op *op, const struct bstate *s)
{
    if (op->absent)
        return s->absent;
    return s->absent ? op->output_len == 0 : strcmp(op->output, s->v) == 0;
}

static bool matches(const struct lin_op *op, const struct bstate *s)
{
    return op->expect_absent ? s->absent : !s->absent && strcmp(op->expected, s->v) == 0;
}

/* Applies op to s if its recorded outcome allows it here. */
static bool brute_step(const struct lin_op *op, struct bstate *s)
{
    bool returned = op->return_ns != LIN_NO_RETURN;
    switch (op->kind) {
    case LIN_GET:
        return !op->has_output || !returned || fits(op, s);
    case LIN_PUT:
        s->absent = false;
        strcpy(s->v, op->value);
        return true;
    case LIN_APPEND:
        if (op->has_output && returned && !fits(op, s))
            return false;
        if (s->absent)
            s->v[0] = '\0';
        s->absent = false;
        strcat(s->v, op->value);
        return true;
    case LIN_DELETE:
        if (op->has_ok && returned && op->ok == s->absent)
            return false;
        s->absent = true;
        s->v[0] = '\0';
        return true;
    case LIN_CAS: {
        bool m = matches(op, s);
        if (op->has_ok && returned && (op->ok != m || (!m && op->has_output && !fits(op, s))))
            return false;
        if (m) {
            s->absent = false;
            strcpy(s->v, op->value);
        }
        return true;
    }
    }
    return false;
}

static bool brute_search(struct brute *b)
{
    const struct lin_history *h = b->h;
    size_t n = h->len;
    bool all_done = true;
    for (size_t i = 0; i < n; i++)
        if (!b->used[i] && h->ops[i].return_ns != LIN_NO_RETURN)
            all_done = false;
    if (all_done)
        return true; /* the remaining ops have no return: they never took effect */
    for (size_t i = 0; i < n; i++) {
        if (b->used[i])
            continue;
        const struct lin_op *op = &h->ops[i];
        bool blocked = false; /* some remaining op returned before this one was called */
        for (size_t j = 0; j < n && !blocked; j++)
            if (!b->used[j] && h->ops[j].return_ns != LIN_NO_RETURN &&
                h->ops[j].return_ns < op->call_ns)
                blocked = true;
        if (blocked)
            continue;
        struct bstate *st = &b->st[op->key[0] - 'a'], saved = *st;
        if (!brute_step(op, st)) {
            *st = saved;
            continue;
        }
        b->used[i] = true;
        bool found = brute_search(b);
        b->used[i] = false;
        *st = saved;
        if (found)
            return true;
    }
    return false;
}

bool lt_brute_linearizable(const struct lin_history *h)
{
    ck_assert_uint_le(h->len, 8);
    struct brute b = { .h = h };
    b.st[0].absent = b.st[1].absent = true;
    return brute_search(&b);
}

bool lt_brute_agrees(const struct lin_history *h, int iter)
{
    bool want = lt_brute_linearizable(h);
    struct lin_report r, plain;
    enum lin_result got = lin_check(h, 10000, &r);
    enum lin_result got_plain = lin_check_flags(h, 10000, LIN_FLAG_NO_PRUNE, &plain);
    if ((got == LIN_OK) != want || (got_plain == LIN_OK) != want || got == LIN_UNKNOWN) {
        char *path = lt_temp_path("mismatch.jsonl");
        char err[256];
        lin_history_write_jsonl(h, path, err, sizeof err);
        ck_abort_msg("history %d (saved to %s): brute force says %d, lin_check %s, plain %s",
                     iter, path, want, lin_result_name(got), lin_result_name(got_plain));
    }
    lin_report_free(&r);
    lin_report_free(&plain);
    return want;
}

/* ---- the rules against the plain search --------------------------------------------------- */

enum lin_result lt_rules_agree(const struct lin_history *h, uint64_t plain_ms, int iter)
{
    struct lin_report r1, r2;
    enum lin_result pruned = lin_check(h, 10000, &r1);
    enum lin_result plain = lin_check_flags(h, plain_ms, LIN_FLAG_NO_PRUNE, &r2);
    if (plain != LIN_UNKNOWN && pruned != plain) {
        char *path = lt_temp_path("prune-mismatch.jsonl");
        char err[256];
        lin_history_write_jsonl(h, path, err, sizeof err);
        ck_abort_msg("history %d (saved to %s): pruned %s, plain %s", iter, path,
                     lin_result_name(pruned), lin_result_name(plain));
    }
    lin_report_free(&r1);
    lin_report_free(&r2);
    return plain;
}

void lt_mutated_rules_agree(const char *label, int n, uint64_t seed, lt_params_fn params,
                            lt_mutate_fn mutate)
{
    struct rng rng;
    rng_seed(&rng, seed);
    int counts[2] = { 0, 0 }, skipped = 0;
    for (int iter = 0; iter < n; iter++) {
        struct lin_gen_params p;
        lin_gen_params_default(&p);
        p.keys = 1;
        params(&p, &rng, iter);
        struct lin_history g = { 0 }, h = { 0 };
        lin_history_generate(&g, &p);
        size_t victim = rng_below(&rng, g.len), other = rng_below(&rng, g.len);
        unsigned how = (unsigned)rng_below(&rng, 3);
        for (size_t i = 0; i < g.len; i++) {
            struct lin_op op = g.ops[i];
            if (i == victim && how < 2) {
                mutate(&op, &g.ops[other], how);
            } else if (i == victim && op.return_ns != LIN_NO_RETURN) {
                int64_t shift = (int64_t)rng_below(&rng, 2000000);
                op.call_ns += shift;
                op.return_ns += shift;
            }
            ck_assert_int_eq(lin_history_add_op(&h, &op), 0);
        }
        enum lin_result plain = lt_rules_agree(&h, 2000, iter);
        if (plain == LIN_UNKNOWN)
            skipped++;
        else
            counts[plain == LIN_OK]++;
        lin_history_free(&h);
        lin_history_free(&g);
    }
    printf("%s: pruned vs plain search: %d linearizable, %d not, %d undecided by the plain "
           "search\n", label, counts[1], counts[0], skipped);
    ck_assert_int_gt(counts[0], 50);
    ck_assert_int_gt(counts[1], 50);
}
