/* test/powercut: the power-cut tool on plain files. Each case's writer is a forked child that
 * starts the shim (powercut_start, linked in), writes, and is SIGKILLed (it kills itself: no exit
 * handler runs, as in a power cut); the parent cuts (powercut_apply) and compares every byte and
 * size with a model of the file at the cut and at its last sync. The fates forced (KEEP, LOSE,
 * TEAR) and drawn (MIXED, reproducible by seed); O_DSYNC and RWF_DSYNC writes kept; truncation,
 * extension, O_TRUNC and fallocate undone; a file renamed after its writes, one deleted; two
 * processes writing one file, one of them syncing it; the EIO injection for writes and fsyncs,
 * and the journal an injected fsync failure leaves for good; the preloaded library activated
 * by the environment (under /bin/sh); the CLI.
 *
 * Every case works in its own mkdtemp directory under /tmp, removed by an unchecked fixture. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../powercut/powercut.h"
#include "testdir.h"

#define PAGE 4096u
#define SECTOR 512u

/* ---- the per-test directory ------------------------------------------------------------------ */

static char g_dir[64];

static void dir_setup(void) { testdir_make(g_dir, sizeof g_dir, "test_powercut"); }
static void dir_teardown(void) { testdir_remove(g_dir); }

/* A data directory and its journal directory (made by the shim), under the test's. */
struct site {
    char data[128], journal[128];
};

static struct site site_new(const char *name)
{
    struct site s;
    char base[100];
    snprintf(base, sizeof base, "%s/%s", g_dir, name);
    ck_assert_int_eq(mkdir(base, 0755), 0);
    snprintf(s.data, sizeof s.data, "%s/data", base);
    snprintf(s.journal, sizeof s.journal, "%s/journal", base);
    ck_assert_int_eq(mkdir(s.data, 0755), 0);
    return s;
}

static const char *in(const char *dir, const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* ---- the writer: a forked child under the shim ----------------------------------------------- */

typedef void (*writer_fn)(const struct site *s, void *arg);

static _Noreturn void writer_failed(const char *what)
{
    dprintf(2, "writer: %s: %s\n", what, strerror(errno));
    _exit(91);
}

#define NEED(cond, what)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            writer_failed(what);                                                                   \
    } while (0)

/* Runs fn in a child that started the shim, then SIGKILLs itself. */
static void run_writer(const struct site *s, writer_fn fn, void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test (e.g. on its timeout) */
        NEED(powercut_start(s->data, s->journal) == 0, "powercut_start");
        fn(s, arg);
        raise(SIGKILL);
        _exit(92);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "the writer failed (status %d; its message is above)", status);
}

static void put(int fd, const void *p, size_t n, off_t off)
{
    NEED(pwrite(fd, p, n, off) == (ssize_t)n, "pwrite");
}

/* ---- file models ----------------------------------------------------------------------------- */

/* Recognisable bytes: a function of the tag and the file offset. */
static void pat(uint8_t *p, size_t n, unsigned tag, size_t off)
{
    for (size_t i = 0; i < n; i++) {
        size_t o = off + i;
        p[i] = (uint8_t)(o * 31u + tag * 101u + (o >> 9) * 7u + 1u);
    }
}

/* The bytes a pattern write puts at off. */
static void put_pat(int fd, unsigned tag, size_t off, size_t n)
{
    uint8_t *p = malloc(n);
    pat(p, n, tag, off);
    put(fd, p, n, (off_t)off);
    free(p);
}

#define IMG_MAX (64u * PAGE)
struct img {
    uint8_t b[IMG_MAX];
    size_t len;
};

static void img_pat(struct img *m, unsigned tag, size_t off, size_t n)
{
    ck_assert_uint_le(off + n, IMG_MAX);
    if (off > m->len)
        memset(m->b + m->len, 0, off - m->len);
    pat(m->b + off, n, tag, off);
    if (off + n > m->len)
        m->len = off + n;
}

static void img_size(struct img *m, size_t len)
{
    if (len > m->len)
        memset(m->b + m->len, 0, len - m->len);
    m->len = len;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    *len = (size_t)sb.st_size;
    uint8_t *p = malloc(*len + 1);
    ck_assert_int_eq(pread(fd, p, *len, 0), (ssize_t)*len);
    close(fd);
    return p;
}

