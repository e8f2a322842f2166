/* lib/kv as a replica's state machine: the adapter kvd runs on its node, and the
 * deterministic simulator runs on its simulated nodes (test/sim/simkv.c), so both drive the
 * same bytes-in / bytes-out path into lib/kv. */
#ifndef KVD_MACHINE_H
#define KVD_MACHINE_H

#include "kv/kv.h"
#include "replica/replica.h"

struct kv_snapshot_view;

/* The machine: kv (not owned) and the snapshot being taken, if any. */
struct kvd_machine {
    struct kv *kv;
    struct kv_snapshot_view *snap;
};

/* The node_sm over m->kv: commands (normal entries) are encoded kv.Commands and their results
 * encoded kv.Replies; a leader's no-op changes nothing; snapshots are kv.Snapshots, streamed
 * (snapshot_size / _write / _done), so that a large one is written in the background. */
struct node_sm kvd_state_machine(struct kvd_machine *m);

#endif
