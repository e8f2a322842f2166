/* The shard clerk (lib/clerk/shard.h) on fake transports: a real controller state machine
 * (lib/shardctrl) answers the Queries, the test answers each group's calls as it likes, fires
 * the timers and moves the clock. Checks routing by sc_key_shard, WRONG_GROUP -> 100 ms ->
 * Query(-1) -> the new owner with the same (client id, seq), a group that answers nothing, and
 * the recreation of a group's connections when a config gives it other servers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "clerk/shard.h"
#include "kv.pb-c.h"
#include "shardctrl/codec.h"
#include "shardctrl/keyshard.h"
#include "shardctrl/shardctrl.h"

#define MAX_NETS 8
#define MAX_TIMERS 8

/* One fake transport: the controller's (nets[0]) or a group's. */
struct fnet {
    char **addrs;
    size_t n;
    bool freed;
};

struct ftimer {
    bool armed;
    uint64_t due;
    void (*fn)(void *);
    void *arg;
};

/* The call in flight (the clerk makes one at a time). */
struct fcall {
    bool live;
    struct fnet *net;
    size_t server;
    char method[32];
    uint8_t *req;
    size_t len;
    clerk_reply_fn cb;
    void *arg;
};

static struct {
    uint64_t now, handles;
    struct fnet nets[MAX_NETS];
    size_t n_nets;
    struct ftimer timers[MAX_TIMERS];
    size_t n_timers;
    struct fcall call;
    size_t calls;
    struct shardctrl *ctrl;
} W;

static size_t f_n(void *ctx) { return ((struct fnet *)ctx)->n; }
static const char *f_addr(void *ctx, size_t i) { return ((struct fnet *)ctx)->addrs[i]; }

static uint64_t f_call(void *ctx, size_t server, const char *method, const uint8_t *req,
                       size_t len, uint64_t timeout_ms, clerk_reply_fn cb, void *arg)
{
    (void)timeout_ms;
    struct fnet *net = ctx;
    ck_assert(!net->freed);
    ck_assert_msg(!W.call.live, "two calls in flight");
    W.call = (struct fcall){ true, net, server, "", xmalloc(len ? len : 1), len, cb, arg };
    snprintf(W.call.method, sizeof W.call.method, "%s", method);
    memcpy(W.call.req, req, len);
    W.calls++;
    return ++W.handles;
}

static void f_cancel(void *ctx, size_t server, uint64_t handle)
{
    (void)ctx, (void)server, (void)handle;
    W.call.live = false;
    free(W.call.req);
}

static void *f_timer_new(void *ctx, void (*fn)(void *), void *arg)
{
    (void)ctx;
    ck_assert(W.n_timers < MAX_TIMERS);
    struct ftimer *t = &W.timers[W.n_timers++];
    *t = (struct ftimer){ false, 0, fn, arg };
    return t;
}

static void f_timer_start(void *ctx, void *timer, uint64_t ms)
{
    (void)ctx;
    struct ftimer *t = timer;
    t->armed = true;
    t->due = W.now + ms;
}

static void f_timer_free(void *ctx, void *timer)
{
    (void)ctx;
    ((struct ftimer *)timer)->armed = false;
}

static uint64_t f_now(void *ctx) { (void)ctx; return W.now; }

static const struct clerk_transport_ops fake_ops = {
    f_n, f_addr, f_call, f_cancel, f_timer_new, f_timer_start, f_timer_free, f_now,
};

static struct fnet *net_new(const char *const *addrs, size_t n)
{
    ck_assert(W.n_nets < MAX_NETS);
    struct fnet *net = &W.nets[W.n_nets++];
    net->addrs = xcalloc(n, sizeof *net->addrs);
    for (size_t i = 0; i < n; i++)
        net->addrs[i] = xstrdup(addrs[i]);
    net->n = n;
    net->freed = false;
    return net;
}

static struct clerk_transport g_transport(void *ctx, const char *const *servers, size_t n)
{
    (void)ctx;
    return (struct clerk_transport){ &fake_ops, net_new(servers, n) };
}

static void g_transport_free(void *ctx, struct clerk_transport *t)
{
    (void)ctx;
    ((struct fnet *)t->ctx)->freed = true;
}

