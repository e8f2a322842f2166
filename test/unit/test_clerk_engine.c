/* The clerk engine (lib/clerk/engine.h) on a fake transport: the test sees every call, answers
 * it when it likes, fires the timers and moves the clock. The layer's replies are one byte:
 * 'K' done, 'L' wrong leader with the hint in the rest ("L1": server 1), 'R' retry. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "clerk/engine.h"

#define N 3

struct fake {
    uint64_t now;
    /* the call in flight */
    bool pending;
    size_t server;
    uint64_t timeout, handle;
    size_t len;
    clerk_reply_fn cb;
    void *arg;
    size_t calls;
    /* the one timer */
    bool armed;
    uint64_t due;
    void (*fn)(void *);
    void *fn_arg;
};

static const char *const addrs[N] = { "s0", "s1", "s2" };

static size_t f_n(void *ctx) { (void)ctx; return N; }
static const char *f_addr(void *ctx, size_t i) { (void)ctx; return addrs[i]; }
static uint64_t f_call(void *ctx, size_t server, const char *method, const uint8_t *req,
                       size_t len, uint64_t timeout_ms, clerk_reply_fn cb, void *arg)
{
    (void)method, (void)req;
    struct fake *f = ctx;
    ck_assert(!f->pending); /* one operation at a time, one attempt at a time */
    f->pending = true;
    f->server = server;
    f->timeout = timeout_ms;
    f->len = len;
    f->cb = cb;
    f->arg = arg;
    f->handle = ++f->calls;
    return f->handle;
}
static void f_cancel(void *ctx, size_t server, uint64_t handle)
{
    (void)server, (void)handle;
    ((struct fake *)ctx)->pending = false;
}
static void *f_timer_new(void *ctx, void (*fn)(void *), void *arg)
{
    struct fake *f = ctx;
    f->fn = fn;
    f->fn_arg = arg;
    return f;
}
static void f_timer_start(void *ctx, void *timer, uint64_t ms)
{
    (void)timer;
    struct fake *f = ctx;
    f->armed = true;
    f->due = f->now + ms;
}
static void f_timer_free(void *ctx, void *timer) { (void)ctx, (void)timer; }
static uint64_t f_now(void *ctx) { return ((struct fake *)ctx)->now; }

static const struct clerk_transport_ops fake_ops = {
    f_n, f_addr, f_call, f_cancel, f_timer_new, f_timer_start, f_timer_free, f_now,
};

/* Answers the call in flight. */
static void answer(struct fake *f, enum rpc_status st, const char *error, const char *reply)
{
    ck_assert(f->pending);
    f->pending = false;
    f->cb(st, error, (const uint8_t *)reply, reply ? strlen(reply) : 0, f->arg);
}

/* Moves the clock to the timer and fires it. */
static void fire(struct fake *f)
{
    ck_assert(f->armed);
    f->armed = false;
    f->now = MAX(f->now, f->due);
    f->fn(f->fn_arg);
}

static bool classify(void *ctx, const uint8_t *p, size_t len, struct clerk_reply *out)
{
    (void)ctx;
    static char hint[8];
    if (len == 0)
        return false;
    switch (p[0]) {
    case 'K':
        out->verdict = CLERK_DONE;
        out->result = CLERK_OK;
        out->value = p + 1;
        out->len = len - 1;
        return true;
    case 'L':
        out->verdict = CLERK_WRONG_LEADER;
        snprintf(hint, sizeof hint, "s%.*s", (int)(len - 1), (const char *)p + 1);
        out->hint_addr = len > 1 ? hint : NULL;
        snprintf(out->why, sizeof out->why, "not the leader");
        return true;
    case 'H': /* "H<i><value>": done, relayed by a follower, the leader is s<i> */
        out->verdict = CLERK_DONE;
        out->result = CLERK_OK;
        snprintf(hint, sizeof hint, "s%c", len > 1 ? (char)p[1] : '?');
        out->hint_addr = hint;
        out->value = p + 2;
        out->len = len > 2 ? len - 2 : 0;
        return true;
    case 'R':
        out->verdict = CLERK_RETRY;
        snprintf(out->why, sizeof out->why, "busy");
        return true;
    }
    return false;
}

