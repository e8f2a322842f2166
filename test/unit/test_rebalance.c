/* lib/shardctrl's rebalancing, against the contract in rebalance.h and shardctrl.h:
 *  - sc_rebalance directly: hand-worked cases of the stated rule, and random inputs compared with
 *    a model written from the header's text (a different code path, same rule);
 *  - random Join / Leave / Move sequences (1-64 groups, 1-1,024 shards, rejoins, leaving every
 *    group, more groups than shards) driven through shardctrl_apply on two replicas and a
 *    controller restored from a snapshot. After each step: balance; the number of shards that
 *    changed equals the least any balanced outcome needs (computed here independently of the
 *    rule's tie-breaking); from a balanced config, a Join moves shards only onto the new groups
 *    and a Leave only the leavers' shards; a Move changes one shard and nothing else; numbers go
 *    up by one per accepted write and not at all for refused ones; replicas agree config by config
 *    and byte for byte in their snapshots. */
#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardctrl/codec.h"
#include "shardctrl/rebalance.h"
#include "shardctrl/shardctrl.h"
#include "shardctrl_testlib.h"

/* ---- a deterministic generator (xorshift64*) ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Uniform enough in [lo, hi]. */
static uint32_t rng_range(uint64_t *s, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(rng_next(s) % ((uint64_t)hi - lo + 1));
}

/* ---- independent checks ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u32_desc(const void *a, const void *b)
{
    return -cmp_u32(a, b);
}

/* Index of gid in gids[0..k) (ascending), or -1. */
static long gid_index(const uint32_t *gids, size_t k, uint32_t gid)
{
    const uint32_t *p = k ? bsearch(&gid, gids, k, sizeof *gids, cmp_u32) : NULL;
    return p ? (long)(p - gids) : -1;
}

/* NULL when shards[0..n) is balanced over gids[0..k): with groups, every shard on one of them and
 * per-group counts (0 for a group with none) within one of each other; with none, all on 0. */
static const char *balance_problem(const uint32_t *shards, uint32_t n, const uint32_t *gids,
                                   size_t k)
{
    static char why[160];
    uint32_t *count = calloc(k + 1, sizeof *count);
    const char *res = NULL;
    for (uint32_t s = 0; s < n && !res; s++) {
        long i = gid_index(gids, k, shards[s]);
        if (k == 0 && shards[s] != 0)
            res = (snprintf(why, sizeof why, "no groups but shard %u on %u", s, shards[s]), why);
        else if (k > 0 && i < 0)
            res = (snprintf(why, sizeof why, "shard %u on gid %u, not a group", s, shards[s]), why);
        else if (k > 0)
            count[i]++;
    }
    if (!res && k > 0) {
        uint32_t lo = UINT32_MAX, hi = 0;
        for (size_t i = 0; i < k; i++) {
            lo = count[i] < lo ? count[i] : lo;
            hi = count[i] > hi ? count[i] : hi;
        }
        if (hi - lo > 1)
            res = (snprintf(why, sizeof why, "%zu groups, %u shards: counts %u..%u", k, n, lo, hi),
                   why);
    }
    free(count);
    return res;
}

/* The fewest shards any balanced outcome over gids[0..k) must change from prev: every shard not
 * on one of the groups, plus what each group holds above its share, the n % k larger shares
 * going to the groups that hold the most (which group of equal holders gets one does not change
 * the sum, so this does not depend on the header's tie rule). */
static uint32_t min_changes(const uint32_t *prev, uint32_t n, const uint32_t *gids, size_t k)
{
    uint32_t moves = 0;
    if (k == 0) {
        for (uint32_t s = 0; s < n; s++)
            moves += prev[s] != 0;
        return moves;
    }
    uint32_t *count = calloc(k, sizeof *count);
    for (uint32_t s = 0; s < n; s++) {
        long i = gid_index(gids, k, prev[s]);
        if (i < 0)
            moves++;
        else
            count[i]++;
    }
    qsort(count, k, sizeof *count, cmp_u32_desc);
    for (size_t i = 0; i < k; i++) {
        uint32_t target = n / (uint32_t)k + (i < n % k ? 1 : 0);
        moves += count[i] > target ? count[i] - target : 0;
    }
    free(count);
    return moves;
}

