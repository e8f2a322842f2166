/* Every 6.5840 (Spring 2024) Lab 3 test, ported to the simulator with its name, setup and
 * assertions (see ../shared/LAB-TESTS.md and the lab's raft/test_test.go). Each runs twice:
 * iteration 0 on the in-memory store, iteration 1 on the LMDB store in a temp directory.
 * Goroutines of the original become cooperative tasks (harness.h); sleeps advance sim time.
 * SEED=n replaces every test's fixed seed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "harness.h"
#include "sim.h"

#define ELECTION_TIMEOUT 1000 /* the lab's RaftElectionTimeout, in ms */
#define MAX_LOG_SIZE 2000     /* the lab's MAXLOGSIZE, in bytes */

static uint64_t seed_for(const char *name)
{
    const char *env = getenv("SEED");
    if (env)
        return strtoull(env, NULL, 10);
    return hash_fnv1a32(name, strlen(name));
}

static struct sim *begin(size_t n, bool unreliable, bool snapshots, int mode, const char *name)
{
    struct sim_opts o = { .n = n, .seed = seed_for(name), .snapshots = snapshots,
                          .storage = mode ? SIM_STORAGE_LMDB : SIM_STORAGE_MEM };
    struct sim *s = sim_new(&o);
    ck_assert_ptr_nonnull(s);
    sim_set_unreliable(s, unreliable);
    return s;
}

static void end(struct sim *s, const char *name)
{
    if (sim_failed(s))
        sim_dump(s);
    ck_assert_msg(!sim_failed(s), "%s: %s", name, sim_failure(s));
    ck_assert_msg(sim_now(s) <= 120000, "%s: test took longer than 120 seconds", name);
    printf("  %s passed: %.1f s simulated, %llu RPCs, %llu bytes\n", name, sim_now(s) / 1000.0,
           (unsigned long long)sim_rpc_total(s), (unsigned long long)sim_bytes_total(s));
    sim_free(s);
}

#define BEGIN(n, unrel, snap) struct sim *s = begin(n, unrel, snap, _i, __func__)
#define END() end(s, __func__)
/* Stop a scenario early once the sim has recorded a failure. */
#define CHECK() do { if (sim_failed(s)) { END(); return; } } while (0)

/* The lab's crash1 (disconnect + delete) and start1 (crash1 + restart, not connected). */
static void crash1(struct sim *s, size_t i)
{
    sim_disconnect(s, i);
    sim_crash(s, i);
}

static void start1(struct sim *s, size_t i)
{
    crash1(s, i);
    sim_restart(s, i);
}

static uint64_t rnd(struct sim *s) { return sim_rand(s, 1u << 30); }

/* ---- 3A ----------------------------------------------------------------------------------- */

START_TEST(InitialElection3A)
{
    BEGIN(3, false, false);
    h_check_one_leader(s);
    sim_run_for(s, 50);
    uint64_t term1 = h_check_terms(s);
    CHECK();
    ck_assert_msg(term1 >= 1, "term is %llu, but should be at least 1", (unsigned long long)term1);
    sim_run_for(s, 2 * ELECTION_TIMEOUT);
    uint64_t term2 = h_check_terms(s);
    if (term1 != term2)
        printf("warning: term changed even though there were no failures\n");
    h_check_one_leader(s);
    END();
}
END_TEST

START_TEST(ReElection3A)
{
    BEGIN(3, false, false);
    int leader1 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader1);
    h_check_one_leader(s);
    sim_connect(s, (size_t)leader1);
    int leader2 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader2);
    sim_disconnect(s, (size_t)(leader2 + 1) % 3);
    sim_run_for(s, 2 * ELECTION_TIMEOUT);
    h_check_no_leader(s);
    sim_connect(s, (size_t)(leader2 + 1) % 3);
    h_check_one_leader(s);
    sim_connect(s, (size_t)leader2);
    h_check_one_leader(s);
    END();
}
END_TEST

START_TEST(ManyElections3A)
{
    BEGIN(7, false, false);
    h_check_one_leader(s);
    for (int ii = 1; ii < 10 && !sim_failed(s); ii++) {
        size_t i1 = sim_rand(s, 7), i2 = sim_rand(s, 7), i3 = sim_rand(s, 7);
        sim_disconnect(s, i1);
        sim_disconnect(s, i2);
        sim_disconnect(s, i3);
        /* Either the current leader should still be alive, or the remaining four should
         * elect a new one. */
        h_check_one_leader(s);
        sim_connect(s, i1);
        sim_connect(s, i2);
        sim_connect(s, i3);
    }
    h_check_one_leader(s);
    END();
}
END_TEST

/* ---- 3B ----------------------------------------------------------------------------------- */

