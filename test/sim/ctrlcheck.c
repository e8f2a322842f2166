/* The shard controller's history checker (ctrlcheck.h). */
#include "ctrlcheck.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct cop {
    int clerk;
    enum sc_op op;
    struct sc_join_group *groups; /* JOIN: servers copied */
    size_t n_groups;
    uint32_t *gids; /* LEAVE */
    size_t n_gids;
    uint32_t shard, gid; /* MOVE */
    int64_t qnum;        /* QUERY */
    uint64_t call, ret;  /* logical times (ret 0: not returned) */
    enum clerk_result r;
    uint64_t num;        /* a write's config, a Query's answer */
    bool latest;         /* a Query answered with the latest (asked -1, or past it) */
};

struct ctrlcheck {
    uint32_t n_shards;
    uint64_t clock;
    struct cop *ops;
    size_t n_ops, cap_ops;
    struct sc_config **configs; /* by num, as first seen (NULL: not yet) */
    size_t cap_configs;
    uint64_t latest;            /* the highest num seen */
    bool any;
    struct ctrlcheck_stats st;
};

static bool failf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool failf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

struct ctrlcheck *ctrlcheck_new(uint32_t n_shards)
{
    struct ctrlcheck *h = xcalloc(1, sizeof *h);
    h->n_shards = n_shards;
    return h;
}

void ctrlcheck_free(struct ctrlcheck *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_ops; i++) {
        struct cop *op = &h->ops[i];
        for (size_t g = 0; g < op->n_groups; g++) {
            for (size_t s = 0; s < op->groups[g].n_servers; s++)
                free((char *)op->groups[g].servers[s]);
            free((void *)op->groups[g].servers);
        }
        free(op->groups);
        free(op->gids);
    }
    free(h->ops);
    for (size_t k = 0; k < h->cap_configs; k++)
        sc_config_free(h->configs[k]);
    free(h->configs);
    free(h);
}

/* ---- the record ------------------------------------------------------------------------------ */

size_t ctrlcheck_call(struct ctrlcheck *h, int clerk, const struct sc_cmd *cmd)
{
    if (h->n_ops == h->cap_ops) {
        h->cap_ops = h->cap_ops ? 2 * h->cap_ops : 64;
        h->ops = xrealloc(h->ops, h->cap_ops * sizeof *h->ops);
    }
    struct cop *op = &h->ops[h->n_ops];
    *op = (struct cop){ .clerk = clerk, .op = cmd->op, .shard = cmd->shard, .gid = cmd->gid,
                        .qnum = cmd->num, .call = ++h->clock };
    if (cmd->n_groups) {
        op->groups = xcalloc(cmd->n_groups, sizeof *op->groups);
        op->n_groups = cmd->n_groups;
        for (size_t g = 0; g < cmd->n_groups; g++) {
            const struct sc_join_group *src = &cmd->groups[g];
            char **sv = xcalloc(src->n_servers ? src->n_servers : 1, sizeof *sv);
            for (size_t s = 0; s < src->n_servers; s++)
                sv[s] = xstrdup(src->servers[s]);
            op->groups[g] = (struct sc_join_group){ src->gid, (const char *const *)sv,
                                                    src->n_servers };
        }
    }
    if (cmd->n_gids) {
        op->gids = xmalloc(cmd->n_gids * sizeof *op->gids);
        memcpy(op->gids, cmd->gids, cmd->n_gids * sizeof *op->gids);
        op->n_gids = cmd->n_gids;
    }
    return h->n_ops++;
}

/* Whether a and b are the same config; why says how they differ. */
static bool same_config(const struct sc_config *a, const struct sc_config *b, char *why,
                        size_t len)
{
    if (a->num != b->num)
        return failf(why, len, "num %llu vs %llu", (unsigned long long)a->num,
                     (unsigned long long)b->num);
    if (a->n_shards != b->n_shards)
        return failf(why, len, "%u vs %u shards", a->n_shards, b->n_shards);
    for (uint32_t s = 0; s < a->n_shards; s++)
        if (a->shards[s] != b->shards[s])
            return failf(why, len, "shard %u on gid %u vs %u", s, a->shards[s], b->shards[s]);
    if (a->n_groups != b->n_groups)
        return failf(why, len, "%zu vs %zu groups", a->n_groups, b->n_groups);
    for (size_t g = 0; g < a->n_groups; g++) {
        const struct sc_group *x = a->groups[g], *y = b->groups[g];
        if (x->gid != y->gid)
            return failf(why, len, "group %zu is gid %u vs %u", g, x->gid, y->gid);
        if (x->n_servers != y->n_servers)
            return failf(why, len, "gid %u has %zu vs %zu servers", x->gid, x->n_servers,
                         y->n_servers);
        for (size_t s = 0; s < x->n_servers; s++)
            if (strcmp(x->servers[s], y->servers[s]) != 0)
                return failf(why, len, "gid %u server %zu is %s vs %s", x->gid, s,
                             x->servers[s], y->servers[s]);
    }
    return true;
}

