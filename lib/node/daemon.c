#include "node/daemon.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "node/admin.h"
#include "node/backup.h"
#include "metrics/http.h"
#include "metrics/metrics.h"
#include "metrics/rpc.h"
#include "node/join.h"
#include "node/metrics.h"
#include "node/status_pb.h"
#include "storage/storage.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#define F(field) offsetof(struct node_opts, field)

/* Offsets within struct node_opts, which heads the daemon's option buffer (see svc_base). */
static const struct config_option node_opts_table[] = {
    { "node", "id", "id", CONFIG_INT, F(id), "0", 0, 4294967295LL,
      "this node's id (required; one of the ids in --peers)" },
    { "node", "listen", "listen", CONFIG_STRING, F(listen), NULL, 0, 0,
      "address to serve peers and clients on (default: this node's address in --peers, or the "
      "one it was added with when it joins)" },
    { "node", "peers", "peers", CONFIG_STRING, F(peers), NULL, 0, 0,
      "the cluster's first members as ID=HOST:PORT,... (required unless --join); once the "
      "store holds a membership (member add/remove), the store's wins" },
    { "node", "join", "join", CONFIG_STRING, F(join), NULL, 0, 0,
      "HOST:PORT[,...] of members of a running cluster that this node joins, after `kvcli "
      "member add ID=HOST:PORT` added it: it starts as a learner with an empty store" },
    { "node", "peer_addrs", "peer-addrs", CONFIG_STRING, F(peer_addrs), NULL, 0, 0,
      "ID=HOST:PORT,...: reach these members there, whatever address they were added with "
      "(a proxy, NAT)" },
    { "node", "data_dir", "data-dir", CONFIG_STRING, F(data_dir), NULL, 0, 0,
      "directory of this node's LMDB store (required)" },
    { "node", "max_request_bytes", "max-request-bytes", CONFIG_SIZE, F(max_request_bytes),
      "1536KiB", 1, 1073741824,
      "largest client request accepted; larger ones are answered TOO_LARGE at once (as etcd's "
      "--max-request-bytes)" },
    /* "new" is the default so that a first start just works, and it stays safe on restarts:
     * a directory with no trace of a store gets a new one, an intact store opens, and a store
     * that is gone (data.mdb missing or empty beside lock.mdb or the MEMBER marker) is refused
     * rather than restarted empty. "existing" is the operator saying "this node replaces a
     * lost member": a missing store is created empty in recovery mode (docs/RAFT.md). */
    { "node", "initial_cluster_state", "initial-cluster-state", CONFIG_STRING,
      F(initial_cluster_state), "new", 0, 0,
      "new: create a store only in a directory that never held one; existing: this node "
      "replaces a member whose store was lost (it rejoins empty and votes only once safe)" },
    /* The defaults are rpc_server_opts_default's. */
    { "node", "max_connections", "max-connections", CONFIG_INT, F(max_connections), "4096", 1,
      1000000, "connections served at once, peers' and clients'; more are closed at accept" },
    { "node", "frame_timeout", "frame-timeout", CONFIG_DURATION, F(frame_timeout_ms), "30s", 0,
      3600000, "close a connection that takes longer to send one frame (0: never)" },
    { "raft", "tick", "tick", CONFIG_DURATION, F(tick_ms), "10ms", 1, 10000,
      "length of one Raft tick" },
    { "raft", "election_ticks", "election-ticks", CONFIG_INT, F(election_ticks),
      STRINGIFY(RAFT_DEFAULT_ELECTION_TICKS), 2, 100000,
      "election timeout in ticks (randomized up to twice this)" },
    { "raft", "heartbeat_ticks", "heartbeat-ticks", CONFIG_INT, F(heartbeat_ticks),
      STRINGIFY(RAFT_DEFAULT_HEARTBEAT_TICKS), 1, 100000, "leader heartbeat interval in ticks" },
    { "raft", "max_raft_state", "max-raft-state", CONFIG_SIZE, F(max_raft_state), "64MiB", 0, 0,
      "snapshot when the persisted Raft log exceeds this many bytes, or the last snapshot's "
      "size when that is larger, up to 4 times this (0: never, the log grows without end); the "
      "default bounds the disk and a restart's replay, in the spirit of etcd's snapshot every "
      "100,000 entries" },
    /* Below it the fork (which copies the page tables) saves little: writing a snapshot of a
     * few MiB takes milliseconds. */
    { "raft", "background_snapshot_min", "background-snapshot-min", CONFIG_SIZE,
      F(background_snapshot_min), "16MiB", 0, 0,
      "write a snapshot of at least this many bytes from a forked child (copy-on-write, as "
      "Redis's BGSAVE) while the node goes on serving; smaller ones, and those of a state "
      "machine that cannot stream its snapshot (kvd's and shardkvd's can; raftd's and "
      "shardctrld's are small), pause the node while written (0: always)" },
    { "raft", "background_snapshot_rate", "background-snapshot-rate", CONFIG_SIZE,
      F(background_snapshot_rate), "100MiB", 0, 0,
      "bytes per second a background snapshot is written at, at most, so that the node's own "
      "fsyncs on the same disk do not queue behind it (as TiKV's 100 MB/s; 0: no limit)" },
    { "raft", "fsync", "fsync", CONFIG_BOOL, F(fsync), "true", 0, 0,
      "fsync every write batch (turn off only for experiments)" },
    { "raft", "pre_vote", "pre-vote", CONFIG_BOOL, F(pre_vote), "true", 0, 0,
      "campaign with a pre-vote round first" },
    { "raft", "check_quorum", "check-quorum", CONFIG_BOOL, F(check_quorum), "true", 0, 0,
      "leaders step down without a live majority" },
    { "raft", "noop_on_elect", "noop-on-elect", CONFIG_BOOL, F(noop_on_elect), "false", 0, 0,
      "a new leader appends a no-op entry (commits earlier terms at once)" },
    { "node", "metrics_listen", "metrics-listen", CONFIG_STRING, F(metrics_listen), NULL, 0, 0,
      "HOST:PORT to serve Prometheus metrics (/metrics) and the probes /healthz and /readyz "
      "on, over plain HTTP even when the node speaks TLS (default: none)" },
    TLS_CONFIG_OPTIONS("tls", "", struct node_opts, tls),
    { "log", "level", "log-level", CONFIG_STRING, F(log_level), "info", 0, 0,
      "debug, info, warn or error" },
};


