/* lib/shardctrl as a replica's state machine: the adapter shardctrld runs on its node (and the
 * deterministic simulator on its simulated nodes), bytes in and out through lib/shardctrl's
 * codec. */
#ifndef SHARDCTRLD_MACHINE_H
#define SHARDCTRLD_MACHINE_H

#include "replica/replica.h"
#include "shardctrl/shardctrl.h"

/* Where the controller lives: *sc may be set after the node_sm is made (shardctrld creates it
 * once the options give the shard count), and must be before the node opens. */
struct node_sm shardctrl_state_machine(struct shardctrl **sc);

#endif
