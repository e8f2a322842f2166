/* The fault proxy without raftd: lib/echo in a child process (test/support/echo_proc.h) with a
 * proxy link in front of it, driven through rpc_sync and raw sockets. The "tls" case runs the
 * tests that need no raw socket again with TLS everywhere: the echo server, the proxy (ending
 * TLS on both sides) and the clients, with the harness's test PKI. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster.h"
#include "echo.pb-c.h"
#include "echo_proc.h"
#include "rpc/tls.h"

/* The TLS case's PKI (NULL: plain TCP). */
static const struct cluster_tls *tls;

static void tls_setup(void)
{
    char err[512];
    tls = cluster_tls_acquire(err, sizeof err);
    ck_assert_msg(tls, "%s", err);
}

static void tls_teardown(void)
{
    cluster_tls_release();
    tls = NULL;
}

/* Starts the echo server (at port, 0: any), with the node identity in the TLS case. */
static void start_echo(struct echo_proc *srv, uint16_t port)
{
    struct rpc_server_opts o;
    rpc_server_opts_default(&o);
    o.tls = tls ? tls->node : NULL;
    ck_assert_int_eq(echo_proc_start(srv, port, &o, 200), 0);
}

struct fixture {
    struct echo_proc srv;
    struct cluster_proxy *p;
    int link;
    const char *addr;
    uint16_t port;
};

static void fixture_start(struct fixture *f)
{
    start_echo(&f->srv, 0);
    char err[256];
    f->p = cluster_proxy_new(12345);
    if (tls)
        cluster_proxy_set_tls(f->p, tls->proxy);
    f->link = cluster_proxy_add_link(f->p, f->srv.addr, err, sizeof err);
    ck_assert_msg(f->link == 0, "%s", err);
    ck_assert_int_eq(cluster_proxy_start(f->p), 0);
    f->addr = cluster_proxy_link_addr(f->p, f->link);
    f->port = (uint16_t)atoi(strchr(f->addr, ':') + 1);
}

static void fixture_stop(struct fixture *f)
{
    if (tls) {
        /* Everything went over TLS (the proxy's connections were verified ones), and nothing
         * was refused. */
        Rpc__ServerStats *st = echo_stats(f->srv.addr);
        ck_assert_ptr_nonnull(st);
        ck_assert_uint_ge(st->tls_handshakes, 2);
        ck_assert_uint_eq(st->tls_refused, 0);
        rpc__server_stats__free_unpacked(st, NULL);
    }
    cluster_proxy_free(f->p);
    ck_assert_int_eq(echo_proc_stop(&f->srv), 0);
}

static struct rpc_sync *sync_to(const char *addr)
{
    char err[256];
    struct rpc_sync *s = rpc_sync_new(addr, err, sizeof err);
    ck_assert_msg(s, "%s", err);
    return s;
}

static void set_faults(struct fixture *f, double drop, uint32_t lo, uint32_t hi, bool reorder)
{
    struct cluster_faults fl = { .drop = drop, .delay_min_ms = lo, .delay_max_ms = hi,
                                 .reorder = reorder };
    cluster_proxy_set_faults(f->p, f->link, &fl);
}

static void set_silent_drop(struct fixture *f, double drop)
{
    struct cluster_faults fl = { .drop = drop, .silent_drop = true };
    cluster_proxy_set_faults(f->p, f->link, &fl);
}

