/* Focused tests of the core's protocol features: fast backtracking (a follower 1,000 entries
 * behind with conflicting terms catches up in a number of append round trips bounded by its
 * distinct conflicting terms), pre-vote (a rejoining partitioned node does not change the
 * leader's term), check-quorum (a leader cut off from its majority steps down within an
 * election timeout), ReadIndex reads, a large entry on a slow link (sent once, not once per
 * heartbeat interval), and the recovery of a node that lost its store. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "harness.h"
#include "mini.h"
#include "sim.h"
#include "store.h"

START_TEST(backtracking_skips_whole_terms)
{
    /* Common prefix 1..10 (term 1). Leader and voter: 1,000 more entries in term 6. The
     * follower: 1,000 conflicting entries in terms 2, 3, 4, 5 (250 each). */
    enum { PREFIX = 10, TAIL = 1000 };
    uint64_t lead_terms[PREFIX + TAIL], foll_terms[PREFIX + TAIL];
    for (size_t i = 0; i < PREFIX + TAIL; i++) {
        lead_terms[i] = i < PREFIX ? 1 : 6;
        foll_terms[i] = i < PREFIX ? 1 : 2 + (i - PREFIX) / 250;
    }
    struct mini m = { 0 };
    for (size_t i = 0; i < 3; i++) {
        m.st[i] = sim_mem_store_new();
        mini_fill(m.st[i], 6, i == 1 ? foll_terms : lead_terms, PREFIX + TAIL);
    }
    mini_start(&m, 7, 64 << 10);
    /* Node 1 wins (node 3's vote suffices; node 2's log is less up to date). */
    mini_elect_first(&m);
    /* One proposal makes the leader replicate; the follower must converge. */
    uint64_t index, term;
    ck_assert_int_eq(replica_propose(m.rep[0], (const uint8_t *)"x", 1, NULL, NULL, &index, &term),
                     NODE_OK);
    mini_drain(&m, 0);
    mini_settle(&m);
    ck_assert_uint_eq(raft_last_index(mini_raft(&m, 1)), index);
    for (uint64_t k = 1; k <= index; k++) {
        uint64_t a, b;
        ck_assert_int_eq(raft_term_at(mini_raft(&m, 0), k, &a), RAFT_OK);
        ck_assert_int_eq(raft_term_at(mini_raft(&m, 1), k, &b), RAFT_OK);
        ck_assert_msg(a == b, "index %llu: leader term %llu, follower %llu", (unsigned long long)k,
                      (unsigned long long)a, (unsigned long long)b);
    }
    /* Four distinct conflicting terms: at most one rejection each, plus the probe of the
     * leader's last index; then the 1,001 entries in 64 KiB batches. */
    size_t rejects = m.rejects_from[2], appends = m.appends_to[2];
    printf("  backtracking: %zu rejections, %zu append messages to catch up 1,000 entries\n",
           rejects, appends);
    ck_assert_msg(rejects <= 4 + 1, "%zu rejections for 4 conflicting terms", rejects);
    ck_assert_msg(appends <= rejects + 1 + 2, "%zu append messages", appends);
    mini_free(&m);
}
END_TEST

/* A 4 MiB entry whose acknowledgements take three heartbeat intervals to come back (a slow
 * link: everything arrives, in order, late). The leader must not send it again meanwhile:
 * heartbeats queued behind it prove nothing lost until their replies come after its own. */
START_TEST(large_entry_on_a_slow_link_is_sent_once)
{
    struct mini m = { 0 };
    mini_start(&m, 11, 0);
    mini_elect_first(&m);
    size_t big = 4u << 20;
    uint8_t *data = xcalloc(1, big);
    uint64_t index, term;
    ck_assert_int_eq(replica_propose(m.rep[0], data, big, NULL, NULL, &index, &term), NODE_OK);
    free(data);
    mini_drain(&m, 0);
    /* Three heartbeat intervals pass before anything is delivered (less than an election
     * timeout, so check-quorum keeps the leader), while other clients' small writes arrive. */
    for (int t = 0; t < 30; t++) {
        replica_tick(m.rep[0]);
        if (t % 5 == 4)
            ck_assert_int_eq(replica_propose(m.rep[0], (const uint8_t *)"w", 1, NULL, NULL, &index,
                                             &term), NODE_OK);
        mini_drain(&m, 0);
    }
    mini_settle(&m);
    ck_assert_int_eq(raft_soft_state(mini_raft(&m, 0)).role, RAFT_LEADER);
    ck_assert_uint_eq(raft_last_index(mini_raft(&m, 1)), index);
    ck_assert_uint_eq(raft_last_index(mini_raft(&m, 2)), index);
    printf("  slow link: the 4 MiB entry was sent %zu and %zu times to the followers\n",
           m.big_to[2], m.big_to[3]);
    ck_assert_uint_eq(m.big_to[2], 1);
    ck_assert_uint_eq(m.big_to[3], 1);
    mini_free(&m);
}
END_TEST

