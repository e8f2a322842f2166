/* The RPC server: accepts connections, reads frames, dispatches CALLs and ONEWAY messages to
 * registered handlers, writes replies, and keeps every connection's memory bounded.
 *
 * Lifetimes: a connection (struct sconn) lives from accept to close. A call lives from dispatch
 * until its handler answers it; if the connection closes first, the call is detached
 * (call->conn = NULL) and the later answer only frees it. So neither outlives the other's
 * pointer, and no reference counts are needed. */
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "rpc/internal.h"

#define MAX_LISTENERS 8
#define SHUTDOWN_TICK_MS 10
#define SHUTDOWN_FLUSH_MS 1000

struct handler {
    char *method;
    rpc_handler_fn call;
    rpc_message_fn msg;
    void *arg;
};

struct sconn {
    struct rpc_server *srv;
    struct bufferevent *bev;
    char peer[64];
    uint32_t pending;       /* calls dispatched and not answered */
    bool paused;            /* reading stopped: output too large or too many pending calls */
    bool busy;              /* inside conn_process: closing is deferred to its end */
    bool dead;              /* closed while busy; freed when conn_process unwinds */
    struct rpc_call *calls; /* pending calls, doubly linked */
    struct sconn *prev, *next;
};

struct rpc_call {
    struct sconn *conn; /* NULL once detached: the answer is discarded */
    uint64_t id;
    bool forwarded;
    struct rpc_call *prev, *next;
};

enum stop_phase { RUNNING, DRAINING, FLUSHING, STOPPED };

struct rpc_server {
    struct event_base *base;
    struct rpc_limits lim;
    struct evconnlistener *listeners[MAX_LISTENERS];
    size_t nlisteners;
    struct handler *handlers;
    size_t nhandlers;
    struct sconn *conns;
    struct rpc_server_stats st;
    enum stop_phase phase;
    struct event *stop_timer;
    uint64_t phase_deadline_ms;
    void (*stop_done)(void *);
    void *stop_arg;
};

static void conn_process(struct sconn *c);

/* ---- calls ---------------------------------------------------------------------------------- */

static void call_attach(struct sconn *c, struct rpc_call *call)
{
    call->conn = c;
    call->prev = NULL;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->pending++;
    c->srv->st.pending_calls++;
}

static void call_detach(struct rpc_call *call)
{
    struct sconn *c = call->conn;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    c->pending--;
    c->srv->st.pending_calls--;
    call->conn = NULL;
}

bool rpc_call_connected(const struct rpc_call *call) { return call->conn != NULL; }

