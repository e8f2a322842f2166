/* What the checker's unit tests (test_lincheck.c, test_lincheck_delcas.c) share: a brute-force
 * checker written from docs/LINCHECK.md's model apart from test/lincheck/model.c, the
 * cross-check of the model's rules against the plain search, and temporary files. */
#ifndef UNIT_LINCHECK_TESTLIB_H
#define UNIT_LINCHECK_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>

#include "../lincheck/lincheck.h"

/* A temporary path for name (malloc'd), in $TMPDIR or /tmp, unique to this process. */
char *lt_temp_path(const char *name);

/* Is h linearizable, by trying every order? For at most 8 operations on keys "a" and "b". */
bool lt_brute_linearizable(const struct lin_history *h);

/* lt_brute_linearizable(h), which lin_check must agree with, with and without the model's
 * rules (else h is saved and the test fails; iter names it). Returns the verdict. */
bool lt_brute_agrees(const struct lin_history *h, int iter);

/* Checks h with the model's rules and with the plain search (given plain_ms, then undecided);
 * when both decide and disagree, saves h and fails the test (iter names it). Returns the plain
 * search's verdict (LIN_UNKNOWN: undecided). */
enum lin_result lt_rules_agree(const struct lin_history *h, uint64_t plain_ms, int iter);

/* The rules' cross-check on n generated one-key histories, each with one operation mutated:
 * params(p, rng, iter) sets the generator's parameters (p is the default with its seed set),
 * then one random victim is changed by mutate (how 0 or 1; other: another random operation of
 * g) or, for how 2, has its interval moved by up to 2 ms. Prints the verdicts after label and
 * requires more than 50 of each. */
struct rng;
typedef void (*lt_params_fn)(struct lin_gen_params *p, struct rng *rng, int iter);
typedef void (*lt_mutate_fn)(struct lin_op *op, const struct lin_op *other, unsigned how);
void lt_mutated_rules_agree(const char *label, int n, uint64_t seed, lt_params_fn params,
                            lt_mutate_fn mutate);

#endif