/* ---- raw frames ------------------------------------------------------------------------- */

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        ck_assert_int_gt(w, 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Sends one envelope (CALL of echo.Echo with id call_id, or ONEWAY echo.Note). */
static void send_frame(int fd, bool oneway, uint64_t call_id, const char *text)
{
    uint8_t payload[256], frame[512];
    Echo__Request r = ECHO__REQUEST__INIT;
    r.data.data = (uint8_t *)text;
    r.data.len = strlen(text);
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.kind = oneway ? RPC__KIND__ONEWAY : RPC__KIND__CALL;
    env.call_id = call_id;
    env.method = oneway ? "echo.Note" : "echo.Echo";
    env.payload.data = payload;
    env.payload.len = echo__request__pack(&r, payload);
    write_all(fd, frame, raw_frame(frame, &env));
}

struct reader {
    int fd;
    uint8_t buf[1 << 16];
    size_t len;
};

/* The next envelope from the socket, or NULL after idle_ms without a whole one. */
static Rpc__Envelope *read_envelope(struct reader *r, int idle_ms)
{
    for (;;) {
        const uint8_t *body;
        size_t blen;
        if (rpc_frame_parse(r->buf, r->len, sizeof r->buf, &body, &blen) == RPC_FRAME_OK) {
            Rpc__Envelope *env = rpc__envelope__unpack(NULL, blen, body);
            ck_assert_ptr_nonnull(env);
            size_t used = RPC_FRAME_HEADER + blen;
            memmove(r->buf, r->buf + used, r->len - used);
            r->len -= used;
            return env;
        }
        struct pollfd pfd = { r->fd, POLLIN, 0 };
        if (poll(&pfd, 1, idle_ms) <= 0)
            return NULL;
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (n <= 0)
            return NULL;
        r->len += (size_t)n;
    }
}

static void wait_frames(struct fixture *f, uint64_t frames)
{
    struct cluster_link_stats st;
    uint64_t deadline = clock_mono_ms() + 10000;
    do {
        cluster_proxy_stats(f->p, f->link, &st);
        if (st.frames >= frames)
            return;
        clock_sleep_ms(5);
    } while (clock_mono_ms() < deadline);
    ck_abort_msg("the proxy saw %llu frames of %llu", (unsigned long long)st.frames,
                 (unsigned long long)frames);
}

static uint64_t echo_count(const char *addr)
{
    struct rpc_sync *s = sync_to(addr);
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(cluster_call(s, "echo.Count", NULL, &echo__count__descriptor, 5000, &m),
                     RPC_OK);
    uint64_t n = ((Echo__Count *)m)->messages;
    protobuf_c_message_free_unpacked(m, NULL);
    rpc_sync_free(s);
    return n;
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(test_frames_forwarded_intact)
{
    struct fixture f;
    fixture_start(&f);
    struct rpc_sync *s = sync_to(f.addr);
    /* Sizes from empty to 1 MiB: a frame spans many reads and writes. */
    static const size_t sizes[] = { 0, 1, 100, 4096, 65536, 300000, 1 << 20 };
    int calls = 0;
    for (int round = 0; round < 20; round++) {
        for (size_t k = 0; k < ARRAY_LEN(sizes); k++, calls++) {
            size_t n = sizes[k] + (size_t)round;
            uint8_t *data = xmalloc(n + 1);
            for (size_t b = 0; b < n; b++)
                data[b] = (uint8_t)(b * 31 + (size_t)round + k);
            Echo__Request r = ECHO__REQUEST__INIT;
            r.data.data = data;
            r.data.len = n;
            ProtobufCMessage *m = NULL;
            ck_assert_int_eq(cluster_call(s, "echo.Echo", &r.base, &echo__reply__descriptor, 5000,
                                          &m),
                             RPC_OK);
            Echo__Reply *rep = (Echo__Reply *)m;
            ck_assert_uint_eq(rep->data.len, n);
            ck_assert(n == 0 || memcmp(rep->data.data, data, n) == 0);
            protobuf_c_message_free_unpacked(m, NULL);
            free(data);
        }
    }
    struct cluster_link_stats st;
    cluster_proxy_stats(f.p, f.link, &st);
    printf("intact: %d calls, %llu frames, %llu bytes forwarded\n", calls,
           (unsigned long long)st.forwarded, (unsigned long long)st.bytes);
    ck_assert_uint_eq(st.conns, 1);
    ck_assert_uint_eq(st.frames, 2 * (uint64_t)calls);
    ck_assert_uint_eq(st.forwarded, 2 * (uint64_t)calls);
    ck_assert_uint_eq(st.dropped, 0);
    rpc_sync_free(s);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_link_down_discards_and_keeps_connection)
{
    struct fixture f;
    fixture_start(&f);
    struct rpc_sync *s = sync_to(f.addr);
    ck_assert_int_eq(echo_sync(s, "before", 0, false, 2000), RPC_OK);
    cluster_proxy_set_up(f.p, f.link, false);
    ck_assert(!cluster_proxy_up(f.p, f.link));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(echo_sync(s, "while down", 0, false, 200), RPC_TIMEOUT);
    cluster_proxy_set_up(f.p, f.link, true);
    ck_assert_int_eq(echo_sync(s, "after", 0, false, 2000), RPC_OK);
    struct cluster_link_stats st;
    cluster_proxy_stats(f.p, f.link, &st);
    ck_assert_uint_eq(st.conns, 1); /* the same connection throughout */
    ck_assert_uint_eq(st.dropped, 3);
    ck_assert_uint_eq(st.forwarded, 4);
    rpc_sync_free(s);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_drop_probability)
{
    enum { FRAMES = 2000 };
    struct fixture f;
    fixture_start(&f);
    set_faults(&f, 0.25, 0, 0, false);
    int fd = raw_connect(f.port);
    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < FRAMES; i++)
        send_frame(fd, true, 0, "note");
    wait_frames(&f, FRAMES);
    struct cluster_link_stats st;
    cluster_proxy_stats(f.p, f.link, &st);
    /* Every forwarded note arrives (TCP), and nothing else. */
    uint64_t deadline = clock_mono_ms() + 5000, got;
    while ((got = echo_count(f.srv.addr)) < st.forwarded && clock_mono_ms() < deadline)
        clock_sleep_ms(10);
    printf("drop 0.25: %llu of %d frames dropped (%.3f), %llu arrived\n",
           (unsigned long long)st.dropped, FRAMES, (double)st.dropped / FRAMES,
           (unsigned long long)got);
    ck_assert_uint_eq(st.dropped + st.forwarded, FRAMES);
    ck_assert_uint_eq(got, st.forwarded);
    /* Binomial(2000, 0.25): mean 500, sd 19.4; +-100 is more than 5 sd. */
    ck_assert_uint_ge(st.dropped, 400);
    ck_assert_uint_le(st.dropped, 600);
    close(fd);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_drops_requests_and_replies)
{
    enum { CALLS = 1000 };
    struct fixture f;
    fixture_start(&f);
    set_silent_drop(&f, 0.3);
    int fd = raw_connect(f.port);
    ck_assert_int_ge(fd, 0);
    for (int i = 1; i <= CALLS; i++)
        send_frame(fd, false, (uint64_t)i, "call");
    struct reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    int replies = 0;
    Rpc__Envelope *env;
    while ((env = read_envelope(r, 1000))) {
        ck_assert_int_eq(env->kind, RPC__KIND__REPLY);
        replies++;
        rpc__envelope__free_unpacked(env, NULL);
    }
    struct cluster_link_stats st;
    cluster_proxy_stats(f.p, f.link, &st);
    printf("drop 0.3 both ways: %d of %d calls answered (%.3f; expect 0.49), %llu frames "
           "dropped\n",
           replies, CALLS, (double)replies / CALLS, (unsigned long long)st.dropped);
    /* A request passes with 0.7, its reply too: Binomial(1000, 0.49), sd 15.8. */
    ck_assert_int_ge(replies, 410);
    ck_assert_int_le(replies, 570);
    /* The proxy saw every request and one reply per request it forwarded; some of those
     * replies were dropped as well. */
    uint64_t requests_passed = st.forwarded - (uint64_t)replies;
    ck_assert_uint_eq(st.frames, CALLS + requests_passed);
    ck_assert_uint_gt(requests_passed, (uint64_t)replies);
    ck_assert_uint_eq(st.dropped + st.forwarded, st.frames);
    ck_assert_uint_eq(st.failed, 0);
    free(r);
    close(fd);
    fixture_stop(&f);
}
END_TEST

/* Without silent_drop every pipelined call gets exactly one REPLY: the server's, or the
 * proxy's DISCONNECTED for a dropped request or a dropped reply. */
START_TEST(test_dropped_calls_answered_once)
{
    enum { CALLS = 1000 };
    struct fixture f;
    fixture_start(&f);
    set_faults(&f, 0.3, 0, 5, false);
    int fd = raw_connect(f.port);
    ck_assert_int_ge(fd, 0);
    for (int i = 1; i <= CALLS; i++)
        send_frame(fd, false, (uint64_t)i, "call");
    struct reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    static bool seen[CALLS + 1];
    memset(seen, 0, sizeof seen);
    int ok = 0, req_drops = 0, reply_drops = 0, got = 0;
    Rpc__Envelope *env;
    while (got < CALLS && (env = read_envelope(r, 2000))) {
        ck_assert_int_eq(env->kind, RPC__KIND__REPLY);
        ck_assert(env->call_id >= 1 && env->call_id <= CALLS);
        ck_assert_msg(!seen[env->call_id], "call %llu answered twice",
                      (unsigned long long)env->call_id);
        seen[env->call_id] = true;
        got++;
        if (env->status == RPC__STATUS__OK) {
            ok++;
        } else {
            ck_assert_int_eq(env->status, RPC__STATUS__DISCONNECTED);
            if (strstr(env->error, "dropped the request"))
                req_drops++;
            else if (strstr(env->error, "dropped the reply"))
                reply_drops++;
            else
                ck_abort_msg("unexpected failure reply: %s", env->error);
        }
        rpc__envelope__free_unpacked(env, NULL);
    }
    ck_assert_ptr_null(read_envelope(r, 200)); /* and nothing more */
    struct cluster_link_stats st;
    cluster_proxy_stats(f.p, f.link, &st);
    printf("drop 0.3, failure replies: %d of %d calls answered: %d OK, %d requests and %d "
           "replies dropped (expect 490, 300, 210)\n",
           got, CALLS, ok, req_drops, reply_drops);
    ck_assert_int_eq(got, CALLS);
    /* Binomial(1000, p) for p = 0.49, 0.3, 0.21: sd 15.8, 14.5, 12.9; +-80 is over 5 sd. */
    ck_assert_int_ge(ok, 410);
    ck_assert_int_le(ok, 570);
    ck_assert_int_ge(req_drops, 220);
    ck_assert_int_le(req_drops, 380);
    ck_assert_int_ge(reply_drops, 130);
    ck_assert_int_le(reply_drops, 290);
    ck_assert_uint_eq(st.failed, (uint64_t)(req_drops + reply_drops));
    ck_assert_uint_eq(st.dropped, st.failed);
    ck_assert_uint_eq(st.forwarded, (uint64_t)(CALLS - req_drops) + (uint64_t)ok);
    free(r);
    close(fd);
    fixture_stop(&f);
}
END_TEST

/* The server's count of calls it ran (its rpc.Stats counts the rpc.Stats call too). */
static uint64_t server_calls(const struct fixture *f)
{
    Rpc__ServerStats *st = echo_stats(f->srv.addr);
    ck_assert_ptr_nonnull(st);
    uint64_t n = st->calls;
    rpc__server_stats__free_unpacked(st, NULL);
    return n;
}

/* labrpc: "10% of requests are dropped. The caller gets false, as if the call timed out. If
 * the handler runs, 10% of replies are dropped. The caller again gets false." — at once, not
 * after the caller's own timeout. */
START_TEST(test_dropped_call_fails_fast)
{
    enum { TIMEOUT_MS = 3000, ENOUGH = 8 };
    struct fixture f;
    fixture_start(&f);
    struct rpc_sync *s = sync_to(f.addr);
    ck_assert_int_eq(echo_sync(s, "warm", 0, false, 2000), RPC_OK);
    set_faults(&f, 0.5, 10, 20, false);
    uint8_t req[64];
    Echo__Request er = ECHO__REQUEST__INIT;
    er.data.data = (uint8_t *)"ping";
    er.data.len = 4;
    size_t req_len = echo__request__pack(&er, req);
    int ok = 0, req_drops = 0, reply_drops = 0;
    double slowest_fail = 0, fastest_fail = 1e9;
    for (int i = 0; i < 400 && (ok < ENOUGH || req_drops < ENOUGH || reply_drops < ENOUGH); i++) {
        uint64_t before = server_calls(&f);
        uint8_t *rep = NULL;
        size_t rep_len = 0;
        char *err = NULL;
        uint64_t t0 = clock_mono_ns();
        enum rpc_status st =
            rpc_sync_call(s, "echo.Echo", req, req_len, TIMEOUT_MS, &rep, &rep_len, &err);
        double ms = (double)(clock_mono_ns() - t0) / 1e6;
        uint64_t ran = server_calls(&f) - before - 1;
        if (st == RPC_OK) {
            ok++;
            ck_assert_uint_eq(ran, 1);
        } else {
            ck_assert_msg(st == RPC_DISCONNECTED, "status %s: %s", rpc_status_name(st),
                          err ? err : "");
            bool reply_dropped = err && strstr(err, "dropped the reply");
            ck_assert_msg(reply_dropped || (err && strstr(err, "dropped the request")), "%s",
                          err ? err : "(no error text)");
            /* A dropped request never reached the handler; a dropped reply's handler ran. */
            ck_assert_uint_eq(ran, reply_dropped ? 1 : 0);
            reply_dropped ? reply_drops++ : req_drops++;
            /* The failure waits the dropped frame's delay (and the request's, for a reply)... */
            ck_assert_msg(ms >= 9.5, "failed after %.1f ms, before the frame's delay", ms);
            /* ...and no more: well under the call's timeout (slack for a loaded machine). */
            ck_assert_msg(ms < 500, "failed after %.1f ms (timeout %d ms)", ms, TIMEOUT_MS);
            slowest_fail = ms > slowest_fail ? ms : slowest_fail;
            fastest_fail = ms < fastest_fail ? ms : fastest_fail;
        }
        free(rep);
        free(err);
    }
    printf("drop 0.5, delay 10-20 ms, timeout %d ms: %d OK, %d requests and %d replies "
           "dropped, failures after %.1f-%.1f ms\n",
           TIMEOUT_MS, ok, req_drops, reply_drops, fastest_fail, slowest_fail);
    ck_assert_int_ge(ok, ENOUGH);
    ck_assert_int_ge(req_drops, ENOUGH);
    ck_assert_int_ge(reply_drops, ENOUGH);
    /* silent_drop: the old behaviour, the caller waits its whole timeout. */
    set_silent_drop(&f, 1.0);
    uint64_t t0 = clock_mono_ns();
    ck_assert_int_eq(echo_sync(s, "silent", 0, false, 300), RPC_TIMEOUT);
    ck_assert((double)(clock_mono_ns() - t0) / 1e6 >= 295);
    rpc_sync_free(s);
    fixture_stop(&f);
}
END_TEST

/* ONEWAY frames (Raft's) dropped by chance vanish, and so does everything while the link is
 * down: no failure reply. A CALL among the notes shows that replies do come back. */
START_TEST(test_oneway_and_down_drops_stay_silent)
{
    enum { NOTES = 50 };
    struct fixture f;
    fixture_start(&f);
    set_faults(&f, 1.0, 0, 0, false);
    int fd = raw_connect(f.port);
    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < NOTES; i++)
        send_frame(fd, true, 0, "note");
    send_frame(fd, false, 7, "call");
    for (int i = 0; i < NOTES; i++)
        send_frame(fd, true, 0, "note");
    struct reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    Rpc__Envelope *env = read_envelope(r, 2000);
    ck_assert_ptr_nonnull(env);
    ck_assert_int_eq(env->kind, RPC__KIND__REPLY);
    ck_assert_uint_eq(env->call_id, 7);
    ck_assert_int_eq(env->status, RPC__STATUS__DISCONNECTED);
    rpc__envelope__free_unpacked(env, NULL);
    ck_assert_ptr_null(read_envelope(r, 300));
    /* A link that is down is silent for calls too. */
    cluster_proxy_set_up(f.p, f.link, false);
    send_frame(fd, false, 8, "call while down");
    ck_assert_ptr_null(read_envelope(r, 300));
    struct cluster_link_stats st;
    cluster_proxy_stats(f.p, f.link, &st);
    ck_assert_uint_eq(st.frames, 2 * NOTES + 2);
    ck_assert_uint_eq(st.dropped, 2 * NOTES + 2);
    ck_assert_uint_eq(st.failed, 1);
    ck_assert_uint_eq(st.forwarded, 0);
    ck_assert_uint_eq(echo_count(f.srv.addr), 0);
    free(r);
    close(fd);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_delay_applied)
{
    struct fixture f;
    fixture_start(&f);
    struct rpc_sync *s = sync_to(f.addr);
    ck_assert_int_eq(echo_sync(s, "warm", 0, false, 2000), RPC_OK);
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(echo_sync(s, "fast", 0, false, 2000), RPC_OK);
    double base_ms = (double)(clock_mono_ns() - t0) / 1e6 / 10;
    set_faults(&f, 0, 40, 60, false);
    double min_ms = 1e9, max_ms = 0, sum = 0;
    for (int i = 0; i < 10; i++) {
        uint64_t a = clock_mono_ns();
        ck_assert_int_eq(echo_sync(s, "slow", 0, false, 2000), RPC_OK);
        double ms = (double)(clock_mono_ns() - a) / 1e6;
        min_ms = ms < min_ms ? ms : min_ms;
        max_ms = ms > max_ms ? ms : max_ms;
        sum += ms;
    }
    printf("delay 40-60 ms each way: round trip min %.1f avg %.1f max %.1f ms (%.2f ms "
           "without)\n",
           min_ms, sum / 10, max_ms, base_ms);
    ck_assert(min_ms >= 80.0);  /* request and reply each wait >= 40 ms */
    ck_assert(max_ms < 400.0);  /* 120 ms, plus slack for a loaded machine */
    rpc_sync_free(s);
    fixture_stop(&f);
}
END_TEST

