/* Membership changes on real kvd processes, under the Lab 4 client load with every history
 * checked by lincheck (kvt_generic, the appends of each client checked too): replacing a node
 * whose data directory was deleted (it is removed, a fresh node is added as a learner, catches
 * up by snapshot and is promoted), growing 3 voters to 5 and shrinking back to 3 (the leader
 * removed first), and 20 leadership transfers with the write unavailability of each measured.
 * Changes go through node.ChangeMember / node.TransferLeader, as kvcli sends them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "kvtest.h"
#include "node.pb-c.h"
#include "raft/membership.h" /* enum raft_change_type: the ops of node.ChangeMember */

#define ADMIN_MS 30000 /* how long a change may take, retried while busy */

/* ---- admin calls -------------------------------------------------------------------------- */

/* One admin call on any running node (each in turn), retried while the cluster is busy, the
 * learner lags or no leader is known; the final reply (ck-asserted to exist). */
static Node__AdminReply *admin(struct kvt *t, const char *method, const ProtobufCMessage *req)
{
    uint64_t end = clock_mono_ms() + ADMIN_MS;
    for (unsigned attempt = 0;; attempt++) {
        unsigned i = 1 + attempt % t->n;
        Node__AdminReply *r = NULL;
        if (cluster_node_running(t->c, i))
            cluster_call(cluster_sync(t->c, i), method, req, &node__admin_reply__descriptor, 5000,
                         (ProtobufCMessage **)&r);
        bool retry = !r || r->status == NODE__ADMIN_STATUS__ADMIN_BUSY ||
                     r->status == NODE__ADMIN_STATUS__ADMIN_LAGGING ||
                     r->status == NODE__ADMIN_STATUS__ADMIN_NOT_LEADER;
        if (!retry || clock_mono_ms() > end) {
            ck_assert_msg(r, "%s: no node answered within %d ms", method, ADMIN_MS);
            return r;
        }
        node__admin_reply__free_unpacked(r, NULL);
        clock_sleep_ms(50);
    }
}

static void change(struct kvt *t, uint32_t op, unsigned id)
{
    Node__ChangeMemberRequest q = NODE__CHANGE_MEMBER_REQUEST__INIT;
    q.op = op;
    q.id = id;
    q.addr = (char *)(op == RAFT_CHANGE_ADD_LEARNER ? cluster_node_addr(t->c, id) : "");
    Node__AdminReply *r = admin(t, "node.ChangeMember", &q.base);
    ck_assert_msg(r->status == NODE__ADMIN_STATUS__ADMIN_OK, "change %u of member %u: status %d: %s",
                  op, id, r->status, r->error);
    node__admin_reply__free_unpacked(r, NULL);
    printf("  member %u: %s\n", id, op == 0 ? "added as a learner" : op == 1 ? "promoted" : "removed");
    fflush(stdout);
}

/* The membership as the leader reports it (through node i's relay). */
static Node__MembersReply *members(struct kvt *t)
{
    Node__MembersRequest q = NODE__MEMBERS_REQUEST__INIT;
    for (unsigned i = 1; i <= t->n; i++) {
        Node__MembersReply *r = NULL;
        if (cluster_node_running(t->c, i) &&
            cluster_call(cluster_sync(t->c, i), "node.Members", &q.base,
                         &node__members_reply__descriptor, 5000, (ProtobufCMessage **)&r) == RPC_OK) {
            if (r->leader_id)
                return r;
            node__members_reply__free_unpacked(r, NULL);
        }
    }
    ck_abort_msg("no node knows a leader");
    return NULL;
}

/* Asserts the membership: exactly the voters of want_voters, no learner, committed. */
static void expect_voters(struct kvt *t, uint32_t want_voters)
{
    Node__MembersReply *r = members(t);
    uint32_t got = 0;
    for (size_t i = 0; i < r->n_members; i++) {
        ck_assert_msg(!r->members[i]->learner, "member %u is still a learner", r->members[i]->id);
        got |= 1u << r->members[i]->id;
    }
    ck_assert_msg(got == want_voters && r->committed, "voters 0x%x (committed %d), want 0x%x", got,
                  r->committed, want_voters);
    node__members_reply__free_unpacked(r, NULL);
}

static unsigned leader_of(struct kvt *t)
{
    int l = cluster_wait_leader(t->c, CLUSTER_ALL, 10000, NULL);
    ck_assert_int_gt(l, 0);
    return (unsigned)l;
}

/* Starts node i (added as a learner: it joins), waits until it has applied what the leader
 * had committed when it started, and returns how long that took. */
