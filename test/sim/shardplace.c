/* Where a shard's data lives once the service is quiet (shardplace.h). */
#include "shardplace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardkv/codec.h"

#define SETTLE_STEP_MS 50

/* The controller's latest config number (its nodes all up after a heal). */
static uint64_t latest_num(struct skvl *c)
{
    uint64_t num = 0;
    for (size_t i = 0; i < 3; i++) {
        struct shardctrl *sc = simctrl_sc(c->ctrl, skvl_ctrl_node(false, i));
        const struct sc_config *cf = sc ? shardctrl_query(sc, -1) : NULL;
        if (cf && cf->num > num)
            num = cf->num;
    }
    return num;
}

/* Group g is quiet: every replica up, at config num, settled, everything it knows committed
 * applied, and all at the same index. Else why not (into why, when given). (Not "its whole log
 * applied": a log may end with an entry of an old term, proposed by a leader that then lost
 * its place, which an idle group's new leader never commits, having no entry of its own term
 * to commit it with; it is not part of the state.) */
static bool group_quiet(struct skvl *c, size_t g, uint64_t num, char *why, size_t len)
{
    uint64_t applied = 0;
    for (size_t i = 0; i < SKVL_PER_GROUP; i++) {
        size_t n = skvl_node(g, i);
        const struct raft *r = sim_raft(c->s, n);
        struct shardkv *k = simshardkv_skv(c->k, n);
        const char *no = !r || !k ? "down"
                         : shardkv_config(k)->num != num ? "at another config"
                         : !shardkv_settled(k) ? "not settled"
                         : raft_applied(r) != raft_hard_state(r).commit
                             ? "with committed entries not applied"
                         : i && raft_applied(r) != applied ? "at another index than server 0"
                                                           : NULL;
        if (no) {
            if (why)
                snprintf(why, len, "gid %u server %zu %s (config %llu, applied %llu, "
                         "committed %llu, last index %llu)", simshardkv_gid(c->k, g), i, no,
                         k ? (unsigned long long)shardkv_config(k)->num : 0ull,
                         r ? (unsigned long long)raft_applied(r) : 0ull,
                         r ? (unsigned long long)raft_hard_state(r).commit : 0ull,
                         r ? (unsigned long long)raft_last_index(r) : 0ull);
            return false;
        }
        applied = raft_applied(r);
    }
    return true;
}

static bool quiet(struct skvl *c, char *why, size_t len)
{
    uint64_t num = latest_num(c);
    for (size_t g = 0; g < SKVL_GROUPS; g++)
        if (!group_quiet(c, g, num, why, len))
            return false;
    return true;
}

/* A leader whose log ends with entries it cannot commit (of an earlier term: Raft commits
 * them only with one of its own) while its group is idle: their replicas may never all apply
 * them (one that learnt the old leader's commit has, the others wait). Once a term, an entry
 * of its own: a CONFIG of the current number, which every replica ignores (what simshardkv's
 * Pull handler does for an idle holder). */
static void nudge_idle_leaders(struct skvl *c, uint64_t *nudged_term)
{
    for (size_t g = 0; g < SKVL_GROUPS; g++) {
        for (size_t i = 0; i < SKVL_PER_GROUP; i++) {
            size_t n = skvl_node(g, i);
            const struct raft *r = sim_raft(c->s, n);
            struct shardkv *k = simshardkv_skv(c->k, n);
            uint64_t term;
            if (!r || !k || !sim_get_state(c->s, n, &term) || nudged_term[n] == term ||
                raft_hard_state(r).commit >= raft_last_index(r))
                continue;
            nudged_term[n] = term;
            struct skv_cmd cmd = { .type = SKV_CONFIG, .config = shardkv_config(k) };
            uint8_t *entry;
            size_t len;
            uint64_t index;
            skv_codec_encode_cmd(&cmd, &entry, &len);
            sim_propose(c->s, n, entry, len, NULL, NULL, &index, &term);
            free(entry);
        }
    }
}

bool shardplace_settle(struct skvl *c, uint64_t max_ms)
{
    uint64_t end = sim_now(c->s) + max_ms;
    uint64_t nudged_term[SIM_MAX_NODES] = { 0 };
    char why[200];
    while (!kvl_failed(c->t) && !quiet(c, why, sizeof why)) {
        nudge_idle_leaders(c, nudged_term);
        if (sim_now(c->s) >= end) {
            kvl_fail(c->t, "the shard groups were not quiet %llu ms after the last change "
                     "(every server at config %llu, settled, its log applied): %s",
                     (unsigned long long)max_ms, (unsigned long long)latest_num(c), why);
            return false;
        }
        kvl_run_for(c->t, SETTLE_STEP_MS);
    }
    return !kvl_failed(c->t);
}