/* rebalance.h's rule as its comment states it, written out step by step. */
static void model_rebalance(uint32_t *shards, uint32_t n, const uint32_t *gids, size_t k)
{
    if (k == 0) {
        for (uint32_t s = 0; s < n; s++)
            shards[s] = 0;
        return;
    }
    uint32_t *count = calloc(k, sizeof *count), *target = calloc(k, sizeof *target);
    bool *is_free = calloc(n, sizeof *is_free), *plus = calloc(k, sizeof *plus);
    for (uint32_t s = 0; s < n; s++) {
        long i = gid_index(gids, k, shards[s]);
        if (i < 0)
            is_free[s] = true;
        else
            count[i]++;
    }
    /* The n % k groups owning the most (ties: the lower gid) get one more. */
    for (uint32_t r = 0; r < n % k; r++) {
        long best = -1;
        for (size_t i = 0; i < k; i++)
            if (!plus[i] && (best < 0 || count[i] > count[best]))
                best = (long)i;
        plus[best] = true;
    }
    for (size_t i = 0; i < k; i++)
        target[i] = n / (uint32_t)k + plus[i];
    /* A group above its target frees its highest-numbered shards down to it. */
    for (size_t i = 0; i < k; i++)
        for (uint32_t s = n; s-- > 0 && count[i] > target[i];)
            if (!is_free[s] && shards[s] == gids[i]) {
                is_free[s] = true;
                count[i]--;
            }
    /* Free shards, ascending, to the groups below their target, by gid ascending. */
    uint32_t s = 0;
    for (size_t i = 0; i < k; i++)
        for (; count[i] < target[i]; count[i]++) {
            while (!is_free[s])
                s++;
            shards[s] = gids[i];
            is_free[s++] = false;
        }
    free(count);
    free(target);
    free(is_free);
    free(plus);
}

/* ---- sc_rebalance directly ---- */

static void rebalance_expect(const uint32_t *before, uint32_t n, const uint32_t *gids, size_t k,
                             const uint32_t *want)
{
    uint32_t *got = malloc(n * sizeof *got);
    memcpy(got, before, n * sizeof *got);
    sc_rebalance(got, n, gids, k);
    for (uint32_t s = 0; s < n; s++)
        ck_assert_msg(got[s] == want[s], "shard %u: got gid %u, the rule gives %u", s, got[s],
                      want[s]);
    free(got);
}

