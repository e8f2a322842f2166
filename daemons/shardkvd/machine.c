#include "machine.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "shardkv/codec.h"
#include "storage/store.h"

/* Whether an entry is a client's OP: the bytes skv_codec_op_entry makes. A shardkv.Command
 * whose type (field 1) is not OP begins with that field (tag 0x08, then the type, never 0:
 * proto3 omits a zero), so OP entries are those that do not. Only the logging and the driver's
 * kick depend on it, and both are also right without it (the kick only comes later, at the
 * driver's next poll). */
static bool entry_is_op(const uint8_t *data, size_t len)
{
    return !(len >= 2 && data[0] == 0x08 && data[1] != 0);
}

/* One change of a shard's state since the last log. */
struct change {
    uint32_t shard, holder;
    uint8_t from, to;
};

/* Appends the shards of the changes like c (same states and, into PULLING, same holder) as
 * ranges ("0-4,7") to buf (malloc'd, grown), and marks them done. */
static void shard_ranges(struct change *ch, size_t n, size_t first, char **buf, size_t *len,
                         size_t *cap)
{
    const struct change c = ch[first];
    uint32_t start = 0, prev = 0;
    bool open = false;
    for (size_t i = first; i <= n; i++) {
        bool like = i < n && ch[i].from == c.from && ch[i].to == c.to && ch[i].holder == c.holder;
        if (like && open && ch[i].shard == prev + 1) {
            prev = ch[i].shard;
        } else {
            if (open) {
                char item[32];
                int k = start == prev ? snprintf(item, sizeof item, "%s%u", *len ? "," : "", start)
                                      : snprintf(item, sizeof item, "%s%u-%u", *len ? "," : "",
                                                 start, prev);
                if (*len + (size_t)k + 1 > *cap)
                    *buf = xrealloc(*buf, *cap = 2 * (*len + (size_t)k + 1));
                memcpy(*buf + *len, item, (size_t)k + 1);
                *len += (size_t)k;
                open = false;
            }
            if (like) {
                start = prev = ch[i].shard;
                open = true;
            }
        }
        if (like)
            ch[i].to = UINT8_MAX; /* done: matches no later group */
    }
}

/* Logs the changes since the last call: the config number, then one line per kind of shard
 * state change ("shards 5-9: serving -> leaving"), so that a config moving thousands of
 * shards costs a few lines. */
static void log_changes(struct shardkvd_machine *m)
{
    const struct sc_config *c = shardkv_config(m->skv);
    uint32_t gid = shardkv_gid(m->skv), n = shardkv_n_shards(m->skv);
    if (c->num != m->logged_num)
        LOG_INFO("shardkv", "group %u: config %llu -> %llu", gid,
                 (unsigned long long)m->logged_num, (unsigned long long)c->num);
    m->logged_num = c->num;
    if (n != m->logged_n) { /* the first config (or a restore) fixes the shard count */
        m->logged_states = xrealloc(m->logged_states, n ? n : 1);
        if (n > m->logged_n)
            memset(m->logged_states + m->logged_n, SKV_NOT_OWNED, n - m->logged_n);
        m->logged_n = n;
    }
    struct change *ch = NULL;
    size_t n_ch = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct skv_shard_info si;
        shardkv_shard_info(m->skv, i, &si);
        if (si.state == m->logged_states[i])
            continue;
        if (!ch)
            ch = xmalloc(n * sizeof *ch);
        ch[n_ch++] = (struct change){ i, si.state == SKV_PULLING ? si.holder : 0,
                                      m->logged_states[i], (uint8_t)si.state };
        m->logged_states[i] = (uint8_t)si.state;
    }
    char *ranges = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n_ch; i++) {
        if (ch[i].to == UINT8_MAX)
            continue;
        struct change k = ch[i];
        size_t len = 0;
        shard_ranges(ch, n_ch, i, &ranges, &len, &cap);
        char from[64] = "";
        if (k.to == SKV_PULLING)
            snprintf(from, sizeof from, " from group %u", k.holder);
        LOG_INFO("shardkv", "group %u: shard%s %s: %s -> %s%s", gid, strpbrk(ranges, ",-") ? "s" : "", ranges,
                 skv_state_name(k.from), skv_state_name(k.to), from);
    }
    free(ranges);
    free(ch);
}

static void moved(struct shardkvd_machine *m)
{
    log_changes(m);
    if (m->moved)
        m->moved(m->moved_arg);
}

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len)
{
    struct shardkvd_machine *m = ctx;
    if (e->type != RAFT_ENTRY_NORMAL)
        return;
    skv_codec_apply(m->skv, e->data, e->len, result, result_len);
    if (!entry_is_op(e->data, e->len))
        moved(m);
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    struct shardkvd_machine *m = ctx;
    skv_codec_snapshot(m->skv, data, len);
}

/* The snapshot streamed into the store's space (LMDB's reserved pages, in the foreground or
 * from a forked child): the encoded state is not also held in a buffer of ours (docs/SHARDS.md,
 * "Large shards"). */
static size_t sm_snapshot_size(void *ctx)
{
    struct shardkvd_machine *m = ctx;
    size_t len;
    m->snap = skv_codec_snapshot_begin(m->skv, &len);
    return len;
}

static void sm_snapshot_write(void *ctx, struct store_sink *sink, size_t len)
{
    (void)len;
    struct shardkvd_machine *m = ctx;
    skv_codec_snapshot_write(m->snap, store_sink_append, sink);
}

static void sm_snapshot_done(void *ctx)
{
    struct shardkvd_machine *m = ctx;
    skv_codec_snapshot_end(m->snap);
    m->snap = NULL;
}

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    (void)index;
    struct shardkvd_machine *m = ctx;
    if (skv_codec_restore(m->skv, data, len) != 0)
        return -1;
    moved(m);
    return 0;
}

struct node_sm shardkvd_state_machine(struct shardkvd_machine *m)
{
    return (struct node_sm){ .ctx = m, .apply = sm_apply, .snapshot = sm_snapshot,
                             .restore = sm_restore, .snapshot_size = sm_snapshot_size,
                             .snapshot_write = sm_snapshot_write, .snapshot_done = sm_snapshot_done };
}

void shardkvd_machine_release(struct shardkvd_machine *m)
{
    shardkv_free(m->skv);
    free(m->logged_states);
    *m = (struct shardkvd_machine){ NULL };
}