static uint64_t join_and_catch_up(struct kvt *t, unsigned i, uint64_t *snapshots)
{
    Node__Status *ls = cluster_status(t->c, leader_of(t), 2000);
    ck_assert_ptr_nonnull(ls);
    uint64_t target = ls->commit_index, t0 = clock_mono_ms();
    node__status__free_unpacked(ls, NULL);
    ck_assert_int_eq(cluster_restart_node(t->c, i), 0);
    for (;;) {
        Node__Status *st = cluster_status(t->c, i, 2000);
        bool done = st && st->applied_index >= target;
        if (st && snapshots)
            *snapshots = st->snapshots_installed;
        if (st)
            node__status__free_unpacked(st, NULL);
        if (done)
            return clock_mono_ms() - t0;
        ck_assert_msg(clock_mono_ms() - t0 < 30000, "node %u did not catch up in 30 s", i);
        clock_sleep_ms(20);
    }
}

/* Waits (up to 10 s, under the load) until the leader has compacted its log, so that a node
 * added now, with an empty log, can only catch up by InstallSnapshot: the entries it needs
 * first are gone. (At the very start of a run the log may still be under --max-raft-state.) */
static void wait_leader_compacted(struct kvt *t)
{
    uint64_t t0 = clock_mono_ms();
    for (;;) {
        Node__Status *ls = cluster_status(t->c, leader_of(t), 2000);
        bool compacted = ls && ls->snapshot_index > 0;
        if (ls)
            node__status__free_unpacked(ls, NULL);
        if (compacted)
            return;
        ck_assert_msg(clock_mono_ms() - t0 < 10000, "the leader took no snapshot in 10 s");
        clock_sleep_ms(20);
    }
}

static void sleep_rest(uint64_t since, uint64_t ms)
{
    uint64_t el = clock_mono_ms() - since;
    if (el < ms)
        clock_sleep_ms(ms - el);
}

/* ---- replace a node whose data directory was deleted -------------------------------------- */

static void replace_during(struct kvt *t, int iter, uint64_t client_ms, void *arg)
{
    (void)arg;
    uint64_t t0 = clock_mono_ms();
    if (iter == 0) {
        unsigned l = leader_of(t), victim = l == 3 ? 2 : 3;
        ck_assert_int_eq(cluster_crash_node(t->c, victim), 0);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s/data", cluster_node_dir(t->c, victim));
        ck_assert_int_eq(system(cmd), 0);
        printf("  node %u crashed and its data directory deleted\n", victim);
        change(t, RAFT_CHANGE_REMOVE, victim);
        wait_leader_compacted(t);
        change(t, RAFT_CHANGE_ADD_LEARNER, 4);
        uint64_t snaps = 0, took = join_and_catch_up(t, 4, &snaps);
        printf("  node 4 caught up in %llu ms (%llu snapshot(s) installed)\n",
               (unsigned long long)took, (unsigned long long)snaps);
        ck_assert_msg(snaps >= 1, "node 4 caught up without a snapshot");
        change(t, RAFT_CHANGE_PROMOTE, 4);
        expect_voters(t, 0x1e & ~(1u << victim));
    }
    sleep_rest(t0, client_ms);
}

START_TEST(ReplaceLostNode)
{
    struct kvt_params p = { .lab = 4, .nclients = 5, .nservers = 4, .members = 3,
                            .maxraftstate = 1000, .during = replace_during };
    kvt_generic("ReplaceLostNode", &p);
}
END_TEST

/* ---- grow 3 -> 5, shrink back to 3 --------------------------------------------------------- */

static void grow_shrink_during(struct kvt *t, int iter, uint64_t client_ms, void *arg)
{
    (void)arg;
    uint64_t t0 = clock_mono_ms();
    if (iter == 0) {
        for (unsigned i = 4; i <= 5; i++) {
            change(t, RAFT_CHANGE_ADD_LEARNER, i);
            join_and_catch_up(t, i, NULL);
            change(t, RAFT_CHANGE_PROMOTE, i);
        }
        expect_voters(t, 0x3e);
    } else if (iter == 1) {
        /* Five voters: two of them down, the other three go on. */
        unsigned l = leader_of(t), a = l == 1 ? 2 : 1, b = l == 4 ? 5 : 4;
        cluster_crash_node(t->c, a);
        cluster_crash_node(t->c, b);
        clock_sleep_ms(client_ms / 2);
        ck_assert_int_eq(cluster_restart_node(t->c, a), 0);
        ck_assert_int_eq(cluster_restart_node(t->c, b), 0);
    } else {
        /* The leader leaves first (it hands over as the removal commits), then one more. */
        unsigned l = leader_of(t);
        change(t, RAFT_CHANGE_REMOVE, l);
        unsigned l2 = leader_of(t);
        ck_assert_uint_ne(l2, l);
        unsigned other = 5;
        while (other == l || other == l2)
            other--;
        change(t, RAFT_CHANGE_REMOVE, other);
        cluster_stop_node(t->c, l);
        cluster_stop_node(t->c, other);
        expect_voters(t, 0x3e & ~(1u << l) & ~(1u << other));
    }
    sleep_rest(t0, client_ms);
}

