#include "clerk/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"

#define BACKOFF_MIN_MS 5
#define BACKOFF_MAX_MS 200
/* An attempt's time grows with the request: moving it and writing it durably on three nodes
 * takes time, and cutting a large write short only makes the clerk send it again. */
#define ATTEMPT_BYTES_PER_MS 32768

/* One queued operation: its request, fixed once, so retries are identical. */
struct op {
    uint8_t *req;
    size_t len;
    clerk_engine_done_fn done;
    void *arg;
    struct op *next;
};

struct clerk_engine {
    struct clerk_transport t;
    struct clerk_layer l;
    struct clerk_opts o;
    struct rng rng;
    size_t n;               /* servers */
    size_t leader;          /* index of the server tried first */
    struct op *head, *tail; /* head is running */
    uint64_t started_ms, backoff_ms;
    uint64_t call;          /* the attempt in flight (0: none) */
    bool finishing;         /* inside a done callback: a new operation waits for start_next */
    void *retry_timer;
    /* What each server did on its last attempt of the running operation (why[i] NULL: nothing
     * yet); hard: a failure that retrying will not fix soon. */
    char **why;
    bool *hard;
    char error[1024];
    uint64_t too_large_size, too_large_limit;
};

const char *clerk_result_name(enum clerk_result r)
{
    static const char *const names[] = { "OK", "NO_KEY", "TIMEOUT", "TOO_LARGE", "UNREACHABLE",
                                         "NO_SPACE", "REFUSED", "WRONG_GROUP", "CAS_FAILED" };
    return (unsigned)r < ARRAY_LEN(names) ? names[r] : "?";
}

uint64_t clerk_client_id_from(uint64_t seed)
{
    struct rng rng;
    rng_seed(&rng, seed ^ 0x6b76636c65726bull);
    uint64_t id;
    do {
        id = rng_next(&rng);
    } while (id == 0);
    return id;
}

void clerk_opts_default(struct clerk_opts *o)
{
    o->deadline_ms = 0;
    o->attempt_ms = 1000;
    o->seed = 0;
    o->fail_fast_ms = 0;
}

uint64_t clerk_seed(const struct clerk_opts *o, uint64_t salt)
{
    return o && o->seed ? o->seed : clock_wall_ns() ^ salt;
}

static uint64_t now(const struct clerk_engine *e) { return e->t.ops->now_ms(e->t.ctx); }
static const char *addr(const struct clerk_engine *e, size_t i)
{
    return e->t.ops->addr(e->t.ctx, i);
}

static void attempt(struct clerk_engine *e);

static void on_retry(void *arg) { attempt(arg); }

static void note_server(struct clerk_engine *e, size_t i, const char *why, bool hard)
{
    free(e->why[i]);
    e->why[i] = why ? xstrdup(why) : NULL;
    e->hard[i] = hard;
}

/* The error text of a failure: the headline, then what each server last did. */
static void describe(struct clerk_engine *e, const char *headline)
{
    size_t used = (size_t)snprintf(e->error, sizeof e->error, "%s", headline);
    for (size_t i = 0; i < e->n && used < sizeof e->error; i++)
        if (e->why[i])
            used += (size_t)snprintf(e->error + used, sizeof e->error - used, "%s%s",
                                     used ? "; " : "", e->why[i]);
}

/* True when every server's last attempt failed for good (see clerk_opts.fail_fast_ms). */
static bool all_hard(const struct clerk_engine *e)
{
    for (size_t i = 0; i < e->n; i++)
        if (!e->why[i] || !e->hard[i])
            return false;
    return true;
}

static void start_next(struct clerk_engine *e)
{
    if (!e->head)
        return;
    for (size_t i = 0; i < e->n; i++)
        note_server(e, i, NULL, false);
    e->started_ms = now(e);
    e->backoff_ms = BACKOFF_MIN_MS;
    attempt(e);
}

static void finish(struct clerk_engine *e, enum clerk_result r, const uint8_t *value, size_t len)
{
    struct op *op = e->head;
    e->head = op->next;
    if (!e->head)
        e->tail = NULL;
    /* The callback may queue the next operation: it is started below, once, not by submit. */
    e->finishing = true;
    op->done(r, value, len, op->arg);
    e->finishing = false;
    free(op->req);
    free(op);
    start_next(e);
}

