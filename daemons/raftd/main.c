/* raftd: a Raft replicated log as a service. The daemon shape is lib/node's (node/daemon.h);
 * raftd adds its state machine, its options and its client service (service.c). */
#include "base/util.h"
#include "node/daemon.h"
#include "service.h"

#define F(field) offsetof(struct raftd_opts, field)

static const struct config_option options[] = {
    { "raftd", "read_log_max", "read-log-max", CONFIG_INT, F(read_log_max), "10000", 1, 1000000,
      "entries per raftd.ReadLog reply, at most" },
    { "raftd", "read_log_default", "read-log-default", CONFIG_INT, F(read_log_default), "1000", 1,
      1000000, "entries per raftd.ReadLog reply when the request asks for no maximum" },
};

int main(int argc, char **argv)
{
    struct raftd_state state = { 0, 0 };
    struct node_sm sm = raftd_state_machine(&state);
    const struct node_daemon d = {
        .program = "raftd",
        .summary = "A Raft replicated log as a service: clients propose opaque commands "
                   "(raftd.Propose), read the committed log (raftd.ReadLog) and ask for status "
                   "(raftd.Status); peers stream Raft messages on the same address. State lives "
                   "in an LMDB store in --data-dir.",
        .options = options, .n_options = ARRAY_LEN(options), .opts_size = sizeof(struct raftd_opts),
        .service = { .check = raftd_check_opts, .start = raftd_service_start,
                     .applied_hash = raftd_applied_hash, .stop = raftd_service_stop, .arg = &state,
                     .sm = &sm },
    };
    return node_daemon_main(&d, argc, argv);
}
