/* Focused tests of the replica layer (lib/replica) on the hand-driven cluster (mini.h): what
 * a proposal's and a read's callbacks are told, and a ready held for lack of space. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "mini.h"

/* ---- a store that runs out of room on demand ------------------------------------------------ */

struct tight {
    struct sim_store sim;
    struct store iface;
    struct sim_store *inner;
    int full; /* saves that find no room from now on (-1: every one) */
    size_t refused;
};

static struct tight *tight_of(struct store *s)
{
    return (struct tight *)((char *)s - offsetof(struct tight, iface));
}
static struct store *inner(struct store *s) { return tight_of(s)->inner->store; }

static struct raft_storage t_reader(struct store *s) { return inner(s)->ops->reader(inner(s)); }
static int t_load(struct store *s, struct raft_init *init, char *err, size_t errlen)
{
    return inner(s)->ops->load(inner(s), init, err, errlen);
}
static int t_save(struct store *s, const struct raft_ready *rd, char *err, size_t errlen)
{
    struct tight *t = tight_of(s);
    if (t->full != 0) {
        if (t->full > 0)
            t->full--;
        t->refused++;
        snprintf(err, errlen, "test: no room");
        return STORAGE_NO_SPACE;
    }
    return inner(s)->ops->save(inner(s), rd, err, errlen);
}
static int t_compact(struct store *s, uint64_t index, uint64_t term, const uint8_t *data,
                     size_t len, char *err, size_t errlen)
{
    return inner(s)->ops->compact(inner(s), index, term, data, len, err, errlen);
}
static int t_snapshot(struct store *s, struct raft_snapshot_meta *meta, uint8_t **data, size_t *len)
{
    return inner(s)->ops->snapshot(inner(s), meta, data, len);
}
static uint64_t t_size(struct store *s) { return inner(s)->ops->raft_state_size(inner(s)); }

static void t_destroy(struct sim_store *s)
{
    struct tight *t = (struct tight *)s;
    t->inner->destroy(t->inner);
    free(t);
}

static const struct store_ops tight_ops = { t_reader, t_load, t_save, t_compact, t_snapshot,
                                            t_size, NULL, NULL, NULL };

static struct tight *tight_new(void)
{
    struct tight *t = xcalloc(1, sizeof *t);
    t->inner = sim_mem_store_new();
    t->iface.ops = &tight_ops;
    t->sim = (struct sim_store){ &t->iface, NULL, t_destroy, NULL, 0, 0, 0 };
    return t;
}

/* ---- outcomes ------------------------------------------------------------------------------- */

struct outcome {
    int calls;
    enum node_result res;
    uint64_t index;
};

static void on_done(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                    size_t len, void *arg)
{
    (void)term, (void)result, (void)len;
    struct outcome *o = arg;
    o->calls++;
    o->res = res;
    o->index = index;
}

static void on_read(enum node_result res, uint64_t index, void *arg)
{
    on_done(res, index, 0, NULL, 0, arg);
}

/* A ready that finds no room is held: the leader's proposal fails LEADERSHIP_LOST (it may
 * still commit), new ones are refused NO_SPACE, ticks and messages change nothing; once a
 * retry stores it, the replica goes on and the entry commits everywhere. */