static void expect_file(const char *path, const struct img *m)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    ck_assert_msg(len == m->len, "%s: %zu bytes, expected %zu", path, len, m->len);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(p[i] == m->b[i], "%s: byte %zu is %u, expected %u", path, i, p[i],
                      m->b[i]);
    free(p);
}

static struct powercut_stats cut(const struct site *s, enum powercut_mode mode, uint64_t seed)
{
    struct powercut_stats st;
    char err[512];
    ck_assert_msg(powercut_apply(s->data, s->journal, seed, mode, &st, err, sizeof err) == 0,
                  "powercut_apply: %s", err);
    return st;
}

static void expect_stats(const struct powercut_stats *st, unsigned files, unsigned missing,
                         uint64_t pages, uint64_t kept, uint64_t lost, uint64_t torn)
{
    ck_assert_msg(st->files == files && st->missing == missing && st->pages == pages &&
                      st->kept == kept && st->lost == lost && st->torn == torn,
                  "stats: %u files, %u missing, %llu pages: %llu kept, %llu lost, %llu torn; "
                  "expected %u, %u, %llu: %llu, %llu, %llu",
                  st->files, st->missing, (unsigned long long)st->pages,
                  (unsigned long long)st->kept, (unsigned long long)st->lost,
                  (unsigned long long)st->torn, files, missing, (unsigned long long)pages,
                  (unsigned long long)kept, (unsigned long long)lost, (unsigned long long)torn);
}

static size_t journals(const struct site *s)
{
    size_t n = 0;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls -A %s 2>/dev/null | wc -l", s->journal);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%zu", &n), 1);
    pclose(f);
    return n;
}

/* ---- 1. the fates ------------------------------------------------------------------------------
 *
 * f: pattern 1 over 10 pages + 100 bytes, fsynced; then pattern 2 over pages 1-2, over bytes
 * 700-1900 of page 5 (sectors 1-3), and from 50 bytes before the end to 10 bytes into page 12
 * (through write() after lseek: pages 10-12, the file extended). Touched: pages 1, 2, 5, 10,
 * 11, 12. An untracked file beside the data directory is written too. */
#define F_SYNCED (10 * PAGE + 100)
#define F_EXT_AT (F_SYNCED - 50)
#define F_END (12 * PAGE + 10)

static void fates_writer(const struct site *s, void *arg)
{
    (void)arg;
    int fd = open(in(s->data, "f"), O_RDWR | O_CREAT, 0644);
    NEED(fd >= 0, "open");
    put_pat(fd, 1, 0, F_SYNCED);
    NEED(fsync(fd) == 0, "fsync");
    put_pat(fd, 2, PAGE, 2 * PAGE);
    put_pat(fd, 2, 5 * PAGE + 700, 1200);
    uint8_t *p = malloc(F_END - F_EXT_AT);
    pat(p, F_END - F_EXT_AT, 2, F_EXT_AT);
    NEED(lseek(fd, F_EXT_AT, SEEK_SET) == F_EXT_AT, "lseek");
    NEED(write(fd, p, F_END - F_EXT_AT) == (ssize_t)(F_END - F_EXT_AT), "write");
    free(p);
    int out = open(in(s->data, "../outside"), O_RDWR | O_CREAT, 0644);
    NEED(out >= 0, "open outside");
    put_pat(out, 3, 0, 3 * PAGE);
}

static void fates_models(struct img *synced, struct img *now)
{
    synced->len = now->len = 0;
    img_pat(synced, 1, 0, F_SYNCED);
    *now = *synced;
    img_pat(now, 2, PAGE, 2 * PAGE);
    img_pat(now, 2, 5 * PAGE + 700, 1200);
    img_pat(now, 2, F_EXT_AT, F_END - F_EXT_AT);
}

static const uint64_t fate_pages[] = { 1, 2, 5, 10, 11, 12 };

static struct img g_synced, g_now, g_tmp;