/* Records config c the first time its num is seen; compares it with the record after. */
static bool observe(struct ctrlcheck *h, const struct sc_config *c, char *err, size_t errlen)
{
    if (c->num >= h->cap_configs) {
        size_t cap = h->cap_configs ? h->cap_configs : 64;
        while (cap <= c->num)
            cap *= 2;
        h->configs = xrealloc(h->configs, cap * sizeof *h->configs);
        memset(h->configs + h->cap_configs, 0, (cap - h->cap_configs) * sizeof *h->configs);
        h->cap_configs = cap;
    }
    if (!h->configs[c->num]) {
        h->configs[c->num] = sc_config_copy(c);
        h->st.configs++;
        if (!h->any || c->num > h->latest)
            h->latest = c->num;
        h->any = true;
        return true;
    }
    char why[256];
    if (!same_config(h->configs[c->num], c, why, sizeof why))
        return failf(err, errlen, "config %llu changed since it was first seen: %s",
                     (unsigned long long)c->num, why);
    return true;
}

bool ctrlcheck_return(struct ctrlcheck *h, size_t id, enum clerk_result r, uint64_t num,
                      const struct sc_config *config, char *err, size_t errlen)
{
    struct cop *op = &h->ops[id];
    op->ret = ++h->clock;
    op->r = r;
    op->num = num;
    h->st.ops++;
    if (r != CLERK_OK && r != CLERK_REFUSED)
        return failf(err, errlen, "clerk %d: operation %zu ended %s", op->clerk, id,
                     clerk_result_name(r));
    if (op->op != SC_OP_QUERY) {
        h->st.writes++;
        h->st.refused += r == CLERK_REFUSED;
        if (r == CLERK_OK && num > h->latest)
            h->latest = num;
        return true;
    }
    h->st.queries++;
    if (r != CLERK_OK)
        return failf(err, errlen, "clerk %d: Query(%lld) refused", op->clerk,
                     (long long)op->qnum);
    if (!config)
        return failf(err, errlen, "clerk %d: Query(%lld) OK without a config", op->clerk,
                     (long long)op->qnum);
    op->num = config->num;
    if (op->qnum >= 0 && config->num > (uint64_t)op->qnum)
        return failf(err, errlen, "clerk %d: Query(%lld) returned config %llu", op->clerk,
                     (long long)op->qnum, (unsigned long long)config->num);
    op->latest = op->qnum < 0 || config->num < (uint64_t)op->qnum;
    h->st.latest_queries += op->latest;
    if (config->n_shards != h->n_shards)
        return failf(err, errlen, "config %llu has %u shards, not %u",
                     (unsigned long long)config->num, config->n_shards, h->n_shards);
    return observe(h, config, err, errlen);
}

const struct sc_config *ctrlcheck_latest(const struct ctrlcheck *h)
{
    return h->any && h->latest < h->cap_configs ? h->configs[h->latest] : NULL;
}

uint64_t ctrlcheck_latest_num(const struct ctrlcheck *h) { return h->latest; }

/* ---- the whole history ----------------------------------------------------------------------- */

static bool has_gid(const struct sc_config *c, uint32_t gid)
{
    return sc_config_group(c, gid) != NULL;
}

static bool balanced(const struct sc_config *c, char *why, size_t len)
{
    if (!c->n_groups) {
        for (uint32_t s = 0; s < c->n_shards; s++)
            if (c->shards[s])
                return failf(why, len, "no groups, yet shard %u is on gid %u", s, c->shards[s]);
        return true;
    }
    uint32_t mn = UINT32_MAX, mx = 0;
    for (size_t g = 0; g < c->n_groups; g++) {
        uint32_t count = 0;
        for (uint32_t s = 0; s < c->n_shards; s++)
            count += c->shards[s] == c->groups[g]->gid;
        mn = MIN(mn, count);
        mx = MAX(mx, count);
    }
    for (uint32_t s = 0; s < c->n_shards; s++)
        if (!has_gid(c, c->shards[s]))
            return failf(why, len, "shard %u is on gid %u, not a group of the config", s,
                         c->shards[s]);
    if (mx - mn > 1)
        return failf(why, len, "not balanced: a group has %u shards, another %u", mx, mn);
    return true;
}

