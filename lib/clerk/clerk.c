#include "clerk/clerk.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "kv.pb-c.h"
#include "rpc/rpc.h"

#define BACKOFF_MIN_MS 5
#define BACKOFF_MAX_MS 200
/* An attempt's time grows with the request: moving it and writing it durably on three nodes
 * takes time, and cutting a large write short only makes the clerk send it again. */
#define ATTEMPT_BYTES_PER_MS 32768

struct clerk_net {
    struct event_base *base;
    char **addrs;
    struct rpc_client **clients;
    size_t n;
};

/* One queued operation: the encoded command (fixed once, so retries are identical). */
struct op {
    uint8_t *cmd;
    size_t len;
    clerk_done_fn done;
    void *arg;
    struct op *next;
};

struct clerk {
    struct clerk_net *net;
    struct clerk_opts o;
    struct rng rng;
    uint64_t id, seq;
    size_t leader;          /* index of the server tried first */
    struct op *head, *tail; /* head is running */
    uint64_t started_ms, backoff_ms;
    uint64_t call_id;       /* the attempt in flight (0: none) */
    bool finishing;         /* inside a done callback: a new operation waits for start_next */
    struct event *retry_ev;
    /* What each server did on its last attempt of the running operation (why[i] NULL: nothing
     * yet); hard: a failure that retrying will not fix soon. */
    char **why;
    bool *hard;
    char error[1024];       /* clerk_error */
    uint64_t too_large_size, too_large_limit;
};

const char *clerk_result_name(enum clerk_result r)
{
    static const char *const names[] = { "OK", "NO_KEY", "TIMEOUT", "TOO_LARGE", "UNREACHABLE",
                                         "NO_SPACE" };
    return (unsigned)r < ARRAY_LEN(names) ? names[r] : "?";
}

void clerk_opts_default(struct clerk_opts *o)
{
    o->deadline_ms = 0;
    o->attempt_ms = 1000;
    o->seed = 0;
    o->fail_fast_ms = 0;
}

/* ---- the net ---------------------------------------------------------------------------- */

struct clerk_net *clerk_net_new(struct event_base *base, const char *const *servers, size_t n,
                                char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "no servers given");
        return NULL;
    }
    struct clerk_net *net = xcalloc(1, sizeof *net);
    net->base = base;
    net->n = n;
    net->addrs = xcalloc(n, sizeof *net->addrs);
    net->clients = xcalloc(n, sizeof *net->clients);
    struct rpc_client_opts ro;
    rpc_client_opts_default(&ro);
    for (size_t i = 0; i < n; i++) {
        net->addrs[i] = xstrdup(servers[i]);
        net->clients[i] = rpc_client_new(base, servers[i], &ro, err, errlen);
        if (!net->clients[i]) {
            clerk_net_free(net);
            return NULL;
        }
    }
    return net;
}

void clerk_net_free(struct clerk_net *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->n; i++) {
        rpc_client_free(net->clients[i]);
        free(net->addrs[i]);
    }
    free(net->clients);
    free(net->addrs);
    free(net);
}

/* ---- running operations ------------------------------------------------------------------ */

static void attempt(struct clerk *c);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attempt(arg);
}

static void note_server(struct clerk *c, size_t i, const char *why, bool hard)
{
    free(c->why[i]);
    c->why[i] = why ? xstrdup(why) : NULL;
    c->hard[i] = hard;
}

/* clerk_error for a failure: the headline, then what each server last did. */
static void describe(struct clerk *c, const char *headline)
{
    size_t used = (size_t)snprintf(c->error, sizeof c->error, "%s", headline);
    for (size_t i = 0; i < c->net->n && used < sizeof c->error; i++)
        if (c->why[i])
            used += (size_t)snprintf(c->error + used, sizeof c->error - used, "%s%s",
                                     used ? "; " : "", c->why[i]);
}

/* True when every server's last attempt failed for good (see clerk_opts.fail_fast_ms). */
static bool all_hard(const struct clerk *c)
{
    for (size_t i = 0; i < c->net->n; i++)
        if (!c->why[i] || !c->hard[i])
            return false;
    return true;
}

