/* The RPC server: accepts connections, reads frames, dispatches CALLs and ONEWAY messages to
 * registered handlers, writes replies, and keeps every connection's memory bounded.
 *
 * Lifetimes: a connection (struct sconn) lives from accept to close. A call lives from dispatch
 * until its handler answers it; if the connection closes first, the call is detached
 * (call->conn = NULL) and the later answer only frees it. So neither outlives the other's
 * pointer, and no reference counts are needed.
 *
 * Input memory: bytes read and not yet dispatched are counted per connection (in_acct) and in
 * all (in_total), after every read; over the budget, the connection holding the most is closed.
 * A frame of BIG_BODY bytes or more that is not complete yet is moved out of the bufferevent
 * into a mapping of its own (body_*): libevent reads at most 4 KiB per callback into small heap
 * chains, and tens of MB of such chains, once freed, stay in the fragmented heap (glibc's RSS
 * stayed at 612 MiB after ten connections holding 60 MB each had closed); a mapping is given
 * back to the system when it is unmapped, and the whole frame is then decoded from it without
 * evbuffer_pullup's second copy. The length is checked against max_frame before mapping, and
 * the mapping grows with the bytes received (mremap), so a header alone reserves little.
 * Smaller partial frames stay in the chains; when the input held falls to a quarter of a peak
 * of TRIM_PEAK or more (many such connections closed, or finished their frames), the heap is
 * trimmed a little later (malloc_trim gives back the free pages inside it; it took 61 ms to
 * give back 600 MB). */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <malloc.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "rpc/internal.h"
#include "rpc/tls.h"

#define MAX_LISTENERS 8
#define SHUTDOWN_TICK_MS 10
#define SHUTDOWN_FLUSH_MS 1000
/* A frame at least this large that spans reads is assembled in its own mapping. 256 KiB is
 * the daemons' M_MMAP_THRESHOLD: evbuffer_pullup would map a block that large anyway. */
#define BIG_BODY RPC_BIG_FRAME
#define BODY_FIRST_MAP (1u << 20) /* a body's first mapping; it doubles as bytes arrive */
#define BODY_READ_MAX (4u << 20)  /* read straight from the socket per callback (body_read_socket) */
#define REFUSE_LOG_MS 1000        /* refused connections are logged at most this often */
#define TLS_LOG_MS 10000          /* TLS refusals: each cause at most this often */
/* A TLS server waits this long for a new connection's first bytes, and again for the end of its
 * handshake. */
#define TLS_HANDSHAKE_MS 10000
/* A plain client on a TLS port: for this long after its first bytes, each of its calls is
 * answered with an error naming the mismatch (at most REFUSE_CALLS of them); then it is
 * closed. */
#define REFUSE_WINDOW_MS 1000
#define LINGER_MS 1000
#define REFUSE_CALLS 64
/* Of a frame a plain client sends to a TLS port, the bytes that must be read to find its call
 * id (kind and call id come first; see rpc_envelope_scan_call). */
#define REFUSE_SCAN 24
#define TRIM_PEAK (16u << 20)
/* The trim waits this long: libevent frees a closed connection's buffers in a deferred
 * finalizer, after the callback that closed it (a trim from there found nothing to give back),
 * and a burst of closes gets one trim. */
#define TRIM_DELAY_MS 100

struct handler {
    char *method;
    rpc_handler_fn call;
    rpc_message_fn msg;
    void *arg;
};

/* A connection's phases. A plain server's connections are OPEN from accept. A TLS server's
 * first wait for their first bytes (SNIFF: no bufferevent yet, the socket in fd); a TLS
 * handshake is then run (HANDSHAKE), anything else is a plain client (REFUSING: its calls are
 * answered with an error naming the mismatch, then it is closed). A refused connection ends
 * in LINGER: the server's side is shut (FIN after its last words: an alert or an error reply)
 * and what the client still sends is read and dropped for a while, so that the close is no
 * reset, which would destroy those last words in the client's receive queue before it read
 * them. */
