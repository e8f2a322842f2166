/* The backup file (kvcli snapshot save / status / restore; docs/BACKUP.md): a state machine's
 * snapshot exactly at one applied index, with that index, its term, the membership there and a
 * checksum over everything. All integers big-endian:
 *
 *   0   magic "RKVSNAP1" (8 bytes)
 *   8   u32 format version (1)
 *   12  u32 header length H (the payload starts at H)
 *   16  u64 index, u64 term, u64 payload length P, u64 created (Unix ms), u32 taken by (member)
 *   52  u8 length + the machine's name ("kvd")
 *       u8 member count, then each: u32 id, u8 voter, u8 length + address
 *   H   the payload: the state machine's snapshot bytes, as its store keeps them
 *   H+P u32 CRC-32C of bytes [0, H+P)
 *
 * The file is written to FILE.tmp, fsynced, renamed over FILE and the directory fsynced, so a
 * crash leaves either the old FILE or the new one. Reading checks the magic, the version, the
 * length the header implies against the file's, the checksum, then the header's fields, and
 * says which failed. */
#ifndef NODE_SNAPFILE_H
#define NODE_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "raft/membership.h"

#define SNAPFILE_MAGIC "RKVSNAP1"
#define SNAPFILE_VERSION 1u
#define SNAPFILE_MACHINE_MAX 64

struct snapfile_meta {
    uint64_t index, term;     /* the state machine is exactly at applied index `index` */
    uint64_t payload_len;
    uint64_t created_ms;      /* wall clock, Unix ms */
    uint32_t taken_by;        /* the member that took it */
    char machine[SNAPFILE_MACHINE_MAX]; /* "kvd" */
    struct raft_membership members;     /* n 0: not known */
};

/* A file being written: the header at create, the payload appended, the checksum at finish. */
struct snapfile_writer;

/* Creates path.tmp and writes the header of m (payload_len included). Returns 0, or -1 with
 * err. */
int snapfile_create(const char *path, const struct snapfile_meta *m, struct snapfile_writer **out,
                    char *err, size_t errlen);
/* Appends payload bytes. Returns 0, or -1 with err (more than payload_len, a write error). */
int snapfile_append(struct snapfile_writer *w, const uint8_t *data, size_t len, char *err,
                    size_t errlen);
/* Ends the file: checks that payload_len bytes came, writes the checksum, fsyncs, renames
 * path.tmp to path and fsyncs the directory; frees w. Returns 0, or -1 with err (path.tmp is
 * then removed). *crc gets the payload's CRC-32C (may be NULL). */
int snapfile_finish(struct snapfile_writer *w, uint32_t *payload_crc, char *err, size_t errlen);
/* Gives up: removes path.tmp, frees w. */
void snapfile_abort(struct snapfile_writer *w);

/* Reads and checks a whole file (into memory: the payload is as large as the state). Returns
 * 0 with *m and *payload (malloc'd, m->payload_len bytes), or -1 with err saying what is wrong
 * ("not a backup file", "truncated", "checksum mismatch", ...). */
int snapfile_read(const char *path, struct snapfile_meta *m, uint8_t **payload, char *err,
                  size_t errlen);

/* The same checks on a file already in memory (buf[0..len)); *payload points into buf. */
int snapfile_parse(const uint8_t *buf, size_t len, struct snapfile_meta *m, const uint8_t **payload,
                   char *err, size_t errlen);

#endif