START_TEST(test_keep_lose)
{
    fates_models(&g_synced, &g_now);
    struct site k = site_new("keep"), l = site_new("lose");
    run_writer(&k, fates_writer, NULL);
    run_writer(&l, fates_writer, NULL);
    ck_assert_uint_eq(journals(&k), 1); /* f's only: the file outside is not tracked */
    struct powercut_stats st = cut(&k, POWERCUT_KEEP, 1);
    expect_stats(&st, 1, 0, 6, 6, 0, 0);
    expect_file(in(k.data, "f"), &g_now);
    ck_assert_uint_eq(journals(&k), 0);
    st = cut(&l, POWERCUT_LOSE, 1);
    expect_stats(&st, 1, 0, 6, 0, 6, 0);
    expect_file(in(l.data, "f"), &g_synced);
    struct img outside = { .len = 0 };
    img_pat(&outside, 3, 0, 3 * PAGE);
    expect_file(in(l.data, "../outside"), &outside);
    /* A second cut finds nothing left to undo. */
    st = cut(&l, POWERCUT_LOSE, 1);
    expect_stats(&st, 0, 0, 0, 0, 0, 0);
    expect_file(in(l.data, "f"), &g_synced);
}
END_TEST

/* Each sector of the file is the synced model's or the current one's (beyond the synced size:
 * zeros or the current bytes); counts the sectors where the two differ and which one was
 * taken. Pages not touched are the current ones. */
static void sectors_from_either(const char *path, size_t len_expected, unsigned *from_synced,
                                unsigned *from_now)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    ck_assert_uint_eq(len, len_expected);
    g_tmp = g_synced;
    img_size(&g_tmp, g_now.len); /* the synced bytes, zeros beyond */
    for (size_t at = 0; at < len; at += SECTOR) {
        size_t n = len - at < SECTOR ? len - at : SECTOR;
        bool is_now = memcmp(p + at, g_now.b + at, n) == 0;
        bool is_synced = memcmp(p + at, g_tmp.b + at, n) == 0;
        ck_assert_msg(is_now || is_synced, "%s: sector at %zu is neither version", path, at);
        if (memcmp(g_now.b + at, g_tmp.b + at, n) != 0) {
            *from_now += is_now;
            *from_synced += is_synced;
        }
    }
    free(p);
}

START_TEST(test_tear)
{
    fates_models(&g_synced, &g_now);
    struct site t = site_new("tear");
    run_writer(&t, fates_writer, NULL);
    struct powercut_stats st = cut(&t, POWERCUT_TEAR, 7);
    expect_stats(&st, 1, 0, 6, 0, 0, 6);
    unsigned old = 0, cur = 0;
    sectors_from_either(in(t.data, "f"), F_END, &old, &cur); /* torn is not lost: size kept */
    printf("test_tear: of %u sectors that differ, %u torn back, %u kept\n", old + cur, old, cur);
    ck_assert_uint_gt(old, 0);
    ck_assert_uint_gt(cur, 0);
}
END_TEST

/* MIXED: every page whole from one version or torn, the counts adding up, the size back only
 * when pages 10-12 are all lost; the same seed gives the same bytes, and MIXED_SEEDS seeds give
 * every fate and both sizes. */
