/* The RPC client: one connection to one server, kept up with reconnects and backoff; calls
 * multiplexed by call id, each with its own deadline; ONEWAY messages for peer streams.
 *
 * A call is "queued" until the connection is established (its frame waits in c->queue, so a
 * connect that fails loses nothing), then "sent" (its frame was handed to the socket). Only
 * sent calls fail with RPC_DISCONNECTED when the connection breaks. */
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/u64map.h"
#include "base/util.h"
#include "rpc/internal.h"
#include "rpc/tls.h"

struct pending {
    uint64_t id;
    struct rpc_client *c;
    rpc_reply_fn cb;
    void *arg;
    struct event timer;       /* the deadline, or an immediate deferred failure */
    enum rpc_status deferred; /* when not RPC_OK, the timer fires at once with this status */
    size_t size;              /* of the request: for the TOO_LARGE message */
    bool sent;
};

struct rpc_client {
    struct event_base *base;
    struct evdns_base *dns;  /* the loop's resolver (dns.c), taken at a name's first lookup */
    bool dns_held;
    char *addr;
    char host[256];
    uint16_t port;
    struct rpc_client_opts o;
    struct bufferevent *bev; /* NULL while waiting to reconnect */
    bool connected;
    struct rpc_tls *tls;     /* NULL: plain TCP */
    SSL_SESSION *tls_session; /* the last TLS session, offered on the next connection */
    bool tls_resumed;        /* the current connection resumed it */
    bool got_reply;          /* a frame arrived on the current connection */
    /* The error of a PROTOCOL reply on the current connection (a TLS server's answer to this
     * plain client): the reason its connection then closes. */
    char refusal[256];
    struct evbuffer *queue;  /* frames of calls made while not connected */
    struct u64map calls;     /* id -> struct pending */
    uint64_t next_id;
    uint64_t backoff_ms;
    struct event *retry_timer;
    struct rng rng;
    uint64_t last_attempt_ms;
    char unresolved_why[512]; /* why calls to a name known not to exist fail at once */
    int depth;               /* callbacks running; rpc_client_free waits for 0 */
    bool free_requested;
};

static void client_connect(struct rpc_client *c);
static void client_unresolved(struct rpc_client *c, const char *why);
static void client_refused(struct rpc_client *c, const char *why);

void rpc_client_opts_default(struct rpc_client_opts *o)
{
    rpc_limits_default(&o->limits);
    o->reconnect_min_ms = 10;
    o->reconnect_max_ms = 1000;
    o->tls = NULL;
}

static void client_destroy(struct rpc_client *c);

/* Runs a user callback with the client protected against being freed from inside it.
 * Returns false when the client was freed by the callback (the caller must not touch it). */
static bool run_callback(struct rpc_client *c, rpc_reply_fn cb, enum rpc_status st,
                         const char *err, const uint8_t *payload, size_t len, void *arg)
{
    c->depth++;
    cb(st, err, payload, len, arg);
    c->depth--;
    if (c->depth == 0 && c->free_requested) {
        client_destroy(c);
        return false;
    }
    return !c->free_requested;
}

/* Removes a call and reports its outcome. Returns false when the client is gone. */
static bool complete(struct pending *p, enum rpc_status st, const char *err,
                     const uint8_t *payload, size_t len)
{
    struct rpc_client *c = p->c;
    u64map_del(&c->calls, p->id);
    event_del(&p->timer);
    rpc_reply_fn cb = p->cb;
    void *arg = p->arg;
    free(p);
    return run_callback(c, cb, st, err, payload, len, arg);
}

static void on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    if (p->deferred == RPC_TOO_LARGE) {
        char msg[128];
        rpc_too_large_message(msg, sizeof msg, p->size, p->c->o.limits.max_frame);
        complete(p, RPC_TOO_LARGE, msg, NULL, 0);
    } else if (p->deferred == RPC_UNREACHABLE) {
        char why[sizeof p->c->unresolved_why];
        snprintf(why, sizeof why, "%s", p->c->unresolved_why);
        complete(p, RPC_UNREACHABLE, why, NULL, 0);
    } else if (p->deferred != RPC_OK)
        complete(p, p->deferred, "output buffer full", NULL, 0);
    else
        complete(p, RPC_TIMEOUT, "deadline passed", NULL, 0);
}

