/* Pieces shared by the harness's own files (not part of the public interface, cluster.h). */
#ifndef TEST_CLUSTER_INTERNAL_H
#define TEST_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/util.h"
#include "cluster.h"

/* One node of a cluster. */
struct cnode {
    unsigned id;
    pid_t pid;            /* 0 while not running */
    bool paused;
    uint16_t port;
    char addr[32];        /* "127.0.0.1:<port>": where it listens */
    char *dir, *data_dir, *ini, *log;
    int client_link;      /* the proxy link in front of it */
    struct rpc_sync *sync;/* the harness's own connection (NULL until used) */
    char *env_extra;      /* cluster_set_node_env's NAME=VALUE, or NULL */
};

struct cluster {
    unsigned n;
    unsigned members; /* nodes 1..members form the cluster; the others join when added */
    uint64_t seed;
    uint64_t replay_seed; /* the CLUSTER_SEED that makes this seed again (see pick_seed) */
    struct rng rng;
    char *name, *daemon, *status_method, *ini_extra;
    uint64_t start_timeout_ms;
    char **argv; /* daemon --config <set at each start> args... NULL */
    size_t n_argv;
    char *dir;
    struct cnode nodes[CLUSTER_MAX_NODES + 1];
    struct cluster_proxy *proxy;
    int peer_link[CLUSTER_MAX_NODES + 1][CLUSTER_MAX_NODES + 1];
    bool connected[CLUSTER_MAX_NODES + 1];
    pid_t watcher;
    int watcher_fd;
    int unexpected_exits; /* nodes that exited without the harness asking */
    const struct cluster_tls *tls; /* NULL: plain TCP */
    char *powercut_lib;   /* the shim's absolute path (opts.powercut), else NULL */
};

/* The environment node nd starts with beyond the test's (powercut.c): the shim's variables
 * when c runs under it, and the node's cluster_set_node_env. Fills out (room for 5 + NULL),
 * its strings in bufs; returns out. */
char **cluster_node_env(const struct cluster *c, const struct cnode *nd, char *out[6],
                        char bufs[4][1024]);
/* Resolves the shim's path for a cluster with opts.powercut (NULL: none wanted). Returns 0, or
 * -1 with err when it is wanted but missing. */
int cluster_powercut_init(struct cluster *c, const struct cluster_opts *o, char *err,
                          size_t errlen);

/* Forgets nd's process (dead and reaped): its connection is rebuilt after a restart. */
void cluster_node_forget(struct cnode *nd);

/* Node i of c; aborts (a bug in the test) when i is out of range. */
struct cnode *cluster_node(const struct cluster *c, unsigned i);

/* If nd's process exited by itself, reaps it, prints why with its log tail, counts it in
 * c->unexpected_exits and marks the node down. Returns true in that case. */
bool cluster_node_reap(struct cluster *c, struct cnode *nd);

/* Picks a free TCP port on 127.0.0.1 for a daemon to listen on, below the kernel's ephemeral
 * range when there is room (so no outgoing connection takes it while its node is down and a
 * restart finds it free), avoiding the `n_taken` ports in taken. Returns 0, or -1. */
int cluster_port_pick(struct rng *r, const uint16_t *taken, size_t n_taken, uint16_t *port);
/* cluster_port_pick also avoids, and reserves, every port it picked before in this process (for
 * any cluster) until it is released here (cluster_free). */
void cluster_port_release(uint16_t port);

/* Waits until 127.0.0.1:port accepts a TCP connection, while pid runs, at most timeout_ms.
 * Returns 0, 1 when pid exited first (its wait status in *status), or -1 on timeout. */
int cluster_wait_listening(pid_t pid, uint16_t port, uint64_t timeout_ms, int *status);

/* Forks the watcher of a cluster: it holds the read end of a pipe whose write end (*wfd,
 * close-on-exec) only this process keeps. When the write end closes, the watcher removes dir
 * (unless keep), and, when "ok" was not written first (the process died: a failed assertion,
 * a crash, a timeout), it first prints the seed and the last 30 lines of dir/n<i>/log, i =
 * 1..n. Returns the watcher's pid, or -1. */
pid_t cluster_watcher_start(const char *dir, unsigned n, uint64_t seed, bool keep, int *wfd);

/* Tells the watcher the cluster ended normally and waits for it. */
void cluster_watcher_finish(pid_t pid, int wfd);

#endif
