/* lib/shardkv's driver (driver.h) on a hand-driven transport: the puller's leader pulls a shard
 * from the holder's state machine (replies delivered by the test), proposes INSTALLs into a log
 * the test applies, drops or reorders. What is checked: the pulls are pipelined (the window's
 * INSTALLs are proposed before any is applied), a window of INSTALLs lost (as with a leader
 * change) is pulled again from the applied cursor after twice a call's time, an INSTALL applied
 * from elsewhere (another leader's, with other chunk boundaries) puts the chain back on the
 * applied cursor, and the shard arrives whole. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "rpc/rpc.h"
#include "shardctrl/keyshard.h"
#include "shardctrl/shardctrl.h"
#include "shardkv/codec.h"
#include "shardkv/driver.h"

#define NSH 10
#define NKEYS 40
#define MAXCALLS 64
#define MAXLOG 256

struct call {
    char method[32];
    uint8_t *req;
    size_t len;
    clerk_reply_fn cb;
    void *arg;
    bool live;
};

struct world {
    struct shardctrl *ctrl;
    struct shardkv *holder, *puller; /* gids 100 and 101 */
    uint64_t now, seq;
    struct call calls[MAXCALLS];
    uint64_t n_calls;
    struct { uint8_t *cmd; size_t len; } log[MAXLOG];
    size_t n_log;
    struct skv_driver *d;
};

/* ---- the transport (one for every server: the test answers by method) ---- */

static size_t t_n(void *ctx) { (void)ctx; return 1; }
static const char *t_addr(void *ctx, size_t i) { (void)ctx; (void)i; return "x:1"; }
static uint64_t t_call(void *ctx, size_t server, const char *method, const uint8_t *req,
                       size_t len, uint64_t timeout_ms, clerk_reply_fn cb, void *arg)
{
    (void)server;
    (void)timeout_ms;
    struct world *w = ctx;
    ck_assert_uint_lt(w->n_calls, MAXCALLS);
    struct call *c = &w->calls[w->n_calls++];
    snprintf(c->method, sizeof c->method, "%s", method);
    c->req = xmalloc(len ? len : 1);
    if (len)
        memcpy(c->req, req, len);
    *c = (struct call){ .req = c->req, .len = len, .cb = cb, .arg = arg, .live = true };
    snprintf(c->method, sizeof c->method, "%s", method);
    return w->n_calls;
}
static void t_cancel(void *ctx, size_t server, uint64_t h)
{
    (void)server;
    struct world *w = ctx;
    w->calls[h - 1].live = false;
}
static void *t_timer_new(void *ctx, void (*fn)(void *), void *arg)
{
    (void)ctx;
    (void)fn;
    (void)arg;
    return xmalloc(1); /* never fires: the test kicks the driver itself */
}
static void t_timer_start(void *ctx, void *t, uint64_t ms) { (void)ctx; (void)t; (void)ms; }
static void t_timer_free(void *ctx, void *t) { (void)ctx; free(t); }
static uint64_t t_now(void *ctx) { return ((struct world *)ctx)->now; }

static const struct clerk_transport_ops tops = { t_n, t_addr, t_call, t_cancel, t_timer_new,
                                                 t_timer_start, t_timer_free, t_now };

static bool d_leader(void *ctx) { (void)ctx; return true; }
static void d_propose(void *ctx, uint8_t *cmd, size_t len)
{
    struct world *w = ctx;
    ck_assert_uint_lt(w->n_log, MAXLOG);
    w->log[w->n_log].cmd = cmd;
    w->log[w->n_log++].len = len;
}
static struct clerk_transport d_transport(void *ctx, const char *const *s, size_t n)
{
    (void)s;
    (void)n;
    return (struct clerk_transport){ &tops, ctx };
}
static void d_transport_free(void *ctx, struct clerk_transport *t) { (void)ctx; (void)t; }
static const struct skv_driver_ops dops = { d_leader, d_propose, d_transport, d_transport_free };

/* ---- the world ---- */

static void apply_cmd(struct shardkv *s, const struct skv_cmd *c)
{
    uint8_t *buf, *res;
    size_t len, rlen;
    skv_codec_encode_cmd(c, &buf, &len);
    skv_codec_apply(s, buf, len, &res, &rlen);
    free(res);
    free(buf);
}

