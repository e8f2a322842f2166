/* Bad input on raw sockets. In every case a well-behaved client keeps calling on its own
 * connection the whole time (a background thread), and must see no failure; afterwards the
 * server is shown alive and its counters show what it did with the bad connection. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "echo.pb-c.h"
#include "echo_proc.h"
#include "rpc/rpc.h"

#define MAX_FRAME (1u << 20)
#define OUT_PAUSE (256u << 10)
#define OUT_DROP (4u << 20)

static struct echo_proc srv;
static struct bg_client *bg;

/* The options of these tests: the defaults with small per-connection limits. */
static void test_opts(struct rpc_server_opts *o)
{
    rpc_server_opts_default(o);
    o->limits.max_frame = MAX_FRAME;
    o->limits.out_pause = OUT_PAUSE;
    o->limits.out_drop = OUT_DROP;
}

static void setup_opts(const struct rpc_server_opts *o)
{
    ck_assert_int_eq(echo_proc_start(&srv, 0, o, 500), 0);
    bg = bg_client_start(srv.addr);
    clock_sleep_ms(50); /* the good client is up and calling before the bad input starts */
}

static void setup(void)
{
    struct rpc_server_opts o;
    test_opts(&o);
    setup_opts(&o);
}

/* Stops the good client and asserts it was served throughout, then that the server still
 * answers and shuts down cleanly. */
static void teardown_checked(void)
{
    long failed;
    long ok = bg_client_stop(bg, &failed);
    ck_assert_msg(failed == 0, "well-behaved client saw %ld failures (%ld ok)", failed, ok);
    ck_assert_msg(ok > 10, "well-behaved client completed only %ld calls", ok);
    char err[256];
    struct rpc_sync *s = rpc_sync_new(srv.addr, err, sizeof err);
    ck_assert_int_eq(echo_sync(s, "alive", 0, false, 5000), RPC_OK);
    rpc_sync_free(s);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}

static Rpc__ServerStats *stats(void)
{
    Rpc__ServerStats *st = echo_stats(srv.addr);
    ck_assert_ptr_nonnull(st);
    return st;
}

/* Waits (up to 5 s) until the server has at most open connections besides the one asking,
 * e.g. until it has noticed that clients closed theirs. Returns its stats then. */
static Rpc__ServerStats *stats_when_open_at_most(uint64_t open)
{
    uint64_t deadline = clock_mono_ms() + 5000;
    for (;;) {
        Rpc__ServerStats *st = echo_stats(srv.addr); /* NULL while the limit refuses it */
        if (st && (st->conns_open <= open + 1 || clock_mono_ms() >= deadline))
            return st;
        ck_assert_msg(clock_mono_ms() < deadline, "rpc.Stats failed for 5 s");
        if (st)
            rpc__server_stats__free_unpacked(st, NULL);
        clock_sleep_ms(20);
    }
}

static void write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the server closed on us: fine, the caller checks why */
        p += n;
        len -= (size_t)n;
    }
}

START_TEST(test_random_bytes)
{
    setup();
    struct rng r;
    rng_seed(&r, 1234);
    for (int round = 0; round < 20; round++) {
        int fd = raw_connect(srv.port);
        ck_assert_int_ge(fd, 0);
        uint8_t junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)rng_next(&r);
        write_all(fd, junk, sizeof junk);
        ck_assert_msg(raw_wait_closed(fd, 3000), "server kept a connection that sent junk");
        close(fd);
    }
    Rpc__ServerStats *st = stats();
    ck_assert_uint_ge(st->bad_input, 20);
    rpc__server_stats__free_unpacked(st, NULL);
    teardown_checked();
}
END_TEST

START_TEST(test_4gib_length_prefix)
{
    setup();
    long rss_before = echo_proc_rss_kb(&srv);
    int fd = raw_connect(srv.port);
    const uint8_t prefix[4] = { 0xff, 0xff, 0xff, 0xff };
    write_all(fd, prefix, sizeof prefix);
    write_all(fd, "some bytes of a body that will never be complete", 48);
    ck_assert(raw_wait_closed(fd, 3000));
    close(fd);
    long rss_after = echo_proc_rss_kb(&srv);
    ck_assert_msg(rss_after - rss_before < 8 * 1024, "RSS grew from %ld to %ld KiB", rss_before,
                  rss_after);
    Rpc__ServerStats *st = stats();
    ck_assert_uint_eq(st->bad_input, 1);
    rpc__server_stats__free_unpacked(st, NULL);
    teardown_checked();
}
END_TEST

