/* The randomized modes' fault schedule, for any simulated service with clerks on simnet: each
 * step draws one fault from the run's generator (a random partition, all links healed, a
 * crash, a restart, the network unreliable or not, duplicated messages on or off, long
 * reordering on or off, a clerk losing or regaining links to some servers, the leader cut
 * off), and heal brings everything back (every node up and connected, the network reliable,
 * every clerk linked to every server). The same faults for Raft messages (sim) and client
 * traffic (simnet). */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"
#include "simnet.h"

struct sim_faults_stats {
    uint64_t partitions, crashes;
};

/* One fault step; eps are the clerks' endpoints (n_eps of them, may be 0). */
void sim_faults_step(struct sim *s, struct simnet *net, struct simnet_ep *const *eps,
                     size_t n_eps, struct sim_faults_stats *st);
void sim_faults_heal(struct sim *s, struct simnet *net, struct simnet_ep *const *eps,
                     size_t n_eps);

#endif
