/* Calls into the nodes: statuses, the bounded waits built on them, and raftd's log and
 * proposals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cluster.h"
#include "internal.h"

#define POLL_MS 20
#define STATUS_TIMEOUT_MS 500

enum rpc_status cluster_call(struct rpc_sync *s, const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *reply_desc, uint64_t timeout_ms,
                             ProtobufCMessage **reply)
{
    size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
    uint8_t *buf = xmalloc(len ? len : 1);
    if (req)
        protobuf_c_message_pack(req, buf);
    uint8_t *out = NULL;
    size_t out_len = 0;
    enum rpc_status st = rpc_sync_call(s, method, buf, len, timeout_ms, &out, &out_len, NULL);
    free(buf);
    if (st != RPC_OK)
        return st;
    *reply = protobuf_c_message_unpack(reply_desc, NULL, out_len, out);
    free(out);
    if (!*reply) {
        fprintf(stderr, "cluster: the reply to %s does not decode as %s\n", method,
                reply_desc->name);
        return RPC_APP_ERROR;
    }
    return RPC_OK;
}

struct rpc_sync *cluster_sync(struct cluster *c, unsigned i)
{
    struct cnode *nd = cluster_node(c, i);
    if (!nd->sync) {
        char err[256];
        nd->sync = rpc_sync_new(nd->addr, err, sizeof err);
        if (!nd->sync) {
            fprintf(stderr, "cluster: %s\n", err);
            abort(); /* only a malformed address fails, and the harness made it */
        }
    }
    return nd->sync;
}

/* ---- statuses ----------------------------------------------------------------------------- */

Node__Status *cluster_status(struct cluster *c, unsigned i, uint64_t timeout_ms)
{
    struct cnode *nd = cluster_node(c, i);
    cluster_node_reap(c, nd);
    if (nd->pid <= 0 || nd->paused)
        return NULL;
    ProtobufCMessage *m = NULL;
    if (cluster_call(cluster_sync(c, i), c->status_method, NULL, &node__status__descriptor,
                     timeout_ms, &m) != RPC_OK)
        return NULL;
    return (Node__Status *)m;
}

int cluster_statuses(struct cluster *c, uint32_t set, Node__Status *out[CLUSTER_MAX_NODES + 1])
{
    int n = 0;
    for (unsigned i = 0; i <= CLUSTER_MAX_NODES; i++)
        out[i] = NULL;
    for (unsigned i = 1; i <= c->n; i++)
        if ((set >> i & 1) && (out[i] = cluster_status(c, i, STATUS_TIMEOUT_MS)))
            n++;
    return n;
}

void cluster_statuses_free(Node__Status *st[CLUSTER_MAX_NODES + 1])
{
    for (unsigned i = 0; i <= CLUSTER_MAX_NODES; i++) {
        if (st[i])
            node__status__free_unpacked(st[i], NULL);
        st[i] = NULL;
    }
}

static void print_statuses(struct cluster *c, uint32_t set, Node__Status *st[])
{
    for (unsigned i = 1; i <= c->n; i++) {
        if (!(set >> i & 1))
            continue;
        struct cnode *nd = &c->nodes[i];
        if (!st[i]) {
            fprintf(stderr, "  n%u: %s\n", i,
                    nd->pid <= 0 ? "down" : nd->paused ? "paused" : "no answer");
            continue;
        }
        Node__Status *s = st[i];
        fprintf(stderr,
                "  n%u: %-12s term %llu leader %u commit %llu applied %llu hash %016llx last %llu "
                "snapshot %llu (installed %llu, taken %llu)\n",
                i, s->role, (unsigned long long)s->term, s->leader_id,
                (unsigned long long)s->commit_index, (unsigned long long)s->applied_index,
                (unsigned long long)s->applied_hash, (unsigned long long)s->last_index,
                (unsigned long long)s->snapshot_index, (unsigned long long)s->snapshots_installed,
                (unsigned long long)s->snapshots_taken);
    }
}

void cluster_print_statuses(struct cluster *c, uint32_t set)
{
    Node__Status *st[CLUSTER_MAX_NODES + 1];
    cluster_statuses(c, set, st);
    print_statuses(c, set, st);
    cluster_statuses_free(st);
}

