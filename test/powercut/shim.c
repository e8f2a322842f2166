/* The power-cut shim (docs/POWERCUT.md): interposes the calls that open, write, resize and sync
 * files, and journals, for every regular file under the watched directory, what each write
 * replaced since the file's last fsync/fdatasync (journal.h), so that powercut_apply (apply.c)
 * can later make a power cut of it. Loaded with LD_PRELOAD ($(OUT)/test/libpowercut.so: active
 * at load when POWERCUT_DIR and POWERCUT_JOURNAL are set) or linked into a test (its symbols in
 * the executable interpose liblmdb's calls too; powercut_start activates it). Inactive, every
 * call goes straight to the next definition (dlsym(RTLD_NEXT)).
 *
 * A tracked write, in one critical section (this process's mutex, then a flock on the file's
 * journal against the other processes writing it, e.g. kvd's forked snapshot writer): read the
 * file's size and the bytes about to be replaced, append the record, make the real call. A
 * successful fsync/fdatasync empties the journal under the same lock, so no record of a write
 * made while it ran is dropped. The shim keeps descriptors of its own (each journal, and a
 * reader on each tracked file, as the program's may be write-only): a program that closes them
 * (close, close_range, dup2 onto them) closes them, and the shim opens them again when needed;
 * a forked child opens its journals again (flock is per open file description). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "journal.h"
#include "powercut.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

_Static_assert(sizeof(off_t) == 8, "the 64-bit calls are the same as the plain ones here");

/* ---- the next definitions ------------------------------------------------------------------- */

static struct {
    int (*openat)(int, const char *, int, ...);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*pwrite)(int, const void *, size_t, off_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
    ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
    int (*ftruncate)(int, off_t);
    int (*fallocate)(int, int, off_t, off_t);
    int (*fsync)(int);
    int (*fdatasync)(int);
    int (*syncfs)(int);
    void (*sync)(void);
} R;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void *next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        dprintf(2, "powercut: no next definition of %s\n", name);
        abort();
    }
    return p;
}

static void resolve_all(void)
{
    R.openat = next("openat");
    R.close = next("close");
    R.close_range = next("close_range");
    R.dup = next("dup");
    R.dup2 = next("dup2");
    R.dup3 = next("dup3");
    R.fcntl = next("fcntl");
    R.write = next("write");
    R.pwrite = next("pwrite");
    R.writev = next("writev");
    R.pwritev = next("pwritev");
    R.pwritev2 = next("pwritev2");
    R.ftruncate = next("ftruncate");
    R.fallocate = next("fallocate");
    R.fsync = next("fsync");
    R.fdatasync = next("fdatasync");
    R.syncfs = next("syncfs");
    R.sync = next("sync");
}

static void resolve(void) { pthread_once(&g_once, resolve_all); }

/* ---- state ---------------------------------------------------------------------------------- */

/* Descriptors: a tracked file's (its inode's index), or one of the shim's own. */
#define PC_MAX_FD 65536
enum { FD_NONE, FD_TRACKED, FD_OWN };
static struct {
    unsigned char kind; /* read without the lock by the fast paths */
    unsigned ix;
} g_fd[PC_MAX_FD];

struct pc_inode {
    bool used;
    uint64_t dev, ino;
    unsigned refs; /* tracked descriptors */
    int jfd, rfd;  /* the journal, a reader on the file: -1 until needed */
    char *path;    /* as opened, for messages */
};
static struct pc_inode *g_in;
static unsigned g_nin;

/* Inodes whose injected fsync failure dropped their unsynced pages: journals never emptied. */
#define PC_MAX_POISON 64
static struct pc_id { uint64_t dev, ino; } g_poison[PC_MAX_POISON];
static unsigned g_npoison;

enum { KIND_FSYNC, KIND_WRITE };
static uint64_t g_count[2], g_fail_at[2];

static bool g_active;
static char g_dir[PATH_MAX];     /* as given, made absolute */
static char g_real[PATH_MAX];    /* its realpath once it exists ("" until then) */
static char g_journal[PATH_MAX]; /* realpath of the journal directory */
static uint8_t *g_buf;           /* a record's bytes */
static size_t g_cap;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void lock(void) { pthread_mutex_lock(&g_mu); }
static void unlock(void) { pthread_mutex_unlock(&g_mu); }

