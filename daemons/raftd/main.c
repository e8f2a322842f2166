/* raftd: a Raft replicated log as a service. Reads its config, opens its node, serves
 * raftd.Propose / ReadLog / Status beside the peer stream, and stops cleanly on SIGTERM. */
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "node/node.h"
#include "rpc/rpc.h"
#include "service.h"

struct opts {
    int64_t id;
    char *listen, *peers, *data_dir, *log_level;
    uint64_t tick_ms, max_raft_state;
    int64_t election_ticks, heartbeat_ticks;
    bool fsync, pre_vote, check_quorum;
};

static const struct config_option options[] = {
    { "node", "id", "id", CONFIG_INT, offsetof(struct opts, id), "0", 0, 4294967295LL,
      "this node's id (required; one of the ids in --peers)" },
    { "node", "listen", "listen", CONFIG_STRING, offsetof(struct opts, listen), NULL, 0, 0,
      "address to serve peers and clients on (default: this node's address in --peers)" },
    { "node", "peers", "peers", CONFIG_STRING, offsetof(struct opts, peers), NULL, 0, 0,
      "every member as ID=HOST:PORT,... (required)" },
    { "node", "data_dir", "data-dir", CONFIG_STRING, offsetof(struct opts, data_dir), NULL, 0, 0,
      "directory of this node's LMDB store (required)" },
    { "raft", "tick", "tick", CONFIG_DURATION, offsetof(struct opts, tick_ms), "10ms", 1, 10000,
      "length of one Raft tick" },
    { "raft", "election_ticks", "election-ticks", CONFIG_INT, offsetof(struct opts, election_ticks),
      "20", 2, 100000, "election timeout in ticks (randomized up to twice this)" },
    { "raft", "heartbeat_ticks", "heartbeat-ticks", CONFIG_INT,
      offsetof(struct opts, heartbeat_ticks), "10", 1, 100000, "leader heartbeat interval in ticks" },
    { "raft", "max_raft_state", "max-raft-state", CONFIG_SIZE, offsetof(struct opts, max_raft_state),
      "0", 0, 0, "snapshot when the persisted Raft state exceeds this many bytes (0: never)" },
    { "raft", "fsync", "fsync", CONFIG_BOOL, offsetof(struct opts, fsync), "true", 0, 0,
      "fsync every write batch (turn off only for experiments)" },
    { "raft", "pre_vote", "pre-vote", CONFIG_BOOL, offsetof(struct opts, pre_vote), "true", 0, 0,
      "campaign with a pre-vote round first" },
    { "raft", "check_quorum", "check-quorum", CONFIG_BOOL, offsetof(struct opts, check_quorum),
      "true", 0, 0, "leaders step down without a live majority" },
    { "log", "level", "log-level", CONFIG_STRING, offsetof(struct opts, log_level), "info", 0, 0,
      "debug, info, warn or error" },
};

static const struct config_spec spec = {
    "raftd", "[OPTION]...",
    "A Raft replicated log as a service: clients propose opaque commands (raftd.Propose), read "
    "the committed log (raftd.ReadLog) and ask for status (raftd.Status); peers stream Raft "
    "messages on the same address. State lives in an LMDB store in --data-dir.",
    options, ARRAY_LEN(options),
};

struct daemon {
    struct event_base *base;
    struct rpc_server *srv;
};

static void on_drained(void *arg) { event_base_loopexit(((struct daemon *)arg)->base, NULL); }

static void on_signal(int sig, void *arg)
{
    struct daemon *d = arg;
    LOG_INFO("raftd", "signal %d: shutting down", sig);
    rpc_server_shutdown(d->srv, 2000, on_drained, d);
}

static void usage_error(const char *msg)
{
    fprintf(stderr, "raftd: %s (see --help)\n", msg);
    exit(2);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (config_from_args_or_exit(&spec, argc, argv, &o) != argc)
        usage_error("unexpected argument");
    enum log_level level;
    if (log_level_parse(o.log_level, &level) != 0)
        usage_error("--log-level: expected debug, info, warn or error");
    if (o.id == 0 || !o.peers || !o.data_dir)
        usage_error("--id, --peers and --data-dir are required");
    if (o.election_ticks <= o.heartbeat_ticks)
        usage_error("--election-ticks must be larger than --heartbeat-ticks");
    char err[512];
    struct node_peer *peers;
    size_t n_peers;
    if (node_parse_peers(o.peers, &peers, &n_peers, err, sizeof err) != 0)
        usage_error(err);
    const char *listen = o.listen;
    for (size_t i = 0; i < n_peers && !listen; i++)
        if (peers[i].id == (uint32_t)o.id)
            listen = peers[i].addr;
    if (!listen)
        usage_error("--id is not among --peers");
    char node_name[16];
    snprintf(node_name, sizeof node_name, "n%lld", (long long)o.id);
    log_setup(level, node_name, NULL);
    char desc[2048];
    config_describe(&spec, &o, desc, sizeof desc);
    LOG_INFO("raftd", "config: %s", desc);

    struct daemon d = { event_base_new(), NULL };
    d.srv = rpc_server_new(d.base, NULL);
    if (rpc_server_listen(d.srv, listen, err, sizeof err) != 0) {
        fprintf(stderr, "raftd: %s\n", err);
        return 1;
    }
    struct raftd_state state = { 0, 0 };
    struct node_sm sm = raftd_state_machine(&state);
    struct node_config nc = {
        .id = (uint32_t)o.id, .peers = peers, .n_peers = n_peers, .data_dir = o.data_dir,
        .tick_ms = o.tick_ms, .election_ticks = (unsigned)o.election_ticks,
        .heartbeat_ticks = (unsigned)o.heartbeat_ticks, .max_raft_state = o.max_raft_state,
        .fsync = o.fsync, .pre_vote = o.pre_vote, .check_quorum = o.check_quorum,
    };
    struct node *node = node_new(d.base, d.srv, &nc, &sm, err, sizeof err);
    if (!node) {
        fprintf(stderr, "raftd: %s\n", err);
        return 1;
    }
    struct service *svc = raftd_service_new(d.srv, node, &state);
    struct rpc_signals *sig = rpc_signals_install(d.base, on_signal, &d);
    LOG_INFO("raftd", "serving on %s", listen);
    event_base_dispatch(d.base);
    rpc_signals_free(sig);
    node_free(node);
    rpc_server_free(d.srv);
    raftd_service_free(svc);
    event_base_free(d.base);
    free(peers);
    config_free(&spec, &o);
    LOG_INFO("raftd", "stopped");
    return 0;
}