START_TEST(BasicAgree3B)
{
    BEGIN(3, false, false);
    for (uint64_t index = 1; index < 4; index++) {
        ck_assert_msg(h_n_committed(s, index) == 0, "some have committed before Start()");
        int64_t xindex = h_one_int(s, index * 100, 3, false);
        CHECK();
        ck_assert_msg(xindex == (int64_t)index, "got index %lld but expected %llu",
                      (long long)xindex, (unsigned long long)index);
    }
    END();
}
END_TEST

START_TEST(RPCBytes3B)
{
    BEGIN(3, false, false);
    h_one_int(s, 99, 3, false);
    uint64_t bytes0 = sim_bytes_total(s);
    uint64_t sent = 0;
    static uint8_t cmd[5000];
    for (int64_t index = 2; index < 12 && !sim_failed(s); index++) {
        for (size_t k = 0; k < sizeof cmd; k++)
            cmd[k] = (uint8_t)('a' + sim_rand(s, 26));
        int64_t xindex = h_one(s, cmd, sizeof cmd, 3, false);
        CHECK();
        ck_assert_msg(xindex == index, "got index %lld but expected %lld", (long long)xindex,
                      (long long)index);
        sent += sizeof cmd;
    }
    uint64_t got = sim_bytes_total(s) - bytes0, expected = 3 * sent;
    ck_assert_msg(got <= expected + 50000, "too many RPC bytes; got %llu, expected %llu",
                  (unsigned long long)got, (unsigned long long)expected);
    END();
}
END_TEST

START_TEST(FollowerFailure3B)
{
    BEGIN(3, false, false);
    h_one_int(s, 101, 3, false);
    int leader1 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)(leader1 + 1) % 3);
    /* The leader and remaining follower should be able to agree despite the disconnection. */
    h_one_int(s, 102, 2, false);
    sim_run_for(s, ELECTION_TIMEOUT);
    h_one_int(s, 103, 2, false);
    int leader2 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)(leader2 + 1) % 3);
    sim_disconnect(s, (size_t)(leader2 + 2) % 3);
    uint64_t index, term;
    struct cmd c = cmd_int(104);
    ck_assert_msg(sim_start(s, (size_t)leader2, c.b, 8, &index, &term), "leader rejected Start()");
    ck_assert_msg(index == 4, "expected index 4, got %llu", (unsigned long long)index);
    sim_run_for(s, 2 * ELECTION_TIMEOUT);
    ck_assert_msg(h_n_committed(s, index) == 0, "%llu committed but no majority",
                  (unsigned long long)index);
    END();
}
END_TEST

START_TEST(LeaderFailure3B)
{
    BEGIN(3, false, false);
    h_one_int(s, 101, 3, false);
    int leader1 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader1);
    /* The remaining followers should elect a new leader. */
    h_one_int(s, 102, 2, false);
    sim_run_for(s, ELECTION_TIMEOUT);
    h_one_int(s, 103, 2, false);
    int leader2 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader2);
    /* Submit a command to each server. */
    struct cmd c = cmd_int(104);
    for (size_t i = 0; i < 3; i++) {
        uint64_t index, term;
        sim_start(s, i, c.b, 8, &index, &term);
    }
    sim_run_for(s, 2 * ELECTION_TIMEOUT);
    ck_assert_msg(h_n_committed(s, 4) == 0, "4 committed but no majority");
    END();
}
END_TEST

START_TEST(FailAgree3B)
{
    BEGIN(3, false, false);
    h_one_int(s, 101, 3, false);
    int leader = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)(leader + 1) % 3);
    /* The leader and remaining follower should be able to agree despite the disconnection. */
    h_one_int(s, 102, 2, false);
    h_one_int(s, 103, 2, false);
    sim_run_for(s, ELECTION_TIMEOUT);
    h_one_int(s, 104, 2, false);
    h_one_int(s, 105, 2, false);
    /* Re-connect: the full set of servers should preserve previous agreements, and be able to
     * agree on new commands. */
    sim_connect(s, (size_t)(leader + 1) % 3);
    h_one_int(s, 106, 3, true);
    sim_run_for(s, ELECTION_TIMEOUT);
    h_one_int(s, 107, 3, true);
    END();
}
END_TEST

