/* kvcli: the command-line client of a kvd cluster.
 *   kvcli [--servers HOST:PORT,...] [--timeout D] get KEY | put KEY VALUE | append KEY VALUE | status
 * Servers come from --servers, else $KV_SERVERS, else the local cluster `make run` starts. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "clerk/clerk.h"
#include "kv.pb-c.h"
#include "rpc/rpc.h"

#define LOCAL_CLUSTER "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

struct opts {
    char *servers;
    uint64_t timeout_ms;
};

static const struct config_option options[] = {
    { "", "servers", "servers", CONFIG_STRING, offsetof(struct opts, servers), NULL, 0, 0,
      "kvd nodes, comma-separated (default: $KV_SERVERS, else " LOCAL_CLUSTER ")" },
    { "", "timeout", "timeout", CONFIG_DURATION, offsetof(struct opts, timeout_ms), "10s", 1,
      86400000, "give up when no quorum answers within this long" },
};

static const struct config_spec spec = {
    "kvcli", "[OPTION]... get KEY | put KEY VALUE | append KEY VALUE | status",
    "Talks to a kvd cluster. get prints the value; put and append store VALUE (\"-\" reads it "
    "from standard input); status prints one row per node. Exit status: 0 success, 1 no quorum "
    "answered within the timeout (or a write refused: no space on the leader), 2 usage error.",
    options, ARRAY_LEN(options),
};

static size_t split(const char *list, char ***out)
{
    char *copy = xstrdup(list), *save = NULL, **v = NULL;
    size_t n = 0;
    for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        v = xrealloc(v, (n + 1) * sizeof *v);
        v[n++] = xstrdup(a);
    }
    free(copy);
    *out = v;
    return n;
}

static uint8_t *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    *len = n;
    return buf;
}

/* One row per node; exit status 1 when no node answered (a health check for one node). */
static int cmd_status(char **servers, size_t n, uint64_t timeout_ms)
{
    size_t answered = 0;
    printf("%-4s %-22s %-13s %6s %6s %8s %8s %8s %8s %8s\n", "id", "address", "role", "term",
           "leader", "commit", "applied", "last", "snapshot", "keys");
    for (size_t i = 0; i < n; i++) {
        char err[256];
        struct rpc_sync *s = rpc_sync_new(servers[i], err, sizeof err);
        uint8_t *rep = NULL;
        size_t len = 0;
        Kv__StatusReply *st = NULL;
        if (s && rpc_sync_call(s, "kv.Status", NULL, 0, MIN(timeout_ms, 2000), &rep, &len, NULL) ==
                     RPC_OK)
            st = kv__status_reply__unpack(NULL, len, rep);
        free(rep);
        rpc_sync_free(s);
        if (!st || !st->node) {
            printf("%-4s %-22s unreachable\n", "-", servers[i]);
            if (st)
                kv__status_reply__free_unpacked(st, NULL);
            continue;
        }
        const Raftd__StatusReply *nd = st->node;
        printf("%-4u %-22s %-13s %6llu %6u %8llu %8llu %8llu %8llu %8llu\n", nd->id, servers[i],
               nd->role, (unsigned long long)nd->term, nd->leader_id,
               (unsigned long long)nd->commit_index, (unsigned long long)nd->applied_index,
               (unsigned long long)nd->last_index, (unsigned long long)nd->snapshot_index,
               (unsigned long long)st->keys);
        kv__status_reply__free_unpacked(st, NULL);
        answered++;
    }
    return answered > 0 ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "kvcli: usage: kvcli [OPTION]... get KEY | put KEY VALUE | append KEY VALUE | "
                    "status (see --help)\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o;
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    log_setup(LOG_ERROR, "kvcli", NULL);
    const char *list = o.servers ? o.servers : getenv("KV_SERVERS") ? getenv("KV_SERVERS")
                                                                    : LOCAL_CLUSTER;
    char **servers;
    size_t n = split(list, &servers);
    int nargs = argc - first;
    const char *cmd = nargs > 0 ? argv[first] : "";
    int rc;
    if (n == 0) {
        fprintf(stderr, "kvcli: no servers given\n");
        rc = 2;
    } else if (strcmp(cmd, "status") == 0 && nargs == 1) {
        rc = cmd_status(servers, n, o.timeout_ms);
    } else if ((strcmp(cmd, "get") == 0 && nargs == 2) ||
               ((strcmp(cmd, "put") == 0 || strcmp(cmd, "append") == 0) && nargs == 3)) {
        struct clerk_opts co;
        clerk_opts_default(&co);
        co.deadline_ms = o.timeout_ms;
        co.attempt_ms = MIN(o.timeout_ms, 1000);
        char err[256];
        struct clerk_sync *c = clerk_sync_new((const char *const *)servers, n, &co, err, sizeof err);
        if (!c) {
            fprintf(stderr, "kvcli: %s\n", err);
            rc = 2;
        } else {
            const char *key = argv[first + 1];
            enum clerk_result r;
            if (cmd[0] == 'g') {
                uint8_t *value;
                size_t len;
                r = clerk_sync_get(c, key, &value, &len);
                if (r != CLERK_TIMEOUT) {
                    fwrite(value, 1, len, stdout);
                    putchar('\n');
                }
                free(value);
            } else {
                const char *arg = argv[first + 2];
                size_t vlen = strlen(arg);
                uint8_t *val = strcmp(arg, "-") == 0 ? read_stdin(&vlen) : (uint8_t *)xstrdup(arg);
                r = cmd[0] == 'p' ? clerk_sync_put(c, key, val, vlen) : clerk_sync_append(c, key, val, vlen);
                free(val);
            }
            if (r == CLERK_TIMEOUT)
                fprintf(stderr, "kvcli: no quorum answered within the timeout\n");
            if (r == CLERK_NO_SPACE)
                fprintf(stderr, "kvcli: not written: no space left on the data volume of %s\n",
                        clerk_sync_server(c));
            rc = r == CLERK_TIMEOUT || r == CLERK_NO_SPACE ? 1 : 0;
            clerk_sync_free(c);
        }
    } else {
        rc = usage();
    }
    for (size_t i = 0; i < n; i++)
        free(servers[i]);
    free(servers);
    config_free(&spec, &o);
    return rc;
}
