/* "Propose (or read), then reply", for a service's client methods: proposes through the node
 * (or asks for a ReadIndex read), relays the call to the leader with node_forward when this
 * node does not lead, maps every NODE_* failure to one small outcome, and has the service
 * encode its own error reply with the leader hint. So the mapping and the hint exist once,
 * whatever each service's wire error looks like. */
#ifndef NODE_REPLY_H
#define NODE_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

struct rpc_call;

/* Why a call failed. */
enum node_failure_kind {
    NODE_FAIL_NOT_LEADER,      /* not the leader, and the call could not be relayed */
    NODE_FAIL_LEADERSHIP_LOST, /* leadership ended before the entry applied (it may commit) */
    NODE_FAIL_OVERWRITTEN,     /* another entry committed at the proposed index */
    NODE_FAIL_SHUTDOWN,        /* the node is stopping */
    NODE_FAIL_NO_SPACE,        /* the leader's volume is full: nothing was proposed */
};

/* A failure, as the service's error reply needs it. */
struct node_failure {
    enum node_failure_kind kind;
    uint64_t index, term;    /* of the proposal (0 when nothing was proposed) */
    uint32_t leader_id;      /* the leader hint: RAFT_NONE when unknown */
    const char *leader_addr; /* "" when unknown; valid during the call */
};

/* One client method served through the log. */
struct node_reply {
    struct node *node;
    const char *method; /* its name, under which calls are relayed to the leader */
    /* Encodes and sends the service's error reply to call (exactly once per call). */
    void (*fail)(struct rpc_call *call, const struct node_failure *f, void *arg);
    void *arg;
};

/* A proposal's outcome: on NODE_OK the service answers call from result (the state machine's
 * result, valid during the call); otherwise call has been answered with r->fail already, and
 * the service only frees what arg holds. */
typedef void (*node_reply_done_fn)(struct rpc_call *call, enum node_result res, uint64_t index,
                                   uint64_t term, const uint8_t *result, size_t len, void *arg);

/* A read's outcome: on NODE_OK the service reads its state machine and answers call;
 * otherwise call has been answered with r->fail already. */
typedef void (*node_reply_read_fn)(struct rpc_call *call, enum node_result res, void *arg);

/* Proposes cmd[0..cmd_len) for call, whose request is req[0..req_len) (relayed as is when this
 * node does not lead). r must outlive the proposal. Returns NODE_OK: done follows; or the
 * result that made call be answered at once (relayed or r->fail; done is not called). */
enum node_result node_reply_propose(const struct node_reply *r, struct rpc_call *call,
                                    const uint8_t *req, size_t req_len, const uint8_t *cmd,
                                    size_t cmd_len, node_reply_done_fn done, void *arg);

/* Asks for a ReadIndex read for call. Returns NODE_OK: done follows; NODE_NOT_READY: call is
 * untouched (a new leader: propose the read instead); or the result that made call be answered
 * at once (relayed or r->fail). */
enum node_result node_reply_read(const struct node_reply *r, struct rpc_call *call,
                                 const uint8_t *req, size_t req_len, node_reply_read_fn done,
                                 void *arg);

/* Answers call with r->fail for res (not NODE_OK nor NODE_NOT_READY), with the leader hint:
 * for the other calls waiting on one outcome. */
void node_reply_fail(const struct node_reply *r, struct rpc_call *call, enum node_result res,
                     uint64_t index, uint64_t term);

/* A node_reply_done_fn for the methods whose reply is the state machine's result as it is:
 * answers call with result on NODE_OK (arg unused). */
void node_reply_result(struct rpc_call *call, enum node_result res, uint64_t index, uint64_t term,
                       const uint8_t *result, size_t len, void *arg);

#endif
