#include "raft/log.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void raft_entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    dst->data = xmalloc(src->len ? src->len : 1);
    if (src->len)
        memcpy(dst->data, src->data, src->len);
}

void raft_entries_free(struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].data);
        e[i].data = NULL;
    }
}

void raft_log_init(struct raft_log *l, const struct raft_storage *st,
                   const struct raft_snapshot_meta *snap, uint64_t last_index, uint64_t last_term)
{
    memset(l, 0, sizeof *l);
    l->st = *st;
    l->snap_index = snap->index;
    l->snap_term = snap->term;
    l->stable_last = last_index;
    l->stable_last_term = last_term;
}

void raft_log_free(struct raft_log *l)
{
    raft_entries_free(l->unstable, l->n_unstable);
    free(l->unstable);
    l->unstable = NULL;
    l->n_unstable = l->cap_unstable = 0;
}

uint64_t raft_log_last(const struct raft_log *l) { return l->stable_last + l->n_unstable; }

uint64_t raft_log_last_term(const struct raft_log *l)
{
    return l->n_unstable ? l->unstable[l->n_unstable - 1].term : l->stable_last_term;
}

int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term)
{
    if (index == l->snap_index) {
        *term = l->snap_term;
        return LOG_OK;
    }
    if (index < l->snap_index)
        return LOG_COMPACTED;
    if (index > raft_log_last(l))
        return LOG_UNAVAILABLE;
    if (index > l->stable_last) {
        *term = l->unstable[index - l->stable_last - 1].term;
        return LOG_OK;
    }
    if (index == l->stable_last) {
        *term = l->stable_last_term;
        return LOG_OK;
    }
    return l->st.term(l->st.ctx, index, term) == 0 ? LOG_OK : LOG_ERR;
}

int raft_log_entries(const struct raft_log *l, uint64_t lo, uint64_t hi, size_t max_bytes,
                     struct raft_entry **out, size_t *n)
{
    size_t cap = (size_t)(hi - lo + 1);
    struct raft_entry *e = xcalloc(cap, sizeof *e);
    size_t count = 0, bytes = 0;
    if (lo <= l->stable_last) {
        uint64_t shi = MIN(hi, l->stable_last);
        size_t got = 0;
        if (l->st.entries(l->st.ctx, lo, shi, max_bytes, e, &got) != 0) {
            free(e);
            return LOG_ERR;
        }
        count = got;
        for (size_t i = 0; i < got; i++)
            bytes += e[i].len;
        if (got < (size_t)(shi - lo + 1)) { /* the byte limit stopped it */
            *out = e;
            *n = count;
            return LOG_OK;
        }
    }
    for (uint64_t i = MAX(lo, l->stable_last + 1); i <= hi; i++) {
        const struct raft_entry *src = &l->unstable[i - l->stable_last - 1];
        if (count > 0 && bytes + src->len > max_bytes)
            break;
        raft_entry_copy(&e[count++], src);
        bytes += src->len;
    }
    *out = e;
    *n = count;
    return LOG_OK;
}

void raft_log_append(struct raft_log *l, const struct raft_entry *e, size_t n)
{
    if (n == 0)
        return;
    uint64_t first = e[0].index;
    if (first <= l->stable_last) {
        /* Overwrites durable entries: they stop counting as durable, and the driver deletes
         * them from storage when it persists the new ones (which start at first). */
        uint64_t t = 0;
        raft_log_term(l, first - 1, &t);
        raft_entries_free(l->unstable, l->n_unstable);
        l->n_unstable = 0;
        l->stable_last = first - 1;
        l->stable_last_term = t;
    } else {
        size_t keep = (size_t)(first - l->stable_last - 1);
        raft_entries_free(l->unstable + keep, l->n_unstable - keep);
        l->n_unstable = keep;
    }
    if (l->n_unstable + n > l->cap_unstable) {
        l->cap_unstable = MAX(l->cap_unstable * 2, l->n_unstable + n);
        l->unstable = xrealloc(l->unstable, l->cap_unstable * sizeof *l->unstable);
    }
    for (size_t i = 0; i < n; i++)
        raft_entry_copy(&l->unstable[l->n_unstable++], &e[i]);
}

void raft_log_stabilize(struct raft_log *l)
{
    if (l->n_unstable == 0)
        return;
    l->stable_last_term = l->unstable[l->n_unstable - 1].term;
    l->stable_last += l->n_unstable;
    raft_entries_free(l->unstable, l->n_unstable);
    l->n_unstable = 0;
}

void raft_log_compact(struct raft_log *l, uint64_t index, uint64_t term)
{
    l->snap_index = index;
    l->snap_term = term;
}

void raft_log_restore(struct raft_log *l, const struct raft_snapshot_meta *snap)
{
    raft_entries_free(l->unstable, l->n_unstable);
    l->n_unstable = 0;
    l->snap_index = l->stable_last = snap->index;
    l->snap_term = l->stable_last_term = snap->term;
}
