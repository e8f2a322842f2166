/* lib/raft's configuration check (raft_config_check), which raft_new and the daemons' option
 * validation share. */
#include <check.h>
#include <string.h>

#include "raft/raft.h"

static const uint32_t peers[] = { 1, 2, 3 };

static void valid(struct raft_config *c)
{
    raft_config_default(c);
    c->id = 1;
    c->peers = peers;
    c->n_peers = 3;
}

/* A membership state that does not parse (a corrupted store) is refused, not guessed at. */
START_TEST(test_corrupted_membership_refused)
{
    struct raft_config c;
    valid(&c);
    struct raft_init init;
    memset(&init, 0, sizeof init);
    init.conf = (const uint8_t *)"\x01garbage";
    init.conf_len = 8;
    ck_assert_ptr_null(raft_new(&c, &init));
    init.conf = NULL; /* none stored: the initial members */
    struct raft *r = raft_new(&c, &init);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(raft_membership(r)->n, 3);
    raft_free(r);
}
END_TEST

/* A node that joins a running cluster starts with no members: it learns them from the leader. */
START_TEST(test_no_members_is_a_joining_node)
{
    struct raft_config c;
    valid(&c);
    c.n_peers = 0;
    char err[128] = "";
    ck_assert_int_eq(raft_config_check(&c, err, sizeof err), 0);
}
END_TEST

START_TEST(test_defaults_pass)
{
    struct raft_config c;
    valid(&c);
    char err[128] = "";
    ck_assert_int_eq(raft_config_check(&c, err, sizeof err), 0);
    ck_assert_uint_eq(c.election_ticks, RAFT_DEFAULT_ELECTION_TICKS);
    ck_assert_uint_eq(c.heartbeat_ticks, RAFT_DEFAULT_HEARTBEAT_TICKS);
    ck_assert_uint_gt(RAFT_DEFAULT_ELECTION_TICKS, RAFT_DEFAULT_HEARTBEAT_TICKS);
}
END_TEST

/* Each bad field is refused with a message naming it, and raft_new refuses it too. */
static void refused(const struct raft_config *c, const char *field)
{
    char err[128] = "";
    ck_assert_int_eq(raft_config_check(c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, field), "message '%s' does not name %s", err, field);
    struct raft_init init;
    memset(&init, 0, sizeof init);
    ck_assert_ptr_null(raft_new(c, &init));
}

START_TEST(test_bad_fields_refused)
{
    struct raft_config c;
    valid(&c);
    c.election_ticks = c.heartbeat_ticks;
    refused(&c, "election_ticks");
    valid(&c);
    c.heartbeat_ticks = 0;
    refused(&c, "heartbeat_ticks");
    valid(&c);
    c.id = RAFT_NONE;
    refused(&c, "id");
    valid(&c);
    c.n_peers = RAFT_MAX_MEMBERS + 1;
    refused(&c, "members");
    static const uint32_t twice[] = { 1, 2, 2 };
    valid(&c);
    c.peers = twice;
    refused(&c, "peers");
    valid(&c);
    c.max_inflight = 0;
    refused(&c, "max_inflight");
    valid(&c);
    c.snapshot_chunk = 0;
    refused(&c, "snapshot_chunk");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("raft_config");
    TCase *tc = tcase_create("raft_config");
    tcase_add_test(tc, test_defaults_pass);
    tcase_add_test(tc, test_bad_fields_refused);
    tcase_add_test(tc, test_no_members_is_a_joining_node);
    tcase_add_test(tc, test_corrupted_membership_refused);
    suite_add_tcase(s, tc);
    return s;
}