START_TEST(FailNoAgree3B)
{
    BEGIN(5, false, false);
    h_one_int(s, 10, 5, false);
    /* Three of five followers disconnect. */
    int leader = h_check_one_leader(s);
    CHECK();
    for (int k = 1; k <= 3; k++)
        sim_disconnect(s, (size_t)(leader + k) % 5);
    uint64_t index, term;
    struct cmd c = cmd_int(20);
    ck_assert_msg(sim_start(s, (size_t)leader, c.b, 8, &index, &term), "leader rejected Start()");
    ck_assert_msg(index == 2, "expected index 2, got %llu", (unsigned long long)index);
    sim_run_for(s, 2 * ELECTION_TIMEOUT);
    ck_assert_msg(h_n_committed(s, index) == 0, "%llu committed but no majority",
                  (unsigned long long)index);
    /* Repair. */
    for (int k = 1; k <= 3; k++)
        sim_connect(s, (size_t)(leader + k) % 5);
    /* The disconnected majority may have chosen a leader from among their own ranks,
     * forgetting index 2. */
    int leader2 = h_check_one_leader(s);
    CHECK();
    uint64_t index2, term2;
    c = cmd_int(30);
    ck_assert_msg(sim_start(s, (size_t)leader2, c.b, 8, &index2, &term2), "leader2 rejected Start()");
    ck_assert_msg(index2 >= 2 && index2 <= 3, "unexpected index %llu", (unsigned long long)index2);
    h_one_int(s, 1000, 5, true);
    END();
}
END_TEST

START_TEST(ConcurrentStarts3B)
{
    BEGIN(3, false, false);
    bool success = false;
    for (int try = 0; try < 5 && !success && !sim_failed(s); try++) {
        if (try > 0)
            sim_run_for(s, 3000); /* give the solution some time to settle */
        int leader = h_check_one_leader(s);
        CHECK();
        uint64_t index, term;
        struct cmd c = cmd_int(1);
        if (!sim_start(s, (size_t)leader, c.b, 8, &index, &term))
            continue; /* leader moved on really quickly */
        /* The original starts these from five goroutines at once. */
        uint64_t is[5];
        size_t nis = 0;
        bool moved = false;
        for (int ii = 0; ii < 5; ii++) {
            uint64_t i1, t1;
            c = cmd_int(100 + (uint64_t)ii);
            if (!sim_start(s, (size_t)leader, c.b, 8, &i1, &t1) || t1 != term) {
                moved = true;
                continue;
            }
            is[nis++] = i1;
        }
        for (size_t j = 0; j < 3; j++) {
            uint64_t t;
            sim_get_state(s, j, &t);
            if (t != term)
                moved = true; /* term changed -- can't expect low RPC counts */
        }
        if (moved)
            continue;
        uint64_t cmds[5];
        size_t ncmds = 0;
        bool term_changed = false;
        for (size_t k = 0; k < nis; k++) {
            uint64_t v;
            if (!h_wait(s, is[k], 3, term, &v)) {
                term_changed = true; /* peers have moved on to later terms */
                break;
            }
            cmds[ncmds++] = v;
        }
        CHECK();
        if (term_changed)
            continue;
        for (uint64_t ii = 0; ii < 5; ii++) {
            bool ok = false;
            for (size_t j = 0; j < ncmds; j++)
                ok |= cmds[j] == 100 + ii;
            ck_assert_msg(ok, "cmd %llu missing", (unsigned long long)(100 + ii));
        }
        success = true;
    }
    CHECK();
    ck_assert_msg(success, "term changed too often");
    END();
}
END_TEST

START_TEST(Rejoin3B)
{
    BEGIN(3, false, false);
    h_one_int(s, 101, 3, true);
    /* The leader network failure. */
    int leader1 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader1);
    /* Make the old leader try to agree on some entries. */
    for (uint64_t v = 102; v <= 104; v++) {
        uint64_t index, term;
        struct cmd c = cmd_int(v);
        sim_start(s, (size_t)leader1, c.b, 8, &index, &term);
    }
    /* The new leader commits, also for index=2. */
    h_one_int(s, 103, 2, true);
    /* New leader network failure. */
    int leader2 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader2);
    /* The old leader connected again. */
    sim_connect(s, (size_t)leader1);
    h_one_int(s, 104, 2, true);
    /* All together now. */
    sim_connect(s, (size_t)leader2);
    h_one_int(s, 105, 3, true);
    END();
}
END_TEST

