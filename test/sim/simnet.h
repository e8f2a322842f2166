/* Client traffic in the simulator: clerk endpoints calling the simulated servers, with
 * labrpc's semantics, in simulated time, every random choice drawn from the run's seed.
 *
 * An endpoint (one clerk's "ClientEnd"s) has a link to every server, which a test enables or
 * disables (the lab's ConnectClient; partitions of the servers do not touch them). A call
 * sent on a disabled link is lost; so is one to a crashed server, or one that reaches a server
 * after it restarted (the connection it came on died with the old process), and the reply of
 * a server that crashed or was cut off from the caller before answering. Such a lost call times
 * out at the caller (the per-attempt timeout), as over TCP. Every message takes 1 ms. Unreliable:
 * requests and replies are each delayed 0-26 ms and dropped with probability 10%; as in labrpc,
 * the caller of a dropped request or reply learns it at once (after the delay: the call fails
 * with SIMNET_TIMEOUT) and does not wait out its timeout. Long
 * reordering: with probability 2/3 a reply is delayed 200 + rand(1 + rand(2000)) ms.
 * Duplicates (the randomized mode): a request is delivered twice with probability 5%.
 *
 * One-shot timers and the clock are the simulator's. Callbacks run from inside sim_run_for.
 * Free the net after the last sim_run_for (before or after sim_free). */
#ifndef SIM_SIMNET_H
#define SIM_SIMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"

struct simnet;
struct simnet_ep;
struct simnet_req; /* a request as its server holds it until it replies */

enum simnet_status {
    SIMNET_OK,      /* the server's reply */
    SIMNET_TIMEOUT, /* nothing came back within the call's timeout */
};

/* A call's outcome: called exactly once unless the call is cancelled (or its endpoint freed)
 * first. reply is valid during the call. */
typedef void (*simnet_reply_fn)(enum simnet_status st, const uint8_t *reply, size_t len,
                                void *arg);
/* A request reaching server: the server answers it with simnet_reply, once, now or later (or
 * never: a server that crashes holding it). req is valid during the call. */
typedef void (*simnet_serve_fn)(void *arg, size_t server, struct simnet_req *rq,
                                const uint8_t *req, size_t len);
typedef void (*simnet_timer_fn)(void *arg);

struct simnet *simnet_new(struct sim *s);
void simnet_free(struct simnet *net);
struct sim *simnet_sim(const struct simnet *net);

/* Sets the handler of every server's requests. */
void simnet_serve(struct simnet *net, simnet_serve_fn fn, void *arg);
/* ... of the servers in set (bit i: server i): several services on one net (a server with no
 * handler drops what it gets). */
void simnet_serve_on(struct simnet *net, uint32_t servers, simnet_serve_fn fn, void *arg);

void simnet_set_unreliable(struct simnet *net, bool on);
void simnet_set_long_reordering(struct simnet *net, bool on);
/* Duplicates: a request reaches its server twice with probability 5% (each is served; the
 * caller takes the first reply). */
void simnet_set_duplicates(struct simnet *net, bool on);

/* ---- endpoints and calls ---- */

/* An endpoint linked to every server. */
struct simnet_ep *simnet_ep_new(struct simnet *net);
/* Cancels its calls (their callbacks are not called) and frees it. */
void simnet_ep_free(struct simnet_ep *ep);
/* Enables exactly the links to the servers in set (bit i: server i). */
void simnet_ep_connect(struct simnet_ep *ep, uint32_t set);

/* Sends req (copied) to server; cb gets the reply or SIMNET_TIMEOUT after timeout_ms. Returns
 * the call's id (never 0). */
uint64_t simnet_call(struct simnet_ep *ep, size_t server, const uint8_t *req, size_t len,
                     uint64_t timeout_ms, simnet_reply_fn cb, void *arg);
/* The call's callback will not be called (nothing happens for a finished or unknown id). */
void simnet_cancel(struct simnet_ep *ep, uint64_t id);

/* The server's answer to rq (copied), sent back to the caller. */
void simnet_reply(struct simnet_req *rq, const uint8_t *reply, size_t len);

/* ---- timers and time ---- */

/* Calls fn(arg) once, ms from now. Returns the timer's id (never 0). */
uint64_t simnet_timer(struct simnet *net, uint64_t ms, simnet_timer_fn fn, void *arg);
/* The timer will not fire (nothing happens for one fired or unknown). */
void simnet_timer_cancel(struct simnet *net, uint64_t id);
uint64_t simnet_now(const struct simnet *net);

/* ---- figures ---- */
uint64_t simnet_calls(const struct simnet *net);    /* calls sent */
uint64_t simnet_timeouts(const struct simnet *net); /* calls that timed out */

#endif
