#include "machine.h"

#include "kv/codec.h"

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len)
{
    if (e->type == RAFT_ENTRY_NORMAL)
        kv_codec_apply(ctx, e->data, e->len, result, result_len);
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len) { kv_codec_snapshot(ctx, data, len); }

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    (void)index;
    return kv_codec_restore(ctx, data, len);
}

struct node_sm kvd_state_machine(struct kv *kv)
{
    return (struct node_sm){ .ctx = kv, .apply = sm_apply, .snapshot = sm_snapshot, .restore = sm_restore };
}
