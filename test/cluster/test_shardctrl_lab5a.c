/* 6.5840 Lab 5A (shardctrler, Spring 2024) on real shardctrld processes: 3 nodes behind
 * test/cluster's fault proxies, reliable, every clerk (lib/clerk/ctrl.h) through the client
 * proxies in a random order, as the lab's makeClient. The reference is
 * /work/shared/LAB5-TESTS.md section 2; test and sub-test names are the lab's (TestBasic ->
 * Basic, t.Run("LeaveJoin") -> Basic/LeaveJoin), each sub-test prints the lab's "Test: ..." line
 * and its outcome. The lab's sub-tests share one cluster and run in order, so a failed one ends
 * its top-level test (Check has no sub-tests); the failure names it.
 *
 * The lab's minimal-transfer checks after joins and leaves look at gids 1..10, which no group
 * has at that point: they are kept as written (vacuous), and each is followed by a Strict
 * sub-test applying the same rule to the live gids. KV_TEST_ONLY=Basic,... picks tests;
 * CLUSTER_SEED replays the harness's and the shuffles' random choices. */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kv/labcheck.h"
#include "base/clock.h"
#include "base/util.h"
#include "clerk/ctrl.h"
#include "cluster.h"
#include "shardctrl/codec.h"
#include "shardctrl/shardctrl.h"

#define NSHARDS 10
#define NSERVERS 3
#define NPARA 10            /* the lab's concurrent clerks */
#define WALL_LIMIT_MS 120000 /* the lab's cleanup(): a whole top-level test */
/* The lab's clerk retries forever; a deadline per operation turns a hang into a failure that
 * says which operation, well inside Check's timeout. Fail-fast ends an operation sooner when
 * every server answers what the clerk cannot take: lib/shardctrl's decoder refuses a config
 * that puts a shard on a gid it does not list (check()'s rule 3), and the clerk reports that
 * as "not a shardctrld server"; a server that is down or electing is never such a reason. */
#define OP_DEADLINE_MS 30000
#define FAIL_FAST_MS 2000

/* ---- the lab's config: a cluster, a clerk, the current sub-test ---------------------------- */

struct lab {
    struct cluster *c;
    const char *test;
    uint64_t t0_ms, sub_t0_ms;
    char sub[96]; /* "Basic/LeaveJoin" */
    struct ctrl_sync *ck;
};

