/* shardkvd's own metrics (beside every Raft daemon's): each shard's hand-over state, keys and
 * bytes, the group's config number, read from the state machine at scrape time. */
#ifndef SHARDKVD_METRICS_H
#define SHARDKVD_METRICS_H

struct metrics;
struct shardkv;
struct shardkvd_metrics;

/* Registers the raftkv_shardkv_* families in reg. *skv is read at every rendering of reg: the
 * pointer is followed then (a restore replaces the state machine). */
struct shardkvd_metrics *shardkvd_metrics_new(struct metrics *reg, struct shardkv *const *skv);
void shardkvd_metrics_free(struct shardkvd_metrics *sm);

#endif
