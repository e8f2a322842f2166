/* kv.Op's error reply, for the services whose clients send kv.Commands through the log (kvd's
 * "kv.Op", shardkvd's "shardkv.Op"): node_reply's fail (node/reply.h) as a kv.Reply. */
#ifndef KV_REPLY_H
#define KV_REPLY_H

#include "node/reply.h"

/* Answers call with a kv.Reply: NO_SPACE, SHUTTING_DOWN, or WRONG_LEADER with the leader hint
 * (for every other failure: the client retries elsewhere). arg is unused. */
void kv_reply_fail(struct rpc_call *call, const struct node_failure *f, void *arg);

#endif
