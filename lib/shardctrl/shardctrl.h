/* The shard controller's state machine: the numbered configurations (which replica group serves
 * each shard, and each group's servers), changed by Join, Leave and Move, read by Query. Pure:
 * decoded commands in, results out; no I/O, no Raft, no protobuf (lib/shardctrl/codec.h turns
 * shardctrl.Command / Reply / Snapshot bytes into these calls).
 *
 * Config 0 has no groups and every shard on gid 0. Each Join, Leave or Move that is accepted makes
 * config latest+1; every config is kept and returned exactly as it was made, server lists
 * verbatim and in order. Join and Leave rebalance (rebalance.h): balanced, minimal, and the same
 * on every replica; Move never rebalances. Writes execute at most once per (client id, seq),
 * through a lib/session table (partition 0). Requests that cannot apply (an unknown gid, gid 0, a
 * gid joined twice, a shard out of range, a group without servers) are refused with
 * SC_BAD_REQUEST and a message, change nothing and make no config; the refusal is remembered as
 * the write's reply like any other. */
#ifndef SHARDCTRL_SHARDCTRL_H
#define SHARDCTRL_SHARDCTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SC_DEFAULT_SHARDS 10u
#define SC_MAX_SHARDS 16384u

struct shardctrl;
struct session_table;

/* A replica group as a config holds it: immutable once made, shared by the configs that keep it
 * (a Join copies the servers once; later configs point at the same group). */
struct sc_group {
    uint32_t gid;
    uint32_t refs;
    size_t n_servers;
    char *servers[]; /* NUL-terminated, in the order given at Join */
};

struct sc_config {
    uint64_t num;
    uint32_t n_shards;
    uint32_t *shards;          /* n_shards gids; 0: no group */
    struct sc_group **groups;  /* by gid ascending */
    size_t n_groups;
};

enum sc_op { SC_OP_QUERY = 0, SC_OP_JOIN = 1, SC_OP_LEAVE = 2, SC_OP_MOVE = 3 };

/* The values match shardctrl.Err's, so the codec maps them one to one. */
enum sc_err {
    SC_OK = 0,
    SC_STALE = 5,       /* a write older than the client's last one: not executed */
    SC_BAD_REQUEST = 8, /* refused (error says why): nothing changed */
};

/* A group to join: its gid and servers (the caller's; copied). */
struct sc_join_group {
    uint32_t gid;
    const char *const *servers;
    size_t n_servers;
};

/* One decoded command. The caller owns what it points to. */
struct sc_cmd {
    enum sc_op op;
    const struct sc_join_group *groups; /* JOIN */
    size_t n_groups;
    const uint32_t *gids; /* LEAVE */
    size_t n_gids;
    uint32_t shard, gid;  /* MOVE */
    int64_t num;          /* QUERY: -1 or past the latest: the latest */
    uint64_t client_id, seq; /* writes: at-most-once; 0: no session */
    uint32_t n_shards;    /* writes: the proposer's shard count (0: unknown, accept) */
};

/* A command's outcome; config and error are owned by the controller and valid until the next
 * call that changes it. */
struct sc_result {
    enum sc_err err;
    uint64_t num;                  /* a write: the config it made (0 when refused) */
    const struct sc_config *config; /* QUERY */
    char error[200];               /* SC_BAD_REQUEST: why ("" otherwise) */
};

/* A controller with n_shards shards (1..SC_MAX_SHARDS) and config 0 only. n_shards is the
 * count until the first write is accepted: from then on the count is the one that write carried
 * (or the snapshot's), so replicas started with different --shards still agree; a later write
 * carrying another count is refused. */
struct shardctrl *shardctrl_new(uint32_t n_shards);
void shardctrl_free(struct shardctrl *sc);

uint32_t shardctrl_n_shards(const struct shardctrl *sc);
/* Whether the shard count is fixed (by an accepted write, or a snapshot of a controller that had
 * one). */
bool shardctrl_fixed(const struct shardctrl *sc);
uint64_t shardctrl_latest(const struct shardctrl *sc);

/* Config num (-1, or any number past the latest: the latest). Never NULL. */
const struct sc_config *shardctrl_query(const struct shardctrl *sc, int64_t num);

/* Applies one command from the log (a QUERY too: it changes nothing). */
void shardctrl_apply(struct shardctrl *sc, const struct sc_cmd *cmd, struct sc_result *res);

/* The group gid of config c, or NULL. */
const struct sc_group *sc_config_group(const struct sc_config *c, uint32_t gid);

/* A new group (refs 1) with copies of the servers; sc_group_unref drops one reference and frees
 * the group at the last (a holder of a group pointer takes a reference with g->refs++). */
struct sc_group *sc_group_new(uint32_t gid, const char *const *servers, size_t n);
void sc_group_unref(struct sc_group *g);
/* A config with n_shards shards (all on gid 0) and room for n_groups group pointers (set by the
 * caller, each holding a reference); free with sc_config_free. */
struct sc_config *sc_config_alloc(uint64_t num, uint32_t n_shards, size_t n_groups);

/* A standalone deep copy of c (its groups its own), for a clerk to keep what a callback lent. */
struct sc_config *sc_config_copy(const struct sc_config *c);
/* Frees a standalone config (sc_config_copy's, sc_codec_decode_reply's). NULL is allowed. */
void sc_config_free(struct sc_config *c);

/* The session table (replies are encoded by sc_reply_encode below), for snapshots. */
const struct session_table *shardctrl_sessions(const struct shardctrl *sc);
struct session_table *shardctrl_sessions_mut(struct shardctrl *sc);

/* A write's stored reply (what session_record keeps): err, num and the error text. */
size_t sc_reply_encode(const struct sc_result *res, uint8_t *buf, size_t cap);
void sc_reply_decode(const uint8_t *buf, size_t len, struct sc_result *res);

struct sc_stats {
    uint64_t configs, clients, bytes; /* bytes: configs (shards, groups, servers) + sessions */
};
void shardctrl_stats(const struct shardctrl *sc, struct sc_stats *st);

#endif
