/* /healthz and /readyz of a Raft daemon: what they answer, decided from facts about the node
 * (node_health_facts fills them from the loop). Pure, so the rules are tested one by one.
 *
 * Healthy (/healthz 200): the node knows a leader and is applying.
 *   - knows a leader: as a follower (or learner), the leader it knows was heard from within
 *     the window (twice the longest election timeout, at least 1 s); as the leader, a quorum
 *     of the voters (itself included) was heard from within the window. A node cut off from
 *     the others thus turns unhealthy within the window whatever its role: a follower still
 *     naming its old leader, or a leader that has not yet stepped down (or never will, with
 *     --check-quorum false).
 *   - applying: the applied index reached the commit index it knows, or moved, within the
 *     last NODE_APPLY_STALL_MS; and no write is held for lack of space (the node is silent
 *     then).
 * Ready (/readyz 200): healthy, and it can serve clients: it has applied up to the commit
 * index it knew when it learned the current leader (a restarted or partitioned node catching
 * up is not ready), it is a voter (a learner being brought up to date is not), and writes are
 * not refused for lack of space. */
#ifndef NODE_HEALTH_H
#define NODE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_APPLY_STALL_MS 5000
#define NODE_HEALTH_WINDOW_MIN_MS 1000

struct node_health_facts {
    uint32_t self, leader;        /* leader: RAFT_NONE when unknown */
    uint64_t window_ms;           /* see above */
    uint64_t leader_heard_ago_ms; /* a follower's: since its leader was last heard (UINT64_MAX:
                                     never) */
    size_t voters_heard, quorum;  /* a leader's: voters heard within the window, itself
                                     included; the quorum */
    bool voter;                   /* this node votes */
    bool holding;                 /* a write is held for lack of space (replica_holding) */
    bool refusing_writes;         /* proposals are refused for lack of space */
    uint64_t commit, applied;
    uint64_t apply_ok_ago_ms;     /* since applied last reached commit or moved */
    uint64_t ready_index;         /* the commit index known when the leader was learned */
};

/* 0 when healthy (or, with ready, ready); otherwise 1 with a one-line reason in why. */
int node_health_judge(const struct node_health_facts *f, bool ready, char *why, size_t len);

#endif