/* raft_grace: a leader announces 100 ticks of work; then nothing gets through for 60 ticks
 * (three times the shortest election timeout): no follower campaigns, the leader keeps leading
 * (no check-quorum step-down). Once the grace is used up, silence counts again: the followers
 * campaign and the leader steps down within two election timeouts more. */
START_TEST(grace_holds_off_elections_for_its_length_only)
{
    struct mini m = { 0 };
    mini_start(&m, 13, 0);
    mini_elect_first(&m);
    uint64_t term = raft_soft_state(mini_raft(&m, 0)).term;
    ck_assert_int_eq(replica_grace(m.rep[1], 100), RAFT_ERR_NOT_LEADER);
    ck_assert_int_eq(replica_grace(m.rep[0], 100), RAFT_OK);
    mini_drain(&m, 0);
    mini_settle(&m); /* the heartbeats carrying the grace reach the followers */
    for (size_t i = 0; i < 3; i++)
        mini_tick_silent(&m, i, 60);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(raft_soft_state(mini_raft(&m, i)).term, term);
    ck_assert_int_eq(raft_soft_state(mini_raft(&m, 0)).role, RAFT_LEADER);
    ck_assert_int_eq(raft_soft_state(mini_raft(&m, 1)).role, RAFT_FOLLOWER);
    ck_assert_int_eq(raft_soft_state(mini_raft(&m, 2)).role, RAFT_FOLLOWER);
    /* The grace (100 ticks) ends; two election timeouts (at most 80 ticks) later both sides
     * have given up on each other. */
    for (size_t i = 0; i < 3; i++)
        mini_tick_silent(&m, i, 40 + 80);
    ck_assert_int_ne(raft_soft_state(mini_raft(&m, 0)).role, RAFT_LEADER);
    ck_assert_int_ne(raft_soft_state(mini_raft(&m, 1)).role, RAFT_FOLLOWER);
    ck_assert_int_ne(raft_soft_state(mini_raft(&m, 2)).role, RAFT_FOLLOWER);
    mini_free(&m);
}
END_TEST

/* ---- pre-vote and check-quorum, on the simulator ----------------------------------------- */

static struct sim *cluster(uint64_t seed)
{
    struct sim_opts o = { .n = 3, .seed = seed };
    struct sim *s = sim_new(&o);
    sim_run_for(s, 2000);
    return s;
}

static int leader_of(struct sim *s, uint64_t *term)
{
    for (size_t i = 0; i < sim_n(s); i++)
        if (sim_is_connected(s, i) && sim_get_state(s, i, term))
            return (int)i;
    return -1;
}

START_TEST(prevote_rejoin_keeps_term)
{
    struct sim *s = cluster(11);
    uint64_t term;
    int leader = leader_of(s, &term);
    ck_assert_int_ge(leader, 0);
    size_t victim = ((size_t)leader + 1) % 3;
    uint64_t victim_term;
    sim_get_state(s, victim, &victim_term);
    sim_disconnect(s, victim);
    sim_run_for(s, 5000); /* many election timeouts alone: pre-votes fail, the term stays */
    uint64_t t_alone;
    sim_get_state(s, victim, &t_alone);
    ck_assert_msg(t_alone == victim_term, "isolated node raised its term from %llu to %llu",
                  (unsigned long long)victim_term, (unsigned long long)t_alone);
    sim_connect(s, victim);
    sim_run_for(s, 2000);
    uint64_t term2;
    int leader2 = leader_of(s, &term2);
    ck_assert_int_eq(leader2, leader);
    ck_assert_msg(term2 == term, "rejoin changed the term from %llu to %llu",
                  (unsigned long long)term, (unsigned long long)term2);
    ck_assert(!sim_failed(s));
    sim_free(s);
}
END_TEST

START_TEST(checkquorum_leader_steps_down)
{
    struct sim *s = cluster(12);
    uint64_t term;
    int leader = leader_of(s, &term);
    ck_assert_int_ge(leader, 0);
    sim_disconnect(s, (size_t)leader);
    /* One election timeout is election_ticks (20) to 2 * election_ticks ticks of 10 ms. */
    uint64_t t0 = sim_now(s), stepped = 0;
    for (int k = 0; k < 100; k++) {
        sim_run_for(s, 10);
        uint64_t t;
        if (!sim_get_state(s, (size_t)leader, &t)) {
            stepped = sim_now(s) - t0;
            break;
        }
    }
    ck_assert_msg(stepped > 0 && stepped <= 400, "leader still leads %llu ms after losing its "
                  "majority", (unsigned long long)(sim_now(s) - t0));
    printf("  check-quorum: the isolated leader stepped down after %llu ms\n",
           (unsigned long long)stepped);
    sim_free(s);
}
END_TEST

