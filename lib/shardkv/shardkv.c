/* A shard group's state machine: per-shard data and hand-over states (the rules are in
 * shardkv.h). */
#include "shardkv/shardkv.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "shardctrl/keyshard.h"

/* A frozen (LEAVING) shard's keys in order, built at its first pull and kept until it changes:
 * chunks are cut from it by position, so pulling a shard costs one sort, not one per chunk. */
/* A frozen shard's pairs in key order and its sessions, for the pulls. Built in steps
 * (index_step), so that a large shard does not stall the group: the pairs collected from the
 * table, sorted in runs of INDEX_RUN, the runs merged pass by pass (a bottom-up merge sort). */
enum index_phase { IX_COLLECT, IX_RUNS, IX_MERGE, IX_READY };
#define INDEX_RUN 1024
#define PULL_STEP 65536 /* a pull's share of the index's building (pairs or slots) */

struct pull_index {
    struct skv_pair *pairs;
    size_t n, cap;
    struct session_entry *sessions;
    size_t n_sessions;
    enum index_phase phase;
    size_t next;            /* COLLECT: the next slot; RUNS, MERGE: the next pair */
    size_t width;           /* MERGE: the sorted runs' width in this pass */
    struct skv_pair *other; /* MERGE: where this pass writes */
};

struct shard {
    enum skv_state state;
    struct kv *kv;                 /* the data kept here (NULL: none) */
    uint32_t holder;               /* see shardkv.h: the group with the data */
    struct sc_group *holder_group; /* a reference (NULL when holder is 0) */
    uint64_t left_at;
    bool started;                  /* PULLING: the cursor (shardkv.h, skv_cmd) */
    uint8_t *after;                /* the last key installed */
    size_t after_len;
    bool in_sessions;              /* the keys are in: sessions now */
    uint64_t after_client;         /* the last session installed */
    struct pull_index *index;      /* LEAVING, once pulled */
};

struct shardkv {
    uint32_t gid;
    struct sc_config *config;
    struct shard *shards; /* config->n_shards of them (none before the first config) */
    int bugs;
    /* The data of shards handed over, freed in steps (shardkv_background): no longer state. */
    struct kv **graveyard;
    size_t n_graveyard, cap_graveyard;
};

const char *skv_state_name(enum skv_state s)
{
    static const char *const names[] = { "not owned", "serving", "pulling", "leaving", "gc" };
    return (unsigned)s < ARRAY_LEN(names) ? names[s] : "?";
}

/* ---- shards ---------------------------------------------------------------------------------- */

static void index_free(struct shard *sh)
{
    if (!sh->index)
        return;
    free(sh->index->pairs);
    free(sh->index->other);
    free(sh->index->sessions);
    free(sh->index);
    sh->index = NULL;
}

static void set_holder(struct shard *sh, uint32_t gid, const struct sc_group *g)
{
    if (sh->holder_group)
        sc_group_unref(sh->holder_group);
    sh->holder = gid;
    sh->holder_group = (struct sc_group *)g;
    if (g)
        sh->holder_group->refs++;
}

static void clear_cursor(struct shard *sh)
{
    free(sh->after);
    sh->after = NULL;
    sh->after_len = 0;
    sh->started = false;
    sh->in_sessions = false;
    sh->after_client = 0;
}

/* The shard's data gone from the state: freed at once, or (s not NULL) later in steps, so
 * that dropping a large shard does not stall the group (shardkv_background). */
static void drop_data(struct shardkv *s, struct shard *sh)
{
    index_free(sh);
    if (s && sh->kv) {
        if (s->n_graveyard == s->cap_graveyard) {
            s->cap_graveyard = s->cap_graveyard ? 2 * s->cap_graveyard : 4;
            s->graveyard = xrealloc(s->graveyard, s->cap_graveyard * sizeof *s->graveyard);
        }
        s->graveyard[s->n_graveyard++] = sh->kv;
    } else {
        kv_free(sh->kv);
    }
    sh->kv = NULL;
}