static const struct shard_clerk_groups groups = { g_transport, g_transport_free };

/* ---- the world's controller ---- */

static const char *const g100[] = { "a1", "a2", "a3" };
static const char *const g101[] = { "b1", "b2", "b3" };
static const char *const g100_moved[] = { "c1", "c2" };

static void ctrl_write(struct sc_cmd *cmd)
{
    static uint64_t seq;
    cmd->client_id = 7;
    cmd->seq = ++seq;
    struct sc_result res;
    shardctrl_apply(W.ctrl, cmd, &res);
    ck_assert_int_eq(res.err, SC_OK);
}

static void join(uint32_t gid, const char *const *servers, size_t n)
{
    struct sc_join_group g = { gid, servers, n };
    struct sc_cmd cmd = { .op = SC_OP_JOIN, .groups = &g, .n_groups = 1 };
    ctrl_write(&cmd);
}

static void move(uint32_t shard, uint32_t gid)
{
    struct sc_cmd cmd = { .op = SC_OP_MOVE, .shard = shard, .gid = gid };
    ctrl_write(&cmd);
}

static void leave(uint32_t gid)
{
    struct sc_cmd cmd = { .op = SC_OP_LEAVE, .gids = &gid, .n_gids = 1 };
    ctrl_write(&cmd);
}

static uint32_t owner(const char *key)
{
    const struct sc_config *c = shardctrl_query(W.ctrl, -1);
    return c->shards[sc_key_shard((const uint8_t *)key, strlen(key), c->n_shards)];
}

/* A key whose shard is on gid now. */
static const char *key_on(uint32_t gid)
{
    static char keys[4][16];
    static int next;
    char *k = keys[next++ % 4];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, 16, "k%d", i);
        if (owner(k) == gid)
            return k;
    }
    ck_abort_msg("no key on gid %u", gid);
    return NULL;
}

/* ---- driving ---- */

static struct fcall take(void)
{
    ck_assert_msg(W.call.live, "no call in flight");
    struct fcall c = W.call;
    W.call.live = false;
    return c;
}

/* Answers the controller's Query in flight with the latest config. */
static void answer_query(void)
{
    struct fcall c = take();
    ck_assert_ptr_eq(c.net, &W.nets[0]);
    ck_assert_str_eq(c.method, "shardctrl.Op");
    uint8_t *rep;
    size_t len;
    sc_codec_query(W.ctrl, -1, &rep, &len);
    c.cb(RPC_OK, NULL, rep, len, c.arg);
    free(rep);
    free(c.req);
}

/* The group call in flight: its servers' first address, and its decoded command. */
static Kv__Command *group_call(struct fcall *out)
{
    *out = take();
    ck_assert_ptr_ne(out->net, &W.nets[0]);
    ck_assert_str_eq(out->method, "shardkv.Op");
    Kv__Command *cmd = kv__command__unpack(NULL, out->len, out->req);
    ck_assert_ptr_nonnull(cmd);
    return cmd;
}

static void reply(struct fcall *c, Kv__Err err, const char *value)
{
    Kv__Reply r = KV__REPLY__INIT;
    r.err = err;
    r.value.data = (uint8_t *)value;
    r.value.len = value ? strlen(value) : 0;
    size_t len = kv__reply__get_packed_size(&r);
    uint8_t *buf = xmalloc(len ? len : 1);
    kv__reply__pack(&r, buf);
    c->cb(RPC_OK, NULL, buf, len, c->arg);
    free(buf);
    free(c->req);
}

/* Fires the earliest armed timer, moving the clock to it. */
static uint64_t fire(void)
{
    struct ftimer *t = NULL;
    for (size_t i = 0; i < W.n_timers; i++)
        if (W.timers[i].armed && (!t || W.timers[i].due < t->due))
            t = &W.timers[i];
    ck_assert_msg(t, "no timer armed");
    uint64_t waited = t->due > W.now ? t->due - W.now : 0;
    W.now = MAX(W.now, t->due);
    t->armed = false;
    t->fn(t->arg);
    return waited;
}

struct done {
    int calls;
    enum clerk_result r;
    char value[32];
};

