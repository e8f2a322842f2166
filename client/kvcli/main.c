/* kvcli: the command-line client of a kvd cluster, and the shard controller's admin tool.
 *   kvcli [--servers HOST:PORT,...] [--timeout D] [--json | -w json] get KEY | put KEY VALUE |
 *         append KEY VALUE | status
 *   kvcli [--servers HOST:PORT,...] [--timeout D] [--json] del KEY | cas KEY OLD NEW |
 *         cas --absent KEY NEW (write_ops.c)
 *   kvcli [--servers HOST:PORT,...] [--timeout D] [--json] member list | add | promote | remove,
 *         leader transfer (member.c)
 *   kvcli [--ctrlers HOST:PORT,...] [--timeout D] [--json] shard join | leave | move | config
 * Servers come from --servers, else $KV_SERVERS, else the local cluster `make run` starts;
 * controllers from --ctrlers, else $KV_CTRLERS (the shard commands are in shard.c). With
 * controllers and no --servers, get/put/append go to a sharded cluster (the shard clerk). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "clerk/clerk.h"
#include "clerk/shard.h"
#include "tlsopt/tlsopt.h"
#include "json.h"
#include "member.h"
#include "node_status.h"
#include "shard.h"
#include "write_ops.h"
#include "snapshot.h"

#define LOCAL_CLUSTER "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

struct opts {
    char *servers;
    char *ctrlers;
    uint64_t timeout_ms;
    bool json;
    char *write_out;
    struct tls_opts tls;
};

static const struct config_option options[] = {
    { "", "servers", "servers", CONFIG_STRING, offsetof(struct opts, servers), NULL, 0, 0,
      "kvd nodes, comma-separated (default: $KV_SERVERS, else " LOCAL_CLUSTER ")" },
    { "", "ctrlers", "ctrlers", CONFIG_STRING, offsetof(struct opts, ctrlers), NULL, 0, 0,
      "shardctrld nodes for the shard commands, comma-separated (default: $KV_CTRLERS)" },
    { "", "timeout", "timeout", CONFIG_DURATION, offsetof(struct opts, timeout_ms), "10s", 1,
      86400000, "give up when no leader answers within this long (a unit is required: 500ms, 10s)" },
    { "", "json", "json", CONFIG_BOOL, offsetof(struct opts, json), "false", 0, 0,
      "get, status, member, shard, del and cas commands: print one line of JSON (as "
      "--write-out json)" },
    { "", "write-out", "write-out", CONFIG_STRING, offsetof(struct opts, write_out), "simple", 0,
      0, "output format, simple or json (-w json, as etcdctl)" },
    TLS_CONFIG_OPTIONS("", "tls_", struct opts, tls),
};

static const struct config_spec spec = {
    "kvcli", "[OPTION]... get KEY | put KEY VALUE | append KEY VALUE | " WRITE_OPS_SYNOPSIS
    " | status | " MEMBER_SYNOPSIS " | " SHARD_SYNOPSIS " | " SNAPSHOT_SYNOPSIS,
    "Talks to a kvd cluster. get prints the value; put and append store VALUE (\"-\" reads it "
    "from standard input); del deletes KEY and prints \"deleted\" or \"not found\" (exit 0 either "
    "way); cas sets KEY to NEW (\"-\": standard input) only if it holds OLD (cas --absent: only "
    "if KEY is absent), prints "
    "nothing and exits 0 when it did, else exits 1 printing the current value (stderr: \"compare "
    "failed\"; for an absent key only \"compare failed: key not found\" on stderr); status "
    "prints one row per node (of kvd, shardkvd or shardctrld; the last column is kvd's keys, "
    "shardkvd's gid or shardctrld's latest config). Any one member's address is enough (a follower relays to the leader). Exit status: 0 success; 1 failure, "
    "with the reason on standard error: \"key not found\" (get of a key never written), \"value "
    "too large: N bytes, limit M\", \"not written: no space left on the data volume of X\", "
    "\"cannot connect to X: ...\" / \"cannot resolve X\" / \"X is not a kvd server\" (within "
    "about a second when no server can be reached), \"no leader answered within T\"; for status: "
    "no node reports a leader; 2 usage error. The shard commands talk to a shard controller "
    "(shardctrld, --ctrlers): join adds replica groups (GID=HOST:PORT,... each, in one call), "
    "leave removes groups, move puts one shard on a group; each prints the number of the config "
    "it made (\"config N\"); join --initial joins only on a controller still at config 0 (else "
    "it prints \"config N exists: nothing joined\" and exits 0). config prints config NUM "
    "(default the latest): each gid's shards as ranges (0-4,7) and its servers in order; with "
    "--json one line {\"num\":N,\"shards\":[gid,...],\"groups\":{\"gid\":[server,...]}}. A "
    "request the controller refuses (an unknown gid, gid 0, a gid joined twice, a shard out of "
    "range) exits 1 with the controller's message. With controllers given (--ctrlers or "
    "$KV_CTRLERS) and no --servers, get, put, append, del and cas go to the sharded cluster (shardkvd "
    "groups) through the shard clerk. shard status prints every group member's role, config "
    "number and shard states, and exits 1 until every shard is served; shard key KEY prints the "
    "key's shard and group. The member commands work on any Raft daemon's cluster (--servers: "
    "kvd, raftd, shardctrld, or one shardkvd group): member list prints each member's id, "
    "address, role (leader, voter, learner) and match index; member add ID=HOST:PORT adds a "
    "learner (start the node with --join), member promote ID makes a caught-up learner a voter, "
    "member remove ID removes a member (the leader too: it hands over first); leader transfer "
    "ID hands leadership to voter ID. A change is retried while another is pending or the "
    "learner catches up, until --timeout. With --json (or -w json) get, status, member and "
    "shard commands print one line of JSON: get {\"key\":K,\"found\":true,\"value\":V} (a "
    "key or value that is not UTF-8 comes as \"key_base64\" / \"value_base64\"; a missing key "
    "{\"key\":K,\"found\":false}, exit 1), status {\"nodes\":[{\"addr\":A,\"daemon\":D,"
    "\"id\":N,\"role\":R,\"term\":T,\"leader\":L,\"commit\":C,\"applied\":A,\"last\":L,"
    "\"snapshot\":S,\"keys\"|\"gid\"|\"config\":N} or {\"addr\":A,\"error\":E},...]}, shard "
    "join/leave/move {\"config\":N}, shard key {\"key\":K,\"shard\":S,\"gid\":G,...}. "
    SNAPSHOT_HELP " TLS: with --tls-cert, --tls-key and --tls-ca (or $RAFTKV_TLS_CERT, "
    "$RAFTKV_TLS_KEY, $RAFTKV_TLS_CA) every connection is mutual TLS (docs/TLS.md); a server "
    "that refuses the certificate, or a mode mismatch (plain on a TLS port or the reverse), is "
    "exit 1 with the TLS cause; a partial set or a bad file is exit 2.",
    options, ARRAY_LEN(options),
};

/* One node of kvcli --json status: {"addr":A,"daemon":D,"id":N,"role":R,"term":T,"leader":L,
 * "commit":C,"applied":A,"last":L,"snapshot":S,"keys"|"gid"|"config":N}, or {"addr":A,
 * "error":WHY} for a node that did not answer. */
