/* The Raft safety properties, checked on the simulator after every event (sim_set_observer):
 *   - election safety: at most one leader per term, ever;
 *   - leader append-only: a leader never overwrites or deletes entries of its own log;
 *   - log matching (every 64 events, and on demand): two logs with an entry of the same index
 *     and term agree on all before it;
 *   - leader completeness: a new leader of term T holds every entry applied anywhere by a node
 *     that was then in a term below T (so committed before T).
 * State machine safety (no two nodes apply different commands at one index) is the
 * simulator's applier's own check. Shared by the randomized modes. */
#ifndef SIM_RAFTCHECK_H
#define SIM_RAFTCHECK_H

#include <stdint.h>

#include "sim.h"

#define RAFTCHECK_MAX_TERMS 4096

struct raftcheck {
    uint32_t leader_of[RAFTCHECK_MAX_TERMS]; /* term -> leader id seen (0: none yet) */
    uint64_t lead_term[SIM_MAX_NODES];       /* the term a node was last seen leading */
    uint64_t lead_last[SIM_MAX_NODES];       /* its last index then */
    uint64_t lead_last_term[SIM_MAX_NODES];
    uint64_t events;
    uint64_t max_term;                       /* the highest term any node has been seen in */
};

/* The observer: arg is a zeroed struct raftcheck. */
void raftcheck_observe(struct sim *s, void *arg);
void raftcheck_log_matching(struct sim *s);
/* How many seeds a randomized mode runs: RANDOM_SEEDS, 2,000 by default (`make test-long`
 * sets 10,000). */
unsigned long raftcheck_seeds(void);
/* Term of r's entry at index, 0 when it has none there. */
uint64_t raftcheck_term(const struct raft *r, uint64_t index);

#endif
