/* lib/node/health.c: the rules of /healthz and /readyz, one fact at a time (the cluster test,
 * test/metrics/test-metrics.sh, shows them on real processes). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "node/health.h"
#include "raft/raft.h"

/* A healthy, ready follower of leader 2. */
static struct node_health_facts follower(void)
{
    return (struct node_health_facts){
        .self = 1, .leader = 2, .window_ms = 1000, .leader_heard_ago_ms = 50,
        .voters_heard = 1, .quorum = 2, .voter = true, .commit = 10, .applied = 10,
        .apply_ok_ago_ms = 0, .ready_index = 8,
    };
}

static int judge(const struct node_health_facts *f, bool ready, char *why)
{
    why[0] = '\0';
    return node_health_judge(f, ready, why, 256);
}

START_TEST(test_healthy_follower_and_leader)
{
    char why[256];
    struct node_health_facts f = follower();
    ck_assert_int_eq(judge(&f, false, why), 0);
    ck_assert_int_eq(judge(&f, true, why), 0);
    f.leader = 1; /* the leader, with a quorum heard (itself and one more) */
    f.voters_heard = 2;
    f.leader_heard_ago_ms = UINT64_MAX; /* never heard "the leader": it is the leader */
    ck_assert_int_eq(judge(&f, true, why), 0);
}
END_TEST

START_TEST(test_no_leader)
{
    char why[256];
    struct node_health_facts f = follower();
    f.leader = RAFT_NONE;
    ck_assert_int_eq(judge(&f, false, why), 1);
    ck_assert_str_eq(why, "no leader known");
}
END_TEST

/* A follower cut off still names its old leader: only the time since it heard from it tells. */
START_TEST(test_follower_that_has_not_heard_its_leader)
{
    char why[256];
    struct node_health_facts f = follower();
    f.leader_heard_ago_ms = 1000; /* the window itself: still fine */
    ck_assert_int_eq(judge(&f, false, why), 0);
    f.leader_heard_ago_ms = 1001;
    ck_assert_int_eq(judge(&f, false, why), 1);
    ck_assert_str_eq(why, "leader 2 not heard from for 1001 ms (0: never)");
    f.leader_heard_ago_ms = UINT64_MAX;
    ck_assert_int_eq(judge(&f, true, why), 1);
}
END_TEST

/* A leader cut off may go on leading (no check-quorum, or not yet timed out). */
START_TEST(test_leader_without_quorum)
{
    char why[256];
    struct node_health_facts f = follower();
    f.leader = 1;
    f.voters_heard = 1;
    f.quorum = 2;
    ck_assert_int_eq(judge(&f, false, why), 1);
    ck_assert_str_eq(why, "leader without a quorum: voters heard from recently 1, needed 2");
    f.quorum = 1; /* a one-member cluster: itself is the quorum */
    ck_assert_int_eq(judge(&f, false, why), 0);
}
END_TEST

START_TEST(test_applying)
{
    char why[256];
    struct node_health_facts f = follower();
    f.applied = 5; /* behind, but it moved recently */
    f.apply_ok_ago_ms = NODE_APPLY_STALL_MS;
    ck_assert_int_eq(judge(&f, false, why), 0);
    f.apply_ok_ago_ms = NODE_APPLY_STALL_MS + 1;
    ck_assert_int_eq(judge(&f, false, why), 1);
    ck_assert_str_eq(why, "not applying: applied index 5 stuck below commit index 10");
    f = follower();
    f.holding = true;
    ck_assert_int_eq(judge(&f, false, why), 1);
    ck_assert(strstr(why, "no space"));
}
END_TEST

START_TEST(test_ready_needs_more_than_healthy)
{
    char why[256];
    struct node_health_facts f = follower();
    f.applied = 7; /* the leader was learned at commit 8 */
    f.apply_ok_ago_ms = 0;
    ck_assert_int_eq(judge(&f, false, why), 0);
    ck_assert_int_eq(judge(&f, true, why), 1);
    ck_assert_str_eq(why, "catching up: applied index 7, 8 needed");
    f = follower();
    f.voter = false;
    ck_assert_int_eq(judge(&f, false, why), 0);
    ck_assert_int_eq(judge(&f, true, why), 1);
    ck_assert_str_eq(why, "a learner, not yet a voter");
    f = follower();
    f.refusing_writes = true;
    ck_assert_int_eq(judge(&f, false, why), 0);
    ck_assert_int_eq(judge(&f, true, why), 1);
    ck_assert(strstr(why, "writes refused"));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("node_health");
    TCase *tc = tcase_create("node_health");
    tcase_add_test(tc, test_healthy_follower_and_leader);
    tcase_add_test(tc, test_no_leader);
    tcase_add_test(tc, test_follower_that_has_not_heard_its_leader);
    tcase_add_test(tc, test_leader_without_quorum);
    tcase_add_test(tc, test_applying);
    tcase_add_test(tc, test_ready_needs_more_than_healthy);
    suite_add_tcase(s, tc);
    return s;
}
