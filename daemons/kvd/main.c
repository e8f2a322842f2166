/* kvd: a linearizable key/value server replicated by Raft (a one-member cluster is the
 * single-node server). The daemon shape is lib/node's (node/daemon.h); kvd adds lib/kv as the
 * state machine (machine.c) and its client service (service.c). */
#include "machine.h"
#include "node/daemon.h"
#include "service.h"

int main(int argc, char **argv)
{
    struct kv *kv = kv_new();
    struct kvd_machine m = { kv, NULL };
    struct node_sm sm = kvd_state_machine(&m);
    const struct node_daemon d = {
        .program = "kvd",
        .summary = "A linearizable key/value server (Get, Put, Append, Delete, compare-and-swap) replicated by Raft. "
                   "Clients call kv.Op (kvcli, lib/clerk); writes execute at most once per "
                   "(client id, sequence); reads are confirmed by a heartbeat round (ReadIndex), "
                   "not logged. Snapshots past --max-raft-state. State lives in LMDB in "
                   "--data-dir.",
        /* The barrier of a backup on a new leader: an empty kv.Command is a Get of "", which
         * changes nothing (not even the session table). */
        .service = { .start = kvd_service_start, .stop = kvd_service_stop, .arg = kv, .sm = &sm,
                     .barrier = (const uint8_t *)"", .barrier_len = 0 },
    };
    int rc = node_daemon_main(&d, argc, argv);
    kv_free(kv);
    return rc;
}
