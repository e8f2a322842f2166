/* The Lab 5 shardkv tester's config on shardctrld + shardkvd processes (skvtest.h): the
 * clusters, the controller, servers, checklogs, lincheck. */
#include "skvtest.h"

#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "internal.h"
#include "shardctrl/keyshard.h"
#include "shardkv.pb-c.h"
#include "storage/storage.h"

#define LIN_TIMEOUT_MS 1000 /* the lab's Porcupine limit */

static const struct cluster_faults UNRELIABLE = { .drop = 0.1, .delay_min_ms = 0,
                                                  .delay_max_ms = 26, .reorder = true };

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
 * (the lab's "roughly every 100 milliseconds"), --max-raft-state when the test sets one,
 * --peer-attempt 500ms. */
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
    /* --peer-attempt 500ms: the leader's own calls (config polls, pulls, deletes) wait for one
     * server's answer as long as the test's clerks do (skvops.c's ATTEMPT_MS): labrpc fails a
     * dropped call at once, a proxy's dropped frame costs the whole attempt (1 s by default). */
    const char *args[] = { "--gid", gid, "--ctrlers", ctrlers, "--poll", "100ms",
                           "--max-raft-state", mrs, "--peer-attempt", "500ms", NULL };
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
    if (part)
        printf("Test (%s): %s ... (%s)\n", part, title, name);
    else /* the challenge tests: the lab prints no part */
        printf("Test: %s ... (%s)\n", title, name);
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

/* One Join on controller k of the groups gis[0..n), each with its nodes' client proxies. */
static void join_on(struct skt *t, int k, const int *gis, size_t n)
{
    const char *addrs[SKT_NGROUPS][CLUSTER_MAX_NODES];
    struct sc_join_group g[SKT_NGROUPS];
    char what[64] = "";
    SKT_EXPECT(t, n >= 1 && n <= SKT_NGROUPS, "a Join of %zu groups", n);
    for (size_t j = 0; j < n; j++) {
        size_t na = cluster_client_addrs(t->g[gis[j]], addrs[j]);
        g[j] = (struct sc_join_group){ SKT_GID(gis[j]), addrs[j], na };
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%u", j ? "," : "",
                 SKT_GID(gis[j]));
    }
    enum clerk_result r = ctrl_sync_join(t->ctl_ck[k], g, n, NULL);
    SKT_EXPECT(t, r == CLERK_OK, "Join of gid %s: %s: %s", what, clerk_result_name(r),
               ctrl_clerk_error(ctrl_sync_clerk(t->ctl_ck[k])));
}

void skt_join(struct skt *t, int gi) { join_on(t, 0, &gi, 1); }
void skt_joinm(struct skt *t, const int *gis, size_t n) { join_on(t, 0, gis, n); }

void skt_leavem(struct skt *t, const int *gis, size_t n)
{
    uint32_t gids[SKT_NGROUPS];
    char what[64] = "";
    SKT_EXPECT(t, n >= 1 && n <= SKT_NGROUPS, "a Leave of %zu groups", n);
    for (size_t j = 0; j < n; j++) {
        gids[j] = SKT_GID(gis[j]);
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%u", j ? "," : "", gids[j]);
    }
    enum clerk_result r = ctrl_sync_leave(t->ctl_ck[0], gids, n, NULL);
    SKT_EXPECT(t, r == CLERK_OK, "Leave of gid %s: %s: %s", what, clerk_result_name(r),
               ctrl_clerk_error(ctrl_sync_clerk(t->ctl_ck[0])));
}

void skt_leave(struct skt *t, int gi) { skt_leavem(t, &gi, 1); }

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
            join_on(t, k, &gi, 1);
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

/* Node i (1-based) of group gi: its persisted raft state and snapshot bytes, and whether it
 * has a snapshot at all (running: one taken, installed or indexed; down: one stored). */
static void node_sizes(struct skt *t, int gi, unsigned i, uint64_t *raft, uint64_t *snap,
                       bool *has_snap)
{
    struct cluster *c = t->g[gi];
    if (cluster_node_running(c, i)) {
        Node__Status *st = cluster_status(c, i, 2000);
        SKT_EXPECT(t, st, "server %u of gid %u does not answer node.Status", i - 1, SKT_GID(gi));
        *raft = st->raft_state_bytes;
        *snap = st->snapshot_bytes;
        *has_snap = st->snapshot_index > 0 || st->snapshots_taken > 0 ||
                    st->snapshots_installed > 0;
        node__status__free_unpacked(st, NULL);
    } else {
        stored_sizes(t, c, i, raft, snap);
        *has_snap = *snap > 0;
    }
}