START_TEST(test_rebalance_hand_cases)
{
    /* From nothing to one group: everything on it. */
    uint32_t zeros[10] = { 0 }, one[] = { 1 };
    uint32_t all1[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    rebalance_expect(zeros, 10, one, 1, all1);
    /* A second group: 1 frees its highest-numbered five. */
    uint32_t g12[] = { 1, 2 };
    uint32_t half[10] = { 1, 1, 1, 1, 1, 2, 2, 2, 2, 2 };
    rebalance_expect(all1, 10, g12, 2, half);
    /* A third: 1 and 2 tie at 5, the lower gid keeps 4; 1 frees shard 4, 2 frees 8 and 9. */
    uint32_t g123[] = { 1, 2, 3 };
    uint32_t thirds[10] = { 1, 1, 1, 1, 3, 2, 2, 2, 3, 3 };
    rebalance_expect(half, 10, g123, 3, thirds);
    /* 1 leaves: its shards 0-3, ascending, to 2 then 3 (targets 5 each, 2 and 3 hold 3). */
    uint32_t g23[] = { 2, 3 };
    uint32_t after_leave[10] = { 2, 2, 3, 3, 3, 2, 2, 2, 3, 3 };
    rebalance_expect(thirds, 10, g23, 2, after_leave);
    /* From all on 0 over three groups: all tie at 0, gid 1 gets the extra; free shards in order
     * fill gid 1, then 2, then 3. */
    uint32_t seq3[10] = { 1, 1, 1, 1, 2, 2, 2, 3, 3, 3 };
    rebalance_expect(zeros, 10, g123, 3, seq3);
    /* More groups than shards: the three lowest gids (all tied at 0) own one each. */
    uint32_t g5[] = { 1, 2, 3, 4, 5 }, z3[3] = { 0 }, w3[3] = { 1, 2, 3 };
    rebalance_expect(z3, 3, g5, 5, w3);
    /* ... and a group that owns one keeps it against a lower gid owning none. */
    uint32_t h3[3] = { 0, 5, 0 }, w3b[3] = { 1, 5, 2 };
    rebalance_expect(h3, 3, g5, 5, w3b);
    /* No groups: everything to 0. */
    rebalance_expect(half, 10, NULL, 0, zeros);
    /* A shard on an unlisted gid (7) is free even where the count is otherwise fine. */
    uint32_t stray[4] = { 1, 7, 2, 2 }, w4[4] = { 1, 1, 2, 2 };
    rebalance_expect(stray, 4, g12, 2, w4);
    /* One shard, many groups: it stays where it is if that group is listed. */
    uint32_t s1[1] = { 3 };
    rebalance_expect(s1, 1, g5, 5, s1);
    /* Large gids are gids like any other. */
    uint32_t big[] = { 1, UINT32_MAX }, b4[4] = { UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX };
    uint32_t wb[4] = { UINT32_MAX, UINT32_MAX, 1, 1 }; /* the top gid frees shards 2, 3 */
    rebalance_expect(b4, 4, big, 2, wb);
}
END_TEST

/* Random arrays (on listed, unlisted and 0 gids) over random gid sets: the same output as the
 * model, balanced, minimal; and a second pass changes nothing. */
START_TEST(test_rebalance_random_vs_model)
{
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int iter = 0; iter < 3000; iter++) {
        uint32_t n = iter % 10 == 0 ? rng_range(&rng, 1, 4) : rng_range(&rng, 1, 700);
        size_t k = rng_range(&rng, 0, iter % 7 == 0 ? 80 : 20);
        uint32_t gids[80];
        for (size_t i = 0; i < k;) { /* distinct, not 0, some small */
            uint32_t g = rng_range(&rng, 0, 3) ? rng_range(&rng, 1, 200)
                                                : (uint32_t)rng_next(&rng) | 1;
            if (gid_index(gids, i, g) < 0) {
                gids[i++] = g;
                qsort(gids, i, sizeof *gids, cmp_u32);
            }
        }
        uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
        int skew = (int)rng_range(&rng, 0, 3); /* 0: anywhere; else mostly on a few groups */
        for (uint32_t s = 0; s < n; s++) {
            uint32_t r = rng_range(&rng, 0, 9);
            if (r == 0)
                a[s] = 0;
            else if (r == 1 || k == 0)
                a[s] = rng_range(&rng, 1, 300); /* maybe listed, maybe not */
            else
                a[s] = gids[skew ? rng_range(&rng, 0, (uint32_t)(k < 3 ? k - 1 : 2))
                                 : rng_range(&rng, 0, (uint32_t)k - 1)];
        }
        memcpy(b, a, n * sizeof *a);
        memcpy(c, a, n * sizeof *a);
        sc_rebalance(b, n, gids, k);
        model_rebalance(c, n, gids, k);
        const char *bp = balance_problem(b, n, gids, k);
        ck_assert_msg(!bp, "iter %d: %s", iter, bp);
        uint32_t changed = 0;
        for (uint32_t s = 0; s < n; s++)
            changed += a[s] != b[s];
        ck_assert_msg(changed == min_changes(a, n, gids, k),
                      "iter %d (%u shards, %zu groups): %u changed, %u needed", iter, n, k, changed,
                      min_changes(a, n, gids, k));
        for (uint32_t s = 0; s < n; s++)
            ck_assert_msg(b[s] == c[s],
                          "iter %d (%u shards, %zu groups): shard %u to %u, the rule gives %u",
                          iter, n, k, s, b[s], c[s]);
        memcpy(c, b, n * sizeof *b);
        sc_rebalance(c, n, gids, k);
        ck_assert_msg(memcmp(b, c, n * sizeof *b) == 0, "iter %d: not stable", iter);
        free(a);
        free(b);
        free(c);
    }
}
END_TEST