static _Noreturn __attribute__((format(printf, 1, 2))) void die(const char *fmt, ...)
{
    char msg[PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The tool cannot vouch for anything after this: a loud end, not a wrong result. */
    dprintf(2, "powercut: %s\n", msg);
    abort();
}

static bool active(void) { return __atomic_load_n(&g_active, __ATOMIC_ACQUIRE); }

/* Whether fd needs the slow path: the shim is active and fd is tracked or its own. */
static bool marked(int fd)
{
    return active() && fd >= 0 && fd < PC_MAX_FD &&
           __atomic_load_n(&g_fd[fd].kind, __ATOMIC_ACQUIRE) != FD_NONE;
}

static void mark(int fd, unsigned char kind, unsigned ix)
{
    if (fd >= PC_MAX_FD)
        die("descriptor %d is beyond the shim's table (%d)", fd, PC_MAX_FD);
    g_fd[fd].ix = ix;
    __atomic_store_n(&g_fd[fd].kind, kind, __ATOMIC_RELEASE);
}

static void unmark(int fd) { __atomic_store_n(&g_fd[fd].kind, FD_NONE, __ATOMIC_RELEASE); }

static bool is_poisoned(uint64_t dev, uint64_t ino)
{
    for (unsigned i = 0; i < g_npoison; i++)
        if (g_poison[i].dev == dev && g_poison[i].ino == ino)
            return true;
    return false;
}

/* ---- inodes and the shim's own descriptors (all with g_mu held) -------------------------------- */

static void close_own(int *fd)
{
    if (*fd >= 0) {
        unmark(*fd);
        R.close(*fd);
        *fd = -1;
    }
}

static unsigned inode_get(uint64_t dev, uint64_t ino, const char *path)
{
    unsigned free_ix = g_nin;
    for (unsigned i = 0; i < g_nin; i++) {
        if (g_in[i].used && g_in[i].dev == dev && g_in[i].ino == ino)
            return i;
        if (!g_in[i].used && free_ix == g_nin)
            free_ix = i;
    }
    if (free_ix == g_nin) {
        unsigned n = g_nin ? g_nin * 2 : 16;
        struct pc_inode *p = realloc(g_in, n * sizeof *p);
        if (!p)
            die("out of memory");
        memset(p + g_nin, 0, (n - g_nin) * sizeof *p);
        g_in = p;
        g_nin = n;
    }
    struct pc_inode *in = &g_in[free_ix];
    *in = (struct pc_inode){ true, dev, ino, 0, -1, -1, strdup(path) };
    if (!in->path)
        die("out of memory");
    return free_ix;
}

static void inode_put(unsigned ix)
{
    struct pc_inode *in = &g_in[ix];
    if (--in->refs > 0)
        return;
    close_own(&in->jfd);
    close_own(&in->rfd);
    free(in->path);
    *in = (struct pc_inode){ .jfd = -1, .rfd = -1 };
}

/* fd is being closed (or replaced): a tracked one is no longer, one of the shim's is lost to it
 * (opened again when needed). */
static void forget(int fd)
{
    if (fd < 0 || fd >= PC_MAX_FD)
        return;
    unsigned char kind = g_fd[fd].kind;
    unsigned ix = g_fd[fd].ix;
    unmark(fd);
    if (kind == FD_TRACKED) {
        inode_put(ix);
    } else if (kind == FD_OWN) {
        if (g_in[ix].jfd == fd)
            g_in[ix].jfd = -1;
        if (g_in[ix].rfd == fd)
            g_in[ix].rfd = -1;
    }
}

static void track(int fd, unsigned ix)
{
    forget(fd); /* a stale entry: the descriptor was closed behind the shim's back */
    g_in[ix].refs++;
    mark(fd, FD_TRACKED, ix);
}

static int jfd_of(unsigned ix)
{
    struct pc_inode *in = &g_in[ix];
    if (in->jfd < 0) {
        char name[PC_NAME_MAX], path[PATH_MAX + PC_NAME_MAX];
        pc_name(name, in->dev, in->ino);
        snprintf(path, sizeof path, "%s/%s", g_journal, name);
        int fd = R.openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            die("cannot open the journal %s: %s", path, strerror(errno));
        mark(fd, FD_OWN, ix);
        in->jfd = fd;
    }
    return in->jfd;
}

/* A descriptor that can read the file (the program's may be write-only: LMDB's meta page one). */
static int rfd_of(unsigned ix, int fd)
{
    struct pc_inode *in = &g_in[ix];
    if (in->rfd < 0) {
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        int r = R.openat(AT_FDCWD, p, O_RDONLY | O_CLOEXEC);
        if (r < 0)
            die("cannot open %s (%s) for reading: %s", p, in->path, strerror(errno));
        mark(r, FD_OWN, ix);
        in->rfd = r;
    }
    return in->rfd;
}

/* ---- the critical section of a tracked call ------------------------------------------------- */

/* The journal's lock, against the other processes writing the file (with g_mu held). */
static void jlock(unsigned ix)
{
    int j = jfd_of(ix);
    while (flock(j, LOCK_EX) != 0)
        if (errno != EINTR)
            die("cannot lock the journal of %s: %s", g_in[ix].path, strerror(errno));
}

static void junlock(unsigned ix) { flock(g_in[ix].jfd, LOCK_UN); }

/* Takes the locks for fd when it is a tracked file's and fills *sb (read under them); returns
 * its inode's index, or -1 (nothing held: the call passes through). */
static int begin(int fd, struct stat *sb)
{
    if (!marked(fd))
        return -1;
    lock();
    if (g_fd[fd].kind != FD_TRACKED) {
        unlock();
        return -1;
    }
    int ix = (int)g_fd[fd].ix;
    jlock((unsigned)ix);
    if (fstat(fd, sb) != 0 || (uint64_t)sb->st_dev != g_in[ix].dev ||
        (uint64_t)sb->st_ino != g_in[ix].ino) {
        /* Closed and reused behind the shim's back (a raw syscall): not ours any more. */
        junlock((unsigned)ix);
        forget(fd);
        unlock();
        return -1;
    }
    return ix;
}

static void end(int ix)
{
    junlock((unsigned)ix);
    unlock();
}

/* Whether this call is the one to fail (counted per kind, tracked files only). */
static bool inject(int kind, const char *call, int ix)
{
    uint64_t n = ++g_count[kind];
    if (!g_fail_at[kind] || n != g_fail_at[kind])
        return false;
    g_fail_at[kind] = 0;
    dprintf(2, "powercut: injected EIO into %s of %s\n", call, g_in[ix].path);
    return true;
}

static void grow(size_t need)
{
    if (need <= g_cap)
        return;
    size_t cap = g_cap ? g_cap : 1u << 16;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(g_buf, cap);
    if (!p)
        die("out of memory (a record of %zu bytes)", need);
    g_buf = p;
    g_cap = cap;
}

static void read_full(int fd, uint8_t *p, size_t n, uint64_t off, const char *path)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("cannot read %s: %s", path, strerror(errno));
        if (r == 0) { /* the size was read under the lock: only a hole could, as zeros */
            memset(p, 0, n);
            return;
        }
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
}