/* Sends 1000 pipelined calls through delays of 0-27 ms and returns how many replies came back
 * out of call-id order. */
static int count_inversions(struct fixture *f, bool reorder)
{
    enum { CALLS = 1000 };
    set_faults(f, 0, 0, 27, reorder);
    int fd = raw_connect(f->port);
    ck_assert_int_ge(fd, 0);
    for (int i = 1; i <= CALLS; i++) {
        send_frame(fd, false, (uint64_t)i, "order");
        if (i % 50 == 0)
            clock_sleep_ms(2); /* spread the calls over the delay range */
    }
    struct reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    int got = 0, inversions = 0;
    uint64_t last = 0;
    Rpc__Envelope *env;
    while (got < CALLS && (env = read_envelope(r, 3000))) {
        if (env->call_id < last)
            inversions++;
        last = env->call_id;
        got++;
        rpc__envelope__free_unpacked(env, NULL);
    }
    ck_assert_int_eq(got, CALLS);
    free(r);
    close(fd);
    return inversions;
}

START_TEST(test_fifo_without_reorder)
{
    struct fixture f;
    fixture_start(&f);
    int in_order = count_inversions(&f, false);
    int reordered = count_inversions(&f, true);
    printf("delay 0-27 ms, 1000 pipelined calls: %d replies out of order without reorder, %d "
           "with\n",
           in_order, reordered);
    ck_assert_int_eq(in_order, 0);
    ck_assert_int_gt(reordered, 0);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_follows_server_crash_and_restart)
{
    struct fixture f;
    fixture_start(&f);
    struct rpc_sync *s = sync_to(f.addr);
    ck_assert_int_eq(echo_sync(s, "up", 0, false, 2000), RPC_OK);
    uint16_t port = f.srv.port;
    echo_proc_kill(&f.srv);
    /* The proxy closes the client's side when the server's side breaks; while the server is
     * down it accepts and closes at once. */
    enum rpc_status st = echo_sync(s, "down", 0, false, 300);
    ck_assert(st == RPC_DISCONNECTED || st == RPC_UNREACHABLE || st == RPC_TIMEOUT);
    start_echo(&f.srv, port);
    uint64_t deadline = clock_mono_ms() + 5000;
    while ((st = echo_sync(s, "again", 0, false, 500)) != RPC_OK && clock_mono_ms() < deadline)
        clock_sleep_ms(10);
    ck_assert_int_eq(st, RPC_OK);
    struct cluster_link_stats ls;
    cluster_proxy_stats(f.p, f.link, &ls);
    ck_assert_uint_ge(ls.conns, 2);
    rpc_sync_free(s);
    fixture_stop(&f);
}
END_TEST

