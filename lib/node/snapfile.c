#include "node/snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/util.h"

#define FIXED 52u /* magic, version, header length, index, term, payload length, created, by */
#define TRAILER 4u

struct snapfile_writer {
    int fd;
    char *path, *tmp;
    uint64_t payload_len, written;
    uint32_t crc;         /* of everything written so far */
    uint32_t payload_crc; /* of the payload alone */
};

/* ---- the header ------------------------------------------------------------------------------ */

/* The header of m, malloc'd, its length in *len. */
static uint8_t *header_encode(const struct snapfile_meta *m, size_t *len)
{
    size_t mlen = strnlen(m->machine, SNAPFILE_MACHINE_MAX - 1);
    size_t cap = FIXED + 1 + mlen + 1 + m->members.n * (6 + RAFT_ADDR_MAX);
    uint8_t *h = xcalloc(1, cap), *p = h;
    memcpy(p, SNAPFILE_MAGIC, 8);
    be32_put(p + 8, SNAPFILE_VERSION);
    be64_put(p + 16, m->index);
    be64_put(p + 24, m->term);
    be64_put(p + 32, m->payload_len);
    be64_put(p + 40, m->created_ms);
    be32_put(p + 48, m->taken_by);
    p += FIXED;
    *p++ = (uint8_t)mlen;
    memcpy(p, m->machine, mlen);
    p += mlen;
    *p++ = (uint8_t)m->members.n;
    for (size_t i = 0; i < m->members.n; i++) {
        const struct raft_member *r = &m->members.m[i];
        size_t alen = strnlen(r->addr, RAFT_ADDR_MAX - 1);
        be32_put(p, r->id);
        p[4] = r->voter ? 1 : 0;
        p[5] = (uint8_t)alen;
        memcpy(p + 6, r->addr, alen);
        p += 6 + alen;
    }
    *len = (size_t)(p - h);
    be32_put(h + 12, (uint32_t)*len);
    return h;
}

/* Parses the header's variable part, h[FIXED..hlen), into m. */
static int header_decode_rest(const uint8_t *h, size_t hlen, struct snapfile_meta *m, char *err,
                              size_t errlen)
{
    const uint8_t *p = h + FIXED, *end = h + hlen;
    if (p >= end || (size_t)(end - p) < 1u + *p)
        return errorf(err, errlen, "damaged header: the machine's name runs past its end");
    size_t mlen = *p++;
    if (mlen >= SNAPFILE_MACHINE_MAX)
        return errorf(err, errlen, "damaged header: a machine name of %zu bytes", mlen);
    memcpy(m->machine, p, mlen);
    m->machine[mlen] = '\0';
    p += mlen;
    if (p >= end)
        return errorf(err, errlen, "damaged header: no member count");
    size_t n = *p++;
    if (n > RAFT_MAX_MEMBERS)
        return errorf(err, errlen, "damaged header: %zu members (at most %d)", n, RAFT_MAX_MEMBERS);
    m->members.n = n;
    for (size_t i = 0; i < n; i++) {
        if (end - p < 6 || (size_t)(end - p) < 6u + p[5] || p[5] >= RAFT_ADDR_MAX || p[4] > 1)
            return errorf(err, errlen, "damaged header: member %zu runs past its end", i + 1);
        struct raft_member *r = &m->members.m[i];
        r->id = be32_get(p);
        r->voter = p[4] == 1;
        memcpy(r->addr, p + 6, p[5]);
        r->addr[p[5]] = '\0';
        p += 6 + p[5];
    }
    if (p != end)
        return errorf(err, errlen, "damaged header: %zu bytes left after the members",
                      (size_t)(end - p));
    return 0;
}

int snapfile_parse(const uint8_t *buf, size_t len, struct snapfile_meta *m, const uint8_t **payload,
                   char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (len < 8 || memcmp(buf, SNAPFILE_MAGIC, 8) != 0)
        return errorf(err, errlen, "not a backup file (no \"%s\" magic at its start)",
                      SNAPFILE_MAGIC);
    if (len < FIXED + TRAILER)
        return errorf(err, errlen, "truncated: %zu bytes, shorter than a header", len);
    uint32_t version = be32_get(buf + 8);
    if (version != SNAPFILE_VERSION)
        return errorf(err, errlen, "backup format version %u, this program reads version %u",
                      version, SNAPFILE_VERSION);
    uint64_t hlen = be32_get(buf + 12), plen = be64_get(buf + 32);
    if (hlen < FIXED + 2 || plen > UINT64_MAX - hlen - TRAILER)
        return errorf(err, errlen, "damaged header: header length %llu, payload length %llu",
                      (unsigned long long)hlen, (unsigned long long)plen);
    uint64_t want = hlen + plen + TRAILER;
    if (len < want)
        return errorf(err, errlen, "truncated: the header announces %llu bytes, the file has %zu",
                      (unsigned long long)want, len);
    if (len > want)
        return errorf(err, errlen, "damaged: %zu bytes, %llu more than the header announces", len,
                      (unsigned long long)(len - want));
    uint32_t stored = be32_get(buf + hlen + plen), actual = crc32c(0, buf, hlen + plen);
    if (stored != actual)
        return errorf(err, errlen, "checksum mismatch: the file is damaged (CRC-32C %08x stored, "
                      "%08x computed)", stored, actual);
    m->index = be64_get(buf + 16);
    m->term = be64_get(buf + 24);
    m->payload_len = plen;
    m->created_ms = be64_get(buf + 40);
    m->taken_by = be32_get(buf + 48);
    if (header_decode_rest(buf, hlen, m, err, errlen) != 0)
        return -1;
    if (m->index == 0 || m->term == 0)
        return errorf(err, errlen, "damaged header: index %llu, term %llu (both must be non-zero)",
                      (unsigned long long)m->index, (unsigned long long)m->term);
    *payload = buf + hlen;
    return 0;
}