static void put_full(int fd, const void *a, size_t alen, const void *b, size_t blen, uint64_t at,
                     const char *path)
{
    struct iovec v[2] = { { (void *)a, alen }, { (void *)b, blen } };
    int i = 0;
    while (i < 2) {
        if (v[i].iov_len == 0) {
            i++;
            continue;
        }
        ssize_t w = R.pwritev(fd, v + i, 2 - i, (off_t)at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("cannot write the journal of %s: %s", path, w < 0 ? strerror(errno) : "no room");
        at += (uint64_t)w;
        for (size_t left = (size_t)w; left > 0 && i < 2;) {
            size_t k = left < v[i].iov_len ? left : v[i].iov_len;
            v[i].iov_base = (uint8_t *)v[i].iov_base + k;
            v[i].iov_len -= k;
            left -= k;
            if (v[i].iov_len == 0)
                i++;
        }
    }
}

/* Appends a record to ix's journal; returns where it begins. PC_WRITE / PC_DURABLE: [off, off +
 * len) is about to be written with iov (kept in the record for PC_DURABLE); PC_SIZE: the size
 * goes from old_size to off. */
static uint64_t record(int ix, int fd, uint32_t kind, uint64_t off, uint64_t len, uint64_t old_size,
                       const struct iovec *iov, int cnt)
{
    struct pc_rec h = { PC_MAGIC, kind, off, len, old_size, 0, 0 };
    uint64_t span = kind == PC_SIZE ? (old_size > off ? old_size - off : 0) : len;
    h.saved = off < old_size ? (span < old_size - off ? span : old_size - off) : 0;
    size_t body = (size_t)h.saved + (kind == PC_DURABLE ? (size_t)len : 0);
    grow(body);
    read_full(rfd_of((unsigned)ix, fd), g_buf, (size_t)h.saved, off, g_in[ix].path);
    if (kind == PC_DURABLE) {
        uint8_t *p = g_buf + h.saved;
        for (int i = 0; i < cnt; i++) {
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
            p += iov[i].iov_len;
        }
    }
    struct stat js;
    int j = jfd_of((unsigned)ix);
    if (fstat(j, &js) != 0)
        die("cannot stat the journal of %s: %s", g_in[ix].path, strerror(errno));
    put_full(j, &h, sizeof h, g_buf, body, (uint64_t)js.st_size, g_in[ix].path);
    return (uint64_t)js.st_size;
}

/* ---- writes --------------------------------------------------------------------------------- */

enum wcall_how { W_WRITE, W_PWRITE, W_WRITEV, W_PWRITEV, W_PWRITEV2 };

struct wcall {
    enum wcall_how how;
    const char *name;
    int fd;
    const struct iovec *iov;
    int cnt;
    off_t off;
    int flags; /* pwritev2's */
};

static ssize_t real_write(const struct wcall *c)
{
    switch (c->how) {
    case W_WRITE: return R.write(c->fd, c->iov[0].iov_base, c->iov[0].iov_len);
    case W_PWRITE: return R.pwrite(c->fd, c->iov[0].iov_base, c->iov[0].iov_len, c->off);
    case W_WRITEV: return R.writev(c->fd, c->iov, c->cnt);
    case W_PWRITEV: return R.pwritev(c->fd, c->iov, c->cnt, c->off);
    case W_PWRITEV2: return R.pwritev2(c->fd, c->iov, c->cnt, c->off, c->flags);
    }
    return -1;
}

static ssize_t do_write(const struct wcall *c)
{
    struct stat sb;
    int ix = begin(c->fd, &sb);
    if (ix < 0)
        return real_write(c);
    if (inject(KIND_WRITE, c->name, ix)) {
        end(ix);
        errno = EIO;
        return -1;
    }
    uint64_t len = 0;
    for (int i = 0; i < c->cnt; i++)
        len += c->iov[i].iov_len;
    int fl = R.fcntl(c->fd, F_GETFL);
    bool positional = c->how == W_PWRITE || c->how == W_PWRITEV ||
                      (c->how == W_PWRITEV2 && c->off != -1);
    bool durable = (fl >= 0 && (fl & O_DSYNC)) ||
                   (c->how == W_PWRITEV2 && (c->flags & (RWF_DSYNC | RWF_SYNC)));
    uint64_t off;
    if ((fl >= 0 && (fl & O_APPEND)) || (c->how == W_PWRITEV2 && (c->flags & RWF_APPEND)))
        off = (uint64_t)sb.st_size; /* Linux appends even a pwrite on an O_APPEND descriptor */
    else if (positional)
        off = (uint64_t)c->off;
    else
        off = (uint64_t)lseek(c->fd, 0, SEEK_CUR);
    uint64_t at = 0;
    if (len > 0 && (positional || off != (uint64_t)-1))
        at = record(ix, c->fd, durable ? PC_DURABLE : PC_WRITE, off, len, (uint64_t)sb.st_size,
                    c->iov, c->cnt);
    ssize_t rc = real_write(c);
    int e = errno;
    if (len > 0 && durable && rc > 0) {
        uint64_t w = (uint64_t)rc;
        put_full(g_in[ix].jfd, &w, sizeof w, NULL, 0, at + offsetof(struct pc_rec, written),
                 g_in[ix].path);
    }
    end(ix);
    errno = e;
    return rc;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    resolve();
    if (!marked(fd))
        return R.write(fd, buf, n);
    struct iovec v = { (void *)buf, n };
    return do_write(&(struct wcall){ W_WRITE, "write", fd, &v, 1, 0, 0 });
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    resolve();
    if (!marked(fd))
        return R.pwrite(fd, buf, n, off);
    struct iovec v = { (void *)buf, n };
    return do_write(&(struct wcall){ W_PWRITE, "pwrite", fd, &v, 1, off, 0 });
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) { return pwrite(fd, buf, n, off); }

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    resolve();
    if (!marked(fd) || cnt < 0)
        return R.writev(fd, iov, cnt);
    return do_write(&(struct wcall){ W_WRITEV, "writev", fd, iov, cnt, 0, 0 });
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    resolve();
    if (!marked(fd) || cnt < 0)
        return R.pwritev(fd, iov, cnt, off);
    return do_write(&(struct wcall){ W_PWRITEV, "pwritev", fd, iov, cnt, off, 0 });
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    return pwritev(fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    resolve();
    if (!marked(fd) || cnt < 0)
        return R.pwritev2(fd, iov, cnt, off, flags);
    return do_write(&(struct wcall){ W_PWRITEV2, "pwritev2", fd, iov, cnt, off, flags });
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
    return pwritev2(fd, iov, cnt, off, flags);
}

/* ---- size changes --------------------------------------------------------------------------- */

int ftruncate(int fd, off_t len)
{
    resolve();
    struct stat sb;
    int ix = len < 0 ? -1 : begin(fd, &sb);
    if (ix < 0)
        return R.ftruncate(fd, len);
    if ((uint64_t)len != (uint64_t)sb.st_size)
        record(ix, fd, PC_SIZE, (uint64_t)len, 0, (uint64_t)sb.st_size, NULL, 0);
    int rc = R.ftruncate(fd, len);
    int e = errno;
    end(ix);
    errno = e;
    return rc;
}

int ftruncate64(int fd, off64_t len) { return ftruncate(fd, len); }

int fallocate(int fd, int mode, off_t off, off_t len)
{
    resolve();
    struct stat sb;
    int ix = off < 0 || len <= 0 ? -1 : begin(fd, &sb);
    if (ix < 0)
        return R.fallocate(fd, mode, off, len);
    uint64_t size = (uint64_t)sb.st_size, lo = (uint64_t)off, hi = lo + (uint64_t)len;
    bool keep = mode & FALLOC_FL_KEEP_SIZE;
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        /* The range reads as zeros afterwards: a write of zeros. */
        if (keep && hi > size)
            hi = size;
        if (hi > lo)
            record(ix, fd, PC_WRITE, lo, hi - lo, size, NULL, 0);
    } else if ((mode & ~FALLOC_FL_KEEP_SIZE) == 0) {
        if (!keep && hi > size)
            record(ix, fd, PC_SIZE, hi, 0, size, NULL, 0);
    } else {
        static bool warned;
        if (!warned)
            dprintf(2, "powercut: fallocate mode %#x on %s is not modelled (not undone)\n",
                    mode, g_in[ix].path);
        warned = true;
    }
    int rc = R.fallocate(fd, mode, off, len);
    int e = errno;
    end(ix);
    errno = e;
    return rc;
}

