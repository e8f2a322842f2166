/* simnet's model of client traffic (simnet.h): round trips, lost calls timing out at the
 * caller (disabled links, crashed servers, a reply from before a restart), the unreliable
 * network's drop rate and labrpc's immediate failure of a dropped call, duplicated requests, timers. The servers here echo each request. */
#include <check.h>
#include <string.h>

#include "sim.h"
#include "simnet.h"

struct echo {
    struct simnet_req *held; /* a request answered later (echo_later) */
    bool hold;
    int served;
};

static void serve(void *arg, size_t server, struct simnet_req *rq, const uint8_t *req, size_t len)
{
    (void)server;
    struct echo *e = arg;
    e->served++;
    if (e->hold)
        e->held = rq;
    else
        simnet_reply(rq, req, len);
}

struct outcome {
    int calls;
    enum simnet_status st;
    uint64_t at; /* when the outcome came (set by the tests that look at it) */
    struct sim *s;
    char reply[16];
};

static void on_reply(enum simnet_status st, const uint8_t *reply, size_t len, void *arg)
{
    struct outcome *o = arg;
    o->calls++;
    o->st = st;
    o->at = o->s ? sim_now(o->s) : 0;
    if (st == SIMNET_OK && len < sizeof o->reply) {
        memcpy(o->reply, reply, len);
        o->reply[len] = '\0';
    }
}

static struct sim *new_sim(uint64_t seed)
{
    struct sim_opts so = { .n = 3, .seed = seed };
    return sim_new(&so);
}

START_TEST(round_trip_and_lost_calls)
{
    struct sim *s = new_sim(1);
    struct simnet *net = simnet_new(s);
    struct echo e = { 0 };
    simnet_serve(net, serve, &e);
    struct simnet_ep *ep = simnet_ep_new(net);
    /* reliable: 1 ms each way */
    struct outcome o = { 0 };
    simnet_call(ep, 0, (const uint8_t *)"hi", 2, 500, on_reply, &o);
    sim_run_for(s, 1);
    ck_assert_int_eq(o.calls, 0);
    sim_run_for(s, 1);
    ck_assert_int_eq(o.calls, 1);
    ck_assert_int_eq(o.st, SIMNET_OK);
    ck_assert_str_eq(o.reply, "hi");
    sim_run_for(s, 1000); /* the timeout of a finished call does nothing */
    ck_assert_int_eq(o.calls, 1);
    /* a disabled link: the call times out, exactly at its timeout */
    simnet_ep_connect(ep, ~1u);
    o = (struct outcome){ 0 };
    simnet_call(ep, 0, (const uint8_t *)"x", 1, 300, on_reply, &o);
    sim_run_for(s, 299);
    ck_assert_int_eq(o.calls, 0);
    sim_run_for(s, 1);
    ck_assert_int_eq(o.calls, 1);
    ck_assert_int_eq(o.st, SIMNET_TIMEOUT);
    simnet_ep_connect(ep, UINT32_MAX);
    /* a crashed server */
    sim_crash(s, 1);
    o = (struct outcome){ 0 };
    simnet_call(ep, 1, (const uint8_t *)"x", 1, 300, on_reply, &o);
    sim_run_for(s, 400);
    ck_assert_int_eq(o.calls, 1);
    ck_assert_int_eq(o.st, SIMNET_TIMEOUT);
    /* a server that restarts holding a request: its old reply is lost */
    sim_restart(s, 1);
    e.hold = true;
    o = (struct outcome){ 0 };
    int before = e.served;
    simnet_call(ep, 1, (const uint8_t *)"x", 1, 300, on_reply, &o);
    sim_run_for(s, 5);
    ck_assert_int_eq(e.served, before + 1);
    sim_restart(s, 1);
    simnet_reply(e.held, (const uint8_t *)"x", 1);
    sim_run_for(s, 400);
    ck_assert_int_eq(o.st, SIMNET_TIMEOUT);
    /* a cancelled call calls nothing */
    e.hold = false;
    o = (struct outcome){ 0 };
    uint64_t id = simnet_call(ep, 2, (const uint8_t *)"x", 1, 300, on_reply, &o);
    simnet_cancel(ep, id);
    sim_run_for(s, 400);
    ck_assert_int_eq(o.calls, 0);
    simnet_ep_free(ep);
    simnet_free(net);
    sim_free(s);
}
END_TEST

START_TEST(unreliable_drops_about_a_fifth_failing_fast)
{
    struct sim *s = new_sim(2);
    struct simnet *net = simnet_new(s);
    struct echo e = { 0 };
    simnet_serve(net, serve, &e);
    simnet_set_unreliable(net, true);
    struct simnet_ep *ep = simnet_ep_new(net);
    enum { N = 2000 };
    static struct outcome o[N];
    static uint64_t sent[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct outcome){ .s = s };
        sent[i] = sim_now(s);
        simnet_call(ep, (size_t)i % 3, (const uint8_t *)"x", 1, 100, on_reply, &o[i]);
        sim_run_for(s, 1);
    }
    sim_run_for(s, 200);
    int lost = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(o[i].calls, 1); /* exactly once */
        lost += o[i].st == SIMNET_TIMEOUT;
        /* as labrpc: a dropped request or reply fails the call at once (within the delays of
         * the way there and back), long before its 100 ms timeout */
        ck_assert_uint_le(o[i].at - sent[i], 2 * 26 + 2);
    }
    /* 10% of requests, then 10% of replies: 19% expected */
    ck_assert_int_gt(lost, N * 15 / 100);
    ck_assert_int_lt(lost, N * 23 / 100);
    /* duplicates: some requests are served twice, every call still completes once */
    simnet_set_unreliable(net, false);
    simnet_set_duplicates(net, true);
    int served = e.served;
    for (int i = 0; i < N; i++) {
        o[i] = (struct outcome){ 0 };
        simnet_call(ep, 0, (const uint8_t *)"x", 1, 100, on_reply, &o[i]);
    }
    sim_run_for(s, 200);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(o[i].calls, 1);
    ck_assert_int_gt(e.served - served, N + N / 40);
    ck_assert_int_lt(e.served - served, N + N / 10);
    simnet_ep_free(ep);
    simnet_free(net);
    sim_free(s);
}
END_TEST

static void tick(void *arg) { ++*(int *)arg; }

START_TEST(timers)
{
    struct sim *s = new_sim(3);
    struct simnet *net = simnet_new(s);
    int a = 0, b = 0;
    simnet_timer(net, 50, tick, &a);
    uint64_t id = simnet_timer(net, 60, tick, &b);
    sim_run_for(s, 49);
    ck_assert_int_eq(a, 0);
    sim_run_for(s, 1);
    ck_assert_int_eq(a, 1);
    simnet_timer_cancel(net, id);
    sim_run_for(s, 100);
    ck_assert_int_eq(b, 0);
    ck_assert_uint_eq(simnet_now(net), 150);
    simnet_free(net);
    sim_free(s);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("sim_simnet");
    TCase *tc = tcase_create("simnet");
    tcase_add_test(tc, round_trip_and_lost_calls);
    tcase_add_test(tc, unreliable_drops_about_a_fifth_failing_fast);
    tcase_add_test(tc, timers);
    suite_add_tcase(s, tc);
    return s;
}
