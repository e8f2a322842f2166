/* kvcli status on any daemon (node_status.h). */
#include "node_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "rpc/rpc.h"
#include "shardctrl.pb-c.h"
#include "shardkv.pb-c.h"

static void fill(struct node_row *row, const char *daemon, const Node__Status *nd, uint64_t keys)
{
    row->daemon = daemon;
    row->id = nd->id;
    row->leader_id = nd->leader_id;
    snprintf(row->role, sizeof row->role, "%s", nd->role ? nd->role : "?");
    row->term = nd->term;
    row->commit = nd->commit_index;
    row->applied = nd->applied_index;
    row->last = nd->last_index;
    row->snapshot = nd->snapshot_index;
    row->keys = keys;
}

/* Unpacks one method's reply into row; false when it is not that reply (or has no node). */
static bool decode(const char *method, const uint8_t *rep, size_t len, struct node_row *row)
{
    bool ok = false;
    if (strcmp(method, "kv.Status") == 0) {
        Kv__StatusReply *st = kv__status_reply__unpack(NULL, len, rep);
        if ((ok = st && st->node))
            fill(row, "kvd", st->node, st->keys);
        if (st)
            kv__status_reply__free_unpacked(st, NULL);
    } else if (strcmp(method, "shardkv.Status") == 0) {
        Shardkv__StatusReply *st = shardkv__status_reply__unpack(NULL, len, rep);
        if ((ok = st && st->node))
            fill(row, "shardkvd", st->node, st->gid);
        if (st)
            shardkv__status_reply__free_unpacked(st, NULL);
    } else {
        Shardctrl__StatusReply *st = shardctrl__status_reply__unpack(NULL, len, rep);
        if ((ok = st && st->node))
            fill(row, "shardctrld", st->node, st->latest);
        if (st)
            shardctrl__status_reply__free_unpacked(st, NULL);
    }
    return ok;
}

int node_status_fetch(const char *addr, uint64_t timeout_ms, struct node_row *row, char *why,
                      size_t whylen)
{
    static const char *const methods[] = { "kv.Status", "shardkv.Status", "shardctrl.Status" };
    char err[256];
    struct rpc_sync *s = rpc_sync_new(addr, err, sizeof err);
    if (!s) {
        snprintf(why, whylen, "unreachable (%s)", err);
        return -1;
    }
    int rc = -1;
    enum rpc_status rs = RPC_UNKNOWN_METHOD;
    char *error = NULL;
    for (size_t m = 0; m < ARRAY_LEN(methods) && rs == RPC_UNKNOWN_METHOD; m++) {
        uint8_t *rep = NULL;
        size_t len = 0;
        free(error);
        error = NULL;
        rs = rpc_sync_call(s, methods[m], NULL, 0, MIN(timeout_ms, 2000), &rep, &len, &error);
        if (rs == RPC_OK)
            rc = decode(methods[m], rep, len, row) ? 0 : -1;
        free(rep);
    }
    if (rc != 0) {
        if (rs == RPC_PROTOCOL && error && error[0] && !strstr(error, "does not speak this protocol"))
            snprintf(why, whylen, "refused (%s)", error); /* e.g. "the server requires TLS: ..." */
        else if (rs == RPC_PROTOCOL || rs == RPC_UNKNOWN_METHOD || rs == RPC_OK)
            snprintf(why, whylen, "not a kvd server (%s)",
                     rs == RPC_PROTOCOL        ? "it does not speak this protocol"
                     : rs == RPC_UNKNOWN_METHOD ? "it has no method kv.Status, shardkv.Status or "
                                                  "shardctrl.Status"
                                                : "its reply is not a status");
        else if (rs == RPC_UNREACHABLE)
            snprintf(why, whylen, "unreachable (%s)", error && error[0] ? error : addr);
        else
            snprintf(why, whylen, "unreachable (%s%s%s)", rpc_status_name(rs),
                     error && error[0] ? ": " : "", error ? error : "");
    }
    free(error);
    rpc_sync_free(s);
    return rc;
}
