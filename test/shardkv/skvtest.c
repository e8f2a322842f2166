/* The Lab 5 shardkv tester's config on shardctrld + shardkvd processes (skvtest.h). */
#include "skvtest.h"

#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lincheck/lincheck.h"
#include "base/clock.h"
#include "base/util.h"
#include "clerk/ctrl.h"
#include "clerk/shard.h"
#include "shardctrl/keyshard.h"
#include "storage/storage.h"

#define LIN_TIMEOUT_MS 1000 /* the lab's Porcupine limit */
/* A clerk's wait for one server's answer before it tries the next. labrpc fails a dropped call
 * at once; a proxy's dropped frame is only noticed when this runs out, so it is kept short (as
 * kvtest's), well above an answer's worst time here (a few hops of at most 26 ms each). */
#define ATTEMPT_MS 500
#define MAX_CTRLERS 2       /* the primary and the one Rejection5A makes */

static const struct cluster_faults UNRELIABLE = { .drop = 0.1, .delay_min_ms = 0,
                                                  .delay_max_ms = 26, .reorder = true };

struct skt {
    const char *name;
    int maxraftstate;
    bool unreliable;
    uint64_t t0_ms;
    struct cluster *ctl[MAX_CTRLERS]; /* [0]: the primary controller */
    int n_ctl;
    struct cluster *g[SKT_NGROUPS];
    struct ctrl_sync *ctl_ck[MAX_CTRLERS];
    struct event_base *base; /* the test thread's clerks */
    bool record;
    pthread_mutex_t hist_mu;
    struct lin_history hist;
    int next_cli;
    /* every clerk operation that ended well (under hist_mu): count, time, the slowest */
    uint64_t ops, ops_ms, slowest_ms, over_1s;
    struct shard_clerk_stats cks; /* summed over the clerks freed */
};

/* Adds a clerk's counters to t's (under hist_mu: clerks are freed on either thread). */
static void add_clerk_stats(struct skt *t, const struct shard_clerk *ck)
{
    struct shard_clerk_stats st;
    shard_clerk_stats(ck, &st);
    pthread_mutex_lock(&t->hist_mu);
    t->cks.queries += st.queries;
    t->cks.wrong_group += st.wrong_group;
    t->cks.no_answer += st.no_answer;
    pthread_mutex_unlock(&t->hist_mu);
}

struct skt_ck {
    struct skt *t;
    struct shard_clerk *ck;
    int cli;
};

/* ---- failures --------------------------------------------------------------------------- */

void skt_fail(struct skt *t, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("  ... FAILED %s: %s\n", t->name, msg);
    fflush(stdout);
    ck_abort_msg("%s (line %d, seed %llu): %s", t->name, line,
                 (unsigned long long)cluster_seed(t->ctl[0]), msg);
    abort(); /* not reached */
}

void skt_sleep(uint64_t ms) { clock_sleep_ms(ms); }
struct rng *skt_rng(struct skt *t) { return cluster_rng(t->ctl[0]); }

/* ---- the config ------------------------------------------------------------------------- */

static struct cluster *start_ctrler(struct skt *t, const char *label)
{
    static const char *const args[] = { "--shards", "10", NULL };
    char name[96];
    snprintf(name, sizeof name, "%s-%s", t->name, label);
    struct cluster_opts o;
    cluster_opts_default(&o);
    o.n = SKT_NSERVERS;
    o.daemon = "shardctrld";
    o.args = args; /* the whole log kept (the INI's max_raft_state = 0), as the lab's
                      controller, which is given no maxraftstate */
    o.name = name;
    char err[512];
    struct cluster *c = cluster_new(&o, err, sizeof err);
    SKT_EXPECT(t, c, "controller %s: %s", name, err);
    struct clerk_opts co;
    clerk_opts_default(&co);
    co.deadline_ms = SKT_OP_DEADLINE_MS;
    co.seed = rng_next(cluster_rng(t->ctl[0] ? t->ctl[0] : c)) | 1;
    const char *addrs[CLUSTER_MAX_NODES];
    size_t n = cluster_client_addrs(c, addrs);
    int k = t->n_ctl++;
    t->ctl[k] = c;
    t->ctl_ck[k] = ctrl_sync_new(addrs, n, &co, err, sizeof err);
    SKT_EXPECT(t, t->ctl_ck[k], "controller clerk: %s", err);
    return c;
}

