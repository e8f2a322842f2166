/* raftd as real processes (issue 4, part 3): 3 nodes on 127.0.0.1 behind the fault proxies of
 * test/cluster, in real time. Each test starts its own cluster; CLUSTER_SEED=n replays the
 * harness's random choices, KEEP_CLUSTER=1 keeps the data directories and logs. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "../../client/raftclerk/raftclerk.h"
#include "cluster.h"

#define BIT(i) (1u << (i))
#define ELECTION_MS 5000 /* generous: elections take 200-600 ms */

static struct cluster *start_cluster(const char *name, const char *const *args)
{
    struct cluster_opts o;
    cluster_opts_default(&o);
    o.n = 3;
    o.name = name;
    o.args = args;
    char err[512];
    struct cluster *c = cluster_new(&o, err, sizeof err);
    ck_assert_msg(c, "%s", err);
    return c;
}

/* Stops every node with SIGTERM (each must exit 0) and frees the cluster. */
static void finish_cluster(struct cluster *c)
{
    ck_assert_int_eq(cluster_stop_all(c), 0);
    cluster_free(c);
}

static uint32_t all_but(struct cluster *c, unsigned i)
{
    uint32_t set = 0;
    for (unsigned j = 1; j <= cluster_size(c); j++)
        if (j != i)
            set |= BIT(j);
    return set;
}

static int wait_leader(struct cluster *c, uint32_t set, uint64_t *term)
{
    int leader = cluster_wait_leader(c, set, ELECTION_MS, term);
    ck_assert_msg(leader > 0, "no single leader (seed %llu)", (unsigned long long)cluster_seed(c));
    return leader;
}

static Node__Status *status_of(struct cluster *c, unsigned i)
{
    Node__Status *st = cluster_status(c, i, 1000);
    ck_assert_msg(st, "node %u does not answer raftd.Status", i);
    return st;
}

static double ms_since(uint64_t t0_ns) { return (double)(clock_mono_ns() - t0_ns) / 1e6; }

/* ---- a client on the clerk engine (client/raftclerk; one per thread) ----------------------- */

struct clerk {
    struct cluster *c;
    struct raftclerk_sync *rs;
    uint64_t call_ms; /* each attempt's time */
};

static void clerk_init(struct clerk *k, struct cluster *c)
{
    memset(k, 0, sizeof *k);
    k->c = c;
    k->call_ms = 1000;
    unsigned n = cluster_size(c);
    const char *addrs[CLUSTER_MAX_NODES];
    for (unsigned i = 1; i <= n; i++)
        addrs[i - 1] = cluster_client_addr(c, i);
    char err[256];
    k->rs = raftclerk_sync_new(addrs, n, NULL, err, sizeof err);
    ck_assert_msg(k->rs, "%s", err);
}

static void clerk_free(struct clerk *k) { raftclerk_sync_free(k->rs); }

/* The node (1..n) the clerk tries first / makes it try first. */
static unsigned clerk_leader(struct clerk *k)
{
    return (unsigned)clerk_engine_leader(raftclerk_sync_engine(k->rs)) + 1;
}
static void clerk_prefer(struct clerk *k, unsigned node)
{
    clerk_engine_prefer(raftclerk_sync_engine(k->rs), node - 1);
}

/* Proposes data until a node acknowledges it (OK), following leader hints, for at most
 * timeout_ms. Returns the reply (the caller frees it) or NULL. A retried proposal may commit
 * twice; raftd's log does not mind. */
static Raftd__ProposeReply *clerk_propose(struct clerk *k, const char *data, uint64_t timeout_ms)
{
    clerk_engine_set_times(raftclerk_sync_engine(k->rs), timeout_ms, k->call_ms);
    Raftd__ProposeReply *r = NULL;
    if (raftclerk_sync_propose(k->rs, (const uint8_t *)data, strlen(data), &r) != CLERK_OK)
        return NULL;
    return r;
}

/* Proposes count commands "<prefix>-<i>" and returns the last acknowledged index. */
static uint64_t propose_many(struct clerk *k, const char *prefix, int count)
{
    uint64_t last = 0;
    for (int i = 0; i < count; i++) {
        char data[64];
        snprintf(data, sizeof data, "%s-%d", prefix, i);
        Raftd__ProposeReply *r = clerk_propose(k, data, 10000);
        ck_assert_msg(r, "proposal %s was not acknowledged within 10 s (seed %llu)", data,
                      (unsigned long long)cluster_seed(k->c));
        ck_assert_uint_gt(r->index, last);
        last = r->index;
        raftd__propose_reply__free_unpacked(r, NULL);
    }
    return last;
}

