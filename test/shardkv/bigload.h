/* The clients of the large-shard test (test/shardkv/bigmove.c), each on threads of its own with
 * blocking shard clerks (lib/clerk/shard.h's shard_sync): the bulk loader and checker of the big
 * shard, and the light load on other shards whose latencies are recorded. */
#ifndef TEST_SHARDKV_BIGLOAD_H
#define TEST_SHARDKV_BIGLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Key i of the big shard: "{tag}:<i, 7 digits>"; its value: vlen bytes that depend on i only. */
void bl_key(const char *tag, uint64_t i, char *buf, size_t len);
void bl_value(uint64_t i, uint8_t *buf, size_t vlen);

/* Puts (check false) or Gets and compares (check true) keys 0..n-1 with `threads` clerks at
 * once. Returns the number of failures (a clerk error or, checking, a wrong value), printing
 * the first few. */
uint64_t bl_bulk(const char *const *ctrlers, size_t n_ctrlers, const char *tag, uint64_t n,
                 size_t vlen, int threads, bool check);

/* The light load: one clerk on a thread of its own, a Put of 128 bytes to one of 16 keys
 * "{tag}:l<k>" then a Get of it (checked: the value just put), then a pause of pause_ms, until
 * stopped. Every operation's start (ms since the load began... on the monotonic clock) and
 * latency are recorded. */
struct bl_light;
struct bl_light *bl_light_start(const char *const *ctrlers, size_t n_ctrlers, const char *tag,
                                uint64_t pause_ms);
/* Stops it and waits. Returns the failures (clerk errors or wrong values). */
uint64_t bl_light_stop(struct bl_light *l);

/* Latencies of the operations that started in [from_ms, to_ms) (clock_mono_ms): their count,
 * p50 / p99 / max in microseconds, and the longest time between two completions (or from
 * from_ms to the first, or the last to to_ms) in ms: a stall of the group shows there. */
struct bl_window {
    uint64_t n, p50_us, p99_us, max_us, gap_ms;
};
void bl_light_window(struct bl_light *l, uint64_t from_ms, uint64_t to_ms, struct bl_window *w);

#endif
