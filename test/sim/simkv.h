/* kvd on the simulated nodes: lib/kv as every node's state machine (through kvd's own adapter,
 * daemons/kvd/machine.h), made fresh at every start, and kvd's client service rules
 * (daemons/kvd/service.c) answering kv.Op requests that arrive through simnet:
 *   - a request that is not a valid kv.Command is dropped (kvd fails it as a bad request;
 *     the clerks here send none);
 *   - a Get is served by ReadIndex (sim_read_async) from the state machine once it has applied
 *     up to the read's index, or through the log when the leader is not ready for ReadIndex;
 *   - a Put/Append is proposed (sim_propose) and answered with the state machine's reply;
 *   - a node that is not the leader, or loses leadership before the entry applies, answers
 *     WRONG_LEADER with the leader it knows (leader_id, leader_addr simkv_addr(id - 1));
 *   - a crashed node answers nothing.
 * The optional join of a retried write to its pending entry is not done: a retry is proposed
 * again, so de-duplication in lib/kv is what keeps writes at most once. */
#ifndef SIM_SIMKV_H
#define SIM_SIMKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"
#include "sim.h"
#include "simnet.h"

struct simkv;

/* A server's address as leader hints carry it ("s<raft id>"). */
const char *simkv_addr(size_t server);

/* The servers' state. Set sim_opts.machine = simkv_machine() and machine_arg = the simkv
 * before sim_new, then attach. bugs: passed to every lib/kv made (kv_set_planted_bug). */
struct simkv *simkv_new(int kv_bugs);
const struct sim_machine *simkv_machine(void);
/* Serves kv.Op for every node of s on net. */
void simkv_attach(struct simkv *k, struct sim *s, struct simnet *net);
/* Free after sim_free (which destroys the machines). */
void simkv_free(struct simkv *k);

/* Node i's state machine (NULL while crashed). */
struct kv *simkv_kv(struct simkv *k, size_t i);

/* Figures: Gets served by ReadIndex, Gets through the log, writes proposed. */
struct simkv_stats {
    uint64_t reads, logged_gets, writes, wrong_leader;
};
void simkv_stats(const struct simkv *k, struct simkv_stats *st);

#endif
