#include "machine.h"

#include "shardctrl/codec.h"

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len)
{
    struct shardctrl **sc = ctx;
    if (e->type == RAFT_ENTRY_NORMAL)
        sc_codec_apply(*sc, e->data, e->len, result, result_len);
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    struct shardctrl **sc = ctx;
    sc_codec_snapshot(*sc, data, len);
}

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    (void)index;
    struct shardctrl **sc = ctx;
    return sc_codec_restore(*sc, data, len);
}

struct node_sm shardctrl_state_machine(struct shardctrl **sc)
{
    return (struct node_sm){ .ctx = sc, .apply = sm_apply, .snapshot = sm_snapshot, .restore = sm_restore };
}