/* Waits until every running node has applied the same commands up to an index >= min. */
static uint64_t converge(struct cluster *c, uint64_t min_index, uint64_t *hash)
{
    uint64_t index = 0;
    ck_assert_int_eq(cluster_wait_converged(c, CLUSTER_ALL, min_index, 10000, &index, hash), 0);
    return index;
}

/* Reads node i's whole committed log (directly, not through its proxy). */
static void read_log(struct cluster *c, unsigned i, struct cluster_log *l)
{
    ck_assert_int_eq(cluster_read_log(cluster_sync(c, i), 1, 5000, l), 0);
}

/* raftd's running hash recomputed from a log that starts at index 1. */
static uint64_t log_hash(const struct cluster_log *l, uint64_t upto)
{
    uint64_t h = 0;
    ck_assert(l->n == 0 || l->first == 1);
    for (size_t k = 0; k < l->n && l->e[k].index <= upto; k++)
        if (l->e[k].type == 0)
            h = cluster_raftd_hash(h, l->e[k].data, l->e[k].len);
    return h;
}

static bool entry_is(const struct cluster_entry *e, const char *data)
{
    return e && e->len == strlen(data) && memcmp(e->data, data, e->len) == 0;
}

/* ---- elections ------------------------------------------------------------------------------ */

START_TEST(test_initial_election)
{
    uint64_t t0 = clock_mono_ns();
    struct cluster *c = start_cluster("election", NULL);
    uint64_t t1 = clock_mono_ns(), term;
    int leader = wait_leader(c, CLUSTER_ALL, &term);
    printf("initial election: n%d leads term %llu, %.0f ms after the nodes started (starting took "
           "%.0f ms)\n",
           leader, (unsigned long long)term, ms_since(t1), (double)(t1 - t0) / 1e6);
    /* Several election timeouts later, with no failure: the same leader and term everywhere. */
    clock_sleep_ms(1000);
    uint64_t term2;
    ck_assert_int_eq(wait_leader(c, CLUSTER_ALL, &term2), leader);
    ck_assert_uint_eq(term2, term);
    for (unsigned i = 1; i <= 3; i++) {
        Node__Status *st = status_of(c, i);
        ck_assert_uint_eq(st->id, i);
        ck_assert_uint_eq(st->term, term);
        ck_assert_uint_eq(st->leader_id, (unsigned)leader);
        ck_assert_str_eq(st->role, (int)i == leader ? "leader" : "follower");
        node__status__free_unpacked(st, NULL);
    }
    finish_cluster(c);
}
END_TEST

/* The old leader is back: it must follow the new one, which keeps its term. */
static void check_rejoined(struct cluster *c, unsigned old, int leader, uint64_t term)
{
    uint64_t deadline = clock_mono_ms() + 5000;
    bool following = false;
    while (!following && clock_mono_ms() < deadline) {
        Node__Status *st = cluster_status(c, old, 500);
        following = st && strcmp(st->role, "follower") == 0 && st->leader_id == (unsigned)leader;
        if (st)
            node__status__free_unpacked(st, NULL);
        if (!following)
            clock_sleep_ms(20);
    }
    ck_assert_msg(following, "n%u does not follow n%d after rejoining", old, leader);
    clock_sleep_ms(1000);
    uint64_t term2;
    ck_assert_int_eq(wait_leader(c, CLUSTER_ALL, &term2), leader);
    ck_assert_uint_eq(term2, term);
}

START_TEST(test_reelection_after_crash)
{
    struct cluster *c = start_cluster("crash", NULL);
    uint64_t term1, term2;
    int old = wait_leader(c, CLUSTER_ALL, &term1);
    uint64_t t0 = clock_mono_ns();
    ck_assert_int_eq(cluster_crash_node(c, (unsigned)old), 0);
    int leader = wait_leader(c, all_but(c, (unsigned)old), &term2);
    printf("leader n%d killed -9: n%d leads term %llu after %.0f ms\n", old, leader,
           (unsigned long long)term2, ms_since(t0));
    ck_assert_int_ne(leader, old);
    ck_assert_uint_gt(term2, term1);
    ck_assert_int_eq(cluster_restart_node(c, (unsigned)old), 0);
    check_rejoined(c, (unsigned)old, leader, term2);
    finish_cluster(c);
}
END_TEST