static const struct clerk_layer layer = { "t.Op", "test", "t.Reply", classify, NULL, NULL };

struct done {
    int calls;
    enum clerk_result r;
    char value[32];
    int order[4], n;
};

static void on_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct done *d = arg;
    d->calls++;
    d->r = r;
    snprintf(d->value, sizeof d->value, "%.*s", (int)len, (const char *)value);
}

static struct clerk_engine *engine(struct fake *f, uint64_t deadline, uint64_t fail_fast)
{
    memset(f, 0, sizeof *f);
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.seed = 42;
    o.deadline_ms = deadline;
    o.fail_fast_ms = fail_fast;
    struct clerk_transport t = { &fake_ops, f };
    return clerk_engine_new(&t, &layer, &o);
}

static uint8_t *req(size_t len) { return xcalloc(1, len ? len : 1); }

START_TEST(hint_is_followed_at_once_and_busy_servers_after_a_backoff)
{
    struct fake f;
    struct clerk_engine *e = engine(&f, 0, 0);
    struct done d = { 0 };
    clerk_engine_submit(e, req(10), 10, on_done, &d);
    size_t first = f.server;
    size_t target = (first + 2) % N;
    char hint[4];
    snprintf(hint, sizeof hint, "L%zu", target);
    answer(&f, RPC_OK, NULL, hint);
    ck_assert(f.pending && !f.armed); /* at once, no backoff */
    ck_assert_uint_eq(f.server, target);
    ck_assert_uint_eq(clerk_engine_leader(e), target);
    answer(&f, RPC_OK, NULL, "R");
    ck_assert(!f.pending && f.armed); /* another server, after a backoff */
    ck_assert_uint_le(f.due - f.now, 5);
    fire(&f);
    ck_assert_uint_eq(f.server, (target + 1) % N);
    answer(&f, RPC_TIMEOUT, "slow", NULL);
    ck_assert(f.armed);
    ck_assert_uint_le(f.due - f.now, 10); /* doubled */
    fire(&f);
    answer(&f, RPC_OK, NULL, "Kvalue");
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.r, CLERK_OK);
    ck_assert_str_eq(d.value, "value");
    clerk_engine_free(e);
}
END_TEST

/* A success a follower relayed names the leader: the next operation goes there, not to the
 * follower again (each would take the extra hop: kvbench lost 29% of its writes/s so). */
START_TEST(relayed_success_moves_the_next_operation_to_the_leader)
{
    struct fake f;
    struct clerk_engine *e = engine(&f, 0, 0);
    struct done d = { 0 };
    clerk_engine_submit(e, req(10), 10, on_done, &d);
    size_t first = f.server, leader = (first + 1) % N;
    char reply[8];
    snprintf(reply, sizeof reply, "H%zuv1", leader);
    answer(&f, RPC_OK, NULL, reply);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_str_eq(d.value, "v1");
    ck_assert_uint_eq(clerk_engine_leader(e), leader);
    clerk_engine_submit(e, req(10), 10, on_done, &d);
    ck_assert(f.pending);
    ck_assert_uint_eq(f.server, leader);
    answer(&f, RPC_OK, NULL, "Kv2"); /* the leader's own answer: no hint, it stays */
    ck_assert_int_eq(d.calls, 2);
    ck_assert_uint_eq(clerk_engine_leader(e), leader);
    clerk_engine_free(e);
}
END_TEST

