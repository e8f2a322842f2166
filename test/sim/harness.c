#include "harness.h"

#include <string.h>

struct cmd cmd_int(uint64_t v)
{
    struct cmd c;
    memcpy(c.b, &v, 8);
    return c;
}

size_t h_n_committed(struct sim *s, uint64_t index) { return sim_n_committed(s, index, NULL, NULL); }

uint64_t h_cmd_value(struct sim *s, uint64_t index)
{
    const uint8_t *c;
    size_t len;
    uint64_t v = 0;
    if (sim_n_committed(s, index, &c, &len) > 0 && len == 8)
        memcpy(&v, c, 8);
    return v;
}

void h_run_tasks(struct sim *s, struct task **tasks, size_t n)
{
    for (;;) {
        struct task *next = NULL;
        for (size_t i = 0; i < n; i++)
            if (!tasks[i]->done && (!next || tasks[i]->wake < next->wake))
                next = tasks[i];
        if (!next || sim_failed(s))
            return;
        if (next->wake > sim_now(s))
            sim_run_for(s, next->wake - sim_now(s));
        if (sim_failed(s))
            return;
        int64_t sleep = next->step(s, next);
        if (sleep < 0)
            next->done = true;
        else
            next->wake = sim_now(s) + (uint64_t)sleep;
    }
}

static int64_t one_step(struct sim *s, struct task *t)
{
    struct one_task *o = (struct one_task *)t;
    size_t n = sim_n(s);
    if (o->index >= 0) {
        /* Somebody claimed to be the leader and submitted our command; wait a while. */
        const uint8_t *c;
        size_t l;
        size_t nd = sim_n_committed(s, (uint64_t)o->index, &c, &l);
        if (nd > 0 && nd >= o->expected && l == o->len && memcmp(c, o->cmd, o->len) == 0)
            return -1; /* and it was the command we submitted */
        if (sim_now(s) - o->t1 < 2000)
            return 20;
        if (!o->retry) {
            sim_fail(s, "one() failed to reach agreement");
            return -1;
        }
        o->index = -1;
    }
    if (sim_now(s) - o->t0 >= 10000) {
        sim_fail(s, "one() failed to reach agreement");
        return -1;
    }
    /* Try all the servers; maybe one is the leader. */
    for (size_t si = 0; si < n; si++) {
        o->starts = (o->starts + 1) % n;
        uint64_t idx, term;
        if (sim_is_connected(s, o->starts) &&
            sim_start(s, o->starts, o->cmd, o->len, &idx, &term)) {
            o->index = (int64_t)idx;
            o->t1 = sim_now(s);
            return 0;
        }
    }
    return 50;
}

void h_one_task_init(struct one_task *o, struct sim *s, const uint8_t *cmd, size_t len,
                     size_t expected, bool retry)
{
    *o = (struct one_task){ .t = { one_step, sim_now(s), false }, .cmd = cmd, .len = len,
                            .expected = expected, .retry = retry, .t0 = sim_now(s),
                            .index = -1 };
}

int64_t h_one(struct sim *s, const uint8_t *cmd, size_t len, size_t expected, bool retry)
{
    struct one_task o;
    h_one_task_init(&o, s, cmd, len, expected, retry);
    struct task *t = &o.t;
    h_run_tasks(s, &t, 1);
    return sim_failed(s) ? -1 : o.index;
}

int64_t h_one_int(struct sim *s, uint64_t v, size_t expected, bool retry)
{
    struct cmd c = cmd_int(v);
    return h_one(s, c.b, sizeof c.b, expected, retry);
}

int h_check_one_leader(struct sim *s)
{
    size_t n = sim_n(s);
    for (int iters = 0; iters < 10 && !sim_failed(s); iters++) {
        sim_run_for(s, 450 + sim_rand(s, 100));
        uint64_t terms[SIM_MAX_NODES];
        int leaders[SIM_MAX_NODES];
        size_t nl = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t term;
            if (sim_is_connected(s, i) && sim_get_state(s, i, &term)) {
                for (size_t k = 0; k < nl; k++) {
                    if (terms[k] == term) {
                        sim_fail(s, "term %llu has two leaders (%d and %zu)",
                                 (unsigned long long)term, leaders[k], i);
                        return -1;
                    }
                }
                terms[nl] = term;
                leaders[nl++] = (int)i;
            }
        }
        if (nl > 0) {
            size_t best = 0;
            for (size_t k = 1; k < nl; k++)
                if (terms[k] > terms[best])
                    best = k;
            return leaders[best];
        }
    }
    sim_fail(s, "expected one leader, got none");
    return -1;
}

uint64_t h_check_terms(struct sim *s)
{
    uint64_t term = 0;
    for (size_t i = 0; i < sim_n(s); i++) {
        uint64_t t;
        if (!sim_is_connected(s, i) || !sim_is_alive(s, i))
            continue;
        sim_get_state(s, i, &t);
        if (term == 0)
            term = t;
        else if (term != t)
            sim_fail(s, "servers disagree on term (%llu vs %llu)", (unsigned long long)term,
                     (unsigned long long)t);
    }
    return term;
}

void h_check_no_leader(struct sim *s)
{
    for (size_t i = 0; i < sim_n(s); i++) {
        uint64_t t;
        if (sim_is_connected(s, i) && sim_get_state(s, i, &t))
            sim_fail(s, "expected no leader among connected servers, but %zu claims to be leader", i);
    }
}

bool h_wait(struct sim *s, uint64_t index, size_t n, uint64_t start_term, uint64_t *value)
{
    uint64_t to = 10;
    for (int iters = 0; iters < 30 && !sim_failed(s); iters++) {
        if (h_n_committed(s, index) >= n)
            break;
        sim_run_for(s, to);
        if (to < 1000)
            to *= 2;
        if (start_term > 0) {
            for (size_t i = 0; i < sim_n(s); i++) {
                uint64_t t;
                sim_get_state(s, i, &t);
                if (t > start_term)
                    return false; /* someone has moved on; can no longer guarantee we'll win */
            }
        }
    }
    if (h_n_committed(s, index) < n) {
        sim_fail(s, "only %zu decided for index %llu; wanted %zu", h_n_committed(s, index),
                 (unsigned long long)index, n);
        return false;
    }
    if (value)
        *value = h_cmd_value(s, index);
    return true;
}