static bool in_list(const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

/* The groups of cur are those of prev plus add (verbatim) minus drop. */
static bool groups_follow(const struct sc_config *prev, const struct sc_config *cur,
                          const struct sc_join_group *add, size_t n_add, const uint32_t *drop,
                          size_t n_drop, char *why, size_t len)
{
    size_t want = 0;
    for (size_t g = 0; g < prev->n_groups; g++) {
        const struct sc_group *p = prev->groups[g];
        if (in_list(drop, n_drop, p->gid)) {
            if (has_gid(cur, p->gid))
                return failf(why, len, "gid %u left but is still there", p->gid);
            continue;
        }
        want++;
        const struct sc_group *q = sc_config_group(cur, p->gid);
        if (!q)
            return failf(why, len, "gid %u vanished", p->gid);
        if (q->n_servers != p->n_servers)
            return failf(why, len, "gid %u's servers changed", p->gid);
        for (size_t s = 0; s < p->n_servers; s++)
            if (strcmp(p->servers[s], q->servers[s]) != 0)
                return failf(why, len, "gid %u's servers changed", p->gid);
    }
    for (size_t d = 0; d < n_drop; d++)
        if (!has_gid(prev, drop[d]))
            return failf(why, len, "gid %u left, but it was not a group", drop[d]);
    for (size_t a = 0; a < n_add; a++) {
        if (has_gid(prev, add[a].gid))
            return failf(why, len, "gid %u joined twice", add[a].gid);
        want++;
        const struct sc_group *q = sc_config_group(cur, add[a].gid);
        if (!q)
            return failf(why, len, "joined gid %u is missing", add[a].gid);
        if (q->n_servers != add[a].n_servers)
            return failf(why, len, "joined gid %u has %zu servers, not %zu", add[a].gid,
                         q->n_servers, add[a].n_servers);
        for (size_t s = 0; s < q->n_servers; s++)
            if (strcmp(q->servers[s], add[a].servers[s]) != 0)
                return failf(why, len, "joined gid %u's server %zu is %s, not %s", add[a].gid,
                             s, q->servers[s], add[a].servers[s]);
    }
    if (cur->n_groups != want)
        return failf(why, len, "%zu groups, not %zu", cur->n_groups, want);
    return true;
}

/* Config cur is what write w makes of prev. */
static bool judge(const struct sc_config *prev, const struct sc_config *cur, const struct cop *w,
                  char *why, size_t len)
{
    if (w->op == SC_OP_MOVE) {
        if (!groups_follow(prev, cur, NULL, 0, NULL, 0, why, len))
            return false;
        for (uint32_t s = 0; s < cur->n_shards; s++) {
            uint32_t want = s == w->shard ? w->gid : prev->shards[s];
            if (cur->shards[s] != want)
                return failf(why, len, "Move(%u -> %u): shard %u is on gid %u, not %u",
                             w->shard, w->gid, s, cur->shards[s], want);
        }
        return true;
    }
    bool join = w->op == SC_OP_JOIN;
    if (!groups_follow(prev, cur, join ? w->groups : NULL, join ? w->n_groups : 0,
                       join ? NULL : w->gids, join ? 0 : w->n_gids, why, len))
        return false;
    if (!balanced(cur, why, len))
        return false;
    char ignore[8];
    if (!prev->n_groups || !balanced(prev, ignore, sizeof ignore))
        return true;
    /* from a balanced config: a Join moves shards only to the new groups, a Leave moves only
     * the leavers' shards */
    for (uint32_t s = 0; s < cur->n_shards; s++) {
        if (cur->shards[s] == prev->shards[s])
            continue;
        bool ok = false;
        if (join)
            for (size_t g = 0; g < w->n_groups && !ok; g++)
                ok = w->groups[g].gid == cur->shards[s];
        else
            ok = in_list(w->gids, w->n_gids, prev->shards[s]);
        if (!ok)
            return failf(why, len, "shard %u moved from gid %u to gid %u (not minimal)", s,
                         prev->shards[s], cur->shards[s]);
    }
    return true;
}

/* Linearizability of the latest reads against the writes' order (ctrlcheck.h). Times are
 * scaled so that "just after t" is t*scale + j for the j-th config placed there. */
static bool linearizable(const struct ctrlcheck *h, const struct cop *const *writer,
                         uint64_t latest, char *err, size_t errlen)
{
    size_t n = (size_t)latest + 1;
    uint64_t *lo = xcalloc(n + 1, sizeof *lo); /* lo[k]: max call of a latest read < k */
    uint64_t *hi = xmalloc((n + 1) * sizeof *hi); /* hi[k]: min return of a read >= k */
    const struct cop **lo_q = xcalloc(n + 1, sizeof *lo_q), **hi_q = xcalloc(n + 1, sizeof *hi_q);
    for (size_t k = 0; k <= n; k++)
        hi[k] = UINT64_MAX;
    for (size_t i = 0; i < h->n_ops; i++) {
        const struct cop *q = &h->ops[i];
        if (q->op != SC_OP_QUERY || q->r != CLERK_OK)
            continue;
        if (q->latest && q->call > lo[q->num + 1]) {
            lo[q->num + 1] = q->call; /* config num+1 must come after this read's call */
            lo_q[q->num + 1] = q;
        }
        if (q->ret < hi[q->num]) {
            hi[q->num] = q->ret;
            hi_q[q->num] = q;
        }
    }
    for (size_t k = 1; k <= n; k++) /* prefix max: a read of r < k bounds p_k from below */
        if (lo[k - 1] > lo[k]) {
            lo[k] = lo[k - 1];
            lo_q[k] = lo_q[k - 1];
        }
    for (size_t k = n; k-- > 0;) /* suffix min: a read of r >= k bounds p_k from above */
        if (hi[k + 1] < hi[k]) {
            hi[k] = hi[k + 1];
            hi_q[k] = hi_q[k + 1];
        }
    uint64_t scale = n + 2, p = 0;
    bool ok = true;
    for (size_t k = 1; k <= latest && ok; k++) {
        const struct cop *w = writer[k];
        uint64_t at = MAX(w->call * scale, MAX(p + 1, lo[k] * scale + 1));
        uint64_t limit = MIN(w->ret * scale, hi[k] == UINT64_MAX ? UINT64_MAX : hi[k] * scale);
        if (at > limit) {
            if (hi[k] != UINT64_MAX && at > hi[k] * scale)
                ok = failf(err, errlen, "not linearizable: config %zu (made at %llu..%llu) must "
                           "be made before clerk %d's Query(%lld) returned %llu at %llu, but "
                           "after clerk %d's Query(%lld) called at %llu returned %llu (or a "
                           "later config's write)", k, (unsigned long long)w->call,
                           (unsigned long long)w->ret, hi_q[k]->clerk,
                           (long long)hi_q[k]->qnum, (unsigned long long)hi_q[k]->num,
                           (unsigned long long)hi_q[k]->ret, lo_q[k] ? lo_q[k]->clerk : -1,
                           lo_q[k] ? (long long)lo_q[k]->qnum : 0,
                           lo_q[k] ? (unsigned long long)lo_q[k]->call : 0,
                           lo_q[k] ? (unsigned long long)lo_q[k]->num : 0);
            else
                ok = failf(err, errlen, "not linearizable: config %zu's write returned at %llu, "
                           "before clerk %d's Query(%lld) called at %llu returned the older "
                           "config %llu (or an earlier config's write was placed later)", k,
                           (unsigned long long)w->ret, lo_q[k] ? lo_q[k]->clerk : -1,
                           lo_q[k] ? (long long)lo_q[k]->qnum : 0,
                           lo_q[k] ? (unsigned long long)lo_q[k]->call : 0,
                           lo_q[k] ? (unsigned long long)lo_q[k]->num : 0);
        }
        p = at;
    }
    free(lo);
    free(hi);
    free(lo_q);
    free(hi_q);
    return ok;
}

bool ctrlcheck_finish(struct ctrlcheck *h, char *err, size_t errlen)
{
    uint64_t latest = h->latest;
    for (uint64_t k = 0; k <= latest; k++)
        if (k >= h->cap_configs || !h->configs[k])
            return failf(err, errlen, "config %llu was never observed", (unsigned long long)k);
    const struct sc_config *c0 = h->configs[0];
    char why[256];
    if (c0->n_groups || !balanced(c0, why, sizeof why))
        return failf(err, errlen, "config 0 is not the empty config");
    /* exactly once: each config made by one accepted write */
    const struct cop **writer = xcalloc(latest + 1, sizeof *writer);
    bool ok = true;
    for (size_t i = 0; i < h->n_ops && ok; i++) {
        const struct cop *w = &h->ops[i];
        if (w->op == SC_OP_QUERY || w->r != CLERK_OK)
            continue;
        if (w->num == 0 || w->num > latest)
            ok = failf(err, errlen, "clerk %d: an accepted write made config %llu (latest %llu)",
                       w->clerk, (unsigned long long)w->num, (unsigned long long)latest);
        else if (writer[w->num])
            ok = failf(err, errlen, "config %llu was made by two writes (clerks %d and %d)",
                       (unsigned long long)w->num, writer[w->num]->clerk, w->clerk);
        else
            writer[w->num] = w;
    }
    for (uint64_t k = 1; k <= latest && ok; k++)
        if (!writer[k])
            ok = failf(err, errlen, "config %llu was made by no accepted write (a write applied "
                       "twice?): %llu configs, fewer accepted writes", (unsigned long long)k,
                       (unsigned long long)latest);
    for (uint64_t k = 1; k <= latest && ok; k++)
        if (!judge(h->configs[k - 1], h->configs[k], writer[k], why, sizeof why))
            ok = failf(err, errlen, "config %llu (clerk %d's %s): %s", (unsigned long long)k,
                       writer[k]->clerk, writer[k]->op == SC_OP_JOIN    ? "Join"
                                         : writer[k]->op == SC_OP_LEAVE ? "Leave"
                                                                        : "Move",
                       why);
    if (ok)
        ok = linearizable(h, writer, latest, err, errlen);
    free(writer);
    return ok;
}

/* ---- figures and printing -------------------------------------------------------------------- */

void ctrlcheck_stats(const struct ctrlcheck *h, struct ctrlcheck_stats *st) { *st = h->st; }

static uint64_t fnv(uint64_t x, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        x ^= b[i];
        x *= 0x100000001b3ull;
    }
    return x;
}

