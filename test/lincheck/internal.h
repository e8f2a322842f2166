/* Declarations shared by the files of the checker (not part of the public API):
 *   memo.c    interned values and the memo of explored (linearized set, value) pairs
 *   model.c   the key/value model and the rules that keep the search small
 *   search.c  the search of one partition (Wing & Gong + Lowe's memo, as in Porcupine)
 *   check.c   partitioning and lin_check
 *   report.c  summaries and the explanation of an illegal key */
#ifndef LINCHECK_INTERNAL_H
#define LINCHECK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lincheck.h"

#define LIN_NIL UINT32_MAX              /* no entry / no state */
#define LIN_DOOMED (LIN_NIL - 1)        /* the state of every value no output can read (model.c) */
#define LIN_ABSENT (LIN_NIL - 2)        /* the key is absent (at the start, after a delete) */
#define LIN_HASH_BASE UINT64_C(0x100000001b3)

/* splitmix64's finalizer: spreads a 64-bit hash over the table index bits. */
static inline uint64_t lin_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

/* Polynomial hash of a byte string (and LIN_HASH_BASE^len in *pow unless NULL), so that
 * hash(a + b) = hash(a) * pow(b) + hash(b): an append's value hash costs O(1). */
uint64_t lin_poly_hash(const char *s, size_t len, uint64_t *pow);

/* ---- interned values (memo.c) ---------------------------------------------------------------- */

struct lin_state {
    size_t off, len; /* bytes[off .. off + len) */
    uint64_t hash;   /* lin_poly_hash of the bytes */
};

/* Every distinct value met in one partition, once; ids are dense from 0. Zero-initialized is
 * empty. */
struct lin_states {
    char *bytes;
    size_t bytes_len, bytes_cap;
    struct lin_state *v;
    uint32_t n, cap;
    uint32_t *slots; /* id + 1; 0 = empty; open addressing */
    size_t nslots;   /* a power of two */
};

void lin_states_free(struct lin_states *t);
/* Forgets every value, keeping the memory. */
void lin_states_clear(struct lin_states *t);
/* The id of the value prefix + b (prefix: a state id, or LIN_NIL for ""), whose hash is hash;
 * adds it when new. b must not point into t. */
uint32_t lin_states_intern(struct lin_states *t, uint32_t prefix, const char *b, size_t blen,
                           uint64_t hash);

/* Is state id the value s (len bytes, hash)? */
static inline bool lin_states_equal(const struct lin_states *t, uint32_t id, const char *s,
                                    size_t len, uint64_t hash)
{
    const struct lin_state *c = &t->v[id];
    return c->hash == hash && c->len == len && (len == 0 || memcmp(t->bytes + c->off, s, len) == 0);
}

/* ---- the linearized set ---------------------------------------------------------------------- */

struct lin_bits {
    uint64_t *w;
    size_t nw;
    size_t lo;  /* first word that is not full */
    size_t hi;  /* one past the last word that is not empty; lo <= hi */
    uint64_t z; /* XOR of the Zobrist keys of the members (a hash kept up to date in O(1)) */
};

static inline void lin_bits_set(struct lin_bits *b, uint32_t i, const uint64_t *zkey)
{
    size_t w = i >> 6;
    b->w[w] |= UINT64_C(1) << (i & 63);
    b->z ^= zkey[i];
    if (w + 1 > b->hi)
        b->hi = w + 1;
    if (w == b->lo)
        while (b->lo < b->nw && b->w[b->lo] == UINT64_MAX)
            b->lo++;
}

static inline void lin_bits_clear(struct lin_bits *b, uint32_t i, const uint64_t *zkey)
{
    size_t w = i >> 6;
    b->w[w] &= ~(UINT64_C(1) << (i & 63));
    b->z ^= zkey[i];
    if (w < b->lo)
        b->lo = w;
    if (w + 1 == b->hi)
        while (b->hi > 0 && b->w[b->hi - 1] == 0)
            b->hi--;
}

/* ---- the memo (memo.c) ----------------------------------------------------------------------- */

struct lin_centry {
    uint64_t hash;
    size_t off; /* of the window's words in words[] */
    uint32_t lo, nw, state;
};

/* The (linearized set, state id) pairs explored. Zero-initialized is empty. Entries are counted
 * in 32 bits: LIN_MEMORY_LIMIT stops a search long before 2^32 of them. */
struct lin_cache {
    uint64_t *words;
    size_t words_len, words_cap;
    struct lin_centry *v;
    size_t n, cap;
    uint32_t *slots; /* entry + 1; 0 = empty; open addressing */
    size_t nslots;
};

void lin_cache_free(struct lin_cache *c);
/* Forgets every entry, keeping the memory. */
void lin_cache_clear(struct lin_cache *c);
/* Adds (b, state) unless present. Returns true when it was added (not explored before). */
bool lin_cache_add(struct lin_cache *c, const struct lin_bits *b, uint32_t state);

