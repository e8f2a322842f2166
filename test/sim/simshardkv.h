/* shardkvd's shard groups on the simulated nodes: lib/shardkv as every node's state machine
 * (through its codec: skv_codec_apply / snapshot / restore), made fresh at every start, on the
 * generic simulated service (simsvc.h), several groups in one simulation (sim_opts.cluster_size:
 * group g is the cluster of nodes first + g * size ..). A group's servers serve, on framed
 * requests (simtransport_new_servers):
 *   "shardkv.Op"     a kv.Command: Put/Append proposed as skv_codec_op_entry, Get by ReadIndex
 *                    then skv_codec_get (WRONG_GROUP when the shard is not served here), or
 *                    through the log as an OP entry while the leader is not ready;
 *   "shardkv.Pull"   by ReadIndex on the leader, then skv_codec_pull (NOT_READY while it is not
 *                    ready, and an ignored CONFIG proposed once a term, as shardkvd);
 *   "shardkv.Delete" a DELETE entry proposed, answered once applied.
 * Errors are the method's reply (kv.Reply, PullReply, DeleteReply) with the leader hint. Each
 * node runs lib/shardkv's driver (skv_driver_new) on the simulated node and simtransports: it
 * acts while the node leads, polls the controller (the cluster of nodes 0 .. n_ctrl - 1) and
 * pulls and deletes from the other groups. The replicas' states are compared index by index
 * (statecheck.h, on the skv_codec_snapshot bytes). */
#ifndef SIM_SIMSHARDKV_H
#define SIM_SIMSHARDKV_H

#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h"
#include "shardkv/shardkv.h"
#include "simsvc.h"

#define SIMSKV_MAX_GROUPS 3

struct simshardkv_opts {
    size_t n_ctrl;       /* the controller's nodes: 0 .. n_ctrl - 1 */
    size_t first;        /* group 0's first node */
    size_t group_size;
    size_t n_groups;     /* up to SIMSKV_MAX_GROUPS */
    uint32_t first_gid;  /* group g's gid: first_gid + g */
    int bugs;            /* shardkv_set_planted_bug on every node's state */
    uint64_t chunk_bytes; /* the drivers' pull chunk (0: the driver's default) */
    uint64_t poll_ms;     /* the drivers' poll (0: 100) */
};

struct simshardkv;

/* Set sim_opts.machine = simsvc_machine() and machine_arg = simshardkv_svc(k) (or route the
 * group nodes' machines there), then simshardkv_attach once the net exists. */
struct simshardkv *simshardkv_new(const struct simshardkv_opts *o);
struct simsvc *simshardkv_svc(struct simshardkv *k);
/* Serves the groups' nodes on net and starts their drivers. */
void simshardkv_attach(struct simshardkv *k, struct sim *s, struct simnet *net);
/* Free after sim_free (which destroys the machines and drivers) and before simnet_free. */
void simshardkv_free(struct simshardkv *k);

uint32_t simshardkv_gid(const struct simshardkv *k, size_t g);
/* Group g's servers' addresses (group_size of them), as a Join names them. */
const char *const *simshardkv_servers(const struct simshardkv *k, size_t g);
/* Node i's state (NULL while crashed or when i is no group node). */
struct shardkv *simshardkv_skv(struct simshardkv *k, size_t i);

/* A framed transport to the servers named by servers (simsvc_addr names; ops NULL when one is
 * not a server of net), on its own endpoint; the shard clerk's and the drivers' group
 * transports. Free with simshardkv_transport_free. */
struct clerk_transport simshardkv_transport(struct simnet *net, const char *const *servers,
                                            size_t n);
void simshardkv_transport_free(struct clerk_transport *t);

struct simshardkv_stats {
    uint64_t configs_proposed, installs_proposed, gc_proposed, pulls_served, deletes;
    /* INSTALLs applied while naming another config than the current one, that the state's
     * other guards (the shard PULLING, the same hand-over) would let through */
    uint64_t stale_installs;
};
/* The drivers' figures so far (of drivers freed too). */
void simshardkv_stats(const struct simshardkv *k, struct simshardkv_stats *st);
uint64_t simshardkv_states_compared(const struct simshardkv *k);

#endif