START_TEST(test_half_frame_then_close)
{
    setup();
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.call_id = 1;
    env.method = "echo.Echo";
    uint8_t frame[128];
    size_t n = raw_frame(frame, &env);
    Rpc__ServerStats *before = stats();
    for (int i = 0; i < 10; i++) {
        int fd = raw_connect(srv.port);
        write_all(fd, frame, n / 2);
        close(fd);
    }
    clock_sleep_ms(200);
    Rpc__ServerStats *after = stats();
    /* Nothing was dispatched from the halves, and their connections are gone. */
    ck_assert_uint_eq(after->conns_open, before->conns_open);
    ck_assert_uint_eq(after->bad_input, 0);
    rpc__server_stats__free_unpacked(before, NULL);
    rpc__server_stats__free_unpacked(after, NULL);
    teardown_checked();
}
END_TEST

/* Reads one reply frame from a blocking socket; NULL when it closes first. */
static Rpc__Envelope *read_reply(int fd)
{
    uint8_t buf[4096];
    size_t got = 0;
    const uint8_t *body;
    size_t blen;
    while (rpc_frame_parse(buf, got, sizeof buf, &body, &blen) == RPC_FRAME_NEED_MORE) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        if (r <= 0)
            return NULL;
        got += (size_t)r;
    }
    return rpc__envelope__unpack(NULL, blen, body);
}

/* Makes one echo call on a raw blocking connection; true when it was answered OK. */
static bool raw_echo(int fd, uint64_t id)
{
    Echo__Request req = ECHO__REQUEST__INIT;
    req.data.data = (uint8_t *)"ok";
    req.data.len = 2;
    uint8_t payload[64], frame[256];
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.call_id = id;
    env.method = "echo.Echo";
    env.payload.data = payload;
    env.payload.len = echo__request__pack(&req, payload);
    size_t n = raw_frame(frame, &env);
    if (send(fd, frame, n, MSG_NOSIGNAL) != (ssize_t)n)
        return false;
    Rpc__Envelope *rep = read_reply(fd);
    bool ok = rep && rep->call_id == id && rep->status == RPC__STATUS__OK;
    if (rep)
        rpc__envelope__free_unpacked(rep, NULL);
    return ok;
}

START_TEST(test_unknown_method_keeps_connection)
{
    setup();
    int fd = raw_connect(srv.port);
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.call_id = 5;
    env.method = "nope.Nothing";
    uint8_t frame[256];
    write_all(fd, frame, raw_frame(frame, &env));
    Rpc__Envelope *rep = read_reply(fd);
    ck_assert_ptr_nonnull(rep);
    ck_assert(rep->call_id == 5);
    ck_assert_int_eq(rep->status, RPC__STATUS__UNKNOWN_METHOD);
    rpc__envelope__free_unpacked(rep, NULL);
    /* The same connection still serves a good call. */
    Echo__Request req = ECHO__REQUEST__INIT;
    req.data.data = (uint8_t *)"ok";
    req.data.len = 2;
    uint8_t payload[64];
    env.call_id = 6;
    env.method = "echo.Echo";
    env.payload.data = payload;
    env.payload.len = echo__request__pack(&req, payload);
    write_all(fd, frame, raw_frame(frame, &env));
    rep = read_reply(fd);
    ck_assert_ptr_nonnull(rep);
    ck_assert(rep->call_id == 6);
    ck_assert_int_eq(rep->status, RPC__STATUS__OK);
    rpc__envelope__free_unpacked(rep, NULL);
    close(fd);
    teardown_checked();
}
END_TEST

START_TEST(test_garbage_protobuf_body)
{
    setup();
    /* A frame of the right length whose body is not an envelope. */
    int fd = raw_connect(srv.port);
    uint8_t frame[4 + 16];
    rpc_frame_header(frame, 16);
    memset(frame + 4, 0xff, 16);
    write_all(fd, frame, sizeof frame);
    ck_assert(raw_wait_closed(fd, 3000));
    close(fd);
    /* A valid envelope whose payload is garbage for the method: a BAD_REQUEST reply, and the
     * connection stays. */
    fd = raw_connect(srv.port);
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.call_id = 3;
    env.method = "echo.Echo";
    env.payload.data = (uint8_t *)"\xff\xff\xff\xff";
    env.payload.len = 4;
    uint8_t buf[128];
    write_all(fd, buf, raw_frame(buf, &env));
    Rpc__Envelope *rep = read_reply(fd);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->status, RPC__STATUS__BAD_REQUEST);
    rpc__envelope__free_unpacked(rep, NULL);
    close(fd);
    Rpc__ServerStats *st = stats();
    ck_assert_uint_eq(st->bad_input, 1);
    rpc__server_stats__free_unpacked(st, NULL);
    teardown_checked();
}
END_TEST

