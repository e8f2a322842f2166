/* kvcli shard status | shard key: what the groups of the latest config say of themselves
 * (shardkv.Status on every member), and which shard (and group) a key belongs to. */
#include "shard_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "json.h"
#include "rpc/rpc.h"
#include "shardctrl/keyshard.h"
#include "shardkv.pb-c.h"

void print_ranges(FILE *f, const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1)
            j++;
        fprintf(f, "%s%u", i ? "," : "", v[i]);
        if (j > i)
            fprintf(f, "-%u", v[j]);
        i = j;
    }
    if (n == 0)
        fputs("-", f);
}

static const char *state_name(Shardkv__ShardState s)
{
    switch (s) {
    case SHARDKV__SHARD_STATE__SERVING: return "serving";
    case SHARDKV__SHARD_STATE__PULLING: return "pulling";
    case SHARDKV__SHARD_STATE__LEAVING: return "leaving";
    case SHARDKV__SHARD_STATE__GC: return "gc";
    default: return "not-owned";
    }
}

static int by_shard(const void *a, const void *b)
{
    uint32_t x = (*(Shardkv__ShardStatus *const *)a)->shard;
    uint32_t y = (*(Shardkv__ShardStatus *const *)b)->shard;
    return x < y ? -1 : x > y;
}

/* "serving 0-3,7; pulling 4 (from 101 at 5); leaving 8 (at 5); gc 2 (from 101 at 5)": per
 * state, the shards as ranges, those of one hand-over (last owner, config it left at) together. */
static void print_shards(FILE *f, Shardkv__StatusReply *st)
{
    qsort(st->shards, st->n_shards, sizeof *st->shards, by_shard);
    uint32_t *v = xcalloc(st->n_shards + 1, sizeof *v);
    bool *done = xcalloc(st->n_shards + 1, sizeof *done);
    static const Shardkv__ShardState order[] = {
        SHARDKV__SHARD_STATE__SERVING, SHARDKV__SHARD_STATE__PULLING,
        SHARDKV__SHARD_STATE__LEAVING, SHARDKV__SHARD_STATE__GC };
    bool any = false;
    for (size_t o = 0; o < ARRAY_LEN(order); o++) {
        for (size_t i = 0; i < st->n_shards; i++) {
            const Shardkv__ShardStatus *s = st->shards[i];
            if (done[i] || s->state != order[o])
                continue;
            size_t n = 0;
            for (size_t j = i; j < st->n_shards; j++) {
                const Shardkv__ShardStatus *t = st->shards[j];
                bool same = t->state == s->state &&
                            (s->state == SHARDKV__SHARD_STATE__SERVING ||
                             (t->from_gid == s->from_gid && t->left_at == s->left_at));
                if (!done[j] && same) {
                    v[n++] = t->shard;
                    done[j] = true;
                }
            }
            fprintf(f, "%s%s ", any ? "; " : "", state_name(s->state));
            print_ranges(f, v, n);
            if (s->state == SHARDKV__SHARD_STATE__LEAVING)
                fprintf(f, " (at %llu)", (unsigned long long)s->left_at);
            else if (s->state != SHARDKV__SHARD_STATE__SERVING)
                fprintf(f, " (from %u at %llu)", s->from_gid, (unsigned long long)s->left_at);
            any = true;
        }
    }
    if (!any)
        fputs("-", f);
    free(v);
    free(done);
}

/* shardkv.Status of addr, or NULL with why. */
static Shardkv__StatusReply *node_status(const char *addr, uint64_t timeout_ms, char *why,
                                         size_t whylen)
{
    char err[256] = "";
    struct rpc_sync *s = rpc_sync_new(addr, err, sizeof err);
    if (!s) {
        snprintf(why, whylen, "%s", err);
        return NULL;
    }
    uint8_t *rep = NULL;
    size_t len = 0;
    char *error = NULL;
    enum rpc_status rs = rpc_sync_call(s, "shardkv.Status", NULL, 0, MIN(timeout_ms, 2000), &rep,
                                       &len, &error);
    Shardkv__StatusReply *st = rs == RPC_OK ? shardkv__status_reply__unpack(NULL, len, rep) : NULL;
    if (st && !st->node) {
        shardkv__status_reply__free_unpacked(st, NULL);
        st = NULL;
    }
    if (!st) {
        if (rs == RPC_OK || rs == RPC_UNKNOWN_METHOD || rs == RPC_PROTOCOL)
            snprintf(why, whylen, "not a shardkvd server");
        else
            snprintf(why, whylen, "unreachable (%s%s%.200s)", rpc_status_name(rs),
                     error && error[0] ? ": " : "", error ? error : "");
    }
    free(error);
    free(rep);
    rpc_sync_free(s);
    return st;
}