struct daemon {
    struct event_base *base;
    struct rpc_server *srv;
    struct node *node;
    const struct node_service *svc;
    void *service;
    const char *name;
};

static void on_drained(void *arg) { event_base_loopexit(((struct daemon *)arg)->base, NULL); }

static void on_signal(int sig, void *arg)
{
    struct daemon *d = arg;
    LOG_INFO(d->name, "signal %d: shutting down", sig);
    rpc_server_shutdown(d->srv, 2000, on_drained, d);
}

static void on_role(bool leader, uint64_t term, void *arg)
{
    struct daemon *d = arg;
    d->svc->on_role(d->service, leader, term);
}

/* "node.Status", which every Raft daemon answers. */
static void handle_status(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    struct daemon *d = arg;
    node_status_reply(call, d->node, d->svc->applied_hash ? d->svc->applied_hash(d->svc->arg) : 0);
}

static int usage_error(const char *program, const char *msg)
{
    fprintf(stderr, "%s: %s (see --help)\n", program, msg);
    return 2;
}

/* The node's options, then the service's at svc_base (aligned for any field). */
static size_t svc_base(void)
{
    size_t a = _Alignof(max_align_t);
    return (sizeof(struct node_opts) + a - 1) / a * a;
}

static bool join_list_valid(const char *list)
{
    char **v;
    size_t n = split_list(list, &v);
    bool ok = n > 0;
    for (size_t i = 0; i < n; i++) {
        char host[256];
        uint16_t port;
        ok &= parse_host_port(v[i], host, sizeof host, &port) == 0 && port != 0;
    }
    strv_free(v, n);
    return ok;
}