static void print_status_json(bool first, const char *addr, const struct node_row *r,
                              const char *why)
{
    printf("%s{\"addr\":", first ? "" : ",");
    json_string(addr);
    if (why) {
        fputs(",\"error\":", stdout);
        json_string(why);
        putchar('}');
        return;
    }
    const char *last = strcmp(r->daemon, "shardkvd") == 0     ? "gid"
                       : strcmp(r->daemon, "shardctrld") == 0 ? "config"
                                                              : "keys";
    printf(",\"daemon\":\"%s\",\"id\":%u,\"role\":", r->daemon, r->id);
    json_string(r->role);
    printf(",\"term\":%llu,\"leader\":%u,\"commit\":%llu,\"applied\":%llu,\"last\":%llu,"
           "\"snapshot\":%llu,\"%s\":%llu}",
           (unsigned long long)r->term, r->leader_id, (unsigned long long)r->commit,
           (unsigned long long)r->applied, (unsigned long long)r->last,
           (unsigned long long)r->snapshot, last, (unsigned long long)r->keys);
}

/* One row per node; exit status 1 unless some node reports a leader (a health check for one
 * node, a cluster check for several). The last column is kvd's keys, shardkvd's gid or
 * shardctrld's latest config number (the header says which when every node is one daemon). */
