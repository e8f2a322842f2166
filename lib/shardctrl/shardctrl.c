/* The controller's state machine: the history of configs, Join / Leave / Move / Query, and the
 * at-most-once table. */
#include "shardctrl/shardctrl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "session/session.h"
#include "shardctrl/internal.h"
#include "shardctrl/rebalance.h"

/* A caller's bug (a shard count out of range, a buffer too small): abort with a message. */
static void bug(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

struct shardctrl {
    uint32_t n_shards;
    bool fixed;                /* n_shards came from an applied write or a snapshot */
    struct sc_config **configs; /* configs[num] */
    size_t n_configs, cap;
    struct session_table *sessions;
    uint64_t bytes;            /* what the configs and their groups hold */
};

static void push_config(struct shardctrl *sc, struct sc_config *c)
{
    if (sc->n_configs == sc->cap) {
        sc->cap = sc->cap ? 2 * sc->cap : 16;
        sc->configs = xrealloc(sc->configs, sc->cap * sizeof *sc->configs);
    }
    sc->configs[sc->n_configs++] = c;
    sc->bytes += sizeof *c + c->n_shards * sizeof *c->shards + c->n_groups * sizeof *c->groups;
}

static void drop_configs(struct shardctrl *sc)
{
    for (size_t i = 0; i < sc->n_configs; i++)
        sc_config_free(sc->configs[i]);
    sc->n_configs = 0;
    sc->bytes = 0;
}

static void start_history(struct shardctrl *sc, uint32_t n_shards)
{
    drop_configs(sc);
    sc->n_shards = n_shards;
    push_config(sc, sc_config_alloc(0, n_shards, 0));
}

struct shardctrl *shardctrl_new(uint32_t n_shards)
{
    if (n_shards < 1 || n_shards > SC_MAX_SHARDS)
        bug("shardctrl_new: %u shards (1..%u)", n_shards, SC_MAX_SHARDS);
    struct shardctrl *sc = xcalloc(1, sizeof *sc);
    sc->sessions = session_new();
    start_history(sc, n_shards);
    return sc;
}

void shardctrl_free(struct shardctrl *sc)
{
    if (!sc)
        return;
    drop_configs(sc);
    free(sc->configs);
    session_free(sc->sessions);
    free(sc);
}

uint32_t shardctrl_n_shards(const struct shardctrl *sc) { return sc->n_shards; }
bool shardctrl_fixed(const struct shardctrl *sc) { return sc->fixed; }
uint64_t shardctrl_latest(const struct shardctrl *sc) { return sc->n_configs - 1; }

const struct sc_config *shardctrl_query(const struct shardctrl *sc, int64_t num)
{
    if (num < 0 || (uint64_t)num >= sc->n_configs)
        return sc->configs[sc->n_configs - 1];
    return sc->configs[num];
}

const struct session_table *shardctrl_sessions(const struct shardctrl *sc) { return sc->sessions; }
struct session_table *shardctrl_sessions_mut(struct shardctrl *sc) { return sc->sessions; }

/* ---- the writes ---------------------------------------------------------------------------- */

static enum sc_err refuse(struct sc_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum sc_err refuse(struct sc_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof res->error, fmt, ap);
    va_end(ap);
    return SC_BAD_REQUEST;
}

static const struct sc_config *latest(const struct shardctrl *sc)
{
    return sc->configs[sc->n_configs - 1];
}

/* The next config: num + 1, the latest's shards, and groups (each holding a reference). */
static struct sc_config *next_config(struct shardctrl *sc, struct sc_group **groups, size_t n)
{
    const struct sc_config *prev = latest(sc);
    struct sc_config *c = sc_config_alloc(prev->num + 1, sc->n_shards, n);
    memcpy(c->shards, prev->shards, sc->n_shards * sizeof *c->shards);
    memcpy(c->groups, groups, n * sizeof *groups);
    return c;
}

static void rebalance(struct sc_config *c)
{
    uint32_t *gids = xmalloc((c->n_groups ? c->n_groups : 1) * sizeof *gids);
    for (size_t i = 0; i < c->n_groups; i++)
        gids[i] = c->groups[i]->gid;
    sc_rebalance(c->shards, c->n_shards, gids, c->n_groups);
    free(gids);
}

static int by_gid(const void *a, const void *b)
{
    const struct sc_group *x = *(struct sc_group *const *)a, *y = *(struct sc_group *const *)b;
    return x->gid < y->gid ? -1 : x->gid > y->gid;
}

static enum sc_err join(struct shardctrl *sc, const struct sc_cmd *cmd, struct sc_result *res)
{
    const struct sc_config *prev = latest(sc);
    if (!cmd->n_groups)
        return refuse(res, "join: no group given");
    for (size_t i = 0; i < cmd->n_groups; i++) {
        const struct sc_join_group *g = &cmd->groups[i];
        if (!g->gid)
            return refuse(res, "join: gid 0 is not a group (it means \"no group\")");
        if (sc_config_group(prev, g->gid))
            return refuse(res, "join: group %u is already in config %llu", g->gid,
                          (unsigned long long)prev->num);
        for (size_t j = 0; j < i; j++)
            if (cmd->groups[j].gid == g->gid)
                return refuse(res, "join: group %u is given twice", g->gid);
        if (!g->n_servers)
            return refuse(res, "join: group %u has no servers", g->gid);
        for (size_t s = 0; s < g->n_servers; s++)
            if (!g->servers[s] || !g->servers[s][0])
                return refuse(res, "join: group %u has an empty server name", g->gid);
    }
    size_t n = prev->n_groups + cmd->n_groups;
    struct sc_group **groups = xmalloc(n * sizeof *groups);
    for (size_t i = 0; i < prev->n_groups; i++) {
        groups[i] = prev->groups[i];
        groups[i]->refs++;
    }
    for (size_t i = 0; i < cmd->n_groups; i++) {
        const struct sc_join_group *g = &cmd->groups[i];
        groups[prev->n_groups + i] = sc_group_new(g->gid, g->servers, g->n_servers);
        sc->bytes += sc_group_bytes(groups[prev->n_groups + i]);
    }
    qsort(groups, n, sizeof *groups, by_gid);
    struct sc_config *c = next_config(sc, groups, n);
    free(groups);
    rebalance(c);
    push_config(sc, c);
    return SC_OK;
}

static bool leaving(const struct sc_cmd *cmd, uint32_t gid)
{
    for (size_t i = 0; i < cmd->n_gids; i++)
        if (cmd->gids[i] == gid)
            return true;
    return false;
}

static enum sc_err leave(struct shardctrl *sc, const struct sc_cmd *cmd, struct sc_result *res)
{
    const struct sc_config *prev = latest(sc);
    if (!cmd->n_gids)
        return refuse(res, "leave: no gid given");
    for (size_t i = 0; i < cmd->n_gids; i++) {
        if (!sc_config_group(prev, cmd->gids[i]))
            return refuse(res, "leave: group %u is not in config %llu", cmd->gids[i],
                          (unsigned long long)prev->num);
        for (size_t j = 0; j < i; j++)
            if (cmd->gids[j] == cmd->gids[i])
                return refuse(res, "leave: group %u is given twice", cmd->gids[i]);
    }
    struct sc_group **groups = xmalloc((prev->n_groups ? prev->n_groups : 1) * sizeof *groups);
    size_t n = 0;
    for (size_t i = 0; i < prev->n_groups; i++)
        if (!leaving(cmd, prev->groups[i]->gid)) {
            groups[n] = prev->groups[i];
            groups[n++]->refs++;
        }
    struct sc_config *c = next_config(sc, groups, n);
    free(groups);
    rebalance(c);
    push_config(sc, c);
    return SC_OK;
}

static enum sc_err move(struct shardctrl *sc, const struct sc_cmd *cmd, struct sc_result *res)
{
    const struct sc_config *prev = latest(sc);
    if (cmd->shard >= sc->n_shards)
        return refuse(res, "move: shard %u is out of range (the controller has %u shards: 0-%u)",
                      cmd->shard, sc->n_shards, sc->n_shards - 1);
    if (!sc_config_group(prev, cmd->gid))
        return refuse(res, "move: group %u is not in config %llu", cmd->gid,
                      (unsigned long long)prev->num);
    for (size_t i = 0; i < prev->n_groups; i++)
        prev->groups[i]->refs++;
    struct sc_config *c = next_config(sc, prev->groups, prev->n_groups);
    c->shards[cmd->shard] = cmd->gid; /* never rebalances */
    push_config(sc, c);
    return SC_OK;
}

/* The shard count rule: the first accepted write fixes it, adopting the count its proposer
 * carried (while the count is not fixed, only config 0 exists, so adopting remakes config 0);
 * a later write proposed with another count is refused. A refused write changes nothing, the
 * count included. */
static enum sc_err write(struct shardctrl *sc, const struct sc_cmd *cmd, struct sc_result *res)
{
    uint32_t want = cmd->n_shards, had = sc->n_shards;
    if (want > SC_MAX_SHARDS)
        return refuse(res, "the write was proposed with %u shards (at most %u)", want,
                      SC_MAX_SHARDS);
    if (sc->fixed && want && want != had)
        return refuse(res, "this controller has %u shards; the write was proposed by a server "
                      "started with --shards %u", had, want);
    if (!sc->fixed && want && want != had)
        start_history(sc, want);
    enum sc_err err;
    switch (cmd->op) {
    case SC_OP_JOIN:
        err = join(sc, cmd, res);
        break;
    case SC_OP_LEAVE:
        err = leave(sc, cmd, res);
        break;
    case SC_OP_MOVE:
        err = move(sc, cmd, res);
        break;
    default:
        err = refuse(res, "unknown operation %d", (int)cmd->op);
        break;
    }
    if (err == SC_OK)
        sc->fixed = true;
    else if (!sc->fixed && sc->n_shards != had)
        start_history(sc, had);
    return err;
}

void shardctrl_apply(struct shardctrl *sc, const struct sc_cmd *cmd, struct sc_result *res)
{
    memset(res, 0, sizeof *res);
    if (cmd->op == SC_OP_QUERY) {
        res->config = shardctrl_query(sc, cmd->num);
        res->num = res->config->num;
        return;
    }
    const uint8_t *stored;
    size_t stored_len;
    switch (session_check(sc->sessions, 0, cmd->client_id, cmd->seq, &stored, &stored_len)) {
    case SESSION_DUPLICATE:
        sc_reply_decode(stored, stored_len, res);
        return;
    case SESSION_STALE:
        res->err = SC_STALE;
        return;
    case SESSION_NEW:
        break;
    }
    res->err = write(sc, cmd, res);
    if (res->err == SC_OK)
        res->num = shardctrl_latest(sc);
    uint8_t buf[16 + sizeof res->error];
    session_record(sc->sessions, 0, cmd->client_id, cmd->seq, buf,
                   sc_reply_encode(res, buf, sizeof buf));
}

/* ---- stored replies: err (1 byte), num (8 bytes, little-endian), the error text ---------- */

size_t sc_reply_encode(const struct sc_result *res, uint8_t *buf, size_t cap)
{
    size_t elen = strnlen(res->error, sizeof res->error - 1);
    if (cap < 9 + elen)
        bug("sc_reply_encode: buffer of %zu bytes", cap);
    buf[0] = (uint8_t)res->err;
    for (int i = 0; i < 8; i++)
        buf[1 + i] = (uint8_t)(res->num >> (8 * i));
    memcpy(buf + 9, res->error, elen);
    return 9 + elen;
}

void sc_reply_decode(const uint8_t *buf, size_t len, struct sc_result *res)
{
    memset(res, 0, sizeof *res);
    if (len < 9) {
        res->err = SC_BAD_REQUEST;
        snprintf(res->error, sizeof res->error, "a stored reply of %zu bytes", len);
        return;
    }
    res->err = buf[0];
    for (int i = 0; i < 8; i++)
        res->num |= (uint64_t)buf[1 + i] << (8 * i);
    size_t elen = len - 9 < sizeof res->error - 1 ? len - 9 : sizeof res->error - 1;
    memcpy(res->error, buf + 9, elen);
}

/* ---- restores ------------------------------------------------------------------------------ */

void shardctrl_reset(struct shardctrl *sc, uint32_t n_shards, bool fixed)
{
    drop_configs(sc);
    session_clear(sc->sessions);
    sc->n_shards = n_shards;
    sc->fixed = fixed;
}

int shardctrl_restore_config(struct shardctrl *sc, uint64_t num, const uint32_t *shards,
                             uint32_t n_shards, struct sc_group *const *groups, size_t n_groups,
                             char *err, size_t errlen)
{
    if (num != sc->n_configs) {
        snprintf(err, errlen, "config %llu where config %zu was expected",
                 (unsigned long long)num, sc->n_configs);
        return -1;
    }
    if (n_shards != sc->n_shards) {
        snprintf(err, errlen, "config %llu has %u shards, the controller %u",
                 (unsigned long long)num, n_shards, sc->n_shards);
        return -1;
    }
    uint32_t *gids = xmalloc((n_groups ? n_groups : 1) * sizeof *gids);
    size_t *ns = xmalloc((n_groups ? n_groups : 1) * sizeof *ns);
    for (size_t i = 0; i < n_groups; i++) {
        gids[i] = groups[i]->gid;
        ns[i] = groups[i]->n_servers;
    }
    int rc = sc_config_check(shards, n_shards, gids, ns, n_groups, err, errlen);
    free(gids);
    free(ns);
    if (rc)
        return -1;
    struct sc_config *c = sc_config_alloc(num, n_shards, n_groups);
    memcpy(c->shards, shards, n_shards * sizeof *shards);
    for (size_t i = 0; i < n_groups; i++) {
        groups[i]->refs++;
        c->groups[i] = groups[i];
    }
    push_config(sc, c);
    return 0;
}

void shardctrl_account_group(struct shardctrl *sc, const struct sc_group *g)
{
    sc->bytes += sc_group_bytes(g);
}

void sc_swap(struct shardctrl *a, struct shardctrl *b)
{
    struct shardctrl t = *a;
    *a = *b;
    *b = t;
}

void shardctrl_stats(const struct shardctrl *sc, struct sc_stats *st)
{
    st->configs = sc->n_configs;
    st->clients = session_count(sc->sessions);
    st->bytes = sc->bytes + session_bytes(sc->sessions);
}
