/* kvbench's shared vocabulary: the kinds of operation, their outcomes, and the interface every
 * target (kvd through lib/clerk, the sharded service through the shard clerk, etcd through its
 * JSON gateway) implements. The driver (main.c) owns the clients and the clock; a target only
 * turns one operation into requests on the wire and reports its outcome. */
#ifndef KVBENCH_BENCH_H
#define KVBENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

enum op_kind { OP_PUT = 0, OP_GET, OP_APPEND, OP_KINDS };

/* "put", "get", "append". */
const char *op_kind_name(enum op_kind k);

enum op_outcome {
    OUT_OK = 0, /* done; for a get, value holds the value */
    OUT_MISS,   /* a get of a key never written */
    OUT_ERROR,  /* failed (timeout, transport error, bad reply); err says why */
};

/* Called exactly once per issued operation (unless the target is closed first). value/len: a
 * get's value, valid during the call only. err: a short reason for OUT_ERROR, else NULL. */
typedef void (*op_done_fn)(enum op_outcome r, const uint8_t *value, size_t len, const char *err,
                           void *arg);

/* What a target is told when it opens. */
struct target_config {
    struct event_base *base;
    const char *const *servers; /* host:port, as given */
    size_t n_servers;
    size_t clients;             /* operations are issued with client ids 0..clients-1 */
    size_t conns;               /* connections (kvd: clerk_nets) shared by the clients */
    uint64_t op_timeout_ms;     /* give up on one operation after this long */
    int all_endpoints;          /* etcd: spread clients over every member instead of the leader */
};

struct target_ops {
    const char *name;
    /* Builds the target's state; may run the loop briefly (e.g. to find a leader). Returns NULL
     * with a message in err on failure. */
    void *(*open)(const struct target_config *c, char *err, size_t errlen);
    /* Starts one operation for client `client`, which has nothing else in flight. key and value
     * are copied (or consumed) before the call returns. */
    void (*issue)(void *t, size_t client, enum op_kind k, const uint8_t *key, size_t klen,
                  const uint8_t *val, size_t vlen, op_done_fn done, void *arg);
    /* Frees everything; operations in flight are dropped without their callbacks. */
    void (*close)(void *t);
    /* One line about how the target is reached (e.g. which member leads), or NULL. */
    const char *(*describe)(void *t);
};

/* The clerk options of the lib/clerk targets (kvd, shardkv): an operation ends at op_timeout_ms,
 * an attempt on one server after at most 1 s. */
struct clerk_opts;
void target_clerk_opts(const struct target_config *c, struct clerk_opts *o);

extern const struct target_ops kvd_target;
extern const struct target_ops etcd_target;
extern const struct target_ops shardkv_target;

#endif