/* ---- through the state machine ---- */

#define MAX_GROUPS 64
#define POOL (2 * MAX_GROUPS + 8)

struct world {
    uint64_t rng;
    uint32_t n;           /* shards */
    size_t max_groups;
    uint32_t pool[POOL];  /* the gids this run may use (left ones rejoin) */
    size_t pool_n;
    bool present[POOL];
    uint64_t next_seq[4]; /* clients 1..3 */
    struct shardctrl *a, *b, *c; /* two replicas; c restored from a's snapshot at checkpoints */
    uint64_t writes;      /* accepted */
};

static size_t present_gids(const struct world *w, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < w->pool_n; i++)
        if (w->present[i])
            out[k++] = w->pool[i];
    qsort(out, k, sizeof *out, cmp_u32);
    return k;
}

static size_t pool_index(const struct world *w, uint32_t gid)
{
    for (size_t i = 0; i < w->pool_n; i++)
        if (w->pool[i] == gid)
            return i;
    ck_abort_msg("gid %u not in the pool", gid);
    return 0;
}

/* Applies c to every replica; all must give the same result. */
static struct sc_result apply_all(struct world *w, const struct sc_cmd *c, const char *what)
{
    struct sc_result r[3];
    struct shardctrl *reps[3] = { w->a, w->b, w->c };
    for (int i = 0; i < 3; i++) {
        memset(&r[i], 0x5A, sizeof r[i]);
        shardctrl_apply(reps[i], c, &r[i]);
        r[i].config = NULL; /* writes carry none; compared below through the histories */
    }
    for (int i = 1; i < 3; i++) {
        ck_assert_msg(r[i].err == r[0].err && r[i].num == r[0].num, "%s: replica %d answered "
                      "err %d num %" PRIu64 ", replica 0 err %d num %" PRIu64, what, i, r[i].err,
                      r[i].num, r[0].err, r[0].num);
        if (r[0].err == SC_BAD_REQUEST)
            ck_assert_str_eq(r[i].error, r[0].error);
    }
    return r[0];
}

static void checkpoint(struct world *w, int step)
{
    const char *d = tl_history_diff(w->a, w->b);
    ck_assert_msg(!d, "step %d: replicas differ: %s", step, d);
    ck_assert_msg(tl_snapshots_equal(w->a, w->b), "step %d: replicas' snapshots differ", step);
    d = tl_history_diff(w->a, w->c);
    ck_assert_msg(!d, "step %d: the restored replica differs: %s", step, d);
    ck_assert_msg(tl_snapshots_equal(w->a, w->c), "step %d: restored replica's snapshot differs",
                  step);
    /* A fresh restore of a, into a controller made with another shard count. */
    uint8_t *snap;
    size_t len;
    sc_codec_snapshot(w->a, &snap, &len);
    shardctrl_free(w->c);
    w->c = shardctrl_new(w->n == 10 ? 11 : 10);
    ck_assert_int_eq(sc_codec_restore(w->c, snap, len), 0);
    free(snap);
    d = tl_history_diff(w->a, w->c);
    ck_assert_msg(!d, "step %d: just restored: %s", step, d);
    ck_assert_msg(tl_snapshots_equal(w->a, w->c), "step %d: just restored: snapshots differ", step);
    ck_assert_uint_eq(shardctrl_n_shards(w->c), shardctrl_n_shards(w->a));
}

