#include "kv/reply.h"

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
