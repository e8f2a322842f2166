/* The power-cut test tool (docs/POWERCUT.md): a shim over the write and sync calls (shim.c, as
 * the preloadable $(OUT)/test/libpowercut.so or linked into a test) journals, for each file of
 * a watched directory, what every write since the file's last fsync/fdatasync replaced; after
 * every writer is dead, powercut_apply (apply.c) makes each page those writes touched kept,
 * lost (back to its content at the last sync) or torn (per 512-byte sector, either), by a seed,
 * as a power cut would leave them. A test tool: never linked into a daemon. */
#ifndef POWERCUT_POWERCUT_H
#define POWERCUT_POWERCUT_H

#include <stddef.h>
#include <stdint.h>

enum powercut_mode {
    POWERCUT_MIXED, /* each page's fate drawn: kept, lost or torn, a third each */
    POWERCUT_KEEP,  /* every page as the writers left it (a SIGKILL) */
    POWERCUT_LOSE,  /* every page back to its last sync */
    POWERCUT_TEAR,  /* every page torn: each sector kept or lost, half each */
};

struct powercut_stats {
    unsigned files;   /* files with unsynced writes, found in the directory */
    unsigned missing; /* files with unsynced writes that no longer exist (skipped) */
    uint64_t pages, kept, lost, torn; /* 4 KiB pages touched by unsynced writes, by fate */
};

/* The cut: run after every process writing under dir is dead (SIGKILL, then waited for).
 * Applies the journals in `journal` to the files of dir (found by inode, wherever they were
 * renamed to inside dir) and removes them, so that a process started next begins with none.
 * A file's size goes back to its size at the last sync when every touched page beyond it is
 * lost; otherwise it stays (lost pages beyond it then read as zeros). The same journals, seed
 * and mode give the same bytes. Prints nothing. Returns 0 (st filled), or -1 with a message in
 * err: the journal directory is missing (the shim was not active), a journal is damaged, a
 * file cannot be rewritten. Must not run in a process where the shim is active. */
int powercut_apply(const char *dir, const char *journal, uint64_t seed, enum powercut_mode mode,
                   struct powercut_stats *st, char *err, size_t errlen);

/* Starts journaling in this process (the shim linked in, or preloaded): files opened from now
 * on under dir are tracked, journals go to the directory journal (created if missing). What
 * the preloaded library does at load when POWERCUT_DIR and POWERCUT_JOURNAL are set.
 * Returns 0, or -1 with errno (journal cannot be created; already started on another dir). */
int powercut_start(const char *dir, const char *journal);

/* Arms one injected failure: the nth call of kind "fsync" (fsync, fdatasync) or "write"
 * (write, pwrite, writev, pwritev, pwritev2) on a tracked file, counted from activation in
 * this process, fails with EIO without doing anything, and prints one line to stderr
 * ("powercut: injected EIO into fdatasync of PATH"). After an injected fsync failure that
 * file's journal is never emptied again in this process: the pages were dropped, and a later
 * fsync that succeeds does not make them durable. n 0 disarms. What POWERCUT_EIO=fsync:N or
 * write:N does at load. A forked child does not inherit an armed failure. */
void powercut_fail_at(const char *kind, uint64_t n);

#endif