/* Marks in served[] the shards st's node serves at config num, when it leads. */
static void note_served(const Shardkv__StatusReply *st, uint64_t num, bool *served,
                        uint32_t n_shards)
{
    if (strcmp(st->node->role, "leader") != 0 || st->config_num != num)
        return;
    for (size_t i = 0; i < st->n_shards; i++) {
        const Shardkv__ShardStatus *s = st->shards[i];
        if (s->shard < n_shards && (s->state == SHARDKV__SHARD_STATE__SERVING ||
                                    s->state == SHARDKV__SHARD_STATE__GC))
            served[s->shard] = true;
    }
}

static void json_node(bool first, uint32_t gid, const char *addr, const Shardkv__StatusReply *st,
                      const char *why)
{
    printf("%s{\"gid\":%u,\"addr\":", first ? "" : ",", gid);
    json_string(addr);
    if (!st) {
        fputs(",\"error\":", stdout);
        json_string(why);
        putchar('}');
        return;
    }
    fputs(",\"role\":", stdout);
    json_string(st->node->role);
    printf(",\"config\":%llu,\"shards\":[", (unsigned long long)st->config_num);
    for (size_t i = 0; i < st->n_shards; i++) {
        const Shardkv__ShardStatus *s = st->shards[i];
        printf("%s{\"shard\":%u,\"state\":\"%s\",\"from\":%u,\"left_at\":%llu,\"keys\":%llu}",
               i ? "," : "", s->shard, state_name(s->state), s->from_gid,
               (unsigned long long)s->left_at, (unsigned long long)s->keys);
    }
    fputs("]}", stdout);
}

int shard_status(const struct sc_config *c, uint64_t timeout_ms, bool json)
{
    bool *served = xcalloc(c->n_shards, sizeof *served);
    if (json)
        printf("{\"num\":%llu,\"nodes\":[", (unsigned long long)c->num);
    else
        printf("config %llu: %u shards, %zu group%s\n%-5s %-22s %-10s %6s  %s\n",
               (unsigned long long)c->num, c->n_shards, c->n_groups, c->n_groups == 1 ? "" : "s",
               "gid", "address", "role", "config", "shards");
    bool first = true;
    for (size_t g = 0; g < c->n_groups; g++) {
        const struct sc_group *grp = c->groups[g];
        for (size_t i = 0; i < grp->n_servers; i++) {
            char why[512];
            Shardkv__StatusReply *st = node_status(grp->servers[i], timeout_ms, why, sizeof why);
            if (json) {
                json_node(first, grp->gid, grp->servers[i], st, why);
            } else if (!st) {
                printf("%-5u %-22s %s\n", grp->gid, grp->servers[i], why);
            } else {
                printf("%-5u %-22s %-10s %6llu  ", grp->gid, grp->servers[i], st->node->role,
                       (unsigned long long)st->config_num);
                print_shards(stdout, st);
                putchar('\n');
            }
            first = false;
            if (st) {
                if (st->gid == grp->gid)
                    note_served(st, c->num, served, c->n_shards);
                shardkv__status_reply__free_unpacked(st, NULL);
            }
        }
    }
    if (json)
        puts("]}");
    /* Served: by a leader of the shard's group, in the latest config. */
    uint32_t missing = 0;
    for (uint32_t i = 0; i < c->n_shards; i++)
        missing += !(served[i] && c->shards[i] != 0);
    if (missing)
        fprintf(stderr, "kvcli: %u of %u shards not served at config %llu\n", missing,
                c->n_shards, (unsigned long long)c->num);
    free(served);
    return missing ? 1 : 0;
}

void shard_key(const struct sc_config *c, const char *key, bool json)
{
    const uint8_t *part;
    size_t plen;
    sc_hash_part((const uint8_t *)key, strlen(key), &part, &plen);
    uint32_t shard = sc_key_shard((const uint8_t *)key, strlen(key), c->n_shards);
    if (!json) {
        printf("shard %u gid %u (config %llu, %u shards, hashed: %.*s)\n", shard,
               c->shards[shard], (unsigned long long)c->num, c->n_shards, (int)plen,
               (const char *)part);
        return;
    }
    putchar('{');
    json_bytes_member("key", (const uint8_t *)key, strlen(key));
    printf(",\"shard\":%u,\"gid\":%u,\"config\":%llu,\"shards\":%u,", shard, c->shards[shard],
           (unsigned long long)c->num, c->n_shards);
    json_bytes_member("hashed", part, plen);
    puts("}");
}