START_TEST(GrowAndShrink)
{
    struct kvt_params p = { .lab = 4, .nclients = 5, .nservers = 5, .members = 3,
                            .maxraftstate = -1, .during = grow_shrink_during };
    kvt_generic("GrowAndShrink", &p);
}
END_TEST

/* ---- 20 leadership transfers --------------------------------------------------------------- */

#define TRANSFERS 20

struct transfers {
    int done;
    int64_t began[TRANSFERS], ended[TRANSFERS]; /* clock_mono_ns */
};

static void transfer_during(struct kvt *t, int iter, uint64_t client_ms, void *arg)
{
    struct transfers *x = arg;
    uint64_t t0 = clock_mono_ms();
    int upto = iter == 2 ? TRANSFERS : x->done + TRANSFERS / 3;
    clock_sleep_ms(100);
    for (; x->done < upto; x->done++) {
        unsigned l = leader_of(t);
        unsigned to = 1 + (l + (unsigned)rng_below(cluster_rng(t->c), 2)) % 3;
        Node__TransferLeaderRequest q = NODE__TRANSFER_LEADER_REQUEST__INIT;
        q.id = to;
        x->began[x->done] = (int64_t)clock_mono_ns();
        Node__AdminReply *r = NULL;
        ck_assert_int_eq(cluster_call(cluster_sync(t->c, l), "node.TransferLeader", &q.base,
                                      &node__admin_reply__descriptor, 5000,
                                      (ProtobufCMessage **)&r), RPC_OK);
        x->ended[x->done] = (int64_t)clock_mono_ns();
        ck_assert_msg(r->status == NODE__ADMIN_STATUS__ADMIN_OK, "transfer %d (%u -> %u): %s",
                      x->done, l, to, r->error);
        node__admin_reply__free_unpacked(r, NULL);
        ck_assert_uint_eq(leader_of(t), to);
        clock_sleep_ms(150);
    }
    sleep_rest(t0, client_ms);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* From the history: for each transfer, the longest time without a write completing that
 * overlaps it (from the last write completed before it began to the first after). */
static void transfer_after(struct kvt *t, void *arg)
{
    struct transfers *x = arg;
    size_t n = 0;
    int64_t *w = xmalloc((t->hist.len + 1) * sizeof *w);
    for (size_t i = 0; i < t->hist.len; i++) {
        const struct lin_op *op = &t->hist.ops[i];
        if (op->kind != LIN_GET && op->return_ns != LIN_NO_RETURN)
            w[n++] = op->return_ns;
    }
    ck_assert_uint_gt(n, 100);
    qsort(w, n, sizeof *w, cmp_i64);
    int64_t gaps[TRANSFERS];
    for (int k = 0; k < TRANSFERS; k++) {
        int64_t worst = 0;
        for (size_t i = 1; i < n; i++)
            if (w[i] >= x->began[k] && w[i - 1] <= x->ended[k])
                worst = MAX(worst, w[i] - w[i - 1]);
        gaps[k] = worst;
    }
    qsort(gaps, TRANSFERS, sizeof *gaps, cmp_i64);
    /* For scale: the gaps between write completions over the whole run. */
    for (size_t i = n - 1; i > 0; i--)
        w[i] -= w[i - 1];
    qsort(w + 1, n - 1, sizeof *w, cmp_i64);
    printf("  write unavailability during %d leadership transfers: median %.1f ms, max %.1f ms "
           "(longest gap between write completions around each transfer; over the run, of %zu "
           "writes: median gap %.2f ms, 99th percentile %.2f ms)\n", TRANSFERS,
           gaps[TRANSFERS / 2] / 1e6, gaps[TRANSFERS - 1] / 1e6, n, w[1 + (n - 1) / 2] / 1e6,
           w[1 + (n - 1) * 99 / 100] / 1e6);
    free(w);
}

START_TEST(TransferLeadership20)
{
    struct transfers x = { 0 };
    struct kvt_params p = { .lab = 4, .nclients = 5, .nservers = 3, .maxraftstate = -1,
                            .during = transfer_during, .after = transfer_after,
                            .during_arg = &x };
    kvt_generic("TransferLeadership20", &p);
    ck_assert_int_eq(x.done, TRANSFERS);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kvd_membership");
    TCase *tc = tcase_create("membership");
    tcase_set_timeout(tc, 240);
    KVT_ADD_TEST(tc, ReplaceLostNode);
    KVT_ADD_TEST(tc, GrowAndShrink);
    KVT_ADD_TEST(tc, TransferLeadership20);
    suite_add_tcase(s, tc);
    return s;
}
