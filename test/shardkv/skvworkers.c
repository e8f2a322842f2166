/* The lab's goroutines: clerks on a loop thread of their own (skvtest.h). */
#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "internal.h"

/* ---- workers ---------------------------------------------------------------------------- */

struct worker {
    struct skt_workers *w;
    int i;
    struct rng rng;
    struct op op;
    struct event *timer;
    bool finished;
    uint64_t ops;
    char fail[1024];
};

struct skt_workers {
    struct skt *t;
    int n;
    enum skt_work work;
    size_t value_len;
    uint64_t sleep_ms;
    char **va;
    struct event_base *base;
    struct worker *wk;
    atomic_bool done;
    int finished;
    pthread_t th;
};

static void worker_next(struct worker *k);

static void worker_finish(struct worker *k)
{
    k->finished = true;
    if (++k->w->finished == k->w->n)
        event_base_loopbreak(k->w->base);
}

static void worker_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_next(arg);
}

static void worker_then(struct op *op, void *arg)
{
    struct worker *k = arg;
    struct skt_workers *w = k->w;
    uint64_t took = clock_mono_ms() - op->start_ms;
    char what[64];
    skt_op_name(op, what, sizeof what);
    if (skt_op_failed(op->r)) {
        snprintf(k->fail, sizeof k->fail, "worker %d: %s failed after %.1f s: %s: %s", k->i,
                 what, took / 1e3, clerk_result_name(op->r), op->err);
        worker_finish(k);
        return;
    }
    k->ops++;
    if (w->work == SKT_APPEND) {
        char **va = &w->va[k->i];
        size_t a = strlen(*va), b = strlen(op->val);
        *va = xrealloc(*va, a + b + 1);
        memcpy(*va + a, op->val, b + 1);
    }
    if (atomic_load(&w->done)) {
        worker_finish(k);
        return;
    }
    if (w->sleep_ms) {
        struct timeval tv = { (time_t)(w->sleep_ms / 1000), (suseconds_t)(w->sleep_ms % 1000 * 1000) };
        evtimer_add(k->timer, &tv);
    } else {
        worker_next(k);
    }
}

static void worker_next(struct worker *k)
{
    struct skt_workers *w = k->w;
    struct op *op = &k->op;
    skt_op_clear(op);
    op->val = xmalloc(w->value_len + 1);
    skt_fill_rand(&k->rng, op->val, w->value_len);
    if (w->work == SKT_APPEND) {
        op->kind = LIN_APPEND;
        skt_key(k->i, op->key, sizeof op->key);
    } else {
        skt_key((int)rng_below(&k->rng, (uint64_t)w->n), op->key, sizeof op->key);
        if (rng_below(&k->rng, 1000) < 500) {
            op->kind = LIN_APPEND;
        } else if (rng_below(&k->rng, 1000) < 100) {
            op->kind = LIN_PUT;
        } else {
            op->kind = LIN_GET;
            free(op->val);
            op->val = NULL;
        }
    }
    skt_op_start(op);
}

static void *workers_main(void *arg)
{
    struct skt_workers *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

struct skt_workers *skt_workers_start(struct skt *t, int n, enum skt_work work, size_t value_len,
                                      uint64_t sleep_ms, char **va)
{
    struct skt_workers *w = xcalloc(1, sizeof *w);
    w->t = t;
    w->n = n;
    w->work = work;
    w->value_len = value_len;
    w->sleep_ms = sleep_ms;
    w->va = va;
    w->base = event_base_new();
    w->wk = xcalloc((size_t)n, sizeof *w->wk);
    for (int i = 0; i < n; i++) {
        struct worker *k = &w->wk[i];
        k->w = w;
        k->i = i;
        rng_seed(&k->rng, rng_next(skt_rng(t)));
        k->op = (struct op){ .t = t, .ck = skt_sclerk_new(t, w->base, NULL), .cli = t->next_cli++,
                             .then = worker_then, .arg = k };
        k->timer = evtimer_new(w->base, worker_timer, k);
        worker_next(k); /* queued; runs once the loop thread starts */
    }
    SKT_EXPECT(t, pthread_create(&w->th, NULL, workers_main, w) == 0, "cannot start workers");
    return w;
}

void skt_workers_done(struct skt_workers *w) { atomic_store(&w->done, true); }

uint64_t skt_workers_stop(struct skt_workers *w)
{
    struct skt *t = w->t;
    skt_workers_done(w);
    pthread_join(w->th, NULL);
    uint64_t ops = 0;
    char fail[1024] = "";
    for (int i = 0; i < w->n; i++) {
        struct worker *k = &w->wk[i];
        ops += k->ops;
        if (k->fail[0] && !fail[0])
            snprintf(fail, sizeof fail, "%s", k->fail);
        event_free(k->timer);
        skt_add_clerk_stats(t, k->op.ck);
        shard_clerk_free(k->op.ck);
        skt_op_clear(&k->op);
    }
    event_base_free(w->base);
    free(w->wk);
    free(w);
    SKT_EXPECT(t, !fail[0], "%s", fail);
    printf("  workers: %llu operations\n", (unsigned long long)ops);
    fflush(stdout);
    return ops;
}
