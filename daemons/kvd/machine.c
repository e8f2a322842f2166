#include "machine.h"

#include "kv/codec.h"
#include "storage/store.h"

static struct kv *kv_of(void *ctx) { return ((struct kvd_machine *)ctx)->kv; }

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *result_len)
{
    if (e->type == RAFT_ENTRY_NORMAL)
        kv_codec_apply(kv_of(ctx), e->data, e->len, result, result_len);
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    kv_codec_snapshot(kv_of(ctx), data, len);
}

static size_t sm_snapshot_size(void *ctx)
{
    struct kvd_machine *m = ctx;
    size_t len;
    m->snap = kv_codec_snapshot_begin(m->kv, &len);
    return len;
}

static void sm_snapshot_write(void *ctx, struct store_sink *sink, size_t len)
{
    (void)len;
    kv_codec_snapshot_write(((struct kvd_machine *)ctx)->snap, store_sink_append, sink);
}

static void sm_snapshot_done(void *ctx)
{
    struct kvd_machine *m = ctx;
    kv_codec_snapshot_end(m->snap);
    m->snap = NULL;
}

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    (void)index;
    return kv_codec_restore(kv_of(ctx), data, len);
}

struct node_sm kvd_state_machine(struct kvd_machine *m)
{
    return (struct node_sm){ .ctx = m, .apply = sm_apply, .snapshot = sm_snapshot,
                             .restore = sm_restore, .snapshot_size = sm_snapshot_size,
                             .snapshot_write = sm_snapshot_write,
                             .snapshot_done = sm_snapshot_done };
}
