/* A replicated service on the simulated nodes: one state machine per node (a struct node_sm,
 * made fresh at every start, as a daemon's is), and the client service rules every Raft daemon
 * follows (lib/node/reply.c), answering the requests that arrive through simnet:
 *   - a request the service does not recognise is dropped (a daemon fails it as a bad request;
 *     the clerks here send none);
 *   - a read is served by ReadIndex (sim_read_async) from the node's state machine once it has
 *     applied up to the read's index, or through the log when the leader is not ready for
 *     ReadIndex (the state machine's apply answers it then);
 *   - a write is proposed (sim_propose) and answered with the state machine's reply;
 *   - a node that is not the leader, or loses leadership before the entry applies, answers
 *     WRONG_LEADER with the leader it knows (leader_id, leader_addr simsvc_addr(id - 1));
 *   - a crashed node answers nothing.
 * The optional join of a retried write to its pending entry is not done: a retry is proposed
 * again, so the state machine's de-duplication is what keeps writes at most once.
 *
 * The service's own part (struct simsvc_ops) is its state machine, how it tells reads from
 * writes, how it answers a confirmed read, and how it encodes an error reply: kvd's is simkv.h,
 * shardctrld's simctrl.h. */
#ifndef SIM_SIMSVC_H
#define SIM_SIMSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"
#include "simnet.h"

enum simsvc_kind {
    SIMSVC_DROP,  /* not this service's request */
    SIMSVC_WRITE, /* through the log */
    SIMSVC_READ,  /* by ReadIndex (through the log when the leader is not ready) */
    SIMSVC_LEADER_READ, /* by ReadIndex only (a leader not ready answers ops.not_ready) */
};

enum simsvc_err { SIMSVC_WRONG_LEADER, SIMSVC_NO_SPACE };

struct simsvc_ops {
    /* Node's state machine, made at every start; destroy gets its ctx back. */
    struct node_sm (*create)(void *arg, size_t node);
    void (*destroy)(void *arg, size_t node, void *ctx);
    /* What req is; it may keep what it decoded in *read (given to answer and error, then
     * read_free). */
    enum simsvc_kind (*classify)(void *arg, const uint8_t *req, size_t len, void **read);
    /* The reply (malloc'd) to a confirmed read, from the state machine ctx. */
    void (*answer)(void *arg, void *ctx, void *read, uint8_t **reply, size_t *len);
    void (*read_free)(void *arg, void *read); /* may be NULL */
    /* The command a write proposes (malloc'd), when it is not the request itself (may be NULL). */
    void (*write_cmd)(void *arg, const uint8_t *req, size_t len, uint8_t **cmd, size_t *cmd_len);
    /* An error reply (malloc'd) to the request classify kept read of, with the leader hint
     * (leader_id 0: none known). */
    void (*error)(void *arg, enum simsvc_err err, void *read, uint32_t leader_id,
                  const char *leader_addr, uint8_t **reply, size_t *len);
    /* The command a read through the log proposes (malloc'd), when it is not the request
     * itself (may be NULL). */
    void (*read_cmd)(void *arg, const uint8_t *req, size_t len, uint8_t **cmd, size_t *cmd_len);
    /* The reply (malloc'd) to a SIMSVC_LEADER_READ on node, a leader not ready for ReadIndex
     * (NULL: WRONG_LEADER). It may propose on node (an entry of its term, to become ready). */
    void (*not_ready)(void *arg, size_t node, void *read, uint8_t **reply, size_t *len);
};

struct simsvc;

/* A server's address as leader hints carry it ("s<raft id>"). */
const char *simsvc_addr(size_t server);

/* The service (ops and arg are kept). Set sim_opts.machine = simsvc_machine() and machine_arg =
 * the simsvc before sim_new, then attach. */
struct simsvc *simsvc_new(const struct simsvc_ops *ops, void *arg);
const struct sim_machine *simsvc_machine(void);
/* Serves the requests of every node of s on net. */
void simsvc_attach(struct simsvc *v, struct sim *s, struct simnet *net);
/* ... of the nodes in servers (bit i: node i): one service per cluster of s. */
void simsvc_attach_on(struct simsvc *v, struct sim *s, struct simnet *net, uint32_t servers);
/* Free after sim_free (which destroys the machines). */
void simsvc_free(struct simsvc *v);

/* Node i's state machine ctx (NULL while crashed). */
void *simsvc_ctx(const struct simsvc *v, size_t i);

/* A planted bug: every node answers a read at once from its own state, leader or not, with no
 * ReadIndex (a stale read from a deposed leader or a lagging follower). */
void simsvc_set_stale_reads(struct simsvc *v, bool on);

/* Figures: reads served by ReadIndex, reads through the log, writes proposed, requests
 * answered WRONG_LEADER at once. */
struct simsvc_stats {
    uint64_t reads, logged_reads, writes, wrong_leader;
};
void simsvc_stats(const struct simsvc *v, struct simsvc_stats *st);

#endif