/* One poll of wait_leader: the leader of the highest term, 0 if none yet, -1 on two leaders in
 * one term. */
static int leader_of(struct cluster *c, Node__Status *st[], uint64_t *term)
{
    uint64_t top = 0;
    for (unsigned i = 1; i <= c->n; i++)
        if (st[i] && st[i]->term > top)
            top = st[i]->term;
    int leader = 0;
    for (unsigned i = 1; i <= c->n; i++) {
        if (!st[i] || strcmp(st[i]->role, "leader") != 0)
            continue;
        for (unsigned j = i + 1; j <= c->n; j++)
            if (st[j] && st[j]->term == st[i]->term && strcmp(st[j]->role, "leader") == 0) {
                fprintf(stderr, "cluster %s (seed %llu): nodes %u and %u both lead term %llu\n",
                        c->name, (unsigned long long)c->seed, i, j,
                        (unsigned long long)st[i]->term);
                return -1;
            }
        if (st[i]->term == top)
            leader = (int)i;
    }
    if (leader && term)
        *term = top;
    return leader;
}

int cluster_wait_leader(struct cluster *c, uint32_t set, uint64_t timeout_ms, uint64_t *term)
{
    uint64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        Node__Status *st[CLUSTER_MAX_NODES + 1];
        cluster_statuses(c, set, st);
        int leader = leader_of(c, st, term);
        if (leader != 0 || clock_mono_ms() >= deadline) {
            if (leader <= 0) {
                if (leader == 0)
                    fprintf(stderr, "cluster %s (seed %llu): no leader within %llu ms:\n",
                            c->name, (unsigned long long)c->seed,
                            (unsigned long long)timeout_ms);
                print_statuses(c, set, st);
            }
            cluster_statuses_free(st);
            return leader;
        }
        cluster_statuses_free(st);
        clock_sleep_ms(POLL_MS);
    }
}

/* One poll of wait_converged: 0 converged, 1 not yet, -1 on diverging hashes. */
static int converged(struct cluster *c, uint32_t set, Node__Status *st[], uint64_t min_index)
{
    int rc = 0;
    const Node__Status *ref = NULL;
    for (unsigned i = 1; i <= c->n; i++) {
        if (!(set >> i & 1) || c->nodes[i].pid <= 0 || c->nodes[i].paused)
            continue;
        if (!st[i]) {
            rc = 1;
            continue;
        }
        for (unsigned j = 1; j < i; j++)
            if (st[j] && st[j]->applied_index == st[i]->applied_index &&
                st[j]->applied_hash != st[i]->applied_hash) {
                fprintf(stderr,
                        "cluster %s (seed %llu): nodes %u and %u applied %llu entries with "
                        "different hashes (%016llx, %016llx)\n",
                        c->name, (unsigned long long)c->seed, j, i,
                        (unsigned long long)st[i]->applied_index,
                        (unsigned long long)st[j]->applied_hash,
                        (unsigned long long)st[i]->applied_hash);
                return -1;
            }
        if (st[i]->applied_index != st[i]->commit_index || st[i]->applied_index < min_index ||
            (ref && st[i]->applied_index != ref->applied_index))
            rc = 1;
        ref = st[i];
    }
    return rc;
}

int cluster_wait_converged(struct cluster *c, uint32_t set, uint64_t min_index,
                           uint64_t timeout_ms, uint64_t *index, uint64_t *hash)
{
    uint64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        Node__Status *st[CLUSTER_MAX_NODES + 1];
        cluster_statuses(c, set, st);
        int rc = converged(c, set, st, min_index);
        if (rc == 0) {
            for (unsigned i = 1; i <= c->n; i++)
                if (st[i]) {
                    if (index)
                        *index = st[i]->applied_index;
                    if (hash)
                        *hash = st[i]->applied_hash;
                    break;
                }
        } else if (rc == 1 && clock_mono_ms() >= deadline) {
            fprintf(stderr,
                    "cluster %s (seed %llu): nodes did not converge at an index >= %llu within "
                    "%llu ms:\n",
                    c->name, (unsigned long long)c->seed, (unsigned long long)min_index,
                    (unsigned long long)timeout_ms);
        } else if (rc == 1) {
            cluster_statuses_free(st);
            clock_sleep_ms(POLL_MS);
            continue;
        }
        if (rc != 0)
            print_statuses(c, set, st);
        cluster_statuses_free(st);
        return rc;
    }
}