/* What a step did, for the checks. */
enum step_kind { STEP_JOIN, STEP_LEAVE, STEP_MOVE, STEP_REFUSED, STEP_DUPLICATE };

static struct tl_w next_write(struct world *w)
{
    uint64_t client = rng_range(&w->rng, 1, 3);
    /* The proposer's count: ours, or unknown. */
    return (struct tl_w){ client, ++w->next_seq[client], rng_range(&w->rng, 0, 1) ? w->n : 0 };
}

/* Checks an accepted Join or Leave: the groups, balance, the minimal change and where the changes
 * went. moved_gids: the gids joined or left. */
static void check_rebalanced(struct world *w, int step, const struct sc_config *prev,
                             const struct sc_config *cur, bool prev_balanced, bool is_join,
                             const uint32_t *moved_gids, size_t n_moved)
{
    uint32_t gids[POOL];
    size_t k = present_gids(w, gids);
    ck_assert_msg(cur->n_groups == k, "step %d: %zu groups, %zu expected", step, cur->n_groups, k);
    for (size_t i = 0; i < k; i++)
        ck_assert_msg(cur->groups[i]->gid == gids[i], "step %d: group %zu is %u, %u expected", step,
                      i, cur->groups[i]->gid, gids[i]);
    const char *bad = tl_config_servers_check(cur);
    ck_assert_msg(!bad, "step %d: %s", step, bad);
    bad = balance_problem(cur->shards, w->n, gids, k);
    ck_assert_msg(!bad, "step %d (%s): unbalanced: %s", step, is_join ? "join" : "leave", bad);
    uint32_t changed = 0, need = min_changes(prev->shards, w->n, gids, k);
    for (uint32_t s = 0; s < w->n; s++)
        changed += prev->shards[s] != cur->shards[s];
    ck_assert_msg(changed == need, "step %d (%s, %u shards, %zu groups): %u shards changed, the "
                  "least that balance needs is %u", step, is_join ? "join" : "leave", w->n, k,
                  changed, need);
    if (!prev_balanced)
        return;
    for (uint32_t s = 0; s < w->n; s++) {
        bool was_on_moved = false, now_on_moved = false;
        for (size_t i = 0; i < n_moved; i++) {
            was_on_moved |= prev->shards[s] == moved_gids[i];
            now_on_moved |= cur->shards[s] == moved_gids[i];
        }
        if (is_join && prev->shards[s] != cur->shards[s])
            ck_assert_msg(now_on_moved, "step %d: join moved shard %u from %u to %u, an old group",
                          step, s, prev->shards[s], cur->shards[s]);
        if (!is_join)
            ck_assert_msg((prev->shards[s] != cur->shards[s]) == was_on_moved,
                          "step %d: leave: shard %u went %u -> %u (a leaver's shard must move, "
                          "no other)", step, s, prev->shards[s], cur->shards[s]);
    }
}

/* One random step; returns whether the new latest config is balanced. */
static bool random_step(struct world *w, int step, bool prev_balanced, struct sc_cmd *last_write,
                        struct sc_result *last_reply, struct tl_join *jbuf, uint32_t *lbuf)
{
    uint32_t gids[POOL];
    size_t k = present_gids(w, gids);
    uint64_t latest = shardctrl_latest(w->a);
    struct sc_config *prev = sc_config_copy(shardctrl_query(w->a, -1));
    uint32_t r = rng_range(&w->rng, 0, 99);
    enum step_kind kind;
    struct sc_cmd c;
    uint32_t moved[POOL];
    size_t n_moved = 0;
    uint32_t move_shard = 0, move_gid = 0;
    char what[64];