static void lab_fail(struct lab *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void lab_fail(struct lab *l, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("  ... FAILED %s: %s\n", l->sub, msg);
    fflush(stdout);
    ck_abort_msg("%s (line %d, seed %llu): %s", l->sub, line,
                 (unsigned long long)cluster_seed(l->c), msg);
    abort(); /* not reached */
}

#define EXPECT(l, cond, ...) \
    do { \
        if (!(cond)) \
            lab_fail((l), __LINE__, __VA_ARGS__); \
    } while (0)

/* What a clerk needs, drawn on the test thread (cluster_rng is that thread's): the client
 * addresses in a random order and a seed. The clerk itself may then be opened on any thread. */
struct clerk_spec {
    const char *addrs[CLUSTER_MAX_NODES];
    size_t n;
    uint64_t seed;
};

static void clerk_spec(struct lab *l, struct clerk_spec *s)
{
    struct rng *r = cluster_rng(l->c);
    s->n = cluster_size(l->c);
    for (size_t i = 0; i < s->n; i++)
        s->addrs[i] = cluster_client_addr(l->c, (unsigned)i + 1);
    for (size_t i = s->n - 1; i > 0; i--) { /* Fisher-Yates, as the lab's random_handles */
        size_t j = (size_t)rng_below(r, i + 1);
        const char *t = s->addrs[i];
        s->addrs[i] = s->addrs[j];
        s->addrs[j] = t;
    }
    s->seed = rng_next(r) | 1;
}

static struct ctrl_sync *clerk_open(const struct clerk_spec *s, char *err, size_t errlen)
{
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = OP_DEADLINE_MS;
    o.fail_fast_ms = FAIL_FAST_MS;
    o.seed = s->seed;
    return ctrl_sync_new(s->addrs, s->n, &o, err, errlen);
}

static struct lab *lab_new(const char *test)
{
    struct lab *l = xcalloc(1, sizeof *l);
    l->test = test;
    snprintf(l->sub, sizeof l->sub, "%s", test);
    l->t0_ms = clock_mono_ms();
    static const char *const args[] = { "--shards", "10", NULL };
    struct cluster_opts o;
    cluster_opts_default(&o);
    o.n = NSERVERS;
    o.daemon = "shardctrld";
    o.args = args; /* the generated INI keeps the whole log (max_raft_state = 0), as the lab's
                      controller, which is given no maxraftstate */
    o.name = test;
    char err[512];
    l->c = cluster_new(&o, err, sizeof err);
    ck_assert_msg(l->c, "%s", err);
    struct clerk_spec s;
    clerk_spec(l, &s);
    l->ck = clerk_open(&s, err, sizeof err);
    ck_assert_msg(l->ck, "%s", err);
    return l;
}

/* The lab's cleanup(): the 120 s rule, checked at the end; and every node must stop cleanly
 * (none exited by itself meanwhile). */
static void lab_free(struct lab *l)
{
    uint64_t took = clock_mono_ms() - l->t0_ms;
    snprintf(l->sub, sizeof l->sub, "%s", l->test);
    ctrl_sync_free(l->ck);
    l->ck = NULL;
    EXPECT(l, took <= WALL_LIMIT_MS, "test took longer than 120 seconds (%.1f s)", took / 1e3);
    int bad = cluster_stop_all(l->c);
    EXPECT(l, bad == 0, "%d shardctrld node(s) exited badly", bad);
    cluster_free(l->c);
    printf("%s: %.1f s in all\n", l->test, took / 1e3);
    fflush(stdout);
    free(l);
}

static void sub_begin(struct lab *l, const char *sub, const char *title)
{
    snprintf(l->sub, sizeof l->sub, "%s/%s", l->test, sub);
    printf("Test: %s ... (%s)\n", title, l->sub);
    fflush(stdout);
    l->sub_t0_ms = clock_mono_ms();
}

static void sub_end(struct lab *l)
{
    printf("  ... Passed -- %s %.1f s\n", l->sub, (clock_mono_ms() - l->sub_t0_ms) / 1e3);
    fflush(stdout);
}

/* ---- configs: formatting and the lab's rules ----------------------------------------------- */

static void fmt_config(const struct sc_config *c, char *buf, size_t len)
{
    size_t o = 0;
#define PUT(...) (o += (size_t)snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__))
    PUT("num %llu shards [", (unsigned long long)c->num);
    for (uint32_t s = 0; s < c->n_shards; s++)
        PUT("%s%u", s ? " " : "", c->shards[s]);
    PUT("] groups {");
    for (size_t g = 0; g < c->n_groups; g++) {
        PUT("%s%u:", g ? "; " : "", c->groups[g]->gid);
        for (size_t k = 0; k < c->groups[g]->n_servers; k++)
            PUT("%s%s", k ? "," : "", c->groups[g]->servers[k]);
    }
    PUT("}");
#undef PUT
}

static bool has_group(const struct sc_config *c, uint32_t gid)
{
    return sc_config_group(c, gid) != NULL;
}

/* The lab's check(groups), §2.4: Query(-1) has exactly these groups, every shard on one of them
 * (when there are any), and max - min <= 1 shards per group. */
static void check(struct lab *l, const uint32_t *groups, size_t n)
{
    struct sc_config *c = NULL;
    enum clerk_result r = ctrl_sync_query(l->ck, -1, &c);
    EXPECT(l, r == CLERK_OK, "Query(-1): %s: %s", clerk_result_name(r),
           ctrl_clerk_error(ctrl_sync_clerk(l->ck)));
    char d[1024];
    fmt_config(c, d, sizeof d);
    EXPECT(l, c->n_groups == n, "wanted %zu groups, got %zu (%s)", n, c->n_groups, d);
    for (size_t i = 0; i < n; i++)
        EXPECT(l, has_group(c, groups[i]), "missing group %u (%s)", groups[i], d);
    if (n > 0)
        for (uint32_t s = 0; s < c->n_shards; s++)
            EXPECT(l, has_group(c, c->shards[s]), "shard %u -> invalid group %u (%s)", s,
                   c->shards[s], d);
    unsigned min = 257, max = 0;
    for (size_t g = 0; g < c->n_groups; g++) {
        unsigned cnt = 0;
        for (uint32_t s = 0; s < c->n_shards; s++)
            cnt += c->shards[s] == c->groups[g]->gid;
        min = cnt < min ? cnt : min;
        max = cnt > max ? cnt : max;
    }
    EXPECT(l, max <= min + 1, "max %u too much larger than min %u (%s)", max, min, d);
    sc_config_free(c);
}

/* The lab's check_same_config(c1, c2), §2.5. */
static void check_same_config(struct lab *l, const struct sc_config *c1,
                              const struct sc_config *c2)
{
    char d1[1024], d2[1024];
    fmt_config(c1, d1, sizeof d1);
    fmt_config(c2, d2, sizeof d2);
    EXPECT(l, c1->num == c2->num, "Num wrong (%s / %s)", d1, d2);
    EXPECT(l, c1->n_shards == c2->n_shards, "Shards wrong (%s / %s)", d1, d2);
    for (uint32_t s = 0; s < c1->n_shards; s++)
        EXPECT(l, c1->shards[s] == c2->shards[s], "Shards wrong (%s / %s)", d1, d2);
    EXPECT(l, c1->n_groups == c2->n_groups, "number of Groups is wrong (%s / %s)", d1, d2);
    for (size_t g = 0; g < c1->n_groups; g++) {
        const struct sc_group *a = c1->groups[g];
        const struct sc_group *b = sc_config_group(c2, a->gid);
        EXPECT(l, b && b->n_servers == a->n_servers, "len(Groups) wrong (gid %u: %s / %s)",
               a->gid, d1, d2);
        for (size_t k = 0; k < a->n_servers; k++)
            EXPECT(l, strcmp(a->servers[k], b->servers[k]) == 0,
                   "Groups wrong (gid %u: %s / %s)", a->gid, d1, d2);
    }
}

/* Group gid of c has exactly these servers, in this order. */
static void expect_servers(struct lab *l, const struct sc_config *c, uint32_t gid,
                           const char *const *names, size_t n)
{
    char d[1024];
    fmt_config(c, d, sizeof d);
    const struct sc_group *g = sc_config_group(c, gid);
    EXPECT(l, g && g->n_servers == n, "wrong servers for gid %u (%s)", gid, d);
    for (size_t k = 0; k < n; k++)
        EXPECT(l, strcmp(g->servers[k], names[k]) == 0, "wrong servers for gid %u (%s)", gid, d);
}

/* Minimal movement: every shard whose owner in `cond` passes keep(owner) has the same owner in
 * `other`. */
typedef bool (*gid_pred)(uint32_t gid, const void *arg);

static void expect_kept(struct lab *l, const struct sc_config *cond, const struct sc_config *other,
                        gid_pred keep, const void *arg, const char *msg)
{
    char d1[1024], d2[1024];
    fmt_config(cond, d1, sizeof d1);
    fmt_config(other, d2, sizeof d2);
    EXPECT(l, cond->n_shards == other->n_shards, "%s: shard counts differ", msg);
    for (uint32_t s = 0; s < cond->n_shards; s++)
        if (keep(cond->shards[s], arg))
            EXPECT(l, other->shards[s] == cond->shards[s], "%s (shard %u: %s / %s)", msg, s, d1,
                   d2);
}

/* The lab's gids 1..npara. */
static bool lab_gid(uint32_t gid, const void *arg)
{
    (void)arg;
    return gid >= 1 && gid <= NPARA;
}

/* A group of the config arg. */
static bool group_of(uint32_t gid, const void *arg) { return has_group(arg, gid); }

static bool not_gid(uint32_t gid, const void *arg) { return gid != *(const uint32_t *)arg; }

static unsigned n_changed(const struct sc_config *a, const struct sc_config *b)
{
    unsigned n = 0;
    for (uint32_t s = 0; s < a->n_shards && s < b->n_shards; s++)
        n += a->shards[s] != b->shards[s];
    return n;
}

/* ---- operations ------------------------------------------------------------------------------
 * Blocking, on any clerk. The worker threads use the *_try forms (a failure is a message, the
 * test thread asserts); the test thread the asserting ones on l->ck. */

static bool op_ok(struct ctrl_sync *ck, enum clerk_result r, const char *what, char *why,
                  size_t len)
{
    if (r == CLERK_OK)
        return true;
    snprintf(why, len, "%s: %s: %s", what, clerk_result_name(r),
             ctrl_clerk_error(ctrl_sync_clerk(ck)));
    return false;
}

static bool join_try(struct ctrl_sync *ck, const struct sc_join_group *g, size_t n, char *why,
                     size_t len)
{
    return op_ok(ck, ctrl_sync_join(ck, g, n, NULL), "Join", why, len);
}

static bool leave_try(struct ctrl_sync *ck, const uint32_t *gids, size_t n, char *why,
                      size_t len)
{
    return op_ok(ck, ctrl_sync_leave(ck, gids, n, NULL), "Leave", why, len);
}

static struct sc_config *query(struct lab *l, int64_t num)
{
    struct sc_config *c = NULL;
    enum clerk_result r = ctrl_sync_query(l->ck, num, &c);
    EXPECT(l, r == CLERK_OK, "Query(%lld): %s: %s", (long long)num, clerk_result_name(r),
           ctrl_clerk_error(ctrl_sync_clerk(l->ck)));
    EXPECT(l, c->n_shards == NSHARDS, "Query(%lld): %u shards, not %d", (long long)num,
           c->n_shards, NSHARDS);
    return c;
}

static void join(struct lab *l, const struct sc_join_group *g, size_t n)
{
    char why[1024];
    EXPECT(l, join_try(l->ck, g, n, why, sizeof why), "Join of gid %u%s: %s", g[0].gid,
           n > 1 ? " and more" : "", why);
}

/* Join of one group; servers is NULL-terminated. */
static void join1(struct lab *l, uint32_t gid, const char *const *servers)
{
    size_t n = 0;
    while (servers[n])
        n++;
    struct sc_join_group g = { gid, servers, n };
    join(l, &g, 1);
}

static void leave(struct lab *l, const uint32_t *gids, size_t n)
{
    char why[1024];
    EXPECT(l, leave_try(l->ck, gids, n, why, sizeof why), "Leave of gid %u%s: %s", gids[0],
           n > 1 ? " and more" : "", why);
}

static void leave1(struct lab *l, uint32_t gid) { leave(l, &gid, 1); }

static void move(struct lab *l, uint32_t shard, uint32_t gid)
{
    char why[1024];
    EXPECT(l, op_ok(l->ck, ctrl_sync_move(l->ck, shard, gid, NULL), "Move", why, sizeof why),
           "Move(%u, %u): %s", shard, gid, why);
}

/* ---- concurrent clerks ---------------------------------------------------------------------- */

struct worker {
    struct clerk_spec spec;
    int xi;
    void (*body)(struct worker *w, struct ctrl_sync *ck);
    char fail[1024]; /* the first failure, "" none */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct ctrl_sync *ck = clerk_open(&w->spec, w->fail, sizeof w->fail);
    if (!ck)
        return NULL;
    w->body(w, ck);
    ctrl_sync_free(ck);
    return NULL;
}

/* The lab's npara goroutines, one clerk each (made first, as the lab's cka[]), waited for. */
static void run_workers(struct lab *l, void (*body)(struct worker *, struct ctrl_sync *))
{
    struct worker w[NPARA];
    pthread_t th[NPARA];
    for (int i = 0; i < NPARA; i++) {
        memset(&w[i], 0, sizeof w[i]);
        clerk_spec(l, &w[i].spec);
        w[i].xi = i;
        w[i].body = body;
    }
    for (int i = 0; i < NPARA; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < NPARA; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NPARA; i++)
        EXPECT(l, !w[i].fail[0], "clerk %d: %s", i, w[i].fail);
}

/* ---- the minimal-transfer pair, shared by Basic and Multi ------------------------------------ */

/* c1 before the joins, c2 after: ends the lab's MinimalTransfer with its check over gids 1..10
 * (vacuous: no such group exists), then runs MinimalTransferStrict, the same rule over the
 * groups c1 had (a shard c2 puts on an old group was already there). */
static void minimal_after_joins(struct lab *l, const struct sc_config *c1,
                                const struct sc_config *c2, const char *what)
{
    expect_kept(l, c2, c1, lab_gid, NULL, what);
    sub_end(l);
    sub_begin(l, "MinimalTransferStrict", "Minimal transfers after joins, the live gids");
    expect_kept(l, c2, c1, group_of, c1, what);
    printf("  %u of %d shards moved; none from a group of before the joins\n", n_changed(c1, c2),
           NSHARDS);
    sub_end(l);
}

/* c2 before the leaves, c3 after: ends MinimalTransferAfterLeave (gids 1..10, vacuous), then
 * runs MinimalTransferAfterLeaveStrict: a shard whose c2 owner is still in c3 keeps it. */
static void minimal_after_leaves(struct lab *l, const struct sc_config *c2,
                                 const struct sc_config *c3, const char *what)
{
    expect_kept(l, c2, c3, lab_gid, NULL, what);
    sub_end(l);
    sub_begin(l, "MinimalTransferAfterLeaveStrict",
              "Minimal transfers after leaves, the live gids");
    expect_kept(l, c2, c3, group_of, c3, what);
    printf("  %u of %d shards moved; none from a group that stayed\n", n_changed(c2, c3),
           NSHARDS);
    sub_end(l);
}

/* ---- TestBasic -------------------------------------------------------------------------------- */

static const char *const XYZ[] = { "x", "y", "z", NULL };
static const char *const ABC[] = { "a", "b", "c", NULL };

static void basic_para(struct worker *w, struct ctrl_sync *ck)
{
    uint32_t gid = 100 + 10 * (uint32_t)w->xi;
    char s1[32], s2[32];
    snprintf(s1, sizeof s1, "s%ua", gid);
    snprintf(s2, sizeof s2, "s%ub", gid);
    const char *a1[] = { s1 }, *a2[] = { s2 };
    struct sc_join_group g1 = { gid + 1000, a1, 1 }, g2 = { gid, a2, 1 };
    uint32_t gone = gid + 1000;
    if (join_try(ck, &g1, 1, w->fail, sizeof w->fail) &&
        join_try(ck, &g2, 1, w->fail, sizeof w->fail))
        leave_try(ck, &gone, 1, w->fail, sizeof w->fail);
}

START_TEST(Basic)
{
    struct lab *l = lab_new("Basic");

    sub_begin(l, "LeaveJoin", "Basic leave/join");
    /* history[3] is never set in the lab: a zero Config (Num 0, shards 0, no groups) */
    uint32_t zeros[NSHARDS] = { 0 };
    struct sc_config zero = { .num = 0, .n_shards = NSHARDS, .shards = zeros };
    struct sc_config *history[6] = { NULL };
    history[0] = query(l, -1);
    check(l, NULL, 0);
    join1(l, 1, XYZ);
    check(l, (uint32_t[]){ 1 }, 1);
    history[1] = query(l, -1);
    join1(l, 2, ABC);
    check(l, (uint32_t[]){ 1, 2 }, 2);
    history[2] = query(l, -1);
    struct sc_config *cfx = query(l, -1);
    expect_servers(l, cfx, 1, XYZ, 3);
    expect_servers(l, cfx, 2, ABC, 3);
    sc_config_free(cfx);
    leave1(l, 1);
    check(l, (uint32_t[]){ 2 }, 1);
    history[4] = query(l, -1);
    leave1(l, 2);
    history[5] = query(l, -1);
    sub_end(l);

    sub_begin(l, "HistoricalQueries", "Historical queries");
    const struct sc_config *want[6] = { history[0], history[1], history[2], &zero, history[4],
                                        history[5] };
    for (unsigned s = 1; s <= NSERVERS; s++) {
        EXPECT(l, cluster_crash_node(l->c, s) == 0, "node %u was not running", s);
        for (int i = 0; i < 6; i++) {
            struct sc_config *c = query(l, (int64_t)want[i]->num);
            check_same_config(l, c, want[i]);
            sc_config_free(c);
        }
        EXPECT(l, cluster_restart_node(l->c, s) == 0, "node %u did not restart", s);
        printf("  node %u killed: the 6 history entries queried; restarted\n", s);
    }
    for (int i = 0; i < 6; i++)
        if (want[i] != &zero)
            sc_config_free(history[i]);
    sub_end(l);

    sub_begin(l, "Move", "Move");
    const uint32_t gid3 = 503, gid4 = 504;
    join1(l, gid3, (const char *const[]){ "3a", "3b", "3c", NULL });
    join1(l, gid4, (const char *const[]){ "4a", "4b", "4c", NULL });
    unsigned owner_changes = 0;
    for (uint32_t i = 0; i < NSHARDS; i++) {
        struct sc_config *cf = query(l, -1);
        uint32_t to = i < NSHARDS / 2 ? gid3 : gid4;
        move(l, i, to);
        if (cf->shards[i] != to) {
            owner_changes++;
            struct sc_config *cf1 = query(l, -1);
            EXPECT(l, cf1->num > cf->num, "Move should increase Config.Num (%llu -> %llu)",
                   (unsigned long long)cf->num, (unsigned long long)cf1->num);
            sc_config_free(cf1);
        }
        sc_config_free(cf);
    }
    cfx = query(l, -1);
    for (uint32_t i = 0; i < NSHARDS; i++) {
        uint32_t to = i < NSHARDS / 2 ? gid3 : gid4;
        EXPECT(l, cfx->shards[i] == to, "expected shard %u on gid %u actually %u", i, to,
               cfx->shards[i]);
    }
    sc_config_free(cfx);
    leave1(l, gid3);
    leave1(l, gid4);
    printf("  %u of the %d Moves changed an owner\n", owner_changes, NSHARDS);
    sub_end(l);

    /* The lab's Moves ask for the placement a balanced rebalancer may already have made after
     * the two joins (lib/shardctrl's does: 0-4 on 503, 5-9 on 504), and then no Move changes an
     * owner, so neither its Num check nor "Move must not rebalance" is tested. Here every
     * shard goes to the other group, one Move at a time (the gids re-join: gid re-use). */
    sub_begin(l, "MoveStrict", "Move, every shard to the other group");
    join1(l, gid3, (const char *const[]){ "3a", "3b", "3c", NULL });
    join1(l, gid4, (const char *const[]){ "4a", "4b", "4c", NULL });
    struct sc_config *prev = query(l, -1);
    for (uint32_t i = 0; i < NSHARDS; i++) {
        uint32_t to = prev->shards[i] == gid3 ? gid4 : gid3;
        move(l, i, to);
        struct sc_config *cur = query(l, -1);
        char d1[1024], d2[1024];
        fmt_config(prev, d1, sizeof d1);
        fmt_config(cur, d2, sizeof d2);
        EXPECT(l, cur->num > prev->num, "Move should increase Config.Num (%s / %s)", d1, d2);
        for (uint32_t j = 0; j < NSHARDS; j++)
            EXPECT(l, cur->shards[j] == (j == i ? to : prev->shards[j]),
                   "Move(%u, %u) left shard %u on gid %u (%s / %s)", i, to, j, cur->shards[j],
                   d1, d2);
        sc_config_free(prev);
        prev = cur;
    }
    sc_config_free(prev);
    leave1(l, gid3);
    leave1(l, gid4);
    sub_end(l);

    sub_begin(l, "ConcurrentLeaveJoin", "Concurrent leave/join");
    run_workers(l, basic_para);
    uint32_t gids[NPARA];
    for (int i = 0; i < NPARA; i++)
        gids[i] = 100 + 10 * (uint32_t)i;
    check(l, gids, NPARA);
    sub_end(l);

    sub_begin(l, "MinimalTransfer", "Minimal transfers after joins");
    struct sc_config *c1 = query(l, -1);
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t gid = NPARA + 1 + i;
        char a[16], b[16];
        snprintf(a, sizeof a, "%ua", gid);
        snprintf(b, sizeof b, "%ub", gid);
        join1(l, gid, (const char *const[]){ a, b, b, NULL }); /* "b" twice: the lab's typo */
    }
    struct sc_config *c2 = query(l, -1);
    minimal_after_joins(l, c1, c2, "non-minimal transfer after Join()s");

    sub_begin(l, "MinimalTransferAfterLeave", "Minimal transfers after leaves");
    for (uint32_t i = 0; i < 5; i++)
        leave1(l, NPARA + 1 + i);
    struct sc_config *c3 = query(l, -1);
    minimal_after_leaves(l, c2, c3, "non-minimal transfer after Leave()s");
    sc_config_free(c1);
    sc_config_free(c2);
    sc_config_free(c3);

    lab_free(l);
}
END_TEST

