/* The coordinator's task table: maps first, reduces once every map is done; idle tasks wait in
 * a FIFO queue per phase; running tasks carry a deadline. Time is an argument, never read. */
#include <stdlib.h>

#include "base/util.h"
#include "mr/mr.h"

enum state { IDLE, RUNNING, DONE };

struct task {
    enum state state;
    uint32_t attempt;  /* hand-outs so far */
    uint32_t failures; /* failed attempts reported so far */
    uint64_t deadline_ms;
};

/* The idle tasks of one phase, in order. A task is queued at most once: when it is created or
 * goes from RUNNING back to IDLE; an entry whose task was since completed is skipped. */
struct queue {
    uint32_t *ids;
    uint32_t cap, head, len;
};

struct phase {
    struct task *tasks;
    uint32_t n, done;
    struct queue idle;
};

struct mr_sched {
    struct phase map, reduce;
    uint64_t timeout_ms;
    uint32_t max_failures;
    uint64_t reassigned;
    bool failed;
};

static void push(struct queue *q, uint32_t id)
{
    q->ids[(q->head + q->len++) % q->cap] = id;
}

static void phase_init(struct phase *p, uint32_t n, bool queued)
{
    p->tasks = xcalloc(n, sizeof *p->tasks);
    p->n = n;
    p->idle.ids = xcalloc(n, sizeof *p->idle.ids);
    p->idle.cap = n;
    for (uint32_t i = 0; queued && i < n; i++)
        push(&p->idle, i);
}

struct mr_sched *mr_sched_new(uint32_t nmap, uint32_t nreduce, uint64_t timeout_ms,
                              uint32_t max_failures)
{
    struct mr_sched *s = xcalloc(1, sizeof *s);
    phase_init(&s->map, nmap, true);
    phase_init(&s->reduce, nreduce, false); /* queued when the last map is done */
    s->timeout_ms = timeout_ms;
    s->max_failures = max_failures;
    return s;
}

void mr_sched_free(struct mr_sched *s)
{
    if (!s)
        return;
    free(s->map.tasks);
    free(s->map.idle.ids);
    free(s->reduce.tasks);
    free(s->reduce.idle.ids);
    free(s);
}

static bool finished(const struct mr_sched *s)
{
    return s->failed || s->reduce.done == s->reduce.n;
}

static struct phase *current(struct mr_sched *s)
{
    return s->map.done < s->map.n ? &s->map : &s->reduce;
}

enum mr_assign_result mr_sched_assign(struct mr_sched *s, uint64_t now_ms,
                                      struct mr_assignment *out)
{
    if (finished(s))
        return MR_ASSIGN_DONE;
    struct phase *p = current(s);
    while (p->idle.len > 0) {
        uint32_t id = p->idle.ids[p->idle.head];
        p->idle.head = (p->idle.head + 1) % p->idle.cap;
        p->idle.len--;
        struct task *t = &p->tasks[id];
        if (t->state != IDLE)
            continue;
        if (t->attempt > 0)
            s->reassigned++;
        t->state = RUNNING;
        t->attempt++;
        t->deadline_ms = now_ms + s->timeout_ms;
        *out = (struct mr_assignment){ p == &s->map ? MR_KIND_MAP : MR_KIND_REDUCE, id,
                                       t->attempt };
        return MR_ASSIGN_RUN;
    }
    return MR_ASSIGN_WAIT;
}

enum mr_finish_result mr_sched_finish(struct mr_sched *s, enum mr_kind kind, uint32_t id,
                                      uint32_t attempt, bool ok)
{
    struct phase *p = kind == MR_KIND_MAP ? &s->map : kind == MR_KIND_REDUCE ? &s->reduce : NULL;
    if (!p || id >= p->n || attempt == 0 || attempt > p->tasks[id].attempt)
        return MR_FINISH_UNKNOWN;
    struct task *t = &p->tasks[id];
    if (t->state == DONE)
        return MR_FINISH_DUPLICATE;
    if (!ok) {
        if (t->state != RUNNING || attempt != t->attempt)
            return MR_FINISH_IGNORED;
        if (++t->failures >= s->max_failures) {
            s->failed = true;
            return MR_FINISH_ABORTED;
        }
        t->state = IDLE;
        push(&p->idle, id);
        return MR_FINISH_RETRY;
    }
    t->state = DONE;
    p->done++;
    if (p == &s->map && p->done == p->n)
        for (uint32_t i = 0; i < s->reduce.n; i++)
            push(&s->reduce.idle, i);
    return MR_FINISH_ACCEPTED;
}

size_t mr_sched_expire(struct mr_sched *s, uint64_t now_ms, struct mr_assignment *out,
                       size_t max_out)
{
    if (finished(s))
        return 0;
    struct phase *p = current(s);
    size_t n = 0;
    for (uint32_t id = 0; id < p->n; id++) {
        struct task *t = &p->tasks[id];
        if (t->state != RUNNING || t->deadline_ms > now_ms)
            continue;
        t->state = IDLE;
        push(&p->idle, id);
        if (n < max_out)
            out[n] = (struct mr_assignment){ p == &s->map ? MR_KIND_MAP : MR_KIND_REDUCE, id,
                                             t->attempt };
        n++;
    }
    return n;
}

static uint32_t running(const struct phase *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        n += p->tasks[i].state == RUNNING;
    return n;
}

void mr_sched_counts(const struct mr_sched *s, struct mr_sched_counts *c)
{
    *c = (struct mr_sched_counts){
        .maps_done = s->map.done,
        .maps_total = s->map.n,
        .maps_running = running(&s->map),
        .reduces_done = s->reduce.done,
        .reduces_total = s->reduce.n,
        .reduces_running = running(&s->reduce),
        .reassigned = s->reassigned,
        .done = s->reduce.done == s->reduce.n,
        .failed = s->failed,
    };
}