START_TEST(Backup3B)
{
    BEGIN(5, false, false);
    h_one_int(s, rnd(s), 5, true);
    /* Put the leader and one follower in a partition. */
    int leader1 = h_check_one_leader(s);
    CHECK();
    size_t l1 = (size_t)leader1;
    sim_disconnect(s, (l1 + 2) % 5);
    sim_disconnect(s, (l1 + 3) % 5);
    sim_disconnect(s, (l1 + 4) % 5);
    /* Submit lots of commands that won't commit. */
    for (int i = 0; i < 50; i++) {
        uint64_t index, term;
        struct cmd c = cmd_int(rnd(s));
        sim_start(s, l1, c.b, 8, &index, &term);
    }
    sim_run_for(s, ELECTION_TIMEOUT / 2);
    sim_disconnect(s, (l1 + 0) % 5);
    sim_disconnect(s, (l1 + 1) % 5);
    /* Allow the other partition to recover. */
    sim_connect(s, (l1 + 2) % 5);
    sim_connect(s, (l1 + 3) % 5);
    sim_connect(s, (l1 + 4) % 5);
    /* Lots of successful commands to the new group. */
    for (int i = 0; i < 50 && !sim_failed(s); i++)
        h_one_int(s, rnd(s), 3, true);
    /* Now another partitioned leader and one follower. */
    int leader2 = h_check_one_leader(s);
    CHECK();
    size_t other = (l1 + 2) % 5;
    if ((size_t)leader2 == other)
        other = ((size_t)leader2 + 1) % 5;
    sim_disconnect(s, other);
    /* Lots more commands that won't commit. */
    for (int i = 0; i < 50; i++) {
        uint64_t index, term;
        struct cmd c = cmd_int(rnd(s));
        sim_start(s, (size_t)leader2, c.b, 8, &index, &term);
    }
    sim_run_for(s, ELECTION_TIMEOUT / 2);
    /* Bring the original leader back to life. */
    for (size_t i = 0; i < 5; i++)
        sim_disconnect(s, i);
    sim_connect(s, (l1 + 0) % 5);
    sim_connect(s, (l1 + 1) % 5);
    sim_connect(s, other);
    /* Lots of successful commands to the new group. */
    for (int i = 0; i < 50 && !sim_failed(s); i++)
        h_one_int(s, rnd(s), 3, true);
    /* Now everyone. */
    for (size_t i = 0; i < 5; i++)
        sim_connect(s, i);
    h_one_int(s, rnd(s), 5, true);
    END();
}
END_TEST

static uint64_t rpcs(struct sim *s)
{
    uint64_t n = 0;
    for (size_t j = 0; j < sim_n(s); j++)
        n += sim_rpc_count(s, j);
    return n;
}

START_TEST(Count3B)
{
    BEGIN(3, false, false);
    int leader = h_check_one_leader(s);
    CHECK();
    uint64_t total1 = rpcs(s);
    ck_assert_msg(total1 <= 30 && total1 >= 1, "too many or few RPCs (%llu) to elect initial leader",
                  (unsigned long long)total1);
    uint64_t total2 = 0;
    bool success = false;
    const int iters = 10;
    for (int try = 0; try < 5 && !success && !sim_failed(s); try++) {
        if (try > 0)
            sim_run_for(s, 3000); /* give the solution some time to settle */
        leader = h_check_one_leader(s);
        CHECK();
        total1 = rpcs(s);
        uint64_t starti, term;
        struct cmd c = cmd_int(1);
        if (!sim_start(s, (size_t)leader, c.b, 8, &starti, &term))
            continue; /* leader moved on really quickly */
        uint64_t cmds[12];
        bool moved = false;
        for (int i = 1; i < iters + 2 && !moved; i++) {
            uint64_t x = rnd(s), index1, term1;
            cmds[i - 1] = x;
            c = cmd_int(x);
            if (!sim_start(s, (size_t)leader, c.b, 8, &index1, &term1) || term1 != term) {
                moved = true; /* no longer the leader, so the term has changed */
                break;
            }
            ck_assert_msg(starti + (uint64_t)i == index1, "Start() failed");
        }
        if (moved)
            continue;
        for (int i = 1; i < iters + 1 && !moved; i++) {
            uint64_t v;
            if (!h_wait(s, starti + (uint64_t)i, 3, term, &v)) {
                moved = true; /* term changed -- try again */
                break;
            }
            ck_assert_msg(v == cmds[i - 1], "wrong value %llu committed for index %llu; expected %llu",
                          (unsigned long long)v, (unsigned long long)(starti + (uint64_t)i),
                          (unsigned long long)cmds[i - 1]);
        }
        CHECK();
        if (moved)
            continue;
        total2 = 0;
        for (size_t j = 0; j < 3; j++) {
            uint64_t t;
            sim_get_state(s, j, &t);
            moved |= t != term; /* term changed -- can't expect low RPC counts */
        }
        total2 = rpcs(s);
        if (moved)
            continue;
        ck_assert_msg(total2 - total1 <= (uint64_t)(iters + 1 + 3) * 3,
                      "too many RPCs (%llu) for %d entries", (unsigned long long)(total2 - total1),
                      iters);
        success = true;
    }
    CHECK();
    ck_assert_msg(success, "term changed too often");
    sim_run_for(s, ELECTION_TIMEOUT);
    uint64_t total3 = rpcs(s);
    ck_assert_msg(total3 - total2 <= 3 * 20, "too many RPCs (%llu) for 1 second of idleness",
                  (unsigned long long)(total3 - total2));
    END();
}
END_TEST

/* ---- 3C ----------------------------------------------------------------------------------- */

