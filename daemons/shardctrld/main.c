/* shardctrld: the shard controller, replicated by Raft. It keeps the numbered configurations
 * (which replica group serves each shard, and each group's servers); Join, Leave and Move make
 * new ones, Query reads any. The daemon shape is lib/node's (node/daemon.h); shardctrld adds
 * lib/shardctrl as the state machine (machine.c), the --shards option and its client service
 * (service.c). docs/SHARDS.md has the model and the rules. */
#include "base/util.h"
#include "machine.h"
#include "node/daemon.h"
#include "service.h"

#define F(field) offsetof(struct shardctrld_opts, field)

static const struct config_option options[] = {
    { "shardctrl", "shards", "shards", CONFIG_INT, F(shards), "10", 1, SC_MAX_SHARDS,
      "the number of shards, fixed when the controller is created (its first write): a "
      "server started later with another count follows the data" },
};

int main(int argc, char **argv)
{
    struct shardctrld st = { NULL };
    struct node_sm sm = shardctrl_state_machine(&st.sc);
    const struct node_daemon d = {
        .program = "shardctrld",
        .summary = "The shard controller, replicated by Raft: numbered configurations of which "
                   "replica group (gid) serves each shard and which servers each group has. "
                   "Clients call shardctrl.Op (kvcli shard, lib/clerk/ctrl.h): Join, Leave and "
                   "Move make a new configuration, balanced with as few moves as possible "
                   "(Move never rebalances); Query(n) returns configuration n exactly as it was "
                   "made (-1: the latest), confirmed by a heartbeat round (ReadIndex). Every "
                   "configuration is kept. State lives in LMDB in --data-dir.",
        .options = options, .n_options = ARRAY_LEN(options),
        .opts_size = sizeof(struct shardctrld_opts),
        .service = { .check = shardctrld_check, .start = shardctrld_service_start,
                     .stop = shardctrld_service_stop, .arg = &st, .sm = &sm },
    };
    int rc = node_daemon_main(&d, argc, argv);
    shardctrl_free(st.sc);
    return rc;
}