#define MIXED_SEEDS 100
START_TEST(test_mixed)
{
    fates_models(&g_synced, &g_now);
    unsigned sizes_back = 0, sizes_kept = 0;
    uint64_t kept = 0, lost = 0, torn = 0;
    for (uint64_t seed = 1; seed <= MIXED_SEEDS; seed++) {
        char name[32];
        snprintf(name, sizeof name, "mixed%llu", (unsigned long long)seed);
        struct site a = site_new(name);
        strcat(name, "b");
        struct site b = site_new(name);
        run_writer(&a, fates_writer, NULL);
        run_writer(&b, fates_writer, NULL);
        struct powercut_stats sa = cut(&a, POWERCUT_MIXED, seed);
        struct powercut_stats sb = cut(&b, POWERCUT_MIXED, seed);
        ck_assert_uint_eq(sa.pages, 6);
        ck_assert_uint_eq(sa.kept + sa.lost + sa.torn, 6);
        ck_assert(sa.kept == sb.kept && sa.lost == sb.lost && sa.torn == sb.torn);
        size_t la, lb;
        uint8_t *pa = slurp(in(a.data, "f"), &la), *pb = slurp(in(b.data, "f"), &lb);
        ck_assert_msg(la == lb && memcmp(pa, pb, la) == 0, "seed %llu: two cuts differ",
                      (unsigned long long)seed);
        ck_assert_msg(la == F_END || la == F_SYNCED, "seed %llu: size %zu",
                      (unsigned long long)seed, la);
        /* Kept pages are whole from the model at the cut, lost ones from the one at the sync
         * (a page beyond the size counts as either); every sector is from one of the two. */
        unsigned whole_now = 0, whole_synced = 0;
        g_tmp = g_synced;
        img_size(&g_tmp, g_now.len);
        for (size_t i = 0; i < sizeof fate_pages / sizeof fate_pages[0]; i++) {
            size_t at = fate_pages[i] * PAGE, n = at >= la ? 0 : la - at < PAGE ? la - at : PAGE;
            whole_now += n == 0 || memcmp(pa + at, g_now.b + at, n) == 0;
            whole_synced += n == 0 || memcmp(pa + at, g_tmp.b + at, n) == 0;
        }
        ck_assert_uint_ge(whole_now, sa.kept);
        ck_assert_uint_ge(whole_synced, sa.lost);
        if (la == F_SYNCED) {
            ck_assert_uint_ge(sa.lost, 3); /* pages 10, 11 and 12 */
            sizes_back++;
        } else {
            sizes_kept++;
        }
        unsigned o = 0, c = 0;
        sectors_from_either(in(a.data, "f"), la, &o, &c);
        free(pa);
        free(pb);
        kept += sa.kept, lost += sa.lost, torn += sa.torn;
    }
    printf("test_mixed: %d seeds: %llu pages kept, %llu lost, %llu torn; size back %u times\n",
           MIXED_SEEDS, (unsigned long long)kept, (unsigned long long)lost,
           (unsigned long long)torn, sizes_back);
    ck_assert(kept > 0 && lost > 0 && torn > 0);
    ck_assert_uint_gt(sizes_kept, 0);
    ck_assert_uint_gt(sizes_back, 0); /* the fates are the seeds': this holds or never does */
}
END_TEST

/* ---- 2. durable writes ------------------------------------------------------------------------
 *
 * g: pattern 1 over 3 pages, fsynced. Unsynced: pattern 2 over page 0. Durable (a second
 * descriptor with O_DSYNC): pattern 3 over bytes 100-300 (inside the unsynced write) and 8202-
 * 8212 (page 2); pwritev2 with RWF_DSYNC on the plain descriptor: pattern 4 over 4101-4146.
 * Unsynced again: pattern 5 over 9192-9292 (page 2). Lost: each durable write stays, the rest
 * is pattern 1. Touched: pages 0 and 2 (the durable writes touch none). */
static void durable_writer(const struct site *s, void *arg)
{
    (void)arg;
    int fd = open(in(s->data, "g"), O_RDWR | O_CREAT, 0644);
    NEED(fd >= 0, "open");
    put_pat(fd, 1, 0, 3 * PAGE);
    NEED(fdatasync(fd) == 0, "fdatasync");
    put_pat(fd, 2, 0, PAGE);
    int ds = open(in(s->data, "g"), O_WRONLY | O_DSYNC);
    NEED(ds >= 0, "open O_DSYNC");
    put_pat(ds, 3, 100, 200);
    put_pat(ds, 3, 8202, 10);
    uint8_t b[45];
    pat(b, sizeof b, 4, 4101);
    struct iovec v[2] = { { b, 20 }, { b + 20, 25 } };
    NEED(pwritev2(fd, v, 2, 4101, RWF_DSYNC) == 45, "pwritev2");
    put_pat(fd, 5, 9192, 100);
}

START_TEST(test_durable_writes_kept)
{
    struct site l = site_new("lose"), k = site_new("keep");
    run_writer(&l, durable_writer, NULL);
    run_writer(&k, durable_writer, NULL);
    struct powercut_stats st = cut(&l, POWERCUT_LOSE, 3);
    expect_stats(&st, 1, 0, 2, 0, 2, 0);
    struct img m = { .len = 0 };
    img_pat(&m, 1, 0, 3 * PAGE);
    img_pat(&m, 3, 100, 200);
    img_pat(&m, 3, 8202, 10);
    img_pat(&m, 4, 4101, 45);
    expect_file(in(l.data, "g"), &m);
    st = cut(&k, POWERCUT_KEEP, 3);
    expect_stats(&st, 1, 0, 2, 2, 0, 0);
    m.len = 0;
    img_pat(&m, 1, 0, 3 * PAGE);
    img_pat(&m, 2, 0, PAGE);
    img_pat(&m, 3, 100, 200);
    img_pat(&m, 3, 8202, 10);
    img_pat(&m, 4, 4101, 45);
    img_pat(&m, 5, 9192, 100);
    expect_file(in(k.data, "g"), &m);
}
END_TEST