static void give_up(struct clerk_engine *e, enum clerk_result r)
{
    char head[128] = "";
    if (r == CLERK_TIMEOUT)
        snprintf(head, sizeof head, "no leader answered within %llu ms",
                 (unsigned long long)e->o.deadline_ms);
    describe(e, head);
    finish(e, r, NULL, 0);
}

/* Tries again: at once on the hinted leader (moved), else after a backoff on the next server. */
static void retry(struct clerk_engine *e, bool moved)
{
    uint64_t spent = now(e) - e->started_ms;
    if (e->o.deadline_ms && spent >= e->o.deadline_ms) {
        give_up(e, CLERK_TIMEOUT);
        return;
    }
    if (e->o.fail_fast_ms && spent >= e->o.fail_fast_ms && all_hard(e)) {
        give_up(e, CLERK_UNREACHABLE);
        return;
    }
    if (moved) {
        attempt(e);
        return;
    }
    uint64_t delay = e->backoff_ms / 2 + rng_below(&e->rng, e->backoff_ms / 2 + 1);
    e->backoff_ms = MIN(e->backoff_ms * 2, BACKOFF_MAX_MS);
    e->t.ops->timer_start(e->t.ctx, e->retry_timer, delay);
}

static size_t server_of(const struct clerk_engine *e, const char *a)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(addr(e, i), a) == 0)
            return i;
    return SIZE_MAX;
}

/* A failed attempt that is no answer of the service: note what happened, try the next server. */
static void attempt_failed(struct clerk_engine *e, enum rpc_status st, const char *error)
{
    const char *a = addr(e, e->leader);
    char why[512];
    bool hard = true;
    switch (st) {
    case RPC_UNREACHABLE: /* the client's text names the address and the cause */
        snprintf(why, sizeof why, "%s", error && error[0] ? error : "cannot connect");
        break;
    case RPC_PROTOCOL:
        /* A server that says why it will not talk (a TLS server to a plain client: "the
         * server requires TLS: ...") rather than bytes that are no frame. */
        if (error && error[0] && !strstr(error, "does not speak this protocol"))
            snprintf(why, sizeof why, "%s: %s", a, error);
        else
            snprintf(why, sizeof why, "%s is not a %s server (it does not speak this protocol)",
                     a, e->l.service);
        break;
    case RPC_UNKNOWN_METHOD:
        snprintf(why, sizeof why, "%s is not a %s server (it has no method %s)", a, e->l.service,
                 e->l.method);
        break;
    case RPC_OK: /* a reply that is not the service's */
        snprintf(why, sizeof why, "%s is not a %s server (its reply is not a %s)", a,
                 e->l.service, e->l.reply);
        break;
    default:
        snprintf(why, sizeof why, "%s: %s%s%s", a, rpc_status_name(st), error && error[0] ? ": " : "",
                 error ? error : "");
        hard = false;
    }
    note_server(e, e->leader, why, hard);
    e->leader = (e->leader + 1) % e->n;
    retry(e, false);
}

static void too_large(struct clerk_engine *e, const char *error)
{
    e->too_large_size = e->head->len;
    e->too_large_limit = 0;
    if (rpc_too_large_parse(error, &e->too_large_size, &e->too_large_limit) == 0)
        rpc_too_large_message(e->error, sizeof e->error, (size_t)e->too_large_size,
                              (size_t)e->too_large_limit);
    else
        snprintf(e->error, sizeof e->error, "%s", error ? error : "request too large");
    finish(e, CLERK_TOO_LARGE, NULL, 0);
}