/* Over TLS the proxy's accepting side is a TLS server: a plain client gets no further (the
 * proxy is no rpc_server and does not word the refusal: the handshake fails on the garbage and
 * the connection is closed). */
START_TEST(test_plain_client_refused_by_tls_proxy)
{
    struct fixture f;
    fixture_start(&f);
    struct rpc_sync *s = sync_to(f.addr);
    ck_assert_int_eq(echo_sync(s, "over TLS", 0, false, 2000), RPC_OK);
    rpc_sync_free(s);
    rpc_tls_set_default(NULL);
    s = sync_to(f.addr);
    char *err = NULL;
    uint8_t *rep = NULL;
    size_t len;
    enum rpc_status st = rpc_sync_call(s, "echo.Count", NULL, 0, 2000, &rep, &len, &err);
    rpc_tls_set_default(tls->client);
    ck_assert_msg(st == RPC_DISCONNECTED || st == RPC_UNREACHABLE, "%s: %s", rpc_status_name(st),
                  err ? err : "");
    free(err);
    rpc_sync_free(s);
    struct cluster_link_stats ls;
    cluster_proxy_stats(f.p, f.link, &ls);
    ck_assert_uint_eq(ls.forwarded, 2); /* only the TLS client's call and reply */
    fixture_stop(&f);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("cluster_proxy");
    TCase *tc = tcase_create("proxy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_frames_forwarded_intact);
    tcase_add_test(tc, test_link_down_discards_and_keeps_connection);
    tcase_add_test(tc, test_drop_probability);
    tcase_add_test(tc, test_drops_requests_and_replies);
    tcase_add_test(tc, test_dropped_calls_answered_once);
    tcase_add_test(tc, test_dropped_call_fails_fast);
    tcase_add_test(tc, test_oneway_and_down_drops_stay_silent);
    tcase_add_test(tc, test_delay_applied);
    tcase_add_test(tc, test_fifo_without_reorder);
    tcase_add_test(tc, test_follows_server_crash_and_restart);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tls");
    tcase_set_timeout(tt, 60);
    tcase_add_checked_fixture(tt, tls_setup, tls_teardown);
    tcase_add_test(tt, test_frames_forwarded_intact);
    tcase_add_test(tt, test_link_down_discards_and_keeps_connection);
    tcase_add_test(tt, test_dropped_call_fails_fast);
    tcase_add_test(tt, test_follows_server_crash_and_restart);
    tcase_add_test(tt, test_plain_client_refused_by_tls_proxy);
    suite_add_tcase(s, tt);
    return s;
}
