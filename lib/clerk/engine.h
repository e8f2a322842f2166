/* The clerk engine: what every client of a replicated service does, whatever the service.
 *
 * It runs operations one at a time, in the order they were submitted (what makes "only the
 * last sequence number per client" enough on the servers), each until it succeeds, fails for
 * good, or reaches its deadline: it tries the server it believes leads, follows leader hints,
 * moves on after a per-attempt timeout (longer for larger requests), backs off with jitter
 * between rounds, and keeps, per server, what it did on its last attempt, to say why an
 * operation failed (clerk_engine_error).
 *
 * A service's layer (the kv clerk, the raftd client, later the controller and shard clerks)
 * gives the method, the request bytes of each operation, and a classifier of replies. The
 * engine does no I/O of its own: calls, timers and the clock go through a transport, so the
 * same engine runs on libevent and lib/rpc (clerk_net) and in the deterministic simulator.
 *
 * Implementing a transport: call() sends one request to server i and must later invoke the
 * callback exactly once (with the rpc status: RPC_OK and the reply payload, RPC_TIMEOUT when
 * timeout_ms passed, RPC_UNREACHABLE / RPC_DISCONNECTED ... as lib/rpc would) unless cancel()
 * is called first, after which it must never be invoked; the callback may be invoked from
 * inside call() only if the transport can guarantee the engine is not re-entered badly, so
 * prefer deferring it. Timers fire once, after at least ms, from the transport's loop; a
 * timer may be restarted after it fired. now_ms is the transport's clock (simulated time in
 * the simulator). Everything is called from one thread. */
#ifndef CLERK_ENGINE_H
#define CLERK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h" /* enum rpc_status */

enum clerk_result {
    CLERK_OK = 0,
    CLERK_NO_KEY,      /* the key is absent: Get (the value is ""); Delete (nothing done); CAS
                          (not swapped) */
    CLERK_TIMEOUT,     /* no leader answered before the deadline */
    CLERK_TOO_LARGE,   /* the request exceeds the servers' (or the frame) limit: not retried */
    CLERK_UNREACHABLE, /* (opts.fail_fast_ms) no server could be reached: every one refused,
                          did not resolve or is not a server of this service */
    CLERK_NO_SPACE,    /* a write refused, not done: no space on the leader's data volume */
    CLERK_REFUSED,     /* the service refused the request, the same on every replica (a bad
                          argument: an unknown gid, a shard out of range): the error says why */
    CLERK_WRONG_GROUP, /* a shard group does not serve the key's shard now: not done (the shard
                          clerk refreshes its configuration and asks the owner) */
    CLERK_CAS_FAILED,  /* CAS not swapped: the key holds another value (the result's value) */
};

const char *clerk_result_name(enum clerk_result r);

/* ---- the transport ---- */

typedef void (*clerk_reply_fn)(enum rpc_status st, const char *error, const uint8_t *payload,
                               size_t len, void *arg);

struct clerk_transport_ops {
    /* The servers, by index: their number and addresses (as leader hints name them). */
    size_t (*n_servers)(void *ctx);
    const char *(*addr)(void *ctx, size_t server);
    /* Sends req (copied) to server; returns a non-zero handle for cancel. */
    uint64_t (*call)(void *ctx, size_t server, const char *method, const uint8_t *req,
                     size_t len, uint64_t timeout_ms, clerk_reply_fn cb, void *arg);
    void (*cancel)(void *ctx, size_t server, uint64_t handle);
    /* A one-shot timer calling fn(arg); start (re)arms it; free disarms and frees it. */
    void *(*timer_new)(void *ctx, void (*fn)(void *arg), void *arg);
    void (*timer_start)(void *ctx, void *timer, uint64_t ms);
    void (*timer_free)(void *ctx, void *timer);
    uint64_t (*now_ms)(void *ctx);
};

struct clerk_transport {
    const struct clerk_transport_ops *ops;
    void *ctx;
};

/* ---- the service's layer ---- */

enum clerk_verdict {
    CLERK_DONE,         /* the operation is over: result (and value) go to its callback */
    CLERK_WRONG_LEADER, /* not the leader: try hint_addr when given, else the next server */
    CLERK_RETRY,        /* this server cannot serve it now (timeout, shutting down): next */
};