const char *rpc_call_peer(const struct rpc_call *call)
{
    return call->conn ? call->conn->peer : "(closed)";
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_free(struct sconn *c)
{
    bufferevent_free(c->bev);
    free(c);
}

/* Closes a connection: detaches its calls, unlinks it, and frees it (at once, or when the
 * conn_process that is running for it unwinds). */
static void conn_close(struct sconn *c)
{
    if (c->dead)
        return;
    while (c->calls)
        call_detach(c->calls);
    struct rpc_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->st.conns_open--;
    if (c->busy) {
        c->dead = true;
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    } else {
        conn_free(c);
    }
}

/* Bad input: close the connection, count it, log it once. */
static void conn_reject(struct sconn *c, const char *why)
{
    c->srv->st.bad_input++;
    LOG_WARN("rpc", "closing connection from %s: %s", c->peer, why);
    conn_close(c);
}

static bool conn_should_pause(const struct sconn *c)
{
    const struct rpc_server *s = c->srv;
    return s->phase != RUNNING || c->pending >= s->lim.max_pending ||
           evbuffer_get_length(bufferevent_get_output(c->bev)) > s->lim.out_pause;
}

static void conn_pause(struct sconn *c)
{
    c->paused = true;
    bufferevent_disable(c->bev, EV_READ);
    if (c->srv->phase == RUNNING)
        c->srv->st.paused++;
}

/* Resumes reading once the reason for the pause has gone. Frames already buffered are handled
 * from the loop (a deferred read callback), never from inside the caller. */
static void conn_maybe_resume(struct sconn *c)
{
    if (!c->paused || conn_should_pause(c))
        return;
    c->paused = false;
    bufferevent_enable(c->bev, EV_READ);
    if (!c->busy && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* Writes a reply. Returns false when the connection was closed instead (it did not read its
 * earlier replies); c may then be freed already. */
static bool send_reply(struct sconn *c, uint64_t id, enum rpc_status st, const char *err,
                       const uint8_t *payload, size_t len)
{
    struct rpc_server *s = c->srv;
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.kind = RPC__KIND__REPLY;
    env.call_id = id;
    env.status = (Rpc__Status)st;
    env.error = (char *)(err ? err : "");
    env.payload.data = (uint8_t *)payload;
    env.payload.len = len;
    size_t size = rpc__envelope__get_packed_size(&env);
    if (size > s->lim.max_frame) {
        env.status = RPC__STATUS__TOO_LARGE;
        env.error = "reply exceeds the frame size limit";
        env.payload.len = 0;
        size = rpc__envelope__get_packed_size(&env);
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) + RPC_FRAME_HEADER + size > s->lim.out_drop) {
        s->st.slow_drops++;
        LOG_WARN("rpc", "closing connection from %s: it does not read its replies (%zu bytes "
                        "unsent)", c->peer, evbuffer_get_length(out));
        conn_close(c);
        return false;
    }
    rpc_write_envelope(out, &env, s->lim.max_frame);
    return true;
}

static void answer(struct rpc_call *call, enum rpc_status st, const char *err,
                   const uint8_t *payload, size_t len)
{
    struct sconn *c = call->conn;
    if (c) {
        call_detach(call);
        if (send_reply(c, call->id, st, err, payload, len))
            conn_maybe_resume(c);
    }
    free(call);
}

void rpc_call_reply(struct rpc_call *call, const uint8_t *payload, size_t len)
{
    answer(call, RPC_OK, NULL, payload, len);
}

void rpc_call_reply_msg(struct rpc_call *call, const ProtobufCMessage *msg)
{
    uint8_t *buf;
    size_t n = rpc_pack_msg(msg, &buf);
    answer(call, RPC_OK, NULL, buf, n);
    free(buf);
}

void rpc_call_fail(struct rpc_call *call, enum rpc_status st, const char *message)
{
    answer(call, st, message, NULL, 0);
}

bool rpc_call_forwarded(const struct rpc_call *call) { return call->forwarded; }

static const struct handler *find_handler(const struct rpc_server *s, const char *method)
{
    for (size_t i = 0; i < s->nhandlers; i++)
        if (strcmp(s->handlers[i].method, method) == 0)
            return &s->handlers[i];
    return NULL;
}

static void dispatch(struct sconn *c, const Rpc__Envelope *env)
{
    struct rpc_server *s = c->srv;
    const struct handler *h = find_handler(s, env->method);
    if (env->kind == RPC__KIND__ONEWAY) {
        s->st.messages++;
        if (h && h->msg)
            h->msg(env->payload.data, env->payload.len, h->arg);
        else
            LOG_DEBUG("rpc", "no handler for message '%s' from %s", env->method, c->peer);
        return;
    }
    if (env->kind != RPC__KIND__CALL) {
        conn_reject(c, "a client sent a REPLY frame");
        return;
    }
    s->st.calls++;
    struct rpc_call *call = xmalloc(sizeof *call);
    call->id = env->call_id;
    call->forwarded = env->forwarded;
    call_attach(c, call);
    size_t max_request = s->lim.max_request ? s->lim.max_request : s->lim.max_frame;
    if (s->phase != RUNNING) {
        rpc_call_fail(call, RPC_SHUTTING_DOWN, "server is shutting down");
    } else if (env->payload.len > max_request) {
        char msg[128];
        rpc_too_large_message(msg, sizeof msg, env->payload.len, max_request);
        rpc_call_fail(call, RPC_TOO_LARGE, msg);
    } else if (!h || !h->call) {
        char msg[160];
        snprintf(msg, sizeof msg, "no such method '%.100s'", env->method);
        rpc_call_fail(call, RPC_UNKNOWN_METHOD, msg);
    } else {
        h->call(call, env->payload.data, env->payload.len, h->arg);
    }
}

/* Handles every whole frame in the input buffer, unless the connection must pause. */
static void conn_process(struct sconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->busy = true;
    while (!c->dead) {
        if (conn_should_pause(c)) {
            conn_pause(c);
            break;
        }
        Rpc__Envelope *env;
        enum rpc_read_result r = rpc_read_envelope(in, c->srv->lim.max_frame, &env);
        if (r == RPC_READ_NEED_MORE)
            break;
        if (r == RPC_READ_TOO_LARGE) {
            conn_reject(c, "frame length exceeds the limit");
            break;
        }
        if (r == RPC_READ_BAD) {
            conn_reject(c, "frame is not a valid envelope");
            break;
        }
        dispatch(c, env);
        rpc__envelope__free_unpacked(env, NULL);
    }
    c->busy = false;
    if (c->dead)
        conn_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

/* Called when the output drains to the low watermark (half of out_pause). */
static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_maybe_resume(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct sconn *c = arg;
    if (what & BEV_EVENT_ERROR)
        LOG_DEBUG("rpc", "connection from %s: %s", c->peer,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_close(c);
}

static void format_peer(const struct sockaddr *sa, int salen, char *out, size_t len)
{
    char host[48], serv[8]; /* numeric: an IPv6 address and a port fit */
    if (getnameinfo(sa, (socklen_t)salen, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(out, len, "%s:%s", host, serv);
    else
        snprintf(out, len, "(unknown)");
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)l;
    struct rpc_server *s = arg;
    rpc_socket_tune(fd);
    struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    struct sconn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->bev = bev;
    format_peer(sa, salen, c->peer, sizeof c->peer);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->st.conns_accepted++;
    s->st.conns_open++;
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(bev, EV_WRITE, s->lim.out_pause / 2, 0);
    rpc_bev_tune(bev);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    /* Typically EMFILE: the listener keeps going; the client sees a refused connection. */
    LOG_WARN("rpc", "accept failed: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ---- the server object ------------------------------------------------------------------------ */

/* The built-in "rpc.Stats" method: every server reports its transport counters. */
static void handle_stats(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    struct rpc_server_stats st;
    rpc_server_stats(arg, &st);
    Rpc__ServerStats m = RPC__SERVER_STATS__INIT;
    m.conns_accepted = st.conns_accepted;
    m.conns_open = st.conns_open;
    m.calls = st.calls;
    m.messages = st.messages;
    m.bad_input = st.bad_input;
    m.slow_drops = st.slow_drops;
    m.paused = st.paused;
    m.pending_calls = st.pending_calls;
    m.out_buffered = st.out_buffered;
    m.in_buffered = st.in_buffered;
    rpc_call_reply_msg(call, &m.base);
}

struct rpc_server *rpc_server_new(struct event_base *base, const struct rpc_limits *lim)
{
    struct rpc_server *s = xcalloc(1, sizeof *s);
    s->base = base;
    if (lim)
        s->lim = *lim;
    else
        rpc_limits_default(&s->lim);
    rpc_server_handle(s, "rpc.Stats", handle_stats, s);
    return s;
}

int rpc_server_listen(struct rpc_server *s, const char *addr, char *err, size_t errlen)
{
    if (s->nlisteners == MAX_LISTENERS) {
        snprintf(err, errlen, "too many listen addresses (at most %d)", MAX_LISTENERS);
        return -1;
    }
    struct sockaddr_storage ss;
    int sslen;
    if (rpc_resolve(addr, &ss, &sslen, err, errlen) != 0)
        return -1;
    struct evconnlistener *l = evconnlistener_new_bind(
        s->base, on_accept, s, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        1024, (struct sockaddr *)&ss, sslen);
    if (!l) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return -1;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    s->listeners[s->nlisteners++] = l;
    return 0;
}

uint16_t rpc_server_port(const struct rpc_server *s)
{
    if (s->nlisteners == 0)
        return 0;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evconnlistener_get_fd(s->listeners[0]), (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

static void set_handler(struct rpc_server *s, const char *method, rpc_handler_fn call,
                        rpc_message_fn msg, void *arg)
{
    for (size_t i = 0; i < s->nhandlers; i++) {
        if (strcmp(s->handlers[i].method, method) == 0) {
            s->handlers[i].call = call;
            s->handlers[i].msg = msg;
            s->handlers[i].arg = arg;
            return;
        }
    }
    s->handlers = xrealloc(s->handlers, (s->nhandlers + 1) * sizeof *s->handlers);
    s->handlers[s->nhandlers++] = (struct handler){ xstrdup(method), call, msg, arg };
}

void rpc_server_handle(struct rpc_server *s, const char *method, rpc_handler_fn fn, void *arg)
{
    set_handler(s, method, fn, NULL, arg);
}

void rpc_server_handle_message(struct rpc_server *s, const char *method, rpc_message_fn fn,
                               void *arg)
{
    set_handler(s, method, NULL, fn, arg);
}

void rpc_server_stats(const struct rpc_server *s, struct rpc_server_stats *st)
{
    *st = s->st;
    st->out_buffered = st->in_buffered = 0;
    for (const struct sconn *c = s->conns; c; c = c->next) {
        st->out_buffered += evbuffer_get_length(bufferevent_get_output(c->bev));
        st->in_buffered += evbuffer_get_length(bufferevent_get_input(c->bev));
    }
}

static void close_listeners(struct rpc_server *s)
{
    for (size_t i = 0; i < s->nlisteners; i++)
        evconnlistener_free(s->listeners[i]);
    s->nlisteners = 0;
}

static bool all_flushed(const struct rpc_server *s)
{
    for (const struct sconn *c = s->conns; c; c = c->next)
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
            return false;
    return true;
}

/* Drives the shutdown: DRAINING until no call is pending or the grace period ends (then the
 * rest are answered SHUTTING_DOWN and detached); FLUSHING until replies are written or a short
 * deadline passes; then every connection is closed and done() is called. */
static void on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rpc_server *s = arg;
    uint64_t now = clock_mono_ms();
    if (s->phase == DRAINING && (s->st.pending_calls == 0 || now >= s->phase_deadline_ms)) {
        struct sconn *next;
        for (struct sconn *c = s->conns; c; c = next) {
            next = c->next;
            while (c->calls) {
                struct rpc_call *call = c->calls;
                call_detach(call);
                if (!send_reply(c, call->id, RPC_SHUTTING_DOWN, "server is shutting down", NULL, 0))
                    break;
            }
        }
        s->phase = FLUSHING;
        s->phase_deadline_ms = now + SHUTDOWN_FLUSH_MS;
    }
    if (s->phase == FLUSHING && (all_flushed(s) || now >= s->phase_deadline_ms)) {
        while (s->conns)
            conn_close(s->conns);
        s->phase = STOPPED;
        evtimer_del(s->stop_timer);
        if (s->stop_done)
            s->stop_done(s->stop_arg);
    }
}

void rpc_server_shutdown(struct rpc_server *s, uint64_t grace_ms, void (*done)(void *arg),
                         void *arg)
{
    if (s->phase != RUNNING)
        return;
    close_listeners(s);
    s->phase = DRAINING;
    s->phase_deadline_ms = clock_mono_ms() + grace_ms;
    s->stop_done = done;
    s->stop_arg = arg;
    for (struct sconn *c = s->conns; c; c = c->next)
        if (!c->paused)
            conn_pause(c);
    s->stop_timer = event_new(s->base, -1, EV_PERSIST, on_stop_tick, s);
    struct timeval tv = { 0, SHUTDOWN_TICK_MS * 1000 };
    evtimer_add(s->stop_timer, &tv);
    LOG_INFO("rpc", "shutting down: %llu calls pending, %llu connections",
             (unsigned long long)s->st.pending_calls, (unsigned long long)s->st.conns_open);
}

void rpc_server_free(struct rpc_server *s)
{
    if (!s)
        return;
    close_listeners(s);
    while (s->conns)
        conn_close(s->conns);
    if (s->stop_timer)
        event_free(s->stop_timer);
    for (size_t i = 0; i < s->nhandlers; i++)
        free(s->handlers[i].method);
    free(s->handlers);
    free(s);
}
