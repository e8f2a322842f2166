/* raftcli: propose to a raftd cluster, read its committed log, show its status.
 *   raftcli [--servers HOST:PORT,...] [--timeout D] propose DATA | log FROM [MAX] | status */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/util.h"
#include "raft/raft.h" /* RAFT_ENTRY_CONFIG */
#include "node.pb-c.h"
#include "../raftclerk/raftclerk.h"
#include "raftd.pb-c.h"
#include "rpc/rpc.h"
#include "tlsopt/tlsopt.h"

struct opts {
    char *servers;
    uint64_t timeout_ms;
    struct tls_opts tls;
};

static const struct config_option options[] = {
    { "", "servers", "servers", CONFIG_STRING, offsetof(struct opts, servers),
      "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", 0, 0, "raftd nodes, comma-separated" },
    { "", "timeout", "timeout", CONFIG_DURATION, offsetof(struct opts, timeout_ms), "10s", 1,
      86400000, "give up after this long" },
    TLS_CONFIG_OPTIONS("", "tls_", struct opts, tls),
};

static const struct config_spec spec = {
    "raftcli", "[OPTION]... propose DATA | log FROM [MAX] | status",
    "Talks to a raftd cluster. propose: appends DATA and prints the index and term it committed "
    "at. log: prints committed entries from index FROM, as known to the most up-to-date server "
    "(so a log right after a propose shows it). status: one row per node. Exit status: 0 "
    "success, 1 no answer within the timeout (or a TLS refusal, named), 2 usage error (a partial "
    "set of --tls-cert, --tls-key, --tls-ca or a bad file among them). With the three (or "
    "$RAFTKV_TLS_CERT, $RAFTKV_TLS_KEY, $RAFTKV_TLS_CA) every connection is mutual TLS.",
    options, ARRAY_LEN(options),
};

struct cluster {
    char **addrs;
    size_t n;
};

static void split_servers(const char *list, struct cluster *c)
{
    c->n = split_list(list, &c->addrs);
}

/* One call to one server; returns the status and the reply (malloc'd) on RPC_OK, else, when
 * why is not NULL, the reason in *why (malloc'd, or NULL). */
static enum rpc_status call(const char *addr, const char *method, const ProtobufCMessage *req,
                            uint64_t timeout_ms, uint8_t **reply, size_t *len, char **why)
{
    char err[256];
    struct rpc_sync *s = rpc_sync_new(addr, err, sizeof err);
    if (why)
        *why = NULL;
    if (!s) {
        if (why)
            *why = xstrdup(err);
        return RPC_DISCONNECTED;
    }
    uint8_t *buf = NULL;
    size_t n = 0;
    if (req) {
        n = protobuf_c_message_get_packed_size(req);
        buf = xmalloc(n + 1);
        protobuf_c_message_pack(req, buf);
    }
    enum rpc_status st = rpc_sync_call(s, method, buf, n, timeout_ms, reply, len, why);
    free(buf);
    rpc_sync_free(s);
    return st;
}

static int cmd_status(const struct cluster *c, uint64_t timeout_ms)
{
    printf("%-4s %-22s %-13s %6s %6s %8s %8s %8s %8s  %s\n", "id", "address", "role", "term",
           "leader", "commit", "applied", "last", "snapshot", "applied hash");
    Raftd__StatusRequest req = RAFTD__STATUS_REQUEST__INIT;
    for (size_t i = 0; i < c->n; i++) {
        uint8_t *rep;
        size_t len;
        char *why;
        if (call(c->addrs[i], "raftd.Status", &req.base, MIN(timeout_ms, 2000), &rep, &len, &why) != RPC_OK) {
            printf("%-4s %-22s unreachable%s%s\n", "-", c->addrs[i], why ? ": " : "", why ? why : "");
            free(why);
            continue;
        }
        Node__Status *s = node__status__unpack(NULL, len, rep);
        free(rep);
        if (!s)
            continue;
        printf("%-4u %-22s %-13s %6llu %6u %8llu %8llu %8llu %8llu  %016llx\n", s->id, c->addrs[i],
               s->role, (unsigned long long)s->term, s->leader_id,
               (unsigned long long)s->commit_index, (unsigned long long)s->applied_index,
               (unsigned long long)s->last_index, (unsigned long long)s->snapshot_index,
               (unsigned long long)s->applied_hash);
        node__status__free_unpacked(s, NULL);
    }
    return 0;
}

/* Proposes through the clerk engine (client/raftclerk): it tries servers until a leader
 * accepts, following leader hints, until the deadline. */
