/* raftd: a Raft replicated log as a service. The node options and run loop are lib/node's
 * (node/daemon.h); raftd adds its state machine and client service (service.c). */
#include <stddef.h>

#include "base/util.h"
#include "node/daemon.h"
#include "service.h"

struct opts {
    struct node_opts node;
};

static void *start(struct rpc_server *srv, struct node *n, void *arg)
{
    return raftd_service_new(srv, n, arg);
}

static void stop(void *service) { raftd_service_free(service); }

int main(int argc, char **argv)
{
    struct config_option options[32];
    node_options_fill(options, offsetof(struct opts, node));
    const struct config_spec spec = {
        "raftd", "[OPTION]...",
        "A Raft replicated log as a service: clients propose opaque commands (raftd.Propose), read "
        "the committed log (raftd.ReadLog) and ask for status (raftd.Status); peers stream Raft "
        "messages on the same address. State lives in an LMDB store in --data-dir.",
        options, node_options_count(),
    };
    struct raftd_state state = { 0, 0 };
    struct node_sm sm = raftd_state_machine(&state);
    struct node_service svc = { start, stop, &state, &sm };
    struct opts o;
    return node_daemon_main(&spec, &o, offsetof(struct opts, node), &svc, argc, argv);
}
