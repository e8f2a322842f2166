#include "kv/kv.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv/table.h"
#include "session/session.h"

/* What a key costs beyond its bytes, roughly as laid out here: slot (hash, two pointers, two
 * lengths). */
#define KEY_OVERHEAD 40u

struct kv {
    struct kv_table table;
    struct session_table *sessions;
    kv_partition_fn partition;
    void *partition_arg;
    /* The previous value returned by a want_prev write of client id 0 (which has no session to
     * hold it); freed at the next kv_apply. */
    uint8_t *scratch;
    int bugs; /* enum kv_bug, tests only */
    size_t free_next; /* kv_free_some's cursor over the table's slots */
};

struct kv *kv_new(void)
{
    struct kv *kv = xcalloc(1, sizeof(struct kv));
    kv->sessions = session_new();
    return kv;
}

void kv_clear(struct kv *kv)
{
    kv_table_free(&kv->table);
    session_clear(kv->sessions);
    free(kv->scratch);
    kv->scratch = NULL;
}

void kv_free(struct kv *kv)
{
    if (!kv)
        return;
    kv_clear(kv);
    session_free(kv->sessions);
    free(kv);
}

bool kv_free_some(struct kv *kv, size_t slots)
{
    if (!kv_table_free_some(&kv->table, &kv->free_next, MAX(slots, 1)))
        return false;
    kv_free(kv);
    return true;
}

void kv_set_partition(struct kv *kv, kv_partition_fn fn, void *arg)
{
    kv->partition = fn;
    kv->partition_arg = arg;
}

uint32_t kv_partition_of(const struct kv *kv, const uint8_t *key, size_t klen)
{
    return kv->partition ? kv->partition(key, klen, kv->partition_arg) : 0;
}

void kv_get(const struct kv *kv, const uint8_t *key, size_t klen, struct kv_result *res)
{
    size_t vlen = 0;
    const uint8_t *v = kv_table_get(&kv->table, key, klen, &vlen);
    *res = (struct kv_result){ v ? KV_OK : KV_NO_KEY, v && vlen ? v : NULL, v ? vlen : 0 };
}

/* A duplicate's answer from the reply its session stored. Put/Append store the bare previous
 * value (the format snapshots have always had); Delete and CAS store their kv_err in one byte,
 * then (KV_CAS_FAILED) the current value. A retry carries the same command as the first
 * execution, so its op says which form the stored bytes have. */
static void from_session(const struct kv_cmd *c, const uint8_t *stored, size_t len,
                         struct kv_result *res)
{
    if (c->op == KV_OP_PUT || c->op == KV_OP_APPEND || len == 0)
        *res = (struct kv_result){ KV_OK, len ? stored : NULL, len };
    else
        *res = (struct kv_result){ (enum kv_err)stored[0], len > 1 ? stored + 1 : NULL, len - 1 };
}

/* Put / Append: the reply (the previous value, when asked for) is copied before the write
 * changes it: into the session when there is one, which is then also what res points to. */
static void apply_update(struct kv *kv, const struct kv_cmd *c, uint32_t part,
                         struct kv_result *res)
{
    size_t old_len = 0;
    const uint8_t *old = kv_table_get(&kv->table, c->key, c->klen, &old_len);
    size_t prev_len = c->want_prev ? old_len : 0;
    const uint8_t *prev = session_record(kv->sessions, part, c->client_id, c->seq, old, prev_len);
    if (!prev && prev_len) {
        kv->scratch = xmalloc(prev_len);
        memcpy(kv->scratch, old, prev_len);
        prev = kv->scratch;
    }
    if (c->op == KV_OP_PUT)
        kv_table_put(&kv->table, c->key, c->klen, c->value, c->vlen);
    else
        kv_table_append(&kv->table, c->key, c->klen, c->value, c->vlen);
    *res = (struct kv_result){ KV_OK, prev_len ? prev : NULL, prev_len };
}