/* A client that sends calls and never reads the replies: the server stops reading from it
 * (or drops it); its buffers and RSS stay bounded while the client pushes far more than that. */
START_TEST(test_client_that_never_reads)
{
    setup();
    long rss_before = echo_proc_rss_kb(&srv);
    int fd = raw_connect(srv.port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    uint8_t data[16 << 10];
    memset(data, 'd', sizeof data);
    Echo__Request req = ECHO__REQUEST__INIT;
    req.data.data = data;
    req.data.len = sizeof data;
    uint8_t *payload = xmalloc(sizeof data + 64);
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.method = "echo.Echo";
    env.payload.data = payload;
    env.payload.len = echo__request__pack(&req, payload);
    uint8_t *frame = xmalloc(sizeof data + 256);
    size_t sent = 0, max_buffered = 0;
    uint64_t stalled_since = 0, deadline = clock_mono_ms() + 10000;
    for (uint64_t id = 1; clock_mono_ms() < deadline; id++) {
        env.call_id = id;
        size_t n = raw_frame(frame, &env), off = 0;
        while (off < n && clock_mono_ms() < deadline) {
            ssize_t w = write(fd, frame + off, n - off);
            if (w > 0) {
                off += (size_t)w;
                sent += (size_t)w;
                stalled_since = 0;
            } else if (w < 0 && errno == EAGAIN) {
                if (!stalled_since)
                    stalled_since = clock_mono_ms();
                clock_sleep_ms(5);
                if (clock_mono_ms() - stalled_since > 1000)
                    goto stalled; /* the server stopped reading from us */
            } else {
                goto stalled; /* the server closed the connection */
            }
        }
        if (id % 64 == 0) {
            Rpc__ServerStats *st = stats();
            max_buffered = MAX(max_buffered, st->out_buffered + st->in_buffered);
            rpc__server_stats__free_unpacked(st, NULL);
        }
    }
stalled:;
    Rpc__ServerStats *st = stats();
    max_buffered = MAX(max_buffered, st->out_buffered + st->in_buffered);
    long rss_after = echo_proc_rss_kb(&srv);
    ck_assert_msg(sent > 4 * OUT_PAUSE, "only %zu bytes could be sent", sent);
    ck_assert_msg(st->paused + st->slow_drops > 0, "server neither paused nor dropped the client");
    ck_assert_msg(max_buffered <= OUT_DROP + MAX_FRAME, "server buffered %zu bytes", max_buffered);
#ifndef __SANITIZE_ADDRESS__
    /* Under ASan, RSS is mostly the sanitizer's quarantine of freed blocks (30-33 MB here
     * whatever the server buffers), so the bound holds for the real build only. */
    ck_assert_msg(rss_after - rss_before < 32 * 1024, "server RSS grew from %ld to %ld KiB",
                  rss_before, rss_after);
#endif
    fprintf(stderr, "never-reading client: sent %zu bytes; server buffered at most %zu bytes, "
                    "paused %llu times, dropped %llu; RSS %ld -> %ld KiB\n",
            sent, max_buffered, (unsigned long long)st->paused,
            (unsigned long long)st->slow_drops, rss_before, rss_after);
    rpc__server_stats__free_unpacked(st, NULL);
    close(fd);
    free(frame);
    free(payload);
    teardown_checked();
}
END_TEST

/* ---- attackers holding partial frames ---- */

/* Attack volumes. Under ASan the server is several times slower and RSS means little (its
 * quarantine), so the attack is scaled down there: it still shows the drops and the good
 * client, and the RSS bounds are checked in the real build only. */
#ifdef __SANITIZE_ADDRESS__
#define ATTACK_SCALE 4
#else
#define ATTACK_SCALE 1
#endif
#define ATTACKERS 10
#define ATTACK_FRAME ((64u << 20) / ATTACK_SCALE)  /* the length each header announces; max_frame */
#define ATTACK_SEND ((60u << 20) / ATTACK_SCALE)   /* the bytes of it each one sends */
#define ATTACK_BUDGET ((128u << 20) / ATTACK_SCALE) /* in_budget: room for two of them */

struct attacker {
    int fd;
    size_t sent; /* header included */
    bool dead;   /* the server closed it */
};

/* Opens n connections and has each send the header of a frame_len-byte frame and then
 * send_len bytes of its body, all at once from one poll loop, until each has sent them or was
 * closed, or ms pass. Samples the server's RSS meanwhile: the largest value goes to *rss_max. */
static void attack_run(struct attacker *a, int n, uint32_t frame_len, size_t send_len, int ms,
                       long *rss_max)
{
    static uint8_t chunk[64 << 10];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < n; i++) {
        a[i] = (struct attacker){ raw_connect(srv.port), 0, false };
        ck_assert_int_ge(a[i].fd, 0);
        fcntl(a[i].fd, F_SETFL, fcntl(a[i].fd, F_GETFL) | O_NONBLOCK);
    }
    uint8_t header[RPC_FRAME_HEADER];
    rpc_frame_header(header, frame_len);
    struct pollfd *pfd = xmalloc((size_t)n * sizeof *pfd);
    int *idx = xmalloc((size_t)n * sizeof *idx);
    uint64_t deadline = clock_mono_ms() + (uint64_t)ms, next_sample = 0;
    for (int active = n; active > 0 && clock_mono_ms() < deadline;) {
        int np = 0;
        for (int i = 0; i < n; i++)
            if (!a[i].dead && a[i].sent < RPC_FRAME_HEADER + send_len) {
                pfd[np] = (struct pollfd){ a[i].fd, POLLOUT, 0 };
                idx[np++] = i;
            }
        active = np;
        if (poll(pfd, (nfds_t)np, 20) > 0) {
            for (int k = 0; k < np; k++) {
                struct attacker *t = &a[idx[k]];
                if (!(pfd[k].revents & (POLLOUT | POLLERR | POLLHUP)))
                    continue;
                const void *p = t->sent < RPC_FRAME_HEADER ? header + t->sent : chunk;
                size_t want = t->sent < RPC_FRAME_HEADER
                                  ? RPC_FRAME_HEADER - t->sent
                                  : MIN(sizeof chunk, RPC_FRAME_HEADER + send_len - t->sent);
                ssize_t w = send(t->fd, p, want, MSG_NOSIGNAL);
                if (w > 0)
                    t->sent += (size_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR)
                    t->dead = true;
            }
        }
        if (clock_mono_ms() >= next_sample) {
            *rss_max = MAX(*rss_max, echo_proc_rss_kb(&srv));
            next_sample = clock_mono_ms() + 50;
        }
    }
    free(pfd);
    free(idx);
}