/* ---- connection --------------------------------------------------------------------------- */

/* Collects the ids of the calls a broken connection fails: those sent on it, or, when the
 * connection never came up, every queued call (none was sent, so failing them is safe and lets
 * the caller try another server at once instead of waiting out its deadline). */
struct collect {
    uint64_t *ids;
    size_t n;
    bool all;
};

static void collect_failed(uint64_t key, void *val, void *arg)
{
    struct collect *c = arg;
    if (c->all || ((struct pending *)val)->sent)
        c->ids[c->n++] = key;
}

static void schedule_retry(struct rpc_client *c)
{
    /* Jitter in [backoff/2, backoff] keeps many clients from reconnecting in step. */
    uint64_t delay = c->backoff_ms / 2 + rng_below(&c->rng, c->backoff_ms / 2 + 1);
    c->backoff_ms = MIN(c->backoff_ms * 2, c->o.reconnect_max_ms);
    struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000 };
    evtimer_add(c->retry_timer, &tv);
}

/* Fails the calls a broken connection takes with it (see collect_failed) with st and why. */
static void fail_calls(struct rpc_client *c, bool all, enum rpc_status st, const char *why)
{
    /* Ids, not pointers: a callback may cancel another of these calls. */
    struct collect col = { xmalloc((c->calls.len + 1) * sizeof(uint64_t)), 0, all };
    u64map_each(&c->calls, collect_failed, &col);
    c->depth++;
    for (size_t i = 0; i < col.n && !c->free_requested; i++) {
        struct pending *p = u64map_get(&c->calls, col.ids[i]);
        if (p)
            complete(p, st, why, NULL, 0);
    }
    c->depth--;
    free(col.ids);
    if (c->depth == 0 && c->free_requested)
        client_destroy(c);
}

static void drop_bev(struct rpc_client *c)
{
    if (!c->bev)
        return;
    if (c->tls)
        rpc_tls_client_detach(c->bev);
    bufferevent_free(c->bev);
    c->bev = NULL;
}

/* The connection broke or could not be made: drop it, fail the calls that were sent on it
 * (DISCONNECTED, or PROTOCOL when the server spoke something else), or every queued call when
 * it never came up (UNREACHABLE), and schedule the next attempt. */
static void client_disconnect(struct rpc_client *c, const char *why, bool protocol)
{
    bool was_connected = c->connected;
    drop_bev(c);
    c->connected = false;
    schedule_retry(c);
    char msg[512];
    if (was_connected) {
        LOG_DEBUG("rpc", "connection to %s lost: %s", c->addr, why);
        snprintf(msg, sizeof msg, "connection to %s lost: %s", c->addr, why);
    } else {
        evbuffer_drain(c->queue, evbuffer_get_length(c->queue));
        snprintf(msg, sizeof msg, "cannot connect to %s: %s", c->addr, why);
    }
    if (protocol)
        snprintf(msg, sizeof msg, "%s does not speak this protocol (%s)", c->addr, why);
    else if (was_connected && c->refusal[0])
        snprintf(msg, sizeof msg, "connection to %s closed after: %s", c->addr, c->refusal);
    fail_calls(c, !was_connected,
               protocol ? RPC_PROTOCOL : was_connected ? RPC_DISCONNECTED : RPC_UNREACHABLE, msg);
}

