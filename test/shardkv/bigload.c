/* The large-shard test's clients (bigload.h). */
#include "bigload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "clerk/shard.h"

static struct shard_sync *clerk(const char *const *ctrlers, size_t n, uint64_t seed)
{
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = 60000; /* an operation slower than this is a failure of the test */
    o.seed = seed;
    char err[256];
    struct shard_sync *s = shard_sync_new(ctrlers, n, &o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bigmove: shard clerk: %s\n", err);
        abort();
    }
    return s;
}

void bl_key(const char *tag, uint64_t i, char *buf, size_t len)
{
    snprintf(buf, len, "{%s}:%07llu", tag, (unsigned long long)i);
}

void bl_value(uint64_t i, uint8_t *buf, size_t vlen)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    for (size_t k = 0; k < vlen; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[k] = (uint8_t)('a' + x % 26);
    }
}

/* ---- bulk ------------------------------------------------------------------------------------ */

struct bulk {
    const char *const *ctrlers;
    size_t n_ctrlers;
    const char *tag;
    uint64_t n;
    size_t vlen;
    bool check;
    atomic_uint_fast64_t next, failures, done;
};

static void *bulk_main(void *arg)
{
    struct bulk *b = arg;
    struct shard_sync *s = clerk(b->ctrlers, b->n_ctrlers, 0);
    uint8_t *want = xmalloc(b->vlen);
    for (;;) {
        uint64_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n)
            break;
        char key[64];
        bl_key(b->tag, i, key, sizeof key);
        bl_value(i, want, b->vlen);
        enum clerk_result r;
        bool bad;
        if (b->check) {
            uint8_t *v = NULL;
            size_t len = 0;
            r = shard_sync_get(s, key, &v, &len);
            bad = r != CLERK_OK || len != b->vlen || memcmp(v, want, len);
            free(v);
        } else {
            r = shard_sync_put(s, key, want, b->vlen);
            bad = r != CLERK_OK;
        }
        if (bad && atomic_fetch_add(&b->failures, 1) < 5)
            fprintf(stderr, "bigmove: %s %s: %s%s\n", b->check ? "Get" : "Put", key,
                    clerk_result_name(r), r == CLERK_OK ? " (wrong value)" : "");
        uint64_t d = atomic_fetch_add(&b->done, 1) + 1;
        if (d % (b->n / 4 ? b->n / 4 : 1) == 0)
            printf("  %s %llu / %llu keys\n", b->check ? "checked" : "loaded",
                   (unsigned long long)d, (unsigned long long)b->n);
    }
    free(want);
    shard_sync_free(s);
    return NULL;
}

uint64_t bl_bulk(const char *const *ctrlers, size_t n_ctrlers, const char *tag, uint64_t n,
                 size_t vlen, int threads, bool check)
{
    struct bulk b = { .ctrlers = ctrlers, .n_ctrlers = n_ctrlers, .tag = tag, .n = n,
                      .vlen = vlen, .check = check };
    pthread_t th[64];
    threads = MAX(1, MIN(threads, 64));
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, bulk_main, &b);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    return atomic_load(&b.failures);
}

/* ---- the light load -------------------------------------------------------------------------- */

struct sample {
    uint64_t start_ms, end_ms, us;
};

struct bl_light {
    const char *const *ctrlers;
    size_t n_ctrlers;
    char tag[32];
    uint64_t pause_ms;
    atomic_bool stop;
    pthread_t th;
    pthread_mutex_t mu;
    struct sample *s;
    size_t n, cap;
    uint64_t failures;
};

static void record(struct bl_light *l, uint64_t t0_ns, uint64_t t1_ns)
{
    pthread_mutex_lock(&l->mu);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->s = xrealloc(l->s, l->cap * sizeof *l->s);
    }
    l->s[l->n++] = (struct sample){ t0_ns / 1000000, t1_ns / 1000000, (t1_ns - t0_ns) / 1000 };
    pthread_mutex_unlock(&l->mu);
}

static void *light_main(void *arg)
{
    struct bl_light *l = arg;
    struct shard_sync *s = clerk(l->ctrlers, l->n_ctrlers, 0);
    uint8_t val[128];
    for (uint64_t i = 0; !atomic_load(&l->stop); i++) {
        char key[64];
        snprintf(key, sizeof key, "{%s}:l%llu", l->tag, (unsigned long long)(i % 16));
        bl_value(i, val, sizeof val);
        uint64_t t0 = clock_mono_ns();
        enum clerk_result r = shard_sync_put(s, key, val, sizeof val);
        uint64_t t1 = clock_mono_ns();
        uint8_t *got = NULL;
        size_t len = 0;
        enum clerk_result g = r == CLERK_OK ? shard_sync_get(s, key, &got, &len) : r;
        uint64_t t2 = clock_mono_ns();
        bool bad = r != CLERK_OK || g != CLERK_OK || len != sizeof val || memcmp(got, val, len);
        free(got);
        if (bad) {
            if (l->failures++ < 5)
                fprintf(stderr, "bigmove: light load on {%s}: %s / %s\n", l->tag,
                        clerk_result_name(r), clerk_result_name(g));
        } else {
            record(l, t0, t1);
            record(l, t1, t2);
        }
        if (l->pause_ms)
            usleep((useconds_t)(l->pause_ms * 1000));
    }
    shard_sync_free(s);
    return NULL;
}

struct bl_light *bl_light_start(const char *const *ctrlers, size_t n_ctrlers, const char *tag,
                                uint64_t pause_ms)
{
    struct bl_light *l = xcalloc(1, sizeof *l);
    l->ctrlers = ctrlers;
    l->n_ctrlers = n_ctrlers;
    snprintf(l->tag, sizeof l->tag, "%s", tag);
    l->pause_ms = pause_ms;
    pthread_mutex_init(&l->mu, NULL);
    pthread_create(&l->th, NULL, light_main, l);
    return l;
}

uint64_t bl_light_stop(struct bl_light *l)
{
    atomic_store(&l->stop, true);
    pthread_join(l->th, NULL);
    uint64_t f = l->failures;
    pthread_mutex_destroy(&l->mu);
    free(l->s);
    free(l);
    return f;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void bl_light_window(struct bl_light *l, uint64_t from_ms, uint64_t to_ms, struct bl_window *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_lock(&l->mu);
    uint64_t *us = xmalloc((l->n + 1) * sizeof *us);
    uint64_t last = from_ms;
    for (size_t i = 0; i < l->n; i++) {
        const struct sample *s = &l->s[i];
        if (s->start_ms < from_ms || s->start_ms >= to_ms)
            continue;
        us[w->n++] = s->us;
        w->gap_ms = MAX(w->gap_ms, s->end_ms > last ? s->end_ms - last : 0);
        last = MAX(last, s->end_ms);
    }
    pthread_mutex_unlock(&l->mu);
    w->gap_ms = MAX(w->gap_ms, to_ms > last ? to_ms - last : 0);
    if (w->n) {
        qsort(us, w->n, sizeof *us, cmp_u64);
        w->p50_us = us[(w->n - 1) / 2];
        w->p99_us = us[(w->n - 1) * 99 / 100];
        w->max_us = us[w->n - 1];
    }
    free(us);
}
