/* lib/shardctrl's wire side (proto/shardctrl.proto): shardctrl.Command bytes -> struct sc_cmd,
 * results -> shardctrl.Reply bytes, the whole state <-> shardctrl.Snapshot bytes, the
 * bytes-in / bytes-out calls of a node's state machine adapter (shardctrld, the simulator), and
 * decoded replies and configs for clerks. */
#ifndef SHARDCTRL_CODEC_H
#define SHARDCTRL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "shardctrl.pb-c.h"
#include "shardctrl/shardctrl.h"

/* A decoded command: cmd points into pb (the unpacked message) and the arrays kept here, which
 * sc_codec_cmd_release frees. */
struct sc_codec_cmd {
    struct sc_cmd cmd;
    void *pb;
    struct sc_join_group *groups;
};

/* Decodes an encoded shardctrl.Command. Returns 0, or -1 (nothing to release) when the bytes
 * are not a shardctrl.Command or name no known op. */
int sc_codec_decode_cmd(const uint8_t *buf, size_t len, struct sc_codec_cmd *out);
void sc_codec_cmd_release(struct sc_codec_cmd *c);

/* Encodes cmd as a shardctrl.Command into *out (malloc'd, the caller frees). */
void sc_codec_encode_cmd(const struct sc_cmd *cmd, uint8_t **out, size_t *out_len);

/* Encodes res as a shardctrl.Reply (no leader hint; res->config included when set). */
void sc_codec_encode_result(const struct sc_result *res, uint8_t **out, size_t *out_len);

/* Applies one encoded shardctrl.Command; the encoded shardctrl.Reply into *reply (malloc'd).
 * A command that does not decode gets a BAD_REQUEST reply and changes nothing (it is in the
 * log, so every replica treats it the same way). */
void sc_codec_apply(struct shardctrl *sc, const uint8_t *cmd, size_t len, uint8_t **reply,
                    size_t *reply_len);

/* Query(num)'s answer as an encoded shardctrl.Reply (a read confirmed by ReadIndex). */
void sc_codec_query(const struct shardctrl *sc, int64_t num, uint8_t **reply, size_t *reply_len);

/* The whole state (every config, the sessions) as an encoded shardctrl.Snapshot: the same state
 * gives the same bytes on every replica. */
void sc_codec_snapshot(const struct shardctrl *sc, uint8_t **data, size_t *len);
/* Replaces the state with an encoded shardctrl.Snapshot. Returns 0, or -1 (state unchanged)
 * when it does not decode or does not hold a valid history. */
int sc_codec_restore(struct shardctrl *sc, const uint8_t *data, size_t len);

/* ---- configs inside other messages (shardkv's log entries and snapshots) ---- */

/* A view of c as a shardctrl.Config: v->pb points into c and into v's own arrays (freed by
 * sc_config_pb_release), valid while c is. */
struct sc_config_pb {
    Shardctrl__Config pb;
    Shardctrl__Group *groups, **gp;
};
void sc_config_pb_init(const struct sc_config *c, struct sc_config_pb *v);
void sc_config_pb_release(struct sc_config_pb *v);
/* A standalone config (sc_config_free) from pb, or NULL with a message when its shape is not
 * valid (shardctrl.h's rules: gids ascending, every shard on a listed gid, ...). */
struct sc_config *sc_config_from_pb(const Shardctrl__Config *pb, char *err, size_t errlen);

/* ---- for clerks ---- */

/* A decoded shardctrl.Reply. */
struct sc_reply {
    int err;                   /* shardctrl.Err */
    char error[200];
    uint64_t num;
    struct sc_config *config;  /* QUERY: owned (sc_config_free), else NULL */
    uint32_t leader_id;
    char leader_addr[128];
};
/* Returns 0; -1 when the bytes are not a shardctrl.Reply; -2 when its config is not valid (a
 * gid list not ascending, a shard on a gid it does not list, ...: error says what, config is
 * NULL). */
int sc_codec_decode_reply(const uint8_t *buf, size_t len, struct sc_reply *out);

#endif