/* Group gi's nodes: shardkvd --gid, --ctrlers (the primary's client proxies), --poll 100ms
 * (the lab's "roughly every 100 milliseconds"), --max-raft-state when the test sets one. */
static void start_group(struct skt *t, int gi)
{
    const char *addrs[CLUSTER_MAX_NODES];
    size_t n = cluster_client_addrs(t->ctl[0], addrs);
    char ctrlers[512] = "";
    for (size_t k = 0; k < n; k++)
        snprintf(ctrlers + strlen(ctrlers), sizeof ctrlers - strlen(ctrlers), "%s%s",
                 k ? "," : "", addrs[k]);
    char gid[16], mrs[32], name[96];
    snprintf(gid, sizeof gid, "%u", SKT_GID(gi));
    snprintf(mrs, sizeof mrs, "%d", t->maxraftstate > 0 ? t->maxraftstate : 0);
    snprintf(name, sizeof name, "%s-g%u", t->name, SKT_GID(gi));
    const char *args[] = { "--gid", gid, "--ctrlers", ctrlers, "--poll", "100ms",
                           "--max-raft-state", mrs, NULL };
    struct cluster_opts o;
    cluster_opts_default(&o);
    o.n = SKT_NSERVERS;
    o.daemon = "shardkvd";
    o.args = args;
    o.name = name;
    char err[512];
    t->g[gi] = cluster_new(&o, err, sizeof err);
    SKT_EXPECT(t, t->g[gi], "group %u: %s", SKT_GID(gi), err);
}

struct skt *skt_new(const char *name, const char *part, const char *title, bool unreliable,
                    int maxraftstate, bool record)
{
    struct skt *t = xcalloc(1, sizeof *t);
    t->name = name;
    t->maxraftstate = maxraftstate;
    t->record = record;
    t->t0_ms = clock_mono_ms();
    pthread_mutex_init(&t->hist_mu, NULL);
    lin_history_init(&t->hist);
    printf("Test (%s): %s ... (%s)\n", part, title, name);
    fflush(stdout);
    start_ctrler(t, "ctl");
    for (int gi = 0; gi < SKT_NGROUPS; gi++)
        start_group(t, gi); /* all 9 at once, joined or not, as the lab's make_config */
    t->base = event_base_new();
    skt_set_unreliable(t, unreliable);
    return t;
}

void skt_set_unreliable(struct skt *t, bool unreliable)
{
    t->unreliable = unreliable;
    const struct cluster_faults *f = unreliable ? &UNRELIABLE : NULL;
    for (int k = 0; k < t->n_ctl; k++)
        cluster_set_faults(t->ctl[k], f);
    for (int gi = 0; gi < SKT_NGROUPS; gi++)
        cluster_set_faults(t->g[gi], f);
}