START_TEST(Persist13C)
{
    BEGIN(3, false, false);
    h_one_int(s, 11, 3, true);
    /* Crash and re-start all. */
    for (size_t i = 0; i < 3; i++)
        start1(s, i);
    for (size_t i = 0; i < 3; i++) {
        sim_disconnect(s, i);
        sim_connect(s, i);
    }
    h_one_int(s, 12, 3, true);
    int leader1 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader1);
    start1(s, (size_t)leader1);
    sim_connect(s, (size_t)leader1);
    h_one_int(s, 13, 3, true);
    int leader2 = h_check_one_leader(s);
    CHECK();
    sim_disconnect(s, (size_t)leader2);
    h_one_int(s, 14, 2, true);
    start1(s, (size_t)leader2);
    sim_connect(s, (size_t)leader2);
    h_wait(s, 4, 3, 0, NULL); /* wait for leader2 to join before killing i3 */
    int l = h_check_one_leader(s);
    CHECK();
    size_t i3 = ((size_t)l + 1) % 3;
    sim_disconnect(s, i3);
    h_one_int(s, 15, 2, true);
    start1(s, i3);
    sim_connect(s, i3);
    h_one_int(s, 16, 3, true);
    END();
}
END_TEST

START_TEST(Persist23C)
{
    BEGIN(5, false, false);
    uint64_t index = 1;
    for (int iters = 0; iters < 5 && !sim_failed(s); iters++) {
        h_one_int(s, 10 + index++, 5, true);
        int leader1 = h_check_one_leader(s);
        CHECK();
        size_t l = (size_t)leader1;
        sim_disconnect(s, (l + 1) % 5);
        sim_disconnect(s, (l + 2) % 5);
        h_one_int(s, 10 + index++, 3, true);
        sim_disconnect(s, (l + 0) % 5);
        sim_disconnect(s, (l + 3) % 5);
        sim_disconnect(s, (l + 4) % 5);
        start1(s, (l + 1) % 5);
        start1(s, (l + 2) % 5);
        sim_connect(s, (l + 1) % 5);
        sim_connect(s, (l + 2) % 5);
        sim_run_for(s, ELECTION_TIMEOUT);
        start1(s, (l + 3) % 5);
        sim_connect(s, (l + 3) % 5);
        h_one_int(s, 10 + index++, 3, true);
        sim_connect(s, (l + 4) % 5);
        sim_connect(s, (l + 0) % 5);
    }
    h_one_int(s, 1000, 5, true);
    END();
}
END_TEST

START_TEST(Persist33C)
{
    BEGIN(3, false, false);
    h_one_int(s, 101, 3, true);
    int leader = h_check_one_leader(s);
    CHECK();
    size_t l = (size_t)leader;
    sim_disconnect(s, (l + 2) % 3);
    h_one_int(s, 102, 2, true);
    crash1(s, (l + 0) % 3);
    crash1(s, (l + 1) % 3);
    sim_connect(s, (l + 2) % 3);
    start1(s, (l + 0) % 3);
    sim_connect(s, (l + 0) % 3);
    h_one_int(s, 103, 2, true);
    start1(s, (l + 1) % 3);
    sim_connect(s, (l + 1) % 3);
    h_one_int(s, 104, 3, true);
    END();
}
END_TEST

/* Test the scenarios described in Figure 8 of the extended Raft paper. Each iteration asks a
 * leader, if there is one, to insert a command in the Raft log. If there is a leader, that
 * leader will fail quickly with a high probability (perhaps without committing the command),
 * or crash after a while with low probability (most likely committing the command). If the
 * number of alive servers isn't enough to form a majority, perhaps start a new server. */
START_TEST(Figure83C)
{
    BEGIN(5, false, false);
    h_one_int(s, rnd(s), 1, true);
    int nup = 5;
    for (int iters = 0; iters < 1000 && !sim_failed(s); iters++) {
        int leader = -1;
        for (size_t i = 0; i < 5; i++) {
            uint64_t index, term;
            struct cmd c = cmd_int(rnd(s));
            if (sim_start(s, i, c.b, 8, &index, &term))
                leader = (int)i;
        }
        if (sim_rand(s, 1000) < 100)
            sim_run_for(s, sim_rand(s, ELECTION_TIMEOUT / 2));
        else
            sim_run_for(s, sim_rand(s, 13));
        if (leader != -1) {
            crash1(s, (size_t)leader);
            nup--;
        }
        if (nup < 3) {
            size_t k = sim_rand(s, 5);
            if (!sim_is_alive(s, k)) {
                start1(s, k);
                sim_connect(s, k);
                nup++;
            }
        }
    }
    for (size_t i = 0; i < 5; i++) {
        if (!sim_is_alive(s, i)) {
            start1(s, i);
            sim_connect(s, i);
        }
    }
    h_one_int(s, rnd(s), 5, true);
    END();
}
END_TEST

