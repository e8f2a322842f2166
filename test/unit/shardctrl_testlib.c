/* Helpers of the shard controller's unit tests (shardctrl_testlib.h). */
#include "shardctrl_testlib.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardctrl/codec.h"

size_t tl_n_servers(uint32_t gid)
{
    return 1 + gid % TL_MAX_SERVERS;
}

void tl_server_name(uint32_t gid, size_t i, char *buf, size_t cap)
{
    /* Descending ports, so an implementation that sorted the list would be caught. */
    snprintf(buf, cap, "g%" PRIu32 "-%zu.example:%zu", gid, i, 9000 - i);
}

void tl_join_fill(struct tl_join *j, const uint32_t *gids, size_t n)
{
    if (n > TL_MAX_JOIN)
        abort();
    for (size_t g = 0; g < n; g++) {
        size_t ns = tl_n_servers(gids[g]);
        for (size_t i = 0; i < ns; i++) {
            tl_server_name(gids[g], i, j->names[g][i], sizeof j->names[g][i]);
            j->ptrs[g][i] = j->names[g][i];
        }
        j->groups[g] = (struct sc_join_group){ gids[g], j->ptrs[g], ns };
    }
}

static struct sc_cmd write_cmd(enum sc_op op, struct tl_w w)
{
    struct sc_cmd c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.client_id = w.client;
    c.seq = w.seq;
    c.n_shards = w.n_shards;
    return c;
}

struct sc_cmd tl_join_cmd(struct tl_join *j, const uint32_t *gids, size_t n, struct tl_w w)
{
    tl_join_fill(j, gids, n);
    struct sc_cmd c = write_cmd(SC_OP_JOIN, w);
    c.groups = j->groups;
    c.n_groups = n;
    return c;
}

struct sc_cmd tl_leave_cmd(const uint32_t *gids, size_t n, struct tl_w w)
{
    struct sc_cmd c = write_cmd(SC_OP_LEAVE, w);
    c.gids = gids;
    c.n_gids = n;
    return c;
}

struct sc_cmd tl_move_cmd(uint32_t shard, uint32_t gid, struct tl_w w)
{
    struct sc_cmd c = write_cmd(SC_OP_MOVE, w);
    c.shard = shard;
    c.gid = gid;
    return c;
}

static struct sc_result run(struct shardctrl *sc, const struct sc_cmd *c)
{
    struct sc_result r;
    memset(&r, 0xA5, sizeof r); /* so a field left unset does not pass by luck */
    shardctrl_apply(sc, c, &r);
    return r;
}

struct sc_result tl_join(struct shardctrl *sc, const uint32_t *gids, size_t n, struct tl_w w)
{
    struct tl_join *j = malloc(sizeof *j);
    struct sc_cmd c = tl_join_cmd(j, gids, n, w);
    struct sc_result r = run(sc, &c);
    free(j);
    return r;
}

struct sc_result tl_leave(struct shardctrl *sc, const uint32_t *gids, size_t n, struct tl_w w)
{
    struct sc_cmd c = tl_leave_cmd(gids, n, w);
    return run(sc, &c);
}

struct sc_result tl_move(struct shardctrl *sc, uint32_t shard, uint32_t gid, struct tl_w w)
{
    struct sc_cmd c = tl_move_cmd(shard, gid, w);
    return run(sc, &c);
}

struct sc_result tl_query(struct shardctrl *sc, int64_t num)
{
    struct sc_cmd c;
    memset(&c, 0, sizeof c);
    c.op = SC_OP_QUERY;
    c.num = num;
    return run(sc, &c);
}

static char diff_buf[256];

#define DIFF(...) (snprintf(diff_buf, sizeof diff_buf, __VA_ARGS__), diff_buf)

const char *tl_config_diff(const struct sc_config *a, const struct sc_config *b)
{
    if (!a || !b)
        return a == b ? NULL : "one config is NULL";
    if (a->num != b->num)
        return DIFF("num %" PRIu64 " vs %" PRIu64, a->num, b->num);
    if (a->n_shards != b->n_shards)
        return DIFF("config %" PRIu64 ": n_shards %u vs %u", a->num, a->n_shards, b->n_shards);
    for (uint32_t s = 0; s < a->n_shards; s++)
        if (a->shards[s] != b->shards[s])
            return DIFF("config %" PRIu64 ": shard %u on %u vs %u", a->num, s, a->shards[s],
                        b->shards[s]);
    if (a->n_groups != b->n_groups)
        return DIFF("config %" PRIu64 ": %zu groups vs %zu", a->num, a->n_groups, b->n_groups);
    for (size_t g = 0; g < a->n_groups; g++) {
        const struct sc_group *x = a->groups[g], *y = b->groups[g];
        if (x->gid != y->gid)
            return DIFF("config %" PRIu64 ": group %zu gid %u vs %u", a->num, g, x->gid, y->gid);
        if (x->n_servers != y->n_servers)
            return DIFF("config %" PRIu64 ": gid %u has %zu servers vs %zu", a->num, x->gid,
                        x->n_servers, y->n_servers);
        for (size_t i = 0; i < x->n_servers; i++)
            if (strcmp(x->servers[i], y->servers[i]) != 0)
                return DIFF("config %" PRIu64 ": gid %u server %zu '%s' vs '%s'", a->num, x->gid,
                            i, x->servers[i], y->servers[i]);
    }
    return NULL;
}

const char *tl_config_servers_check(const struct sc_config *c)
{
    char want[48];
    for (size_t g = 0; g < c->n_groups; g++) {
        const struct sc_group *x = c->groups[g];
        if (g > 0 && c->groups[g - 1]->gid >= x->gid)
            return DIFF("config %" PRIu64 ": gids not ascending at %zu", c->num, g);
        if (x->n_servers != tl_n_servers(x->gid))
            return DIFF("config %" PRIu64 ": gid %u has %zu servers, joined with %zu", c->num,
                        x->gid, x->n_servers, tl_n_servers(x->gid));
        for (size_t i = 0; i < x->n_servers; i++) {
            tl_server_name(x->gid, i, want, sizeof want);
            if (strcmp(x->servers[i], want) != 0)
                return DIFF("config %" PRIu64 ": gid %u server %zu is '%s', joined as '%s'",
                            c->num, x->gid, i, x->servers[i], want);
        }
    }
    return NULL;
}

const char *tl_history_diff(const struct shardctrl *a, const struct shardctrl *b)
{
    if (shardctrl_latest(a) != shardctrl_latest(b))
        return DIFF("latest %" PRIu64 " vs %" PRIu64, shardctrl_latest(a), shardctrl_latest(b));
    for (uint64_t n = 0; n <= shardctrl_latest(a); n++) {
        const char *d = tl_config_diff(shardctrl_query(a, (int64_t)n), shardctrl_query(b, (int64_t)n));
        if (d)
            return d;
    }
    return NULL;
}

bool tl_snapshots_equal(const struct shardctrl *a, const struct shardctrl *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    sc_codec_snapshot(a, &x, &nx);
    sc_codec_snapshot(b, &y, &ny);
    bool eq = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return eq;
}