static void mark_sent(uint64_t key, void *val, void *arg)
{
    (void)key;
    (void)arg;
    ((struct pending *)val)->sent = true;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct rpc_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->depth++;
    while (!c->free_requested && c->bev == bev) {
        Rpc__Envelope *env;
        enum rpc_read_result r = rpc_read_envelope(in, c->o.limits.max_frame, &env);
        if (r == RPC_READ_NEED_MORE)
            break;
        if (r != RPC_READ_OK || env->kind != RPC__KIND__REPLY) {
            if (r == RPC_READ_OK)
                rpc__envelope__free_unpacked(env, NULL);
            LOG_DEBUG("rpc", "closing connection to %s: malformed reply", c->addr);
            client_disconnect(c, "its reply is not a frame of this protocol", true);
            break;
        }
        c->got_reply = true;
        if (env->status == RPC__STATUS__PROTOCOL)
            snprintf(c->refusal, sizeof c->refusal, "%s", env->error);
        struct pending *p = u64map_get(&c->calls, env->call_id);
        if (p) /* else: it timed out or was cancelled; the late reply is dropped */
            complete(p, (enum rpc_status)env->status, env->error, env->payload.data,
                     env->payload.len);
        rpc__envelope__free_unpacked(env, NULL);
    }
    c->depth--;
    if (c->depth == 0 && c->free_requested)
        client_destroy(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_client *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = true;
        c->got_reply = false;
        c->refusal[0] = '\0';
        c->tls_resumed = c->tls && rpc_tls_resumed(bev);
        c->backoff_ms = c->o.reconnect_min_ms;
        rpc_socket_tune(bufferevent_getfd(bev));
        u64map_each(&c->calls, mark_sent, NULL);
        evbuffer_add_buffer(bufferevent_get_output(bev), c->queue);
        LOG_DEBUG("rpc", "connected to %s", c->addr);
        return;
    }
    int dns_err = bufferevent_socket_get_dns_error(bev);
    if ((what & BEV_EVENT_ERROR) && dns_err) {
        char why[512];
        snprintf(why, sizeof why, "cannot resolve %s: %s", c->addr, evutil_gai_strerror(dns_err));
        /* The resolver's answer (no such name), not a lookup that timed out: every client of
         * the loop believes it for a reconnect period (dns.c). */
        if (dns_err == EVUTIL_EAI_NONAME)
            rpc_dns_note_unresolved(c->base, c->host, why, c->o.reconnect_max_ms);
        client_unresolved(c, why);
        return;
    }
    if (c->tls && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        char why[512];
        int k = rpc_tls_client_failure(bev, what, c->connected, c->addr, why, sizeof why);
        if (k == 1 && !c->got_reply) {
            /* The handshake failed (with TLS 1.3 a refusal of this client's certificate comes
             * just after it): the server served nothing, so every call fails as unsent. */
            LOG_DEBUG("rpc", "%s", why);
            c->connected = false;
            client_refused(c, why);
            return;
        }
        if (k != 0) {
            client_disconnect(c, why, false);
            return;
        }
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        client_disconnect(c, what & BEV_EVENT_EOF ? "closed by peer"
                                                  : evutil_socket_error_to_string(
                                                        EVUTIL_SOCKET_ERROR()),
                          false);
}

/* The name did not resolve (or the address is not host:port): nothing was sent, so the waiting
 * calls can go elsewhere now rather than at their deadline. */
static void client_unresolved(struct rpc_client *c, const char *why)
{
    LOG_DEBUG("rpc", "%s", why);
    client_refused(c, why);
}

/* No connection could be made (why says why): nothing was sent; every call fails UNREACHABLE
 * now, and the next attempt is scheduled. */
static void client_refused(struct rpc_client *c, const char *why)
{
    drop_bev(c);
    schedule_retry(c);
    evbuffer_drain(c->queue, evbuffer_get_length(c->queue));
    fail_calls(c, true, RPC_UNREACHABLE, why);
}

/* A numeric address connects at once; a name is looked up on the loop first (dns.c: a
 * blocking getaddrinfo could stall every other connection of the loop for seconds). */
static void client_connect(struct rpc_client *c)
{
    c->last_attempt_ms = clock_mono_ms();
    struct sockaddr_storage ss;
    int sslen;
    char err[512];
    int numeric = rpc_resolve_numeric(c->addr, &ss, &sslen, err, sizeof err);
    if (numeric == 1 && !c->dns_held) { /* (numeric addresses never need one) */
        c->dns = rpc_dns_acquire(c->base);
        c->dns_held = true;
    }
    if (numeric < 0 || (numeric == 1 && (!c->dns || rpc_dns_unresolved(c->base, c->host, err,
                                                                        sizeof err)))) {
        if (numeric == 1 && !c->dns)
            snprintf(err, sizeof err, "cannot resolve %s: no resolver", c->addr);
        client_unresolved(c, err);
        return;
    }
    c->bev = c->tls ? rpc_tls_client_bev(c->base, c->tls, c->host, &c->tls_session)
                    : bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        snprintf(err, sizeof err, "cannot make a %sconnection to %s", c->tls ? "TLS " : "",
                 c->addr);
        client_refused(c, err);
        return;
    }
    rpc_bev_tune(c->bev);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* A lookup can end inside this call (a name in /etc/hosts, an immediate failure), its
     * failure callbacks too: hold off a free from one of them until we are done. */
    c->depth++;
    int rc = numeric == 0
                 ? bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, sslen)
                 : bufferevent_socket_connect_hostname(c->bev, c->dns, AF_UNSPEC, c->host, c->port);
    c->depth--;
    if (c->free_requested) {
        if (c->depth == 0)
            client_destroy(c);
        return;
    }
    if (rc != 0 && c->bev) {
        /* (A lookup that fails at once has already been reported through on_event.) */
        drop_bev(c);
        schedule_retry(c);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    client_connect(arg);
}