START_TEST(UnreliableAgree3C)
{
    BEGIN(5, true, false);
    /* The original runs four one() calls in goroutines beside each iteration's own one(); here
     * the five run as concurrent tasks and each iteration waits for all of them. */
    for (uint64_t iters = 1; iters < 50 && !sim_failed(s); iters++) {
        struct one_task ot[5];
        struct task *ts[5];
        struct cmd cs[5];
        for (uint64_t j = 0; j < 5; j++) {
            cs[j] = cmd_int(j < 4 ? 100 * iters + j : iters);
            h_one_task_init(&ot[j], s, cs[j].b, 8, 1, true);
            ts[j] = &ot[j].t;
        }
        h_run_tasks(s, ts, 5);
    }
    sim_set_unreliable(s, false);
    h_one_int(s, 100, 5, true);
    END();
}
END_TEST

START_TEST(Figure8Unreliable3C)
{
    BEGIN(5, true, false);
    h_one_int(s, rnd(s) % 10000, 1, true);
    int nup = 5;
    for (int iters = 0; iters < 1000 && !sim_failed(s); iters++) {
        if (iters == 200)
            sim_set_long_reordering(s, true);
        int leader = -1;
        for (size_t i = 0; i < 5; i++) {
            uint64_t index, term;
            struct cmd c = cmd_int(rnd(s) % 10000);
            if (sim_start(s, i, c.b, 8, &index, &term) && sim_is_connected(s, i))
                leader = (int)i;
        }
        if (sim_rand(s, 1000) < 100)
            sim_run_for(s, sim_rand(s, ELECTION_TIMEOUT / 2));
        else
            sim_run_for(s, sim_rand(s, 13));
        if (leader != -1 && sim_rand(s, 1000) < ELECTION_TIMEOUT / 2) {
            sim_disconnect(s, (size_t)leader);
            nup--;
        }
        if (nup < 3) {
            size_t k = sim_rand(s, 5);
            if (!sim_is_connected(s, k)) {
                sim_connect(s, k);
                nup++;
            }
        }
    }
    for (size_t i = 0; i < 5; i++)
        if (!sim_is_connected(s, i))
            sim_connect(s, i);
    h_one_int(s, rnd(s) % 10000, 5, true);
    END();
}
END_TEST

/* Churn: three clients Start commands on every live server while servers are disconnected,
 * crashed and restarted; every value a client saw committed must be in the final log. */
struct churn_client {
    struct task t;
    int me;
    bool *stop;
    uint64_t x;
    int64_t index;
    int wait_step;
    uint64_t *ret;
    size_t nret;
};

static int64_t churn_client_step(struct sim *s, struct task *t)
{
    static const int64_t waits[] = { 10, 20, 50, 100, 200 };
    struct churn_client *c = (struct churn_client *)t;
    if (c->index >= 0) {
        /* Maybe the leader will commit our value, maybe not; but don't wait forever. */
        const uint8_t *cmd;
        size_t len;
        if (sim_n_committed(s, (uint64_t)c->index, &cmd, &len) > 0) {
            uint64_t v = 0;
            if (len != 8)
                sim_fail(s, "wrong command type");
            memcpy(&v, cmd, 8);
            if (v == c->x)
                c->ret[c->nret++] = c->x;
            c->index = -1;
        } else if (c->wait_step < (int)ARRAY_LEN(waits)) {
            return waits[c->wait_step++];
        } else {
            c->index = -1;
        }
    }
    if (*c->stop)
        return -1;
    c->x = rnd(s);
    struct cmd cmd = cmd_int(c->x);
    bool ok = false;
    for (size_t i = 0; i < sim_n(s); i++) { /* try them all, maybe one of them is a leader */
        uint64_t index1, term1;
        if (sim_start(s, i, cmd.b, 8, &index1, &term1)) {
            ok = true;
            c->index = (int64_t)index1;
        }
    }
    c->wait_step = 0;
    if (ok)
        return 0;
    return 79 + c->me * 17;
}

struct churn_main {
    struct task t;
    int iters;
    int phase;
    bool *stop;
};

static int64_t churn_main_step(struct sim *s, struct task *t)
{
    struct churn_main *m = (struct churn_main *)t;
    if (m->iters < 20) {
        m->iters++;
        if (sim_rand(s, 1000) < 200)
            sim_disconnect(s, sim_rand(s, 5));
        if (sim_rand(s, 1000) < 500) {
            size_t i = sim_rand(s, 5);
            if (!sim_is_alive(s, i))
                start1(s, i);
            sim_connect(s, i);
        }
        if (sim_rand(s, 1000) < 200) {
            size_t i = sim_rand(s, 5);
            if (sim_is_alive(s, i))
                crash1(s, i);
        }
        /* Make crash/restart infrequent enough that the peers can often keep up, but not so
         * infrequent that everything has settled down from one change to the next. */
        return ELECTION_TIMEOUT * 7 / 10;
    }
    if (m->phase == 0) {
        m->phase = 1;
        return ELECTION_TIMEOUT;
    }
    sim_set_unreliable(s, false);
    for (size_t i = 0; i < 5; i++) {
        if (!sim_is_alive(s, i))
            start1(s, i);
        sim_connect(s, i);
    }
    *m->stop = true;
    return -1;
}