START_TEST(deadline_and_attempt_times)
{
    struct fake f;
    struct clerk_engine *e = engine(&f, 3000, 0);
    struct done d = { 0 };
    clerk_engine_submit(e, req(3 << 20), 3 << 20, on_done, &d);
    ck_assert_uint_eq(f.timeout, 1000 + (3 << 20) / 32768); /* grows with the request */
    f.now += 2900;
    answer(&f, RPC_TIMEOUT, "slow", NULL);
    fire(&f);
    ck_assert_uint_le(f.timeout, 3000 - (f.now - 0)); /* capped by what is left */
    f.now = 3000;
    answer(&f, RPC_OK, NULL, "R");
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.r, CLERK_TIMEOUT);
    const char *err = clerk_engine_error(e);
    ck_assert_msg(strstr(err, "no leader answered within 3000 ms") && strstr(err, "busy") &&
                      strstr(err, "TIMEOUT"), "%s", err);
    clerk_engine_free(e);
}
END_TEST

START_TEST(fail_fast_only_when_every_server_fails_for_good)
{
    struct fake f;
    struct clerk_engine *e = engine(&f, 0, 1000);
    struct done d = { 0 };
    clerk_engine_submit(e, req(1), 1, on_done, &d);
    for (int k = 0; k < 50 && d.calls == 0; k++) {
        f.now += 100;
        answer(&f, RPC_UNREACHABLE, "cannot connect to sX: Connection refused", NULL);
        if (d.calls)
            break;
        ck_assert_uint_lt(f.now, 1000 + 100);
        fire(&f);
    }
    ck_assert_int_eq(d.r, CLERK_UNREACHABLE);
    ck_assert_uint_ge(f.now, 1000);
    clerk_engine_free(e);
}
END_TEST

START_TEST(too_large_is_final)
{
    struct fake f;
    struct clerk_engine *e = engine(&f, 0, 0);
    struct done d = { 0 };
    clerk_engine_submit(e, req(100), 100, on_done, &d);
    answer(&f, RPC_TOO_LARGE, "request of 2000000 bytes exceeds the limit of 1572864 bytes", NULL);
    ck_assert_int_eq(d.r, CLERK_TOO_LARGE);
    ck_assert(!f.pending && !f.armed);
    uint64_t size, limit;
    clerk_engine_too_large(e, &size, &limit);
    ck_assert_uint_eq(size, 2000000);
    ck_assert_uint_eq(limit, 1572864);
    clerk_engine_free(e);
}
END_TEST

struct chain {
    struct clerk_engine *e;
    int order[4], n;
};

static void on_chain(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    (void)r;
    struct chain *c = arg;
    c->order[c->n++] = value[0] - '0';
    (void)len;
    if (c->n == 1) /* queued from inside a callback: runs after the one already queued */
        clerk_engine_submit(c->e, req(1), 1, on_chain, c);
}

START_TEST(one_operation_at_a_time_in_order)
{
    struct fake f;
    struct chain c = { engine(&f, 0, 0), { 0 }, 0 };
    clerk_engine_submit(c.e, req(1), 1, on_chain, &c);
    clerk_engine_submit(c.e, req(2), 2, on_chain, &c);
    ck_assert_uint_eq(f.calls, 1); /* the second waits */
    ck_assert_uint_eq(f.len, 1);
    answer(&f, RPC_OK, NULL, "K1");
    ck_assert_uint_eq(f.len, 2);
    answer(&f, RPC_OK, NULL, "K2");
    ck_assert_uint_eq(f.len, 1);
    answer(&f, RPC_OK, NULL, "K3");
    ck_assert_int_eq(c.n, 3);
    ck_assert_int_eq(c.order[0], 1);
    ck_assert_int_eq(c.order[1], 2);
    ck_assert_int_eq(c.order[2], 3);
    clerk_engine_free(c.e);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("clerk_engine");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, hint_is_followed_at_once_and_busy_servers_after_a_backoff);
    tcase_add_test(tc, relayed_success_moves_the_next_operation_to_the_leader);
    tcase_add_test(tc, deadline_and_attempt_times);
    tcase_add_test(tc, fail_fast_only_when_every_server_fails_for_good);
    tcase_add_test(tc, too_large_is_final);
    tcase_add_test(tc, one_operation_at_a_time_in_order);
    suite_add_tcase(s, tc);
    return s;
}