static void on_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct done *d = arg;
    d->calls++;
    d->r = r;
    snprintf(d->value, sizeof d->value, "%.*s", (int)len, (const char *)value);
}

static struct shard_clerk *world(uint64_t deadline_ms)
{
    for (size_t i = 0; i < W.n_nets; i++)
        strv_free(W.nets[i].addrs, W.nets[i].n);
    if (W.ctrl)
        shardctrl_free(W.ctrl);
    memset(&W, 0, sizeof W);
    W.now = 1000;
    W.ctrl = shardctrl_new(10);
    join(100, g100, 3);
    join(101, g101, 3);
    static const char *const ctrlers[] = { "ctl1", "ctl2", "ctl3" };
    struct clerk_transport ct = { &fake_ops, net_new(ctrlers, 3) };
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.seed = 99;
    o.deadline_ms = deadline_ms;
    return shard_clerk_new_on(&ct, &groups, NULL, &o);
}

static void put(struct shard_clerk *c, const char *key, const char *val, struct done *d)
{
    shard_clerk_put(c, (const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val),
                    false, on_done, d);
}

START_TEST(routes_each_key_to_its_shards_group_with_one_id_and_numbering)
{
    struct shard_clerk *c = world(0);
    const char *k0 = key_on(100), *k1 = key_on(101);
    struct done d = { 0 };
    put(c, k0, "v0", &d);
    answer_query(); /* no config yet: the clerk asks first */
    ck_assert_uint_eq(shard_clerk_config_num(c), 2);
    struct fcall call;
    Kv__Command *cmd = group_call(&call);
    ck_assert_str_eq(call.net->addrs[0], "a1"); /* gid 100's servers */
    ck_assert_int_eq(cmd->op, KV__OP_TYPE__PUT);
    ck_assert_mem_eq(cmd->key.data, k0, strlen(k0));
    ck_assert_uint_eq(cmd->client_id, shard_clerk_client_id(c));
    ck_assert_uint_eq(cmd->seq, 1);
    kv__command__free_unpacked(cmd, NULL);
    reply(&call, KV__ERR__OK, NULL);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.r, CLERK_OK);

    /* The next key's group, from the cached config (no Query), numbered on. */
    put(c, k1, "v1", &d);
    cmd = group_call(&call);
    ck_assert_str_eq(call.net->addrs[0], "b1");
    ck_assert_uint_eq(cmd->client_id, shard_clerk_client_id(c));
    ck_assert_uint_eq(cmd->seq, 2);
    kv__command__free_unpacked(cmd, NULL);
    reply(&call, KV__ERR__OK, NULL);
    ck_assert_int_eq(d.calls, 2);

    /* A Get: to gid 100 again (the same connections), no number. */
    shard_clerk_get(c, (const uint8_t *)k0, strlen(k0), on_done, &d);
    cmd = group_call(&call);
    ck_assert_str_eq(call.net->addrs[0], "a1");
    ck_assert_ptr_eq(call.net, &W.nets[1]);
    ck_assert_uint_eq(cmd->seq, 0);
    kv__command__free_unpacked(cmd, NULL);
    reply(&call, KV__ERR__OK, "v0");
    ck_assert_int_eq(d.calls, 3);
    ck_assert_str_eq(d.value, "v0");
    ck_assert_uint_eq(W.n_nets, 3); /* the controller's and two groups' */
    shard_clerk_free(c);
}
END_TEST