static void churn(struct sim *s, bool unreliable)
{
    if (unreliable)
        sim_set_unreliable(s, true);
    bool stop = false;
    struct churn_client cl[3];
    struct churn_main m = { .t = { churn_main_step, sim_now(s), false }, .stop = &stop };
    struct task *ts[4] = { &m.t };
    for (int i = 0; i < 3; i++) {
        cl[i] = (struct churn_client){ .t = { churn_client_step, sim_now(s), false }, .me = i,
                                       .stop = &stop, .index = -1,
                                       .ret = xmalloc(100000 * sizeof(uint64_t)) };
        ts[i + 1] = &cl[i].t;
    }
    h_run_tasks(s, ts, 4);
    sim_run_for(s, ELECTION_TIMEOUT);
    int64_t last_index = h_one_int(s, rnd(s), 5, true);
    uint64_t *really = xmalloc(((size_t)MAX(last_index, 0) + 1) * sizeof *really);
    size_t nreally = 0;
    for (int64_t index = 1; index <= last_index && !sim_failed(s); index++) {
        uint64_t v;
        if (h_wait(s, (uint64_t)index, 5, 0, &v))
            really[nreally++] = v;
    }
    for (int i = 0; i < 3 && !sim_failed(s); i++) {
        for (size_t k = 0; k < cl[i].nret; k++) {
            bool ok = false;
            for (size_t j = 0; j < nreally && !ok; j++)
                ok = really[j] == cl[i].ret[k];
            if (!ok)
                sim_fail(s, "didn't find a value");
        }
    }
    for (int i = 0; i < 3; i++)
        free(cl[i].ret);
    free(really);
}

START_TEST(ReliableChurn3C)
{
    BEGIN(5, false, false);
    churn(s, false);
    END();
}
END_TEST

START_TEST(UnreliableChurn3C)
{
    BEGIN(5, true, false);
    churn(s, true);
    END();
}
END_TEST

/* ---- 3D ----------------------------------------------------------------------------------- */

static size_t log_size(struct sim *s)
{
    size_t m = 0;
    for (size_t i = 0; i < sim_n(s); i++)
        m = MAX(m, sim_raft_state_size(s, i));
    return m;
}

static void snapcommon(struct sim *s, bool disconnect, bool crash)
{
    const size_t servers = 3;
    h_one_int(s, rnd(s), servers, true);
    int leader1 = h_check_one_leader(s);
    for (int i = 0; i < 30 && !sim_failed(s); i++) {
        size_t victim = ((size_t)leader1 + 1) % servers, sender = (size_t)leader1;
        if (i % 3 == 1) {
            sender = ((size_t)leader1 + 1) % servers;
            victim = (size_t)leader1;
        }
        if (disconnect) {
            sim_disconnect(s, victim);
            h_one_int(s, rnd(s), servers - 1, true);
        }
        if (crash) {
            crash1(s, victim);
            h_one_int(s, rnd(s), servers - 1, true);
        }
        /* Perhaps send enough to get a snapshot. */
        uint64_t nn = SIM_SNAPSHOT_INTERVAL / 2 + sim_rand(s, SIM_SNAPSHOT_INTERVAL);
        for (uint64_t k = 0; k < nn; k++) {
            uint64_t index, term;
            struct cmd c = cmd_int(rnd(s));
            sim_start(s, sender, c.b, 8, &index, &term);
        }
        /* Let applier threads catch up with the Start()'s. */
        if (!disconnect && !crash) {
            /* Make sure all followers have caught up, so that an InstallSnapshot RPC isn't
             * required for SnapshotBasic. */
            h_one_int(s, rnd(s), servers, true);
        } else {
            h_one_int(s, rnd(s), servers - 1, true);
        }
        if (log_size(s) >= MAX_LOG_SIZE)
            sim_fail(s, "Log size too large (%zu bytes)", log_size(s));
        if (disconnect) {
            /* Reconnect a follower, who maybe behind and needs to receive a snapshot to catch
             * up. */
            sim_connect(s, victim);
            h_one_int(s, rnd(s), servers, true);
            leader1 = h_check_one_leader(s);
        }
        if (crash) {
            start1(s, victim);
            sim_connect(s, victim);
            h_one_int(s, rnd(s), servers, true);
            leader1 = h_check_one_leader(s);
        }
    }
}

