/* The key/value model (per key: the key starts absent; get reads its value or "absent"; put
 * sets it; append extends it (from "" when absent), and its recorded output is the value before
 * it; delete makes it absent, and its recorded outcome says whether it existed; cas sets it iff
 * it holds the expected value (or, if_absent, iff it is absent), its recorded outcome must say
 * so, and a failed one the current value) and the rules that exploit it to keep the search
 * small. Each rule is sound: it never changes a verdict, only how much of the
 * search space is visited (the unit tests cross-check them against the plain search).
 *  - doomed values: one state stands for every value that no output could ever read;
 *  - dead ends: a branch whose value no pending read can reach any more is cut at once;
 *  - forced reads: a read of exactly the current value is taken without alternatives;
 *  - unobservable operations without a return are left out before the search. */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "internal.h"

/* Doomed values. A value that no output of the partition starts with can never be read: every
 * continuation must replace it with a put before anything observes it, and appends keep it
 * doomed (they only extend it). So all doomed values are equivalent for the rest of the search,
 * and the search represents them by one state, LIN_DOOMED: the memo then sees the many orders in
 * which appends that a later put wipes out could have run as one. Outputs of operations already
 * linearized are included in the test, which only makes it more cautious. A cas compares the
 * value with its expected one, so expected values count as outputs here: a doomed value is
 * then never a cas's expected value (every cas on it fails alike), and a failed cas's recorded
 * current value is an output too. A delete replaces a doomed value (with "absent") as a put
 * does, and an absent key is not a value: LIN_ABSENT is never doomed. */