static void shard_free(struct shard *sh)
{
    drop_data(NULL, sh);
    clear_cursor(sh);
    set_holder(sh, 0, NULL);
}

static void free_shards(struct shardkv *s)
{
    if (!s->shards)
        return;
    for (uint32_t i = 0; i < s->config->n_shards; i++)
        shard_free(&s->shards[i]);
    free(s->shards);
    s->shards = NULL;
}

/* ---- the machine ------------------------------------------------------------------------------ */

struct shardkv *shardkv_new(uint32_t gid)
{
    struct shardkv *s = xcalloc(1, sizeof *s);
    s->gid = gid;
    s->config = sc_config_alloc(0, 0, 0);
    return s;
}

static bool index_step(struct shard *sh, size_t budget);

size_t shardkv_background(struct shardkv *s, size_t budget)
{
    size_t waiting = 0;
    for (uint32_t i = 0; s->shards && i < s->config->n_shards; i++) {
        struct shard *sh = &s->shards[i];
        waiting += sh->index && !index_step(sh, budget);
    }
    while (s->n_graveyard > 0) {
        struct kv *kv = s->graveyard[s->n_graveyard - 1];
        if (!kv_free_some(kv, budget))
            break;
        s->n_graveyard--;
    }
    return waiting + s->n_graveyard;
}

void shardkv_free(struct shardkv *s)
{
    if (!s)
        return;
    while (s->n_graveyard > 0)
        kv_free(s->graveyard[--s->n_graveyard]);
    free(s->graveyard);
    free_shards(s);
    sc_config_free(s->config);
    free(s);
}

uint32_t shardkv_gid(const struct shardkv *s) { return s->gid; }
const struct sc_config *shardkv_config(const struct shardkv *s) { return s->config; }
uint32_t shardkv_n_shards(const struct shardkv *s) { return s->config->n_shards; }
void shardkv_set_planted_bug(struct shardkv *s, int bugs) { s->bugs = bugs; }

uint32_t shardkv_shard_of(const struct shardkv *s, const uint8_t *key, size_t klen)
{
    return s->config->n_shards ? sc_key_shard(key, klen, s->config->n_shards) : 0;
}

void shardkv_shard_info(const struct shardkv *s, uint32_t shard, struct skv_shard_info *out)
{
    memset(out, 0, sizeof *out);
    if (shard >= s->config->n_shards)
        return;
    const struct shard *sh = &s->shards[shard];
    out->state = sh->state;
    out->holder = sh->holder;
    out->holder_group = sh->holder_group;
    out->left_at = sh->left_at;
    out->started = sh->started;
    out->after = sh->after;
    out->after_len = sh->after_len;
    out->in_sessions = sh->in_sessions;
    out->after_client = sh->after_client;
    if (sh->kv) {
        struct kv_stats st;
        kv_stats(sh->kv, &st);
        out->keys = st.keys;
        out->bytes = st.bytes;
    }
}

const struct kv *shardkv_shard_kv(const struct shardkv *s, uint32_t shard)
{
    return shard < s->config->n_shards ? s->shards[shard].kv : NULL;
}

/* A LEAVING shard is parked when the current config gives it to nobody: it does not hold the
 * group back (no one can pull it yet). */
static bool parked(const struct shardkv *s, uint32_t i)
{
    return s->config->shards[i] == 0;
}

bool shardkv_settled(const struct shardkv *s)
{
    for (uint32_t i = 0; i < s->config->n_shards; i++) {
        enum skv_state st = s->shards[i].state;
        if (st == SKV_PULLING || st == SKV_GC || (st == SKV_LEAVING && !parked(s, i)))
            return false;
    }
    return true;
}

static bool serves(const struct shardkv *s, uint32_t shard)
{
    enum skv_state st = s->shards[shard].state;
    return st == SKV_SERVING || st == SKV_GC ||
           ((s->bugs & SKV_BUG_SERVE_PULLING) && st == SKV_PULLING);
}