START_TEST(SnapshotBasic3D)
{
    BEGIN(3, false, true);
    snapcommon(s, false, false);
    END();
}
END_TEST

START_TEST(SnapshotInstall3D)
{
    BEGIN(3, false, true);
    snapcommon(s, true, false);
    CHECK();
    ck_assert_msg(sim_snapshots_installed(s) > 0, "no follower ever needed InstallSnapshot");
    END();
}
END_TEST

START_TEST(SnapshotInstallUnreliable3D)
{
    BEGIN(3, true, true);
    snapcommon(s, true, false);
    END();
}
END_TEST

START_TEST(SnapshotInstallCrash3D)
{
    BEGIN(3, false, true);
    snapcommon(s, false, true);
    END();
}
END_TEST

START_TEST(SnapshotInstallUnCrash3D)
{
    BEGIN(3, true, true);
    snapcommon(s, false, true);
    END();
}
END_TEST

/* Do the servers persist the snapshots, and restart using snapshot along with the tail of the
 * log? */
START_TEST(SnapshotAllCrash3D)
{
    BEGIN(3, false, true);
    h_one_int(s, rnd(s), 3, true);
    for (int i = 0; i < 5 && !sim_failed(s); i++) {
        /* Perhaps enough to get a snapshot. */
        uint64_t nn = SIM_SNAPSHOT_INTERVAL / 2 + sim_rand(s, SIM_SNAPSHOT_INTERVAL);
        for (uint64_t k = 0; k < nn; k++)
            h_one_int(s, rnd(s), 3, true);
        int64_t index1 = h_one_int(s, rnd(s), 3, true);
        for (size_t k = 0; k < 3; k++) /* crash all */
            crash1(s, k);
        for (size_t k = 0; k < 3; k++) { /* revive all */
            start1(s, k);
            sim_connect(s, k);
        }
        int64_t index2 = h_one_int(s, rnd(s), 3, true);
        CHECK();
        ck_assert_msg(index2 >= index1 + 1, "index decreased from %lld to %lld",
                      (long long)index1, (long long)index2);
    }
    END();
}
END_TEST

/* Do servers correctly initialize their in-memory copy of the snapshot, making sure that
 * future writes to persistent state don't lose state? */
START_TEST(SnapshotInit3D)
{
    BEGIN(3, false, true);
    h_one_int(s, rnd(s), 3, true);
    /* Enough ops to make a snapshot. */
    for (int k = 0; k < SIM_SNAPSHOT_INTERVAL + 1; k++)
        h_one_int(s, rnd(s), 3, true);
    for (size_t k = 0; k < 3; k++)
        crash1(s, k);
    for (size_t k = 0; k < 3; k++) {
        start1(s, k);
        sim_connect(s, k);
    }
    /* A single op, to get something to be written back to persistent storage. */
    h_one_int(s, rnd(s), 3, true);
    for (size_t k = 0; k < 3; k++)
        crash1(s, k);
    for (size_t k = 0; k < 3; k++) {
        start1(s, k);
        sim_connect(s, k);
    }
    /* Do another op to trigger potential bug. */
    h_one_int(s, rnd(s), 3, true);
    END();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("raft_lab3");
    TCase *tc = tcase_create("lab3");
    tcase_set_timeout(tc, 300);
    /* Iteration 0: in-memory store; iteration 1: LMDB store. */
    /* SIM_STORAGE=mem runs only iteration 0 (quick runs while developing). */
    const char *only = getenv("SIM_STORAGE");
    int modes = only && strcmp(only, "mem") == 0 ? 1 : 2;
#define ADD(t) tcase_add_loop_test(tc, t, 0, modes)
    ADD(InitialElection3A);
    ADD(ReElection3A);
    ADD(ManyElections3A);
    ADD(BasicAgree3B);
    ADD(RPCBytes3B);
    ADD(FollowerFailure3B);
    ADD(LeaderFailure3B);
    ADD(FailAgree3B);
    ADD(FailNoAgree3B);
    ADD(ConcurrentStarts3B);
    ADD(Rejoin3B);
    ADD(Backup3B);
    ADD(Count3B);
    ADD(Persist13C);
    ADD(Persist23C);
    ADD(Persist33C);
    ADD(Figure83C);
    ADD(UnreliableAgree3C);
    ADD(Figure8Unreliable3C);
    ADD(ReliableChurn3C);
    ADD(UnreliableChurn3C);
    ADD(SnapshotBasic3D);
    ADD(SnapshotInstall3D);
    ADD(SnapshotInstallUnreliable3D);
    ADD(SnapshotInstallCrash3D);
    ADD(SnapshotInstallUnCrash3D);
    ADD(SnapshotAllCrash3D);
    ADD(SnapshotInit3D);
    suite_add_tcase(s, tc);
    return s;
}