/* Checks the node's options (the service's come after): NULL, or what is wrong (in err or a
 * constant). Sets *listen and the parsed peers. */
static const char *check_node_opts(const struct node_opts *o, enum log_level *level,
                                   const char **listen, struct node_peer **peers, size_t *n_peers,
                                   char *err, size_t errlen)
{
    struct raft_config rc;
    raft_config_default(&rc);
    rc.id = (uint32_t)o->id;
    rc.n_peers = 0; /* the members are checked by node_parse_peers */
    rc.election_ticks = (unsigned)o->election_ticks;
    rc.heartbeat_ticks = (unsigned)o->heartbeat_ticks;
    char rerr[128];
    if (log_level_parse(o->log_level, level) != 0)
        return "--log-level: expected debug, info, warn or error";
    if (o->id == 0 || (!o->peers && !o->join) || !o->data_dir)
        return "--id, --peers (or --join) and --data-dir are required";
    if (o->peers && o->join)
        return "--peers and --join exclude each other: a joining node learns the members";
    if (strcmp(o->initial_cluster_state, "new") != 0 &&
        strcmp(o->initial_cluster_state, "existing") != 0)
        return "--initial-cluster-state: expected new or existing";
    /* Of what raft_config_check checks, only the two timings come from flags here (the id is
     * checked above, the heartbeat's minimum by the option table): keep the message users
     * know, naming flags rather than fields. */
    if (raft_config_check(&rc, rerr, sizeof rerr) != 0) {
        if (strstr(rerr, "election_ticks"))
            return "--election-ticks must be larger than --heartbeat-ticks";
        snprintf(err, errlen, "%s", rerr);
        return err;
    }
    if (o->join && !join_list_valid(o->join))
        return "--join: expected HOST:PORT[,...] of members";
    if (o->join) {
        *listen = o->listen; /* or the address it was added with (join_cluster) */
        return NULL;
    }
    if (node_parse_peers(o->peers, peers, n_peers, err, errlen) != 0)
        return err;
    *listen = o->listen;
    for (size_t i = 0; i < *n_peers && !*listen; i++)
        if ((*peers)[i].id == (uint32_t)o->id)
            *listen = (*peers)[i].addr;
    return *listen ? NULL : "--id is not among --peers";
}

/* How long a joining node waits for the member it was given to answer. */
#define JOIN_WAIT_MS 30000

/* --join: the members, from the member given. A node restarting with a store (it joined
 * before) goes on without them when that member does not answer: its store knows the
 * membership. Returns 0, or -1 with err. */
static int join_cluster(const struct node_opts *o, const char **listen, struct node_peer **peers,
                        size_t *n_peers, char *err, size_t errlen)
{
    bool restart = storage_present(o->data_dir);
    enum join_result jr = node_join_fetch(o->join, (uint32_t)o->id, restart ? 3000 : JOIN_WAIT_MS,
                                          peers, n_peers, err, errlen);
    if (jr == JOIN_NOT_MEMBER && !restart)
        return -1;
    if (jr != JOIN_OK && !restart)
        return -1;
    if (jr != JOIN_OK) {
        LOG_WARN("node", "--join: %s; going on with the membership in the store", err);
        if (!*listen) {
            snprintf(err, errlen, "--listen is required when the member of --join does not answer");
            return -1;
        }
        *peers = xcalloc(1, sizeof **peers);
        (*peers)[0].id = (uint32_t)o->id;
        snprintf((*peers)[0].addr, sizeof (*peers)[0].addr, "%s", *listen);
        *n_peers = 1;
        return 0;
    }
    for (size_t i = 0; i < *n_peers && !*listen; i++)
        if ((*peers)[i].id == (uint32_t)o->id)
            *listen = (*peers)[i].addr;
    LOG_INFO("node", "joining: %zu members known from %s; serving on %s", *n_peers, o->join,
             *listen);
    return 0;
}

