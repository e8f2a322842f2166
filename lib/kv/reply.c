#include "kv/reply.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "rpc/rpc.h"

void kv_reply_fail(struct rpc_call *call, const struct node_failure *f, void *arg)
{
    (void)arg;
    Kv__Reply r = KV__REPLY__INIT;
    r.err = f->kind == NODE_FAIL_NO_SPACE ? KV__ERR__NO_SPACE
            : f->kind == NODE_FAIL_SHUTDOWN ? KV__ERR__SHUTTING_DOWN
                                            : KV__ERR__WRONG_LEADER;
    r.leader_id = f->leader_id;
    r.leader_addr = (char *)f->leader_addr;
    rpc_call_reply_msg(call, &r.base);
}

void kv_reply_ok(struct node *n, struct rpc_call *call, const uint8_t *result, size_t len)
{
    const char *addr = "";
    uint32_t leader = rpc_call_forwarded(call) ? node_leader(n, &addr) : 0;
    if (!leader || !addr[0]) {
        rpc_call_reply(call, result, len);
        return;
    }
    /* Protobuf merges concatenated encodings (the later field wins), so the hint is appended
     * to the state machine's bytes rather than the reply decoded and encoded again. */
    Kv__Reply hint = KV__REPLY__INIT;
    hint.leader_id = leader;
    hint.leader_addr = (char *)addr;
    size_t hlen = kv__reply__get_packed_size(&hint);
    uint8_t *buf = xmalloc(len + hlen);
    memcpy(buf, result, len);
    kv__reply__pack(&hint, buf + len);
    rpc_call_reply(call, buf, len + hlen);
    free(buf);
}

void kv_reply_result(struct rpc_call *call, enum node_result res, uint64_t index, uint64_t term,
                     const uint8_t *result, size_t len, void *arg)
{
    (void)index;
    (void)term;
    if (res == NODE_OK)
        kv_reply_ok(arg, call, result, len);
}
