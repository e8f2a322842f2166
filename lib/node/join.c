#include "node/join.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "node.pb-c.h"
#include "rpc/rpc.h"

#define JOIN_CALL_MS 2000
#define JOIN_RETRY_MS 500
#define JOIN_LOG_MS 5000

/* The members in reply, into *peers; JOIN_NOT_MEMBER when self is not among them. */
static enum join_result members_of(const Node__MembersReply *r, uint32_t self,
                                   struct node_peer **peers, size_t *n, char *err, size_t errlen)
{
    bool member = false;
    struct node_peer *p = xcalloc(r->n_members + 1, sizeof *p);
    for (size_t i = 0; i < r->n_members; i++) {
        p[i].id = r->members[i]->id;
        snprintf(p[i].addr, sizeof p[i].addr, "%s", r->members[i]->addr);
        member |= p[i].id == self;
    }
    if (!member) {
        free(p);
        snprintf(err, errlen, "node %u is not a member of the cluster (as member %u answered): "
                 "add it first, e.g. kvcli member add %u=HOST:PORT", self, r->answered_by, self);
        return JOIN_NOT_MEMBER;
    }
    *peers = p;
    *n = r->n_members;
    return JOIN_OK;
}

/* One try at addr: JOIN_OK, JOIN_NOT_MEMBER, or JOIN_UNREACHABLE (err says why). */
static enum join_result ask(const char *addr, uint32_t self, struct node_peer **peers, size_t *n,
                            char *err, size_t errlen)
{
    struct rpc_sync *s = rpc_sync_new(addr, err, errlen);
    if (!s)
        return JOIN_UNREACHABLE;
    Node__MembersRequest q = NODE__MEMBERS_REQUEST__INIT;
    uint8_t req[16], *reply = NULL;
    size_t len = node__members_request__pack(&q, req), rlen = 0;
    char *why = NULL;
    enum rpc_status st = rpc_sync_call(s, "node.Members", req, len, JOIN_CALL_MS, &reply, &rlen,
                                       &why);
    rpc_sync_free(s);
    if (st != RPC_OK) {
        snprintf(err, errlen, "%s: %s%s%s", addr, rpc_status_name(st), why ? ": " : "",
                 why ? why : "");
        free(why);
        return JOIN_UNREACHABLE;
    }
    Node__MembersReply *r = node__members_reply__unpack(NULL, rlen, reply);
    free(reply);
    enum join_result res = JOIN_UNREACHABLE;
    if (r && r->leader_id != 0) /* a leader's view, or a member that knows one */
        res = members_of(r, self, peers, n, err, errlen);
    else
        snprintf(err, errlen, "%s %s", addr, r ? "knows no leader yet" : "sent a malformed reply");
    if (r)
        node__members_reply__free_unpacked(r, NULL);
    return res;
}

enum join_result node_join_fetch(const char *list, uint32_t self, uint64_t wait_ms,
                                 struct node_peer **peers, size_t *n, char *err, size_t errlen)
{
    char **addrs;
    size_t na = split_list(list, &addrs);
    uint64_t t0 = clock_mono_ms();
    enum join_result res = JOIN_UNREACHABLE;
    snprintf(err, errlen, "no member given");
    uint64_t logged = 0; /* when the last failure was logged (0: never) */
    for (;;) {
        for (size_t i = 0; i < na && res == JOIN_UNREACHABLE; i++)
            res = ask(addrs[i], self, peers, n, err, errlen);
        uint64_t now = clock_mono_ms();
        if (res != JOIN_UNREACHABLE || now - t0 >= wait_ms)
            break;
        /* Say why while waiting (a member down, or refusing this node's certificate), once
         * at first and then every JOIN_LOG_MS: the wait may last JOIN_WAIT_MS. */
        if (!logged || now - logged >= JOIN_LOG_MS) {
            LOG_WARN("node", "--join: no member answered yet (%s); retrying for %.0f s more", err,
                     (double)(wait_ms - (now - t0)) / 1000.0);
            logged = now;
        }
        struct timespec ts = { 0, JOIN_RETRY_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    strv_free(addrs, na);
    return res;
}
