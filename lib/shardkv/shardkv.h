/* A shard group's state machine: the key/value data of the shards the group holds, each
 * shard's hand-over state, and the rules that say what comes next. Pure: decoded commands in,
 * results out; no I/O, no Raft, no protobuf (lib/shardkv/codec.h is the wire side; the driver,
 * driver.h, carries the requests the rules ask for).
 *
 * Every group applies every configuration of the controller, in order, from config 1 (CONFIG
 * entries), whether or not it is in it; so every group knows, for each shard, its holder: the
 * last group that owned it in some config (the one that has its data), that group's servers,
 * and the config in which the shard left it ("left_at", 0 while it still owns it). A shard's
 * state in this group:
 *   NOT_OWNED  not ours, no data;
 *   SERVING    ours in the current config, served;
 *   PULLING    ours in the current config; its data is pulled, in chunks (INSTALL entries),
 *              from the holder (hand-over = (holder, left_at)); not served until complete;
 *   GC         ours, complete and served; the holder must still be told to delete its copy
 *              (a DELETE through its log), after which GC_DONE makes it SERVING;
 *   LEAVING    was ours; frozen (not served), kept until the new owner has it and says DELETE.
 *              A shard whose new owner is gid 0 (every group left) is "parked": LEAVING until
 *              some config gives it to a group, which then pulls it from here (or, when that
 *              group is this one, it is SERVING again with its data).
 * The group moves to config N+1 only once it is settled for N: no shard PULLING, GC, or
 * LEAVING (except parked). Every entry is idempotent and tagged: CONFIG applies only as the
 * next number, INSTALL only in its config and at its cursor, DELETE only to the hand-over it
 * names, GC_DONE only in its config; anything else is ignored.
 *
 * A shard's data is a lib/kv of its own, with its sessions: they move with it (at most once
 * across migrations). */
#ifndef SHARDKV_SHARDKV_H
#define SHARDKV_SHARDKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"
#include "session/session.h"
#include "shardctrl/shardctrl.h"

struct shardkv;

enum skv_state {
    SKV_NOT_OWNED = 0,
    SKV_SERVING = 1,
    SKV_PULLING = 2,
    SKV_LEAVING = 3,
    SKV_GC = 4,
};
const char *skv_state_name(enum skv_state s);

/* What one shard is here (for status, the driver and tests). */
struct skv_shard_info {
    enum skv_state state;
    uint32_t holder;                    /* the group with the data (0: nobody yet) */
    const struct sc_group *holder_group; /* its servers (NULL when holder is 0) */
    uint64_t left_at;                   /* the config in which it left the holder (0: it owns it) */
    uint64_t keys, bytes;               /* the data kept here */
    bool started;                       /* PULLING: some chunk installed */
    const uint8_t *after;               /* PULLING: the last key installed */
    size_t after_len;
    bool in_sessions;                   /* PULLING: the keys are in; sessions come now */
    uint64_t after_client;              /* PULLING: the last session installed (client id) */
};

/* ---- commands ---- */

enum skv_cmd_type { SKV_OP = 0, SKV_CONFIG = 1, SKV_INSTALL = 2, SKV_DELETE = 3, SKV_GC_DONE = 4 };

struct skv_pair {
    const uint8_t *key, *val;
    size_t klen, vlen;
};

/* A chunk of a shard, as the holder sends it and the puller installs it: keys in order, then,
 * once they are all sent (pairs_end), the sessions by client id, each part cut to the budget. */
struct skv_chunk {
    const struct skv_pair *pairs;
    size_t n_pairs;
    bool pairs_end;                       /* no key after these: sessions from now on */
    const struct session_entry *sessions; /* only once the keys are done */
    size_t n_sessions;
    bool done;                            /* the last chunk */
};

struct skv_cmd {
    enum skv_cmd_type type;
    struct kv_cmd op;                 /* OP */
    const struct sc_config *config;   /* CONFIG (the caller's; copied) */
    /* INSTALL / DELETE / GC_DONE */
    uint64_t num;                     /* INSTALL, GC_DONE: the config it belongs to */
    uint32_t shard;
    uint64_t left_at;
    bool first;                       /* INSTALL: the first chunk */
    const uint8_t *after;             /* INSTALL: the chunk follows this key */
    size_t after_len;
    bool in_sessions;                 /* INSTALL: ... or, the keys done, this client's session */
    uint64_t after_client;
    struct skv_chunk chunk;           /* INSTALL */
};

enum skv_err {
    SKV_OK = 0,
    SKV_WRONG_GROUP = 9, /* OP: the key's shard is not served here now (kv.Err's value) */
    SKV_IGNORED = 100,   /* CONFIG / INSTALL / DELETE / GC_DONE that did not apply (stale,
                            early, a duplicate): changed nothing */
};

struct skv_result {
    enum skv_err err;
    struct kv_result kv; /* OP, when err is SKV_OK */
};