/* One shard's move from the current config to next (whose number is num). */
static void next_shard(struct shardkv *s, uint32_t i, const struct sc_config *next)
{
    struct shard *sh = &s->shards[i];
    uint32_t owner = next->shards[i], me = s->gid;
    uint64_t num = next->num;
    if (owner == 0) { /* nobody's: the holder keeps it, parked, from this config on */
        if (sh->holder && !sh->left_at)
            sh->left_at = num;
        if (sh->holder == me)
            sh->state = SKV_LEAVING;
        return;
    }
    const struct sc_group *g = sc_config_group(next, owner);
    if (owner == sh->holder) { /* the holder owns it (again) */
        sh->left_at = 0;
        if (owner == me) {
            index_free(sh);
            sh->state = SKV_SERVING;
        }
        return;
    }
    /* A hand-over: from the holder, in the config it left it. */
    uint64_t left_at = sh->left_at ? sh->left_at : num;
    if (sh->holder == me) {
        sh->state = SKV_LEAVING; /* the holder (this group) keeps it until DELETE */
        sh->left_at = left_at;
    } else if (owner == me && sh->holder == 0) {
        sh->state = SKV_SERVING; /* never held by anyone: it starts empty */
        sh->kv = kv_new();
        set_holder(sh, me, g);
        sh->left_at = 0;
    } else if (owner == me) {
        sh->state = SKV_PULLING; /* pull from the holder; it stays the holder until GC_DONE */
        sh->left_at = left_at;
        clear_cursor(sh);
        drop_data(s, sh);
        sh->kv = kv_new();
    } else {
        set_holder(sh, owner, g);
        sh->left_at = 0;
    }
}

static enum skv_err apply_config(struct shardkv *s, const struct sc_config *next)
{
    const struct sc_config *cur = s->config;
    if (next->num != cur->num + 1 || !shardkv_settled(s))
        return SKV_IGNORED;
    if (cur->num && next->n_shards != cur->n_shards)
        return SKV_IGNORED; /* the controller's count is fixed: not a config of ours */
    if (!next->n_shards)
        return SKV_IGNORED;
    if (!cur->num)
        s->shards = xcalloc(next->n_shards, sizeof *s->shards);
    for (uint32_t i = 0; i < next->n_shards; i++)
        next_shard(s, i, next);
    /* Groups are shared by reference: the shards' holder groups point into configs that may be
     * freed, but each holds its own reference. */
    sc_config_free(s->config);
    s->config = sc_config_copy(next);
    return SKV_OK;
}

static bool same_key(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (!alen || !memcmp(a, b, alen));
}

static enum skv_err apply_install(struct shardkv *s, const struct skv_cmd *c)
{
    if (c->shard >= s->config->n_shards)
        return SKV_IGNORED;
    struct shard *sh = &s->shards[c->shard];
    bool tagged_here = (c->num == s->config->num && c->left_at == sh->left_at) ||
                       (s->bugs & SKV_BUG_OLD_INSTALL);
    if (!tagged_here || sh->state != SKV_PULLING)
        return SKV_IGNORED;
    /* At its cursor only: a chunk installed once is never installed twice. */
    bool at_cursor = c->first ? !sh->started
                              : sh->started && c->in_sessions == sh->in_sessions &&
                                    (c->in_sessions ? c->after_client == sh->after_client
                                                    : same_key(c->after, c->after_len, sh->after,
                                                               sh->after_len));
    if (!at_cursor)
        return SKV_IGNORED;
    const struct skv_chunk *ch = &c->chunk;
    if (sh->in_sessions && ch->n_pairs)
        return SKV_IGNORED; /* keys after the keys were done: not a chunk of this pull */
    for (size_t i = 0; i < ch->n_pairs; i++)
        kv_load_pair(sh->kv, ch->pairs[i].key, ch->pairs[i].klen, ch->pairs[i].val,
                     ch->pairs[i].vlen);
    if (!(s->bugs & SKV_BUG_DROP_SESSIONS))
        session_import(kv_sessions_mut(sh->kv), 0, ch->sessions, ch->n_sessions);
    sh->started = true;
    if (ch->n_pairs) {
        const struct skv_pair *last = &ch->pairs[ch->n_pairs - 1];
        free(sh->after);
        sh->after = xmalloc(last->klen ? last->klen : 1);
        if (last->klen) /* the empty key may come as NULL */
            memcpy(sh->after, last->key, last->klen);
        sh->after_len = last->klen;
    }
    if (ch->pairs_end)
        sh->in_sessions = true;
    if (ch->n_sessions)
        sh->after_client = ch->sessions[ch->n_sessions - 1].client_id;
    if (ch->done) {
        clear_cursor(sh);
        sh->state = SKV_GC;
    }
    return SKV_OK;
}