START_TEST(wrong_group_waits_requeries_and_retries_the_same_write_at_the_new_owner)
{
    struct shard_clerk *c = world(0);
    const char *k = key_on(100);
    uint32_t shard = sc_key_shard((const uint8_t *)k, strlen(k), 10);
    struct done d = { 0 };
    put(c, k, "v", &d);
    answer_query();
    struct fcall call;
    Kv__Command *first = group_call(&call);
    ck_assert_str_eq(call.net->addrs[0], "a1");
    move(shard, 101); /* the controller moves the shard meanwhile */
    reply(&call, KV__ERR__WRONG_GROUP, NULL);
    ck_assert_int_eq(d.calls, 0);
    ck_assert(!W.call.live); /* nothing at once: a wait first */
    ck_assert_uint_eq(fire(), 100);
    answer_query(); /* Query(-1) after the wait */
    ck_assert_uint_eq(shard_clerk_config_num(c), 3);
    Kv__Command *again = group_call(&call);
    ck_assert_str_eq(call.net->addrs[0], "b1"); /* the new owner */
    ck_assert_uint_eq(again->client_id, first->client_id);
    ck_assert_uint_eq(again->seq, first->seq); /* the same write: at most once */
    ck_assert_mem_eq(again->value.data, "v", 1);
    kv__command__free_unpacked(first, NULL);
    kv__command__free_unpacked(again, NULL);
    reply(&call, KV__ERR__OK, NULL);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.r, CLERK_OK);
    struct shard_clerk_stats st;
    shard_clerk_stats(c, &st);
    ck_assert_uint_eq(st.wrong_group, 1);
    ck_assert_uint_eq(st.queries, 2);
    shard_clerk_free(c);
}
END_TEST

START_TEST(a_group_that_answers_nothing_is_requeried_and_its_new_servers_used)
{
    struct shard_clerk *c = world(0);
    const char *k = key_on(100);
    struct done d = { 0 };
    put(c, k, "v", &d);
    answer_query();
    /* Every server of gid 100 refuses: the clerk gives the group up and asks again. */
    struct fnet *old = NULL;
    uint64_t seq = 0;
    for (int i = 0; i < 50 && W.call.live && W.call.net != &W.nets[0]; i++) {
        struct fcall call;
        Kv__Command *cmd = group_call(&call);
        seq = cmd->seq;
        kv__command__free_unpacked(cmd, NULL);
        old = call.net;
        W.now += 1;
        call.cb(RPC_UNREACHABLE, "cannot connect: Connection refused", NULL, 0, call.arg);
        free(call.req);
        while (!W.call.live)
            fire();
    }
    ck_assert_ptr_nonnull(old);
    ck_assert_ptr_eq(W.call.net, &W.nets[0]); /* a Query: the group was given up */
    leave(100);
    join(100, g100_moved, 2); /* gid 100 is back on other servers */
    answer_query();
    ck_assert(old->freed); /* its old connections dropped */
    struct fcall call;
    Kv__Command *cmd = group_call(&call);
    if (owner(k) == 100)
        ck_assert_str_eq(call.net->addrs[0], "c1");
    ck_assert_uint_eq(cmd->seq, seq);
    kv__command__free_unpacked(cmd, NULL);
    reply(&call, KV__ERR__OK, NULL);
    ck_assert_int_eq(d.r, CLERK_OK);
    struct shard_clerk_stats st;
    shard_clerk_stats(c, &st);
    ck_assert_uint_eq(st.no_answer, 1);
    shard_clerk_free(c);
}
END_TEST

START_TEST(a_deadline_ends_the_retries)
{
    struct shard_clerk *c = world(1000);
    const char *k = key_on(100);
    struct done d = { 0 };
    put(c, k, "v", &d);
    answer_query();
    for (int i = 0; i < 100 && d.calls == 0; i++) {
        struct fcall call;
        if (W.call.live && W.call.net == &W.nets[0]) {
            answer_query();
            continue;
        }
        if (!W.call.live) {
            fire();
            continue;
        }
        kv__command__free_unpacked(group_call(&call), NULL);
        W.now += 50;
        reply(&call, KV__ERR__WRONG_GROUP, NULL);
    }
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.r, CLERK_TIMEOUT);
    ck_assert_msg(strstr(shard_clerk_error(c), "within 1000 ms") &&
                      strstr(shard_clerk_error(c), "serve"), "%s", shard_clerk_error(c));
    ck_assert_uint_le(W.now, 1000 + 1000 + 200);
    shard_clerk_free(c);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shard_clerk");
    TCase *tc = tcase_create("shard_clerk");
    tcase_add_test(tc, routes_each_key_to_its_shards_group_with_one_id_and_numbering);
    tcase_add_test(tc, wrong_group_waits_requeries_and_retries_the_same_write_at_the_new_owner);
    tcase_add_test(tc, a_group_that_answers_nothing_is_requeried_and_its_new_servers_used);
    tcase_add_test(tc, a_deadline_ends_the_retries);
    suite_add_tcase(s, tc);
    return s;
}