static void config_all(struct world *w)
{
    const struct sc_config *c = shardctrl_query(w->ctrl, -1);
    for (uint64_t n = shardkv_config(w->holder)->num + 1; n <= c->num; n++) {
        struct skv_cmd cmd = { .type = SKV_CONFIG, .config = shardctrl_query(w->ctrl, (int64_t)n) };
        apply_cmd(w->holder, &cmd);
        apply_cmd(w->puller, &cmd);
    }
}

static void key(int i, char *buf, size_t len) { snprintf(buf, len, "{t}:%03d", i); }

static uint32_t the_shard(void) { return sc_key_shard((const uint8_t *)"t", 1, NSH); }

static void world_init(struct world *w)
{
    memset(w, 0, sizeof *w);
    w->ctrl = shardctrl_new(NSH);
    w->holder = shardkv_new(100);
    w->puller = shardkv_new(101);
    const char *s0[] = { "g100" }, *s1[] = { "g101" };
    struct sc_join_group g[] = { { 100, s0, 1 }, { 101, s1, 1 } };
    struct sc_cmd c = { .op = SC_OP_JOIN, .groups = g, .n_groups = 2, .client_id = 1, .seq = 1 };
    struct sc_result r;
    shardctrl_apply(w->ctrl, &c, &r);
    ck_assert_int_eq(r.err, SC_OK);
    uint32_t sh = the_shard();
    c = (struct sc_cmd){ .op = SC_OP_MOVE, .shard = sh, .gid = 100, .client_id = 1, .seq = 2 };
    shardctrl_apply(w->ctrl, &c, &r);
    config_all(w);
    for (int i = 0; i < NKEYS; i++) { /* 40 pairs of 100 bytes on the holder */
        char k[16], v[101];
        key(i, k, sizeof k);
        memset(v, 'a' + i % 26, 100);
        v[100] = 0;
        struct skv_cmd op = { .type = SKV_OP };
        op.op = (struct kv_cmd){ .op = KV_OP_PUT, .key = (const uint8_t *)k, .klen = strlen(k),
                                 .value = (const uint8_t *)v, .vlen = 100, .client_id = 7,
                                 .seq = (uint64_t)i + 1 };
        struct skv_result res;
        shardkv_apply(w->holder, &op, &res);
        ck_assert_int_eq(res.err, SKV_OK);
    }
    c = (struct sc_cmd){ .op = SC_OP_MOVE, .shard = sh, .gid = 101, .client_id = 1, .seq = 3 };
    shardctrl_apply(w->ctrl, &c, &r);
    config_all(w);
    struct skv_shard_info si;
    shardkv_shard_info(w->puller, sh, &si);
    ck_assert_int_eq(si.state, SKV_PULLING);
    struct skv_driver_opts o;
    skv_driver_opts_default(&o);
    o.chunk_bytes = 250; /* two pairs per chunk: 20 chunks */
    o.pull_window = 4;
    o.call_ms = 1000;
    o.seed = 1;
    struct clerk_transport ct = { &tops, w };
    w->d = skv_driver_new(w->puller, &dops, w, &ct, &o);
}

static void world_free(struct world *w)
{
    skv_driver_free(w->d);
    for (uint64_t i = 0; i < w->n_calls; i++)
        free(w->calls[i].req);
    for (size_t i = 0; i < w->n_log; i++)
        free(w->log[i].cmd);
    shardctrl_free(w->ctrl);
    shardkv_free(w->holder);
    shardkv_free(w->puller);
}

/* Answers every call made so far (and those made meanwhile): Pulls and Deletes from the
 * holder; the controller's Queries are never answered. */