/* ---- TestMinimalAgain ------------------------------------------------------------------------- */

START_TEST(MinimalAgain)
{
    struct lab *l = lab_new("MinimalAgain");
    sub_begin(l, "MinimalAgain", "minimal movement again");
    join1(l, 1, XYZ);
    join1(l, 2, ABC);
    struct sc_config *c1 = query(l, -1);
    join1(l, 3, (const char *const[]){ "d", "e", "f", NULL });
    struct sc_config *c2 = query(l, -1);
    const uint32_t g3 = 3, g1 = 1;
    expect_kept(l, c2, c1, not_gid, &g3, "shard moved but not to the new group");
    unsigned changed = n_changed(c1, c2);
    EXPECT(l, changed <= NSHARDS / 3 + 1, "too many shards changed after join: %u", changed);
    leave1(l, 1);
    struct sc_config *c3 = query(l, -1);
    expect_kept(l, c2, c3, not_gid, &g1, "shard of a group that stayed moved");
    unsigned changed2 = n_changed(c2, c3);
    EXPECT(l, changed2 <= NSHARDS / 3 + 1, "too many shards changed after leave: %u", changed2);
    printf("  join of a third group moved %u shards, the leave of one %u (limit %d each)\n",
           changed, changed2, NSHARDS / 3 + 1);
    sc_config_free(c1);
    sc_config_free(c2);
    sc_config_free(c3);
    sub_end(l);
    lab_free(l);
}
END_TEST