/* ---- public ----------------------------------------------------------------------------------- */

struct rpc_client *rpc_client_new(struct event_base *base, const char *addr,
                                  const struct rpc_client_opts *opts, char *err, size_t errlen)
{
    rpc_ignore_sigpipe();
    char host[256];
    uint16_t port;
    if (parse_host_port(addr, host, sizeof host, &port) != 0 || port == 0) {
        snprintf(err, errlen, "'%s': expected host:port with a port from 1 to 65535", addr);
        return NULL;
    }
    struct rpc_client *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->addr = xstrdup(addr);
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    if (opts)
        c->o = *opts;
    else
        rpc_client_opts_default(&c->o);
    c->tls = c->o.tls ? c->o.tls : rpc_tls_default();
    c->queue = evbuffer_new();
    c->backoff_ms = c->o.reconnect_min_ms;
    c->retry_timer = evtimer_new(base, on_retry, c);
    rng_seed(&c->rng, clock_mono_ns() ^ (uintptr_t)c);
    client_connect(c);
    return c;
}

static uint64_t call_start(struct rpc_client *c, const char *method, const uint8_t *req,
                           size_t len, uint64_t timeout_ms, bool forwarded, rpc_reply_fn cb,
                           void *arg)
{
    bool unresolved = !c->bev && c->dns &&
                      rpc_dns_unresolved(c->base, c->host, c->unresolved_why,
                                         sizeof c->unresolved_why);
    if (!c->bev && !unresolved && clock_mono_ms() - c->last_attempt_ms >= c->o.reconnect_min_ms) {
        /* Waiting to reconnect: a call is a reason to try now rather than after the backoff. */
        evtimer_del(c->retry_timer);
        client_connect(c);
    }
    struct pending *p = xcalloc(1, sizeof *p);
    p->id = ++c->next_id;
    p->c = c;
    p->cb = cb;
    p->arg = arg;
    evtimer_assign(&p->timer, c->base, on_call_timer, p);
    u64map_put(&c->calls, p->id, p);

    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.kind = RPC__KIND__CALL;
    env.call_id = p->id;
    env.method = (char *)method;
    env.payload.data = (uint8_t *)req;
    env.payload.len = len;
    env.forwarded = forwarded;
    struct evbuffer *out = c->connected ? bufferevent_get_output(c->bev) : c->queue;
    size_t size = RPC_FRAME_HEADER + rpc__envelope__get_packed_size(&env);
    p->size = len;
    if (unresolved)
        p->deferred = RPC_UNREACHABLE;
    else if (size - RPC_FRAME_HEADER > c->o.limits.max_frame)
        p->deferred = RPC_TOO_LARGE;
    else if (evbuffer_get_length(out) + size > c->o.limits.out_drop)
        p->deferred = RPC_OVERLOADED;
    if (p->deferred != RPC_OK) {
        event_active(&p->timer, EV_TIMEOUT, 0);
        return p->id;
    }
    rpc_write_envelope(out, &env, c->o.limits.max_frame);
    p->sent = c->connected;
    if (timeout_ms) {
        struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
        evtimer_add(&p->timer, &tv);
    }
    return p->id;
}