START_TEST(test_reelection_after_partition)
{
    struct cluster *c = start_cluster("partition", NULL);
    uint64_t term1, term2;
    int old = wait_leader(c, CLUSTER_ALL, &term1);
    uint64_t t0 = clock_mono_ns();
    cluster_disconnect(c, (unsigned)old);
    int leader = wait_leader(c, all_but(c, (unsigned)old), &term2);
    double failover = ms_since(t0);
    ck_assert_int_ne(leader, old);
    ck_assert_uint_gt(term2, term1);
    /* Check-quorum: the old leader, hearing from nobody, steps down by itself. */
    double stepdown = -1;
    while (stepdown < 0 && ms_since(t0) < 5000) {
        Node__Status *st = status_of(c, (unsigned)old);
        if (strcmp(st->role, "leader") != 0)
            stepdown = ms_since(t0);
        ck_assert_uint_eq(st->term, term1); /* pre-vote: an isolated node keeps its term */
        node__status__free_unpacked(st, NULL);
        clock_sleep_ms(10);
    }
    printf("leader n%d cut off: n%d leads term %llu after %.0f ms; n%d stepped down after %.0f "
           "ms\n",
           old, leader, (unsigned long long)term2, failover, old, stepdown);
    ck_assert_msg(stepdown >= 0, "the isolated leader n%d did not step down", old);
    cluster_connect(c, (unsigned)old);
    check_rejoined(c, (unsigned)old, leader, term2);
    finish_cluster(c);
}
END_TEST

START_TEST(test_reelection_after_pause)
{
    struct cluster *c = start_cluster("pause", NULL);
    struct clerk k;
    clerk_init(&k, c);
    uint64_t term1, term2;
    int old = wait_leader(c, CLUSTER_ALL, &term1);
    propose_many(&k, "before", 3);
    ck_assert_int_eq(cluster_pause_node(c, (unsigned)old), 0);
    ck_assert(cluster_node_paused(c, (unsigned)old));
    uint64_t t0 = clock_mono_ns();
    int leader = wait_leader(c, all_but(c, (unsigned)old), &term2);
    printf("leader n%d stopped (SIGSTOP): n%d leads term %llu after %.0f ms\n", old, leader,
           (unsigned long long)term2, ms_since(t0));
    ck_assert_int_ne(leader, old);
    clerk_prefer(&k, (unsigned)leader);
    uint64_t idx = propose_many(&k, "paused", 5);
    ck_assert_int_eq(cluster_resume_node(c, (unsigned)old), 0);
    check_rejoined(c, (unsigned)old, leader, term2);
    converge(c, idx, NULL);
    clerk_free(&k);
    finish_cluster(c);
}
END_TEST

/* ---- agreement ------------------------------------------------------------------------------ */

START_TEST(test_agree_with_follower_down)
{
    struct cluster *c = start_cluster("agree", NULL);
    struct clerk k;
    clerk_init(&k, c);
    int leader = wait_leader(c, CLUSTER_ALL, NULL);
    uint64_t idx = propose_many(&k, "all-up", 10);
    converge(c, idx, NULL);
    unsigned down = (unsigned)leader % 3 + 1;
    ck_assert_int_eq(cluster_crash_node(c, down), 0);
    uint64_t t0 = clock_mono_ns();
    idx = propose_many(&k, "one-down", 20);
    printf("20 proposals with n%u down: %.0f ms\n", down, ms_since(t0));
    converge(c, idx, NULL); /* the two running nodes */
    ck_assert_int_eq(cluster_restart_node(c, down), 0);
    uint64_t hash;
    uint64_t at = converge(c, idx, &hash);
    struct cluster_log l;
    read_log(c, down, &l);
    ck_assert_uint_eq(log_hash(&l, at), hash);
    cluster_log_free(&l);
    clerk_free(&k);
    finish_cluster(c);
}
END_TEST

