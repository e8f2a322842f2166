/* clerk_net: connections to the servers of one cluster (one rpc_client per server), shared by
 * the clerks of one libevent loop, and the clerk engine's transport over them. */
#ifndef CLERK_NET_H
#define CLERK_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "clerk/engine.h"

struct event_base;
struct clerk_net;

/* servers: "host:port" strings (copied). Returns NULL with err when an address is malformed. */
struct clerk_net *clerk_net_new(struct event_base *base, const char *const *servers, size_t n,
                                char *err, size_t errlen);
/* Free the clerks first. */
void clerk_net_free(struct clerk_net *net);

struct event_base *clerk_net_base(const struct clerk_net *net);

/* The engine's transport over net (valid while net lives): rpc_client calls, libevent
 * timers, the monotonic clock. */
struct clerk_transport clerk_net_transport(struct clerk_net *net);

/* ---- a private loop, for the blocking APIs (kvcli's, raftcli's, the controller's) ---- */

/* An event base of its own and connections to servers: one per thread. */
struct clerk_loop {
    struct event_base *base;
    struct clerk_net *net;
};
/* Returns 0, or -1 with err (an address is malformed; nothing to close). */
int clerk_loop_open(struct clerk_loop *l, const char *const *servers, size_t n, char *err,
                    size_t errlen);
/* Free the clerks on it first. */
void clerk_loop_close(struct clerk_loop *l);
/* Runs the loop until *done is true. */
void clerk_loop_wait(struct clerk_loop *l, const bool *done);

/* An operation's outcome, for the blocking APIs over clerks whose callbacks are clerk_done_fn
 * shaped (kv, shard): clerk_outcome_done fills it (arg: the outcome), clerk_outcome_wait runs l
 * until it is done, hands over the value (malloc'd, NUL-terminated) or frees it (value NULL),
 * and returns the result. */
struct clerk_outcome {
    bool done;
    enum clerk_result r;
    uint8_t *value;
    size_t len;
};
void clerk_outcome_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg);
enum clerk_result clerk_outcome_wait(struct clerk_loop *l, struct clerk_outcome *o,
                                     uint8_t **value, size_t *len);

#endif
