/* kvd's answer to a retried write: a kv.Op whose (client id, seq) is already in the leader's
 * log and not yet applied joins that entry instead of appending another copy (a clerk that
 * gives up on an attempt of a large write and sends it again used to add a full copy of the
 * value to the log each time). Real kvd processes through the test/cluster harness. */
#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "../cluster/cluster.h"
#include "kv.pb-c.h"
#include "rpc/rpc.h"

struct outcome {
    int replies, ok;
};

static void on_reply(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                     void *arg)
{
    (void)error;
    struct outcome *o = arg;
    o->replies++;
    Kv__Reply *r = st == RPC_OK ? kv__reply__unpack(NULL, len, payload) : NULL;
    if (r && r->err == KV__ERR__OK)
        o->ok++;
    if (r)
        kv__reply__free_unpacked(r, NULL);
}

static struct cluster *start(unsigned n)
{
    const char *bin = getenv("BIN");
    char daemon[512], err[512];
    snprintf(daemon, sizeof daemon, "%s/kvd", bin && *bin ? bin : "bin");
    struct cluster_opts o;
    cluster_opts_default(&o);
    o.n = n;
    o.daemon = daemon;
    o.name = "kvd-retries";
    struct cluster *c = cluster_new(&o, err, sizeof err);
    ck_assert_msg(c, "%s", err);
    return c;
}

/* Whether node i leads; if so *last gets its last log index (kv.Status). */
static bool leader_last(struct cluster *c, unsigned i, uint64_t *last)
{
    ProtobufCMessage *m = NULL;
    if (cluster_call(cluster_sync(c, i), "kv.Status", NULL, &kv__status_reply__descriptor, 2000,
                     &m) != RPC_OK)
        return false;
    Kv__StatusReply *st = (Kv__StatusReply *)m;
    bool leads = st->node && strcmp(st->node->role, "leader") == 0;
    if (leads)
        *last = st->node->last_index;
    kv__status_reply__free_unpacked(st, NULL);
    return leads;
}

START_TEST(retried_write_joins_its_pending_entry)
{
    struct cluster *c = start(3);
    unsigned leader = 0;
    uint64_t before = 0;
    for (uint64_t deadline = clock_mono_ms() + 10000; !leader && clock_mono_ms() < deadline;)
        for (unsigned i = 1; i <= 3 && !leader; i++)
            if (leader_last(c, i, &before))
                leader = i;
    ck_assert_msg(leader, "no leader within 10 s");
    /* Three copies of one write (same client id and seq), sent back to back on one
     * connection. They are small, so they arrive in one read and are handled in one loop turn,
     * before any processing: the first is proposed, the others join it. (Copies of 1 MB
     * arrive over many turns, and on a loaded machine the first could commit, through the
     * processing a tick forces while sockets stay busy, before the last arrived: then the
     * last is proposed again, correctly, and the count proves nothing either way.) */
    size_t vlen = 1000;
    uint8_t *value = xcalloc(1, vlen);
    Kv__Command cmd = KV__COMMAND__INIT;
    cmd.op = KV__OP_TYPE__PUT;
    cmd.key.data = (uint8_t *)"big";
    cmd.key.len = 3;
    cmd.value.data = value;
    cmd.value.len = vlen;
    cmd.client_id = 0x1234567;
    cmd.seq = 1;
    size_t len = kv__command__get_packed_size(&cmd);
    uint8_t *req = xmalloc(len);
    kv__command__pack(&cmd, req);
    struct event_base *base = event_base_new();
    char err[256];
    struct rpc_client *cl = rpc_client_new(base, cluster_node_addr(c, leader), NULL, err, sizeof err);
    ck_assert_msg(cl, "%s", err);
    struct outcome o = { 0, 0 };
    for (int k = 0; k < 3; k++)
        rpc_client_call(cl, "kv.Op", req, len, 10000, on_reply, &o);
    for (uint64_t deadline = clock_mono_ms() + 10000; o.replies < 3 && clock_mono_ms() < deadline;)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_eq(o.replies, 3);
    ck_assert_int_eq(o.ok, 3);
    uint64_t after = 0;
    ck_assert(leader_last(c, leader, &after));
    printf("  three copies of one write: the leader's log went from %llu to %llu\n",
           (unsigned long long)before, (unsigned long long)after);
    ck_assert_uint_eq(after, before + 1);
    rpc_client_free(cl);
    event_base_free(base);
    free(req);
    free(value);
    cluster_free(c);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kvd_retries");
    TCase *tc = tcase_create("retries");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, retried_write_joins_its_pending_entry);
    suite_add_tcase(s, tc);
    return s;
}
