/* kvcli shard join | leave | move | config: the shard controller's admin commands. Arguments
 * are checked here first (a usage error never reaches the controller); what the controller
 * refuses (an unknown gid, gid 0, a gid joined twice, a shard out of range) comes back as
 * CLERK_REFUSED with its message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "json.h"
#include "clerk/ctrl.h"
#include "shard.h"
#include "shard_status.h"
#include "shardctrl/codec.h"
#include "shardctrl/shardctrl.h"

/* One usage line per subcommand; the last one is the whole family's. */
static const struct {
    const char *name, *line;
} subs[] = {
    { "join", "shard join [--initial] GID=HOST:PORT[,HOST:PORT]... [GID=HOST:PORT[,HOST:PORT]...]..." },
    { "leave", "shard leave GID..." },
    { "move", "shard move SHARD GID" },
    { "config", "shard config [--json] [NUM]" },
    { "status", "shard status [--json]" },
    { "key", "shard key KEY" },
    { "", SHARD_SYNOPSIS },
};

/* Prints why (if any) and the subcommand's usage line; returns 2, the usage exit status. */
static int usage(const char *sub, const char *why)
{
    size_t i = 0;
    while (subs[i].name[0] && strcmp(subs[i].name, sub) != 0)
        i++;
    if (why)
        fprintf(stderr, "kvcli: %s\n", why);
    fprintf(stderr, "kvcli: usage: kvcli --ctrlers HOST:PORT,... %s (see --help)\n", subs[i].line);
    return 2;
}

static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* ---- printing a config ---- */

/* The shards of c on gid as ascending ranges ("0-4,7"; "-" for none), malloc'd; *count gets
 * how many there are. */
static char *shard_ranges(const struct sc_config *c, uint32_t gid, uint32_t *count)
{
    uint32_t *v = xcalloc(c->n_shards, sizeof *v);
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->n_shards; i++)
        if (c->shards[i] == gid)
            v[k++] = i;
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    if (!f)
        abort(); /* out of memory, as xmalloc */
    print_ranges(f, v, k);
    fclose(f);
    free(v);
    *count = k;
    return s;
}