static int cmd_status(char **servers, size_t n, uint64_t timeout_ms, bool json)
{
    size_t with_leader = 0;
    struct node_row *rows = xcalloc(n ? n : 1, sizeof *rows);
    char **why = xcalloc(n ? n : 1, sizeof *why);
    const char *daemon = NULL;
    bool mixed = false;
    for (size_t i = 0; i < n; i++) {
        char w[512];
        if (node_status_fetch(servers[i], timeout_ms, &rows[i], w, sizeof w) != 0) {
            why[i] = xstrdup(w);
            continue;
        }
        mixed |= daemon && strcmp(daemon, rows[i].daemon) != 0;
        daemon = rows[i].daemon;
    }
    const char *last = mixed || !daemon || strcmp(daemon, "kvd") == 0 ? "keys"
                       : strcmp(daemon, "shardkvd") == 0             ? "gid"
                                                                     : "config";
    if (json)
        fputs("{\"nodes\":[", stdout);
    else
        printf("%-4s %-22s %-13s %6s %6s %8s %8s %8s %8s %8s\n", "id", "address", "role", "term",
               "leader", "commit", "applied", "last", "snapshot", last);
    for (size_t i = 0; i < n; i++) {
        const struct node_row *r = &rows[i];
        if (json)
            print_status_json(i == 0, servers[i], r, why[i]);
        else if (why[i])
            printf("%-4s %-22s %s\n", "-", servers[i], why[i]);
        else
            printf("%-4u %-22s %-13s %6llu %6u %8llu %8llu %8llu %8llu %8llu\n", r->id,
                   servers[i], r->role, (unsigned long long)r->term, r->leader_id,
                   (unsigned long long)r->commit, (unsigned long long)r->applied,
                   (unsigned long long)r->last, (unsigned long long)r->snapshot,
                   (unsigned long long)r->keys);
        with_leader += !why[i] && r->leader_id != 0;
        free(why[i]);
    }
    if (json)
        puts("]}");
    free(rows);
    free(why);
    if (with_leader == 0)
        fprintf(stderr, "kvcli: no node reports a leader\n");
    return with_leader > 0 ? 0 : 1;
}

/* kvcli --json get: {"key":K,"found":true,"value":V} (the key and value as json_bytes_member
 * writes them: "value_base64" for bytes that are not UTF-8), or {"key":K,"found":false}. */
static void print_get_json(const char *key, bool found, const uint8_t *v, size_t len)
{
    putchar('{');
    json_bytes_member("key", (const uint8_t *)key, strlen(key));
    printf(",\"found\":%s", found ? "true" : "false");
    if (found) {
        putchar(',');
        json_bytes_member("value", v, len);
    }
    puts("}");
}

/* Where get/put/append go: a kvd cluster (the kv clerk) or a sharded cluster (the shard clerk,
 * with controllers given and no --servers). */
struct kv_backend {
    struct clerk_sync *kv;
    struct shard_sync *sharded;
};

static enum clerk_result be_get(struct kv_backend *b, const char *key, uint8_t **v, size_t *len)
{
    return b->kv ? clerk_sync_get(b->kv, key, v, len) : shard_sync_get(b->sharded, key, v, len);
}

