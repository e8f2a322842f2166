/* A node joining a running cluster (--join): before it starts, it asks one member for the
 * membership (node.Members, relayed to the leader), to know where the members are and that it
 * was added. */
#ifndef NODE_JOIN_H
#define NODE_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

enum join_result {
    JOIN_OK = 0,
    JOIN_UNREACHABLE = -1, /* no answer within the time given */
    JOIN_NOT_MEMBER = -2,  /* answered, and self is not a member: it must be added first */
};

/* Asks the members at list ("HOST:PORT,...", each in turn) for the membership, retrying for
 * up to wait_ms. On JOIN_OK, *peers
 * (malloc'd) and *n hold every member's id and address; otherwise err says why. */
enum join_result node_join_fetch(const char *list, uint32_t self, uint64_t wait_ms,
                                 struct node_peer **peers, size_t *n, char *err, size_t errlen);

#endif
