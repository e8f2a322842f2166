/* shardkvd: one replica of a shard group, replicated by Raft. The group serves the shards the
 * shard controller (shardctrld, --ctrlers) gives its gid, and hands shards over to other groups
 * as configurations change (pulled in chunks, then deleted at the old owner). The daemon shape
 * is lib/node's (node/daemon.h); shardkvd adds lib/shardkv as the state machine (machine.c),
 * its service (service.c) and the group's driver on the loop (driver_io.c). docs/SHARDS.md has
 * the design. */
#include "base/util.h"
#include "machine.h"
#include "node/daemon.h"
#include "service.h"

#define F(field) offsetof(struct shardkvd_opts, field)

static const struct config_option options[] = {
    { "shardkv", "gid", "gid", CONFIG_INT, F(gid), "0", 0, 4294967295LL,
      "this group's id, as joined to the controller (required, 1..4294967295)" },
    { "shardkv", "ctrlers", "ctrlers", CONFIG_STRING, F(ctrlers), NULL, 0, 0,
      "the shard controller's servers as HOST:PORT,... (required)" },
    { "shardkv", "poll", "poll", CONFIG_DURATION, F(poll_ms), "100ms", 1, 60000,
      "how often the leader asks the controller for the next config and retries hand-overs" },
    { "shardkv", "peer_attempt", "peer-attempt", CONFIG_DURATION, F(peer_attempt_ms), "1s", 10,
      2000, "how long the leader waits for one server's answer (the controller's, another "
      "group's) before it tries the next: what a lost frame costs a config poll, pull or delete" },
    /* A chunk is at least one pair (up to --max-request-bytes) over this budget, and travels in
     * one frame (64 MiB) as a PullReply and as an INSTALL entry: keep it well below. */
    { "shardkv", "chunk_bytes", "chunk-bytes", CONFIG_SIZE, F(chunk_bytes), "256KiB", 1024,
      32LL << 20, "keys and values per chunk of a shard handed over (pulled and logged)" },
    /* The next chunk is pulled while the last ones go through the log: their fsyncs are shared
     * (docs/SHARDS.md, "Large shards"); the window bounds what the log holds unapplied. */
    { "shardkv", "pull_window", "pull-window", CONFIG_INT, F(pull_window), "4", 1, 1024,
      "chunks of a shard handed over proposed ahead of the last one applied (1: one at a time)" },
};

int main(int argc, char **argv)
{
    struct shardkvd_machine m = { NULL };
    struct node_sm sm = shardkvd_state_machine(&m);
    const struct node_daemon d = {
        .program = "shardkvd",
        .summary = "One replica of a shard group (--gid), replicated by Raft: a linearizable "
                   "key/value server for the shards the shard controller (--ctrlers) gives the "
                   "group. Clients call shardkv.Op with a kv.Command (writes at most once per "
                   "(client id, sequence), Gets by ReadIndex); a key whose shard the group does "
                   "not serve now is answered WRONG_GROUP. The leader follows the controller's "
                   "configurations one by one, pulls the shards it gains from their last owner "
                   "in chunks (shardkv.Pull) and then has that owner delete them "
                   "(shardkv.Delete). State lives in LMDB in --data-dir.",
        .options = options, .n_options = ARRAY_LEN(options),
        .opts_size = sizeof(struct shardkvd_opts),
        .service = { .check = shardkvd_check, .start = shardkvd_service_start,
                     .on_role = shardkvd_service_on_role, .stop = shardkvd_service_stop,
                     .arg = &m, .sm = &sm },
    };
    int rc = node_daemon_main(&d, argc, argv);
    shardkvd_machine_release(&m);
    return rc;
}