/* ReadIndex: a new leader refuses reads until it has committed in its term; a read on the
 * leader is confirmed by one heartbeat round (a few ms, no log entry); a read on a leader cut
 * off from its majority is never confirmed, and is dropped when it steps down. */
START_TEST(read_index_needs_a_quorum)
{
    struct sim *s = cluster(13);
    uint64_t term;
    int leader = leader_of(s, &term);
    ck_assert_int_ge(leader, 0);
    ck_assert_int_eq(sim_read(s, (size_t)leader), RAFT_ERR_NOT_READY); /* nothing committed yet */
    ck_assert_int_eq(sim_read(s, ((size_t)leader + 1) % 3), RAFT_ERR_NOT_LEADER);
    ck_assert_int_ge(h_one_int(s, 7, 3, false), 1);
    ck_assert_int_eq(sim_read(s, (size_t)leader), RAFT_OK);
    ck_assert_uint_eq(sim_reads_confirmed(s), 0); /* not before the followers answer */
    sim_run_for(s, 5);                             /* messages take 1 ms each way */
    ck_assert_uint_eq(sim_reads_confirmed(s), 1);
    uint64_t entries = sim_max_index(s);

    sim_disconnect(s, (size_t)leader);
    ck_assert_int_eq(sim_read(s, (size_t)leader), RAFT_OK); /* it still believes it leads */
    sim_run_for(s, 1000);
    uint64_t t;
    ck_assert(!sim_get_state(s, (size_t)leader, &t)); /* stepped down (check-quorum) */
    ck_assert_uint_eq(sim_reads_confirmed(s), 1);     /* the read was never confirmed */
    ck_assert_uint_eq(sim_max_index(s), entries);     /* and reads added no log entries */
    ck_assert(!sim_failed(s));
    sim_free(s);
}
END_TEST

/* ---- recovery of a lost store ------------------------------------------------------------ */

/* Election safety, checked after every event: one leader per term, ever. */
struct one_leader { uint32_t leader_of[1024]; };

static void check_one_leader_per_term(struct sim *s, void *arg)
{
    struct one_leader *c = arg;
    for (size_t i = 0; i < sim_n(s); i++) {
        const struct raft *r = sim_raft(s, i);
        if (!r || raft_soft_state(r).role != RAFT_LEADER)
            continue;
        uint64_t t = raft_soft_state(r).term;
        if (t >= 1024)
            continue;
        if (c->leader_of[t] && c->leader_of[t] != raft_id(r))
            sim_fail(s, "election safety: term %llu has leaders %u and %u", (unsigned long long)t,
                     c->leader_of[t], raft_id(r));
        c->leader_of[t] = raft_id(r);
    }
}

/* Set RECOVERY_OFF=1 to run these with the lost store replaced by a node that starts as new (as
 * before recovery existed): both must then fail. */
static bool recovery_on(void) { return getenv("RECOVERY_OFF") == NULL; }

/* The node that replaces a lost store is silent until it knows every other member's term: with
 * one member unreachable it acknowledges nothing (the leader commits nothing with it), accepts
 * no entry and grants no vote; once that member answers it follows the leader and, once its
 * log holds an entry of a term above all it learnt, votes again with every committed entry. */
START_TEST(recovering_node_waits_for_every_term)
{
    struct sim *s = cluster(21);
    uint64_t term;
    int x = leader_of(s, &term);
    ck_assert_int_ge(x, 0);
    size_t a = ((size_t)x + 1) % 3, c = ((size_t)x + 2) % 3;
    ck_assert_int_ge(h_one_int(s, 101, 3, false), 1);
    sim_crash(s, c);
    sim_restart_empty(s, a, recovery_on());
    uint64_t commit0 = raft_hard_state(sim_raft(s, (size_t)x)).commit;
    uint64_t index, t;
    struct cmd cm = cmd_int(102);
    ck_assert(sim_start(s, (size_t)x, cm.b, 8, &index, &t));
    sim_run_for(s, 3000);
    struct raft_hard_state hs = raft_hard_state(sim_raft(s, a));
    ck_assert_msg(raft_hard_state(sim_raft(s, (size_t)x)).commit == commit0,
                  "the leader committed with the new node's acknowledgement");
    ck_assert_uint_eq(raft_last_index(sim_raft(s, a)), 0); /* accepted nothing */
    ck_assert_uint_eq(hs.vote, RAFT_NONE);                  /* voted for nobody */
    ck_assert_msg(hs.recovering && hs.recover_term == 0, "the new node is not probing");
    sim_restart(s, c);
    sim_run_for(s, 5000);
    ck_assert_int_ge(h_one_int(s, 103, 3, true), 1);
    sim_run_for(s, 1000);
    ck_assert(!raft_recovering(sim_raft(s, a)));
    ck_assert_uint_ge(raft_last_index(sim_raft(s, a)), index);
    ck_assert(!sim_failed(s));
    sim_free(s);
}
END_TEST

