/* Declarations shared by the files of the checker (not part of the public API). */
#ifndef LINCHECK_INTERNAL_H
#define LINCHECK_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "lincheck.h"

/* One partition (key) that has no linearization, as the search left it: ops[i] is the history
 * index of the partition's operation i (in call order); best[0..best_len) the operations (local
 * ids) of the longest linearizable prefix the search reached, in linearization order. */
struct lin_failure {
    const struct lin_history *h;
    const size_t *ops;
    size_t n;
    const uint32_t *best;
    size_t best_len;
};

/* lin_check with options, for the checker's own tests. LIN_FLAG_NO_PRUNE: the plain memoized
 * search, without the key/value model's pruning rule (to cross-check the rule). */
#define LIN_FLAG_NO_PRUNE 1u
enum lin_result lin_check_flags(const struct lin_history *h, uint64_t timeout_ms, unsigned flags,
                                struct lin_report *report);

/* Builds the multi-line explanation of an illegal partition (caller frees). */
char *lin_explain_illegal(const struct lin_failure *f);

/* Appends s (len bytes) to out as a quoted, escaped string of at most limit bytes of content
 * (longer ones end with "...(N bytes)"). */
void lin_quote(FILE *out, const char *s, size_t len, size_t limit);

#endif