/* Delete / CAS: the outcome is decided, recorded in the session (see from_session), then done. */
static void apply_conditional(struct kv *kv, const struct kv_cmd *c, uint32_t part,
                              struct kv_result *res)
{
    size_t old_len = 0;
    const uint8_t *old = kv_table_get(&kv->table, c->key, c->klen, &old_len);
    enum kv_err err;
    size_t cur_len = 0; /* KV_CAS_FAILED: the current value goes into the reply */
    if (c->op == KV_OP_DELETE) {
        err = old ? KV_OK : KV_NO_KEY;
    } else {
        bool match = c->expect_absent ? !old
                                      : old && old_len == c->elen &&
                                            (old_len == 0 || memcmp(old, c->expected, old_len) == 0);
        if (kv->bugs & KV_BUG_CAS_ALWAYS_SWAPS)
            match = true; /* the planted bug */
        err = match ? KV_OK : old ? KV_CAS_FAILED : KV_NO_KEY;
        cur_len = err == KV_CAS_FAILED ? old_len : 0;
    }
    kv->scratch = xmalloc(1 + cur_len);
    kv->scratch[0] = (uint8_t)err;
    if (cur_len)
        memcpy(kv->scratch + 1, old, cur_len);
    const uint8_t *reply =
        session_record(kv->sessions, part, c->client_id, c->seq, kv->scratch, 1 + cur_len);
    if (reply) {
        free(kv->scratch);
        kv->scratch = NULL;
    } else {
        reply = kv->scratch; /* client id 0: no session keeps it */
    }
    if (c->op == KV_OP_DELETE && old)
        kv_table_del(&kv->table, c->key, c->klen);
    else if (c->op == KV_OP_CAS && err == KV_OK)
        kv_table_put(&kv->table, c->key, c->klen, c->value, c->vlen);
    *res = (struct kv_result){ err, cur_len ? reply + 1 : NULL, cur_len };
}

void kv_apply(struct kv *kv, const struct kv_cmd *c, struct kv_result *res)
{
    free(kv->scratch);
    kv->scratch = NULL;
    if (c->op == KV_OP_GET) {
        kv_get(kv, c->key, c->klen, res);
        return;
    }
    uint32_t part = kv_partition_of(kv, c->key, c->klen);
    const uint8_t *stored;
    size_t stored_len;
    enum session_verdict v =
        session_check(kv->sessions, part, c->client_id, c->seq, &stored, &stored_len);
    if (v == SESSION_DUPLICATE && (kv->bugs & KV_BUG_REAPPLY_RETRY))
        v = SESSION_NEW; /* the planted bug: the retry is executed again */
    switch (v) {
    case SESSION_DUPLICATE: /* a retry of the last write: answer it again, do not redo it */
        from_session(c, stored, stored_len, res);
        return;
    case SESSION_STALE:
        *res = (struct kv_result){ KV_STALE, NULL, 0 };
        return;
    case SESSION_NEW:
        break;
    }
    if (c->op == KV_OP_PUT || c->op == KV_OP_APPEND)
        apply_update(kv, c, part, res);
    else
        apply_conditional(kv, c, part, res);
}

void kv_load_pair(struct kv *kv, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    kv_table_put(&kv->table, key, klen, val, vlen);
}

static int by_key(const void *a, const void *b)
{
    const struct kv_slot *x = *(const struct kv_slot *const *)a;
    const struct kv_slot *y = *(const struct kv_slot *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

void kv_each_pair(const struct kv *kv,
                  void (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                             void *arg),
                  void *arg)
{
    /* Slot order depends on the order of insertion (probe runs), so sort. */
    const struct kv_slot **sorted = xmalloc((kv->table.len + 1) * sizeof *sorted);
    size_t n = 0;
    for (size_t i = 0; i < kv->table.cap; i++)
        if (kv->table.slots[i].hash)
            sorted[n++] = &kv->table.slots[i];
    qsort(sorted, n, sizeof *sorted, by_key);
    for (size_t i = 0; i < n; i++)
        fn(sorted[i]->key, sorted[i]->klen, sorted[i]->val, sorted[i]->vlen, arg);
    free(sorted);
}

bool kv_scan(const struct kv *kv, size_t *next, size_t slots,
             void (*fn)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                        void *arg),
             void *arg)
{
    size_t end = MIN(kv->table.cap, *next + slots);
    for (size_t i = *next; i < end; i++) {
        const struct kv_slot *s = &kv->table.slots[i];
        if (s->hash)
            fn(s->key, s->klen, s->val, s->vlen, arg);
    }
    *next = end;
    return end == kv->table.cap;
}

const struct session_table *kv_sessions(const struct kv *kv) { return kv->sessions; }
struct session_table *kv_sessions_mut(struct kv *kv) { return kv->sessions; }

void kv_set_planted_bug(struct kv *kv, int bugs) { kv->bugs = bugs; }

void kv_stats(const struct kv *kv, struct kv_stats *st)
{
    st->keys = kv->table.len;
    st->clients = session_count(kv->sessions);
    st->bytes = kv->table.bytes + kv->table.len * KEY_OVERHEAD + session_bytes(kv->sessions);
}
