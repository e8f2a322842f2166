/* kv.Op's error reply, for the services whose clients send kv.Commands through the log (kvd's
 * "kv.Op", shardkvd's "shardkv.Op"): node_reply's fail (node/reply.h) as a kv.Reply. */
#ifndef KV_REPLY_H
#define KV_REPLY_H

#include "node/reply.h"

/* Answers call with a kv.Reply: NO_SPACE, SHUTTING_DOWN, or WRONG_LEADER with the leader hint
 * (for every other failure: the client retries elsewhere). arg is unused. */
void kv_reply_fail(struct rpc_call *call, const struct node_failure *f, void *arg);

/* Answers call with result, an encoded kv.Reply of this node's state machine. A call another
 * member relayed here (rpc_call_forwarded) also gets this leader's id and address in the
 * reply's hint fields, so that the client sends its next operations here directly: a relayed
 * reply is otherwise a success like any other, and a client that started on a follower stayed
 * there, every operation taking the extra hop (a third of kvbench's operations at 128 clients,
 * 29% fewer writes/s). */
void kv_reply_ok(struct node *n, struct rpc_call *call, const uint8_t *result, size_t len);

/* node_reply_propose's done for a kv.Reply result: kv_reply_ok on success (arg: the node). */
void kv_reply_result(struct rpc_call *call, enum node_result res, uint64_t index, uint64_t term,
                     const uint8_t *result, size_t len, void *arg);

#endif
