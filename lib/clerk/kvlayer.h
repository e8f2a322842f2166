/* The kv layer of the clerk engine, for every clerk of a service that speaks kv.Command and
 * kv.Reply under its own method: kvd's "kv.Op" (clerk.c) and shardkvd's "shardkv.Op" (the
 * shard clerk, shard.c). The layer classifies a kv.Reply (WRONG_LEADER with its hint, TIMEOUT
 * and SHUTTING_DOWN retried elsewhere, NO_SPACE, WRONG_GROUP, NO_KEY, CAS_FAILED, OK); the
 * encoder builds
 * a kv.Command with the caller's client id and sequence number (the caller numbers its writes:
 * the shard clerk keeps one numbering across all its groups). */
#ifndef CLERK_KVLAYER_H
#define CLERK_KVLAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h"

enum clerk_kv_op { CLERK_KV_GET, CLERK_KV_PUT, CLERK_KV_APPEND, CLERK_KV_DELETE, CLERK_KV_CAS };

/* One operation as a clerk queues it. */
struct clerk_kv_req {
    enum clerk_kv_op op;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val; /* Put/Append; CAS: the new value */
    size_t vlen;
    const uint8_t *expected; /* CAS: the value the key must hold */
    size_t elen;
    bool expect_absent; /* CAS: swap only if the key is absent */
    bool want_prev;     /* Put/Append: return the previous value */
};

/* The layer calling method; service names the servers in errors ("X is not a kvd server"). */
struct clerk_layer clerk_kv_layer(const char *method, const char *service);

/* r as a kv.Command, encoded (malloc'd, never NULL; *len may be 0). Gets carry no id and no
 * number (they leave no state on the servers): client_id and seq are ignored for them. */
uint8_t *clerk_kv_command(const struct clerk_kv_req *r, uint64_t client_id, uint64_t seq,
                          size_t *len);

/* A copy of src's bytes into *dst (clerks keep a queued operation's own copy), and its release. */
void clerk_kv_req_copy(struct clerk_kv_req *dst, const struct clerk_kv_req *src);
void clerk_kv_req_release(struct clerk_kv_req *r);

#endif