    if (r < 5 && last_write->op != SC_OP_QUERY) {
        kind = STEP_DUPLICATE; /* the last write again, as a retry would carry it */
        c = *last_write;
    } else if (r < 12) {
        kind = STEP_REFUSED;
        struct tl_w wr = next_write(w);
        uint32_t absent = 0;
        for (size_t i = 0; i < w->pool_n && !absent; i++)
            absent = w->present[i] ? 0 : w->pool[i];
        switch (k == 0 ? 0 : rng_range(&w->rng, 0, 3)) {
        case 0: /* leave of a gid that is not there */
            lbuf[0] = absent;
            c = tl_leave_cmd(lbuf, 1, wr);
            break;
        case 1: /* join of one that is */
            lbuf[0] = gids[rng_range(&w->rng, 0, (uint32_t)k - 1)];
            c = tl_join_cmd(jbuf, lbuf, 1, wr);
            break;
        case 2: /* move to an absent gid */
            c = tl_move_cmd(rng_range(&w->rng, 0, w->n - 1), absent, wr);
            break;
        default: /* move of a shard out of range */
            c = tl_move_cmd(w->n + rng_range(&w->rng, 0, 3), gids[0], wr);
            break;
        }
    } else if ((r < 55 && k < w->max_groups) || k == 0) {
        kind = STEP_JOIN;
        size_t want = rng_range(&w->rng, 1, 4);
        if (want > w->max_groups - k)
            want = w->max_groups - k;
        /* Absent gids, picked at random from the pool (so left gids rejoin). */
        while (n_moved < want) {
            size_t i = rng_range(&w->rng, 0, (uint32_t)w->pool_n - 1);
            bool dup = false;
            for (size_t j = 0; j < n_moved; j++)
                dup |= moved[j] == w->pool[i];
            if (!w->present[i] && !dup)
                moved[n_moved++] = w->pool[i];
        }
        memcpy(lbuf, moved, n_moved * sizeof *lbuf);
        c = tl_join_cmd(jbuf, lbuf, n_moved, next_write(w));
    } else if (r < 85) {
        kind = STEP_LEAVE;
        if (rng_range(&w->rng, 0, 9) == 0) { /* every group at once */
            n_moved = k;
            memcpy(moved, gids, k * sizeof *gids);
        } else {
            size_t want = rng_range(&w->rng, 1, 3);
            want = want > k ? k : want;
            while (n_moved < want) {
                uint32_t g = gids[rng_range(&w->rng, 0, (uint32_t)k - 1)];
                bool dup = false;
                for (size_t j = 0; j < n_moved; j++)
                    dup |= moved[j] == g;
                if (!dup)
                    moved[n_moved++] = g;
            }
        }
        memcpy(lbuf, moved, n_moved * sizeof *lbuf);
        c = tl_leave_cmd(lbuf, n_moved, next_write(w));
    } else {
        kind = STEP_MOVE;
        move_shard = rng_range(&w->rng, 0, w->n - 1);
        /* Sometimes to where it already is. */
        move_gid = rng_range(&w->rng, 0, 4) == 0 ? prev->shards[move_shard]
                                                  : gids[rng_range(&w->rng, 0, (uint32_t)k - 1)];
        c = tl_move_cmd(move_shard, move_gid, next_write(w));
    }
    snprintf(what, sizeof what, "step %d (op %d, kind %d)", step, c.op, kind);
    struct sc_result res = apply_all(w, &c, what);
    const struct sc_config *cur = shardctrl_query(w->a, -1);