enum conn_phase { SNIFF, HANDSHAKE, OPEN, REFUSING, LINGER };

struct sconn {
    struct rpc_server *srv;
    struct bufferevent *bev; /* NULL while SNIFF */
    evutil_socket_t fd;      /* SNIFF: the socket (then owned by the bufferevent: -1) */
    enum conn_phase phase;
    struct event *ev;        /* SNIFF: the first bytes' read event; REFUSING, LINGER: its end */
    bool tls;                /* bev is a TLS bufferevent */
    bool first_checked;      /* a plain server has looked at the first bytes (TLS or not) */
    size_t skip;             /* REFUSING: bytes of the current frame still to discard */
    uint32_t refused_calls;  /* REFUSING: calls answered with the error */
    char peer[64];
    uint32_t pending;       /* calls dispatched and not answered */
    bool paused;            /* reading stopped: output too large or too many pending calls */
    bool busy;              /* inside conn_process: closing is deferred to its end */
    bool dead;              /* closed while busy; freed when conn_process unwinds */
    size_t in_acct;         /* this connection's share of srv->in_total */
    /* When the incomplete frame at the front of the input began (0: none, or paused). */
    uint64_t frame_start_ms;
    uint8_t *body;          /* NULL, or a big frame's body being received: body_got bytes of */
    size_t body_len;        /* body_len are in a mapping of body_cap bytes (header consumed) */
    size_t body_got, body_cap;
    struct rpc_call *calls; /* pending calls, doubly linked */
    struct sconn *prev, *next;
};

struct rpc_call {
    struct sconn *conn; /* NULL once detached: the answer is discarded */
    uint64_t id;
    bool forwarded;
    size_t method;      /* index in srv->handlers, or NO_METHOD */
    uint64_t start_ns;  /* when dispatched (only with an observer) */
    struct rpc_call *prev, *next;
};

enum stop_phase { RUNNING, DRAINING, FLUSHING, STOPPED };

struct rpc_server {
    struct event_base *base;
    struct rpc_server_opts opts;
    struct evconnlistener *listeners[MAX_LISTENERS];
    size_t nlisteners;
    struct handler *handlers;
    size_t nhandlers;
    struct sconn *conns;
    struct rpc_server_stats st;
    size_t in_total;            /* sum of in_acct: input read and not dispatched */
    size_t in_peak;             /* the largest in_total since the heap was last trimmed */
    struct event *trim_timer;   /* pending: the heap will be trimmed */
    struct event *frame_timer;  /* checks frame_start_ms; pending while a frame is begun */
    uint64_t refuse_logged_ms;  /* when a refused connection was last logged */
    struct rpc_tls *tls;        /* NULL: plain TCP */
    uint64_t tls_logged_ms[RPC_TLS_CAUSES]; /* when a TLS refusal of each cause was last logged */
    enum stop_phase phase;
    struct event *stop_timer;
    uint64_t phase_deadline_ms;
    void (*stop_done)(void *);
    void *stop_arg;
    void (*on_big_frame)(size_t len, void *arg); /* rpc_server_on_big_frame */
    void *big_frame_arg;
    rpc_call_observer_fn on_call_done; /* rpc_server_on_call_done */
    void *call_done_arg;
};

#define NO_METHOD ((size_t)-1)

static void conn_process(struct sconn *c);
static void refuse_tls_on_plain(struct sconn *c);
static void conn_linger(struct sconn *c);

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
    if (c->ev)
        event_free(c->ev);
    if (c->bev)
        bufferevent_free(c->bev);
    else if (c->fd >= 0)
        evutil_closesocket(c->fd);
    free(c);
}

/* ---- the body of a big frame, in its own mapping ---- */

/* Mapping sizes are kept in whole 4 KiB pages (the kernel rounds them up to its page size in
 * any case), so that body_cap is what is mapped. */
static size_t page_round(size_t n) { return (n + 4095) / 4096 * 4096; }