int fallocate64(int fd, int mode, off64_t off, off64_t len) { return fallocate(fd, mode, off, len); }

/* ---- syncs ---------------------------------------------------------------------------------- */

static int do_sync(int fd, int (*fn)(int), const char *name)
{
    struct stat sb;
    int ix = begin(fd, &sb);
    if (ix < 0)
        return fn(fd);
    if (inject(KIND_FSYNC, name, ix)) {
        if (g_npoison < PC_MAX_POISON && !is_poisoned(g_in[ix].dev, g_in[ix].ino))
            g_poison[g_npoison++] = (struct pc_id){ g_in[ix].dev, g_in[ix].ino };
        end(ix);
        errno = EIO;
        return -1;
    }
    int rc = fn(fd);
    int e = errno;
    if (rc == 0 && !is_poisoned(g_in[ix].dev, g_in[ix].ino) && R.ftruncate(g_in[ix].jfd, 0) != 0)
        die("cannot empty the journal of %s: %s", g_in[ix].path, strerror(errno));
    end(ix);
    errno = e;
    return rc;
}

int fsync(int fd)
{
    resolve();
    return do_sync(fd, R.fsync, "fsync");
}

int fdatasync(int fd)
{
    resolve();
    return do_sync(fd, R.fdatasync, "fdatasync");
}

