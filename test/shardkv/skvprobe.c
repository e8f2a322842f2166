/* skvprobe: a minimal client of shardkvd groups for the shell tests, until the shard clerk
 * (lib/clerk/shard.h) exists. It does not read the controller's config: it asks every server
 * given, in turn, until one answers for the key (a leader of the group serving its shard).
 *   skvprobe --servers A,B,... [--timeout D] [--wrong-group-exits] put KEY VALUE | get KEY
 *   skvprobe --servers A,B,... status
 * put prints nothing; get prints the value (exit 3 when the key has none); status prints one
 * line per server: ADDR ROLE gid=G config=N bytes=B shards=S:STATE[<from@left_at],...
 * Exit 1 when no server answered before the deadline; with --wrong-group-exits, 4 as soon as a
 * server answers WRONG_GROUP (the key's shard is not this group's now). A put keeps one client id and sequence
 * number across its retries, so it executes at most once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/util.h"
#include "kv.pb-c.h"
#include "rpc/rpc.h"
#include "shardkv.pb-c.h"

struct opts {
    char *servers;
    uint64_t timeout_ms;
    bool wrong_group_exits;
};

static const struct config_option options[] = {
    { "", "servers", "servers", CONFIG_STRING, offsetof(struct opts, servers), NULL, 0, 0,
      "every server to try, HOST:PORT,... (required)" },
    { "", "timeout", "timeout", CONFIG_DURATION, offsetof(struct opts, timeout_ms), "10s", 1,
      3600000, "give up after this long" },
    { "", "wrong_group_exits", "wrong-group-exits", CONFIG_BOOL,
      offsetof(struct opts, wrong_group_exits), "false", 0, 0,
      "exit 4 at a WRONG_GROUP answer instead of trying on" },
};

struct probe {
    char **addrs;
    size_t n;
    struct rpc_sync **conns; /* opened on first use */
};

static enum rpc_status call(struct probe *p, size_t i, const char *method, const uint8_t *req,
                            size_t len, uint8_t **reply, size_t *reply_len)
{
    if (!p->conns[i]) {
        char err[256];
        p->conns[i] = rpc_sync_new(p->addrs[i], err, sizeof err);
        if (!p->conns[i])
            return RPC_UNREACHABLE;
    }
    return rpc_sync_call(p->conns[i], method, req, len, 1000, reply, reply_len, NULL);
}

static size_t index_of(const struct probe *p, const char *addr)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->addrs[i], addr) == 0)
            return i;
    return SIZE_MAX;
}

/* Sends cmd until some server answers other than WRONG_LEADER / WRONG_GROUP / SHUTTING_DOWN
 * (WRONG_GROUP too when wrong_group ends it); returns that reply (NULL at the deadline). */
static Kv__Reply *op(struct probe *p, const Kv__Command *cmd, uint64_t deadline, bool wrong_group)
{
    uint8_t *req = xmalloc(kv__command__get_packed_size(cmd) + 1);
    size_t len = kv__command__pack(cmd, req);
    size_t next = 0;
    while (clock_mono_ms() < deadline) {
        size_t i = next;
        next = (next + 1) % p->n;
        uint8_t *rep = NULL;
        size_t rlen = 0;
        Kv__Reply *r = NULL;
        if (call(p, i, "shardkv.Op", req, len, &rep, &rlen) == RPC_OK)
            r = kv__reply__unpack(NULL, rlen, rep);
        free(rep);
        if (r && (r->err == KV__ERR__OK || r->err == KV__ERR__NO_KEY ||
                  (wrong_group && r->err == KV__ERR__WRONG_GROUP))) {
            free(req);
            return r;
        }
        if (r && r->err == KV__ERR__WRONG_LEADER && index_of(p, r->leader_addr) != SIZE_MAX)
            next = index_of(p, r->leader_addr);
        if (r)
            kv__reply__free_unpacked(r, NULL);
        if (next == 0)
            clock_sleep_ms(100); /* a round without an answer: the groups are moving */
    }
    free(req);
    return NULL;
}