/* ---- 3. size changes --------------------------------------------------------------------------
 *
 * Each file synced, then: t1 truncated from 3 pages + 123 to 5000 bytes; t2 extended by
 * ftruncate from 2 pages to 5; t3 recreated by creat() (O_TRUNC) and 100 bytes written; t4
 * extended by fallocate from 1 page to 3; t5 opened with O_TRUNC and written past its old end. */
static void sizes_writer(const struct site *s, void *arg)
{
    (void)arg;
    static const struct { const char *name; size_t len; } f[] = {
        { "t1", 3 * PAGE + 123 }, { "t2", 2 * PAGE }, { "t3", 2 * PAGE }, { "t4", PAGE },
        { "t5", 1000 },
    };
    int fd[5];
    for (int i = 0; i < 5; i++) {
        fd[i] = open(in(s->data, f[i].name), O_RDWR | O_CREAT, 0644);
        NEED(fd[i] >= 0, "open");
        put_pat(fd[i], 1, 0, f[i].len);
        NEED(fsync(fd[i]) == 0, "fsync");
    }
    NEED(ftruncate(fd[0], 5000) == 0, "ftruncate t1");
    NEED(ftruncate(fd[1], 5 * PAGE) == 0, "ftruncate t2");
    int c = creat(in(s->data, "t3"), 0644);
    NEED(c >= 0, "creat");
    put_pat(c, 2, 0, 100);
    NEED(fallocate(fd[3], 0, 0, 3 * PAGE) == 0, "fallocate");
    int t = open(in(s->data, "t5"), O_WRONLY | O_TRUNC);
    NEED(t >= 0, "open O_TRUNC");
    put_pat(t, 2, 0, 1500);
}

START_TEST(test_sizes_undone)
{
    struct site l = site_new("lose"), k = site_new("keep");
    run_writer(&l, sizes_writer, NULL);
    run_writer(&k, sizes_writer, NULL);
    struct powercut_stats st = cut(&l, POWERCUT_LOSE, 5);
    /* Pages: t1 1-3 (cut off), t2 2-4 (extended), t3 0-1, t4 1-2, t5 0. */
    expect_stats(&st, 5, 0, 11, 0, 11, 0);
    struct img m = { .len = 0 };
    img_pat(&m, 1, 0, 3 * PAGE + 123);
    expect_file(in(l.data, "t1"), &m);
    m.len = 0;
    img_pat(&m, 1, 0, 2 * PAGE);
    expect_file(in(l.data, "t2"), &m);
    expect_file(in(l.data, "t3"), &m);
    m.len = 0;
    img_pat(&m, 1, 0, PAGE);
    expect_file(in(l.data, "t4"), &m);
    m.len = 0;
    img_pat(&m, 1, 0, 1000);
    expect_file(in(l.data, "t5"), &m);

    st = cut(&k, POWERCUT_KEEP, 5);
    expect_stats(&st, 5, 0, 11, 11, 0, 0);
    m.len = 0;
    img_pat(&m, 1, 0, 5000);
    expect_file(in(k.data, "t1"), &m);
    m.len = 0;
    img_pat(&m, 1, 0, 2 * PAGE);
    img_size(&m, 5 * PAGE);
    expect_file(in(k.data, "t2"), &m);
    m.len = 0;
    img_pat(&m, 2, 0, 100);
    expect_file(in(k.data, "t3"), &m);
    m.len = 0;
    img_pat(&m, 1, 0, PAGE);
    img_size(&m, 3 * PAGE);
    expect_file(in(k.data, "t4"), &m);
    m.len = 0;
    img_pat(&m, 2, 0, 1500);
    expect_file(in(k.data, "t5"), &m);
}
END_TEST

/* ---- 4. a file renamed after its writes, one deleted ----------------------------------------- */