START_TEST(held_ready_takes_no_input_until_stored)
{
    struct mini m = { 0 };
    struct tight *t = tight_new();
    m.st[0] = &t->sim;
    mini_start(&m, 5, 0);
    mini_elect_first(&m);
    t->full = -1;
    struct outcome o = { 0 };
    uint64_t index, term;
    ck_assert_int_eq(replica_propose(m.rep[0], (const uint8_t *)"x", 1, on_done, &o, &index, &term),
                     NODE_OK);
    ck_assert_int_eq(replica_process(m.rep[0]), REPLICA_HELD);
    ck_assert(replica_holding(m.rep[0]));
    ck_assert(replica_refusing_writes(m.rep[0]));
    ck_assert_int_eq(o.calls, 1);
    ck_assert_int_eq(o.res, NODE_LEADERSHIP_LOST);
    uint64_t i2, t2;
    ck_assert_int_eq(replica_propose(m.rep[0], (const uint8_t *)"y", 1, NULL, NULL, &i2, &t2),
                     NODE_NO_SPACE);
    struct outcome r = { 0 };
    ck_assert_int_eq(replica_read(m.rep[0], on_read, &r), NODE_NOT_LEADER);
    uint64_t term0 = raft_soft_state(mini_raft(&m, 0)).term;
    for (int k = 0; k < 200; k++)
        replica_tick(m.rep[0]); /* time stands still: no election, no step-down */
    ck_assert(!replica_has_ready(m.rep[0]));
    ck_assert_uint_eq(raft_soft_state(mini_raft(&m, 0)).term, term0);
    ck_assert_uint_eq(t->refused, 1);
    ck_assert_int_eq(replica_retry(m.rep[0]), REPLICA_HELD);
    t->full = 0;
    ck_assert_int_eq(replica_retry(m.rep[0]), 0);
    ck_assert(!replica_holding(m.rep[0]));
    ck_assert(!replica_refusing_writes(m.rep[0]));
    mini_settle(&m);
    for (int k = 0; k < 10; k++) { /* a heartbeat carries the commit index to the followers */
        replica_tick(m.rep[0]);
        mini_drain(&m, 0);
        mini_settle(&m);
    }
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_ge(raft_hard_state(mini_raft(&m, i)).commit, index);
    mini_free(&m);
}
END_TEST

/* A read is answered with the commit index of its time, once that index is applied; a
 * proposal with its index; both fail LEADERSHIP_LOST when the leader is deposed first. */
START_TEST(outcomes_follow_leadership)
{
    struct mini m = { 0 };
    mini_start(&m, 9, 0);
    mini_elect_first(&m);
    struct outcome p = { 0 }, r = { 0 };
    uint64_t index, term;
    ck_assert_int_eq(replica_propose(m.rep[0], (const uint8_t *)"a", 1, on_done, &p, &index, &term),
                     NODE_OK);
    mini_drain(&m, 0);
    mini_settle(&m);
    ck_assert_int_eq(p.calls, 1);
    ck_assert_int_eq(p.res, NODE_OK);
    ck_assert_uint_eq(p.index, index);
    ck_assert_int_eq(replica_read(m.rep[0], on_read, &r), NODE_OK);
    mini_drain(&m, 0);
    mini_settle(&m);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.res, NODE_OK);
    ck_assert_uint_eq(r.index, index);
    ck_assert_uint_ge(raft_applied(mini_raft(&m, 0)), r.index);

    /* Cut off: a proposal and a read wait; nodes 2 and 3 time out and elect node 2 (node 1,
     * never ticked, sends nothing new); node 1 hears of it. */
    struct outcome p2 = { 0 }, r2 = { 0 };
    ck_assert_int_eq(replica_propose(m.rep[0], (const uint8_t *)"b", 1, on_done, &p2, &index, &term),
                     NODE_OK);
    ck_assert_int_eq(replica_read(m.rep[0], on_read, &r2), NODE_OK);
    mini_drain(&m, 0);
    mini_drop_all(&m);
    for (int t = 0; t < 100 && raft_soft_state(mini_raft(&m, 1)).role != RAFT_LEADER; t++) {
        for (size_t i = 1; i < 3; i++) {
            replica_tick(m.rep[i]);
            mini_drain(&m, i);
        }
        mini_settle(&m);
    }
    ck_assert_int_eq(raft_soft_state(mini_raft(&m, 1)).role, RAFT_LEADER);
    ck_assert_int_ne(raft_soft_state(mini_raft(&m, 0)).role, RAFT_LEADER);
    ck_assert_int_eq(p2.calls, 1);
    ck_assert_int_eq(p2.res, NODE_LEADERSHIP_LOST);
    ck_assert_int_eq(r2.calls, 1);
    ck_assert_int_eq(r2.res, NODE_LEADERSHIP_LOST);
    mini_free(&m);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("replica");
    TCase *tc = tcase_create("replica");
    tcase_add_test(tc, held_ready_takes_no_input_until_stored);
    tcase_add_test(tc, outcomes_follow_leadership);
    suite_add_tcase(s, tc);
    return s;
}
