#include "coord.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "display.h"
#include "mr.pb-c.h"
#include "mr/mr.h"
#include "rpc/rpc.h"

#define TICK_MS 100
#define SHUTDOWN_GRACE_MS 500

/* A GetTask call waiting for a task to become free (or for hold_ms to pass). */
struct held {
    struct rpc_call *call;
    char *worker;
    uint64_t until_ms; /* answer WAIT at this time */
};

/* A worker heard from: for the "workers" count and for knowing who still has to be told that
 * the job is done. */
struct seen {
    char *name;
    uint64_t last_ms;
    bool told; /* was answered EXIT or job_done */
};

struct coord {
    struct coord_config cfg;
    struct event_base *base;
    struct rpc_server *srv;
    struct mr_sched *sched;
    struct event *tick;
    struct display *display;
    struct held *held;
    size_t nheld, held_cap;
    struct seen *seen;
    size_t nseen, seen_cap;
    uint64_t start_ms, finish_ms;
    bool finished; /* every output is final, or the job failed */
    bool stopping; /* the server is shutting down */
    bool stopped;  /* stopped by a signal before the end */
    uint64_t failed_reports[2], timeouts; /* coord_stats */
};

#define CLOG(c, level, ...)                              \
    do {                                                 \
        if (log_enabled(level)) {                        \
            display_before_log((c)->display);            \
            log_write(level, "coord", __VA_ARGS__);      \
        }                                                \
    } while (0)

static const char *kind_name(enum mr_kind k) { return k == MR_KIND_MAP ? "map" : "reduce"; }

/* ---- workers heard from -------------------------------------------------------------------- */

static struct seen *seen_touch(struct coord *c, const char *name, uint64_t now)
{
    for (size_t i = 0; i < c->nseen; i++)
        if (strcmp(c->seen[i].name, name) == 0) {
            c->seen[i].last_ms = now;
            return &c->seen[i];
        }
    if (c->nseen == c->seen_cap) {
        c->seen_cap = c->seen_cap ? c->seen_cap * 2 : 16;
        c->seen = xrealloc(c->seen, c->seen_cap * sizeof *c->seen);
    }
    c->seen[c->nseen] = (struct seen){ xstrdup(name), now, false };
    CLOG(c, LOG_DEBUG, "worker %s joined", name);
    return &c->seen[c->nseen++];
}

/* Forgets workers not heard from for a task timeout: they no longer count as busy, and the
 * list stays as short as the set of live workers however many come and go. */
static void seen_prune(struct coord *c, uint64_t now)
{
    size_t keep = 0;
    for (size_t i = 0; i < c->nseen; i++) {
        if (now - c->seen[i].last_ms < c->cfg.task_timeout_ms)
            c->seen[keep++] = c->seen[i];
        else
            free(c->seen[i].name);
    }
    c->nseen = keep;
}

/* Workers heard from within the last task timeout that have not been told to exit. */
static uint32_t seen_busy(const struct coord *c, uint64_t now)
{
    uint32_t n = 0;
    for (size_t i = 0; i < c->nseen; i++)
        n += !c->seen[i].told && now - c->seen[i].last_ms < c->cfg.task_timeout_ms;
    return n;
}

/* ---- progress ------------------------------------------------------------------------------ */

static void progress_get(const struct coord *c, uint64_t now, struct mr_progress *p)
{
    mr_sched_counts(c->sched, &p->c);
    p->workers = seen_busy(c, now);
    p->elapsed_ms = now - c->start_ms;
}

static void progress_show(struct coord *c, uint64_t now, bool force)
{
    struct mr_progress p;
    progress_get(c, now, &p);
    display_show(c->display, &p, now, force);
}

static bool sched_finished(const struct coord *c)
{
    struct mr_sched_counts k;
    mr_sched_counts(c->sched, &k);
    return k.done || k.failed;
}

/* ---- answering GetTask ---------------------------------------------------------------------- */