/* ---- TestMulti -------------------------------------------------------------------------------- */

static void multi_para(struct worker *w, struct ctrl_sync *ck)
{
    uint32_t gid = 1000 + (uint32_t)w->xi;
    char a[16], b[16], c[16], d[16], e[16];
    snprintf(a, sizeof a, "%ua", gid);
    snprintf(b, sizeof b, "%ub", gid);
    snprintf(c, sizeof c, "%uc", gid);
    snprintf(d, sizeof d, "%ua", gid + 1000);
    snprintf(e, sizeof e, "%ua", gid + 2000);
    const char *s1[] = { a, b, c }, *s2[] = { d }, *s3[] = { e };
    struct sc_join_group g[3] = { { gid, s1, 3 }, { gid + 1000, s2, 1 }, { gid + 2000, s3, 1 } };
    uint32_t gone[2] = { gid + 1000, gid + 2000 };
    if (join_try(ck, g, 3, w->fail, sizeof w->fail))
        leave_try(ck, gone, 2, w->fail, sizeof w->fail);
}

START_TEST(Multi)
{
    struct lab *l = lab_new("Multi");

    sub_begin(l, "LeaveJoin", "Multi-group join/leave");
    sc_config_free(query(l, -1));
    check(l, NULL, 0);
    static const char *const JKL[] = { "j", "k", "l", NULL };
    struct sc_join_group two[2] = { { 1, XYZ, 3 }, { 2, ABC, 3 } };
    join(l, two, 2);
    check(l, (uint32_t[]){ 1, 2 }, 2);
    sc_config_free(query(l, -1));
    join1(l, 3, JKL);
    check(l, (uint32_t[]){ 1, 2, 3 }, 3);
    sc_config_free(query(l, -1));
    struct sc_config *cfx = query(l, -1);
    expect_servers(l, cfx, 1, XYZ, 3);
    expect_servers(l, cfx, 2, ABC, 3);
    expect_servers(l, cfx, 3, JKL, 3);
    sc_config_free(cfx);
    leave(l, (uint32_t[]){ 1, 3 }, 2);
    check(l, (uint32_t[]){ 2 }, 1);
    sc_config_free(query(l, -1));
    cfx = query(l, -1);
    expect_servers(l, cfx, 2, ABC, 3);
    sc_config_free(cfx);
    leave1(l, 2);
    sub_end(l);

    sub_begin(l, "ConcurrentLeaveJoin", "Concurrent multi leave/join");
    run_workers(l, multi_para);
    uint32_t gids[NPARA];
    for (int i = 0; i < NPARA; i++)
        gids[i] = 1000 + (uint32_t)i;
    check(l, gids, NPARA);
    sub_end(l);

    sub_begin(l, "MinimalTransfer", "Minimal transfers after multijoins");
    struct sc_config *c1 = query(l, -1);
    char names[5][2][16];
    const char *srv[5][2];
    struct sc_join_group five[5];
    uint32_t five_gids[5];
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t gid = NPARA + 1 + i;
        snprintf(names[i][0], sizeof names[i][0], "%ua", gid);
        snprintf(names[i][1], sizeof names[i][1], "%ub", gid);
        srv[i][0] = names[i][0];
        srv[i][1] = names[i][1];
        five[i] = (struct sc_join_group){ gid, srv[i], 2 };
        five_gids[i] = gid;
    }
    join(l, five, 5);
    struct sc_config *c2 = query(l, -1);
    minimal_after_joins(l, c1, c2, "non-minimal transfer after Join()s");

    sub_begin(l, "MinimalTransferAfterLeave", "Minimal transfers after multileaves");
    leave(l, five_gids, 5);
    struct sc_config *c3 = query(l, -1);
    minimal_after_leaves(l, c2, c3, "non-minimal transfer after Leave()s");
    sc_config_free(c1);
    sc_config_free(c2);
    sc_config_free(c3);

    sub_begin(l, "AgreeConfig", "Check Same config on servers");
    /* The lab's Leader(): one look at every live node's node.Status, no retry. */
    int leader = cluster_wait_leader(l->c, CLUSTER_ALL, 0, NULL);
    EXPECT(l, leader > 0, "Leader not found");
    struct sc_config *c = query(l, -1);
    EXPECT(l, cluster_crash_node(l->c, (unsigned)leader) == 0, "leader %d was not running",
           leader);
    /* The lab's retry loop samples Leader() once and, with no leader visible yet, does nothing:
     * no wait, just query (LAB5-TESTS.md §2.8). */
    struct sc_config *c1b = query(l, -1);
    check_same_config(l, c, c1b);
    printf("  leader n%d killed; the survivors answer config %llu unchanged\n", leader,
           (unsigned long long)c1b->num);
    sc_config_free(c);
    sc_config_free(c1b);
    sub_end(l);

    lab_free(l);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shardctrl_lab5a");
    TCase *tc = tcase_create("5A");
    tcase_set_timeout(tc, 180); /* the lab's own rule (120 s) is checked inside each test */
    KV_ADD_TEST(tc, Basic);
    KV_ADD_TEST(tc, MinimalAgain);
    KV_ADD_TEST(tc, Multi);
    suite_add_tcase(s, tc);
    return s;
}
