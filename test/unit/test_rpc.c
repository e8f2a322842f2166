/* lib/rpc end to end on 127.0.0.1: an echo server in a child process, clients in the test. */
#include <check.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "echo.pb-c.h"
#include "echo_proc.h"
#include "rpc/rpc.h"

static struct echo_proc srv;

static void start_server(void) { ck_assert_int_eq(echo_proc_start(&srv, 0, NULL, 500), 0); }

static struct rpc_sync *sync_client(void)
{
    char err[256];
    struct rpc_sync *s = rpc_sync_new(srv.addr, err, sizeof err);
    ck_assert_msg(s, "%s", err);
    return s;
}

/* Packs an echo request into a fresh buffer. */
static size_t pack_echo(const char *data, uint32_t delay_ms, bool never, uint8_t **out)
{
    Echo__Request r = ECHO__REQUEST__INIT;
    r.data.data = (uint8_t *)data;
    r.data.len = strlen(data);
    r.delay_ms = delay_ms;
    r.never = never;
    *out = xmalloc(echo__request__get_packed_size(&r));
    return echo__request__pack(&r, *out);
}

/* ---- 10,000 calls from 50 concurrent clients ---- */

enum { CLIENTS = 50, CALLS_PER_CLIENT = 200, WINDOW = 8 };

struct load;
struct lclient {
    struct load *l;
    struct rpc_client *c;
    int index;
    int issued;
};

struct load {
    struct event_base *base;
    struct lclient clients[CLIENTS];
    int done, mismatched, failed;
};

struct lcall {
    struct lclient *lc;
    char expect[32];
};

static void issue_one(struct lclient *lc);

static void on_load_reply(enum rpc_status st, const char *error, const uint8_t *payload,
                          size_t len, void *arg)
{
    (void)error;
    struct lcall *call = arg;
    struct lclient *lc = call->lc;
    struct load *l = lc->l;
    if (st != RPC_OK) {
        l->failed++;
    } else {
        Echo__Reply *r = echo__reply__unpack(NULL, len, payload);
        if (!r || r->data.len != strlen(call->expect) ||
            memcmp(r->data.data, call->expect, r->data.len) != 0)
            l->mismatched++;
        if (r)
            echo__reply__free_unpacked(r, NULL);
    }
    free(call);
    if (++l->done == CLIENTS * CALLS_PER_CLIENT)
        event_base_loopexit(l->base, NULL);
    issue_one(lc);
}

static void issue_one(struct lclient *lc)
{
    if (lc->issued == CALLS_PER_CLIENT)
        return;
    struct lcall *call = xmalloc(sizeof *call);
    call->lc = lc;
    snprintf(call->expect, sizeof call->expect, "c%d-call%d", lc->index, lc->issued++);
    uint8_t *req;
    size_t n = pack_echo(call->expect, 0, false, &req);
    rpc_client_call(lc->c, "echo.Echo", req, n, 10000, on_load_reply, call);
    free(req);
}

