/* lib/kv as a replica's state machine: the adapter kvd runs on its node, and the
 * deterministic simulator runs on its simulated nodes (test/sim/simkv.c), so both drive the
 * same bytes-in / bytes-out path into lib/kv. */
#ifndef KVD_MACHINE_H
#define KVD_MACHINE_H

#include "kv/kv.h"
#include "replica/replica.h"

/* The node_sm over kv (not owned): commands (normal entries) are encoded kv.Commands and their
 * results encoded kv.Replies; a leader's no-op changes nothing; snapshots are kv.Snapshots. */
struct node_sm kvd_state_machine(struct kv *kv);

#endif
