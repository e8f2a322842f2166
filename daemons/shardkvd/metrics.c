#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"
#include "metrics/metrics.h"
#include "shardctrl/shardctrl.h"
#include "shardkv/shardkv.h"

#define N_STATES (SKV_GC + 1)

/* skv_state_name's, as label values (no spaces). */
static const char *const state_label[N_STATES] = { "not_owned", "serving", "pulling", "leaving",
                                                   "gc" };

/* One shard's series, made when the shard count is first known. */
struct shard_series {
    struct metric *state[N_STATES], *keys, *bytes;
};

struct shardkvd_metrics {
    struct shardkv *const *skv;
    struct metric_family *state, *keys, *bytes;
    struct metric *config, *gid;
    struct shard_series *shards;
    uint32_t n_shards;
};

static void make_series(struct shardkvd_metrics *sm, uint32_t n)
{
    sm->shards = xrealloc(sm->shards, n * sizeof *sm->shards);
    for (uint32_t i = sm->n_shards; i < n; i++) {
        char shard[16];
        snprintf(shard, sizeof shard, "%u", i);
        for (int st = 0; st < N_STATES; st++) {
            const char *v[] = { shard, state_label[st] };
            sm->shards[i].state[st] = metric_child(sm->state, v);
        }
        const char *v[] = { shard };
        sm->shards[i].keys = metric_child(sm->keys, v);
        sm->shards[i].bytes = metric_child(sm->bytes, v);
    }
    sm->n_shards = n;
}

static void collect(void *arg)
{
    struct shardkvd_metrics *sm = arg;
    const struct shardkv *skv = *sm->skv;
    uint32_t n = shardkv_n_shards(skv);
    if (n > sm->n_shards)
        make_series(sm, n);
    for (uint32_t i = 0; i < n; i++) {
        struct skv_shard_info si;
        shardkv_shard_info(skv, i, &si);
        for (int st = 0; st < N_STATES; st++)
            metric_set(sm->shards[i].state[st], si.state == (enum skv_state)st);
        metric_set(sm->shards[i].keys, (double)si.keys);
        metric_set(sm->shards[i].bytes, (double)si.bytes);
    }
    metric_set(sm->config, (double)shardkv_config(skv)->num);
    metric_set(sm->gid, shardkv_gid(skv));
}

struct shardkvd_metrics *shardkvd_metrics_new(struct metrics *reg, struct shardkv *const *skv)
{
    struct shardkvd_metrics *sm = xcalloc(1, sizeof *sm);
    sm->skv = skv;
    sm->state = metrics_family(reg, METRIC_GAUGE, "raftkv_shardkv_shard_state",
                               "1 for each shard's state in this group (not_owned, serving, "
                               "pulling, leaving, gc), 0 for the other states.",
                               "shard,state", NULL, 0);
    sm->keys = metrics_family(reg, METRIC_GAUGE, "raftkv_shardkv_shard_keys",
                              "Keys of each shard kept by this group.", "shard", NULL, 0);
    sm->bytes = metrics_family(reg, METRIC_GAUGE, "raftkv_shardkv_shard_bytes",
                               "Bytes of keys and values of each shard kept by this group.",
                               "shard", NULL, 0);
    sm->config = metrics_gauge(reg, "raftkv_shardkv_config_number",
                               "The number of the controller's configuration this group is in.");
    sm->gid = metrics_gauge(reg, "raftkv_shardkv_group_id", "This group's id (--gid).");
    metrics_on_collect(reg, collect, sm);
    return sm;
}

void shardkvd_metrics_free(struct shardkvd_metrics *sm)
{
    if (!sm)
        return;
    free(sm->shards);
    free(sm);
}