START_TEST(test_many_clients)
{
    start_server();
    struct load l = { .base = event_base_new() };
    char err[256];
    for (int i = 0; i < CLIENTS; i++) {
        l.clients[i] = (struct lclient){ &l, rpc_client_new(l.base, srv.addr, NULL, err, sizeof err),
                                         i, 0 };
        ck_assert_ptr_nonnull(l.clients[i].c);
    }
    for (int w = 0; w < WINDOW; w++)
        for (int i = 0; i < CLIENTS; i++)
            issue_one(&l.clients[i]);
    event_base_dispatch(l.base);
    ck_assert_int_eq(l.done, CLIENTS * CALLS_PER_CLIENT);
    ck_assert_int_eq(l.failed, 0);
    ck_assert_int_eq(l.mismatched, 0);
    for (int i = 0; i < CLIENTS; i++)
        rpc_client_free(l.clients[i].c);
    event_base_free(l.base);
    Rpc__ServerStats *st = echo_stats(srv.addr);
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_ge(st->calls, CLIENTS * CALLS_PER_CLIENT);
    rpc__server_stats__free_unpacked(st, NULL);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

START_TEST(test_timeout_when_never_answered)
{
    start_server();
    struct rpc_sync *s = sync_client();
    uint64_t t0 = clock_mono_ms();
    ck_assert_int_eq(echo_sync(s, "lost", 0, true, 300), RPC_TIMEOUT);
    uint64_t took = clock_mono_ms() - t0;
    /* libevent measures a timeout from its loop's cached time (taken when the loop last woke,
     * a little before this call): seen firing at 297 ms by our clock. A few ms early is what a
     * timeout of libevent's is; it must not be much earlier, nor late. */
    ck_assert_uint_ge(took, 290);
    ck_assert_uint_lt(took, 2000);
    /* The connection and server still work. */
    ck_assert_int_eq(echo_sync(s, "after", 0, false, 5000), RPC_OK);
    rpc_sync_free(s);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

START_TEST(test_reconnect_after_restart)
{
    start_server();
    uint16_t port = srv.port;
    struct rpc_sync *s = sync_client();
    ck_assert_int_eq(echo_sync(s, "one", 0, false, 5000), RPC_OK);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
    /* Nobody listens: the call cannot succeed. */
    enum rpc_status st = echo_sync(s, "down", 0, false, 300);
    ck_assert_msg(st == RPC_TIMEOUT || st == RPC_DISCONNECTED || st == RPC_UNREACHABLE, "got %s", rpc_status_name(st));
    ck_assert_int_eq(echo_proc_start(&srv, port, NULL, 500), 0);
    /* The same client object reconnects by itself. */
    ck_assert_int_eq(echo_sync(s, "two", 0, false, 5000), RPC_OK);
    rpc_sync_free(s);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

/* ---- async behaviours on one connection ---- */

struct seen {
    int order[8];
    enum rpc_status st[8];
    int n;
    struct event_base *base;
    int want;
};

struct tagged {
    struct seen *seen;
    int tag;
};

static void on_tagged(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                      void *arg)
{
    (void)error;
    (void)payload;
    (void)len;
    struct tagged *t = arg;
    t->seen->st[t->seen->n] = st;
    t->seen->order[t->seen->n++] = t->tag;
    if (t->seen->n == t->seen->want)
        event_base_loopexit(t->seen->base, NULL);
}

static uint64_t call_tagged(struct rpc_client *c, struct tagged *t, uint32_t delay, bool never,
                            uint64_t timeout_ms)
{
    uint8_t *req;
    size_t n = pack_echo("x", delay, never, &req);
    uint64_t id = rpc_client_call(c, "echo.Echo", req, n, timeout_ms, on_tagged, t);
    free(req);
    return id;
}

START_TEST(test_replies_out_of_order_and_cancel)
{
    start_server();
    struct event_base *base = event_base_new();
    char err[256];
    struct rpc_client *c = rpc_client_new(base, srv.addr, NULL, err, sizeof err);
    struct seen seen = { .base = base, .want = 3 };
    struct tagged t[4] = { { &seen, 0 }, { &seen, 1 }, { &seen, 2 }, { &seen, 3 } };
    call_tagged(c, &t[0], 400, false, 5000); /* answered late */
    uint64_t cancelled = call_tagged(c, &t[1], 100, false, 5000);
    call_tagged(c, &t[2], 0, false, 5000);   /* answered at once */
    call_tagged(c, &t[3], 200, false, 5000);
    ck_assert(rpc_client_cancel(c, cancelled));
    ck_assert(!rpc_client_cancel(c, cancelled));
    event_base_dispatch(base);
    ck_assert_int_eq(seen.n, 3);
    ck_assert_int_eq(seen.order[0], 2);
    ck_assert_int_eq(seen.order[1], 3);
    ck_assert_int_eq(seen.order[2], 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(seen.st[i], RPC_OK);
    rpc_client_free(c);
    event_base_free(base);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

START_TEST(test_unknown_method_and_too_large)
{
    start_server();
    struct rpc_sync *s = sync_client();
    uint8_t *reply;
    size_t len;
    char *error = NULL;
    ck_assert_int_eq(rpc_sync_call(s, "no.Such", (const uint8_t *)"", 0, 5000, &reply, &len, &error),
                     RPC_UNKNOWN_METHOD);
    ck_assert_str_eq(error, "no such method 'no.Such'");
    free(error);
    /* A payload that is not an echo.Request: the handler answers BAD_REQUEST. */
    ck_assert_int_eq(rpc_sync_call(s, "echo.Echo", (const uint8_t *)"\xff\xff\xff", 3, 5000, &reply,
                                   &len, NULL), RPC_BAD_REQUEST);
    /* A request beyond the frame limit fails locally and is never sent. */
    uint8_t *big = xcalloc(1, RPC_DEFAULT_MAX_FRAME + 1);
    ck_assert_int_eq(rpc_sync_call(s, "echo.Echo", big, RPC_DEFAULT_MAX_FRAME + 1, 5000, &reply,
                                   &len, NULL), RPC_TOO_LARGE);
    free(big);
    ck_assert_int_eq(echo_sync(s, "still fine", 0, false, 5000), RPC_OK);
    rpc_sync_free(s);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

START_TEST(test_oneway_messages)
{
    start_server();
    struct event_base *base = event_base_new();
    char err[256];
    struct rpc_client *c = rpc_client_new(base, srv.addr, NULL, err, sizeof err);
    /* Not connected yet: one-way messages are dropped, not queued. */
    ck_assert_int_eq(rpc_client_send(c, "echo.Note", (const uint8_t *)"x", 1), -1);
    uint64_t deadline = clock_mono_ms() + 5000;
    while (!rpc_client_connected(c) && clock_mono_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert(rpc_client_connected(c));
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(rpc_client_send(c, "echo.Note", (const uint8_t *)"x", 1), 0);
    /* Unknown one-way messages are ignored without closing the stream. */
    ck_assert_int_eq(rpc_client_send(c, "no.Such", (const uint8_t *)"x", 1), 0);
    struct seen seen = { .base = base, .want = 1 };
    struct tagged t = { &seen, 0 };
    call_tagged(c, &t, 0, false, 5000);
    event_base_dispatch(base);
    ck_assert_int_eq(seen.st[0], RPC_OK);
    rpc_client_free(c);
    event_base_free(base);
    struct rpc_sync *s = sync_client();
    uint8_t *reply;
    size_t len;
    ck_assert_int_eq(rpc_sync_call(s, "echo.Count", NULL, 0, 5000, &reply, &len, NULL), RPC_OK);
    Echo__Count *cnt = echo__count__unpack(NULL, len, reply);
    ck_assert_uint_eq(cnt->messages, 100);
    echo__count__free_unpacked(cnt, NULL);
    free(reply);
    rpc_sync_free(s);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

/* Reads one frame from a blocking socket (2 s per read) and checks it is the one-way message
 * `method` carrying `data`. */
static void expect_oneway(int fd, const char *method, const char *data)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    uint8_t buf[256];
    size_t got = 0;
    const uint8_t *body;
    size_t blen;
    while (rpc_frame_parse(buf, got, sizeof buf, &body, &blen) == RPC_FRAME_NEED_MORE) {
        ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
        ssize_t r = read(fd, buf + got, 1); /* byte by byte: never past this frame */
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    Rpc__Envelope *env = rpc__envelope__unpack(NULL, blen, body);
    ck_assert_ptr_nonnull(env);
    ck_assert_int_eq(env->kind, RPC__KIND__ONEWAY);
    ck_assert_str_eq(env->method, method);
    ck_assert_uint_eq(env->payload.len, strlen(data));
    ck_assert_mem_eq(env->payload.data, data, strlen(data));
    rpc__envelope__free_unpacked(env, NULL);
}

/* rpc_client_flush puts a queued one-way message on the wire at once, without the loop running
 * (the Raft leader relies on this to replicate while it fsyncs). The peer here is a bare
 * listening socket, so nothing but the flush can have written the bytes. The first message
 * goes through the loop: a socket bufferevent freezes its output buffer only once it has
 * written, which a flush must undo. */
START_TEST(test_flush_writes_without_the_loop)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t salen = sizeof sa;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    struct event_base *base = event_base_new();
    char err[256];
    struct rpc_client *c = rpc_client_new(base, addr, NULL, err, sizeof err);
    ck_assert_msg(c, "%s", err);
    uint64_t deadline = clock_mono_ms() + 5000;
    while (!rpc_client_connected(c) && clock_mono_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert(rpc_client_connected(c));
    int fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    for (int round = 0; round < 3; round++) {
        /* through the loop */
        ck_assert_int_eq(rpc_client_send(c, "echo.Note", (const uint8_t *)"loop", 4), 0);
        deadline = clock_mono_ms() + 2000;
        while (poll(&pfd, 1, 0) == 0 && clock_mono_ms() < deadline)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        expect_oneway(fd, "echo.Note", "loop");
        /* through the flush alone */
        ck_assert_int_eq(rpc_client_send(c, "echo.Note", (const uint8_t *)"now", 3), 0);
        ck_assert_int_eq(poll(&pfd, 1, 100), 0); /* queued, not written: the loop has not run */
        rpc_client_flush(c);
        expect_oneway(fd, "echo.Note", "now");
    }
    rpc_client_free(c);
    event_base_free(base);
    close(fd);
    close(lfd);
}
END_TEST

/* SIGTERM: a call that is being worked on finishes; one that never would is answered
 * SHUTTING_DOWN after the grace period; the process exits 0. */
START_TEST(test_clean_shutdown)
{
    start_server(); /* grace 500 ms */
    struct event_base *base = event_base_new();
    char err[256];
    struct rpc_client *c = rpc_client_new(base, srv.addr, NULL, err, sizeof err);
    struct seen seen = { .base = base, .want = 2 };
    struct tagged t[2] = { { &seen, 0 }, { &seen, 1 } };
    call_tagged(c, &t[0], 200, false, 5000);
    call_tagged(c, &t[1], 0, true, 5000);
    /* Let both calls reach the server before it is told to stop. */
    struct timeval tv = { 0, 100000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    kill(srv.pid, SIGTERM);
    uint64_t t0 = clock_mono_ms();
    event_base_dispatch(base);
    uint64_t took = clock_mono_ms() - t0;
    ck_assert_int_eq(seen.n, 2);
    ck_assert_int_eq(seen.order[0], 0);
    ck_assert_int_eq(seen.st[0], RPC_OK);
    ck_assert_int_eq(seen.order[1], 1);
    ck_assert_int_eq(seen.st[1], RPC_SHUTTING_DOWN);
    ck_assert_uint_lt(took, 3000);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
    rpc_client_free(c);
    event_base_free(base);
}
END_TEST

/* A server killed with -9 while a call is in flight: the call fails DISCONNECTED at once. */
START_TEST(test_disconnect_fails_sent_calls)
{
    start_server();
    struct event_base *base = event_base_new();
    char err[256];
    struct rpc_client *c = rpc_client_new(base, srv.addr, NULL, err, sizeof err);
    struct seen seen = { .base = base, .want = 1 };
    struct tagged t = { &seen, 0 };
    call_tagged(c, &t, 0, true, 10000);
    struct timeval tv = { 0, 100000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    echo_proc_kill(&srv);
    uint64_t t0 = clock_mono_ms();
    event_base_dispatch(base);
    ck_assert_int_eq(seen.st[0], RPC_DISCONNECTED);
    ck_assert_uint_lt(clock_mono_ms() - t0, 2000);
    rpc_client_free(c);
    event_base_free(base);
}
END_TEST

/* A well-formed call written to a raw socket one byte at a time is answered. */
START_TEST(test_byte_by_byte_socket)
{
    start_server();
    int fd = raw_connect(srv.port);
    ck_assert_int_ge(fd, 0);
    uint8_t *req;
    size_t n = pack_echo("slowly", 0, false, &req);
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.call_id = 9;
    env.method = "echo.Echo";
    env.payload.data = req;
    env.payload.len = n;
    uint8_t frame[256];
    size_t fl = raw_frame(frame, &env);
    free(req);
    for (size_t i = 0; i < fl; i++) {
        ck_assert_int_eq(write(fd, frame + i, 1), 1);
        clock_sleep_ms(2);
    }
    uint8_t buf[256];
    size_t got = 0;
    const uint8_t *body;
    size_t blen;
    while (rpc_frame_parse(buf, got, sizeof buf, &body, &blen) == RPC_FRAME_NEED_MORE) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    Rpc__Envelope *rep = rpc__envelope__unpack(NULL, blen, body);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->kind, RPC__KIND__REPLY);
    ck_assert(rep->call_id == 9);
    ck_assert_int_eq(rep->status, RPC__STATUS__OK);
    Echo__Reply *er = echo__reply__unpack(NULL, rep->payload.len, rep->payload.data);
    ck_assert_uint_eq(er->data.len, 6);
    ck_assert_mem_eq(er->data.data, "slowly", 6);
    echo__reply__free_unpacked(er, NULL);
    rpc__envelope__free_unpacked(rep, NULL);
    close(fd);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

/* ---- what a client is told when it cannot reach an RPC server ---- */

/* A port where nobody listens (bound, then closed). */
static uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static enum rpc_status call_once(const char *addr, uint64_t timeout_ms, char **error,
                                 uint64_t *elapsed_ms)
{
    char err[256];
    struct rpc_sync *s = rpc_sync_new(addr, err, sizeof err);
    ck_assert_msg(s, "%s", err);
    uint8_t *reply = NULL;
    size_t len;
    uint64_t t0 = clock_mono_ms();
    enum rpc_status st = rpc_sync_call(s, "echo.Echo", (const uint8_t *)"", 0, timeout_ms, &reply,
                                       &len, error);
    *elapsed_ms = clock_mono_ms() - t0;
    free(reply);
    rpc_sync_free(s);
    return st;
}

START_TEST(test_unreachable_and_protocol)
{
    char addr[64], *error = NULL;
    uint64_t ms;
    /* Refused: at once, naming the address and the cause (not a timeout). */
    snprintf(addr, sizeof addr, "127.0.0.1:%u", dead_port());
    ck_assert_int_eq(call_once(addr, 5000, &error, &ms), RPC_UNREACHABLE);
    ck_assert_msg(strstr(error, addr) && strstr(error, "refused"), "error: %s", error);
    ck_assert_msg(ms < 1000, "refused after %llu ms", (unsigned long long)ms);
    free(error);
    /* A name that does not resolve. */
    ck_assert_int_eq(call_once("no-such-host.invalid:7000", 5000, &error, &ms), RPC_UNREACHABLE);
    ck_assert_msg(strstr(error, "cannot resolve no-such-host.invalid:7000"), "error: %s", error);
    ck_assert_msg(ms < 4000, "unresolvable after %llu ms", (unsigned long long)ms);
    free(error);
    /* Another kind of server (it answers as an HTTP server would): PROTOCOL. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(lfd, NULL, NULL);
        char buf[256];
        if (c >= 0 && read(c, buf, sizeof buf) > 0) {
            static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            if (write(c, resp, sizeof resp - 1) < 0)
                _exit(1);
            sleep(2); /* keep the connection open: the client must judge the bytes */
        }
        _exit(0);
    }
    close(lfd);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    ck_assert_int_eq(call_once(addr, 5000, &error, &ms), RPC_PROTOCOL);
    ck_assert_msg(strstr(error, "does not speak this protocol"), "error: %s", error);
    free(error);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
END_TEST

/* A server's request limit: answered TOO_LARGE at once, with the size and the limit. */
START_TEST(test_max_request)
{
    struct rpc_server_opts so;
    rpc_server_opts_default(&so);
    so.limits.max_request = 1000;
    ck_assert_int_eq(echo_proc_start(&srv, 0, &so, 500), 0);
    struct rpc_sync *s = sync_client();
    char big[2001];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(echo_sync(s, big + 1500, 0, false, 5000), RPC_OK); /* 500 bytes */
    uint8_t *req, *reply = NULL;
    size_t n = pack_echo(big, 0, false, &req), len;
    char *error = NULL;
    ck_assert_int_eq(rpc_sync_call(s, "echo.Echo", req, n, 5000, &reply, &len, &error),
                     RPC_TOO_LARGE);
    uint64_t size, limit;
    ck_assert_int_eq(rpc_too_large_parse(error, &size, &limit), 0);
    ck_assert_uint_eq(size, n);
    ck_assert_uint_eq(limit, 1000);
    free(error);
    free(req);
    ck_assert_int_eq(echo_sync(s, "still fine", 0, false, 5000), RPC_OK);
    rpc_sync_free(s);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("rpc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_many_clients);
    tcase_add_test(tc, test_timeout_when_never_answered);
    tcase_add_test(tc, test_reconnect_after_restart);
    tcase_add_test(tc, test_replies_out_of_order_and_cancel);
    tcase_add_test(tc, test_unknown_method_and_too_large);
    tcase_add_test(tc, test_oneway_messages);
    tcase_add_test(tc, test_flush_writes_without_the_loop);
    tcase_add_test(tc, test_clean_shutdown);
    tcase_add_test(tc, test_disconnect_fails_sent_calls);
    tcase_add_test(tc, test_byte_by_byte_socket);
    tcase_add_test(tc, test_unreachable_and_protocol);
    tcase_add_test(tc, test_max_request);
    suite_add_tcase(s, tc);
    return s;
}