void skt_free(struct skt *t)
{
    uint64_t took = clock_mono_ms() - t->t0_ms;
    SKT_EXPECT(t, took <= SKT_WALL_LIMIT_MS, "test took longer than 120 seconds (%.1f s)",
               took / 1e3);
    int bad = 0;
    for (int gi = 0; gi < SKT_NGROUPS; gi++)
        bad += cluster_stop_all(t->g[gi]);
    for (int k = 0; k < t->n_ctl; k++) {
        ctrl_sync_free(t->ctl_ck[k]);
        t->ctl_ck[k] = NULL;
        bad += cluster_stop_all(t->ctl[k]);
    }
    SKT_EXPECT(t, bad == 0, "%d node(s) exited badly (see above)", bad);
    printf("  clerk operations: %llu, %.0f ms on average, the slowest %.1f s, %llu over 1 s\n",
           (unsigned long long)t->ops, t->ops ? (double)t->ops_ms / (double)t->ops : 0.0,
           t->slowest_ms / 1e3, (unsigned long long)t->over_1s);
    printf("  shard clerks: %llu config queries, %llu WRONG_GROUP answers, %llu rounds a group "
           "answered nothing\n",
           (unsigned long long)t->cks.queries, (unsigned long long)t->cks.wrong_group,
           (unsigned long long)t->cks.no_answer);
    printf("  ... Passed -- %s %.1f s\n", t->name, took / 1e3);
    fflush(stdout);
    for (int gi = 0; gi < SKT_NGROUPS; gi++)
        cluster_free(t->g[gi]);
    for (int k = t->n_ctl - 1; k >= 0; k--)
        cluster_free(t->ctl[k]);
    event_base_free(t->base);
    lin_history_free(&t->hist);
    pthread_mutex_destroy(&t->hist_mu);
    free(t);
}

/* ---- the controller --------------------------------------------------------------------- */

static void join_on(struct skt *t, int k, int gi)
{
    const char *addrs[CLUSTER_MAX_NODES];
    size_t n = cluster_client_addrs(t->g[gi], addrs);
    struct sc_join_group g = { SKT_GID(gi), addrs, n };
    enum clerk_result r = ctrl_sync_join(t->ctl_ck[k], &g, 1, NULL);
    SKT_EXPECT(t, r == CLERK_OK, "Join of gid %u: %s: %s", SKT_GID(gi), clerk_result_name(r),
               ctrl_clerk_error(ctrl_sync_clerk(t->ctl_ck[k])));
}

void skt_join(struct skt *t, int gi) { join_on(t, 0, gi); }

void skt_leave(struct skt *t, int gi)
{
    uint32_t gid = SKT_GID(gi);
    enum clerk_result r = ctrl_sync_leave(t->ctl_ck[0], &gid, 1, NULL);
    SKT_EXPECT(t, r == CLERK_OK, "Leave of gid %u: %s: %s", gid, clerk_result_name(r),
               ctrl_clerk_error(ctrl_sync_clerk(t->ctl_ck[0])));
}

struct cluster *skt_new_ctrler(struct skt *t)
{
    SKT_EXPECT(t, t->n_ctl < MAX_CTRLERS, "too many controllers");
    struct cluster *c = start_ctrler(t, "ctl1");
    if (t->unreliable)
        cluster_set_faults(c, &UNRELIABLE);
    return c;
}

void skt_ctljoin(struct skt *t, int gi, struct cluster *ctl)
{
    for (int k = 0; k < t->n_ctl; k++)
        if (t->ctl[k] == ctl) {
            join_on(t, k, gi);
            return;
        }
    skt_fail(t, __LINE__, "not a controller of this test");
}

struct sc_config *skt_query(struct skt *t)
{
    struct sc_config *c = NULL;
    enum clerk_result r = ctrl_sync_query(t->ctl_ck[0], -1, &c);
    SKT_EXPECT(t, r == CLERK_OK, "Query(-1): %s: %s", clerk_result_name(r),
               ctrl_clerk_error(ctrl_sync_clerk(t->ctl_ck[0])));
    return c;
}

size_t skt_owned_keys(const struct sc_config *cfg, uint32_t gid, const char *const *keys,
                      size_t n, bool *owned)
{
    size_t cnt = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t s = sc_key_shard((const uint8_t *)keys[k], strlen(keys[k]), cfg->n_shards);
        owned[k] = cfg->n_shards > 0 && cfg->shards[s] == gid;
        cnt += owned[k];
    }
    return cnt;
}

/* ---- servers ---------------------------------------------------------------------------- */