static void reply_action(struct coord *c, struct held *h, Mr__Action action,
                         const struct mr_assignment *a)
{
    Mr__GetTaskReply r = MR__GET_TASK_REPLY__INIT;
    Mr__Task t = MR__TASK__INIT;
    r.action = action;
    if (action == MR__ACTION__RUN) {
        t.kind = a->kind == MR_KIND_MAP ? MR__TASK_KIND__MAP : MR__TASK_KIND__REDUCE;
        t.id = a->id;
        t.attempt = a->attempt;
        t.input = a->kind == MR_KIND_MAP ? c->cfg.inputs[a->id] : "";
        t.nmap = c->cfg.ninputs;
        t.nreduce = c->cfg.nreduce;
        t.workdir = (char *)c->cfg.workdir;
        t.job = c->cfg.job_id;
        r.task = &t;
        if (a->attempt > 1)
            CLOG(c, LOG_INFO, "%s %u given again (attempt %u) to %s", kind_name(a->kind), a->id,
                 a->attempt, h->worker);
        else
            CLOG(c, LOG_DEBUG, "%s %u to %s", kind_name(a->kind), a->id, h->worker);
    } else if (action == MR__ACTION__EXIT) {
        seen_touch(c, h->worker, clock_mono_ms())->told = true;
    }
    rpc_call_reply_msg(h->call, &r.base);
}

/* Answers the held calls that can be answered: a task for the oldest ones while tasks are
 * free, EXIT when the job is over, WAIT for those held long enough. */
static void serve_held(struct coord *c, uint64_t now)
{
    bool no_task = false;
    size_t keep = 0;
    for (size_t i = 0; i < c->nheld; i++) {
        struct held *h = &c->held[i];
        bool answered = true;
        struct mr_assignment a;
        if (!rpc_call_connected(h->call)) {
            rpc_call_fail(h->call, RPC_CANCELLED, "caller gone"); /* frees the call */
        } else {
            enum mr_assign_result r = no_task ? MR_ASSIGN_WAIT : mr_sched_assign(c->sched, now, &a);
            if (r == MR_ASSIGN_RUN) {
                reply_action(c, h, MR__ACTION__RUN, &a);
            } else if (r == MR_ASSIGN_DONE) {
                reply_action(c, h, MR__ACTION__EXIT, NULL);
            } else {
                no_task = true; /* no need to ask the scheduler again for the later calls */
                if (now >= h->until_ms)
                    reply_action(c, h, MR__ACTION__WAIT, NULL);
                else
                    answered = false;
            }
        }
        if (answered)
            free(h->worker);
        else
            c->held[keep++] = *h;
    }
    c->nheld = keep;
}

static void after_change(struct coord *c, uint64_t now);

static void handle_get_task(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct coord *c = arg;
    Mr__GetTaskRequest *r = mr__get_task_request__unpack(NULL, len, req);
    if (!r) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "mr.GetTask: request does not decode");
        return;
    }
    uint64_t now = clock_mono_ms();
    const char *name = r->worker[0] ? r->worker : rpc_call_peer(call);
    seen_touch(c, name, now);
    if (c->nheld == c->held_cap) {
        c->held_cap = c->held_cap ? c->held_cap * 2 : 16;
        c->held = xrealloc(c->held, c->held_cap * sizeof *c->held);
    }
    uint64_t hold = r->max_wait_ms ? MIN(c->cfg.hold_ms, r->max_wait_ms) : c->cfg.hold_ms;
    c->held[c->nheld++] = (struct held){ call, xstrdup(name), now + hold };
    mr__get_task_request__free_unpacked(r, NULL);
    after_change(c, now);
}

/* ---- the end ---------------------------------------------------------------------------------- */

static void on_shutdown_done(void *arg)
{
    struct coord *c = arg;
    event_base_loopexit(c->base, NULL);
}

static void begin_shutdown(struct coord *c)
{
    if (c->stopping)
        return;
    c->stopping = true;
    display_end(c->display); /* the tick no longer redraws it */
    for (size_t i = 0; i < c->nheld; i++) {
        rpc_call_fail(c->held[i].call, RPC_SHUTTING_DOWN, "the coordinator is stopping");
        free(c->held[i].worker);
    }
    c->nheld = 0;
    rpc_server_shutdown(c->srv, SHUTDOWN_GRACE_MS, on_shutdown_done, c);
}