static enum skv_err apply_delete(struct shardkv *s, const struct skv_cmd *c)
{
    if (c->shard >= s->config->n_shards)
        return SKV_IGNORED;
    struct shard *sh = &s->shards[c->shard];
    if (sh->state != SKV_LEAVING || sh->left_at != c->left_at)
        return SKV_IGNORED;
    if (s->bugs & SKV_BUG_KEEP_LEFT)
        index_free(sh);
    else
        drop_data(s, sh);
    sh->state = SKV_NOT_OWNED;
    uint32_t owner = s->config->shards[c->shard]; /* the new owner has it now */
    set_holder(sh, owner, owner ? sc_config_group(s->config, owner) : NULL);
    sh->left_at = 0;
    return SKV_OK;
}

static enum skv_err apply_gc_done(struct shardkv *s, const struct skv_cmd *c)
{
    if (c->shard >= s->config->n_shards)
        return SKV_IGNORED;
    struct shard *sh = &s->shards[c->shard];
    if (c->num != s->config->num || sh->state != SKV_GC || sh->left_at != c->left_at)
        return SKV_IGNORED;
    sh->state = SKV_SERVING;
    set_holder(sh, s->gid, sc_config_group(s->config, s->gid));
    sh->left_at = 0;
    return SKV_OK;
}

void shardkv_apply(struct shardkv *s, const struct skv_cmd *cmd, struct skv_result *res)
{
    memset(res, 0, sizeof *res);
    switch (cmd->type) {
    case SKV_OP: {
        uint32_t shard = shardkv_shard_of(s, cmd->op.key, cmd->op.klen);
        if (!s->config->num || !serves(s, shard)) {
            res->err = SKV_WRONG_GROUP;
            return;
        }
        kv_apply(s->shards[shard].kv, &cmd->op, &res->kv);
        return;
    }
    case SKV_CONFIG:
        res->err = cmd->config ? apply_config(s, cmd->config) : SKV_IGNORED;
        return;
    case SKV_INSTALL:
        res->err = apply_install(s, cmd);
        return;
    case SKV_DELETE:
        res->err = apply_delete(s, cmd);
        return;
    case SKV_GC_DONE:
        res->err = apply_gc_done(s, cmd);
        return;
    }
    res->err = SKV_IGNORED;
}

void shardkv_get(const struct shardkv *s, const uint8_t *key, size_t klen, struct skv_result *res)
{
    memset(res, 0, sizeof *res);
    uint32_t shard = shardkv_shard_of(s, key, klen);
    if (!s->config->num || !serves(s, shard)) {
        res->err = SKV_WRONG_GROUP;
        return;
    }
    kv_get(s->shards[shard].kv, key, klen, &res->kv);
}

/* ---- what comes next -------------------------------------------------------------------------- */