static void check_gi(struct skt *t, int gi, int i)
{
    SKT_EXPECT(t, gi >= 0 && gi < SKT_NGROUPS && i >= 0 && i < SKT_NSERVERS,
               "no server %d of group %d", i, gi);
}

void skt_shutdown_server(struct skt *t, int gi, int i)
{
    check_gi(t, gi, i);
    cluster_crash_node(t->g[gi], (unsigned)i + 1); /* a no-op when it is down (as the lab's) */
}

void skt_start_server(struct skt *t, int gi, int i)
{
    check_gi(t, gi, i);
    SKT_EXPECT(t, cluster_restart_node(t->g[gi], (unsigned)i + 1) == 0,
               "server %d of gid %u did not start again (see above)", i, SKT_GID(gi));
}

void skt_shutdown_group(struct skt *t, int gi)
{
    for (int i = 0; i < SKT_NSERVERS; i++)
        skt_shutdown_server(t, gi, i);
}

void skt_start_group(struct skt *t, int gi)
{
    for (int i = 0; i < SKT_NSERVERS; i++)
        skt_start_server(t, gi, i);
}

/* A down node's raft state and snapshot sizes, from its store. */
static void stored_sizes(struct skt *t, struct cluster *c, unsigned i, uint64_t *raft,
                         uint64_t *snap)
{
    char dir[600], err[256];
    snprintf(dir, sizeof dir, "%s/data", cluster_node_dir(c, i));
    struct storage_opts so;
    storage_opts_default(&so);
    struct storage *s = NULL;
    SKT_EXPECT(t, storage_open(dir, &so, &s, err, sizeof err) == 0, "store of %s: %s", dir, err);
    *raft = storage_raft_state_size(s);
    *snap = storage_snapshot_size(s);
    storage_close(s);
}

void skt_checklogs(struct skt *t)
{
    uint64_t max_raft = 0;
    for (int gi = 0; gi < SKT_NGROUPS; gi++)
        for (unsigned i = 1; i <= SKT_NSERVERS; i++) {
            struct cluster *c = t->g[gi];
            uint64_t raft, snap;
            if (cluster_node_running(c, i)) {
                Node__Status *st = cluster_status(c, i, 2000);
                SKT_EXPECT(t, st, "server %u of gid %u does not answer node.Status", i - 1,
                           SKT_GID(gi));
                raft = st->raft_state_bytes;
                snap = st->snapshot_index > 0 || st->snapshots_taken > 0 ||
                       st->snapshots_installed > 0;
                node__status__free_unpacked(st, NULL);
            } else {
                stored_sizes(t, c, i, &raft, &snap);
            }
            max_raft = MAX(max_raft, raft);
            if (t->maxraftstate >= 0)
                SKT_EXPECT(t, raft <= 8 * (uint64_t)t->maxraftstate,
                           "persister.RaftStateSize() %llu, but maxraftstate %d (server %u of "
                           "gid %u)",
                           (unsigned long long)raft, t->maxraftstate, i - 1, SKT_GID(gi));
            else
                SKT_EXPECT(t, !snap,
                           "maxraftstate is -1, but snapshot is non-empty! (server %u of gid %u)",
                           i - 1, SKT_GID(gi));
        }
    printf("  checklogs: largest raft state %llu B%s\n", (unsigned long long)max_raft,
           t->maxraftstate >= 0 ? "" : ", no snapshots");
    fflush(stdout);
}

void skt_expect_snapshots(struct skt *t)
{
    unsigned n = 0;
    for (int gi = 0; gi < SKT_NGROUPS; gi++)
        for (unsigned i = 1; i <= SKT_NSERVERS; i++) {
            Node__Status *st = cluster_status(t->g[gi], i, 2000);
            if (!st)
                continue; /* down: its store was checked by checklogs */
            bool has = st->snapshot_index > 0;
            uint64_t taken = st->snapshots_taken, inst = st->snapshots_installed;
            node__status__free_unpacked(st, NULL);
            SKT_EXPECT(t, has,
                       "server %u of gid %u has no snapshot with max_raft_state %d (taken %llu, "
                       "installed %llu)",
                       i - 1, SKT_GID(gi), t->maxraftstate, (unsigned long long)taken,
                       (unsigned long long)inst);
            n++;
        }
    printf("  every one of the %u running servers has a snapshot\n", n);
    fflush(stdout);
}

