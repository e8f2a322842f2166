/* kvd: a linearizable key/value server replicated by Raft (a one-member cluster is the
 * single-node server). The node options and run loop are lib/node's (node/daemon.h); kvd adds
 * lib/kv as the state machine and its client service (service.c). */
#include <stddef.h>

#include "base/util.h"
#include "machine.h"
#include "node/daemon.h"
#include "service.h"

struct opts {
    struct node_opts node;
};

static void *start(struct rpc_server *srv, struct node *n, void *arg)
{
    return kvd_service_new(srv, n, arg);
}

static void stop(void *service) { kvd_service_free(service); }

int main(int argc, char **argv)
{
    struct config_option options[32];
    node_options_fill(options, offsetof(struct opts, node));
    const struct config_spec spec = {
        "kvd", "[OPTION]...",
        "A linearizable key/value server (Get, Put, Append) replicated by Raft. Clients call "
        "kv.Op (kvcli, lib/clerk); writes execute at most once per (client id, sequence); reads are "
        "confirmed by a heartbeat round (ReadIndex), not logged. Snapshots past --max-raft-state. State lives in LMDB in --data-dir.",
        options, node_options_count(),
    };
    struct kv *kv = kv_new();
    struct node_sm sm = kvd_state_machine(kv);
    struct node_service svc = { start, stop, kv, &sm };
    struct opts o;
    int rc = node_daemon_main(&spec, &o, offsetof(struct opts, node), &svc, argc, argv);
    kv_free(kv);
    return rc;
}