    if (kind == STEP_DUPLICATE) {
        ck_assert_msg(res.err == last_reply->err && res.num == last_reply->num,
                      "%s: a duplicate answered err %d num %" PRIu64 ", first err %d num %" PRIu64,
                      what, res.err, res.num, last_reply->err, last_reply->num);
        ck_assert_msg(shardctrl_latest(w->a) == latest, "%s: a duplicate made a config", what);
        sc_config_free(prev);
        return prev_balanced;
    }
    *last_write = c;
    *last_reply = res;
    if (kind == STEP_REFUSED) {
        ck_assert_msg(res.err == SC_BAD_REQUEST, "%s: accepted (err %d)", what, res.err);
        ck_assert_msg(res.error[0] != '\0', "%s: refused without a message", what);
        ck_assert_uint_eq(res.num, 0);
        ck_assert_msg(shardctrl_latest(w->a) == latest, "%s: a refusal made a config", what);
        ck_assert_msg(!tl_config_diff(prev, cur), "%s: a refusal changed the latest config", what);
        sc_config_free(prev);
        return prev_balanced;
    }
    ck_assert_msg(res.err == SC_OK, "%s: refused: %s", what, res.error);
    ck_assert_msg(res.num == latest + 1 && shardctrl_latest(w->a) == latest + 1,
                  "%s: made config %" PRIu64 " (latest %" PRIu64 "), after %" PRIu64, what, res.num,
                  shardctrl_latest(w->a), latest);
    ck_assert_uint_eq(cur->num, latest + 1);
    ck_assert_uint_eq(cur->n_shards, w->n);
    w->writes++;
    ck_assert_uint_eq(shardctrl_latest(w->a), w->writes);
    bool balanced;
    if (kind == STEP_MOVE) {
        for (uint32_t s = 0; s < w->n; s++) {
            uint32_t want = s == move_shard ? move_gid : prev->shards[s];
            ck_assert_msg(cur->shards[s] == want, "%s: move of shard %u to %u: shard %u on %u, "
                          "%u expected (a move never rebalances)", what, move_shard, move_gid, s,
                          cur->shards[s], want);
        }
        ck_assert_msg(cur->n_groups == prev->n_groups, "%s: a move changed the groups", what);
        for (size_t i = 0; i < cur->n_groups; i++)
            ck_assert_uint_eq(cur->groups[i]->gid, prev->groups[i]->gid);
        const char *bad = tl_config_servers_check(cur);
        ck_assert_msg(!bad, "%s: %s", what, bad);
        balanced = !balance_problem(cur->shards, w->n, gids, k);
    } else {
        for (size_t i = 0; i < n_moved; i++)
            w->present[pool_index(w, moved[i])] = kind == STEP_JOIN;
        check_rebalanced(w, step, prev, cur, prev_balanced, kind == STEP_JOIN, moved, n_moved);
        balanced = true;
    }
    sc_config_free(prev);
    return balanced;
}

static void run_world(uint64_t seed, uint32_t n, size_t max_groups, int steps)
{
    struct world w;
    memset(&w, 0, sizeof w);
    w.rng = seed * 0x9E3779B97F4A7C15ull + 1;
    w.n = n;
    w.max_groups = max_groups;
    w.pool_n = 2 * max_groups + 4;
    for (size_t i = 0; i < w.pool_n;) { /* distinct gids, small and large */
        uint32_t g = rng_range(&w.rng, 0, 4) ? rng_range(&w.rng, 1, 3 * MAX_GROUPS)
                                              : (uint32_t)rng_next(&w.rng) | 0x80000000u;
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= w.pool[j] == g;
        if (!dup)
            w.pool[i++] = g;
    }
    w.a = shardctrl_new(n);
    w.b = shardctrl_new(n);
    w.c = shardctrl_new(n);
    struct tl_join *jbuf = malloc(sizeof *jbuf);
    uint32_t lbuf[POOL];
    struct sc_cmd last;
    memset(&last, 0, sizeof last);
    last.op = SC_OP_QUERY; /* none yet */
    struct sc_result last_reply;
    memset(&last_reply, 0, sizeof last_reply);
    bool balanced = true; /* config 0: no groups, all on 0 */
    for (int step = 0; step < steps; step++) {
        balanced = random_step(&w, step, balanced, &last, &last_reply, jbuf, lbuf);
        if (step % 16 == 15)
            checkpoint(&w, step);
    }
    checkpoint(&w, steps);
    /* Config 0 is still there, untouched. */
    const struct sc_config *c0 = shardctrl_query(w.a, 0);
    ck_assert_uint_eq(c0->num, 0);
    ck_assert_uint_eq(c0->n_groups, 0);
    for (uint32_t s = 0; s < n; s++)
        ck_assert_uint_eq(c0->shards[s], 0);
    free(jbuf);
    shardctrl_free(w.a);
    shardctrl_free(w.b);
    shardctrl_free(w.c);
}