static void start_next(struct clerk *c)
{
    if (!c->head)
        return;
    for (size_t i = 0; i < c->net->n; i++)
        note_server(c, i, NULL, false);
    c->started_ms = clock_mono_ms();
    c->backoff_ms = BACKOFF_MIN_MS;
    attempt(c);
}

static void finish(struct clerk *c, enum clerk_result r, const uint8_t *value, size_t len)
{
    struct op *op = c->head;
    c->head = op->next;
    if (!c->head)
        c->tail = NULL;
    /* The callback may queue the next operation: it is started below, once, not by enqueue. */
    c->finishing = true;
    op->done(r, value, len, op->arg);
    c->finishing = false;
    free(op->cmd);
    free(op);
    start_next(c);
}

static void give_up(struct clerk *c, enum clerk_result r)
{
    char head[128] = "";
    if (r == CLERK_TIMEOUT)
        snprintf(head, sizeof head, "no leader answered within %llu ms",
                 (unsigned long long)c->o.deadline_ms);
    describe(c, head);
    finish(c, r, NULL, 0);
}

/* Tries again later, on another server unless a hint said where the leader is. */
static void retry(struct clerk *c, bool moved)
{
    uint64_t spent = clock_mono_ms() - c->started_ms;
    if (c->o.deadline_ms && spent >= c->o.deadline_ms) {
        give_up(c, CLERK_TIMEOUT);
        return;
    }
    if (c->o.fail_fast_ms && spent >= c->o.fail_fast_ms && all_hard(c)) {
        give_up(c, CLERK_UNREACHABLE);
        return;
    }
    if (moved) {
        attempt(c);
        return;
    }
    uint64_t delay = c->backoff_ms / 2 + rng_below(&c->rng, c->backoff_ms / 2 + 1);
    c->backoff_ms = MIN(c->backoff_ms * 2, BACKOFF_MAX_MS);
    struct timeval tv = { 0, (suseconds_t)delay * 1000 };
    evtimer_add(c->retry_ev, &tv);
}

static size_t server_of(const struct clerk *c, const char *addr)
{
    for (size_t i = 0; i < c->net->n; i++)
        if (strcmp(c->net->addrs[i], addr) == 0)
            return i;
    return SIZE_MAX;
}

/* A transport failure of an attempt: note what happened, try the next server. */
static void attempt_failed(struct clerk *c, enum rpc_status st, const char *error)
{
    const char *addr = c->net->addrs[c->leader];
    char why[512];
    bool hard = true;
    switch (st) {
    case RPC_UNREACHABLE: /* the client's text names the address and the cause */
        snprintf(why, sizeof why, "%s", error && error[0] ? error : "cannot connect");
        break;
    case RPC_PROTOCOL:
        snprintf(why, sizeof why, "%s is not a kvd server (it does not speak this protocol)", addr);
        break;
    case RPC_UNKNOWN_METHOD:
        snprintf(why, sizeof why, "%s is not a kvd server (it has no method kv.Op)", addr);
        break;
    case RPC_OK: /* a reply that is not a kv.Reply */
        snprintf(why, sizeof why, "%s is not a kvd server (its reply is not a kv.Reply)", addr);
        break;
    default:
        snprintf(why, sizeof why, "%s: %s%s%s", addr, rpc_status_name(st),
                 error && error[0] ? ": " : "", error ? error : "");
        hard = false;
    }
    note_server(c, c->leader, why, hard);
    c->leader = (c->leader + 1) % c->net->n;
    retry(c, false);
}