/* An order-free digest of a shard's keys, values and sessions (replicas may have built their
 * tables in another order), and whether it has any. */
struct content {
    uint64_t digest, items;
};

static uint64_t mix(const uint8_t *p, size_t n, uint64_t h)
{
    for (size_t k = 0; k < n; k++)
        h = (h ^ p[k]) * 0x100000001b3ull;
    return h ^ (h >> 31);
}

static void add_pair(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg)
{
    struct content *ct = arg;
    uint64_t h = mix(key, klen, 0xcbf29ce484222325ull ^ klen);
    ct->digest += mix(val, vlen, h ^ 0x9e3779b97f4a7c15ull);
    ct->items++;
}

static void add_session(uint32_t part, const struct session_entry *e, void *arg)
{
    struct content *ct = arg;
    uint64_t head[3] = { part, e->client_id, e->seq };
    uint64_t h = mix((const uint8_t *)head, sizeof head, 0x84222325cbf29ce4ull);
    ct->digest += mix(e->reply, e->reply_len, h) * 3 + 1;
    ct->items++;
}

static struct content content_of(const struct kv *kv)
{
    struct content ct = { 0, 0 };
    if (kv) {
        kv_each_pair(kv, add_pair, &ct);
        session_each(kv_sessions(kv), add_session, &ct);
    }
    return ct;
}

/* One shard: its home group index (home_gid's, or none when home_gid is 0 or no group of
 * ours), the state each of its replicas must show, everyone else without data. */
static bool check_shard(struct skvl *c, uint32_t shard, uint32_t home_gid, bool parked,
                        struct shardplace_stats *st)
{
    enum skv_state home_state = parked ? SKV_LEAVING : SKV_SERVING;
    struct content first = { 0, 0 };
    bool have_first = false;
    for (size_t g = 0; g < SKVL_GROUPS; g++) {
        bool home = simshardkv_gid(c->k, g) == home_gid;
        for (size_t i = 0; i < SKVL_PER_GROUP; i++) {
            size_t n = skvl_node(g, i);
            struct shardkv *k = simshardkv_skv(c->k, n);
            struct skv_shard_info si;
            shardkv_shard_info(k, shard, &si);
            const struct kv *kv = shardkv_shard_kv(k, shard);
            struct content ct = content_of(kv);
            const char *where = parked ? "parked shard" : "shard";
            if (parked && si.holder != home_gid) {
                kvl_fail(c->t, "%s %u: gid %u server %zu names gid %u its holder, another "
                         "replica gid %u", where, shard, simshardkv_gid(c->k, g), i, si.holder,
                         home_gid);
                return false;
            }
            if (home && (si.state != home_state || !kv)) {
                kvl_fail(c->t, "%s %u: gid %u server %zu, its home, has it %s%s", where, shard,
                         home_gid, i, skv_state_name(si.state), kv ? "" : " without its data");
                return false;
            }
            if (!home && (si.state != SKV_NOT_OWNED || ct.items)) {
                kvl_fail(c->t, "%s %u (home gid %u): gid %u server %zu has it %s with %llu keys "
                         "and sessions: its data lives in more than one group", where, shard,
                         home_gid, simshardkv_gid(c->k, g), i, skv_state_name(si.state),
                         (unsigned long long)ct.items);
                return false;
            }
            if (home && have_first && memcmp(&ct, &first, sizeof ct) != 0) {
                kvl_fail(c->t, "%s %u: gid %u's replicas hold different data (server %zu: %llu "
                         "keys and sessions, server 0: %llu)", where, shard, home_gid, i,
                         (unsigned long long)ct.items, (unsigned long long)first.items);
                return false;
            }
            if (home && !have_first) {
                first = ct;
                have_first = true;
            }
        }
    }
    st->shards++;
    st->parked += parked;
    st->with_data += first.items > 0;
    return true;
}

bool shardplace_check(struct skvl *c, struct shardplace_stats *st)
{
    if (kvl_failed(c->t))
        return false;
    if (!quiet(c, NULL, 0)) {
        kvl_fail(c->t, "shard placement checked while the groups are not quiet");
        return false;
    }
    /* Every group server has the same config now (quiet): take it from the first. */
    struct shardkv *k0 = simshardkv_skv(c->k, skvl_node(0, 0));
    const struct sc_config *cf = shardkv_config(k0);
    for (uint32_t s = 0; s < cf->n_shards; s++) {
        uint32_t owner = cf->shards[s];
        uint32_t home = owner;
        if (!owner) {
            struct skv_shard_info si;
            shardkv_shard_info(k0, s, &si);
            home = si.holder; /* 0: held by nobody ever, so no data anywhere */
        }
        if (!check_shard(c, s, home, owner == 0, st))
            return false;
    }
    st->checks++;
    return true;
}