/* Maps room for the first bytes of a body of len bytes. Returns 0, or -1 when out of memory. */
static int body_start(struct sconn *c, size_t len)
{
    size_t cap = page_round(MIN(len, BODY_FIRST_MAP));
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    c->body = p;
    c->body_len = len;
    c->body_got = 0;
    c->body_cap = cap;
    return 0;
}

/* Moves what in holds of the body into the mapping, growing it (at least doubling, at most to
 * the body's length). Returns 0, or -1 when out of memory. */
static int body_fill(struct sconn *c, struct evbuffer *in)
{
    size_t n = MIN(evbuffer_get_length(in), c->body_len - c->body_got);
    if (c->body_got + n > c->body_cap) {
        size_t cap = page_round(MIN(c->body_len, MAX(2 * c->body_cap, c->body_got + n)));
        void *p = mremap(c->body, c->body_cap, cap, MREMAP_MAYMOVE);
        if (p == MAP_FAILED)
            return -1;
        c->body = p;
        c->body_cap = cap;
    }
    evbuffer_remove(in, c->body + c->body_got, n);
    c->body_got += n;
    return 0;
}

/* Reads more of the body straight from the socket, up to BODY_READ_MAX bytes per call:
 * libevent 2.1 reads 4 KiB per callback, so a frame of tens of MB took some 10,000 loop turns
 * (about 8 ms per MB here), long enough for a Raft follower to miss its leader's heartbeats
 * queued behind it. Only called with the bufferevent's input drained into the body, so the
 * byte order is kept; EOF and errors are left for the bufferevent to find on its next read.
 * Returns 0, or -1 when out of memory. */
static int body_read_socket(struct sconn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    size_t budget = BODY_READ_MAX;
    while (c->body_got < c->body_len && budget > 0) {
        if (c->body_got == c->body_cap) {
            size_t cap = page_round(MIN(c->body_len, 2 * c->body_cap));
            void *p = mremap(c->body, c->body_cap, cap, MREMAP_MAYMOVE);
            if (p == MAP_FAILED)
                return -1;
            c->body = p;
            c->body_cap = cap;
        }
        size_t want = MIN(MIN(c->body_cap, c->body_len) - c->body_got, budget);
        ssize_t n = recv(fd, c->body + c->body_got, want, MSG_DONTWAIT);
        if (n <= 0)
            break;
        c->body_got += (size_t)n;
        budget -= (size_t)n;
    }
    return 0;
}

static void body_release(struct sconn *c)
{
    if (c->body)
        munmap(c->body, c->body_cap);
    c->body = NULL;
    c->body_len = c->body_got = c->body_cap = 0;
}

/* Bytes of input read and not dispatched yet. */
static size_t conn_in_bytes(const struct sconn *c)
{
    return c->bev ? evbuffer_get_length(bufferevent_get_input(c->bev)) + c->body_got : 0;
}

static void on_trim_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rpc_server *s = arg;
    malloc_trim(0);
    s->in_peak = s->in_total;
}

/* Sets c's share of in_total to in (its input now), and schedules a trim of the heap when the
 * input of all connections has fallen well below a large peak. */