static enum clerk_result be_write(struct kv_backend *b, bool put, const char *key,
                                  const uint8_t *val, size_t vlen)
{
    if (b->kv)
        return put ? clerk_sync_put(b->kv, key, val, vlen) : clerk_sync_append(b->kv, key, val, vlen);
    return put ? shard_sync_put(b->sharded, key, val, vlen)
               : shard_sync_append(b->sharded, key, val, vlen);
}

static const char *be_error(struct kv_backend *b)
{
    return b->kv ? clerk_error(clerk_sync_clerk(b->kv))
                 : shard_clerk_error(shard_sync_clerk(b->sharded));
}

static void be_too_large(struct kv_backend *b, uint64_t *size, uint64_t *limit)
{
    if (b->kv)
        clerk_too_large(clerk_sync_clerk(b->kv), size, limit);
    else
        shard_clerk_too_large(shard_sync_clerk(b->sharded), size, limit);
}

/* Prints why an operation failed; returns the exit status. */
static int report(struct kv_backend *b, enum clerk_result r, const char *key, size_t vlen)
{
    switch (r) {
    case CLERK_OK:
        return 0;
    case CLERK_NO_KEY:
        fprintf(stderr, "kvcli: %s: key not found\n", key);
        return 1;
    case CLERK_TOO_LARGE: {
        uint64_t size, limit;
        be_too_large(b, &size, &limit);
        if (limit)
            fprintf(stderr, "kvcli: value too large: %zu bytes, limit %llu (for the whole request, "
                            "%llu bytes here)\n",
                    vlen, (unsigned long long)limit, (unsigned long long)size);
        else
            fprintf(stderr, "kvcli: value too large: %zu bytes (%s)\n", vlen, be_error(b));
        return 1;
    }
    default:
        fprintf(stderr, "kvcli: %s\n", be_error(b));
        return 1;
    }
}

static int usage(void)
{
    fprintf(stderr, "kvcli: usage: kvcli [OPTION]... get KEY | put KEY VALUE | append KEY VALUE | "
                    WRITE_OPS_SYNOPSIS " | status | member ... | leader transfer ID | shard ... | "
                    "snapshot ... (see --help)\n");
    return 2;
}