START_TEST(test_random_sequences)
{
    for (uint64_t seed = 1; seed <= 160; seed++) {
        uint64_t r = seed * 0xD1B54A32D192ED03ull;
        uint32_t n = 10 + (uint32_t)((r >> 8) % 1015);   /* 10..1024 */
        size_t groups = 1 + (size_t)((r >> 24) % 64);    /* 1..64 */
        run_world(seed, n, groups, 64);
    }
}
END_TEST

/* The edges: one shard; more groups than shards; exactly as many; the default count. */
START_TEST(test_random_sequences_edges)
{
    static const struct { uint32_t n; size_t groups; } e[] = {
        { 1, 1 }, { 1, 5 }, { 1, 64 }, { 2, 3 }, { 3, 64 }, { 10, 10 }, { 10, 64 }, { 10, 2 },
        { 63, 64 }, { 64, 64 }, { 65, 64 }, { 1024, 64 }, { 1024, 1 },
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        for (uint64_t seed = 1; seed <= 8; seed++)
            run_world(1000 * (i + 1) + seed, e[i].n, e[i].groups, 80);
}
END_TEST

/* Rejoining a gid that left: its servers as given the second time (here a different list), the
 * old configs keeping the first list. */
START_TEST(test_rejoin_gid)
{
    struct shardctrl *sc = shardctrl_new(10);
    struct tl_w w = { 0, 0, 0 };
    uint32_t g1[] = { 1 }, g2[] = { 2 };
    ck_assert_int_eq(tl_join(sc, g1, 1, w).err, SC_OK);
    ck_assert_int_eq(tl_join(sc, g2, 1, w).err, SC_OK);
    ck_assert_int_eq(tl_leave(sc, g1, 1, w).err, SC_OK);
    const char *other[] = { "elsewhere:1" };
    struct sc_join_group jg = { 1, other, 1 };
    struct sc_cmd c;
    memset(&c, 0, sizeof c);
    c.op = SC_OP_JOIN;
    c.groups = &jg;
    c.n_groups = 1;
    struct sc_result r;
    shardctrl_apply(sc, &c, &r);
    ck_assert_int_eq(r.err, SC_OK);
    ck_assert_uint_eq(r.num, 4);
    const struct sc_config *c4 = shardctrl_query(sc, 4);
    const struct sc_group *g = sc_config_group(c4, 1);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->n_servers, 1);
    ck_assert_str_eq(g->servers[0], "elsewhere:1");
    ck_assert_ptr_null(tl_config_servers_check(shardctrl_query(sc, 2)));
    ck_assert_ptr_null(sc_config_group(shardctrl_query(sc, 3), 1));
    uint32_t counts[3] = { 0 };
    for (uint32_t s = 0; s < 10; s++) {
        ck_assert(c4->shards[s] == 1 || c4->shards[s] == 2);
        counts[c4->shards[s]]++;
    }
    ck_assert_uint_eq(counts[1], 5);
    ck_assert_uint_eq(counts[2], 5);
    /* Minimal from config 3 (all on 2): five moved, all to 1. */
    const struct sc_config *c3 = shardctrl_query(sc, 3);
    for (uint32_t s = 0; s < 10; s++)
        ck_assert(c3->shards[s] == c4->shards[s] || c4->shards[s] == 1);
    shardctrl_free(sc);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("rebalance");
    TCase *tc = tcase_create("rebalance");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rebalance_hand_cases);
    tcase_add_test(tc, test_rebalance_random_vs_model);
    tcase_add_test(tc, test_rejoin_gid);
    tcase_add_test(tc, test_random_sequences);
    tcase_add_test(tc, test_random_sequences_edges);
    suite_add_tcase(s, tc);
    return s;
}