/* The scenario of docs/RAFT.md: A votes for C in term V and C wins V while X still leads at
 * L < V in a partition; A loses its store and comes back on X's side. Were it to start as new,
 * X would commit with A's acknowledgement and win V with A's vote (two leaders in V) or win an
 * earlier term and commit what C then overwrites. Recovering, A waits for C's term. */
START_TEST(lost_vote_cannot_make_two_leaders)
{
    struct sim_opts o = { .n = 3, .seed = 22, .no_check_quorum = true };
    struct sim *s = sim_new(&o);
    struct one_leader *ol = xcalloc(1, sizeof *ol);
    sim_set_observer(s, check_one_leader_per_term, ol);
    sim_run_for(s, 2000);
    uint64_t l;
    int x = leader_of(s, &l);
    ck_assert_int_ge(x, 0);
    ck_assert_int_ge(h_one_int(s, 201, 3, false), 1);
    int group[3] = { 1, 1, 1 };
    group[x] = 0;
    sim_partition(s, group);
    sim_run_for(s, 3000);
    /* One of the two others now leads at V > L: call it C, and A the one that voted for it. */
    size_t c = SIZE_MAX, a = SIZE_MAX;
    for (size_t i = 0; i < 3; i++) {
        uint64_t t;
        if ((int)i != x && sim_get_state(s, i, &t))
            c = i;
    }
    ck_assert_uint_ne(c, SIZE_MAX);
    a = 3 - (size_t)x - c;
    uint64_t v;
    sim_get_state(s, c, &v);
    ck_assert_uint_gt(v, l);
    uint64_t xt;
    ck_assert(sim_get_state(s, (size_t)x, &xt) && xt == l); /* X still leads at L */
    sim_restart_empty(s, a, recovery_on());
    group[a] = 0;
    sim_partition(s, group); /* {X, A} | {C} */
    uint64_t index, t;
    struct cmd cm = cmd_int(202);
    ck_assert(sim_start(s, (size_t)x, cm.b, 8, &index, &t));
    sim_run_for(s, 1000);
    /* X restarts (a new leadership would give it fresh progress for A) and campaigns */
    sim_restart(s, (size_t)x);
    sim_run_for(s, 5000);
    ck_assert_msg(!sim_failed(s), "%s", sim_failure(s));
    for (size_t i = 0; i < 3; i++) {
        uint64_t tt;
        ck_assert_msg(i == c || !sim_get_state(s, i, &tt), "node %zu leads in term %llu beside "
                      "C (term %llu)", i, (unsigned long long)tt, (unsigned long long)v);
    }
    ck_assert_uint_eq(h_n_committed(s, index), 0);
    /* Healed: everything converges, A recovers, and it can be elected (C and X stopped in turn) */
    for (size_t i = 0; i < 3; i++)
        sim_connect(s, i);
    sim_run_for(s, 3000);
    ck_assert_int_ge(h_one_int(s, 203, 3, true), 1);
    sim_run_for(s, 1000);
    ck_assert(!raft_recovering(sim_raft(s, a)));
    int lead = leader_of(s, &t);
    ck_assert_int_ge(lead, 0);
    if ((size_t)lead != a) {
        sim_disconnect(s, (size_t)lead);
        sim_run_for(s, 3000);
        lead = leader_of(s, &t);
        ck_assert_int_ge(lead, 0);
        ck_assert_msg((size_t)lead == a, "the recovered node was not elected (leader %d)", lead);
    }
    ck_assert_msg(!sim_failed(s), "%s", sim_failure(s));
    free(ol);
    sim_free(s);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("raft_focused");
    TCase *tc = tcase_create("focused");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, backtracking_skips_whole_terms);
    tcase_add_test(tc, prevote_rejoin_keeps_term);
    tcase_add_test(tc, checkquorum_leader_steps_down);
    tcase_add_test(tc, read_index_needs_a_quorum);
    tcase_add_test(tc, large_entry_on_a_slow_link_is_sent_once);
    tcase_add_test(tc, grace_holds_off_elections_for_its_length_only);
    tcase_add_test(tc, recovering_node_waits_for_every_term);
    tcase_add_test(tc, lost_vote_cannot_make_two_leaders);
    suite_add_tcase(s, tc);
    return s;
}
