/* File names of the job and whole-file I/O: reads into one buffer, writes through a temporary
 * file renamed into place so no reader (and no crash) ever sees a partial file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/util.h"
#include "mr/mr.h"

char *mr_path_intermediate(const char *workdir, uint32_t map, uint32_t reduce)
{
    return xasprintf("%s/mr-%u-%u", workdir, (unsigned)map, (unsigned)reduce);
}

char *mr_path_output(const char *workdir, uint32_t reduce)
{
    return xasprintf("%s/mr-out-%u", workdir, (unsigned)reduce);
}

int mr_file_read(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return MR_ERR;
    }
    struct stat st;
    const char *why = fstat(fd, &st) != 0 ? strerror(errno)
                      : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        close(fd);
        return MR_ERR;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 == cap) { /* the file grew since fstat */
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return MR_ERR;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return MR_OK;
}

/* Writes every piece with as few system calls as possible. */
static int write_all(int fd, const struct mr_piece *pieces, size_t n)
{
    enum { MAX_IOV = 64 };
    struct iovec iov[MAX_IOV];
    size_t next = 0, skip = 0; /* first piece not fully written, and bytes of it already written */
    while (next < n) {
        int cnt = 0;
        for (size_t i = next; i < n && cnt < MAX_IOV; i++, cnt++) {
            size_t off = i == next ? skip : 0;
            iov[cnt].iov_base = (char *)pieces[i].data + off;
            iov[cnt].iov_len = pieces[i].len - off;
        }
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        size_t left = (size_t)w;
        while (next < n && left >= pieces[next].len - skip) {
            left -= pieces[next].len - skip;
            next++;
            skip = 0;
        }
        skip += left;
    }
    return 0;
}

int mr_file_write_atomic(const char *path, const struct mr_piece *pieces, size_t n, char *err,
                         size_t errlen)
{
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    /* One writer per process at a time, so the pid makes the name unique; O_TRUNC reclaims a
     * leftover of a crashed process that had the same pid. */
    char *tmp = xasprintf("%.*s.tmp.%s.%ld", dirlen, path, base, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return MR_ERR;
    }
    int rc = write_all(fd, pieces, n);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(saved));
        unlink(tmp);
    }
    free(tmp);
    return rc == 0 ? MR_OK : MR_ERR;
}

size_t mr_workdir_clean(const char *workdir, uint32_t nmap, uint32_t nreduce)
{
    size_t removed = 0;
    for (uint32_t x = 0; x < nmap; x++)
        for (uint32_t y = 0; y < nreduce; y++) {
            char *path = mr_path_intermediate(workdir, x, y);
            removed += unlink(path) == 0;
            free(path);
        }
    DIR *d = opendir(workdir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, ".tmp.mr-", 8) != 0)
            continue;
        char *path = xasprintf("%s/%s", workdir, e->d_name);
        removed += unlink(path) == 0;
        free(path);
    }
    if (d)
        closedir(d);
    return removed;
}