/* ---- raftd's log and proposals ------------------------------------------------------------ */

int cluster_read_log(struct rpc_sync *s, uint64_t from, uint64_t timeout_ms,
                     struct cluster_log *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    uint64_t next = from ? from : 1;
    for (int page = 0; page < 100000; page++) {
        Raftd__ReadLogRequest req = RAFTD__READ_LOG_REQUEST__INIT;
        req.from = next;
        req.max = 1000;
        ProtobufCMessage *m = NULL;
        enum rpc_status st = cluster_call(s, "raftd.ReadLog", &req.base,
                                          &raftd__read_log_reply__descriptor, timeout_ms, &m);
        if (st != RPC_OK) {
            fprintf(stderr, "cluster: raftd.ReadLog from %llu: %s\n", (unsigned long long)next,
                    rpc_status_name(st));
            cluster_log_free(out);
            return -1;
        }
        Raftd__ReadLogReply *r = (Raftd__ReadLogReply *)m;
        out->commit = r->commit_index;
        if (page == 0)
            out->snapshot_index = r->snapshot_index;
        size_t n = r->n_entries;
        if (n > 0 && out->n > 0 && r->entries[0]->index != out->first + out->n) {
            fprintf(stderr, "cluster: raftd.ReadLog from %llu returned index %llu (compacted "
                            "while reading?)\n",
                    (unsigned long long)next, (unsigned long long)r->entries[0]->index);
            raftd__read_log_reply__free_unpacked(r, NULL);
            cluster_log_free(out);
            return -1;
        }
        if (n > 0 && out->n == 0)
            out->first = r->entries[0]->index;
        if (out->n + n > cap) {
            cap = MAX(cap * 2, out->n + n);
            out->e = xrealloc(out->e, cap * sizeof *out->e);
        }
        for (size_t k = 0; k < n; k++) {
            const Raftd__LogEntry *le = r->entries[k];
            struct cluster_entry *e = &out->e[out->n++];
            e->index = le->index;
            e->term = le->term;
            e->type = le->type;
            e->len = le->data.len;
            e->data = xmalloc(e->len ? e->len : 1);
            memcpy(e->data, le->data.data, e->len);
        }
        raftd__read_log_reply__free_unpacked(r, NULL);
        if (n == 0)
            return 0;
        next = out->first + out->n;
    }
    return 0;
}

void cluster_log_free(struct cluster_log *l)
{
    for (size_t k = 0; k < l->n; k++)
        free(l->e[k].data);
    free(l->e);
    memset(l, 0, sizeof *l);
}

const struct cluster_entry *cluster_log_at(const struct cluster_log *l, uint64_t index)
{
    if (l->n == 0 || index < l->first || index - l->first >= l->n)
        return NULL;
    return &l->e[index - l->first];
}

uint64_t cluster_raftd_hash(uint64_t h, const uint8_t *cmd, size_t len)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (int i = 7; i >= 0; i--) {
        x ^= (uint8_t)(h >> (8 * i));
        x *= 0x100000001b3ull;
    }
    for (size_t i = 0; i < len; i++) {
        x ^= cmd[i];
        x *= 0x100000001b3ull;
    }
    return x;
}

Raftd__ProposeReply *cluster_propose(struct rpc_sync *s, const void *data, size_t len,
                                     uint64_t timeout_ms, enum rpc_status *st)
{
    Raftd__ProposeRequest req = RAFTD__PROPOSE_REQUEST__INIT;
    req.data.data = (uint8_t *)data;
    req.data.len = len;
    ProtobufCMessage *m = NULL;
    enum rpc_status rc = cluster_call(s, "raftd.Propose", &req.base,
                                      &raftd__propose_reply__descriptor, timeout_ms, &m);
    if (st)
        *st = rc;
    return rc == RPC_OK ? (Raftd__ProposeReply *)m : NULL;
}
