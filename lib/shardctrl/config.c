/* Configs and groups: allocation, sharing, copies, lookups and the shape check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "shardctrl/internal.h"

struct sc_group *sc_group_new(uint32_t gid, const char *const *servers, size_t n)
{
    struct sc_group *g = xmalloc(sizeof *g + n * sizeof g->servers[0]);
    g->gid = gid;
    g->refs = 1;
    g->n_servers = n;
    for (size_t i = 0; i < n; i++)
        g->servers[i] = xstrdup(servers[i]);
    return g;
}

void sc_group_unref(struct sc_group *g)
{
    if (!g || --g->refs)
        return;
    for (size_t i = 0; i < g->n_servers; i++)
        free(g->servers[i]);
    free(g);
}

size_t sc_group_bytes(const struct sc_group *g)
{
    size_t b = sizeof *g + g->n_servers * sizeof g->servers[0];
    for (size_t i = 0; i < g->n_servers; i++)
        b += strlen(g->servers[i]) + 1;
    return b;
}

struct sc_config *sc_config_alloc(uint64_t num, uint32_t n_shards, size_t n_groups)
{
    struct sc_config *c = xmalloc(sizeof *c);
    c->num = num;
    c->n_shards = n_shards;
    c->shards = xcalloc(n_shards ? n_shards : 1, sizeof *c->shards);
    c->groups = xcalloc(n_groups ? n_groups : 1, sizeof *c->groups);
    c->n_groups = n_groups;
    return c;
}

void sc_config_free(struct sc_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_groups; i++)
        sc_group_unref(c->groups[i]);
    free(c->groups);
    free(c->shards);
    free(c);
}

struct sc_config *sc_config_copy(const struct sc_config *c)
{
    struct sc_config *d = sc_config_alloc(c->num, c->n_shards, c->n_groups);
    memcpy(d->shards, c->shards, c->n_shards * sizeof *c->shards);
    for (size_t i = 0; i < c->n_groups; i++)
        d->groups[i] = sc_group_new(c->groups[i]->gid, (const char *const *)c->groups[i]->servers,
                                    c->groups[i]->n_servers);
    return d;
}

const struct sc_group *sc_config_group(const struct sc_config *c, uint32_t gid)
{
    size_t lo = 0, hi = c->n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->groups[mid]->gid == gid)
            return c->groups[mid];
        if (c->groups[mid]->gid < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool listed(const uint32_t *gids, size_t n, uint32_t gid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (gids[mid] == gid)
            return true;
        if (gids[mid] < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

int sc_config_check(const uint32_t *shards, uint32_t n_shards, const uint32_t *gids,
                    const size_t *n_servers, size_t n_groups, char *err, size_t errlen)
{
    for (size_t i = 0; i < n_groups; i++) {
        if (!gids[i] || (i && gids[i] <= gids[i - 1])) {
            snprintf(err, errlen, "groups not by gid ascending (gid %u after %u)", gids[i],
                     i ? gids[i - 1] : 0);
            return -1;
        }
        if (!n_servers[i]) {
            snprintf(err, errlen, "group %u has no servers", gids[i]);
            return -1;
        }
    }
    for (uint32_t s = 0; s < n_shards; s++) {
        if (n_groups ? !listed(gids, n_groups, shards[s]) : shards[s] != 0) {
            snprintf(err, errlen, "shard %u is on gid %u, which is not a group of the config", s,
                     shards[s]);
            return -1;
        }
    }
    return 0;
}