static void rename_writer(const struct site *s, void *arg)
{
    (void)arg;
    int fd = open(in(s->data, "a"), O_RDWR | O_CREAT, 0644);
    NEED(fd >= 0, "open");
    put_pat(fd, 1, 0, 2 * PAGE);
    NEED(fsync(fd) == 0, "fsync");
    put_pat(fd, 2, 100, PAGE);
    NEED(mkdir(in(s->data, "sub"), 0755) == 0, "mkdir");
    NEED(rename(in(s->data, "a"), in(s->data, "sub/b")) == 0, "rename");
    put_pat(fd, 2, 3 * PAGE, 10); /* after the rename too */
    int g = open(in(s->data, "gone"), O_RDWR | O_CREAT, 0644);
    NEED(g >= 0, "open gone");
    put_pat(g, 1, 0, 100);
    NEED(unlink(in(s->data, "gone")) == 0, "unlink");
}

START_TEST(test_renamed_and_deleted)
{
    struct site l = site_new("lose");
    run_writer(&l, rename_writer, NULL);
    struct powercut_stats st = cut(&l, POWERCUT_LOSE, 9);
    expect_stats(&st, 1, 1, 3, 0, 3, 0);
    struct img m = { .len = 0 };
    img_pat(&m, 1, 0, 2 * PAGE);
    expect_file(in(l.data, "sub/b"), &m);
    ck_assert_uint_eq(journals(&l), 0);
}
END_TEST

/* ---- 5. two processes writing one file ------------------------------------------------------
 *
 * The writer and its forked child share h (pattern 1 over 4 pages, synced): the writer writes
 * page 0, the child page 1 and fsyncs (through its own descriptor: both writes are durable, the
 * inode's), the writer page 2, the child page 3; then both write 2,000 random 100-byte pieces at
 * once. Lost: pages 0 and 1 as written before the fsync, the rest pattern 1, whatever order the
 * records of the two processes came in. */
static void signal_to(int fd)
{
    NEED(write(fd, "s", 1) == 1, "pipe write");
}

static void wait_on(int fd)
{
    char c;
    NEED(read(fd, &c, 1) == 1, "pipe read");
}

static void scribble(int fd, unsigned tag, unsigned seed)
{
    uint8_t b[100];
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t off = (seed >> 8) % (4 * PAGE - sizeof b);
        pat(b, sizeof b, tag + (unsigned)i, off);
        put(fd, b, sizeof b, (off_t)off);
    }
}

static void shared_writer(const struct site *s, void *arg)
{
    (void)arg;
    int fd = open(in(s->data, "h"), O_RDWR | O_CREAT, 0644);
    NEED(fd >= 0, "open");
    put_pat(fd, 1, 0, 4 * PAGE);
    NEED(fsync(fd) == 0, "fsync");
    int to_child[2], to_parent[2];
    NEED(pipe(to_child) == 0 && pipe(to_parent) == 0, "pipe");
    pid_t pid = fork();
    NEED(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int own = open(in(s->data, "h"), O_RDWR);
        NEED(own >= 0, "open in the child");
        wait_on(to_child[0]);
        put_pat(fd, 2, PAGE, PAGE);
        NEED(fsync(own) == 0, "fsync in the child");
        signal_to(to_parent[1]);
        wait_on(to_child[0]);
        put_pat(own, 2, 3 * PAGE, PAGE);
        signal_to(to_parent[1]);
        scribble(own, 10, 77);
        _exit(0);
    }
    put_pat(fd, 2, 0, PAGE);
    signal_to(to_child[1]);
    wait_on(to_parent[0]);
    put_pat(fd, 2, 2 * PAGE, PAGE);
    signal_to(to_child[1]);
    wait_on(to_parent[0]);
    scribble(fd, 20, 99);
    int status;
    NEED(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
         "the child writer");
}

START_TEST(test_two_processes)
{
    struct site l = site_new("lose");
    run_writer(&l, shared_writer, NULL);
    struct powercut_stats st = cut(&l, POWERCUT_LOSE, 11);
    ck_assert_uint_eq(st.files, 1);
    ck_assert_uint_eq(st.pages, 4);
    struct img m = { .len = 0 };
    img_pat(&m, 1, 0, 4 * PAGE);
    img_pat(&m, 2, 0, 2 * PAGE);
    expect_file(in(l.data, "h"), &m);
}
END_TEST

/* ---- 6. injected EIO -------------------------------------------------------------------------- */