/* A classified reply. The layer fills it; value and hint_addr must stay valid until the
 * layer's release is called. */
struct clerk_reply {
    const char *server;       /* set by the engine: the address of the server that answered */
    enum clerk_verdict verdict;
    enum clerk_result result; /* DONE */
    const uint8_t *value;     /* DONE: the result's value (may be NULL with len 0) */
    size_t len;
    const char *hint_addr;    /* WRONG_LEADER: the leader's address, or NULL / "" unknown; DONE:
                                 the leader's when a follower relayed the call (the next
                                 attempt goes there) */
    char why[256];            /* WRONG_LEADER / RETRY: what the server said, for the error
                                 text, without its address ("not the leader") */
    char error[512];          /* DONE with a failure: the clerk_engine_error text ("" none) */
    void *keep;               /* the layer's, for release */
};

struct clerk_layer {
    const char *method;  /* the method every operation calls */
    const char *service; /* for "X is not a kvd server" */
    const char *reply;   /* the reply message's name, for "its reply is not a kv.Reply" */
    /* Classifies an RPC_OK reply's payload. Returns false when it is not this service's reply
     * message (the server is not one of ours). */
    bool (*classify)(void *ctx, const uint8_t *payload, size_t len, struct clerk_reply *out);
    /* Frees what classify kept (may be NULL). */
    void (*release)(void *ctx, struct clerk_reply *r);
    void *ctx;
};

struct clerk_opts {
    uint64_t deadline_ms; /* per operation; 0 = retry forever */
    uint64_t attempt_ms;  /* per attempt on one server (1000) */
    uint64_t seed;        /* for the client id and backoff jitter; 0 = from the clock */
    uint64_t fail_fast_ms; /* give up with CLERK_UNREACHABLE once an operation has run this long
                              while every server failed for good reasons of its own (refused,
                              unresolvable, another service); 0 = never (retry to the deadline) */
};
void clerk_opts_default(struct clerk_opts *o);

/* ---- the engine ---- */

struct clerk_engine;

/* Outcome of an operation, called exactly once (unless the engine is freed first). value is
 * the layer's (valid during the call). */
typedef void (*clerk_engine_done_fn)(enum clerk_result r, const uint8_t *value, size_t len,
                                     void *arg);

/* transport and layer are copied (what they point to must outlive the engine). o->seed must be
 * set (clerk_seed turns 0 into one from the clock): the engine reads no clock of its own. */
struct clerk_engine *clerk_engine_new(const struct clerk_transport *t,
                                      const struct clerk_layer *l, const struct clerk_opts *o);
/* Pending operations are dropped without their callbacks; the attempt in flight is cancelled. */
void clerk_engine_free(struct clerk_engine *e);

/* Queues an operation whose request is req (taken: malloc'd, the engine frees it). Retries
 * send the same bytes. */
void clerk_engine_submit(struct clerk_engine *e, uint8_t *req, size_t len,
                         clerk_engine_done_fn done, void *arg);

/* The server (index) the next attempt goes to first: the last one that answered as leader, or
 * the one a hint named. clerk_engine_prefer changes it (a caller that knows better). */
size_t clerk_engine_leader(const struct clerk_engine *e);
void clerk_engine_prefer(struct clerk_engine *e, size_t server);
/* Changes the deadline and the per-attempt time for operations started from now on. */
void clerk_engine_set_times(struct clerk_engine *e, uint64_t deadline_ms, uint64_t attempt_ms);

/* Why the last operation that did not succeed failed, in words for a user (see clerk.h). */
const char *clerk_engine_error(const struct clerk_engine *e);
/* For CLERK_TOO_LARGE: the refused request's size and the limit (0 when not known). */
void clerk_engine_too_large(const struct clerk_engine *e, uint64_t *size, uint64_t *limit);

/* A seed: o->seed, or (0) one from the wall clock mixed with salt. */
uint64_t clerk_seed(const struct clerk_opts *o, uint64_t salt);
/* A layer's client id (never 0) from its engine's seed, on a stream apart from the engine's
 * jitter. */
uint64_t clerk_client_id_from(uint64_t seed);

#endif