/* ---- the shard clerk (lib/clerk/shard.h) -------------------------------------------------- */

static struct shard_clerk *sclerk_new(struct skt *t, struct event_base *base, struct cluster *ctl)
{
    const char *addrs[CLUSTER_MAX_NODES];
    size_t n = cluster_client_addrs(ctl ? ctl : t->ctl[0], addrs);
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = SKT_OP_DEADLINE_MS;
    o.attempt_ms = ATTEMPT_MS;
    o.seed = rng_next(skt_rng(t)) | 1;
    char err[512];
    struct shard_clerk *ck = shard_clerk_new(base, addrs, n, &o, err, sizeof err);
    SKT_EXPECT(t, ck, "shard clerk: %s", err);
    return ck;
}

/* ---- recorded operations ---------------------------------------------------------------- */

static bool op_failed(enum clerk_result r) { return r != CLERK_OK && r != CLERK_NO_KEY; }

struct op {
    struct skt *t;
    struct shard_clerk *ck;
    int cli;
    enum lin_kind kind;
    char key[16];
    char *val;
    size_t idx;
    uint64_t start_ms;
    bool done;
    enum clerk_result r;
    char *out;
    char err[512];
    void (*then)(struct op *op, void *arg);
    void *arg;
};

static void op_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct op *op = arg;
    int64_t now = (int64_t)clock_mono_ns();
    op->done = true;
    op->r = r;
    op->out = xmalloc(len + 1);
    if (len)
        memcpy(op->out, value, len);
    op->out[len] = '\0';
    if (op_failed(r)) {
        /* outcome unknown: stays without a return in the history */
        snprintf(op->err, sizeof op->err, "%s", shard_clerk_error(op->ck));
    } else {
        struct skt *t = op->t;
        uint64_t took = clock_mono_ms() - op->start_ms;
        pthread_mutex_lock(&t->hist_mu);
        if (t->record)
            lin_history_return(&t->hist, op->idx, op->kind == LIN_GET ? op->out : NULL,
                               op->kind == LIN_GET ? len : 0, now);
        t->ops++;
        t->ops_ms += took;
        t->slowest_ms = MAX(t->slowest_ms, took);
        t->over_1s += took > 1000;
        pthread_mutex_unlock(&t->hist_mu);
    }
    if (op->then)
        op->then(op, op->arg);
}

static void op_start(struct op *op)
{
    struct skt *t = op->t;
    op->done = false;
    free(op->out);
    op->out = NULL;
    op->start_ms = clock_mono_ms();
    size_t vlen = op->val ? strlen(op->val) : 0;
    if (t->record) {
        pthread_mutex_lock(&t->hist_mu);
        lin_history_call(&t->hist, op->cli, op->kind, op->key, strlen(op->key),
                         op->val ? op->val : "", vlen, (int64_t)clock_mono_ns(), &op->idx);
        pthread_mutex_unlock(&t->hist_mu);
    }
    const uint8_t *kb = (const uint8_t *)op->key;
    size_t kl = strlen(op->key);
    if (op->kind == LIN_GET)
        shard_clerk_get(op->ck, kb, kl, op_done, op);
    else if (op->kind == LIN_PUT)
        shard_clerk_put(op->ck, kb, kl, (const uint8_t *)op->val, vlen, false, op_done, op);
    else
        shard_clerk_append(op->ck, kb, kl, (const uint8_t *)op->val, vlen, false, op_done,
                           op);
}

static void op_clear(struct op *op)
{
    free(op->val);
    free(op->out);
    op->val = op->out = NULL;
}

