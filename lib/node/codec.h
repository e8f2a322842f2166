/* Raft messages to and from their protobuf form (proto/raft.proto). Internal to lib/node. */
#ifndef NODE_CODEC_H
#define NODE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* Packs m into a malloc'd buffer; returns its length. */
size_t node_msg_pack(const struct raft_msg *m, uint8_t **out);

/* Decodes a packed message into *m. The entries array is malloc'd, but entry and snapshot data
 * point into the decoded buffer *keep, which stays alive until node_msg_release. Returns 0, or
 * -1 when the bytes are not a Raft message. */
int node_msg_unpack(const uint8_t *buf, size_t len, struct raft_msg *m, void **keep);
void node_msg_release(struct raft_msg *m, void *keep);

#endif
