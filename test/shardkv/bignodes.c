/* The large-shard test's processes (bignodes.h). */
#include "bignodes.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cluster/cluster.h"
#include "../cluster/internal.h"
#include "base/clock.h"
#include "node.pb-c.h"
#include "rpc/rpc.h"
#include "shardkv.pb-c.h"

/* A port nobody listens on now, in the test port range (the harness's picker: below the
 * ephemeral range, TEST_PORT_LO..TEST_PORT_HI when run-all.sh sets them). */
static int free_port(void)
{
    static struct rng r;
    if (!r.state)
        rng_seed(&r, clock_mono_ns() ^ ((uint64_t)getpid() << 32));
    uint16_t port;
    return cluster_port_pick(&r, NULL, 0, &port) == 0 ? port : -1;
}

static bool listening(const char *addr)
{
    int port = atoi(strchr(addr, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Starts the 3 nodes of one cluster: daemon with its own flags then extra. */
static int start_cluster(struct bn *b, const char *name, struct bn_node *nodes, const char *daemon,
                         const char *const *own, const char *const *extra)
{
    char peers[256] = "";
    for (int i = 0; i < BN_NODES; i++) {
        int port = free_port();
        if (port < 0) {
            fprintf(stderr, "bigmove: no free port\n");
            return -1;
        }
        snprintf(nodes[i].addr, sizeof nodes[i].addr, "127.0.0.1:%d", port);
        size_t l = strlen(peers);
        snprintf(peers + l, sizeof peers - l, "%s%d=%s", i ? "," : "", i + 1, nodes[i].addr);
    }
    const char *bin = getenv("BIN") ? getenv("BIN") : "bin";
    for (int i = 0; i < BN_NODES; i++) {
        struct bn_node *n = &nodes[i];
        snprintf(n->dir, sizeof n->dir, "%s/%s-%d", b->root, name, i + 1);
        mkdir(n->dir, 0755);
        char prog[256], id[8], data[300], log[300];
        snprintf(prog, sizeof prog, "%s/%s", bin, daemon);
        snprintf(id, sizeof id, "%d", i + 1);
        snprintf(data, sizeof data, "%s/data", n->dir);
        snprintf(log, sizeof log, "%s/log", n->dir);
        const char *argv[48];
        int k = 0;
        argv[k++] = prog;
        argv[k++] = "--id";
        argv[k++] = id;
        argv[k++] = "--peers";
        argv[k++] = peers;
        argv[k++] = "--data-dir";
        argv[k++] = data;
        argv[k++] = "--log-level";
        argv[k++] = "warn";
        for (const char *const *o = own; o && *o && k < 40; o++)
            argv[k++] = *o;
        for (const char *const *e = extra; e && *e && k < 46; e++)
            argv[k++] = *e;
        argv[k] = NULL;
        char err[256];
        n->pid = cluster_proc_spawn((char *const *)argv, log, err, sizeof err);
        if (n->pid < 0) {
            fprintf(stderr, "bigmove: %s: %s\n", prog, err);
            return -1;
        }
    }
    for (int i = 0; i < BN_NODES; i++) {
        uint64_t t0 = clock_mono_ms();
        while (!listening(nodes[i].addr)) {
            if (clock_mono_ms() - t0 > 15000) {
                fprintf(stderr, "bigmove: %s node %d does not listen after 15 s:\n", name, i + 1);
                char log[300];
                snprintf(log, sizeof log, "%s/log", nodes[i].dir);
                cluster_print_tail(log, 20, "  ");
                return -1;
            }
            usleep(20000);
        }
    }
    return 0;
}

int bn_start(struct bn *b, const char *const *extra)
{
    memset(b, 0, sizeof *b);
    snprintf(b->root, sizeof b->root, "/tmp/bigmove-XXXXXX");
    if (!mkdtemp(b->root)) {
        perror("bigmove: mkdtemp");
        return -1;
    }
    const char *ctrl_flags[] = { "--shards", "10", NULL };
    if (start_cluster(b, "ctrl", b->ctrl, "shardctrld", ctrl_flags, NULL))
        return -1;
    char ctrlers[128] = "";
    for (int i = 0; i < BN_NODES; i++) {
        b->ctrl_addrs[i] = b->ctrl[i].addr;
        size_t l = strlen(ctrlers);
        snprintf(ctrlers + l, sizeof ctrlers - l, "%s%s", i ? "," : "", b->ctrl[i].addr);
    }
    for (int g = 0; g < BN_GROUPS; g++) {
        char gid[16], name[16];
        snprintf(gid, sizeof gid, "%u", BN_GID(g));
        snprintf(name, sizeof name, "g%u", BN_GID(g));
        const char *own[] = { "--gid", gid, "--ctrlers", ctrlers, NULL };
        if (start_cluster(b, name, b->grp[g], "shardkvd", own, extra))
            return -1;
        for (int i = 0; i < BN_NODES; i++)
            b->grp_addrs[g][i] = b->grp[g][i].addr;
    }
    return 0;
}

static int stop_nodes(struct bn_node *nodes)
{
    int bad = 0;
    for (int i = 0; i < BN_NODES; i++)
        if (nodes[i].pid > 0)
            kill(nodes[i].pid, SIGTERM);
    for (int i = 0; i < BN_NODES; i++) {
        if (nodes[i].pid <= 0)
            continue;
        int status = 0;
        cluster_proc_end(nodes[i].pid, 0, 20000, &status);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "bigmove: %s did not exit cleanly (status %d); its log:\n",
                    nodes[i].dir, status);
            char log[300];
            snprintf(log, sizeof log, "%s/log", nodes[i].dir);
            cluster_print_tail(log, 20, "  ");
            bad++;
        }
        nodes[i].pid = 0;
        if (nodes[i].rpc)
            rpc_sync_free(nodes[i].rpc);
        nodes[i].rpc = NULL;
    }
    return bad;
}

int bn_stop(struct bn *b)
{
    int bad = 0;
    for (int g = 0; g < BN_GROUPS; g++)
        bad += stop_nodes(b->grp[g]);
    bad += stop_nodes(b->ctrl);
    const char *keep = getenv("KEEP_CLUSTER");
    if (b->root[0] && !(keep && !strcmp(keep, "1"))) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->root);
        if (system(cmd) != 0)
            fprintf(stderr, "bigmove: could not remove %s\n", b->root);
    } else if (b->root[0]) {
        fprintf(stderr, "bigmove: kept %s\n", b->root);
    }
    return bad;
}