/* Once finished: exits when every worker still busy has been told, or after linger_ms. */
static void maybe_exit(struct coord *c, uint64_t now)
{
    if (c->finished && (seen_busy(c, now) == 0 || now - c->finish_ms >= c->cfg.linger_ms))
        begin_shutdown(c);
}

static void on_finished(struct coord *c, uint64_t now)
{
    c->finished = true;
    c->finish_ms = now;
    struct mr_sched_counts k;
    mr_sched_counts(c->sched, &k);
    progress_show(c, now, true);
    if (k.failed) {
        CLOG(c, LOG_ERROR, "job failed: a task failed %u times (see the errors above)",
             c->cfg.max_failures);
    } else {
        if (!c->cfg.keep_intermediate)
            mr_workdir_clean(c->cfg.workdir, c->cfg.ninputs, c->cfg.nreduce);
        CLOG(c, LOG_INFO, "job done: %u maps, %u reduces in %.2f s; output in %s/mr-out-*",
             k.maps_total, k.reduces_total, (double)(now - c->start_ms) / 1000.0,
             c->cfg.workdir);
    }
    serve_held(c, now); /* every held call gets EXIT */
    maybe_exit(c, now);
}

/* After anything that may have freed a task or finished the job. */
static void after_change(struct coord *c, uint64_t now)
{
    serve_held(c, now);
    if (!c->finished && sched_finished(c))
        on_finished(c, now);
    else
        progress_show(c, now, false);
    maybe_exit(c, now);
}

/* ---- FinishTask ----------------------------------------------------------------------------- */

static void handle_finish_task(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct coord *c = arg;
    Mr__FinishTaskRequest *r = mr__finish_task_request__unpack(NULL, len, req);
    if (!r) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "mr.FinishTask: request does not decode");
        return;
    }
    uint64_t now = clock_mono_ms();
    const char *name = r->worker[0] ? r->worker : rpc_call_peer(call);
    struct seen *w = seen_touch(c, name, now);
    enum mr_kind kind = r->kind == MR__TASK_KIND__MAP ? MR_KIND_MAP : MR_KIND_REDUCE;
    enum mr_finish_result res = MR_FINISH_UNKNOWN;
    if (r->job == c->cfg.job_id && (r->kind == MR__TASK_KIND__MAP || r->kind == MR__TASK_KIND__REDUCE))
        res = mr_sched_finish(c->sched, kind, r->id, r->attempt, r->ok);
    const char *k = kind_name(kind);
    switch (res) {
    case MR_FINISH_ACCEPTED:
        CLOG(c, LOG_DEBUG, "%s %u done by %s in %llu ms", k, r->id, name,
             (unsigned long long)r->elapsed_ms);
        break;
    case MR_FINISH_DUPLICATE:
        CLOG(c, LOG_DEBUG, "%s %u done again by %s (attempt %u); already done", k, r->id, name,
             r->attempt);
        break;
    case MR_FINISH_UNKNOWN:
        CLOG(c, LOG_WARN, "%s reported unknown task (job %llx %s %u attempt %u)", name,
             (unsigned long long)r->job, k, r->id, r->attempt);
        break;
    case MR_FINISH_RETRY:
    case MR_FINISH_IGNORED:
        c->failed_reports[kind == MR_KIND_REDUCE]++;
        CLOG(c, LOG_WARN, "%s %u attempt %u failed on %s: %s%s", k, r->id, r->attempt, name,
             r->error, res == MR_FINISH_RETRY ? "; giving it to a worker again" : "");
        break;
    case MR_FINISH_ABORTED:
        c->failed_reports[kind == MR_KIND_REDUCE]++;
        CLOG(c, LOG_ERROR, "%s %u failed on %s: %s; giving up", k, r->id, name, r->error);
        break;
    }
    Mr__FinishTaskReply reply = MR__FINISH_TASK_REPLY__INIT;
    reply.verdict = res == MR_FINISH_ACCEPTED    ? MR__VERDICT__ACCEPTED
                    : res == MR_FINISH_DUPLICATE ? MR__VERDICT__ALREADY_DONE
                    : res == MR_FINISH_UNKNOWN   ? MR__VERDICT__REFUSED
                                                 : MR__VERDICT__NOTED;
    reply.job_done = sched_finished(c);
    if (reply.job_done)
        w->told = true;
    rpc_call_reply_msg(call, &reply.base);
    mr__finish_task_request__free_unpacked(r, NULL);
    after_change(c, now);
}