static void conn_account(struct sconn *c, size_t in)
{
    struct rpc_server *s = c->srv;
    s->in_total = s->in_total - c->in_acct + in;
    c->in_acct = in;
    s->in_peak = MAX(s->in_peak, s->in_total);
    if (s->in_peak >= TRIM_PEAK && s->in_total <= s->in_peak / 4 &&
        !evtimer_pending(s->trim_timer, NULL)) {
        struct timeval tv = { 0, TRIM_DELAY_MS * 1000 };
        evtimer_add(s->trim_timer, &tv);
    }
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
    conn_account(c, 0);
    body_release(c);
    if (c->busy) {
        c->dead = true;
        bufferevent_disable(c->bev, EV_READ | EV_WRITE); /* (busy: only in conn_process) */
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
    return s->phase != RUNNING || c->pending >= s->opts.limits.max_pending ||
           evbuffer_get_length(bufferevent_get_output(c->bev)) > s->opts.limits.out_pause;
}

static void conn_pause(struct sconn *c)
{
    c->paused = true;
    c->frame_start_ms = 0;
    if (c->bev)
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
    if (size > s->opts.limits.max_frame) {
        env.status = RPC__STATUS__TOO_LARGE;
        env.error = "reply exceeds the frame size limit";
        env.payload.len = 0;
        size = rpc__envelope__get_packed_size(&env);
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) + RPC_FRAME_HEADER + size > s->opts.limits.out_drop) {
        s->st.slow_drops++;
        LOG_WARN("rpc", "closing connection from %s: it does not read its replies (%zu bytes "
                        "unsent)", c->peer, evbuffer_get_length(out));
        conn_close(c);
        return false;
    }
    rpc_write_envelope(out, &env, s->opts.limits.max_frame);
    return true;
}

static void answer(struct rpc_call *call, enum rpc_status st, const char *err,
                   const uint8_t *payload, size_t len)
{
    struct sconn *c = call->conn;
    struct rpc_server *s = c ? c->srv : NULL; /* a detached call may outlive its server */
    if (s && s->on_call_done)
        s->on_call_done(call->method == NO_METHOD ? NULL : s->handlers[call->method].method, st,
                        call->start_ns ? clock_mono_ns() - call->start_ns : 0,
                        s->call_done_arg);
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

void rpc_server_on_call_done(struct rpc_server *s, rpc_call_observer_fn fn, void *arg)
{
    s->on_call_done = fn;
    s->call_done_arg = arg;
}

void rpc_server_on_big_frame(struct rpc_server *s, void (*fn)(size_t len, void *arg), void *arg)
{
    s->on_big_frame = fn;
    s->big_frame_arg = arg;
}

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
    call->method = h && h->call ? (size_t)(h - s->handlers) : NO_METHOD;
    call->start_ns = s->on_call_done ? clock_mono_ns() : 0;
    call_attach(c, call);
    const struct rpc_limits *lim = &s->opts.limits;
    size_t max_request = lim->max_request ? lim->max_request : lim->max_frame;
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

/* Takes the next whole frame of c's input. A big frame that is not all there yet is moved
 * into c->body as it arrives (see the top of the file). */
static enum rpc_read_result conn_read_frame(struct sconn *c, struct evbuffer *in,
                                            Rpc__Envelope **env)
{
    size_t max_frame = c->srv->opts.limits.max_frame;
    if (!c->body) {
        uint32_t n;
        enum rpc_read_result r = rpc_peek_length(in, max_frame, &n);
        if (r != RPC_READ_OK)
            return r;
        if (n < BIG_BODY || evbuffer_get_length(in) - RPC_FRAME_HEADER >= n)
            return rpc_read_envelope(in, max_frame, env);
        if (body_start(c, n) != 0)
            return RPC_READ_NO_MEMORY;
        evbuffer_drain(in, RPC_FRAME_HEADER);
        if (c->srv->on_big_frame)
            c->srv->on_big_frame(n, c->srv->big_frame_arg);
    }
    /* (Over TLS the socket's bytes are records: OpenSSL reads them, through the bufferevent.) */
    if (body_fill(c, in) != 0 || (!c->tls && body_read_socket(c) != 0))
        return RPC_READ_NO_MEMORY;
    if (c->body_got < c->body_len)
        return RPC_READ_NEED_MORE;
    *env = rpc_envelope_decode(c->body, c->body_len);
    body_release(c);
    return *env ? RPC_READ_OK : RPC_READ_BAD;
}

/* Closes a connection to bound the server's memory: count it, log it once. */
static void conn_drop(struct sconn *c, const char *why)
{
    c->srv->st.budget_drops++;
    LOG_WARN("rpc", "closing connection from %s holding %zu bytes of unfinished input: %s",
             c->peer, conn_in_bytes(c), why);
    conn_close(c);
}

/* While the input of all connections exceeds the budget, closes the connection holding the
 * most (never one that holds less than another). */
static void server_enforce_budget(struct rpc_server *s)
{
    while (s->in_total > s->opts.in_budget) {
        struct sconn *big = s->conns;
        for (struct sconn *c = s->conns; c; c = c->next)
            if (c->in_acct > big->in_acct)
                big = c;
        char why[96];
        snprintf(why, sizeof why, "all connections together exceed the input budget (%zu bytes)",
                 s->opts.in_budget);
        conn_drop(big, why);
    }
}

/* The frame timer runs every quarter of frame_timeout_ms (10 ms to 1 s) while a connection is
 * inside a frame. */
static void frame_timer_arm(struct rpc_server *s)
{
    uint64_t ms = MAX(10, MIN(1000, s->opts.frame_timeout_ms / 4));
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000) };
    evtimer_add(s->frame_timer, &tv);
}

