#include "machine.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "shardkv/codec.h"

/* Whether an entry is a client's OP: the bytes skv_codec_op_entry makes. A shardkv.Command
 * whose type (field 1) is not OP begins with that field (tag 0x08, then the type, never 0:
 * proto3 omits a zero), so OP entries are those that do not. Only the logging and the driver's
 * kick depend on it, and both are also right without it (the kick only comes later, at the
 * driver's next poll). */
static bool entry_is_op(const uint8_t *data, size_t len)
{
    return !(len >= 2 && data[0] == 0x08 && data[1] != 0);
}

/* Logs the changes since the last call: the config number, then each shard whose state
 * changed. */
static void log_changes(struct shardkvd_machine *m)
{
    const struct sc_config *c = shardkv_config(m->skv);
    uint32_t n = shardkv_n_shards(m->skv);
    if (c->num != m->logged_num)
        LOG_INFO("shardkv", "group %u: config %llu -> %llu", shardkv_gid(m->skv),
                 (unsigned long long)m->logged_num, (unsigned long long)c->num);
    m->logged_num = c->num;
    if (n != m->logged_n) { /* the first config (or a restore) fixes the shard count */
        m->logged_states = xrealloc(m->logged_states, n ? n : 1);
        if (n > m->logged_n)
            memset(m->logged_states + m->logged_n, SKV_NOT_OWNED, n - m->logged_n);
        m->logged_n = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct skv_shard_info si;
        shardkv_shard_info(m->skv, i, &si);
        if (si.state == m->logged_states[i])
            continue;
        if (si.state == SKV_PULLING || si.state == SKV_GC)
            LOG_INFO("shardkv", "shard %u: %s -> %s (from group %u, left it at config %llu)", i,
                     skv_state_name(m->logged_states[i]), skv_state_name(si.state), si.holder,
                     (unsigned long long)si.left_at);
        else
            LOG_INFO("shardkv", "shard %u: %s -> %s (%llu keys)", i,
                     skv_state_name(m->logged_states[i]), skv_state_name(si.state),
                     (unsigned long long)si.keys);
        m->logged_states[i] = (uint8_t)si.state;
    }
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
    return (struct node_sm){ m, sm_apply, sm_snapshot, sm_restore };
}

void shardkvd_machine_release(struct shardkvd_machine *m)
{
    shardkv_free(m->skv);
    free(m->logged_states);
    *m = (struct shardkvd_machine){ NULL };
}
