/* The key/value state machine: Get, Put, Append with at-most-once execution of writes from
 * (client id, sequence number). Pure: apply / snapshot / restore, no I/O, no Raft.
 *
 * Per client only the last sequence number and its reply are kept, so memory grows with the
 * number of clients, not of requests; Gets leave no per-client state. */
#ifndef KV_KV_H
#define KV_KV_H

#include <stddef.h>
#include <stdint.h>

struct kv;

struct kv *kv_new(void);
void kv_free(struct kv *kv);

/* Applies one encoded kv.Command; writes the encoded kv.Reply into *reply (malloc'd, the
 * caller frees). A command that does not decode gets an error reply (it is in the log, so every
 * replica must treat it the same way). */
void kv_apply(struct kv *kv, const uint8_t *cmd, size_t len, uint8_t **reply, size_t *reply_len);

/* Serves a Get outside the log (a read the leader has confirmed as linearizable): the encoded
 * kv.Reply for key, as kv_apply would give for a Get command, into *reply (malloc'd). */
void kv_get(const struct kv *kv, const uint8_t *key, size_t klen, uint8_t **reply,
            size_t *reply_len);

/* The whole state (map and de-duplication table) as an encoded kv.Snapshot (malloc'd). */
void kv_snapshot(const struct kv *kv, uint8_t **data, size_t *len);

/* Replaces the state with a snapshot. Returns 0, or -1 (state unchanged) if it does not decode. */
int kv_restore(struct kv *kv, const uint8_t *data, size_t len);

/* Planted bugs, for tests only (a test shows its checker notices each): off in every kv_new.
 * KV_BUG_REAPPLY_RETRY: a retried write (the client's last sequence number again) is executed
 * again instead of answered from the session table. */
enum kv_bug { KV_BUG_NONE = 0, KV_BUG_REAPPLY_RETRY = 1 };
void kv_set_planted_bug(struct kv *kv, int bugs);

struct kv_stats {
    uint64_t keys, clients;
    uint64_t bytes; /* keys + values + per-entry overhead + the client table */
};
void kv_stats(const struct kv *kv, struct kv_stats *st);

#endif
