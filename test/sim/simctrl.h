/* shardctrld on the simulated nodes: lib/shardctrl as every node's state machine
 * (through shardctrld's own adapter, daemons/shardctrld/machine.h: the codec's apply,
 * snapshot, restore), made fresh at every start, on the generic simulated service (simsvc.h):
 * a shardctrl.Op Query is a read (ReadIndex, answered by sc_codec_query, or through the log),
 * Join / Leave / Move are writes, proposed with the servers' shard count (as shardctrld stamps
 * its --shards on each); errors are shardctrl.Replys (WRONG_LEADER with the hint, NO_SPACE).
 *
 * It also checks that the replicas agree on the whole state (statecheck.h, on the
 * sc_codec_snapshot bytes). */
#ifndef SIM_SIMCTRL_H
#define SIM_SIMCTRL_H

#include <stdint.h>

#include "shardctrl/shardctrl.h"
#include "simsvc.h"

/* Planted bugs (bits), for the randomized mode to catch. */
enum simctrl_bug {
    SIMCTRL_BUG_NONE = 0,
    /* The adapter applies every write without its session (client id and seq dropped), so a
     * retried write that already applied makes a second config. */
    SIMCTRL_BUG_NO_DEDUP = 1,
    /* Every node answers a Query at once from its own state, leader or not, with no ReadIndex
     * (simsvc_set_stale_reads). */
    SIMCTRL_BUG_STALE_QUERY = 2,
};

struct simctrl;

/* Controllers of n_shards shards. Set sim_opts.machine = simsvc_machine() and machine_arg =
 * simctrl_svc(c) before sim_new, then simctrl_attach. */
struct simctrl *simctrl_new(uint32_t n_shards, int bugs);
struct simsvc *simctrl_svc(struct simctrl *c);
/* Serves shardctrl.Op on every node of s through net (and checks the states). */
void simctrl_attach(struct simctrl *c, struct sim *s, struct simnet *net);
/* ... on the nodes in servers only (bit i: node i; the controller cluster of a sharded sim). */
void simctrl_attach_on(struct simctrl *c, struct sim *s, struct simnet *net, uint32_t servers);
/* Free after sim_free. */
void simctrl_free(struct simctrl *c);

/* Node i's controller (NULL while crashed). */
struct shardctrl *simctrl_sc(struct simctrl *c, size_t i);
/* Entries whose state digests were compared across nodes (two nodes or more had applied it). */
uint64_t simctrl_states_compared(const struct simctrl *c);

#endif