/* Closes connections whose frame has been incomplete for frame_timeout_ms. */
static void on_frame_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rpc_server *s = arg;
    uint64_t now = clock_mono_ms();
    bool again = false;
    struct sconn *next;
    for (struct sconn *c = s->conns; c; c = next) {
        next = c->next;
        if (!c->frame_start_ms)
            continue;
        if (now - c->frame_start_ms < s->opts.frame_timeout_ms) {
            again = true;
            continue;
        }
        s->st.frame_timeouts++;
        LOG_WARN("rpc", "closing connection from %s: a frame begun %llu ms ago is still "
                        "incomplete (%zu bytes received)",
                 c->peer, (unsigned long long)(now - c->frame_start_ms), conn_in_bytes(c));
        conn_close(c);
    }
    if (again)
        frame_timer_arm(s);
}

/* After processing: starts the frame clock when an incomplete frame remains at the front of
 * the input (restarting it when frames were completed meanwhile: the rest is a new frame), and
 * stops it when none does. */
static void conn_track_frame(struct sconn *c, bool completed)
{
    struct rpc_server *s = c->srv;
    if (!s->frame_timer)
        return;
    if (c->paused || conn_in_bytes(c) == 0) {
        c->frame_start_ms = 0;
        return;
    }
    if (c->frame_start_ms && !completed)
        return;
    c->frame_start_ms = clock_mono_ms();
    if (!evtimer_pending(s->frame_timer, NULL))
        frame_timer_arm(s);
}

/* Handles every whole frame in the input buffer, unless the connection must pause; then
 * accounts for what remains and enforces the input budget. */