/* Serves once the options are valid: returns the exit status. */
static int run(const struct node_daemon *dm, const struct node_opts *o, const void *svc_opts,
               const char *listen, const struct node_peer *peers, size_t n_peers)
{
    const struct node_service *svc = &dm->service;
    const char *prog = dm->program;
    char err[512];
    int rc = 1;
    struct node_peer *joined = NULL, *routes = NULL;
    size_t n_routes = 0;
    if (o->peer_addrs && node_parse_peers(o->peer_addrs, &routes, &n_routes, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --peer-addrs: %s\n", prog, err);
        return 2;
    }
    if (o->join) {
        if (join_cluster(o, &listen, &joined, &n_peers, err, sizeof err) != 0) {
            fprintf(stderr, "%s: --join %s: %s\n", prog, o->join, err);
            return 1;
        }
        peers = joined;
    }
    struct node_admin *admin = NULL;
    struct node_backup *backup = NULL;
    struct metrics_http *http = NULL;
    struct node_metrics *nm = NULL;
    struct metrics *reg = metrics_new();
    struct daemon d = { .base = event_base_new(), .svc = svc, .name = prog };
    /* Three priorities: every event gets the middle one by default (libevent gives
     * npriorities / 2), the node's processing the last (see node_new). */
    event_base_priority_init(d.base, 3);
    /* Frames must hold the largest request plus its envelope, and the Raft messages that
     * carry it to the peers (node_new sizes its peer clients the same way). */
    struct rpc_server_opts so;
    rpc_server_opts_default(&so);
    so.max_connections = (uint32_t)o->max_connections;
    so.frame_timeout_ms = o->frame_timeout_ms;
    so.limits.max_request = o->max_request_bytes;
    so.limits.max_frame = MAX(so.limits.max_frame, o->max_request_bytes + NODE_FRAME_SLACK);
    so.limits.out_drop = so.limits.max_frame + (8u << 20);
    if (so.in_budget < 4 * so.limits.max_frame)
        so.in_budget = 4 * so.limits.max_frame;
    d.srv = rpc_server_new(d.base, &so);
    struct rpc_metrics *rm = rpc_metrics_new(reg, d.srv);
    /* Installed first: a SIGTERM that arrives while the store opens is handled (as a clean
     * shutdown once the loop runs), not fatal. */
    struct rpc_signals *sig = rpc_signals_install(d.base, on_signal, &d);
    if (rpc_server_listen(d.srv, listen, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto out;
    }
    if (o->metrics_listen &&
        !(http = metrics_http_new(d.base, o->metrics_listen, reg, err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto out;
    }
    struct node_config nc = {
        .id = (uint32_t)o->id, .peers = peers, .n_peers = n_peers, .data_dir = o->data_dir,
        .tick_ms = o->tick_ms, .election_ticks = (unsigned)o->election_ticks,
        .heartbeat_ticks = (unsigned)o->heartbeat_ticks, .max_raft_state = o->max_raft_state,
        .background_snapshot_min = o->background_snapshot_min,
        .background_snapshot_rate = o->background_snapshot_rate, .fsync = o->fsync, .pre_vote = o->pre_vote, .check_quorum = o->check_quorum,
        .noop_on_elect = o->noop_on_elect, .max_frame = so.limits.max_frame,
        .replace = strcmp(o->initial_cluster_state, "existing") == 0,
        .joining = o->join != NULL, .routes = routes, .n_routes = n_routes,
    };
    d.node = node_new(d.base, d.srv, &nc, svc->sm, err, sizeof err);
    if (!d.node) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto out;
    }
    nm = node_metrics_new(reg, d.node);
    if (http) {
        metrics_http_probe(http, "/healthz", node_metrics_healthz, nm);
        metrics_http_probe(http, "/readyz", node_metrics_readyz, nm);
    }
    const struct node_service_env env = { d.base, d.srv, d.node, o, svc_opts, reg };
    err[0] = '\0';
    d.service = svc->start(&env, err, sizeof err, svc->arg);
    if (!d.service) {
        fprintf(stderr, "%s: %s\n", prog, err[0] ? err : "the service did not start");
        goto out;
    }
    rpc_server_handle(d.srv, "node.Status", handle_status, &d);
    admin = node_admin_new(d.base, d.srv, d.node);
    const struct node_backup_config bc = { prog, svc->sm, svc->barrier, svc->barrier_len };
    backup = node_backup_new(d.base, d.srv, d.node, &bc);
    if (svc->on_role)
        node_on_role(d.node, on_role, &d);
    LOG_INFO(prog, "serving on %s over %s%s%s%s", listen, rpc_tls_default() ? "TLS" : "plain TCP",
             http ? ", metrics on " : "", http ? o->metrics_listen : "",
             http ? " (plain HTTP)" : "");
    event_base_dispatch(d.base);
    rc = 0;
out:
    metrics_http_free(http); /* no scrape from here on */
    node_metrics_free(nm);
    /* The node first: it completes every proposal (NODE_SHUTDOWN) while the service lives. */
    node_free(d.node);
    node_admin_free(admin);
    node_backup_free(backup);
    rpc_server_free(d.srv);
    rpc_metrics_free(rm);
    if (d.service && svc->stop)
        svc->stop(d.service);
    metrics_free(reg);
    if (rc == 0)
        LOG_INFO(prog, "stopped");
    rpc_signals_free(sig);
    event_base_free(d.base);
    free(joined);
    free(routes);
    return rc;
}

int node_daemon_main(const struct node_daemon *dm, int argc, char **argv)
{
    const char *prog = dm->program;
    /* Large values pass through short-lived buffers (frame, entry, apply, snapshot). A fixed
     * mmap threshold (glibc otherwise raises it after each large free) makes every block of
     * 256 KiB or more its own mapping, returned to the system as soon as it is freed, so a
     * daemon's memory follows its live data rather than its largest past request. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    size_t n_node = ARRAY_LEN(node_opts_table), base = svc_base();
    struct config_option *options = xmalloc((n_node + dm->n_options) * sizeof *options);
    memcpy(options, node_opts_table, sizeof node_opts_table);
    for (size_t i = 0; i < dm->n_options; i++) {
        options[n_node + i] = dm->options[i];
        options[n_node + i].offset += base;
    }
    const struct config_spec spec = { prog, "[OPTION]...", dm->summary, options,
                                      n_node + dm->n_options };
    char *buf = xcalloc(1, base + dm->opts_size);
    const struct node_opts *o = (const struct node_opts *)buf;
    const void *svc_opts = dm->opts_size ? buf + base : NULL;
    char err[512];
    const char *problem = NULL;
    struct node_peer *peers = NULL;
    size_t n_peers = 0;
    enum log_level level = LOG_INFO;
    const char *listen = NULL;
    if (config_from_args_or_exit(&spec, argc, argv, buf) != argc)
        problem = "unexpected argument";
    else
        problem = check_node_opts(o, &level, &listen, &peers, &n_peers, err, sizeof err);
    if (!problem && dm->service.check &&
        dm->service.check(svc_opts, err, sizeof err, dm->service.arg) != 0)
        problem = err;
    int rc;
    struct rpc_tls *tls = NULL;
    if (problem) {
        rc = usage_error(prog, problem);
    } else if ((rc = tls_opts_setup(prog, &o->tls, &tls)) != 0) {
        /* a bad or partial identity: the message is printed, exit 2 */
    } else {
        char node_name[16];
        snprintf(node_name, sizeof node_name, "n%lld", (long long)o->id);
        log_setup(level, node_name, NULL);
        char desc[4096];
        config_describe(&spec, buf, desc, sizeof desc);
        LOG_INFO(prog, "config: %s", desc);
        tls_opts_describe(&o->tls, tls, desc, sizeof desc);
        LOG_INFO(prog, "%s", desc);
        rc = run(dm, o, svc_opts, listen, peers, n_peers);
    }
    tls_opts_teardown(tls);
    free(peers);
    config_free(&spec, buf);
    free(buf);
    free(options);
    return rc;
}
