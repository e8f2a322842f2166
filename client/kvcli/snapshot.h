/* kvcli snapshot save FILE | snapshot status FILE | snapshot restore FILE --data-dir DIR --id N
 * --peers ID=HOST:PORT,...: backups of a cluster (docs/BACKUP.md). save asks any member for
 * the leader's snapshot (node.SnapshotSave / node.SnapshotChunk, lib/node/backup.h) and writes
 * it as a backup file (lib/node/snapfile.h); status checks a file and describes it; restore
 * checks it and makes one new member's data directory from it (lib/node/restore.h), run once
 * per member of the new cluster with the same --peers. */
#ifndef KVCLI_SNAPSHOT_H
#define KVCLI_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_SYNOPSIS \
    "snapshot save FILE | snapshot status FILE | " \
    "snapshot restore FILE --data-dir DIR --id N --peers ID=HOST:PORT,..."

#define SNAPSHOT_HELP \
    "snapshot save FILE writes the leader's state machine at one applied index (at least every " \
    "write acknowledged before the command) to FILE, with its index, term, membership and a " \
    "CRC-32C; snapshot status FILE checks FILE and prints what it holds; snapshot restore FILE " \
    "--data-dir DIR --id N --peers ID=HOST:PORT,... makes member N's data directory of a NEW " \
    "cluster from FILE (DIR must be absent or empty; run it once per member with the same " \
    "--peers, then start each kvd with those --id, --peers and --data-dir). A damaged, " \
    "truncated or foreign file is refused with the reason (exit 1) and nothing is written."

/* args: what follows "snapshot". Returns the exit status (0 done, 1 failed, 2 usage). */
int snapshot_main(char **args, int nargs, char **servers, size_t n, uint64_t timeout_ms);

#endif