/* Ten connections each send the header of a 64 MiB frame and then 60 MB of it, and hold it
 * (600 MB in all, with a budget of 128 MiB). The server keeps its memory within the budget by
 * closing the connections that hold the most, serves the good client throughout, and gives
 * the memory back once the attackers are gone. */
START_TEST(test_partial_frame_attack)
{
    struct rpc_server_opts o;
    test_opts(&o);
    o.limits.max_frame = ATTACK_FRAME;
    o.in_budget = ATTACK_BUDGET;
    setup_opts(&o);
    long rss_before = echo_proc_rss_kb(&srv), rss_max = 0;
    struct attacker a[ATTACKERS];
    uint64_t t0 = clock_mono_ms();
    attack_run(a, ATTACKERS, ATTACK_FRAME, ATTACK_SEND, 15000, &rss_max);
    uint64_t attack_ms = clock_mono_ms() - t0;
    clock_sleep_ms(200); /* the server reads what the sockets still hold */
    long rss_held = echo_proc_rss_kb(&srv);
    rss_max = MAX(rss_max, rss_held);
    int closed = 0, finished = 0;
    for (int i = 0; i < ATTACKERS; i++) {
        closed += a[i].dead;
        finished += a[i].sent == RPC_FRAME_HEADER + ATTACK_SEND;
    }
    Rpc__ServerStats *st = stats();
    uint64_t drops = st->budget_drops, held = st->in_buffered;
    rpc__server_stats__free_unpacked(st, NULL);
    for (int i = 0; i < ATTACKERS; i++)
        close(a[i].fd);
    st = stats_when_open_at_most(1); /* the good client's */
    ck_assert_uint_eq(st->in_buffered, 0);
    rpc__server_stats__free_unpacked(st, NULL);
    long rss_after = echo_proc_rss_kb(&srv);
    fprintf(stderr, "partial-frame attack (%d x %u of %u bytes, budget %u, %llu ms): %llu "
                    "budget drops, %d closed, %d sent it all; server held %llu bytes; RSS %ld "
                    "KiB before, %ld at most, %ld held, %ld after the attackers closed\n",
            ATTACKERS, ATTACK_SEND, ATTACK_FRAME, ATTACK_BUDGET, (unsigned long long)attack_ms,
            (unsigned long long)drops, closed, finished, (unsigned long long)held, rss_before,
            rss_max, rss_held, rss_after);
    ck_assert_msg(drops >= 1, "no connection was dropped for the budget");
    ck_assert_uint_le(held, ATTACK_BUDGET);
    ck_assert_int_eq(finished + closed, ATTACKERS);
#ifndef __SANITIZE_ADDRESS__
    /* The bound: the budget plus 32 MiB for everything else (libevent's chains, the body
     * mappings' last pages, protobuf, the good client). After: baseline + 16 MiB. */
    ck_assert_msg(rss_max - rss_before < (long)(ATTACK_BUDGET >> 10) + 32 * 1024,
                  "server RSS went from %ld to %ld KiB (budget %u bytes)", rss_before, rss_max,
                  ATTACK_BUDGET);
    ck_assert_msg(rss_after - rss_before < 16 * 1024,
                  "server RSS stayed at %ld KiB after the attackers closed (from %ld)", rss_after,
                  rss_before);
#endif
    teardown_checked();
}
END_TEST