START_TEST(test_no_commit_without_majority)
{
    struct cluster *c = start_cluster("minority", NULL);
    struct clerk k;
    clerk_init(&k, c);
    int old = wait_leader(c, CLUSTER_ALL, NULL);
    uint64_t base = propose_many(&k, "before", 5);
    converge(c, base, NULL);
    uint32_t groups[2] = { BIT(old), all_but(c, (unsigned)old) };
    cluster_partition(c, groups, 2);

    /* The cut-off leader takes the proposal into its log but cannot commit it. */
    static const char lost[] = "minority-proposal";
    uint64_t t0 = clock_mono_ns();
    enum rpc_status rs;
    Raftd__ProposeReply *r = cluster_propose(cluster_sync(c, (unsigned)old), lost, strlen(lost),
                                             2000, &rs);
    printf("proposal on the cut-off leader n%d: %s after %.0f ms\n", old,
           r ? raftd__error__descriptor.values[r->error].name : rpc_status_name(rs), ms_since(t0));
    ck_assert_msg(!r || r->error != RAFTD__ERROR__OK, "committed without a majority at %llu",
                  (unsigned long long)(r ? r->index : 0));
    if (r)
        raftd__propose_reply__free_unpacked(r, NULL);
    Node__Status *st = status_of(c, (unsigned)old);
    ck_assert_uint_le(st->commit_index, base);
    node__status__free_unpacked(st, NULL);

    /* The majority elects a leader and commits over that index. */
    int leader = wait_leader(c, groups[1], NULL);
    ck_assert_int_ne(leader, old);
    clerk_prefer(&k, (unsigned)leader);
    uint64_t idx = propose_many(&k, "majority", 5);
    ck_assert_uint_ge(idx, base + 5);
    cluster_heal(c);
    converge(c, idx, NULL);
    for (unsigned i = 1; i <= 3; i++) {
        struct cluster_log l;
        read_log(c, i, &l);
        ck_assert_uint_ge(l.n, idx);
        for (size_t e = 0; e < l.n; e++)
            ck_assert_msg(!entry_is(&l.e[e], lost), "n%u committed the minority's proposal at %llu",
                          i, (unsigned long long)l.e[e].index);
        ck_assert(entry_is(cluster_log_at(&l, base + 1), "majority-0"));
        cluster_log_free(&l);
    }
    clerk_free(&k);
    finish_cluster(c);
}
END_TEST

START_TEST(test_agree_unreliable)
{
    struct cluster *c = start_cluster("unreliable", NULL);
    struct clerk k;
    clerk_init(&k, c);
    struct cluster_faults f = { .drop = 0.10, .delay_min_ms = 0, .delay_max_ms = 27, .reorder = true };
    cluster_set_peer_faults(c, &f);
    /* Clients too: requests and replies each lost 5% of the time; the clerk retries. */
    struct cluster_faults cf = { .drop = 0.05, .delay_min_ms = 0, .delay_max_ms = 10 };
    cluster_set_client_faults(c, 0, &cf);
    k.call_ms = 500;
    uint64_t t0 = clock_mono_ns();
    wait_leader(c, CLUSTER_ALL, NULL);
    uint64_t idx = propose_many(&k, "unreliable", 50);
    double ms = ms_since(t0);
    cluster_set_peer_faults(c, NULL);
    cluster_set_client_faults(c, 0, NULL);
    uint64_t hash, at = converge(c, idx, &hash);
    struct cluster_link_stats ls, sum = { 0 };
    for (unsigned i = 1; i <= 3; i++)
        for (unsigned j = 1; j <= 3; j++)
            if (i != j) {
                cluster_proxy_stats(cluster_proxy(c), cluster_peer_link(c, i, j), &ls);
                sum.frames += ls.frames;
                sum.dropped += ls.dropped;
            }
    struct cluster_link_stats csum = { 0 };
    for (unsigned i = 1; i <= 3; i++) {
        cluster_proxy_stats(cluster_proxy(c), cluster_client_link(c, i), &ls);
        csum.frames += ls.frames;
        csum.dropped += ls.dropped;
    }
    printf("50 proposals over links dropping 10%% and delaying 0-27 ms: %.0f ms; %llu peer "
           "frames, %llu dropped; %llu client frames, %llu dropped\n",
           ms, (unsigned long long)sum.frames, (unsigned long long)sum.dropped,
           (unsigned long long)csum.frames, (unsigned long long)csum.dropped);
    ck_assert_uint_gt(sum.dropped, 0);
    struct cluster_log l;
    read_log(c, 1, &l);
    ck_assert_uint_eq(log_hash(&l, at), hash);
    cluster_log_free(&l);
    clerk_free(&k);
    finish_cluster(c);
}
END_TEST