void skt_checklogs(struct skt *t)
{
    uint64_t max_raft = 0;
    for (int gi = 0; gi < SKT_NGROUPS; gi++)
        for (unsigned i = 1; i <= SKT_NSERVERS; i++) {
            uint64_t raft, snap;
            bool has_snap;
            node_sizes(t, gi, i, &raft, &snap, &has_snap);
            max_raft = MAX(max_raft, raft);
            if (t->maxraftstate >= 0)
                SKT_EXPECT(t, raft <= 8 * (uint64_t)t->maxraftstate,
                           "persister.RaftStateSize() %llu, but maxraftstate %d (server %u of "
                           "gid %u)",
                           (unsigned long long)raft, t->maxraftstate, i - 1, SKT_GID(gi));
            else
                SKT_EXPECT(t, !has_snap,
                           "maxraftstate is -1, but snapshot is non-empty! (server %u of gid %u)",
                           i - 1, SKT_GID(gi));
        }
    printf("  checklogs: largest raft state %llu B%s\n", (unsigned long long)max_raft,
           t->maxraftstate >= 0 ? "" : ", no snapshots");
    fflush(stdout);
}

uint64_t skt_stored_bytes(struct skt *t)
{
    uint64_t sum = 0;
    for (int gi = 0; gi < SKT_NGROUPS; gi++) {
        printf("  gid %u raft state + snapshot bytes:", SKT_GID(gi));
        for (unsigned i = 1; i <= SKT_NSERVERS; i++) {
            uint64_t raft, snap;
            bool has_snap;
            node_sizes(t, gi, i, &raft, &snap, &has_snap);
            printf(" %llu+%llu%s", (unsigned long long)raft, (unsigned long long)snap,
                   cluster_node_running(t->g[gi], i) ? "" : " (down)");
            sum += raft + snap;
        }
        printf("\n");
    }
    printf("  all 9 servers: %llu B\n", (unsigned long long)sum);
    fflush(stdout);
    return sum;
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

/* Server i's shardkv.Status (asked directly), or NULL. */
static Shardkv__StatusReply *group_status(struct skt *t, int gi, unsigned i)
{
    if (!cluster_node_running(t->g[gi], i))
        return NULL;
    Shardkv__StatusRequest req = SHARDKV__STATUS_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    if (cluster_call(cluster_sync(t->g[gi], i), "shardkv.Status", &req.base,
                     &shardkv__status_reply__descriptor, 1000, &m) != RPC_OK)
        return NULL;
    return (Shardkv__StatusReply *)m;
}

int skt_group_view(struct skt *t, int gi, struct skt_group_view *v)
{
    memset(v, 0, sizeof *v);
    int who = -1;
    uint64_t term = 0;
    for (unsigned i = 1; i <= SKT_NSERVERS; i++) {
        Shardkv__StatusReply *r = group_status(t, gi, i);
        if (!r)
            continue;
        /* the leader of the highest term (a deposed one may not know it yet) */
        if (r->node && strcmp(r->node->role, "leader") == 0 && (who < 0 || r->node->term > term)) {
            who = (int)i - 1;
            term = r->node->term;
            memset(v, 0, sizeof *v);
            v->config = r->config_num;
            for (size_t k = 0; k < r->n_shards; k++)
                if (r->shards[k]->shard < SKT_NSHARDS) {
                    v->state[r->shards[k]->shard] = r->shards[k]->state;
                    v->from[r->shards[k]->shard] = r->shards[k]->from_gid;
                }
        }
        shardkv__status_reply__free_unpacked(r, NULL);
    }
    return who;
}

void skt_print_group(struct skt *t, int gi)
{
    for (unsigned i = 1; i <= SKT_NSERVERS; i++) {
        Shardkv__StatusReply *r = group_status(t, gi, i);
        if (!r || !r->node) {
            printf("  gid %u server %u: down or silent\n", SKT_GID(gi), i - 1);
            if (r)
                shardkv__status_reply__free_unpacked(r, NULL);
            continue;
        }
        printf("  gid %u server %u: %s term %llu commit %llu applied %llu, config %llu, shards",
               SKT_GID(gi), i - 1, r->node->role, (unsigned long long)r->node->term,
               (unsigned long long)r->node->commit_index,
               (unsigned long long)r->node->applied_index, (unsigned long long)r->config_num);
        for (size_t k = 0; k < r->n_shards; k++) {
            const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(
                &shardkv__shard_state__descriptor, (int)r->shards[k]->state);
            printf(" %u:%s", r->shards[k]->shard, e ? e->name : "?");
            if (r->shards[k]->from_gid)
                printf("<%u", r->shards[k]->from_gid);
        }
        printf("\n");
        shardkv__status_reply__free_unpacked(r, NULL);
    }
    fflush(stdout);
}

void skt_key(int i, char *buf, size_t len) { snprintf(buf, len, "%d", i); }

char *skt_randstr(struct skt *t, size_t n)
{
    char *s = xmalloc(n + 1);
    skt_fill_rand(skt_rng(t), s, n);
    return s;
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