/* sync() (all: true) or syncfs() of the file system dev: every journal of it is locked, the
 * call made, and those of files not poisoned emptied. */
static int sync_journals(bool all, uint64_t dev, int fd)
{
    lock();
    DIR *d = opendir(g_journal);
    int *fds = NULL;
    bool *clear = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        uint64_t jd, ji;
        if (!pc_parse_name(de->d_name, &jd, &ji) || (!all && jd != dev))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            fds = realloc(fds, cap * sizeof *fds);
            clear = realloc(clear, cap * sizeof *clear);
            if (!fds || !clear)
                die("out of memory");
        }
        int j = R.openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC);
        if (j < 0)
            continue; /* removed meanwhile: nothing to keep */
        while (flock(j, LOCK_EX) != 0)
            if (errno != EINTR)
                die("cannot lock the journal %s: %s", de->d_name, strerror(errno));
        fds[n] = j;
        clear[n++] = !is_poisoned(jd, ji);
    }
    if (d)
        closedir(d);
    int rc = 0;
    if (all)
        R.sync();
    else
        rc = R.syncfs(fd);
    int e = errno;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && clear[i] && R.ftruncate(fds[i], 0) != 0)
            die("cannot empty a journal: %s", strerror(errno));
        R.close(fds[i]); /* and its lock */
    }
    free(fds);
    free(clear);
    unlock();
    errno = e;
    return rc;
}

