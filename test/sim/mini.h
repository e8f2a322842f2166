/* A tiny hand-driven cluster of three replicas (lib/replica) for the focused tests: messages
 * wait in one FIFO until the test delivers them (mini_settle), nothing is timed, and the
 * state machine applies nothing (the tests look at the logs). Failures are Check assertions,
 * so call these only from inside a Check test. */
#ifndef SIM_MINI_H
#define SIM_MINI_H

#include <stddef.h>
#include <stdint.h>

#include "replica/replica.h"
#include "store.h"

struct mini {
    struct replica *rep[3];
    struct sim_store *st[3];  /* memory stores; a test may fill one before mini_start */
    struct raft_msg *queue;   /* FIFO of messages in flight */
    size_t qlen, qcap;
    size_t appends_to[4], rejects_from[4]; /* by Raft id */
    size_t big_to[4]; /* appends carrying an entry of 1 MiB or more */
};

/* Stores n entries of the given terms and a hard state (term, commit 10) in st. */
void mini_fill(struct sim_store *st, uint64_t term, const uint64_t *terms, size_t n);
/* Starts the three replicas on their stores (created empty when the test made none). */
void mini_start(struct mini *m, uint64_t seed, size_t max_msg_bytes);
/* Runs replica i's ready loop (asserting it succeeds), queueing what it sends. */
void mini_drain(struct mini *m, size_t i);
/* Delivers every queued message (and what they cause) until the network is quiet. */
void mini_settle(struct mini *m);
/* Node 1 times out and wins. */
void mini_elect_first(struct mini *m);
/* Drops every message in flight (a silent network). */
void mini_drop_all(struct mini *m);
/* Ticks node i n times, dropping whatever it sends. */
void mini_tick_silent(struct mini *m, size_t i, int n);
void mini_free(struct mini *m);
/* Replica i's core. */
const struct raft *mini_raft(const struct mini *m, size_t i);

#endif