uint64_t ctrlcheck_digest(const struct ctrlcheck *h)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < h->n_ops; i++) {
        const struct cop *op = &h->ops[i];
        int64_t f[9] = { op->clerk, op->op, op->shard, op->gid, op->qnum, (int64_t)op->call,
                         (int64_t)op->ret, op->r, (int64_t)op->num };
        x = fnv(x, f, sizeof f);
        for (size_t g = 0; g < op->n_groups; g++)
            for (size_t s = 0; s < op->groups[g].n_servers; s++)
                x = fnv(x, op->groups[g].servers[s], strlen(op->groups[g].servers[s]) + 1);
        x = fnv(x, op->gids, op->n_gids * sizeof *op->gids);
    }
    return x;
}

void ctrlcheck_print(const struct ctrlcheck *h, FILE *f)
{
    for (size_t i = 0; i < h->n_ops; i++) {
        const struct cop *op = &h->ops[i];
        fprintf(f, "  op %zu clerk %d [%llu..%llu] ", i, op->clerk, (unsigned long long)op->call,
                (unsigned long long)op->ret);
        if (op->op == SC_OP_JOIN) {
            fprintf(f, "Join");
            for (size_t g = 0; g < op->n_groups; g++) {
                fprintf(f, " %u:", op->groups[g].gid);
                for (size_t s = 0; s < op->groups[g].n_servers; s++)
                    fprintf(f, "%s%s", s ? "," : "", op->groups[g].servers[s]);
            }
        } else if (op->op == SC_OP_LEAVE) {
            fprintf(f, "Leave");
            for (size_t g = 0; g < op->n_gids; g++)
                fprintf(f, " %u", op->gids[g]);
        } else if (op->op == SC_OP_MOVE) {
            fprintf(f, "Move %u -> %u", op->shard, op->gid);
        } else {
            fprintf(f, "Query(%lld)", (long long)op->qnum);
        }
        if (op->ret)
            fprintf(f, " -> %s num %llu\n", clerk_result_name(op->r), (unsigned long long)op->num);
        else
            fprintf(f, " (no return)\n");
    }
}