static void conn_process(struct sconn *c)
{
    struct rpc_server *s = c->srv;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    bool completed = false;
    if (!c->first_checked && !c->tls && evbuffer_get_length(in) > 0) {
        c->first_checked = true;
        uint8_t first;
        evbuffer_copyout(in, &first, 1);
        if (first == RPC_TLS_RECORD_HANDSHAKE) { /* (never a frame: 369 MB and more) */
            refuse_tls_on_plain(c);
            return;
        }
    }
    c->busy = true;
    while (!c->dead) {
        if (conn_should_pause(c)) {
            conn_pause(c);
            break;
        }
        Rpc__Envelope *env;
        enum rpc_read_result r = conn_read_frame(c, in, &env);
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
        if (r == RPC_READ_NO_MEMORY) {
            conn_drop(c, "no memory for the body of a large frame");
            break;
        }
        completed = true;
        dispatch(c, env);
        rpc__envelope__free_unpacked(env, NULL);
    }
    c->busy = false;
    if (c->dead) {
        conn_free(c);
        return;
    }
    conn_account(c, conn_in_bytes(c));
    conn_track_frame(c, completed);
    server_enforce_budget(s); /* may close c: last */
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

/* A TLS refusal: counted by cause, logged at most once per cause every TLS_LOG_MS. */
static void tls_refusal(struct rpc_server *s, enum rpc_tls_cause cause, const char *peer,
                        const char *why)
{
    s->st.tls_refused++;
    s->st.tls_refused_by[cause]++;
    uint64_t now = clock_mono_ms();
    if (s->tls_logged_ms[cause] && now - s->tls_logged_ms[cause] < TLS_LOG_MS)
        return;
    s->tls_logged_ms[cause] = now;
    LOG_WARN("rpc", "refusing connection from %s: %s (%llu refused for this cause so far)", peer,
             why, (unsigned long long)s->st.tls_refused_by[cause]);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sconn *c = arg;
    if (c->phase == HANDSHAKE) {
        if (what & BEV_EVENT_CONNECTED) {
            c->phase = OPEN;
            c->srv->st.tls_handshakes++;
            c->srv->st.tls_resumed += rpc_tls_resumed(bev);
            bufferevent_set_timeouts(bev, NULL, NULL);
            return;
        }
        char why[384];
        enum rpc_tls_cause cause = rpc_tls_server_failure(bev, what, why, sizeof why);
        tls_refusal(c->srv, cause, c->peer, why);
        conn_linger(c);
        return;
    }
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

/* Sets a new bufferevent's callbacks and limits, and starts it. */
static void conn_start(struct sconn *c, bufferevent_data_cb read_cb)
{
    bufferevent_setcb(c->bev, read_cb, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, c->srv->opts.limits.out_pause / 2, 0);
    rpc_bev_tune(c->bev);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* A plain server read a TLS handshake: it answers with a TLS alert (so that the client's
 * OpenSSL reports one, rather than garbage), and closes. */
static void refuse_tls_on_plain(struct sconn *c)
{
    static const uint8_t alert[] = RPC_TLS_ALERT_PROTOCOL_VERSION;
    /* Nothing was written to this connection yet: the alert goes first, straight to the
     * socket (7 bytes into an empty socket buffer). */
    if (send(bufferevent_getfd(c->bev), alert, sizeof alert, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        LOG_DEBUG("rpc", "alert to %s: %s", c->peer, strerror(errno));
    tls_refusal(c->srv, RPC_TLS_ON_PLAIN, c->peer,
                "a TLS handshake on a plain port (this server runs without TLS)");
    conn_linger(c);
}

/* ---- a plain client on a TLS port: its calls are answered with the reason, for a while ---- */

static const char TLS_REQUIRED[] =
    "the server requires TLS: this client connected with plain TCP to its TLS port (give the "
    "client a certificate, key and CA: --tls-cert, --tls-key, --tls-ca)";

static void on_linger_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_close(arg);
}

static void on_linger_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

/* Gives c (its socket in c->fd) a plain bufferevent reading with read_cb, and a timer calling
 * end after ms. */
static void conn_plain_for(struct sconn *c, uint64_t ms, event_callback_fn end,
                           bufferevent_data_cb read_cb)
{
    c->bev = bufferevent_socket_new(c->srv->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
    c->ev = evtimer_new(c->srv->base, end, c);
    if (!c->bev || !c->ev) {
        conn_close(c);
        return;
    }
    c->fd = -1;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000) };
    evtimer_add(c->ev, &tv);
    conn_start(c, read_cb);
}

/* Ends a refused connection without a reset (LINGER, above). The socket is taken over with a
 * dup: the TLS bufferevent is freed (its SSL with it), and a plain one reads the rest. */
static void conn_linger(struct sconn *c)
{
    evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : c->fd;
    evutil_socket_t keep = fd >= 0 ? dup(fd) : -1;
    if (keep < 0) {
        conn_close(c);
        return;
    }
    if (c->bev)
        bufferevent_free(c->bev);
    else
        evutil_closesocket(c->fd);
    c->bev = NULL;
    c->fd = keep;
    if (c->ev)
        event_free(c->ev);
    c->ev = NULL;
    c->tls = false;
    c->phase = LINGER;
    shutdown(keep, SHUT_WR);
    evutil_make_socket_nonblocking(keep);
    conn_plain_for(c, LINGER_MS, on_linger_end, on_linger_read);
}

static void on_refuse_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_linger(arg);
}

/* Reads the plain client's frames, answering each CALL with the error (its id is read from the
 * frame's first bytes; the rest is discarded as it arrives). */
static void on_refusing_read(struct bufferevent *bev, void *arg)
{
    struct sconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        if (c->skip) {
            size_t n = MIN(c->skip, evbuffer_get_length(in));
            evbuffer_drain(in, n);
            c->skip -= n;
            if (c->skip)
                return;
        }
        uint32_t len;
        enum rpc_read_result r = rpc_peek_length(in, c->srv->opts.limits.max_frame, &len);
        if (r == RPC_READ_NEED_MORE)
            return;
        if (r != RPC_READ_OK) { /* not even frames: nothing to answer */
            conn_close(c);
            return;
        }
        size_t want = RPC_FRAME_HEADER + MIN(len, REFUSE_SCAN);
        if (evbuffer_get_length(in) < want)
            return;
        const uint8_t *head = evbuffer_pullup(in, (ev_ssize_t)want);
        bool is_call = false;
        uint64_t id = 0;
        if (rpc_envelope_scan_call(head + RPC_FRAME_HEADER, want - RPC_FRAME_HEADER, len,
                                   &is_call, &id) < 0) {
            conn_close(c);
            return;
        }
        evbuffer_drain(in, RPC_FRAME_HEADER);
        c->skip = len;
        if (is_call) {
            if (!send_reply(c, id, RPC_PROTOCOL, TLS_REQUIRED, NULL, 0))
                return;
            if (++c->refused_calls >= REFUSE_CALLS) {
                conn_linger(c);
                return;
            }
        }
    }
}

static void refuse_plain_client(struct sconn *c)
{
    tls_refusal(c->srv, RPC_TLS_PLAIN_CLIENT, c->peer,
                "plain TCP on a TLS port (this server requires TLS)");
    c->phase = REFUSING;
    conn_plain_for(c, REFUSE_WINDOW_MS, on_refuse_end, on_refusing_read);
}

/* A TLS server's new connection sent its first bytes (or did not, in time): a TLS handshake
 * record starts 0x16 0x03; anything else is a plain client. */
static void on_first_bytes(evutil_socket_t fd, short what, void *arg)
{
    struct sconn *c = arg;
    struct rpc_server *s = c->srv;
    event_free(c->ev);
    c->ev = NULL;
    if (what & EV_TIMEOUT) {
        char why[96];
        snprintf(why, sizeof why, "no TLS handshake within %d s of connecting",
                 TLS_HANDSHAKE_MS / 1000);
        tls_refusal(s, RPC_TLS_HANDSHAKE, c->peer, why);
        conn_close(c);
        return;
    }
    uint8_t b[2];
    ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->ev = event_new(s->base, fd, EV_READ, on_first_bytes, c);
        struct timeval tv = { TLS_HANDSHAKE_MS / 1000, 0 };
        if (!c->ev || event_add(c->ev, &tv) != 0)
            conn_close(c);
        return;
    }
    if (n <= 0) { /* closed without a word (a port check), or reset */
        conn_close(c);
        return;
    }
    if (b[0] != RPC_TLS_RECORD_HANDSHAKE || (n == 2 && b[1] != RPC_TLS_RECORD_MAJOR)) {
        refuse_plain_client(c);
        return;
    }
    c->phase = HANDSHAKE;
    c->tls = true;
    c->bev = rpc_tls_server_bev(s->base, fd, s->tls);
    if (!c->bev) {
        conn_close(c);
        return;
    }
    c->fd = -1;
    struct timeval tv = { TLS_HANDSHAKE_MS / 1000, 0 };
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    conn_start(c, on_read);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)l;
    struct rpc_server *s = arg;
    if (s->opts.max_connections && s->st.conns_open >= s->opts.max_connections) {
        evutil_closesocket(fd);
        s->st.conns_refused++;
        uint64_t now = clock_mono_ms();
        if (!s->refuse_logged_ms || now - s->refuse_logged_ms >= REFUSE_LOG_MS) {
            char peer[64];
            format_peer(sa, salen, peer, sizeof peer);
            LOG_WARN("rpc", "refusing connection from %s: %u connections are open, the limit "
                            "(%llu refused so far)",
                     peer, s->opts.max_connections, (unsigned long long)s->st.conns_refused);
            s->refuse_logged_ms = now;
        }
        return;
    }
    rpc_socket_tune(fd);
    struct sconn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    format_peer(sa, salen, c->peer, sizeof c->peer);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->st.conns_accepted++;
    s->st.conns_open++;
    if (s->tls) {
        /* What the client speaks decides what to make of the connection (on_first_bytes). */
        c->phase = SNIFF;
        c->ev = event_new(s->base, fd, EV_READ, on_first_bytes, c);
        struct timeval tv = { TLS_HANDSHAKE_MS / 1000, 0 };
        if (!c->ev || event_add(c->ev, &tv) != 0)
            conn_close(c);
        return;
    }
    c->phase = OPEN;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        conn_close(c);
        return;
    }
    c->fd = -1;
    conn_start(c, on_read);
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
    m.budget_drops = st.budget_drops;
    m.frame_timeouts = st.frame_timeouts;
    m.conns_refused = st.conns_refused;
    m.tls_handshakes = st.tls_handshakes;
    m.tls_resumed = st.tls_resumed;
    m.tls_refused = st.tls_refused;
    m.tls_no_cert = st.tls_refused_by[RPC_TLS_NO_CERT];
    m.tls_unknown_ca = st.tls_refused_by[RPC_TLS_UNKNOWN_CA];
    m.tls_expired = st.tls_refused_by[RPC_TLS_EXPIRED];
    m.tls_handshake = st.tls_refused_by[RPC_TLS_HANDSHAKE];
    m.tls_plain_client = st.tls_refused_by[RPC_TLS_PLAIN_CLIENT];
    m.tls_on_plain = st.tls_refused_by[RPC_TLS_ON_PLAIN];
    rpc_call_reply_msg(call, &m.base);
}