static int cmp_obs(const void *a, const void *b)
{
    const struct lin_obs *x = a, *y = b;
    size_t n = MIN(x->len, y->len);
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Compares the value a + b with o (bytes, then length), like cmp_obs. */
static int cmp_value(const char *a, size_t alen, const char *b, size_t blen,
                     const struct lin_obs *o)
{
    size_t n = MIN(alen, o->len);
    int c = n ? memcmp(a, o->p, n) : 0;
    if (c)
        return c;
    if (o->len > alen) {
        size_t m = MIN(blen, o->len - alen);
        c = m ? memcmp(b, o->p + alen, m) : 0;
        if (c)
            return c;
    }
    size_t len = alen + blen;
    return len < o->len ? -1 : len > o->len;
}

/* Does no output start with a + b? (Binary search for the first output >= a + b.) */
static bool doomed(const struct lin_search *s, const char *a, size_t alen, const char *b,
                   size_t blen)
{
    size_t lo = 0, hi = s->nobs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_value(a, alen, b, blen, &s->obs[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->nobs || s->obs[lo].len < alen + blen)
        return true;
    const struct lin_obs *o = &s->obs[lo];
    return (alen && memcmp(o->p, a, alen) != 0) || (blen && memcmp(o->p + alen, b, blen) != 0);
}

void lin_model_prepare(struct lin_search *s)
{
    qsort(s->obs, s->nobs, sizeof *s->obs, cmp_obs);
    for (size_t i = 0; i < s->m; i++)
        if ((s->pops[i].kind == LIN_PUT || s->pops[i].kind == LIN_CAS) &&
            doomed(s, s->pops[i].value, s->pops[i].value_len, NULL, 0))
            s->pops[i].put_state = LIN_DOOMED;
}

/* Does p's output (when it has one) describe state? An "absent" output fits only LIN_ABSENT; an
 * output "" also fits it (recorders that do not tell an absent key from an empty value write
 * ""). */
static bool output_fits(const struct lin_search *s, const struct lin_pop *p, uint32_t state)
{
    if (!p->has_output)
        return true;
    if (state == LIN_ABSENT)
        return p->absent || p->output_len == 0;
    return !p->absent && state != LIN_DOOMED &&
           lin_states_equal(&s->states, state, p->output, p->output_len, p->output_hash);
}

/* Does a cas find what it expects in state? */
static bool cas_matches(const struct lin_search *s, const struct lin_pop *p, uint32_t state)
{
    if (p->expect_absent)
        return state == LIN_ABSENT;
    return state != LIN_ABSENT && state != LIN_DOOMED &&
           lin_states_equal(&s->states, state, p->expected, p->expected_len, p->expected_hash);
}

bool lin_model_step(struct lin_search *s, const struct lin_pop *p, uint32_t state, uint32_t *out)
{
    switch (p->kind) {
    case LIN_GET:
        if (!output_fits(s, p, state))
            return false;
        *out = state;
        return true;
    case LIN_PUT:
        *out = p->put_state;
        return true;
    case LIN_APPEND: {
        if (!output_fits(s, p, state))
            return false;
        if (state == LIN_DOOMED) {
            *out = LIN_DOOMED;
            return true;
        }
        const struct lin_state *st = state == LIN_ABSENT ? NULL : &s->states.v[state];
        const char *old = st ? s->states.bytes + st->off : NULL;
        size_t old_len = st ? st->len : 0;
        if (s->prune && doomed(s, old, old_len, p->value, p->value_len)) {
            *out = LIN_DOOMED;
            return true;
        }
        uint64_t hash = (st ? st->hash : 0) * p->value_pow + p->value_hash;
        *out = lin_states_intern(&s->states, st ? state : LIN_NIL, p->value, p->value_len, hash);
        return true;
    }
    case LIN_DELETE:
        if (p->has_ok && p->ok != (state != LIN_ABSENT))
            return false;
        *out = LIN_ABSENT;
        return true;
    case LIN_CAS: {
        bool swaps = cas_matches(s, p, state);
        if (p->has_ok && (p->ok != swaps || (!swaps && !output_fits(s, p, state))))
            return false;
        *out = swaps ? p->put_state : state;
        return true;
    }
    }
    return false;
}

/* Pruning specific to the key/value model (sound: it only cuts branches that cannot succeed;
 * it is what keeps append-heavy keys tractable, where the plain search would try every order
 * of appends that a later put wipes out or that a later read contradicts).
 *
 * Walking the entry list from the head, every return entry belongs to an operation r not yet
 * linearized, and only the operations whose call entries come before it can be linearized
 * before r. If r checks the value (a get, or an append with its old value), its output O must
 * therefore be the current value, or the value of one of those puts, followed by the values
 * of some of those appends (each once, r itself excluded), in some order. When no such split
 * of O exists, no continuation of the search can succeed. A cas may set its value as a put
 * does, and a delete makes the key absent, from which appends build on "": both count among
 * the puts (a delete as a put of ""); an absent key is the current value "" likewise. Only gets
 * and appends that read a value are checked (not "absent" outputs, not cas). The walk and the
 * split search are bounded; past a bound the rule answers "maybe" (no pruning). */
#define PRUNE_WALK 4096
#define PRUNE_RETURNS 64
#define PRUNE_PUTS 32
#define PRUNE_APPENDS 64
#define PRUNE_BUDGET 512
#define PRUNE_CHECKS 8
#define PRUNE_COMPARE 32

struct prune {
    const struct lin_pop *puts[PRUNE_PUTS];
    const struct lin_pop *apps[PRUNE_APPENDS];
    unsigned nputs, napps;
    bool apps_overflow;
    unsigned budget;
};

static bool starts_with(const char *s, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && (plen == 0 || memcmp(s, prefix, plen) == 0);
}

/* Can rest be split into the values of distinct appends of pr->apps (but not skip, and not
 * those in used)? Answers true when unsure (budget spent). */
static bool split_exists(struct prune *pr, const char *rest, size_t len,
                         const struct lin_pop *skip, uint64_t used)
{
    if (len == 0)
        return true;
    for (unsigned i = 0; i < pr->napps; i++) {
        const struct lin_pop *a = pr->apps[i];
        if (pr->budget == 0)
            return true;
        pr->budget--;
        if (a == skip || (used >> i & 1) || !starts_with(rest, len, a->value, a->value_len))
            continue;
        if (split_exists(pr, rest + a->value_len, len - a->value_len, skip,
                         used | UINT64_C(1) << i))
            return true;
    }
    return false;
}

/* Can r's output be prefix (len bytes) + some appends? Only the first and last PRUNE_COMPARE
 * bytes of the prefix are compared (the middle was compared when the search got there). */
static bool reachable(struct prune *pr, const struct lin_pop *r, const char *prefix, size_t len)
{
    if (r->output_len < len)
        return false;
    size_t head = MIN(len, PRUNE_COMPARE), tail = MIN(len - head, PRUNE_COMPARE);
    if ((head && memcmp(r->output, prefix, head) != 0) ||
        (tail && memcmp(r->output + len - tail, prefix + len - tail, tail) != 0))
        return false;
    if (pr->apps_overflow)
        return true;
    pr->budget = PRUNE_BUDGET;
    return split_exists(pr, r->output + len, r->output_len - len, r, 0);
}

bool lin_dead_end(const struct lin_search *s, uint32_t head, uint32_t state)
{
    const struct lin_state *st =
        state == LIN_DOOMED || state == LIN_ABSENT ? NULL : &s->states.v[state];
    const char *value = st ? s->states.bytes + st->off : NULL;
    size_t value_len = st ? st->len : 0;
    bool known = state != LIN_DOOMED; /* the current value can start an output */
    struct prune pr;
    pr.nputs = pr.napps = 0;
    pr.apps_overflow = false;
    unsigned walked = 0, returns = 0, checks = 0;
    for (uint32_t e = s->next[head];
         e != LIN_NIL && walked < PRUNE_WALK && returns < PRUNE_RETURNS && checks < PRUNE_CHECKS;
         e = s->next[e], walked++) {
        const struct lin_pop *p = &s->pops[s->ent_op[e]];
        if (s->match[e] != LIN_NIL) {
            if (p->kind == LIN_PUT || p->kind == LIN_CAS || p->kind == LIN_DELETE) {
                if (pr.nputs == PRUNE_PUTS)
                    return false;
                pr.puts[pr.nputs++] = p;
            } else if (p->kind == LIN_APPEND && p->value_len > 0) {
                if (pr.napps == PRUNE_APPENDS)
                    pr.apps_overflow = true;
                else
                    pr.apps[pr.napps++] = p;
            }
            continue;
        }
        returns++;
        if (!p->has_output || p->absent || (p->kind != LIN_GET && p->kind != LIN_APPEND))
            continue;
        checks++;
        bool ok = known && reachable(&pr, p, value, value_len);
        for (unsigned i = 0; i < pr.nputs && !ok; i++)
            ok = reachable(&pr, p, pr.puts[i]->value, pr.puts[i]->value_len);
        if (!ok)
            return true;
    }
    return false;
}

/* Forced reads: if a get that may come next (its call precedes the first return entry) read
 * exactly the current value, some linearization from here exists if and only if one starting
 * with that get does (move the get to the front of any: it changes nothing, and nothing that
 * must precede it is left). So the search takes it without trying alternatives, which keeps
 * concurrent reads from multiplying the linearized sets. Returns its call entry, or LIN_NIL. */
uint32_t lin_forced_read(const struct lin_search *s, uint32_t head, uint32_t state)
{
    if (state == LIN_DOOMED)
        return LIN_NIL;
    uint64_t hash = state == LIN_ABSENT ? 0 : s->states.v[state].hash;
    for (uint32_t e = s->next[head]; e != LIN_NIL && s->match[e] != LIN_NIL; e = s->next[e]) {
        const struct lin_pop *p = &s->pops[s->ent_op[e]];
        if (p->kind == LIN_GET && p->has_output &&
            (state == LIN_ABSENT || p->output_hash == hash) && output_fits(s, p, state))
            return e;
    }
    return LIN_NIL;
}

/* An operation without a return may take effect or not; when nothing could ever show its
 * effect, leaving it out changes no verdict, and it no longer sits among the candidates of
 * every step of the search. An append's value shows in every value read after it until a put
 * replaces the value (appends with an output read it too), so an append whose value occurs in
 * no output of an operation that returned after its call is invisible; likewise a put whose
 * value starts no such output. (Empty appends change nothing.) The scan for each operation is
 * bounded; past the bound the operation is kept. A delete or cas can observe a value without an
 * output showing it (a delete that found the key, a cas that swapped or failed), so in a
 * partition with any of them nothing is left out. Returns the new count of ops[]. */
#define DROP_SCAN_BYTES (1u << 22)

static bool observes_after(const struct lin_op *o, const struct lin_op *pending)
{
    return o->kind != LIN_PUT && o->has_output && !o->absent && o->return_ns != LIN_NO_RETURN &&
           o->return_ns >= pending->call_ns;
}

/* Could op (no return, not a get) have an effect some output shows? */
static bool observable(const struct lin_history *h, const size_t *ops, size_t m,
                       const struct lin_op *op)
{
    if (op->value_len == 0)
        return op->kind == LIN_PUT; /* "" starts every output; an empty append changes nothing */
    size_t budget = DROP_SCAN_BYTES;
    for (size_t j = 0; j < m; j++) {
        const struct lin_op *o = &h->ops[ops[j]];
        if (!observes_after(o, op))
            continue;
        if (op->kind == LIN_PUT) {
            if (o->output_len >= op->value_len && memcmp(o->output, op->value, op->value_len) == 0)
                return true;
        } else {
            if (o->output_len > budget)
                return true; /* unsure */
            budget -= o->output_len;
            if (memmem(o->output, o->output_len, op->value, op->value_len) != NULL)
                return true;
        }
    }
    return false;
}

size_t lin_drop_unobserved(const struct lin_history *h, size_t *ops, size_t m)
{
    for (size_t i = 0; i < m; i++)
        if (h->ops[ops[i]].kind == LIN_DELETE || h->ops[ops[i]].kind == LIN_CAS)
            return m;
    bool *drop = xcalloc(m ? m : 1, sizeof *drop);
    bool any = false;
    for (size_t i = 0; i < m; i++) {
        const struct lin_op *op = &h->ops[ops[i]];
        if (op->return_ns == LIN_NO_RETURN && op->kind != LIN_GET && !observable(h, ops, m, op))
            any = drop[i] = true;
    }
    size_t out = m;
    if (any) {
        out = 0;
        for (size_t i = 0; i < m; i++)
            if (!drop[i])
                ops[out++] = ops[i];
    }
    free(drop);
    return out;
}
