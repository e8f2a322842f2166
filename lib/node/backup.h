/* Backups as RPC methods (proto/node.proto; docs/BACKUP.md), registered by the daemon shape on
 * every Raft daemon: node.SnapshotSave has the leader confirm that it leads (a ReadIndex
 * round; on a new leader that cannot confirm reads yet, the service's barrier command through
 * the log), then take its state machine's snapshot at its applied index — at least every write
 * acknowledged before the call — and hold it in memory; node.SnapshotChunk reads it back in
 * pieces of at most NODE_BACKUP_CHUNK bytes. A member that does not lead relays both.
 *
 * At most NODE_BACKUP_HELD snapshots are held (a further save drops the oldest); one is let go
 * once its last byte was read, or NODE_BACKUP_IDLE_MS after its last read. The snapshot is
 * encoded on the loop (a few ms for a few MB; about a second per GB, during which the node
 * serves nothing) and costs its size in memory while held. */
#ifndef NODE_BACKUP_H
#define NODE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#define NODE_BACKUP_CHUNK ((size_t)1 << 20)
#define NODE_BACKUP_HELD 2
#define NODE_BACKUP_IDLE_MS 60000

struct event_base;
struct rpc_server;
struct node;
struct node_sm;
struct node_backup;

/* What the backup methods need besides the node. */
struct node_backup_config {
    const char *machine;     /* the daemon's name, written into the file ("kvd") */
    const struct node_sm *sm; /* the node's state machine: its snapshot() is what is saved */
    /* A command whose apply changes nothing (kvd: an empty kv.Command, a Get of ""), proposed
     * when a new leader cannot confirm a read yet; NULL: such a save is answered BUSY (retry)
     * until the leader has committed an entry of its term. */
    const uint8_t *barrier;
    size_t barrier_len;
};

struct node_backup *node_backup_new(struct event_base *base, struct rpc_server *srv,
                                    struct node *node, const struct node_backup_config *c);
/* Frees the held snapshots. Call after node_free (which completes the pending saves with
 * NODE_SHUTDOWN) and before the server is freed. */
void node_backup_free(struct node_backup *b);

#endif