static int status(struct probe *p)
{
    int answered = 0;
    for (size_t i = 0; i < p->n; i++) {
        uint8_t *rep = NULL;
        size_t len = 0;
        Shardkv__StatusReply *r = NULL;
        if (call(p, i, "shardkv.Status", NULL, 0, &rep, &len) == RPC_OK)
            r = shardkv__status_reply__unpack(NULL, len, rep);
        free(rep);
        if (!r || !r->node) {
            printf("%s unreachable\n", p->addrs[i]);
            if (r)
                shardkv__status_reply__free_unpacked(r, NULL);
            continue;
        }
        answered++;
        printf("%s %s gid=%u config=%llu bytes=%llu shards=", p->addrs[i], r->node->role, r->gid,
               (unsigned long long)r->config_num, (unsigned long long)r->bytes);
        for (size_t k = 0; k < r->n_shards; k++) {
            const Shardkv__ShardStatus *s = r->shards[k];
            const ProtobufCEnumValue *v =
                protobuf_c_enum_descriptor_get_value(&shardkv__shard_state__descriptor, s->state);
            printf("%s%u:%s", k ? "," : "", s->shard, v ? v->name : "?");
            if (s->from_gid)
                printf("<%u@%llu", s->from_gid, (unsigned long long)s->left_at);
        }
        printf("%s\n", r->n_shards ? "" : "-");
        shardkv__status_reply__free_unpacked(r, NULL);
    }
    return answered ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct opts o;
    const struct config_spec spec = { "skvprobe", "--servers A,B put KEY VALUE | get KEY | status",
                                      "A minimal shardkvd client for tests.", options,
                                      ARRAY_LEN(options) };
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    int nargs = argc - first;
    const char *cmd = nargs ? argv[first] : "";
    if (!o.servers || !(strcmp(cmd, "status") == 0 ? nargs == 1
                        : strcmp(cmd, "get") == 0  ? nargs == 2
                        : strcmp(cmd, "put") == 0  ? nargs == 3
                                                   : false)) {
        fprintf(stderr, "usage: skvprobe --servers A,B,... put KEY VALUE | get KEY | status\n");
        config_free(&spec, &o);
        return 2;
    }
    struct probe p = { 0 };
    p.n = split_list(o.servers, &p.addrs);
    p.conns = xcalloc(p.n ? p.n : 1, sizeof *p.conns);
    uint64_t deadline = clock_mono_ms() + o.timeout_ms;
    int rc;
    if (p.n == 0) {
        rc = 2;
    } else if (strcmp(cmd, "status") == 0) {
        rc = status(&p);
    } else {
        Kv__Command c = KV__COMMAND__INIT;
        c.key.data = (uint8_t *)argv[first + 1];
        c.key.len = strlen(argv[first + 1]);
        if (strcmp(cmd, "put") == 0) {
            c.op = KV__OP_TYPE__PUT;
            c.value.data = (uint8_t *)argv[first + 2];
            c.value.len = strlen(argv[first + 2]);
            c.client_id = (clock_wall_ns() ^ ((uint64_t)getpid() << 32)) | 1;
            c.seq = 1;
        }
        Kv__Reply *r = op(&p, &c, deadline, o.wrong_group_exits);
        if (!r) {
            fprintf(stderr, "skvprobe: %s %s: no server answered within %llu ms\n", cmd,
                    argv[first + 1], (unsigned long long)o.timeout_ms);
            rc = 1;
        } else {
            rc = r->err == KV__ERR__WRONG_GROUP                       ? 4
                 : c.op == KV__OP_TYPE__GET && r->err == KV__ERR__NO_KEY ? 3
                                                                          : 0;
            if (c.op == KV__OP_TYPE__GET && rc == 0)
                printf("%.*s\n", (int)r->value.len, (const char *)r->value.data);
            kv__reply__free_unpacked(r, NULL);
        }
    }
    for (size_t i = 0; i < p.n; i++)
        rpc_sync_free(p.conns[i]);
    free(p.conns);
    strv_free(p.addrs, p.n);
    config_free(&spec, &o);
    return rc;
}
