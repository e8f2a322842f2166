/* Whether the replicas of one cluster agree on the whole state, not only on the log: after every
 * entry a node applies (and after every snapshot it restores), the digest of its state's
 * encoding (its snapshot bytes) at that index must equal the one every other node had there;
 * the first difference fails the run (sim_fail). One per cluster (indexes are a cluster's). */
#ifndef SIM_STATECHECK_H
#define SIM_STATECHECK_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

struct statecheck;

struct statecheck *statecheck_new(void);
void statecheck_free(struct statecheck *c);

/* Node node's state after index is data (how: "after applying", "after restoring a snapshot
 * at"). Nothing once s has failed (or for index 0). */
void statecheck_record(struct statecheck *c, struct sim *s, size_t node, uint64_t index,
                       const uint8_t *data, size_t len, const char *how);
/* Entries whose state digests were compared across nodes (two nodes or more had applied it). */
uint64_t statecheck_compared(const struct statecheck *c);

#endif