/* "Get(3)", "Append(3, 5 bytes)" for messages. */
static void op_name(const struct op *op, char *buf, size_t len)
{
    if (op->kind == LIN_GET)
        snprintf(buf, len, "Get(%s)", op->key);
    else
        snprintf(buf, len, "%s(%s, %zu bytes)", op->kind == LIN_PUT ? "Put" : "Append", op->key,
                 op->val ? strlen(op->val) : 0);
}

/* ---- clerks on the test thread ---------------------------------------------------------- */

struct skt_ck *skt_ck_new(struct skt *t, struct cluster *ctl)
{
    struct skt_ck *k = xcalloc(1, sizeof *k);
    k->t = t;
    k->cli = t->next_cli++;
    k->ck = sclerk_new(t, t->base, ctl);
    return k;
}

void skt_ck_free(struct skt_ck *k)
{
    if (!k)
        return;
    add_clerk_stats(k->t, k->ck);
    shard_clerk_free(k->ck);
    free(k);
}

/* Runs one operation to its end on the test thread's loop. */
static char *run_op(struct skt_ck *k, enum lin_kind kind, const char *key, const char *val)
{
    struct skt *t = k->t;
    struct op op = { .t = t, .ck = k->ck, .cli = k->cli, .kind = kind };
    snprintf(op.key, sizeof op.key, "%s", key);
    op.val = val ? xstrdup(val) : NULL;
    op_start(&op);
    /* The clerk's deadline ends it first; this bound only guards against a clerk that would
     * not keep its own. */
    uint64_t end = op.start_ms + SKT_OP_DEADLINE_MS + 5000;
    while (!op.done && clock_mono_ms() < end) {
        struct timeval tv = { 0, 20000 };
        event_base_loopexit(t->base, &tv);
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    char what[64];
    op_name(&op, what, sizeof what);
    SKT_EXPECT(t, op.done, "%s did not complete within %d s (the clerk kept no deadline)", what,
               SKT_OP_DEADLINE_MS / 1000 + 5);
    SKT_EXPECT(t, !op_failed(op.r), "%s failed after %.1f s: %s: %s", what,
               (clock_mono_ms() - op.start_ms) / 1e3, clerk_result_name(op.r), op.err);
    char *out = op.out;
    op.out = NULL;
    op_clear(&op);
    return out;
}

char *skt_get(struct skt_ck *k, const char *key) { return run_op(k, LIN_GET, key, NULL); }
void skt_put(struct skt_ck *k, const char *key, const char *val)
{
    free(run_op(k, LIN_PUT, key, val));
}
void skt_append(struct skt_ck *k, const char *key, const char *val)
{
    free(run_op(k, LIN_APPEND, key, val));
}

void skt_check(struct skt_ck *k, const char *key, const char *want)
{
    char *v = skt_get(k, key);
    size_t d = 0; /* where they first differ: a lost or doubled Append shows there */
    while (want[d] && want[d] == v[d])
        d++;
    SKT_EXPECT(k->t, strcmp(v, want) == 0,
               "Get(%s): expected (%zu bytes):\n%s\nreceived (%zu bytes, first difference at byte "
               "%zu):\n%s",
               key, strlen(want), want, strlen(v), d, v);
    free(v);
}

struct quiet {
    uint64_t last_ms;
    int returned;
};

static void quiet_then(struct op *op, void *arg)
{
    struct quiet *q = arg;
    (void)op;
    q->last_ms = clock_mono_ms();
    q->returned++;
}

void skt_gets_until_quiet(struct skt *t, struct skt_ck **clerks, const char *const *keys,
                          size_t n, uint64_t quiet_ms, char **got)
{
    struct op *ops = xcalloc(n, sizeof *ops);
    struct quiet q = { .last_ms = clock_mono_ms() };
    for (size_t k = 0; k < n; k++) {
        ops[k] = (struct op){ .t = t, .ck = clerks[k]->ck, .cli = clerks[k]->cli,
                              .kind = LIN_GET, .then = quiet_then, .arg = &q };
        snprintf(ops[k].key, sizeof ops[k].key, "%s", keys[k]);
        op_start(&ops[k]);
    }
    /* bounded: n results at most, each restarting a quiet_ms wait */
    uint64_t end = clock_mono_ms() + (n + 1) * quiet_ms + 1000;
    while (clock_mono_ms() - q.last_ms < quiet_ms && clock_mono_ms() < end &&
           (size_t)q.returned < n) {
        struct timeval tv = { 0, 20000 };
        event_base_loopexit(t->base, &tv);
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    for (size_t k = 0; k < n; k++) {
        got[k] = NULL;
        if (!ops[k].done)
            continue;
        char what[64];
        op_name(&ops[k], what, sizeof what);
        SKT_EXPECT(t, !op_failed(ops[k].r), "%s failed: %s: %s", what,
                   clerk_result_name(ops[k].r), ops[k].err);
        got[k] = ops[k].out;
        ops[k].out = NULL;
    }
    /* A Get still pending belongs to its clerk until the clerk is freed (which drops it
     * without its callback, as the lab leaves its hung goroutines): the clerks go first. */
    for (size_t k = 0; k < n; k++) {
        skt_ck_free(clerks[k]);
        clerks[k] = NULL;
    }
    for (size_t k = 0; k < n; k++)
        op_clear(&ops[k]);
    free(ops);
}

void skt_key(int i, char *buf, size_t len) { snprintf(buf, len, "%d", i); }

static void fill_rand(struct rng *r, char *s, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i++)
        s[i] = abc[rng_below(r, sizeof abc - 1)];
    s[n] = '\0';
}

char *skt_randstr(struct skt *t, size_t n)
{
    char *s = xmalloc(n + 1);
    fill_rand(skt_rng(t), s, n);
    return s;
}

/* ---- workers ---------------------------------------------------------------------------- */

struct worker {
    struct skt_workers *w;
    int i;
    struct rng rng;
    struct op op;
    struct event *timer;
    bool finished;
    uint64_t ops;
    char fail[1024];
};

struct skt_workers {
    struct skt *t;
    int n;
    enum skt_work work;
    size_t value_len;
    uint64_t sleep_ms;
    char **va;
    struct event_base *base;
    struct worker *wk;
    atomic_bool done;
    int finished;
    pthread_t th;
};

static void worker_next(struct worker *k);

static void worker_finish(struct worker *k)
{
    k->finished = true;
    if (++k->w->finished == k->w->n)
        event_base_loopbreak(k->w->base);
}

static void worker_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_next(arg);
}