/* ---- persistence ---------------------------------------------------------------------------- */

/* Checks that every node's log holds `before` as its prefix. */
static void check_prefix(struct cluster *c, const struct cluster_log *before)
{
    for (unsigned i = 1; i <= 3; i++) {
        struct cluster_log l;
        read_log(c, i, &l);
        ck_assert_uint_ge(l.n, before->n);
        for (size_t e = 0; e < before->n; e++) {
            ck_assert_uint_eq(l.e[e].index, before->e[e].index);
            ck_assert_uint_eq(l.e[e].term, before->e[e].term);
            ck_assert_uint_eq(l.e[e].len, before->e[e].len);
            ck_assert(memcmp(l.e[e].data, before->e[e].data, l.e[e].len) == 0);
        }
        cluster_log_free(&l);
    }
}

START_TEST(test_restart_all_keeps_committed)
{
    struct cluster *c = start_cluster("restart", NULL);
    struct clerk k;
    clerk_init(&k, c);
    wait_leader(c, CLUSTER_ALL, NULL);
    uint64_t idx = propose_many(&k, "kept", 30);
    uint64_t hash, at = converge(c, idx, &hash);
    struct cluster_log before;
    read_log(c, 1, &before);
    ck_assert_uint_eq(before.n, at);
    ck_assert_uint_eq(log_hash(&before, at), hash);

    for (int round = 0; round < 2; round++) {
        if (round == 0) {
            ck_assert_int_eq(cluster_stop_all(c), 0); /* SIGTERM: every node exits 0 */
        } else {
            for (unsigned i = 1; i <= 3; i++)
                ck_assert_int_eq(cluster_crash_node(c, i), 0);
        }
        uint64_t t0 = clock_mono_ns();
        ck_assert_int_eq(cluster_restart_all(c), 0);
        wait_leader(c, CLUSTER_ALL, NULL);
        /* A new leader commits the old entries with the first entry of its own term. */
        uint64_t idx2 = propose_many(&k, round == 0 ? "after-stop" : "after-kill", 1);
        ck_assert_uint_gt(idx2, at);
        uint64_t at2 = converge(c, idx2, NULL);
        printf("all nodes %s and restarted: serving again after %.0f ms, log %llu -> %llu\n",
               round == 0 ? "stopped" : "killed -9", ms_since(t0), (unsigned long long)at,
               (unsigned long long)at2);
        check_prefix(c, &before);
    }
    cluster_log_free(&before);
    clerk_free(&k);
    finish_cluster(c);
}
END_TEST

START_TEST(test_snapshot_catchup)
{
    static const char *const args[] = { "--max-raft-state", "4096", NULL };
    struct cluster *c = start_cluster("snapshot", args);
    struct clerk k;
    clerk_init(&k, c);
    int leader = wait_leader(c, CLUSTER_ALL, NULL);
    unsigned down = (unsigned)leader % 3 + 1;
    ck_assert_int_eq(cluster_crash_node(c, down), 0);
    /* ~100-byte commands: 200 of them are several times max_raft_state. */
    char data[128];
    uint64_t idx = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(data, sizeof data, "snap-%03d-%0*d", i, 90, i);
        Raftd__ProposeReply *r = clerk_propose(&k, data, 10000);
        ck_assert_msg(r, "proposal %d not acknowledged", i);
        idx = r->index;
        raftd__propose_reply__free_unpacked(r, NULL);
    }
    Node__Status *st = status_of(c, clerk_leader(&k));
    printf("leader n%u: snapshot at %llu (%llu taken), raft state %llu bytes\n", clerk_leader(&k),
           (unsigned long long)st->snapshot_index, (unsigned long long)st->snapshots_taken,
           (unsigned long long)st->raft_state_bytes);
    ck_assert_uint_gt(st->snapshot_index, 0);
    node__status__free_unpacked(st, NULL);

    uint64_t t0 = clock_mono_ns();
    ck_assert_int_eq(cluster_restart_node(c, down), 0);
    uint64_t hash, at = converge(c, idx, &hash);
    st = status_of(c, down);
    printf("n%u caught up to %llu in %.0f ms with %llu snapshot(s) installed\n", down,
           (unsigned long long)at, ms_since(t0), (unsigned long long)st->snapshots_installed);
    ck_assert_uint_gt(st->snapshots_installed, 0);
    ck_assert_uint_eq(st->applied_index, at);
    ck_assert_uint_eq(st->applied_hash, hash);
    node__status__free_unpacked(st, NULL);
    clerk_free(&k);
    finish_cluster(c);
}
END_TEST