static void on_reply(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                     void *arg)
{
    struct clerk_engine *e = arg;
    e->call = 0;
    if (st == RPC_TOO_LARGE) { /* the same bytes would be refused everywhere: no retry */
        too_large(e, error);
        return;
    }
    struct clerk_reply r;
    memset(&r, 0, sizeof r);
    r.server = addr(e, e->leader);
    if (st != RPC_OK || !e->l.classify(e->l.ctx, payload, len, &r)) {
        attempt_failed(e, st, error);
        return;
    }
    char why[512];
    switch (r.verdict) {
    case CLERK_RETRY:
        snprintf(why, sizeof why, "%s: %s", addr(e, e->leader), r.why);
        note_server(e, e->leader, why, false);
        e->leader = (e->leader + 1) % e->n;
        if (e->l.release)
            e->l.release(e->l.ctx, &r);
        retry(e, false);
        return;
    case CLERK_WRONG_LEADER: {
        snprintf(why, sizeof why, "%s: %s", addr(e, e->leader), r.why);
        note_server(e, e->leader, why, false);
        size_t hint = r.hint_addr && r.hint_addr[0] ? server_of(e, r.hint_addr) : SIZE_MAX;
        bool moved = hint != SIZE_MAX && hint != e->leader;
        e->leader = hint != SIZE_MAX ? hint : (e->leader + 1) % e->n;
        if (e->l.release)
            e->l.release(e->l.ctx, &r);
        retry(e, moved);
        return;
    }
    case CLERK_DONE: {
        /* A follower relayed the call and the leader named itself: go there next time. */
        size_t hint = r.hint_addr && r.hint_addr[0] ? server_of(e, r.hint_addr) : SIZE_MAX;
        if (hint != SIZE_MAX)
            e->leader = hint;
        if (r.error[0])
            snprintf(e->error, sizeof e->error, "%s", r.error);
        finish(e, r.result, r.value, r.len);
        if (e->l.release)
            e->l.release(e->l.ctx, &r);
        return;
    }
    }
}

static void attempt(struct clerk_engine *e)
{
    uint64_t timeout = e->o.attempt_ms + e->head->len / ATTEMPT_BYTES_PER_MS;
    if (e->o.deadline_ms) {
        uint64_t spent = now(e) - e->started_ms;
        if (spent >= e->o.deadline_ms) {
            give_up(e, CLERK_TIMEOUT);
            return;
        }
        timeout = MIN(timeout, e->o.deadline_ms - spent);
    }
    e->call = e->t.ops->call(e->t.ctx, e->leader, e->l.method, e->head->req, e->head->len,
                             MAX(timeout, 1), on_reply, e);
}

void clerk_engine_submit(struct clerk_engine *e, uint8_t *req, size_t len,
                         clerk_engine_done_fn done, void *arg)
{
    struct op *op = xcalloc(1, sizeof *op);
    *op = (struct op){ req, len, done, arg, NULL };
    bool idle = e->head == NULL && !e->finishing;
    if (e->tail)
        e->tail->next = op;
    else
        e->head = op;
    e->tail = op;
    if (idle)
        start_next(e);
}

struct clerk_engine *clerk_engine_new(const struct clerk_transport *t,
                                      const struct clerk_layer *l, const struct clerk_opts *o)
{
    struct clerk_engine *e = xcalloc(1, sizeof *e);
    e->t = *t;
    e->l = *l;
    e->o = *o;
    e->n = t->ops->n_servers(t->ctx);
    rng_seed(&e->rng, o->seed);
    e->leader = rng_below(&e->rng, e->n);
    e->retry_timer = t->ops->timer_new(t->ctx, on_retry, e);
    e->why = xcalloc(e->n, sizeof *e->why);
    e->hard = xcalloc(e->n, sizeof *e->hard);
    return e;
}

void clerk_engine_free(struct clerk_engine *e)
{
    if (!e)
        return;
    if (e->call)
        e->t.ops->cancel(e->t.ctx, e->leader, e->call);
    e->t.ops->timer_free(e->t.ctx, e->retry_timer);
    while (e->head) {
        struct op *op = e->head;
        e->head = op->next;
        free(op->req);
        free(op);
    }
    for (size_t i = 0; i < e->n; i++)
        free(e->why[i]);
    free(e->why);
    free(e->hard);
    free(e);
}

const char *clerk_engine_error(const struct clerk_engine *e) { return e->error; }

void clerk_engine_too_large(const struct clerk_engine *e, uint64_t *size, uint64_t *limit)
{
    *size = e->too_large_size;
    *limit = e->too_large_limit;
}

size_t clerk_engine_leader(const struct clerk_engine *e) { return e->leader; }

void clerk_engine_prefer(struct clerk_engine *e, size_t server)
{
    if (server < e->n && !e->call)
        e->leader = server;
}

void clerk_engine_set_times(struct clerk_engine *e, uint64_t deadline_ms, uint64_t attempt_ms)
{
    e->o.deadline_ms = deadline_ms;
    e->o.attempt_ms = attempt_ms;
}
