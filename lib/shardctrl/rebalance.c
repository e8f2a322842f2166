#include "shardctrl/rebalance.h"

#include <stdlib.h>

#include "base/util.h"

/* A group while rebalancing: its gid, how many shards it owns, how many it should. */
struct slot {
    uint32_t gid;
    uint32_t count, target;
};

/* Most shards first, then the lower gid (gids are distinct: a total order, so qsort's
 * instability cannot make replicas differ). */
static int by_count_desc(const void *a, const void *b)
{
    const struct slot *x = *(struct slot *const *)a, *y = *(struct slot *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->gid < y->gid ? -1 : x->gid > y->gid;
}

/* The slot of gid (slots are by gid ascending), or NULL when it is not a group. */
static struct slot *find(struct slot *slots, size_t k, uint32_t gid)
{
    size_t lo = 0, hi = k;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slots[mid].gid == gid)
            return &slots[mid];
        if (slots[mid].gid < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void sc_rebalance(uint32_t *shards, uint32_t n, const uint32_t *gids, size_t k)
{
    if (k == 0) {
        for (uint32_t i = 0; i < n; i++)
            shards[i] = 0;
        return;
    }
    struct slot *slots = xcalloc(k, sizeof *slots);
    struct slot **order = xmalloc(k * sizeof *order);
    for (size_t g = 0; g < k; g++) {
        slots[g].gid = gids[g];
        order[g] = &slots[g];
    }
    for (uint32_t i = 0; i < n; i++) {
        struct slot *s = find(slots, k, shards[i]);
        if (s)
            s->count++;
    }
    qsort(order, k, sizeof *order, by_count_desc);
    for (size_t r = 0; r < k; r++)
        order[r]->target = (uint32_t)(n / k) + (r < n % k);

    /* Free the shards of absent gids, and each over-target group's highest-numbered ones
     * (0 marks a free shard: it is never a group's gid). */
    for (uint32_t i = n; i-- > 0;) {
        struct slot *s = find(slots, k, shards[i]);
        if (!s)
            shards[i] = 0;
        else if (s->count > s->target) {
            s->count--;
            shards[i] = 0;
        }
    }
    /* The free shards, ascending, fill the groups below target, by gid ascending: the targets
     * sum to n, so there are exactly as many free shards as missing ones. */
    size_t g = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (shards[i])
            continue;
        while (slots[g].count >= slots[g].target)
            g++;
        shards[i] = slots[g].gid;
        slots[g].count++;
    }
    free(order);
    free(slots);
}
