/* Numbers, sorted joins, randomness, sleeping and the lab's parallelism probe. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "appkit.h"

size_t appkit_format_u64(char *buf, uint64_t v)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

int appkit_emit_u64(struct mr_emitter *out, uint64_t v)
{
    char buf[21];
    size_t n = appkit_format_u64(buf, v);
    return mr_emit_value(out, buf, n);
}

int appkit_parse_u64(const struct mr_slice *s, uint64_t *v)
{
    if (s->len == 0 || s->len > 20)
        return -1;
    uint64_t r = 0;
    for (size_t i = 0; i < s->len; i++) {
        unsigned d = (unsigned char)s->data[i] - '0';
        if (d > 9 || r > (UINT64_MAX - d) / 10)
            return -1;
        r = r * 10 + d;
    }
    *v = r;
    return 0;
}

static int cmp_slice(const void *a, const void *b)
{
    const struct mr_slice *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->data, y->data, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int appkit_emit_sorted_join(const char *prefix, const struct mr_slice *values, size_t n,
                            const char *sep, struct mr_emitter *out)
{
    size_t plen = strlen(prefix), slen = strlen(sep), total = plen + 1;
    for (size_t i = 0; i < n; i++)
        total += values[i].len + slen;
    struct mr_slice *v = malloc((n ? n : 1) * sizeof *v);
    char *buf = malloc(total);
    if (!v || !buf) {
        free(v);
        free(buf);
        return -1;
    }
    memcpy(v, values, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_slice);
    memcpy(buf, prefix, plen);
    size_t len = plen;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(buf + len, sep, slen);
            len += slen;
        }
        memcpy(buf + len, v[i].data, v[i].len);
        len += v[i].len;
    }
    int rc = mr_emit_value(out, buf, len);
    free(v);
    free(buf);
    return rc;
}

uint64_t appkit_random_below(uint64_t n)
{
    uint64_t v = 0;
    while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        ;
    return v % n; /* the bias is below 1e-15 for the small n used here */
}

void appkit_sleep_ms(uint64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Counts the files "mr-worker-<phase>-<pid>" in the current directory whose pid is alive. */
static int count_alive(const char *phase)
{
    DIR *d = opendir(".");
    if (!d)
        return -1;
    char prefix[64];
    int plen = snprintf(prefix, sizeof prefix, "mr-worker-%s-", phase);
    int alive = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (end != e->d_name + plen && pid > 0 && kill((pid_t)pid, 0) == 0)
            alive++;
    }
    closedir(d);
    return alive;
}

int appkit_nparallel(const char *phase)
{
    char name[96];
    snprintf(name, sizeof name, "mr-worker-%s-%ld", phase, (long)getpid());
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || write(fd, "x", 1) != 1) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    int n = count_alive(phase);
    appkit_sleep_ms(1000);
    if (unlink(name) != 0)
        return -1;
    return n;
}
