/* lib/shardkv's wire side (proto/shardkv.proto): shardkv.Command bytes <-> struct skv_cmd, the
 * bytes-in / bytes-out apply of a node's state machine adapter (shardkvd, the simulator), Gets
 * and Pulls answered from the state, the group's snapshot. */
#ifndef SHARDKV_CODEC_H
#define SHARDKV_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "kv/codec.h" /* kv_append_fn */
#include "shardkv/shardkv.h"

/* A decoded command: cmd points into pb and the arrays kept here (skv_codec_cmd_release). */
struct kv_codec_cmd;
struct skv_codec_cmd {
    struct skv_cmd cmd;
    void *pb;
    struct kv_codec_cmd *op;
    struct sc_config *config;
    struct skv_pair *pairs;
    struct session_entry *sessions;
};
/* Returns 0, or -1 (nothing to release) when the bytes are not a valid shardkv.Command. */
int skv_codec_decode_cmd(const uint8_t *buf, size_t len, struct skv_codec_cmd *out);
void skv_codec_cmd_release(struct skv_codec_cmd *c);
/* Encodes cmd as a shardkv.Command into *out (malloc'd). */
void skv_codec_encode_cmd(const struct skv_cmd *cmd, uint8_t **out, size_t *out_len);

/* A client's kv.Command bytes as an OP entry (the log entry shardkvd proposes). */
void skv_codec_op_entry(const uint8_t *kv_cmd, size_t len, uint8_t **out, size_t *out_len);

/* Applies one encoded shardkv.Command. The result: for an OP, the encoded kv.Reply (Err
 * WRONG_GROUP when the shard is not served here); for the others an empty result. A command
 * that does not decode changes nothing. */
void skv_codec_apply(struct shardkv *s, const uint8_t *cmd, size_t len, uint8_t **result,
                     size_t *result_len);

/* A Get confirmed by ReadIndex, as an encoded kv.Reply. */
void skv_codec_get(const struct shardkv *s, const uint8_t *key, size_t klen, uint8_t **reply,
                   size_t *reply_len);

/* The holder's answer to an encoded shardkv.PullRequest: an encoded shardkv.PullReply (OK with a
 * chunk of at most max_bytes of pairs, or NOT_READY). Returns -1 when req is not a
 * PullRequest. */
int skv_codec_pull(struct shardkv *s, const uint8_t *req, size_t len, size_t max_bytes,
                   uint8_t **reply, size_t *reply_len);

/* A PULL action's request bytes. */
void skv_codec_pull_request(const struct skv_action *a, uint32_t my_gid, size_t max_bytes,
                            uint8_t **out, size_t *out_len);
/* Where a hand-over's cursor stands once a chunk is installed (what the next pull asks for):
 * shardkv_apply's rule, computed ahead by a driver that pulls the next chunk before this one is
 * applied. after is malloc'd (NULL when after_len is 0). */
struct skv_cursor {
    bool first;
    uint8_t *after;
    size_t after_len;
    bool in_sessions;
    uint64_t after_client;
    bool done; /* the chunk was the last */
};
/* The INSTALL entry for a PULL action from the holder's OK PullReply bytes, and (next, may be
 * NULL) the cursor after it. Returns 0, or -1 when reply is not an OK PullReply. */
int skv_codec_install_entry(const struct skv_action *a, const uint8_t *reply, size_t len,
                            uint8_t **out, size_t *out_len, struct skv_cursor *next);

/* The whole state as an encoded shardkv.Snapshot; restore replaces it. The same state gives the
 * same bytes on every replica. restore returns 0, or -1 (state unchanged) when the bytes are not
 * a valid snapshot of a group with this gid. */
void skv_codec_snapshot(const struct shardkv *s, uint8_t **data, size_t *len);
/* The same in steps, for a caller that takes the bytes as a stream (a store's own space):
 * begin returns a view of the state (no copy of its data; the state must not change until end,
 * or must be a forked image of it) and the encoded size; write appends exactly that many bytes,
 * in pieces, through append (any number of times). */
struct skv_snapshot_view;
struct skv_snapshot_view *skv_codec_snapshot_begin(const struct shardkv *s, size_t *len);
void skv_codec_snapshot_write(const struct skv_snapshot_view *v, kv_append_fn append, void *arg);
void skv_codec_snapshot_end(struct skv_snapshot_view *v);
int skv_codec_restore(struct shardkv *s, const uint8_t *data, size_t len);

#endif