static void worker_then(struct op *op, void *arg)
{
    struct worker *k = arg;
    struct skt_workers *w = k->w;
    uint64_t took = clock_mono_ms() - op->start_ms;
    char what[64];
    op_name(op, what, sizeof what);
    if (op_failed(op->r)) {
        snprintf(k->fail, sizeof k->fail, "worker %d: %s failed after %.1f s: %s: %s", k->i,
                 what, took / 1e3, clerk_result_name(op->r), op->err);
        worker_finish(k);
        return;
    }
    k->ops++;
    if (w->work == SKT_APPEND) {
        char **va = &w->va[k->i];
        size_t a = strlen(*va), b = strlen(op->val);
        *va = xrealloc(*va, a + b + 1);
        memcpy(*va + a, op->val, b + 1);
    }
    if (atomic_load(&w->done)) {
        worker_finish(k);
        return;
    }
    if (w->sleep_ms) {
        struct timeval tv = { (time_t)(w->sleep_ms / 1000), (suseconds_t)(w->sleep_ms % 1000 * 1000) };
        evtimer_add(k->timer, &tv);
    } else {
        worker_next(k);
    }
}

static void worker_next(struct worker *k)
{
    struct skt_workers *w = k->w;
    struct op *op = &k->op;
    op_clear(op);
    op->val = xmalloc(w->value_len + 1);
    fill_rand(&k->rng, op->val, w->value_len);
    if (w->work == SKT_APPEND) {
        op->kind = LIN_APPEND;
        skt_key(k->i, op->key, sizeof op->key);
    } else {
        skt_key((int)rng_below(&k->rng, (uint64_t)w->n), op->key, sizeof op->key);
        if (rng_below(&k->rng, 1000) < 500) {
            op->kind = LIN_APPEND;
        } else if (rng_below(&k->rng, 1000) < 100) {
            op->kind = LIN_PUT;
        } else {
            op->kind = LIN_GET;
            free(op->val);
            op->val = NULL;
        }
    }
    op_start(op);
}