int main(int argc, char **argv)
{
    /* etcdctl's short form: -w FORMAT is --write-out FORMAT (among the options, i.e. before
     * the command word; a value after it is left alone). */
    static const char *const commands[] = { "get",    "put",    "append", "del",  "cas",
                                            "status", "member", "leader", "shard", "snapshot" };
    for (int i = 1; i < argc; i++) {
        bool command = false;
        for (size_t c = 0; c < ARRAY_LEN(commands); c++)
            command |= strcmp(argv[i], commands[c]) == 0;
        if (command)
            break;
        if (strcmp(argv[i], "-w") == 0)
            argv[i] = "--write-out";
    }
    struct opts o;
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    if (strcmp(o.write_out, "json") == 0) {
        o.json = true;
    } else if (strcmp(o.write_out, "simple") != 0) {
        fprintf(stderr, "kvcli: --write-out: \"%s\" is not simple or json\n", o.write_out);
        config_free(&spec, &o);
        return 2;
    }
    log_setup(LOG_ERROR, "kvcli", NULL);
    struct rpc_tls *tls = NULL;
    if (tls_opts_setup("kvcli", &o.tls, &tls) != 0) {
        config_free(&spec, &o);
        return 2;
    }
    const char *list = o.servers ? o.servers : getenv("KV_SERVERS") ? getenv("KV_SERVERS")
                                                                    : LOCAL_CLUSTER;
    char **servers;
    size_t n = split_list(list, &servers);
    int nargs = argc - first;
    const char *cmd = nargs > 0 ? argv[first] : "";
    const char *ctrlers = o.ctrlers ? o.ctrlers : getenv("KV_CTRLERS");
    int rc;
    if (strcmp(cmd, "shard") == 0) {
        rc = shard_main(argv + first + 1, nargs - 1, ctrlers, o.timeout_ms, o.json);
    } else if (strcmp(cmd, "snapshot") == 0) {
        rc = snapshot_main(argv + first + 1, nargs - 1, servers, n, o.timeout_ms);
    } else if (n == 0) {
        fprintf(stderr, "kvcli: no servers given\n");
        rc = 2;
    } else if ((strcmp(cmd, "member") == 0 || strcmp(cmd, "leader") == 0) &&
               (rc = member_main(cmd, argv + first + 1, nargs - 1, servers, n, o.timeout_ms,
                                 o.json)) >= 0) {
        /* done */
    } else if (strcmp(cmd, "status") == 0 && nargs == 1) {
        rc = cmd_status(servers, n, o.timeout_ms, o.json);
    } else if ((strcmp(cmd, "get") == 0 && nargs == 2) ||
               ((strcmp(cmd, "put") == 0 || strcmp(cmd, "append") == 0) && nargs == 3) ||
               write_ops_match(cmd, argv + first + 1, nargs)) {
        uint8_t *val = NULL;
        size_t vlen = 0;
        if (cmd[0] == 'p' || cmd[0] == 'a') {
            const char *arg = argv[first + 2];
            vlen = strlen(arg);
            val = strcmp(arg, "-") == 0 ? read_stream(stdin, &vlen) : (uint8_t *)xstrdup(arg);
        }
        struct clerk_opts co;
        clerk_opts_default(&co);
        co.deadline_ms = o.timeout_ms;
        /* An attempt gives a large value time to be stored (1 s more per 8 MiB, a slow disk's
         * pace), so that it is not sent again, and logged twice, while the first is. */
        co.attempt_ms = MIN(o.timeout_ms, 1000 + vlen / (8u << 20) * 1000);
        co.fail_fast_ms = MIN(o.timeout_ms, 1000);
        char err[256];
        struct kv_backend b = { NULL, NULL };
        if (ctrlers && ctrlers[0] && !o.servers) { /* a sharded cluster */
            char **cs;
            size_t nc = split_list(ctrlers, &cs);
            b.sharded = shard_sync_new((const char *const *)cs, nc, &co, err, sizeof err);
            strv_free(cs, nc);
        } else {
            b.kv = clerk_sync_new((const char *const *)servers, n, &co, err, sizeof err);
        }
        if (!b.kv && !b.sharded) {
            fprintf(stderr, "kvcli: %s\n", err);
            rc = 2;
        } else {
            const char *key = argv[first + 1];
            enum clerk_result r;
            int own = -1; /* del / cas: the exit status of an outcome they printed */
            if (write_ops_match(cmd, argv + first + 1, nargs)) {
                own = write_ops_run(cmd, argv + first + 1, nargs - 1, b.kv, b.sharded, o.json, &r);
            } else if (cmd[0] == 'g') {
                uint8_t *value;
                size_t len;
                r = be_get(&b, key, &value, &len);
                if (o.json && (r == CLERK_OK || r == CLERK_NO_KEY)) {
                    print_get_json(key, r == CLERK_OK, value, len);
                } else if (r == CLERK_OK) {
                    fwrite(value, 1, len, stdout);
                    putchar('\n');
                }
                if (r == CLERK_NO_KEY) {
                    fprintf(stderr, "kvcli: %s: key not found\n", key);
                }
                free(value);
            } else {
                r = be_write(&b, cmd[0] == 'p', key, val, vlen);
            }
            rc = own >= 0 ? own : report(&b, r, key, vlen);
            clerk_sync_free(b.kv);
            shard_sync_free(b.sharded);
        }
        free(val);
    } else {
        rc = usage();
    }
    for (size_t i = 0; i < n; i++)
        free(servers[i]);
    free(servers);
    tls_opts_teardown(tls);
    config_free(&spec, &o);
    return rc;
}