int bn_mem(pid_t pid, struct bn_mem *m)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    memset(m, 0, sizeof *m);
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "VmRSS: %llu kB", &v) == 1)
            m->rss_kib = v;
        else if (sscanf(line, "VmHWM: %llu kB", &v) == 1)
            m->hwm_kib = v;
        else if (sscanf(line, "RssAnon: %llu kB", &v) == 1)
            m->anon_kib = v;
        else if (sscanf(line, "RssFile: %llu kB", &v) == 1)
            m->file_kib = v;
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    if (!(f = fopen(path, "r")))
        return 0;
    int child;
    while (fscanf(f, "%d", &child) == 1) {
        char sp[64];
        snprintf(sp, sizeof sp, "/proc/%d/smaps_rollup", child);
        FILE *c = fopen(sp, "r");
        while (c && fgets(line, sizeof line, c)) {
            unsigned long long v;
            if (sscanf(line, "Private_Dirty: %llu kB", &v) == 1)
                m->child_kib += v;
        }
        if (c)
            fclose(c);
    }
    fclose(f);
    return 0;
}

int bn_writers(const struct bn *b)
{
    int n = 0;
    for (int g = 0; g < BN_GROUPS; g++)
        for (int i = 0; i < BN_NODES; i++) {
            char path[64];
            int child;
            snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)b->grp[g][i].pid,
                     (int)b->grp[g][i].pid);
            FILE *f = fopen(path, "r");
            if (f && fscanf(f, "%d", &child) == 1)
                n++;
            if (f)
                fclose(f);
        }
    return n;
}

uint64_t bn_data_bytes(const struct bn_node *n)
{
    char path[300];
    snprintf(path, sizeof path, "%s/data", n->dir);
    DIR *d = opendir(path);
    uint64_t sum = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char f[600];
        struct stat st;
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        if (stat(f, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

int bn_reset_peak(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int rc = write(fd, "5", 1) == 1 ? 0 : -1;
    close(fd);
    return rc;
}

int bn_status(struct bn_node *n, uint32_t shard, uint64_t timeout_ms, struct bn_status *st)
{
    memset(st, 0, sizeof *st);
    if (!n->rpc) {
        char err[256];
        n->rpc = rpc_sync_new(n->addr, err, sizeof err);
        if (!n->rpc)
            return -1;
    }
    uint8_t *rep = NULL;
    size_t len = 0;
    if (rpc_sync_call(n->rpc, "shardkv.Status", NULL, 0, timeout_ms, &rep, &len, NULL) != RPC_OK)
        return -1;
    Shardkv__StatusReply *r = shardkv__status_reply__unpack(NULL, len, rep);
    free(rep);
    if (!r)
        return -1;
    if (r->node) {
        st->leader = !strcmp(r->node->role, "leader");
        st->snapshots_taken = r->node->snapshots_taken;
        st->snapshots_installed = r->node->snapshots_installed;
    }
    for (size_t k = 0; k < r->n_shards; k++)
        if (r->shards[k]->shard == shard) {
            st->state = (int)r->shards[k]->state;
            st->keys = r->shards[k]->keys;
        }
    shardkv__status_reply__free_unpacked(r, NULL);
    return 0;
}