static void on_reply(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                     void *arg)
{
    struct clerk *c = arg;
    c->call_id = 0;
    if (st == RPC_TOO_LARGE) { /* the same bytes would be refused everywhere: no retry */
        c->too_large_size = c->head->len;
        c->too_large_limit = 0;
        if (rpc_too_large_parse(error, &c->too_large_size, &c->too_large_limit) == 0)
            rpc_too_large_message(c->error, sizeof c->error, (size_t)c->too_large_size,
                                  (size_t)c->too_large_limit);
        else
            snprintf(c->error, sizeof c->error, "%s", error ? error : "request too large");
        finish(c, CLERK_TOO_LARGE, NULL, 0);
        return;
    }
    Kv__Reply *r = st == RPC_OK ? kv__reply__unpack(NULL, len, payload) : NULL;
    if (!r) {
        attempt_failed(c, st, error);
        return;
    }
    const char *addr = c->net->addrs[c->leader];
    char why[512];
    if (r->err == KV__ERR__TIMEOUT || r->err == KV__ERR__SHUTTING_DOWN) {
        snprintf(why, sizeof why, "%s: %s", addr,
                 r->err == KV__ERR__TIMEOUT ? "timed out" : "shutting down");
        note_server(c, c->leader, why, false);
        c->leader = (c->leader + 1) % c->net->n;
        kv__reply__free_unpacked(r, NULL);
        retry(c, false);
        return;
    }
    if (r->err == KV__ERR__WRONG_LEADER) {
        snprintf(why, sizeof why, "%s: %s", addr,
                 r->leader_id ? "not the leader" : "no leader known");
        note_server(c, c->leader, why, false);
        size_t hint = r->leader_addr[0] ? server_of(c, r->leader_addr) : SIZE_MAX;
        bool moved = hint != SIZE_MAX && hint != c->leader;
        c->leader = hint != SIZE_MAX ? hint : (c->leader + 1) % c->net->n;
        kv__reply__free_unpacked(r, NULL);
        retry(c, moved);
        return;
    }
    /* NO_SPACE is the leader's answer, and another server would only redirect there: at once. */
    if (r->err == KV__ERR__NO_SPACE)
        snprintf(c->error, sizeof c->error, "not written: no space left on the data volume of %s",
                 r->leader_addr[0] ? r->leader_addr : addr);
    enum clerk_result res = r->err == KV__ERR__NO_KEY     ? CLERK_NO_KEY
                            : r->err == KV__ERR__NO_SPACE ? CLERK_NO_SPACE
                                                          : CLERK_OK;
    finish(c, res, r->value.data, r->value.len);
    kv__reply__free_unpacked(r, NULL);
}

static void attempt(struct clerk *c)
{
    uint64_t timeout = c->o.attempt_ms + c->head->len / ATTEMPT_BYTES_PER_MS;
    if (c->o.deadline_ms) {
        uint64_t spent = clock_mono_ms() - c->started_ms;
        if (spent >= c->o.deadline_ms) {
            give_up(c, CLERK_TIMEOUT);
            return;
        }
        timeout = MIN(timeout, c->o.deadline_ms - spent);
    }
    c->call_id = rpc_client_call(c->net->clients[c->leader], "kv.Op", c->head->cmd, c->head->len,
                                 MAX(timeout, 1), on_reply, c);
}

static void enqueue(struct clerk *c, Kv__OpType type, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    Kv__Command cmd = KV__COMMAND__INIT;
    cmd.op = type;
    cmd.key.data = (uint8_t *)key;
    cmd.key.len = klen;
    cmd.value.data = (uint8_t *)val;
    cmd.value.len = vlen;
    cmd.want_prev = want_prev;
    if (type != KV__OP_TYPE__GET) { /* Gets leave no state on the server: no id, no number */
        cmd.client_id = c->id;
        cmd.seq = ++c->seq;
    }
    struct op *op = xcalloc(1, sizeof *op);
    op->len = kv__command__get_packed_size(&cmd);
    op->cmd = xmalloc(op->len ? op->len : 1);
    kv__command__pack(&cmd, op->cmd);
    op->done = done;
    op->arg = arg;
    bool idle = c->head == NULL && !c->finishing;
    if (c->tail)
        c->tail->next = op;
    else
        c->head = op;
    c->tail = op;
    if (idle)
        start_next(c);
}

void clerk_get(struct clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__GET, key, klen, NULL, 0, false, done, arg);
}

void clerk_put(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
               bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__PUT, key, klen, val, vlen, want_prev, done, arg);
}

void clerk_append(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__APPEND, key, klen, val, vlen, want_prev, done, arg);
}

