/* kvcli shard status and shard key (shard_status.c), and the printing helpers kvcli's shard
 * commands share. */
#ifndef KVCLI_SHARD_STATUS_H
#define KVCLI_SHARD_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shardctrl/shardctrl.h"

/* Every member of every group of c (the latest config): shardkv.Status, one row per node (gid,
 * address, role, the group's config number, each shard's state), or with json one line
 * {"num":N,"nodes":[{"gid":G,"addr":A,"role":R,"config":N,"shards":[{"shard":S,"state":...,
 * "from":G,"left_at":N,"keys":K},...]} or {"gid":G,"addr":A,"error":"..."},...]}. Returns 0 when
 * every shard of c is served (SERVING or GC) by a leader of its group at config c->num, else 1
 * with how many are not on stderr. */
int shard_status(const struct sc_config *c, uint64_t timeout_ms, bool json);

/* "shard S gid G (config N, M shards, hashed: PART)": the shard of key in c, its group, and the
 * part of the key that is hashed (the hash tag, or the whole key); with json one line
 * {"key":K,"shard":S,"gid":G,"config":N,"shards":M,"hashed":PART}. */
void shard_key(const struct sc_config *c, const char *key, bool json);

/* Ascending numbers v as ranges: "0-4,7"; "-" for none. */
void print_ranges(FILE *f, const uint32_t *v, size_t n);
#endif
