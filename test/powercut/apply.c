/* The cut (powercut.h): for each journal (journal.h), the file it belongs to is found by inode in
 * the data directory, and every 4 KiB page its records touched is given a fate by the seed:
 * kept (as the writers left it), lost (as it was at the file's last sync: every unsynced write
 * undone, newest first, then every durable write made again, oldest first, so that a durable
 * write is never undone), or torn (each 512-byte sector from one of the two). The pages are
 * rewritten where they differ, the size set, the journal removed.
 *
 * A page's lost content: undoing in reverse order leaves each byte as it was before the first
 * unsynced write to it, i.e. as the last durable write before that left it, or as the last
 * sync did; making the durable writes again then gives each byte the last durable write's value
 * where there was one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "journal.h"
#include "powercut.h"

bool powercut_shim_active(void) __attribute__((weak)); /* shim.c, when linked in */

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* ---- the data directory's files, by inode ----------------------------------------------------- */

struct file_ref {
    uint64_t dev, ino;
    char *path;
};

struct files {
    struct file_ref *v;
    size_t n, cap;
};

static int walk(const char *dir, struct files *f, int depth, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return errorf(err, errlen, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            rc = errorf(err, errlen, "out of memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0) {
            free(path); /* gone meanwhile */
        } else if (S_ISDIR(sb.st_mode) && depth < 32) {
            rc = walk(path, f, depth + 1, err, errlen);
            free(path);
        } else if (S_ISREG(sb.st_mode)) {
            if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 32;
                struct file_ref *v = realloc(f->v, cap * sizeof *v);
                if (!v) {
                    free(path);
                    rc = errorf(err, errlen, "out of memory");
                    break;
                }
                f->v = v;
                f->cap = cap;
            }
            f->v[f->n++] = (struct file_ref){ (uint64_t)sb.st_dev, (uint64_t)sb.st_ino, path };
        } else {
            free(path);
        }
    }
    closedir(d);
    return rc;
}

static const char *path_of(const struct files *f, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].dev == dev && f->v[i].ino == ino)
            return f->v[i].path;
    return NULL;
}

/* ---- one journal ------------------------------------------------------------------------------ */

struct rec {
    struct pc_rec h;
    const uint8_t *old; /* h.saved bytes */
    const uint8_t *new; /* PC_DURABLE: h.len bytes */
};

static int read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return errorf(err, errlen, "%s: %s", path, strerror(errno));
    }
    size_t n = (size_t)sb.st_size, got = 0;
    uint8_t *p = malloc(n ? n : 1);
    while (p && got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!p || got != n) {
        free(p);
        return errorf(err, errlen, "%s: cannot read the journal", path);
    }
    *out = p;
    *len = n;
    return 0;
}

/* The records of a journal's bytes; a last one cut short (its writer killed while appending it,
 * before its write) is left out. */
static int parse(const char *name, const uint8_t *p, size_t n, struct rec **out, size_t *count,
                 char *err, size_t errlen)
{
    struct rec *v = NULL;
    size_t k = 0, cap = 0, at = 0;
    while (n - at >= sizeof(struct pc_rec)) {
        struct pc_rec h;
        memcpy(&h, p + at, sizeof h);
        bool sized = h.kind == PC_SIZE ? h.len == 0 : h.saved <= h.len;
        if (h.magic != PC_MAGIC || h.kind < PC_WRITE || h.kind > PC_SIZE || !sized) {
            free(v);
            return errorf(err, errlen, "journal %s: damaged at byte %zu", name, at);
        }
        uint64_t body = h.saved + (h.kind == PC_DURABLE ? h.len : 0);
        if (body > n - at - sizeof h)
            break;
        if (k == cap) {
            cap = cap ? cap * 2 : 64;
            struct rec *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                return errorf(err, errlen, "out of memory");
            }
            v = nv;
        }
        const uint8_t *b = p + at + sizeof h;
        v[k++] = (struct rec){ h, b, h.kind == PC_DURABLE ? b + h.saved : NULL };
        at += sizeof h + (size_t)body;
    }
    *out = v;
    *count = k;
    return 0;
}

/* ---- the pages a journal touched, and their two contents ------------------------------------ */