void rpc_server_opts_default(struct rpc_server_opts *o)
{
    rpc_limits_default(&o->limits);
    o->in_budget = RPC_DEFAULT_IN_BUDGET;
    o->frame_timeout_ms = 30000;
    o->max_connections = 4096;
    o->tls = NULL;
}

struct rpc_server *rpc_server_new(struct event_base *base, const struct rpc_server_opts *opts)
{
    rpc_ignore_sigpipe();
    struct rpc_server *s = xcalloc(1, sizeof *s);
    s->base = base;
    if (opts)
        s->opts = *opts;
    else
        rpc_server_opts_default(&s->opts);
    s->opts.in_budget = MAX(s->opts.in_budget, s->opts.limits.max_frame + RPC_FRAME_HEADER);
    s->tls = s->opts.tls ? s->opts.tls : rpc_tls_default();
    if (s->opts.frame_timeout_ms)
        s->frame_timer = evtimer_new(base, on_frame_timer, s);
    s->trim_timer = evtimer_new(base, on_trim_timer, s);
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

uint16_t rpc_socket_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

uint16_t rpc_server_port(const struct rpc_server *s)
{
    return s->nlisteners ? rpc_socket_port(evconnlistener_get_fd(s->listeners[0])) : 0;
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
        if (!c->bev)
            continue;
        st->out_buffered += evbuffer_get_length(bufferevent_get_output(c->bev));
        st->in_buffered += conn_in_bytes(c);
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
        if (c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
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
    if (s->frame_timer)
        event_free(s->frame_timer);
    event_free(s->trim_timer);
    for (size_t i = 0; i < s->nhandlers; i++)
        free(s->handlers[i].method);
    free(s->handlers);
    free(s);
}