size_t shardkv_actions(const struct shardkv *s, struct skv_action *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->config->n_shards; i++) {
        const struct shard *sh = &s->shards[i];
        if (sh->state != SKV_PULLING && sh->state != SKV_GC)
            continue;
        if (n < cap)
            out[n] = (struct skv_action){
                .type = sh->state == SKV_PULLING ? SKV_ACT_PULL : SKV_ACT_DELETE,
                .shard = i,
                .holder = sh->holder,
                .holder_group = sh->holder_group,
                .left_at = sh->left_at,
                .num = s->config->num,
                .first = sh->state == SKV_PULLING && !sh->started,
                .after = sh->after,
                .after_len = sh->after_len,
                .in_sessions = sh->in_sessions,
                .after_client = sh->after_client,
            };
        n++;
    }
    return n;
}

static void add_pair(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
    struct pull_index *ix = arg;
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? 2 * ix->cap : 64;
        ix->pairs = xrealloc(ix->pairs, ix->cap * sizeof *ix->pairs);
    }
    ix->pairs[ix->n++] = (struct skv_pair){ key, val, klen, vlen };
}

/* Bytewise order, a prefix first (kv_each_pair's). */
static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, MIN(alen, blen));
    return c ? c : (alen > blen) - (alen < blen);
}

static int pair_cmp(const void *a, const void *b)
{
    const struct skv_pair *x = a, *y = b;
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

static void merge(const struct skv_pair *a, size_t na, const struct skv_pair *b, size_t nb,
                  struct skv_pair *out)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb)
        *out++ = pair_cmp(&b[j], &a[i]) < 0 ? b[j++] : a[i++];
    memcpy(out, a + i, (na - i) * sizeof *a);
    memcpy(out + (na - i), b + j, (nb - j) * sizeof *b);
}

/* Builds sh's index further, about budget pairs' (or slots') worth; true once it is ready. */
static bool index_step(struct shard *sh, size_t budget)
{
    struct pull_index *ix = sh->index;
    while (budget > 0 && ix->phase != IX_READY) {
        size_t at = ix->next;
        if (ix->phase == IX_COLLECT) {
            bool end = kv_scan(sh->kv, &ix->next, budget, add_pair, ix);
            budget -= MIN(budget, MAX(ix->next - at, 1));
            if (end) {
                ix->n_sessions = session_export(kv_sessions(sh->kv), 0, &ix->sessions);
                ix->phase = IX_RUNS;
                ix->next = 0;
            }
        } else if (ix->phase == IX_RUNS) {
            size_t hi = MIN(ix->n, at + INDEX_RUN);
            if (hi > at) /* an empty shard has no pairs array at all */
                qsort(ix->pairs + at, hi - at, sizeof *ix->pairs, pair_cmp);
            budget -= MIN(budget, MAX(hi - at, 1));
            ix->next = hi;
            if (hi == ix->n) {
                ix->phase = IX_MERGE;
                ix->width = INDEX_RUN;
                ix->next = 0;
                ix->other = xmalloc((ix->n + 1) * sizeof *ix->other);
            }
        } else if (ix->width >= ix->n) {
            free(ix->other);
            ix->other = NULL;
            ix->phase = IX_READY;
        } else { /* MERGE: runs [at, at + width) and the next one */
            size_t mid = MIN(ix->n, at + ix->width), hi = MIN(ix->n, at + 2 * ix->width);
            merge(ix->pairs + at, mid - at, ix->pairs + mid, hi - mid, ix->other + at);
            budget -= MIN(budget, MAX(hi - at, 1));
            ix->next = hi;
            if (hi == ix->n) {
                struct skv_pair *t = ix->pairs;
                ix->pairs = ix->other;
                ix->other = t;
                ix->width *= 2;
                ix->next = 0;
            }
        }
    }
    return ix->phase == IX_READY;
}