#define SMALL_ATTACKERS 200
#define SMALL_FRAME (250u << 10) /* below the size that gets a mapping of its own */
#define SMALL_SEND (200u << 10)

/* Many connections each holding part of a frame too small to get a mapping of its own: 40 MB
 * of libevent's heap chains in all. Once they close, the memory goes back to the system. */
START_TEST(test_many_small_partial_frames)
{
    setup();
    long rss_before = echo_proc_rss_kb(&srv), rss_max = 0;
    struct attacker *a = xcalloc(SMALL_ATTACKERS, sizeof *a);
    attack_run(a, SMALL_ATTACKERS, SMALL_FRAME, SMALL_SEND, 15000, &rss_max);
    clock_sleep_ms(200);
    Rpc__ServerStats *st = stats();
    uint64_t held = st->in_buffered;
    rpc__server_stats__free_unpacked(st, NULL);
    rss_max = MAX(rss_max, echo_proc_rss_kb(&srv));
    for (int i = 0; i < SMALL_ATTACKERS; i++)
        close(a[i].fd);
    free(a);
    st = stats_when_open_at_most(1);
    ck_assert_uint_eq(st->in_buffered, 0);
    rpc__server_stats__free_unpacked(st, NULL);
    clock_sleep_ms(300); /* the server trims its heap a little after the closes */
    long rss_after = echo_proc_rss_kb(&srv);
    fprintf(stderr, "small partial frames (%d x %u of %u bytes): server held %llu bytes; RSS "
                    "%ld KiB before, %ld at most, %ld after they closed\n",
            SMALL_ATTACKERS, SMALL_SEND, SMALL_FRAME, (unsigned long long)held, rss_before,
            rss_max, rss_after);
    ck_assert_uint_eq(held, (uint64_t)SMALL_ATTACKERS * (RPC_FRAME_HEADER + SMALL_SEND));
#ifndef __SANITIZE_ADDRESS__
    ck_assert_msg(rss_after - rss_before < 16 * 1024,
                  "server RSS stayed at %ld KiB after the connections closed (from %ld)",
                  rss_after, rss_before);
#endif
    teardown_checked();
}
END_TEST

/* With frame_timeout 300 ms, connections stuck inside a frame (a small one, and a large one
 * that the server assembles in its own mapping) are closed in time; a connection idle between
 * frames is not. */