static void *workers_main(void *arg)
{
    struct skt_workers *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

struct skt_workers *skt_workers_start(struct skt *t, int n, enum skt_work work, size_t value_len,
                                      uint64_t sleep_ms, char **va)
{
    struct skt_workers *w = xcalloc(1, sizeof *w);
    w->t = t;
    w->n = n;
    w->work = work;
    w->value_len = value_len;
    w->sleep_ms = sleep_ms;
    w->va = va;
    w->base = event_base_new();
    w->wk = xcalloc((size_t)n, sizeof *w->wk);
    for (int i = 0; i < n; i++) {
        struct worker *k = &w->wk[i];
        k->w = w;
        k->i = i;
        rng_seed(&k->rng, rng_next(skt_rng(t)));
        k->op = (struct op){ .t = t, .ck = sclerk_new(t, w->base, NULL), .cli = t->next_cli++,
                             .then = worker_then, .arg = k };
        k->timer = evtimer_new(w->base, worker_timer, k);
        worker_next(k); /* queued; runs once the loop thread starts */
    }
    SKT_EXPECT(t, pthread_create(&w->th, NULL, workers_main, w) == 0, "cannot start workers");
    return w;
}

void skt_workers_done(struct skt_workers *w) { atomic_store(&w->done, true); }

uint64_t skt_workers_stop(struct skt_workers *w)
{
    struct skt *t = w->t;
    skt_workers_done(w);
    pthread_join(w->th, NULL);
    uint64_t ops = 0;
    char fail[1024] = "";
    for (int i = 0; i < w->n; i++) {
        struct worker *k = &w->wk[i];
        ops += k->ops;
        if (k->fail[0] && !fail[0])
            snprintf(fail, sizeof fail, "%s", k->fail);
        event_free(k->timer);
        add_clerk_stats(t, k->op.ck);
        shard_clerk_free(k->op.ck);
        op_clear(&k->op);
    }
    event_base_free(w->base);
    free(w->wk);
    free(w);
    SKT_EXPECT(t, !fail[0], "%s", fail);
    printf("  workers: %llu operations\n", (unsigned long long)ops);
    fflush(stdout);
    return ops;
}

/* ---- lincheck --------------------------------------------------------------------------- */

void skt_check_linearizable(struct skt *t)
{
    struct lin_report rep;
    pthread_mutex_lock(&t->hist_mu);
    int r = lin_check_and_save(&t->hist, t->name, LIN_TIMEOUT_MS, &rep);
    size_t len = t->hist.len;
    pthread_mutex_unlock(&t->hist_mu);
    char sum[512];
    lin_report_summary(&rep, sum, sizeof sum);
    printf("  lincheck over %zu operations: %s\n", len, sum);
    fflush(stdout);
    if (r == LIN_ILLEGAL)
        fprintf(stderr, "%s\n", rep.explanation ? rep.explanation : "");
    SKT_EXPECT(t, r != LIN_ERR_IO, "could not save the history: %s",
               rep.explanation ? rep.explanation : "");
    SKT_EXPECT(t, r != LIN_ILLEGAL, "history is not linearizable: %s", sum);
    if (r == LIN_UNKNOWN)
        printf("  info: linearizability check timed out, assuming history is ok\n");
    lin_report_free(&rep);
}