struct pages {
    uint64_t *no; /* sorted page numbers */
    size_t n;
    uint8_t *cur, *lost; /* n pages each */
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The byte range a record changed for the cut, [*lo, *hi); false when none (a durable write
 * that returned: durable). */
static bool touched(const struct rec *r, uint64_t *lo, uint64_t *hi)
{
    if (r->h.kind == PC_DURABLE && r->h.written > 0)
        return false;
    if (r->h.kind == PC_SIZE) {
        *lo = r->h.off < r->h.old_size ? r->h.off : r->h.old_size;
        *hi = r->h.off < r->h.old_size ? r->h.old_size : r->h.off;
    } else {
        *lo = r->h.off;
        *hi = r->h.off + r->h.len;
    }
    return *hi > *lo;
}

static int collect(const struct rec *r, size_t nr, struct pages *pg, char *err, size_t errlen)
{
    size_t cap = 0;
    uint64_t lo, hi;
    for (size_t i = 0; i < nr; i++) {
        if (!touched(&r[i], &lo, &hi))
            continue;
        for (uint64_t p = lo / PC_PAGE; p <= (hi - 1) / PC_PAGE; p++) {
            if (pg->n == cap) {
                cap = cap ? cap * 2 : 256;
                uint64_t *v = realloc(pg->no, cap * sizeof *v);
                if (!v)
                    return errorf(err, errlen, "out of memory");
                pg->no = v;
            }
            pg->no[pg->n++] = p;
        }
    }
    if (pg->n == 0)
        return 0;
    qsort(pg->no, pg->n, sizeof *pg->no, cmp_u64);
    size_t k = 1;
    for (size_t i = 1; i < pg->n; i++)
        if (pg->no[i] != pg->no[k - 1])
            pg->no[k++] = pg->no[i];
    pg->n = k;
    pg->cur = calloc(pg->n, PC_PAGE);
    pg->lost = malloc(pg->n * PC_PAGE);
    if (!pg->cur || !pg->lost)
        return errorf(err, errlen, "out of memory (%zu pages)", pg->n);
    return 0;
}

static size_t page_index(const struct pages *pg, uint64_t no)
{
    size_t lo = 0, hi = pg->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pg->no[mid] < no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < pg->n && pg->no[lo] == no ? lo : SIZE_MAX;
}

/* Sets [off, off + n) of the lost image to src (zeros when NULL), where its pages are tracked. */
static void paint(struct pages *pg, uint64_t off, const uint8_t *src, uint64_t n)
{
    while (n > 0) {
        uint64_t no = off / PC_PAGE, in = off % PC_PAGE;
        uint64_t k = PC_PAGE - in < n ? PC_PAGE - in : n;
        size_t i = page_index(pg, no);
        if (i != SIZE_MAX) {
            if (src)
                memcpy(pg->lost + i * PC_PAGE + in, src, (size_t)k);
            else
                memset(pg->lost + i * PC_PAGE + in, 0, (size_t)k);
        }
        off += k, n -= k;
        if (src)
            src += k;
    }
}

/* The lost image: the current one with every unsynced record undone, newest first, then every
 * durable write made again, oldest first. */
static void undo_all(struct pages *pg, const struct rec *r, size_t nr)
{
    memcpy(pg->lost, pg->cur, pg->n * PC_PAGE);
    for (size_t i = nr; i-- > 0;) {
        const struct pc_rec *h = &r[i].h;
        if (h->kind == PC_DURABLE && h->written > 0)
            continue;
        if (h->kind == PC_SIZE && h->off < h->old_size) {
            paint(pg, h->off, r[i].old, h->saved); /* what the truncation cut off */
        } else if (h->kind == PC_SIZE) {
            paint(pg, h->old_size, NULL, h->off - h->old_size); /* did not exist */
        } else {
            paint(pg, h->off, r[i].old, h->saved);
            paint(pg, h->off + h->saved, NULL, h->len - h->saved); /* beyond the old size */
        }
    }
    for (size_t i = 0; i < nr; i++)
        if (r[i].h.kind == PC_DURABLE && r[i].h.written > 0)
            paint(pg, r[i].h.off, r[i].new,
                  r[i].h.written < r[i].h.len ? r[i].h.written : r[i].h.len);
}

/* ---- the cut of one file -------------------------------------------------------------------- */

enum fate { KEPT, LOST, TORN };

static int pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0; /* beyond the end: zeros (the buffer was) */
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

static int pwrite_full(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return 0;
}

static int cut_file(const char *path, const char *rel, const struct rec *r, size_t nr,
                    uint64_t seed, enum powercut_mode mode, struct powercut_stats *st, char *err,
                    size_t errlen)
{
    struct pages pg = { 0 };
    enum fate *fate = NULL;
    uint8_t *fin = NULL;
    int fd = -1, rc = collect(r, nr, &pg, err, errlen);
    if (rc != 0 || pg.n == 0) /* none: only durable writes, which the cut leaves as they are */
        goto out;
    fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        rc = errorf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    uint64_t cur = (uint64_t)sb.st_size;
    for (size_t i = 0; i < pg.n; i++)
        if (pread_full(fd, pg.cur + i * PC_PAGE, PC_PAGE, pg.no[i] * PC_PAGE) != 0) {
            rc = errorf(err, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
    undo_all(&pg, r, nr);

    /* The size at the last sync: before the first record, raised by every durable write. */
    uint64_t synced = r[0].h.old_size;
    for (size_t i = 0; i < nr; i++)
        if (r[i].h.kind == PC_DURABLE && r[i].h.written > 0 &&
            r[i].h.off + r[i].h.written > synced)
            synced = r[i].h.off + r[i].h.written;

    fate = calloc(pg.n ? pg.n : 1, sizeof *fate);
    fin = malloc(pg.n ? pg.n * PC_PAGE : 1);
    if (!fate || !fin) {
        rc = errorf(err, errlen, "out of memory");
        goto out;
    }
    uint64_t rng = seed ^ fnv(rel);
    for (size_t i = 0; i < pg.n; i++) {
        uint8_t *f = fin + i * PC_PAGE, *c = pg.cur + i * PC_PAGE, *l = pg.lost + i * PC_PAGE;
        switch (mode) {
        case POWERCUT_KEEP: fate[i] = KEPT; break;
        case POWERCUT_LOSE: fate[i] = LOST; break;
        case POWERCUT_TEAR: fate[i] = TORN; break;
        default: fate[i] = (enum fate)(mix(&rng) % 3); break;
        }
        if (fate[i] == TORN) {
            uint64_t bits = mix(&rng);
            for (unsigned s = 0; s < PC_PAGE / PC_SECTOR; s++)
                memcpy(f + s * PC_SECTOR, (bits >> s & 1 ? c : l) + s * PC_SECTOR, PC_SECTOR);
        } else {
            memcpy(f, fate[i] == KEPT ? c : l, PC_PAGE);
        }
        st->kept += fate[i] == KEPT;
        st->lost += fate[i] == LOST;
        st->torn += fate[i] == TORN;
    }
    st->pages += pg.n;

    /* The size goes back only when every touched page between the two sizes is lost. */
    uint64_t lo = cur < synced ? cur : synced, hi = cur < synced ? synced : cur, size = cur;
    if (lo != hi) {
        bool all_lost = true;
        for (size_t i = 0; i < pg.n; i++)
            if ((pg.no[i] + 1) * PC_PAGE > lo && pg.no[i] * PC_PAGE < hi && fate[i] != LOST)
                all_lost = false;
        if (all_lost)
            size = synced;
    }
    if (size != cur && ftruncate(fd, (off_t)size) != 0) {
        rc = errorf(err, errlen, "%s: cannot set the size to %llu: %s", path,
                    (unsigned long long)size, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < pg.n; i++) {
        uint64_t at = pg.no[i] * PC_PAGE;
        if (at >= size)
            continue;
        size_t n = size - at < PC_PAGE ? (size_t)(size - at) : PC_PAGE;
        if (memcmp(fin + i * PC_PAGE, pg.cur + i * PC_PAGE, n) != 0 &&
            pwrite_full(fd, fin + i * PC_PAGE, n, at) != 0) {
            rc = errorf(err, errlen, "%s: cannot rewrite page %llu: %s", path,
                        (unsigned long long)pg.no[i], strerror(errno));
            goto out;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(pg.no);
    free(pg.cur);
    free(pg.lost);
    free(fate);
    free(fin);
    return rc;
}

/* ---- the cut -------------------------------------------------------------------------------- */

int powercut_apply(const char *dir, const char *journal, uint64_t seed, enum powercut_mode mode,
                   struct powercut_stats *st, char *err, size_t errlen)
{
    *st = (struct powercut_stats){ 0 };
    if (powercut_shim_active && powercut_shim_active())
        return errorf(err, errlen, "powercut_apply: the shim is active in this process (its "
                      "writes would be journaled)");
    DIR *jd = opendir(journal);
    if (!jd)
        return errorf(err, errlen, "journal directory %s: %s (was the shim active?)", journal,
                      strerror(errno));
    struct files files = { 0 };
    int rc = walk(dir, &files, 0, err, errlen);
    size_t dlen = strlen(dir);
    struct dirent *de;
    while (rc == 0 && (de = readdir(jd)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        uint64_t dev, ino;
        if (!pc_parse_name(de->d_name, &dev, &ino)) {
            rc = errorf(err, errlen, "%s/%s: not a journal", journal, de->d_name);
            break;
        }
        size_t plen = strlen(journal) + strlen(de->d_name) + 2;
        char *jpath = malloc(plen);
        uint8_t *bytes = NULL;
        size_t n = 0, nr = 0;
        struct rec *r = NULL;
        if (!jpath) {
            rc = errorf(err, errlen, "out of memory");
            break;
        }
        snprintf(jpath, plen, "%s/%s", journal, de->d_name);
        rc = read_file(jpath, &bytes, &n, err, errlen);
        if (rc == 0)
            rc = parse(de->d_name, bytes, n, &r, &nr, err, errlen);
        if (rc == 0 && nr > 0) {
            const char *path = path_of(&files, dev, ino);
            if (!path) {
                st->missing++;
            } else {
                const char *rel = strncmp(path, dir, dlen) == 0 ? path + dlen : path;
                uint64_t pages = st->pages;
                rc = cut_file(path, rel, r, nr, seed, mode, st, err, errlen);
                st->files += st->pages > pages; /* not one with only durable writes */
            }
        }
        if (rc == 0 && unlink(jpath) != 0)
            rc = errorf(err, errlen, "%s: cannot remove: %s", jpath, strerror(errno));
        free(r);
        free(bytes);
        free(jpath);
    }
    closedir(jd);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i].path);
    free(files.v);
    return rc;
}