/* ---- one partition (search.c, model.c) ------------------------------------------------------- */

/* An operation of the partition being searched, with what a model step needs precomputed. */
struct lin_pop {
    enum lin_kind kind;
    bool has_output; /* false also when it has no return (its output is unknown); a cas has one
                        only when it failed with the current value recorded */
    bool absent;     /* the output is "absent" */
    bool has_ok, ok; /* delete, cas: the recorded outcome (has_ok false without a return) */
    bool expect_absent;
    const char *value, *output, *expected;
    size_t value_len, output_len, expected_len;
    uint64_t value_hash, value_pow, output_hash, expected_hash;
    uint32_t put_state; /* puts, cas: the new value's state id (LIN_DOOMED when no output can
                           read it) */
};

struct lin_entry {
    int64_t time; /* INT64_MAX for the return of an operation without one */
    uint32_t is_return;
    uint32_t op;
};

struct lin_frame {
    uint32_t entry; /* the call entry linearized */
    uint32_t state; /* the value before it (or LIN_ABSENT, LIN_DOOMED) */
    bool forced;    /* see lin_forced_read */
};

/* An output some operation observed (a get's value, an append's old value). */
struct lin_obs {
    const char *p;
    size_t len;
};

/* The search of one partition, and the buffers it reuses from one partition to the next.
 * Zero-initialize, set prune and deadline_ns, then call lin_search_partition per partition;
 * lin_search_free at the end. */
struct lin_search {
    struct lin_states states;
    struct lin_cache cache;
    size_t m;              /* operations in the partition */
    struct lin_pop *pops;  /* [m] */
    struct lin_obs *obs;   /* the partition's outputs and cas expected values, sorted (model.c):
                              at most 2 per operation */
    size_t nobs;
    struct lin_entry *ents;                 /* [2m], sorted */
    uint32_t *next, *prev, *match, *ent_op; /* the entry list; head is entry 2m */
    uint64_t *zkey;        /* [m] Zobrist keys */
    uint64_t *words;       /* the linearized set */
    struct lin_frame *stack;
    uint32_t *best;        /* the longest linearizable prefix reached (operation ids) */
    size_t cap;            /* operations the arrays above hold */
    size_t wcap;           /* words */
    bool prune;            /* apply the model's rules (model.c) */
    uint64_t deadline_ns;  /* 0: none */
    uint64_t steps;
    bool out_of_memory;    /* the search stopped at LIN_MEMORY_LIMIT */
};

/* Searches the partition whose operations are h->ops[ops[0..m)], in call order. Returns LIN_OK,
 * LIN_ILLEGAL (s->best[0..*best_len) is then the longest linearizable prefix reached) or
 * LIN_UNKNOWN (the deadline or the memory limit came first). */
enum lin_result lin_search_partition(struct lin_search *s, const struct lin_history *h,
                                     const size_t *ops, size_t m, size_t *best_len);
void lin_search_free(struct lin_search *s);

/* The model step: can pop follow the state, and which state does it lead to (*out)? */
bool lin_model_step(struct lin_search *s, const struct lin_pop *p, uint32_t state, uint32_t *out);
/* Once s->pops and s->obs are filled: sorts the outputs and marks the puts whose value no
 * output can read (their put_state becomes LIN_DOOMED). Only when s->prune. */
void lin_model_prepare(struct lin_search *s);
/* After a put or append was linearized (the list's head is entry head, the value is state):
 * true when no continuation can succeed. */
bool lin_dead_end(const struct lin_search *s, uint32_t head, uint32_t state);
/* A call entry of a get that may come next and reads exactly state, or LIN_NIL. */
uint32_t lin_forced_read(const struct lin_search *s, uint32_t head, uint32_t state);
/* Leaves out of ops[0..m) (history indices of one partition) the operations without a return
 * whose effect no output could show. Returns the new count. */
size_t lin_drop_unobserved(const struct lin_history *h, size_t *ops, size_t m);

/* ---- checking and reports (check.c, report.c) ------------------------------------------------ */

/* lin_check with options, for the checker's own tests. LIN_FLAG_NO_PRUNE: the plain memoized
 * search, without the key/value model's rules (to cross-check the rules). */
#define LIN_FLAG_NO_PRUNE 1u
enum lin_result lin_check_flags(const struct lin_history *h, uint64_t timeout_ms, unsigned flags,
                                struct lin_report *report);

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

/* Builds the multi-line explanation of an illegal partition (caller frees). */
char *lin_explain_illegal(const struct lin_failure *f);

/* Writes s (len bytes) to out as a quoted, escaped string of at most limit bytes of content
 * (longer ones end with "...(N bytes)"). */
void lin_quote(FILE *out, const char *s, size_t len, size_t limit);

#endif