/* The first pair whose key is after the cursor / session whose client id is (binary search). */
static size_t first_key_after(const struct pull_index *ix, const uint8_t *after, size_t len)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(ix->pairs[mid].key, ix->pairs[mid].klen, after, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t first_session_after(const struct pull_index *ix, uint64_t client)
{
    size_t lo = 0, hi = ix->n_sessions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->sessions[mid].client_id <= client)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int shardkv_pull(struct shardkv *s, uint32_t shard, uint64_t left_at, bool first,
                 const uint8_t *after, size_t after_len, bool in_sessions, uint64_t after_client,
                 size_t max_bytes, struct skv_chunk *out)
{
    memset(out, 0, sizeof *out);
    if (shard >= s->config->n_shards)
        return -1;
    struct shard *sh = &s->shards[shard];
    if (sh->state != SKV_LEAVING || sh->left_at != left_at || !sh->kv)
        return -1;
    if (!sh->index)
        sh->index = xcalloc(1, sizeof *sh->index);
    if (!index_step(sh, PULL_STEP))
        return -1; /* NOT_READY: built further by the next pulls and shardkv_background */
    const struct pull_index *ix = sh->index;
    size_t bytes = 0;
    if (!in_sessions) {
        size_t lo = first ? 0 : first_key_after(ix, after, after_len);
        size_t end = lo;
        while (end < ix->n && (end == lo || bytes + ix->pairs[end].klen + ix->pairs[end].vlen <=
                                                max_bytes)) {
            bytes += ix->pairs[end].klen + ix->pairs[end].vlen;
            end++;
        }
        out->pairs = ix->pairs + lo;
        out->n_pairs = end - lo;
        out->pairs_end = end == ix->n;
        if (!out->pairs_end)
            return 0;
    }
    /* The sessions after the cursor, in the budget that is left (at least one when the chunk
     * has nothing else). */
    size_t lo = in_sessions ? first_session_after(ix, after_client) : 0;
    size_t end = lo;
    while (end < ix->n_sessions &&
           ((end == lo && !out->n_pairs) ||
            bytes + ix->sessions[end].reply_len + SESSION_ENTRY_OVERHEAD <= max_bytes)) {
        bytes += ix->sessions[end].reply_len + SESSION_ENTRY_OVERHEAD;
        end++;
    }
    out->sessions = ix->sessions + lo;
    out->n_sessions = end - lo;
    out->done = end == ix->n_sessions;
    return 0;
}

/* ---- restores ---------------------------------------------------------------------------------- */

void shardkv_restore_begin(struct shardkv *s, const struct sc_config *config)
{
    free_shards(s);
    sc_config_free(s->config);
    s->config = sc_config_copy(config);
    if (config->n_shards)
        s->shards = xcalloc(config->n_shards, sizeof *s->shards);
}

struct kv *shardkv_restore_shard(struct shardkv *s, uint32_t shard, enum skv_state state,
                                 uint32_t holder, const char *const *holder_servers,
                                 size_t n_holder_servers, uint64_t left_at, bool started,
                                 const uint8_t *after, size_t after_len, bool in_sessions,
                                 uint64_t after_client)
{
    struct shard *sh = &s->shards[shard];
    shard_free(sh);
    sh->state = state;
    sh->left_at = left_at;
    if (holder) {
        struct sc_group *g = sc_group_new(holder, holder_servers, n_holder_servers);
        set_holder(sh, holder, g);
        sc_group_unref(g);
    }
    sh->started = started;
    if (after_len) {
        sh->after = xmalloc(after_len);
        memcpy(sh->after, after, after_len);
        sh->after_len = after_len;
    }
    sh->in_sessions = in_sessions;
    sh->after_client = after_client;
    /* (SKV_BUG_KEEP_LEFT: a shard someone held may have data kept here; never one held by
     * nobody, which next_shard starts empty) */
    if (state != SKV_NOT_OWNED || ((s->bugs & SKV_BUG_KEEP_LEFT) && holder))
        sh->kv = kv_new();
    return sh->kv;
}

void shardkv_stats(const struct shardkv *s, struct skv_stats *st)
{
    memset(st, 0, sizeof *st);
    for (uint32_t i = 0; i < s->config->n_shards; i++) {
        if (!s->shards[i].kv)
            continue;
        struct kv_stats k;
        kv_stats(s->shards[i].kv, &k);
        st->keys += k.keys;
        st->bytes += k.bytes;
        st->sessions += k.clients;
    }
}