/* The child's stderr goes to `err` beside the data directory, read back by the parent. */
static void stderr_to(const struct site *s)
{
    int e = open(in(s->data, "../err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    NEED(e >= 0 && dup2(e, 2) == 2, "stderr");
    close(e);
}

static char *read_err(const struct site *s)
{
    size_t len;
    uint8_t *p = slurp(in(s->data, "../err"), &len);
    p[len] = '\0';
    return (char *)p;
}

/* The second write to a tracked file fails (the one outside does not count), and does nothing. */
static void eio_write_writer(const struct site *s, void *arg)
{
    (void)arg;
    stderr_to(s);
    powercut_fail_at("write", 2);
    int out = open(in(s->data, "../outside"), O_RDWR | O_CREAT, 0644);
    NEED(out >= 0, "open outside");
    put_pat(out, 1, 0, 10);
    int fd = open(in(s->data, "w"), O_RDWR | O_CREAT, 0644);
    NEED(fd >= 0, "open");
    put_pat(fd, 1, 0, 100);
    uint8_t b[100];
    pat(b, sizeof b, 2, 50);
    errno = 0;
    NEED(pwrite(fd, b, sizeof b, 50) == -1 && errno == EIO, "the second write fails with EIO");
    put_pat(fd, 3, 200, 100);
    NEED(fsync(fd) == 0, "fsync");
}

START_TEST(test_eio_write)
{
    struct site s = site_new("w");
    run_writer(&s, eio_write_writer, NULL);
    struct powercut_stats st = cut(&s, POWERCUT_LOSE, 1);
    expect_stats(&st, 0, 0, 0, 0, 0, 0);
    struct img m = { .len = 0 };
    img_pat(&m, 1, 0, 100);
    img_pat(&m, 3, 200, 100);
    expect_file(in(s.data, "w"), &m);
    char *err = read_err(&s), want[300];
    snprintf(want, sizeof want, "powercut: injected EIO into pwrite of %s\n", in(s.data, "w"));
    ck_assert_str_eq(err, want);
    free(err);
}
END_TEST

/* fsync: the first fails; the program retries (it succeeds), writes more, syncs again: all of
 * it is lost at the cut (poisoned: the failed fsync dropped the pages). poison 0: the control,
 * no failure armed: everything kept. */
static void eio_fsync_writer(const struct site *s, void *arg)
{
    bool poison = *(const bool *)arg;
    stderr_to(s);
    if (poison)
        powercut_fail_at("fsync", 1);
    int fd = open(in(s->data, "y"), O_RDWR | O_CREAT, 0644);
    NEED(fd >= 0, "open");
    put_pat(fd, 1, 0, 2 * PAGE);
    errno = 0;
    int rc = fdatasync(fd);
    NEED(poison ? rc == -1 && errno == EIO : rc == 0, "the first fdatasync");
    NEED(fdatasync(fd) == 0, "the retried fdatasync");
    put_pat(fd, 2, PAGE, 2 * PAGE);
    NEED(fsync(fd) == 0, "fsync");
}

START_TEST(test_eio_fsync_poisons)
{
    bool poison = true, control = false;
    struct site p = site_new("poisoned"), c = site_new("control");
    run_writer(&p, eio_fsync_writer, &poison);
    run_writer(&c, eio_fsync_writer, &control);
    struct powercut_stats st = cut(&p, POWERCUT_LOSE, 1);
    expect_stats(&st, 1, 0, 3, 0, 3, 0);
    struct img m = { .len = 0 };
    expect_file(in(p.data, "y"), &m); /* created empty: that much was durable (not modelled) */
    char *err = read_err(&p), want[300];
    snprintf(want, sizeof want, "powercut: injected EIO into fdatasync of %s\n", in(p.data, "y"));
    ck_assert_str_eq(err, want);
    free(err);
    st = cut(&c, POWERCUT_LOSE, 1);
    expect_stats(&st, 0, 0, 0, 0, 0, 0);
    img_pat(&m, 1, 0, 2 * PAGE);
    img_pat(&m, 2, PAGE, 2 * PAGE);
    expect_file(in(c.data, "y"), &m);
    err = read_err(&c);
    ck_assert_str_eq(err, "");
    free(err);
}
END_TEST

/* ---- 7. the preloaded library and the CLI ---------------------------------------------------- */

static const char *built(const char *name)
{
    static char buf[2][256];
    static int next;
    const char *mode = getenv("MODE");
    char *p = buf[next++ % 2];
    snprintf(p, sizeof buf[0], "build/%s/test/%s", mode && *mode ? mode : "release", name);
    ck_assert_msg(access(p, X_OK) == 0 || access(p, R_OK) == 0, "%s: %s (run from the top of "
                  "the tree)", p, strerror(errno));
    return p;
}

/* Runs cmd, returns its exit status and its first line of output. */
static int run(const char *cmd, char *line, size_t len)
{
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    line[0] = '\0';
    if (!fgets(line, (int)len, f))
        line[0] = '\0';
    char rest[256];
    while (fgets(rest, sizeof rest, f))
        ;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* /bin/sh with the library preloaded and POWERCUT_* set: its redirection (O_TRUNC) and
 * printf's write are journaled, /bin/sync's sync() empties every journal, and the append
 * after it (O_APPEND) is what a cut loses. */
START_TEST(test_preload_and_cli)
{
    char lib[300], cmd[2048], line[256];
    ck_assert_ptr_nonnull(realpath(built("libpowercut.so"), lib));
    const char *cli = built("powercut");
    struct site s = site_new("sh");
    snprintf(cmd, sizeof cmd,
             "cd %s && LD_PRELOAD=%s POWERCUT_DIR=. POWERCUT_JOURNAL=../journal "
             "sh -c 'printf AAAA > f && sync && printf BB >> f && printf CC > g' 2>&1",
             s.data, lib);
    ck_assert_int_eq(run(cmd, line, sizeof line), 0);
    ck_assert_str_eq(line, "");
    ck_assert_uint_eq(journals(&s), 2);
    snprintf(cmd, sizeof cmd, "%s cut --dir %s --journal %s --seed 5 --mode lose", cli, s.data,
             s.journal);
    ck_assert_int_eq(run(cmd, line, sizeof line), 0);
    ck_assert_str_eq(line, "powercut: 2 files, 2 unsynced pages: 0 kept, 2 lost, 0 torn\n");
    struct img m = { .len = 4 };
    memcpy(m.b, "AAAA", 4);
    expect_file(in(s.data, "f"), &m);
    m.len = 0;
    expect_file(in(s.data, "g"), &m);
    snprintf(cmd, sizeof cmd, "%s cut --dir %s --journal %s --seed 5", cli, s.data, s.journal);
    ck_assert_int_eq(run(cmd, line, sizeof line), 0);
    ck_assert_str_eq(line, "powercut: 0 files, 0 unsynced pages: 0 kept, 0 lost, 0 torn\n");
    snprintf(cmd, sizeof cmd, "%s cut --dir %s --seed 5 2>&1", cli, s.data);
    ck_assert_int_eq(run(cmd, line, sizeof line), 2);
    snprintf(cmd, sizeof cmd, "%s cut --dir %s --journal %s/none --seed 5 2>&1", cli, s.data,
             s.journal);
    ck_assert_int_eq(run(cmd, line, sizeof line), 1);
    ck_assert_msg(strstr(line, "was the shim active?"), "%s", line);
    /* A bad POWERCUT_EIO stops the program at load, loudly. */
    snprintf(cmd, sizeof cmd,
             "cd %s && LD_PRELOAD=%s POWERCUT_DIR=. POWERCUT_JOURNAL=../journal "
             "POWERCUT_EIO=fsync:x sh -c 'exit 0' 2>&1", s.data, lib);
    ck_assert_int_ne(run(cmd, line, sizeof line), 0);
    ck_assert_msg(strstr(line, "POWERCUT_EIO=fsync:x"), "%s", line);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("powercut");
    struct { const char *name; const TTest *test; } tests[] = {
        { "keep_lose", test_keep_lose },
        { "tear", test_tear },
        { "mixed", test_mixed },
        { "durable_writes_kept", test_durable_writes_kept },
        { "sizes_undone", test_sizes_undone },
        { "renamed_and_deleted", test_renamed_and_deleted },
        { "two_processes", test_two_processes },
        { "eio_write", test_eio_write },
        { "eio_fsync_poisons", test_eio_fsync_poisons },
        { "preload_and_cli", test_preload_and_cli },
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, tests[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