START_TEST(test_stuck_frame_times_out)
{
    struct rpc_server_opts o;
    test_opts(&o);
    o.frame_timeout_ms = 300;
    setup_opts(&o);
    int idle = raw_connect(srv.port);
    ck_assert(raw_echo(idle, 1));
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.call_id = 1;
    env.method = "echo.Echo";
    uint8_t frame[128];
    size_t n = raw_frame(frame, &env);
    int small = raw_connect(srv.port);
    write_all(small, frame, n / 2);
    int big = raw_connect(srv.port);
    static uint8_t part[100 << 10];
    rpc_frame_header(part, 512 << 10);
    write_all(big, part, sizeof part);
    uint64_t t0 = clock_mono_ms();
    ck_assert_msg(raw_wait_closed(small, 3000), "a half-sent small frame was kept");
    uint64_t t_small = clock_mono_ms() - t0;
    ck_assert_msg(raw_wait_closed(big, 3000), "a half-sent large frame was kept");
    uint64_t t_big = clock_mono_ms() - t0;
    fprintf(stderr, "stuck frames closed after %llu ms (small) and %llu ms (large)\n",
            (unsigned long long)t_small, (unsigned long long)t_big);
    ck_assert_uint_ge(t_small, 280);
    ck_assert_uint_le(t_small, 1500);
    ck_assert_uint_le(t_big, 1500);
    /* Idle between frames for as long: still served. */
    ck_assert(!raw_wait_closed(idle, 200));
    ck_assert(raw_echo(idle, 2));
    close(idle);
    close(small);
    close(big);
    Rpc__ServerStats *st = stats();
    ck_assert_uint_eq(st->frame_timeouts, 2);
    ck_assert_uint_eq(st->bad_input, 0);
    rpc__server_stats__free_unpacked(st, NULL);
    teardown_checked();
}
END_TEST

#define MAX_CONNS 6

/* With max_connections = 6 (one is the good client's), the 7th connection is closed at once,
 * the others keep working, and once some close new ones are accepted again. */
START_TEST(test_max_connections)
{
    struct rpc_server_opts o;
    test_opts(&o);
    o.max_connections = MAX_CONNS;
    setup_opts(&o);
    int fd[MAX_CONNS - 1];
    for (int i = 0; i < MAX_CONNS - 1; i++) {
        fd[i] = raw_connect(srv.port);
        ck_assert_msg(raw_echo(fd[i], 1), "connection %d of %d was not served", i + 2, MAX_CONNS);
    }
    int extra = raw_connect(srv.port);
    uint64_t t0 = clock_mono_ms();
    ck_assert_msg(raw_wait_closed(extra, 3000), "connection %d was kept", MAX_CONNS + 1);
    ck_assert_uint_le(clock_mono_ms() - t0, 1000);
    close(extra);
    for (int i = 0; i < MAX_CONNS - 1; i++)
        ck_assert(raw_echo(fd[i], 2));
    close(fd[0]);
    close(fd[1]);
    /* The server notices those closes in its own time: until then a new one may be refused. */
    for (int i = 0; i < 2; i++) {
        uint64_t deadline = clock_mono_ms() + 3000;
        do {
            fd[i] = raw_connect(srv.port);
            if (raw_echo(fd[i], 3))
                break;
            close(fd[i]);
            fd[i] = -1;
            clock_sleep_ms(20);
        } while (clock_mono_ms() < deadline);
        ck_assert_msg(fd[i] >= 0, "no new connection accepted after others closed");
    }
    for (int i = 0; i < MAX_CONNS - 1; i++)
        close(fd[i]);
    Rpc__ServerStats *st = stats_when_open_at_most(1);
    ck_assert_uint_ge(st->conns_refused, 1);
    ck_assert_uint_eq(st->bad_input, 0);
    rpc__server_stats__free_unpacked(st, NULL);
    teardown_checked();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("rpc_badinput");
    TCase *tc = tcase_create("badinput");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_random_bytes);
    tcase_add_test(tc, test_4gib_length_prefix);
    tcase_add_test(tc, test_half_frame_then_close);
    tcase_add_test(tc, test_unknown_method_keeps_connection);
    tcase_add_test(tc, test_garbage_protobuf_body);
    tcase_add_test(tc, test_client_that_never_reads);
    tcase_add_test(tc, test_partial_frame_attack);
    tcase_add_test(tc, test_many_small_partial_frames);
    tcase_add_test(tc, test_stuck_frame_times_out);
    tcase_add_test(tc, test_max_connections);
    suite_add_tcase(s, tc);
    return s;
}
