/* A new member's data directory made from a backup (kvcli snapshot restore; docs/BACKUP.md):
 * an LMDB store (lib/storage) holding the snapshot at (index, term), an empty log after it, a
 * hard state of term `term` with no vote and commit `index`, and a membership of the given
 * members (all voters) based at index. Every member of the new cluster is made from the same
 * file with the same members, so they all start with one state at one index; the cluster's log
 * continues from index + 1, its first leader elected in a term above `term`. The store is a
 * store like any other (data.mdb with its MEMBER marker), so a node opens it as it is, not as
 * a lost one. */
#ifndef NODE_RESTORE_H
#define NODE_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "node/snapfile.h"

/* Writes the store into dir, which must be absent or empty (refused otherwise: a directory
 * holding anything may be a member's store). self must be one of members. Returns 0, or -1
 * with err (the directory is then removed again when this call created it or it was empty). */
int node_restore_dir(const char *dir, const struct snapfile_meta *m, const uint8_t *payload,
                     const struct node_peer *members, size_t n, uint32_t self, bool fsync,
                     char *err, size_t errlen);

#endif
