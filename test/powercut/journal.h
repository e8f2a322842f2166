/* The journal the shim (shim.c) writes and the cut (apply.c) reads: one file per tracked inode in
 * the journal directory, named after the inode ("<dev>-<ino>.pcj", hexadecimal), holding the
 * records of every write to that file since its last successful fsync/fdatasync, oldest first.
 * A record is appended before its write is made, so a process killed between the two leaves a
 * record of a write that did not happen, which undoes nothing (it restores the bytes that are
 * there). A record cut short by a kill while it was being appended is the last one and is
 * ignored (its write was not made either). */
#ifndef POWERCUT_JOURNAL_H
#define POWERCUT_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PC_MAGIC 0x314a4350u /* "PCJ1" */
#define PC_PAGE 4096u
#define PC_SECTOR 512u
#define PC_SUFFIX ".pcj"

enum pc_kind {
    /* A write: [off, off + len) replaced; the `saved` bytes it replaced follow (those below
     * old_size; the rest of the range did not exist and reads as zeros when undone). */
    PC_WRITE = 1,
    /* A write made durable by the call itself (an O_SYNC/O_DSYNC descriptor, RWF_DSYNC): the
     * saved bytes, then the len bytes written. `written` is patched with what the call
     * returned once it did; 0 means it never returned (in flight at the cut: then it is an
     * unsynced write like any other). */
    PC_DURABLE = 2,
    /* A size change (ftruncate, fallocate, O_TRUNC): old_size to off; when it shrinks, the
     * `saved` bytes cut off (from off) follow. */
    PC_SIZE = 3,
};

struct pc_rec {
    uint32_t magic;
    uint32_t kind;
    uint64_t off;      /* PC_SIZE: the new size */
    uint64_t len;      /* PC_SIZE: 0 */
    uint64_t old_size; /* the file's size before the call */
    uint64_t saved;    /* bytes of old content that follow */
    uint64_t written;  /* PC_DURABLE: bytes the call reported written (0: it did not return) */
};

/* The journal file's name for an inode: buf needs PC_NAME_MAX bytes. */
#define PC_NAME_MAX 48
static inline void pc_name(char *buf, uint64_t dev, uint64_t ino)
{
    snprintf(buf, PC_NAME_MAX, "%llx-%llx" PC_SUFFIX, (unsigned long long)dev,
             (unsigned long long)ino);
}

/* The inode a journal file's name stands for; false when the name is not a journal's. */
static inline bool pc_parse_name(const char *name, uint64_t *dev, uint64_t *ino)
{
    unsigned long long d, i;
    int end = 0;
    if (sscanf(name, "%llx-%llx" PC_SUFFIX "%n", &d, &i, &end) != 2 || end == 0 ||
        name[end] != '\0')
        return false;
    *dev = d;
    *ino = i;
    return true;
}

#endif