int syncfs(int fd)
{
    resolve();
    struct stat sb;
    if (!active() || fstat(fd, &sb) != 0)
        return R.syncfs(fd);
    return sync_journals(false, (uint64_t)sb.st_dev, fd);
}

void sync(void)
{
    resolve();
    if (!active()) {
        R.sync();
        return;
    }
    sync_journals(true, 0, -1);
}

/* ---- opening -------------------------------------------------------------------------------- */

static bool under_watched(const char *path)
{
    if (!g_real[0] && !realpath(g_dir, g_real)) {
        g_real[0] = '\0';
        return false; /* not there yet: nothing is under it */
    }
    size_t n = strlen(g_real);
    return strncmp(path, g_real, n) == 0 && path[n] == '/';
}

/* A descriptor just opened: tracked when it is a regular file under the watched directory.
 * truncate: it was opened for writing with O_TRUNC, which the shim took out, to record the
 * bytes the truncation drops first. */
static void opened(int fd, bool truncate)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return; /* O_TRUNC does nothing to other files */
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n > 0)
        path[n] = '\0';
    lock();
    bool tracked = n > 0 && under_watched(path);
    int ix = -1;
    if (tracked) {
        ix = (int)inode_get((uint64_t)sb.st_dev, (uint64_t)sb.st_ino, path);
        track(fd, (unsigned)ix);
    }
    if (truncate && sb.st_size > 0) {
        if (tracked) {
            jlock((unsigned)ix);
            if (fstat(fd, &sb) != 0)
                die("cannot stat %s: %s", path, strerror(errno));
            record(ix, fd, PC_SIZE, 0, 0, (uint64_t)sb.st_size, NULL, 0);
        }
        R.ftruncate(fd, 0);
        if (tracked)
            junlock((unsigned)ix);
    }
    unlock();
}

static bool takes_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

