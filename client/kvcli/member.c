/* kvcli member / leader: the membership administration of any Raft daemon (member.h). */
#include "member.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/util.h"
#include "node.pb-c.h"
#include "rpc/rpc.h"

#define CALL_MS 5000
#define RETRY_MS 200

struct admin {
    char **servers;
    size_t n;
    uint64_t deadline; /* clock_mono_ms() */
    bool json;
};

static void pause_ms(uint64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Calls method on each server in turn (from servers[first % n]) until one answers; RPC_OK
 * with *reply (malloc'd), or the last failure with why. */
static enum rpc_status call_from(const struct admin *a, size_t first, const char *method,
                                 const uint8_t *req, size_t len, uint8_t **reply, size_t *rlen,
                                 char *why, size_t whylen)
{
    enum rpc_status st = RPC_UNREACHABLE;
    snprintf(why, whylen, "no server given");
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (first + k) % a->n;
        char err[256];
        struct rpc_sync *s = rpc_sync_new(a->servers[i], err, sizeof err);
        if (!s) {
            snprintf(why, whylen, "%s: %s", a->servers[i], err);
            continue;
        }
        char *error = NULL;
        st = rpc_sync_call(s, method, req, len, CALL_MS, reply, rlen, &error);
        rpc_sync_free(s);
        if (st == RPC_OK)
            return st;
        snprintf(why, whylen, "%s: %s%s%s", a->servers[i],
                 st == RPC_UNKNOWN_METHOD ? "not a Raft daemon of this version"
                                          : rpc_status_name(st),
                 error && error[0] ? ": " : "", error ? error : "");
        free(error);
    }
    return st;
}

static Node__MembersReply *fetch_members(const struct admin *a, char *why, size_t whylen)
{
    Node__MembersRequest q = NODE__MEMBERS_REQUEST__INIT;
    uint8_t req[8], *rep = NULL;
    size_t len = node__members_request__pack(&q, req), rlen = 0;
    if (call_from(a, 0, "node.Members", req, len, &rep, &rlen, why, whylen) != RPC_OK)
        return NULL;
    Node__MembersReply *r = node__members_reply__unpack(NULL, rlen, rep);
    free(rep);
    if (!r)
        snprintf(why, whylen, "a malformed node.Members reply");
    return r;
}

static const Node__Member *find(const Node__MembersReply *r, uint32_t id)
{
    for (size_t i = 0; i < r->n_members; i++)
        if (r->members[i]->id == id)
            return r->members[i];
    return NULL;
}

static void print_members(const Node__MembersReply *r, bool json)
{
    if (json) {
        printf("{\"leader\":%u,\"config_index\":%llu,\"committed\":%s,\"members\":[", r->leader_id,
               (unsigned long long)r->config_index, r->committed ? "true" : "false");
        for (size_t i = 0; i < r->n_members; i++) {
            const Node__Member *m = r->members[i];
            printf("%s{\"id\":%u,\"addr\":\"%s\",\"voter\":%s,\"match\":%llu}", i ? "," : "",
                   m->id, m->addr, m->learner ? "false" : "true",
                   (unsigned long long)m->match_index);
        }
        printf("]}\n");
        return;
    }
    printf("%-6s %-28s %-8s %s\n", "id", "address", "role", "match");
    for (size_t i = 0; i < r->n_members; i++) {
        const Node__Member *m = r->members[i];
        printf("%-6u %-28s %-8s %llu\n", m->id, m->addr[0] ? m->addr : "?",
               m->id == r->leader_id ? "leader" : m->learner ? "learner" : "voter",
               (unsigned long long)m->match_index);
    }
    printf("membership of index %llu, %s\n", (unsigned long long)r->config_index,
           r->committed ? "committed" : "not committed yet");
}

static int cmd_list(const struct admin *a)
{
    char why[512];
    Node__MembersReply *r = fetch_members(a, why, sizeof why);
    if (!r) {
        fprintf(stderr, "kvcli: %s\n", why);
        return 1;
    }
    print_members(r, a->json);
    int rc = r->leader_id ? 0 : 1;
    if (!r->leader_id)
        fprintf(stderr, "kvcli: no leader known to member %u\n", r->answered_by);
    node__members_reply__free_unpacked(r, NULL);
    return rc;
}

/* Whether the membership shows the change made (for an answer that could not say). */
static bool change_visible(const struct admin *a, uint32_t op, uint32_t id)
{
    char why[512];
    Node__MembersReply *r = fetch_members(a, why, sizeof why);
    if (!r)
        return false;
    const Node__Member *m = find(r, id);
    bool seen = r->committed && (op == 2 ? !m : op == 1 ? m && !m->learner : m != NULL);
    node__members_reply__free_unpacked(r, NULL);
    return seen;
}

/* Makes an admin call until it succeeds, fails for good, or the deadline passes: BUSY, LAGGING
 * and NOT_LEADER (a leader change under way) are retried. Returns the last reply (or NULL with
 * why). */
static Node__AdminReply *admin_call(const struct admin *a, const char *method, const uint8_t *req,
                                    size_t len, char *why, size_t whylen)
{
    for (size_t attempt = 0;; attempt++) {
        uint8_t *rep = NULL;
        size_t rlen = 0;
        Node__AdminReply *r = NULL;
        /* (each attempt starts at the next server: one that knows no leader is not asked
         * again first) */
        if (call_from(a, attempt, method, req, len, &rep, &rlen, why, whylen) == RPC_OK) {
            r = node__admin_reply__unpack(NULL, rlen, rep);
            free(rep);
            if (!r)
                snprintf(why, whylen, "a malformed %s reply", method);
        }
        bool retry = !r || r->status == NODE__ADMIN_STATUS__ADMIN_BUSY ||
                     r->status == NODE__ADMIN_STATUS__ADMIN_LAGGING ||
                     r->status == NODE__ADMIN_STATUS__ADMIN_NOT_LEADER;
        if (!retry || clock_mono_ms() + RETRY_MS >= a->deadline)
            return r;
        if (r) {
            snprintf(why, whylen, "%s", r->error[0] ? r->error : "no leader");
            node__admin_reply__free_unpacked(r, NULL);
        }
        pause_ms(RETRY_MS);
    }
}

/* ID or ID=HOST:PORT. Returns 0, or -1 (printed). */
static int parse_member(const char *arg, bool with_addr, uint32_t *id, const char **addr)
{
    char *end;
    unsigned long v = strtoul(arg, &end, 10);
    const char *rest = *end == '=' ? end + 1 : NULL;
    char host[256];
    uint16_t port;
    bool ok = end != arg && v > 0 && v <= UINT32_MAX &&
              (with_addr ? rest && parse_host_port(rest, host, sizeof host, &port) == 0 && port
                         : *end == '\0');
    if (!ok) {
        fprintf(stderr, "kvcli: bad member '%s' (expected %s)\n", arg,
                with_addr ? "ID=HOST:PORT with ID >= 1" : "an ID >= 1");
        return -1;
    }
    *id = (uint32_t)v;
    if (addr)
        *addr = rest;
    return 0;
}

static int cmd_change(const struct admin *a, uint32_t op, const char *arg)
{
    Node__ChangeMemberRequest q = NODE__CHANGE_MEMBER_REQUEST__INIT;
    const char *addr = NULL;
    if (parse_member(arg, op == 0, &q.id, &addr) != 0)
        return 2;
    q.op = op;
    q.addr = (char *)(addr ? addr : "");
    size_t len = node__change_member_request__get_packed_size(&q);
    uint8_t *req = xmalloc(len + 1);
    node__change_member_request__pack(&q, req);
    char why[512];
    Node__AdminReply *r = admin_call(a, "node.ChangeMember", req, len, why, sizeof why);
    free(req);
    static const char *const done[] = { "added as a learner", "promoted to voter", "removed" };
    int rc = 1;
    if (r && (r->status == NODE__ADMIN_STATUS__ADMIN_OK ||
              (r->status == NODE__ADMIN_STATUS__ADMIN_UNCERTAIN && change_visible(a, op, q.id)))) {
        printf("member %u %s\n", q.id, done[op]);
        if (r->members)
            print_members(r->members, a->json);
        rc = 0;
    } else if (r) {
        fprintf(stderr, "kvcli: member %u not %s: %s\n", q.id, done[op],
                r->error[0] ? r->error : "refused");
    } else {
        fprintf(stderr, "kvcli: member %u not %s: %s\n", q.id, done[op], why);
    }
    if (r)
        node__admin_reply__free_unpacked(r, NULL);
    return rc;
}

static int cmd_transfer(const struct admin *a, const char *arg)
{
    Node__TransferLeaderRequest q = NODE__TRANSFER_LEADER_REQUEST__INIT;
    if (parse_member(arg, false, &q.id, NULL) != 0)
        return 2;
    uint8_t req[16];
    size_t len = node__transfer_leader_request__pack(&q, req);
    char why[512];
    uint64_t t0 = clock_mono_ms();
    Node__AdminReply *r = admin_call(a, "node.TransferLeader", req, len, why, sizeof why);
    int rc = 1;
    if (r && r->status == NODE__ADMIN_STATUS__ADMIN_OK) {
        printf("leadership handed to member %u (%llu ms)\n", q.id,
               (unsigned long long)(clock_mono_ms() - t0));
        rc = 0;
    } else {
        fprintf(stderr, "kvcli: leadership not handed to member %u: %s\n", q.id,
                r ? (r->error[0] ? r->error : "refused") : why);
    }
    if (r)
        node__admin_reply__free_unpacked(r, NULL);
    return rc;
}

int member_main(const char *cmd, char **args, int nargs, char **servers, size_t n,
                uint64_t timeout_ms, bool json)
{
    struct admin a = { servers, n, clock_mono_ms() + timeout_ms, json };
    const char *sub = nargs > 0 ? args[0] : "";
    if (strcmp(cmd, "leader") == 0)
        return strcmp(sub, "transfer") == 0 && nargs == 2 ? cmd_transfer(&a, args[1]) : -1;
    if (strcmp(sub, "list") == 0 && nargs == 1)
        return cmd_list(&a);
    if (nargs != 2)
        return -1;
    if (strcmp(sub, "add") == 0)
        return cmd_change(&a, 0, args[1]);
    if (strcmp(sub, "promote") == 0)
        return cmd_change(&a, 1, args[1]);
    if (strcmp(sub, "remove") == 0)
        return cmd_change(&a, 2, args[1]);
    return -1;
}
