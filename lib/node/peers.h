/* A node's address book: each peer's address and the connection this node sends it Raft
 * messages and relayed calls on. Seeded from the configured members (--peers, or the member
 * list a joining node fetched) and kept in step with the membership in force, whose entries
 * carry every member's address (raft_member.addr). Internal to lib/node. */
#ifndef NODE_PEERS_H
#define NODE_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "raft/membership.h"

struct event_base;
struct rpc_client;

struct peer_link {
    struct node_peer peer;
    struct rpc_client *client; /* NULL for this node */
    bool pinned;               /* given on the command line: the membership does not move it */
    uint64_t heard_ms;         /* when a Raft message from it last arrived (0: never) */
};

struct peers {
    struct event_base *base;
    uint32_t self;
    size_t max_frame;            /* of the connections (0: lib/rpc's default) */
    struct peer_link *links;
    size_t n, cap;
    struct rpc_client **retired; /* replaced when an address changed: freed at peers_free, */
    size_t n_retired;            /* since relayed calls may still be in flight on them */
};

/* Starts empty. */
void peers_init(struct peers *p, struct event_base *base, uint32_t self, size_t max_frame);
/* Adds peers (connecting to each but self); pinned: addresses the membership's do not
 * replace (the command line's: --peers, --peer-addrs). Returns 0, or -1 with err. */
int peers_add(struct peers *p, const struct node_peer *v, size_t n, bool pinned, char *err,
              size_t errlen);
void peers_free(struct peers *p);

/* The link to id, or NULL when its address is unknown. */
struct peer_link *peers_find(const struct peers *p, uint32_t id);

/* Learns the addresses the membership carries (a member without one keeps what is known;
 * links of members that left stay, unused). Logs each address learned or changed. */
void peers_sync(struct peers *p, const struct raft_membership *m);

#endif