/* ---- the leader killed twenty times under load ---------------------------------------------- */

struct ack {
    uint64_t index;
    char data[32];
};

struct loader {
    struct cluster *c;
    pthread_t thread;
    atomic_bool stop;
    atomic_long acked;
    struct ack *acks; /* read only after the thread ends */
    size_t n_acks, cap;
    long proposals;
};

static void *loader_main(void *arg)
{
    struct loader *ld = arg;
    struct clerk k;
    clerk_init(&k, ld->c);
    while (!atomic_load(&ld->stop)) {
        struct ack a;
        snprintf(a.data, sizeof a.data, "load-%ld", ld->proposals++);
        Raftd__ProposeReply *r = clerk_propose(&k, a.data, 1000);
        if (!r)
            continue;
        a.index = r->index;
        raftd__propose_reply__free_unpacked(r, NULL);
        if (ld->n_acks == ld->cap) {
            ld->cap = ld->cap ? 2 * ld->cap : 1024;
            ld->acks = xrealloc(ld->acks, ld->cap * sizeof *ld->acks);
        }
        ld->acks[ld->n_acks++] = a;
        atomic_fetch_add(&ld->acked, 1);
    }
    clerk_free(&k);
    return NULL;
}

START_TEST(test_leader_killed_under_load)
{
    enum { KILLS = 20 };
    struct cluster *c = start_cluster("kill20", NULL);
    struct loader ld = { .c = c };
    atomic_init(&ld.stop, false);
    atomic_init(&ld.acked, 0);
    wait_leader(c, CLUSTER_ALL, NULL);
    uint64_t t_start = clock_mono_ns();
    ck_assert_int_eq(pthread_create(&ld.thread, NULL, loader_main, &ld), 0);
    double failover_sum = 0, failover_max = 0;
    for (int round = 0; round < KILLS; round++) {
        int leader = wait_leader(c, CLUSTER_ALL, NULL);
        /* Let the client get a few proposals through this leader. */
        long seen = atomic_load(&ld.acked);
        uint64_t deadline = clock_mono_ms() + 5000;
        while (atomic_load(&ld.acked) < seen + 5 && clock_mono_ms() < deadline)
            clock_sleep_ms(5);
        ck_assert_msg(atomic_load(&ld.acked) >= seen + 5, "round %d: no progress under n%d",
                      round, leader);
        uint64_t t0 = clock_mono_ns();
        ck_assert_int_eq(cluster_crash_node(c, (unsigned)leader), 0);
        clock_sleep_ms(rng_below(cluster_rng(c), 100));
        ck_assert_int_eq(cluster_restart_node(c, (unsigned)leader), 0);
        wait_leader(c, CLUSTER_ALL, NULL);
        double ms = ms_since(t0);
        failover_sum += ms;
        failover_max = ms > failover_max ? ms : failover_max;
    }
    atomic_store(&ld.stop, true);
    pthread_join(ld.thread, NULL);
    double total = ms_since(t_start);

    /* One entry of the last leader's term commits everything before it on every node. */
    struct clerk k;
    clerk_init(&k, c);
    uint64_t final = propose_many(&k, "final", 1);
    clerk_free(&k);
    uint64_t hash, at = converge(c, final, &hash);
    printf("leader killed -9 %d times in %.1f s: %zu of %ld proposals acknowledged; new leader "
           "after avg %.0f ms, max %.0f ms; final log %llu entries\n",
           KILLS, total / 1000, ld.n_acks, ld.proposals, failover_sum / KILLS, failover_max,
           (unsigned long long)at);
    ck_assert_uint_gt(ld.n_acks, 5 * KILLS - 1);
    for (unsigned i = 1; i <= 3; i++) {
        struct cluster_log l;
        read_log(c, i, &l);
        ck_assert_uint_eq(l.n, at);
        ck_assert_uint_eq(log_hash(&l, at), hash);
        for (size_t a = 0; a < ld.n_acks; a++)
            ck_assert_msg(entry_is(cluster_log_at(&l, ld.acks[a].index), ld.acks[a].data),
                          "n%u: acknowledged '%s' is not at index %llu", i, ld.acks[a].data,
                          (unsigned long long)ld.acks[a].index);
        cluster_log_free(&l);
    }
    free(ld.acks);
    finish_cluster(c);
}
END_TEST