static int cmd_propose(const struct cluster *c, const char *data, uint64_t timeout_ms)
{
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = timeout_ms;
    /* As kvcli: when no server can be reached at all (refused, unresolvable, a TLS refusal),
     * say why within a second rather than at the deadline. */
    o.fail_fast_ms = MIN(timeout_ms, 1000);
    char err[256];
    struct raftclerk_sync *s = raftclerk_sync_new((const char *const *)c->addrs, c->n, &o, err,
                                                  sizeof err);
    if (!s) {
        fprintf(stderr, "raftcli: %s\n", err);
        return 2;
    }
    Raftd__ProposeReply *r = NULL;
    enum clerk_result res = raftclerk_sync_propose(s, (const uint8_t *)data, strlen(data), &r);
    int rc = 1;
    if (res == CLERK_OK) {
        printf("committed at index %llu, term %llu (hash %016llx)\n", (unsigned long long)r->index,
               (unsigned long long)r->term, (unsigned long long)r->applied_hash);
        raftd__propose_reply__free_unpacked(r, NULL);
        rc = 0;
    } else if (res == CLERK_NO_SPACE || res == CLERK_TOO_LARGE || res == CLERK_UNREACHABLE) {
        fprintf(stderr, "raftcli: %s\n", clerk_engine_error(raftclerk_sync_engine(s)));
    } else {
        fprintf(stderr, "raftcli: no leader accepted the proposal within the timeout\n");
    }
    raftclerk_sync_free(s);
    return rc;
}

/* Asks every server and prints the reply of the one that knows the most committed entries
 * (the highest commit index; every node's committed log is a prefix of the longest one): a
 * follower learns a commit only with the leader's next message, so the first server to answer
 * may lag behind a proposal that just returned. */
static int cmd_log(const struct cluster *c, uint64_t from, uint32_t max, uint64_t timeout_ms)
{
    Raftd__ReadLogRequest req = RAFTD__READ_LOG_REQUEST__INIT;
    req.from = from;
    req.max = max;
    Raftd__ReadLogReply *best = NULL;
    for (size_t i = 0; i < c->n; i++) {
        uint8_t *rep;
        size_t len;
        if (call(c->addrs[i], "raftd.ReadLog", &req.base, MIN(timeout_ms, 2000), &rep, &len, NULL) != RPC_OK)
            continue;
        Raftd__ReadLogReply *r = raftd__read_log_reply__unpack(NULL, len, rep);
        free(rep);
        if (r && (!best || r->commit_index > best->commit_index)) {
            if (best)
                raftd__read_log_reply__free_unpacked(best, NULL);
            best = r;
        } else if (r) {
            raftd__read_log_reply__free_unpacked(r, NULL);
        }
    }
    if (!best) {
        fprintf(stderr, "raftcli: no server answered\n");
        return 1;
    }
    if (best->compacted)
        printf("(entries up to %llu are compacted into a snapshot)\n",
               (unsigned long long)best->snapshot_index);
    for (size_t k = 0; k < best->n_entries; k++) {
        const Raftd__LogEntry *e = best->entries[k];
        if (e->type == RAFT_ENTRY_CONFIG) /* binary (lib/raft/membership.h): not the user's */
            printf("%llu\t%llu\t(membership change)\n", (unsigned long long)e->index,
                   (unsigned long long)e->term);
        else
            printf("%llu\t%llu\t%.*s\n", (unsigned long long)e->index, (unsigned long long)e->term,
                   (int)e->data.len, (const char *)e->data.data);
    }
    raftd__read_log_reply__free_unpacked(best, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    struct rpc_tls *tls = NULL;
    if (tls_opts_setup("raftcli", &o.tls, &tls) != 0) {
        config_free(&spec, &o);
        return 2;
    }
    struct cluster c = { 0 };
    split_servers(o.servers, &c);
    int rc = 2;
    const char *cmd = first < argc ? argv[first] : "";
    int nargs = argc - first - 1;
    uint64_t from, max = 100;
    if (c.n == 0)
        fprintf(stderr, "raftcli: --servers is empty\n");
    else if (strcmp(cmd, "status") == 0 && nargs == 0)
        rc = cmd_status(&c, o.timeout_ms);
    else if (strcmp(cmd, "propose") == 0 && nargs == 1)
        rc = cmd_propose(&c, argv[first + 1], o.timeout_ms);
    else if (strcmp(cmd, "log") == 0 && nargs >= 1 && nargs <= 2 &&
             parse_u64(argv[first + 1], &from) == 0 &&
             (nargs == 1 || parse_u64(argv[first + 2], &max) == 0) && max <= 10000)
        rc = cmd_log(&c, from, (uint32_t)max, o.timeout_ms);
    else
        fprintf(stderr, "raftcli: usage: raftcli [OPTION]... propose DATA | log FROM [MAX] | status "
                        "(see --help)\n");
    for (size_t i = 0; i < c.n; i++)
        free(c.addrs[i]);
    free(c.addrs);
    tls_opts_teardown(tls);
    config_free(&spec, &o);
    return rc;
}