static int do_open(int dirfd, const char *path, int flags, mode_t mode)
{
    resolve();
    if (!active())
        return R.openat(dirfd, path, flags, mode);
    bool truncate = (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY;
    int fd = R.openat(dirfd, path, truncate ? flags & ~O_TRUNC : flags, mode);
    if (fd >= 0) {
        int e = errno;
        opened(fd, truncate);
        errno = e;
    }
    return fd;
}

#define MODE_ARG(flags, mode)                                                                      \
    mode_t mode = 0;                                                                               \
    if (takes_mode(flags)) {                                                                       \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode = va_arg(ap, mode_t);                                                                 \
        va_end(ap);                                                                                \
    }

int open(const char *path, int flags, ...)
{
    MODE_ARG(flags, mode);
    return do_open(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    MODE_ARG(flags, mode);
    return do_open(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags, mode);
    return do_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags, mode);
    return do_open(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode)
{
    return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode) { return creat(path, mode); }

/* The _FORTIFY_SOURCE entry points (flags without O_CREAT). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int __open_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
int __openat_2(int dirfd, const char *path, int flags) { return do_open(dirfd, path, flags, 0); }
int __openat64_2(int dirfd, const char *path, int flags) { return do_open(dirfd, path, flags, 0); }

/* ---- descriptors ---------------------------------------------------------------------------- */

int close(int fd)
{
    resolve();
    if (!marked(fd))
        return R.close(fd);
    lock();
    forget(fd);
    int rc = R.close(fd);
    int e = errno;
    unlock();
    errno = e;
    return rc;
}

int close_range(unsigned first, unsigned last, int flags)
{
    resolve();
    if (!active() || (flags & CLOSE_RANGE_CLOEXEC))
        return R.close_range(first, last, flags);
    lock();
    int rc = R.close_range(first, last, flags);
    int e = errno;
    if (rc == 0)
        for (unsigned fd = first; fd <= last && fd < PC_MAX_FD; fd++)
            if (g_fd[fd].kind != FD_NONE)
                forget((int)fd);
    unlock();
    errno = e;
    return rc;
}

/* newfd (now a copy of oldfd, whatever it was before) after a successful dup. */
static void duplicated(int oldfd, int newfd)
{
    if (oldfd == newfd)
        return;
    if (newfd >= 0 && newfd < PC_MAX_FD && g_fd[newfd].kind != FD_NONE)
        forget(newfd);
    if (oldfd >= 0 && oldfd < PC_MAX_FD && g_fd[oldfd].kind == FD_TRACKED)
        track(newfd, g_fd[oldfd].ix);
}

/* A call that copies a descriptor: dup, dup2, dup3, fcntl's F_DUPFD / F_DUPFD_CLOEXEC. */
enum dup_kind { DUP_DUP, DUP_DUP2, DUP_DUP3, DUP_FCNTL };
struct dup_call {
    enum dup_kind kind;
    int fd, newfd, flags, cmd;
    void *arg;
};

static int real_dup(const struct dup_call *c)
{
    switch (c->kind) {
    case DUP_DUP: return R.dup(c->fd);
    case DUP_DUP2: return R.dup2(c->fd, c->newfd);
    case DUP_DUP3: return R.dup3(c->fd, c->newfd, c->flags);
    default: return R.fcntl(c->fd, c->cmd, c->arg);
    }
}

/* Copies under the lock (no write can come between the copy and its tracking), then tracks
 * the copy as the original. */
static int do_dup(const struct dup_call *c)
{
    resolve();
    if (!active())
        return real_dup(c);
    lock();
    int rc = real_dup(c);
    int e = errno;
    if (rc >= 0)
        duplicated(c->fd, rc);
    unlock();
    errno = e;
    return rc;
}

int dup(int fd) { return do_dup(&(struct dup_call){ .kind = DUP_DUP, .fd = fd }); }

int dup2(int oldfd, int newfd)
{
    return do_dup(&(struct dup_call){ .kind = DUP_DUP2, .fd = oldfd, .newfd = newfd });
}

int dup3(int oldfd, int newfd, int flags)
{
    return do_dup(
        &(struct dup_call){ .kind = DUP_DUP3, .fd = oldfd, .newfd = newfd, .flags = flags });
}

static int do_fcntl(int fd, int cmd, void *arg)
{
    resolve();
    if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
        return R.fcntl(fd, cmd, arg);
    return do_dup(&(struct dup_call){ .kind = DUP_FCNTL, .fd = fd, .cmd = cmd, .arg = arg });
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}

/* ---- activation ----------------------------------------------------------------------------- */

static void fork_prepare(void) { lock(); }
static void fork_parent(void) { unlock(); }

/* The child's journal descriptors are the parent's open file descriptions, whose flock would
 * not keep the two apart: it opens its own when it next needs them. */
static void fork_child(void)
{
    for (unsigned i = 0; i < g_nin; i++)
        if (g_in[i].used)
            close_own(&g_in[i].jfd);
    g_fail_at[KIND_FSYNC] = g_fail_at[KIND_WRITE] = 0;
    g_count[KIND_FSYNC] = g_count[KIND_WRITE] = 0;
    unlock();
}

static int absolute(const char *path, char *out)
{
    if (path[0] == '/')
        return snprintf(out, PATH_MAX, "%s", path) < PATH_MAX ? 0 : -1;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    return snprintf(out, PATH_MAX, "%s/%s", cwd, path) < PATH_MAX ? 0 : -1;
}

static int mkdirs(const char *path)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int powercut_start(const char *dir, const char *journal)
{
    resolve();
    char d[PATH_MAX], j[PATH_MAX];
    if (!dir || !journal || absolute(dir, d) != 0 || absolute(journal, j) != 0) {
        errno = EINVAL;
        return -1;
    }
    lock();
    int rc = 0;
    if (active()) {
        if (strcmp(d, g_dir) != 0) {
            errno = EBUSY;
            rc = -1;
        }
    } else if (mkdirs(j) != 0 || !realpath(j, g_journal)) {
        rc = -1;
    } else {
        snprintf(g_dir, sizeof g_dir, "%s", d);
        if (!realpath(g_dir, g_real))
            g_real[0] = '\0';
        const char *base = g_real[0] ? g_real : g_dir;
        size_t n = strlen(base);
        if (strncmp(g_journal, base, n) == 0 && (g_journal[n] == '/' || g_journal[n] == '\0')) {
            errno = EINVAL; /* the journals would journal themselves */
            rc = -1;
        } else {
            static bool hooked;
            if (!hooked && pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
                rc = -1;
            hooked = true;
            if (rc == 0)
                __atomic_store_n(&g_active, true, __ATOMIC_RELEASE);
        }
    }
    unlock();
    return rc;
}

void powercut_fail_at(const char *kind, uint64_t n)
{
    int k = strcmp(kind, "fsync") == 0 ? KIND_FSYNC : strcmp(kind, "write") == 0 ? KIND_WRITE : -1;
    if (k < 0)
        die("powercut_fail_at: unknown kind \"%s\" (fsync or write)", kind);
    lock();
    g_fail_at[k] = n;
    unlock();
}

/* For apply.c, which must not run where the shim journals (its own writes would be). */
bool powercut_shim_active(void);
bool powercut_shim_active(void) { return active(); }

__attribute__((constructor)) static void load(void)
{
    resolve();
    const char *d = getenv("POWERCUT_DIR"), *j = getenv("POWERCUT_JOURNAL");
    const char *e = getenv("POWERCUT_EIO");
    if (!d || !*d || !j || !*j)
        return;
    if (powercut_start(d, j) != 0)
        die("cannot start (POWERCUT_DIR=%s POWERCUT_JOURNAL=%s): %s", d, j, strerror(errno));
    if (e && *e) {
        char kind[16];
        unsigned long long n;
        int used = 0;
        if (sscanf(e, "%15[a-z]:%llu%n", kind, &n, &used) != 2 || e[used] != '\0' || n == 0 ||
            (strcmp(kind, "fsync") != 0 && strcmp(kind, "write") != 0))
            die("POWERCUT_EIO=%s: expected fsync:N or write:N (N from 1)", e);
        powercut_fail_at(kind, n);
    }
}