struct clerk *clerk_new(struct clerk_net *net, const struct clerk_opts *o)
{
    struct clerk *c = xcalloc(1, sizeof *c);
    c->net = net;
    if (o)
        c->o = *o;
    else
        clerk_opts_default(&c->o);
    rng_seed(&c->rng, c->o.seed ? c->o.seed : clock_wall_ns() ^ (uintptr_t)c);
    do {
        c->id = rng_next(&c->rng);
    } while (c->id == 0);
    c->leader = rng_below(&c->rng, net->n);
    c->retry_ev = evtimer_new(net->base, on_retry, c);
    c->why = xcalloc(net->n, sizeof *c->why);
    c->hard = xcalloc(net->n, sizeof *c->hard);
    return c;
}

void clerk_free(struct clerk *c)
{
    if (!c)
        return;
    if (c->call_id)
        rpc_client_cancel(c->net->clients[c->leader], c->call_id);
    event_free(c->retry_ev);
    while (c->head) {
        struct op *op = c->head;
        c->head = op->next;
        free(op->cmd);
        free(op);
    }
    for (size_t i = 0; i < c->net->n; i++)
        free(c->why[i]);
    free(c->why);
    free(c->hard);
    free(c);
}

uint64_t clerk_client_id(const struct clerk *c) { return c->id; }

const char *clerk_error(const struct clerk *c) { return c->error; }

void clerk_too_large(const struct clerk *c, uint64_t *size, uint64_t *limit)
{
    *size = c->too_large_size;
    *limit = c->too_large_limit;
}

/* ---- blocking API -------------------------------------------------------------------------- */

struct clerk_sync {
    struct event_base *base;
    struct clerk_net *net;
    struct clerk *clerk;
};

struct sync_result {
    bool done;
    enum clerk_result r;
    uint8_t *value;
    size_t len;
};

static void on_sync_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct sync_result *s = arg;
    s->done = true;
    s->r = r;
    s->len = len;
    s->value = xmalloc(len + 1);
    if (len)
        memcpy(s->value, value, len);
    s->value[len] = '\0';
}

struct clerk_sync *clerk_sync_new(const char *const *servers, size_t n, const struct clerk_opts *o,
                                  char *err, size_t errlen)
{
    struct clerk_sync *s = xcalloc(1, sizeof *s);
    s->base = event_base_new();
    s->net = clerk_net_new(s->base, servers, n, err, errlen);
    if (!s->net) {
        event_base_free(s->base);
        free(s);
        return NULL;
    }
    s->clerk = clerk_new(s->net, o);
    return s;
}

void clerk_sync_free(struct clerk_sync *s)
{
    if (!s)
        return;
    clerk_free(s->clerk);
    clerk_net_free(s->net);
    event_base_free(s->base);
    free(s);
}

static enum clerk_result wait_result(struct clerk_sync *s, struct sync_result *res, uint8_t **value,
                                     size_t *len)
{
    while (!res->done)
        event_base_loop(s->base, EVLOOP_ONCE);
    if (value) {
        *value = res->value;
        *len = res->len;
    } else {
        free(res->value);
    }
    return res->r;
}

struct clerk *clerk_sync_clerk(struct clerk_sync *s) { return s->clerk; }

enum clerk_result clerk_sync_get(struct clerk_sync *s, const char *key, uint8_t **value, size_t *len)
{
    struct sync_result res = { 0 };
    clerk_get(s->clerk, (const uint8_t *)key, strlen(key), on_sync_done, &res);
    return wait_result(s, &res, value, len);
}

enum clerk_result clerk_sync_put(struct clerk_sync *s, const char *key, const uint8_t *val,
                                 size_t vlen)
{
    struct sync_result res = { 0 };
    clerk_put(s->clerk, (const uint8_t *)key, strlen(key), val, vlen, false, on_sync_done, &res);
    return wait_result(s, &res, NULL, NULL);
}

enum clerk_result clerk_sync_append(struct clerk_sync *s, const char *key, const uint8_t *val,
                                    size_t vlen)
{
    struct sync_result res = { 0 };
    clerk_append(s->clerk, (const uint8_t *)key, strlen(key), val, vlen, false, on_sync_done, &res);
    return wait_result(s, &res, NULL, NULL);
}
