/* lib/kv's wire side: kv.Command bytes -> struct kv_cmd, struct kv_result -> kv.Reply bytes,
 * the whole state <-> kv.Snapshot bytes (proto/kv.proto), and the bytes-in / bytes-out calls a
 * node's state machine adapter makes (kvd; the deterministic simulator). */
#ifndef KV_CODEC_H
#define KV_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv.pb-c.h"
#include "kv/kv.h"

/* Does op name an operation this version knows (the check before a command enters a log)? */
static inline bool kv_codec_op_known(Kv__OpType op) { return (unsigned)op <= KV__OP_TYPE__CAS; }

/* A decoded command: cmd's key and value point into pb (the unpacked message), which
 * kv_codec_cmd_release frees. */
struct kv_codec_cmd {
    struct kv_cmd cmd;
    void *pb;
};

/* Decodes an encoded kv.Command into *out. Returns 0, or -1 (nothing to release) when the
 * bytes are not a kv.Command or name no known op. */
int kv_codec_decode_cmd(const uint8_t *buf, size_t len, struct kv_codec_cmd *out);
void kv_codec_cmd_release(struct kv_codec_cmd *c);

/* Encodes cmd as a kv.Command into *out (malloc'd, the caller frees). */
void kv_codec_encode_cmd(const struct kv_cmd *cmd, uint8_t **out, size_t *out_len);

/* Encodes res as a kv.Reply (no leader hint) into *out (malloc'd, the caller frees). */
void kv_codec_encode_result(const struct kv_result *res, uint8_t **out, size_t *out_len);

/* Applies one encoded kv.Command; the encoded kv.Reply into *reply (malloc'd, the caller
 * frees). A command that does not decode gets a STALE reply and changes nothing (it is in the
 * log, so every replica must treat it the same way). */
void kv_codec_apply(struct kv *kv, const uint8_t *cmd, size_t len, uint8_t **reply,
                    size_t *reply_len);

/* kv_get's answer for key as an encoded kv.Reply into *reply (malloc'd, the caller frees). */
void kv_codec_get(const struct kv *kv, const uint8_t *key, size_t klen, uint8_t **reply,
                  size_t *reply_len);

/* The whole state (map and sessions) as an encoded kv.Snapshot into *data (malloc'd, the caller
 * frees): pairs by key, sessions by partition then client id, so the same state gives the same
 * bytes on every replica. */
void kv_codec_snapshot(const struct kv *kv, uint8_t **data, size_t *len);
/* The same in steps, for a caller that takes the bytes as a stream (a store's own space, a
 * forked writer): begin returns a view of the state (no copy of its data: kv must not change
 * until end, or must be a forked image of it) and the encoded size; write appends exactly that
 * many bytes, in pieces, through append (any number of times). */
typedef void (*kv_append_fn)(void *arg, const uint8_t *data, size_t len);
struct kv_snapshot_view;
struct kv_snapshot_view *kv_codec_snapshot_begin(const struct kv *kv, size_t *len);
void kv_codec_snapshot_write(const struct kv_snapshot_view *v, kv_append_fn append, void *arg);
void kv_codec_snapshot_end(struct kv_snapshot_view *v);
/* Any message packed as a stream through append (protobuf-c's pack_to_buffer). */
void kv_codec_pack_to(const ProtobufCMessage *m, kv_append_fn append, void *arg);

/* Replaces the state with an encoded kv.Snapshot. Snapshots written before sessions had a
 * partition restore with every session in partition 0. Returns 0, or -1 (state unchanged) if
 * it does not decode. */
int kv_codec_restore(struct kv *kv, const uint8_t *data, size_t len);

/* ---- a kv's pairs and sessions inside other messages (shardkv's chunks and snapshots) ---- */

/* kv's pairs (by key) and sessions (by partition, client id) as kv.Pair / kv.Session messages
 * pointing into kv: valid until kv changes; kv_codec_view_release frees the arrays. */
struct kv_codec_view {
    Kv__Pair *pairs, **pair_ptrs;
    size_t n_pairs;
    Kv__Session *sessions, **session_ptrs;
    size_t n_sessions;
};
void kv_codec_view_init(const struct kv *kv, struct kv_codec_view *v);
void kv_codec_view_release(struct kv_codec_view *v);
/* Adds pairs (kv_load_pair) and sessions (recorded as given) to kv. Returns 0, or -1 (nothing
 * added) when a session names a partition out of range. */
int kv_codec_load(struct kv *kv, Kv__Pair *const *pairs, size_t n_pairs,
                  Kv__Session *const *sessions, size_t n_sessions);

#endif