static void pump(struct world *w)
{
    for (uint64_t i = 0; i < w->n_calls; i++) {
        struct call *c = &w->calls[i];
        if (!c->live || strcmp(c->method, "shardctrl.Query") == 0)
            continue;
        c->live = false;
        uint8_t *rep = NULL;
        size_t rl = 0;
        if (!strcmp(c->method, "shardkv.Pull")) {
            ck_assert_int_eq(skv_codec_pull(w->holder, c->req, c->len, 1 << 20, &rep, &rl), 0);
        } else if (!strcmp(c->method, "shardkv.Delete")) {
            struct skv_cmd del = { .type = SKV_DELETE, .shard = the_shard(),
                                   .left_at = shardkv_config(w->holder)->num };
            apply_cmd(w->holder, &del);
            rep = xmalloc(1); /* an empty DeleteReply: OK */
        }
        c->cb(RPC_OK, NULL, rep, rl, c->arg);
        free(rep);
    }
}

/* Applies the log's entries [from, n_log) to the puller, in order. */
static void apply_log(struct world *w, size_t from)
{
    for (size_t i = from; i < w->n_log; i++) {
        uint8_t *res;
        size_t rl;
        skv_codec_apply(w->puller, w->log[i].cmd, w->log[i].len, &res, &rl);
        free(res);
    }
}

static struct skv_shard_info info(struct world *w)
{
    struct skv_shard_info si;
    shardkv_shard_info(w->puller, the_shard(), &si);
    return si;
}

START_TEST(test_pipelined_pull_recovers)
{
    struct world w;
    world_init(&w);
    /* Pipelined: one kick and the replies give 4 INSTALLs, none applied yet. */
    skv_driver_kick(w.d);
    pump(&w);
    ck_assert_uint_eq(w.n_log, 4);
    ck_assert_uint_eq(info(&w).keys, 0);
    /* All 4 lost (a leader change): nothing moves until twice a call's time has passed. */
    size_t applied = w.n_log;
    skv_driver_kick(w.d);
    pump(&w);
    ck_assert_uint_eq(w.n_log, 4);
    w.now += 2001;
    skv_driver_kick(w.d);
    pump(&w);
    ck_assert_uint_eq(w.n_log, 8); /* the same chunks again, from the applied cursor */
    apply_log(&w, applied);
    ck_assert_uint_eq(info(&w).keys, 8);
    applied = w.n_log;
    /* An INSTALL of another leader's, cut with another budget (3 pairs), applied first: the
     * chain's cursors match no more, and it starts again where that one left the shard. */
    skv_driver_kick(w.d);
    pump(&w);
    size_t mine = w.n_log;
    struct skv_action a[NSH];
    ck_assert_uint_eq(shardkv_actions(w.puller, a, NSH), 1);
    uint8_t *req, *rep, *entry;
    size_t rql, rpl, el;
    skv_codec_pull_request(&a[0], 101, 350, &req, &rql);
    ck_assert_int_eq(skv_codec_pull(w.holder, req, rql, 1 << 20, &rep, &rpl), 0);
    ck_assert_int_eq(skv_codec_install_entry(&a[0], rep, rpl, &entry, &el, NULL), 0);
    uint8_t *res;
    size_t rl;
    skv_codec_apply(w.puller, entry, el, &res, &rl);
    free(res);
    free(entry);
    free(rep);
    free(req);
    ck_assert_uint_eq(info(&w).keys, 11);
    apply_log(&w, applied); /* ours, now behind: ignored */
    ck_assert_uint_eq(info(&w).keys, 11);
    applied = mine;
    /* From here the driver carries the shard to the end. */
    for (int round = 0; round < 200 && info(&w).state != SKV_SERVING; round++) {
        skv_driver_kick(w.d);
        pump(&w);
        apply_log(&w, applied);
        applied = w.n_log;
    }
    ck_assert_int_eq(info(&w).state, SKV_SERVING);
    ck_assert_uint_eq(info(&w).keys, NKEYS);
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        key(i, k, sizeof k);
        struct skv_result r;
        shardkv_get(w.puller, (const uint8_t *)k, strlen(k), &r);
        ck_assert_int_eq(r.kv.err, KV_OK);
        ck_assert_uint_eq(r.kv.vlen, 100);
        ck_assert_int_eq(r.kv.value[0], 'a' + i % 26);
    }
    world_free(&w);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shardkv_driver");
    TCase *tc = tcase_create("driver");
    tcase_add_test(tc, test_pipelined_pull_recovers);
    suite_add_tcase(s, tc);
    return s;
}