/* ---- the topology helpers (labrpc semantics), on a live cluster ----------------------------- */

START_TEST(test_topology)
{
    struct cluster *c = start_cluster("topology", NULL);
    cluster_disconnect(c, 1);
    cluster_disconnect(c, 2);
    ck_assert(!cluster_link_up(c, 1, 2) && !cluster_link_up(c, 3, 1));
    cluster_connect(c, 1); /* only towards connected peers: 3, not 2 */
    ck_assert(cluster_link_up(c, 1, 3) && cluster_link_up(c, 3, 1));
    ck_assert(!cluster_link_up(c, 1, 2) && !cluster_link_up(c, 2, 1));
    uint32_t groups[] = { BIT(1) | BIT(2) };
    cluster_partition(c, groups, 1); /* 3 is in no group: isolated */
    ck_assert(cluster_link_up(c, 1, 2) && cluster_link_up(c, 2, 1));
    ck_assert(!cluster_link_up(c, 1, 3) && !cluster_link_up(c, 3, 2));
    cluster_heal(c);
    for (unsigned i = 1; i <= 3; i++)
        for (unsigned j = 1; j <= 3; j++)
            ck_assert(cluster_link_up(c, i, j));
    /* Each node's config lists the proxies of its outgoing links. */
    Node__Status *st = status_of(c, 1);
    ck_assert_uint_eq(st->n_peers, 3);
    for (size_t p = 0; p < st->n_peers; p++) {
        unsigned j = st->peers[p]->id;
        const char *want = j == 1 ? cluster_node_addr(c, 1)
                                  : cluster_proxy_link_addr(cluster_proxy(c), cluster_peer_link(c, 1, j));
        ck_assert_str_eq(st->peers[p]->addr, want);
    }
    node__status__free_unpacked(st, NULL);
    finish_cluster(c);
}
END_TEST

/* ---- the harness's own failure reports ------------------------------------------------------ */

START_TEST(test_harness_reports_failures)
{
    /* A node that will not start: cluster_new says so (and cleans up). */
    static const char *const bad[] = { "--no-such-flag", "1", NULL };
    struct cluster_opts o;
    cluster_opts_default(&o);
    o.name = "badflag";
    o.args = bad;
    char err[512];
    ck_assert_ptr_null(cluster_new(&o, err, sizeof err));
    ck_assert_msg(strstr(err, "did not start"), "%s", err);

    /* A node that dies by itself is noticed, reported and counted. */
    struct cluster *c = start_cluster("unexpected", NULL);
    wait_leader(c, CLUSTER_ALL, NULL);
    pid_t pid = cluster_node_pid(c, 2);
    ck_assert_int_gt(pid, 0);
    kill(pid, SIGKILL);
    uint64_t deadline = clock_mono_ms() + 5000;
    while (cluster_unexpected_exits(c) == 0 && clock_mono_ms() < deadline)
        clock_sleep_ms(10);
    ck_assert_int_eq(cluster_unexpected_exits(c), 1);
    ck_assert(!cluster_node_running(c, 2));
    ck_assert_ptr_null(cluster_status(c, 2, 500));
    ck_assert_int_eq(cluster_restart_node(c, 2), 0);
    ck_assert_int_eq(cluster_stop_all(c), 1); /* the unexpected exit is not forgotten */
    cluster_free(c);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("raftd_cluster");
    TCase *tc = tcase_create("raftd");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_topology);
    tcase_add_test(tc, test_harness_reports_failures);
    tcase_add_test(tc, test_initial_election);
    tcase_add_test(tc, test_reelection_after_crash);
    tcase_add_test(tc, test_reelection_after_partition);
    tcase_add_test(tc, test_reelection_after_pause);
    tcase_add_test(tc, test_agree_with_follower_down);
    tcase_add_test(tc, test_no_commit_without_majority);
    tcase_add_test(tc, test_agree_unreliable);
    tcase_add_test(tc, test_restart_all_keeps_committed);
    tcase_add_test(tc, test_snapshot_catchup);
    tcase_add_test(tc, test_leader_killed_under_load);
    suite_add_tcase(s, tc);
    return s;
}
