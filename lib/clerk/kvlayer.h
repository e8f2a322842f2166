/* The kv layer of the clerk engine, for every clerk of a service that speaks kv.Command and
 * kv.Reply under its own method: kvd's "kv.Op" (clerk.c) and shardkvd's "shardkv.Op" (the
 * shard clerk, shard.c). The layer classifies a kv.Reply (WRONG_LEADER with its hint, TIMEOUT
 * and SHUTTING_DOWN retried elsewhere, NO_SPACE, WRONG_GROUP, NO_KEY, OK); the encoder builds
 * a kv.Command with the caller's client id and sequence number (the caller numbers its writes:
 * the shard clerk keeps one numbering across all its groups). */
#ifndef CLERK_KVLAYER_H
#define CLERK_KVLAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h"

enum clerk_kv_op { CLERK_KV_GET, CLERK_KV_PUT, CLERK_KV_APPEND };

/* The layer calling method; service names the servers in errors ("X is not a kvd server"). */
struct clerk_layer clerk_kv_layer(const char *method, const char *service);

/* A kv.Command, encoded (malloc'd, never NULL; *len may be 0). Gets carry no id and no number
 * (they leave no state on the servers): client_id and seq are ignored for them. */
uint8_t *clerk_kv_command(enum clerk_kv_op op, const uint8_t *key, size_t klen,
                          const uint8_t *val, size_t vlen, bool want_prev, uint64_t client_id,
                          uint64_t seq, size_t *len);

#endif