/* ---- Progress ------------------------------------------------------------------------------- */

static void handle_progress(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    struct coord *c = arg;
    struct mr_progress p;
    progress_get(c, clock_mono_ms(), &p);
    Mr__Progress m = MR__PROGRESS__INIT;
    m.maps_done = p.c.maps_done;
    m.maps_total = p.c.maps_total;
    m.reduces_done = p.c.reduces_done;
    m.reduces_total = p.c.reduces_total;
    m.maps_running = p.c.maps_running;
    m.reduces_running = p.c.reduces_running;
    m.workers = p.workers;
    m.reassigned = p.c.reassigned;
    m.elapsed_ms = p.elapsed_ms;
    m.done = p.c.done;
    rpc_call_reply_msg(call, &m.base);
}

/* ---- timer ---------------------------------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord *c = arg;
    if (c->stopping)
        return;
    uint64_t now = clock_mono_ms();
    seen_prune(c, now);
    struct mr_assignment late[16];
    size_t n = mr_sched_expire(c->sched, now, late, ARRAY_LEN(late));
    c->timeouts += n;
    for (size_t i = 0; i < MIN(n, ARRAY_LEN(late)); i++)
        CLOG(c, LOG_WARN, "%s %u (attempt %u) not finished after %llu s; it goes to the next "
             "worker that asks", kind_name(late[i].kind), late[i].id, late[i].attempt,
             (unsigned long long)(c->cfg.task_timeout_ms / 1000));
    after_change(c, now);
}

/* ---- life cycle ----------------------------------------------------------------------------- */

struct coord *coord_new(struct event_base *base, struct rpc_server *srv,
                        const struct coord_config *cfg)
{
    struct coord *c = xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    c->base = base;
    c->srv = srv;
    c->sched = mr_sched_new(cfg->ninputs, cfg->nreduce, cfg->task_timeout_ms, cfg->max_failures);
    c->display = display_new(cfg->progress_bar);
    c->start_ms = clock_mono_ms();
    rpc_server_handle(srv, "mr.GetTask", handle_get_task, c);
    rpc_server_handle(srv, "mr.FinishTask", handle_finish_task, c);
    rpc_server_handle(srv, "mr.Progress", handle_progress, c);
    c->tick = event_new(base, -1, EV_PERSIST, on_tick, c);
    struct timeval tv = { 0, TICK_MS * 1000 };
    event_add(c->tick, &tv);
    progress_show(c, c->start_ms, true);
    return c;
}

void coord_stop(struct coord *c)
{
    if (c->stopping)
        return;
    if (!c->finished) {
        c->stopped = true;
        CLOG(c, LOG_WARN, "stopping before the job is done");
    }
    begin_shutdown(c);
}

int coord_exit_status(const struct coord *c)
{
    struct mr_sched_counts k;
    mr_sched_counts(c->sched, &k);
    return k.done && !k.failed && !c->stopped ? 0 : 1;
}

void coord_stats(const struct coord *c, struct coord_stats *st)
{
    memset(st, 0, sizeof *st);
    mr_sched_counts(c->sched, &st->c);
    memcpy(st->failed_reports, c->failed_reports, sizeof st->failed_reports);
    st->timeouts = c->timeouts;
    st->workers = (uint32_t)c->nseen;
    st->finished = c->finished;
    st->stopping = c->stopping;
}

void coord_free(struct coord *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nheld; i++) {
        rpc_call_fail(c->held[i].call, RPC_SHUTTING_DOWN, "the coordinator is stopping");
        free(c->held[i].worker);
    }
    free(c->held);
    for (size_t i = 0; i < c->nseen; i++)
        free(c->seen[i].name);
    free(c->seen);
    if (c->tick)
        event_free(c->tick);
    display_free(c->display);
    mr_sched_free(c->sched);
    free(c);
}