/* A group gid (never 0) with no config yet (config num 0: every key WRONG_GROUP). */
struct shardkv *shardkv_new(uint32_t gid);
void shardkv_free(struct shardkv *s);
/* The work done in steps rather than at once, so that a large shard never stalls the group:
 * the data of shards that left (DELETE) is freed after the apply that drops it, and a frozen
 * shard's pull index (its pairs in key order) is built over several calls (shardkv_pull builds
 * it too, and answers NOT_READY until it is ready). Each call spends about `budget` steps
 * (slots or pairs) per shard. Returns how many shards still have such work (0: nothing to
 * do). None of it is state: snapshots and reads never see it. */
size_t shardkv_background(struct shardkv *s, size_t budget);

uint32_t shardkv_gid(const struct shardkv *s);
/* The current config (num 0 and no shards before the first CONFIG). */
const struct sc_config *shardkv_config(const struct shardkv *s);
uint32_t shardkv_n_shards(const struct shardkv *s);
void shardkv_shard_info(const struct shardkv *s, uint32_t shard, struct skv_shard_info *out);
/* The shard of key in the current config (0 before the first config). */
uint32_t shardkv_shard_of(const struct shardkv *s, const uint8_t *key, size_t klen);

/* Applies one log entry. */
void shardkv_apply(struct shardkv *s, const struct skv_cmd *cmd, struct skv_result *res);

/* A Get confirmed by ReadIndex: KV_OK / KV_NO_KEY in res->kv, or SKV_WRONG_GROUP. */
void shardkv_get(const struct shardkv *s, const uint8_t *key, size_t klen, struct skv_result *res);

/* ---- what comes next ---- */

/* Whether the group may move to config num + 1. */
bool shardkv_settled(const struct shardkv *s);

enum skv_action_type { SKV_ACT_PULL, SKV_ACT_DELETE };

/* A request the group's leader must carry: PULL the next chunk of shard from holder (after the
 * cursor) and propose it as an INSTALL; DELETE: ask holder to drop its copy and, once it
 * answered, propose GC_DONE. Pointers valid until the next shardkv_apply. */
struct skv_action {
    enum skv_action_type type;
    uint32_t shard;
    uint32_t holder;
    const struct sc_group *holder_group;
    uint64_t left_at;
    uint64_t num;        /* the current config */
    bool first;          /* PULL: the cursor (see skv_cmd) */
    const uint8_t *after;
    size_t after_len;
    bool in_sessions;
    uint64_t after_client;
};

/* The actions now due, into out (up to cap); returns how many are due in all. */
size_t shardkv_actions(const struct shardkv *s, struct skv_action *out, size_t cap);

/* The holder's side of a PULL: the next chunk of shard for hand-over left_at from the cursor
 * (first: from the start; else the keys after `after`, or, in_sessions, the sessions after
 * client after_client): keys in key order, then sessions by client id, up to max_bytes of keys,
 * values and session replies (at least one item when any is left). Returns 0, or -1 when the
 * shard is not frozen here for that hand-over (not yet, or not any more: NOT_READY). The chunk
 * points into the state (and into a sorted index kept for the frozen shard): valid until the
 * next shardkv_apply. */
int shardkv_pull(struct shardkv *s, uint32_t shard, uint64_t left_at, bool first,
                 const uint8_t *after, size_t after_len, bool in_sessions, uint64_t after_client,
                 size_t max_bytes, struct skv_chunk *out);

/* ---- snapshots (the codec's) ---- */

/* A shard's data (its pairs and sessions), or NULL when none is kept here. */
const struct kv *shardkv_shard_kv(const struct shardkv *s, uint32_t shard); /* NULL: no data */
/* Rebuilding: shardkv_restore_begin with the config (copied), then each shard's record and data
 * (shardkv_restore_shard gives its kv to load pairs and sessions into). */
void shardkv_restore_begin(struct shardkv *s, const struct sc_config *config);
struct kv *shardkv_restore_shard(struct shardkv *s, uint32_t shard, enum skv_state state,
                                 uint32_t holder, const char *const *holder_servers,
                                 size_t n_holder_servers, uint64_t left_at, bool started,
                                 const uint8_t *after, size_t after_len, bool in_sessions,
                                 uint64_t after_client);

/* Planted bugs, for the simulator's tests (off in every shardkv_new):
 * SKV_BUG_SERVE_PULLING: a PULLING shard is served (before its data is installed);
 * SKV_BUG_OLD_INSTALL: an INSTALL is applied whatever config and hand-over it is tagged with
 *   (only its cursor is checked);
 * SKV_BUG_DROP_SESSIONS: a shard's sessions are not installed with it;
 * SKV_BUG_KEEP_LEFT: a DELETE does not drop the shard's data: its old owner keeps its keys and
 *   sessions after the hand-over completes (NOT_OWNED, never served), in its snapshots and
 *   through their restores too, so its replicas still agree. */
enum skv_bug {
    SKV_BUG_NONE = 0,
    SKV_BUG_SERVE_PULLING = 1,
    SKV_BUG_OLD_INSTALL = 2,
    SKV_BUG_DROP_SESSIONS = 4,
    SKV_BUG_KEEP_LEFT = 8,
};
void shardkv_set_planted_bug(struct shardkv *s, int bugs);

struct skv_stats {
    uint64_t keys, bytes, sessions;
};
void shardkv_stats(const struct shardkv *s, struct skv_stats *st);

#endif