static int digits(uint64_t v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* config N: S shards, G groups, then one row per gid: its shards as ranges, how many, and its
 * servers in their Join order. Shards on no group (gid 0: config 0, or every group left) get a
 * row of their own, first. */
static void print_table(const struct sc_config *c)
{
    size_t rows = c->n_groups + 1; /* row 0: gid 0 */
    char **ranges = xcalloc(rows, sizeof *ranges);
    uint32_t *counts = xcalloc(rows, sizeof *counts);
    int wgid = 3, wranges = 6, wcount = 5;
    for (size_t r = 0; r < rows; r++) {
        uint32_t gid = r ? c->groups[r - 1]->gid : 0;
        ranges[r] = shard_ranges(c, gid, &counts[r]);
        if (r == 0 && counts[0] == 0)
            continue;
        wgid = MAX(wgid, digits(gid));
        wranges = MAX(wranges, (int)strlen(ranges[r]));
    }
    printf("config %llu: %u shards, %zu group%s\n", (unsigned long long)c->num, c->n_shards,
           c->n_groups, c->n_groups == 1 ? "" : "s");
    printf("%-*s  %-*s  %*s  %s\n", wgid, "gid", wranges, "shards", wcount, "count", "servers");
    for (size_t r = 0; r < rows; r++) {
        if (r == 0 && counts[0] == 0)
            continue;
        const struct sc_group *g = r ? c->groups[r - 1] : NULL;
        printf("%-*u  %-*s  %*u  ", wgid, g ? g->gid : 0, wranges, ranges[r], wcount, counts[r]);
        if (!g)
            fputs("(no group)", stdout);
        for (size_t i = 0; g && i < g->n_servers; i++)
            printf("%s%s", i ? "," : "", g->servers[i]);
        putchar('\n');
    }
    for (size_t r = 0; r < rows; r++)
        free(ranges[r]);
    free(ranges);
    free(counts);
}

/* One line: {"num":N,"shards":[gid,...],"groups":{"gid":["server",...],...}}. */
static void print_json(const struct sc_config *c)
{
    printf("{\"num\":%llu,\"shards\":[", (unsigned long long)c->num);
    for (uint32_t i = 0; i < c->n_shards; i++)
        printf("%s%u", i ? "," : "", c->shards[i]);
    fputs("],\"groups\":{", stdout);
    for (size_t r = 0; r < c->n_groups; r++) {
        const struct sc_group *g = c->groups[r];
        printf("%s\"%u\":[", r ? "," : "", g->gid);
        for (size_t i = 0; i < g->n_servers; i++) {
            if (i)
                putchar(',');
            json_string(g->servers[i]);
        }
        putchar(']');
    }
    puts("}}");
}

/* ---- the request, parsed ---- */

struct request {
    const char *sub;
    struct sc_join_group *groups; /* join */
    char ***servers;              /* join: groups[i].servers, owned */
    uint32_t *gids;               /* join: unused; leave: the gids */
    size_t n;                     /* groups or gids */
    uint32_t shard, gid;          /* move */
    int64_t num;                  /* config: -1 latest */
    bool initial;                 /* join --initial: only on a controller still at config 0 */
    const char *key;              /* key */
    bool json;
};

static void request_free(struct request *q)
{
    for (size_t i = 0; q->servers && i < q->n; i++)
        strv_free(q->servers[i], q->groups[i].n_servers);
    free(q->servers);
    free(q->groups);
    free(q->gids);
}

/* GID=HOST:PORT[,HOST:PORT]... into group i. Returns 0, or -1 with why in err. */
static int parse_group(const char *arg, struct request *q, size_t i, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    char gid[32];
    size_t glen = eq ? (size_t)(eq - arg) : 0;
    if (!eq || glen == 0 || glen >= sizeof gid) {
        snprintf(err, errlen, "shard join: '%s' is not GID=HOST:PORT[,HOST:PORT]...", arg);
        return -1;
    }
    memcpy(gid, arg, glen);
    gid[glen] = '\0';
    if (parse_u32(gid, &q->groups[i].gid) != 0) {
        snprintf(err, errlen, "shard join: '%s' is not a gid (a number, 1..4294967295)", gid);
        return -1;
    }
    size_t ns = split_list(eq + 1, &q->servers[i]);
    q->groups[i].servers = (const char *const *)q->servers[i];
    q->groups[i].n_servers = ns;
    if (ns == 0) {
        snprintf(err, errlen, "shard join: group %s has no servers (GID=HOST:PORT[,HOST:PORT]...)",
                 gid);
        return -1;
    }
    for (size_t k = 0; k < ns; k++) {
        char host[256];
        uint16_t port;
        if (parse_host_port(q->servers[i][k], host, sizeof host, &port) != 0) {
            snprintf(err, errlen, "shard join: group %s: '%s' is not HOST:PORT", gid,
                     q->servers[i][k]);
            return -1;
        }
    }
    return 0;
}

/* Fills q from the subcommand's arguments; returns 0 or the usage exit status (2). */
static int parse_request(char **args, int n, bool json, struct request *q)
{
    char why[512];
    memset(q, 0, sizeof *q);
    q->sub = n > 0 ? args[0] : "";
    q->num = -1;
    q->json = json;
    args++;
    n--;
    if (strcmp(q->sub, "join") == 0) {
        if (n > 0 && strcmp(args[0], "--initial") == 0) {
            q->initial = true;
            args++;
            n--;
        }
        if (n < 1)
            return usage(q->sub, "shard join: no group given");
        q->n = (size_t)n;
        q->groups = xcalloc(q->n, sizeof *q->groups);
        q->servers = xcalloc(q->n, sizeof *q->servers);
        for (int i = 0; i < n; i++)
            if (parse_group(args[i], q, (size_t)i, why, sizeof why) != 0)
                return usage(q->sub, why);
    } else if (strcmp(q->sub, "leave") == 0) {
        if (n < 1)
            return usage(q->sub, "shard leave: no gid given");
        q->n = (size_t)n;
        q->gids = xcalloc(q->n, sizeof *q->gids);
        for (int i = 0; i < n; i++)
            if (parse_u32(args[i], &q->gids[i]) != 0) {
                snprintf(why, sizeof why, "shard leave: '%s' is not a gid", args[i]);
                return usage(q->sub, why);
            }
    } else if (strcmp(q->sub, "move") == 0) {
        if (n != 2)
            return usage(q->sub, "shard move: takes SHARD and GID");
        if (parse_u32(args[0], &q->shard) != 0) {
            snprintf(why, sizeof why, "shard move: '%s' is not a shard number", args[0]);
            return usage(q->sub, why);
        }
        if (parse_u32(args[1], &q->gid) != 0) {
            snprintf(why, sizeof why, "shard move: '%s' is not a gid", args[1]);
            return usage(q->sub, why);
        }
    } else if (strcmp(q->sub, "config") == 0) {
        bool have_num = false;
        for (int i = 0; i < n; i++) {
            uint64_t v;
            if (strcmp(args[i], "--json") == 0) {
                q->json = true;
            } else if (!have_num && parse_u64(args[i], &v) == 0 && v <= INT64_MAX) {
                q->num = (int64_t)v;
                have_num = true;
            } else {
                snprintf(why, sizeof why, "shard config: unexpected '%s'", args[i]);
                return usage(q->sub, why);
            }
        }
    } else if (strcmp(q->sub, "status") == 0) {
        for (int i = 0; i < n; i++) {
            if (strcmp(args[i], "--json") != 0) {
                snprintf(why, sizeof why, "shard status: unexpected '%s'", args[i]);
                return usage(q->sub, why);
            }
            q->json = true;
        }
    } else if (strcmp(q->sub, "key") == 0) {
        if (n != 1)
            return usage(q->sub, "shard key: takes one KEY");
        q->key = args[0];
    } else {
        return usage(q->sub, n < 0 ? "shard: no subcommand" : NULL);
    }
    return 0;
}

/* ---- running it ---- */

static int failed(struct ctrl_sync *s, enum clerk_result r)
{
    const char *e = ctrl_clerk_error(ctrl_sync_clerk(s));
    fprintf(stderr, "kvcli: %s\n", e && e[0] ? e : clerk_result_name(r));
    return 1;
}

static int run(struct ctrl_sync *s, const struct request *q, uint64_t timeout_ms)
{
    enum clerk_result r;
    uint64_t num = 0;
    bool status = strcmp(q->sub, "status") == 0, key = strcmp(q->sub, "key") == 0;
    if (strcmp(q->sub, "config") == 0 || status || key) {
        struct sc_config *c = NULL;
        r = ctrl_sync_query(s, status || key ? -1 : q->num, &c);
        if (r != CLERK_OK)
            return failed(s, r);
        int rc = 0;
        if (status)
            rc = shard_status(c, timeout_ms, q->json);
        else if (key)
            shard_key(c, q->key, q->json);
        else if (q->json)
            print_json(c);
        else
            print_table(c);
        sc_config_free(c);
        return rc;
    }
    if (strcmp(q->sub, "join") == 0 && q->initial) {
        /* A deployment's first start joins its groups; any later start (over kept data) must
         * not undo what an administrator changed since (a group that left stays out). */
        struct sc_config *c = NULL;
        r = ctrl_sync_query(s, -1, &c);
        if (r != CLERK_OK)
            return failed(s, r);
        num = c->num;
        sc_config_free(c);
        if (num != 0) {
            if (q->json)
                printf("{\"config\":%llu,\"joined\":false}\n", (unsigned long long)num);
            else
                printf("config %llu exists: nothing joined (--initial)\n", (unsigned long long)num);
            return 0;
        }
    }
    if (strcmp(q->sub, "join") == 0)
        r = ctrl_sync_join(s, q->groups, q->n, &num);
    else if (strcmp(q->sub, "leave") == 0)
        r = ctrl_sync_leave(s, q->gids, q->n, &num);
    else
        r = ctrl_sync_move(s, q->shard, q->gid, &num);
    if (r != CLERK_OK)
        return failed(s, r);
    printf(q->json ? "{\"config\":%llu}\n" : "config %llu\n", (unsigned long long)num);
    return 0;
}

int shard_main(char **args, int n, const char *ctrlers, uint64_t timeout_ms, bool json)
{
    struct request q;
    int rc = parse_request(args, n, json, &q);
    char **servers = NULL;
    size_t ns = rc == 0 && ctrlers ? split_list(ctrlers, &servers) : 0;
    if (rc == 0 && ns == 0)
        rc = usage(q.sub, "no shard controllers given (--ctrlers HOST:PORT,... or $KV_CTRLERS)");
    if (rc == 0) {
        /* As kvcli's kv commands: give up within about a second when no controller can be
         * reached at all, at --timeout when none answers as leader. */
        struct clerk_opts co;
        clerk_opts_default(&co);
        co.deadline_ms = timeout_ms;
        co.attempt_ms = MIN(timeout_ms, 1000);
        co.fail_fast_ms = MIN(timeout_ms, 1000);
        char err[256];
        struct ctrl_sync *s = ctrl_sync_new((const char *const *)servers, ns, &co, err, sizeof err);
        if (!s) {
            fprintf(stderr, "kvcli: %s\n", err);
            rc = 2;
        } else {
            rc = run(s, &q, timeout_ms);
            ctrl_sync_free(s);
        }
    }
    strv_free(servers, ns);
    request_free(&q);
    return rc;
}