int snapfile_read(const char *path, struct snapfile_meta *m, uint8_t **payload, char *err,
                  size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errorf(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return errorf(err, errlen, "%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *buf = xmalloc(len ? len : 1);
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            free(buf);
            return errorf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    const uint8_t *p;
    char why[256];
    if (snapfile_parse(buf, len, m, &p, why, sizeof why) != 0) {
        free(buf);
        return errorf(err, errlen, "%s: %s", path, why);
    }
    /* The payload moved to the front, so that the caller frees one buffer. */
    memmove(buf, p, m->payload_len);
    *payload = buf;
    return 0;
}

/* ---- writing --------------------------------------------------------------------------------- */

static int write_all(struct snapfile_writer *w, const uint8_t *data, size_t len, char *err,
                     size_t errlen)
{
    w->crc = crc32c(w->crc, data, len);
    while (len > 0) {
        ssize_t r = write(w->fd, data, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errorf(err, errlen, "%s: cannot write: %s", w->tmp, strerror(errno));
        data += r;
        len -= (size_t)r;
    }
    return 0;
}

static void writer_free(struct snapfile_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    free(w->tmp);
    free(w);
}

int snapfile_create(const char *path, const struct snapfile_meta *m, struct snapfile_writer **out,
                    char *err, size_t errlen)
{
    struct snapfile_writer *w = xcalloc(1, sizeof *w);
    w->path = xstrdup(path);
    w->tmp = xmalloc(strlen(path) + 5);
    sprintf(w->tmp, "%s.tmp", path);
    w->payload_len = m->payload_len;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        errorf(err, errlen, "%s: cannot create: %s", w->tmp, strerror(errno));
        writer_free(w);
        return -1;
    }
    size_t hlen;
    uint8_t *h = header_encode(m, &hlen);
    int rc = write_all(w, h, hlen, err, errlen);
    free(h);
    if (rc != 0) {
        snapfile_abort(w);
        return -1;
    }
    *out = w;
    return 0;
}

int snapfile_append(struct snapfile_writer *w, const uint8_t *data, size_t len, char *err,
                    size_t errlen)
{
    if (len > w->payload_len - w->written)
        return errorf(err, errlen, "%s: %llu payload bytes, more than the %llu announced", w->tmp,
                      (unsigned long long)(w->written + len), (unsigned long long)w->payload_len);
    w->payload_crc = crc32c(w->payload_crc, data, len);
    w->written += len;
    return write_all(w, data, len, err, errlen);
}

int snapfile_finish(struct snapfile_writer *w, uint32_t *payload_crc, char *err, size_t errlen)
{
    if (w->written != w->payload_len) {
        errorf(err, errlen, "%s: %llu payload bytes of %llu", w->tmp,
               (unsigned long long)w->written, (unsigned long long)w->payload_len);
        snapfile_abort(w);
        return -1;
    }
    uint8_t t[TRAILER];
    be32_put(t, w->crc);
    if (write_all(w, t, sizeof t, err, errlen) != 0) {
        snapfile_abort(w);
        return -1;
    }
    if (fsync(w->fd) != 0 || close(w->fd) != 0) {
        w->fd = -1;
        errorf(err, errlen, "%s: cannot sync: %s", w->tmp, strerror(errno));
        snapfile_abort(w);
        return -1;
    }
    w->fd = -1;
    if (rename(w->tmp, w->path) != 0) {
        errorf(err, errlen, "cannot rename %s to %s: %s", w->tmp, w->path, strerror(errno));
        snapfile_abort(w);
        return -1;
    }
    char *copy = xstrdup(w->path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
    if (payload_crc)
        *payload_crc = w->payload_crc;
    writer_free(w);
    return 0;
}

void snapfile_abort(struct snapfile_writer *w)
{
    if (!w)
        return;
    unlink(w->tmp);
    writer_free(w);
}