uint64_t rpc_client_call(struct rpc_client *c, const char *method, const uint8_t *req,
                         size_t len, uint64_t timeout_ms, rpc_reply_fn cb, void *arg)
{
    return call_start(c, method, req, len, timeout_ms, false, cb, arg);
}

uint64_t rpc_client_forward(struct rpc_client *c, const char *method, const uint8_t *req,
                            size_t len, uint64_t timeout_ms, rpc_reply_fn cb, void *arg)
{
    return call_start(c, method, req, len, timeout_ms, true, cb, arg);
}

uint64_t rpc_client_call_msg(struct rpc_client *c, const char *method,
                             const ProtobufCMessage *req, uint64_t timeout_ms, rpc_reply_fn cb,
                             void *arg)
{
    uint8_t *buf;
    size_t n = rpc_pack_msg(req, &buf);
    uint64_t id = rpc_client_call(c, method, buf, n, timeout_ms, cb, arg);
    free(buf);
    return id;
}

bool rpc_client_cancel(struct rpc_client *c, uint64_t call_id)
{
    struct pending *p = u64map_del(&c->calls, call_id);
    if (!p)
        return false;
    event_del(&p->timer);
    free(p);
    return true;
}

int rpc_client_send(struct rpc_client *c, const char *method, const uint8_t *msg, size_t len)
{
    if (!c->connected)
        return -1;
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.kind = RPC__KIND__ONEWAY;
    env.method = (char *)method;
    env.payload.data = (uint8_t *)msg;
    env.payload.len = len;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t size = RPC_FRAME_HEADER + rpc__envelope__get_packed_size(&env);
    if (evbuffer_get_length(out) + size > c->o.limits.out_drop)
        return -1;
    return rpc_write_envelope(out, &env, c->o.limits.max_frame);
}

int rpc_client_send_msg(struct rpc_client *c, const char *method, const ProtobufCMessage *msg)
{
    if (!c->connected)
        return -1;
    uint8_t *buf;
    size_t n = rpc_pack_msg(msg, &buf);
    int rc = rpc_client_send(c, method, buf, n);
    free(buf);
    return rc;
}

void rpc_client_flush(struct rpc_client *c)
{
    if (!c->connected)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) == 0)
        return;
    if (c->tls) {
        rpc_tls_flush(c->bev);
        return;
    }
    /* Between its own writes a socket bufferevent keeps the start of its output buffer frozen,
     * so that only it drains the buffer (evbuffer_write then fails without writing anything):
     * thaw it for this one write. What does not fit, and any error, is left to the
     * bufferevent's own write event. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, bufferevent_getfd(c->bev));
    evbuffer_freeze(out, 1);
}

bool rpc_client_connected(const struct rpc_client *c) { return c->connected; }

bool rpc_client_tls_resumed(const struct rpc_client *c) { return c->connected && c->tls_resumed; }

const char *rpc_client_addr(const struct rpc_client *c) { return c->addr; }

static void free_pending(uint64_t key, void *val, void *arg)
{
    (void)key;
    (void)arg;
    struct pending *p = val;
    event_del(&p->timer);
    free(p);
}

static void client_destroy(struct rpc_client *c)
{
    drop_bev(c);
    if (c->tls_session)
        rpc_tls_session_free(c->tls_session);
    u64map_each(&c->calls, free_pending, NULL);
    u64map_free(&c->calls);
    event_free(c->retry_timer);
    evbuffer_free(c->queue);
    if (c->dns_held)
        rpc_dns_release(c->base);
    free(c->addr);
    free(c);
}

void rpc_client_free(struct rpc_client *c)
{
    if (!c)
        return;
    if (c->depth > 0) {
        /* Called from inside one of our callbacks: finish when it returns. */
        c->free_requested = true;
        return;
    }
    client_destroy(c);
}
