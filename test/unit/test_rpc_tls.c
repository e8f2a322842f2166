/* lib/rpc over TLS (lib/rpc/tls.h) on 127.0.0.1, with certificates made in-process
 * (test/support/tlscerts): mutual TLS works for small and large calls and many clients; every
 * kind of refusal is refused, named on the client side and counted by cause on the server's;
 * plain and TLS ends that meet name the mismatch; authorized clients are served while refused
 * ones retry; a reconnect resumes the session; rpc_tls_from_options. Servers run in a child
 * process (echo_proc) unless a test must restart one under a client. */
#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "echo.pb-c.h"
#include "echo/echo.h"
#include "echo_proc.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "tlscerts.h"

static struct tlscerts certs;
/* Identities: the server's, a client's, and the refused kinds of clients. */
static struct rpc_tls *id_server, *id_client, *id_client_ca2, *id_other_ca, *id_expired, *id_future,
    *id_anonymous, *id_server_other_ca, *id_server_wrong_san;

static struct rpc_tls *load(const struct tlscert *c, const char *ca)
{
    char err[512];
    struct rpc_tls_files f = { c->cert, c->key, ca };
    struct rpc_tls *t = rpc_tls_new(&f, err, sizeof err);
    ck_assert_msg(t, "%s", err);
    return t;
}

static void make_certs(void)
{
    char err[512];
    ck_assert_msg(tlscerts_make(&certs, err, sizeof err) == 0, "%s", err);
    id_server = load(&certs.server, certs.ca);
    id_client = load(&certs.client, certs.ca);
    id_client_ca2 = load(&certs.client, certs.ca2); /* trusts servers of the other CA */
    id_other_ca = load(&certs.other_ca, certs.ca);
    id_expired = load(&certs.expired, certs.ca);
    id_future = load(&certs.future, certs.ca);
    id_server_other_ca = load(&certs.other_ca, certs.ca);
    id_server_wrong_san = load(&certs.wrong_san, certs.ca);
    id_anonymous = rpc_tls_new_anonymous(certs.ca, err, sizeof err);
    ck_assert_msg(id_anonymous, "%s", err);
}

static void remove_certs(void)
{
    struct rpc_tls *all[] = { id_server, id_client, id_client_ca2, id_other_ca, id_expired, id_future,
                              id_anonymous, id_server_other_ca, id_server_wrong_san };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        rpc_tls_free(all[i]);
    tlscerts_remove(&certs);
}

/* ---- servers and calls ---- */

static struct echo_proc srv;

static uint64_t stats_calls; /* rpc.Stats calls made to the current server */

static void start_server(struct rpc_tls *tls)
{
    stats_calls = 0;
    struct rpc_server_opts o;
    rpc_server_opts_default(&o);
    o.tls = tls;
    ck_assert_int_eq(echo_proc_start(&srv, 0, &o, 500), 0);
}

static void stop_server(void) { ck_assert_int_eq(echo_proc_stop(&srv), 0); }

/* The server's counters, asked with the test client's identity (tls NULL: plain). */
static Rpc__ServerStats *stats_with(struct rpc_tls *tls)
{
    rpc_tls_set_default(tls);
    Rpc__ServerStats *st = echo_stats(srv.addr);
    stats_calls++;
    rpc_tls_set_default(NULL);
    ck_assert_ptr_nonnull(st);
    return st;
}

/* Waits (up to 3 s) until the counter at offset off of rpc.Stats reaches at least want. */
static uint64_t counter_reaches(struct rpc_tls *tls, size_t off, uint64_t want)
{
    uint64_t deadline = clock_mono_ms() + 3000, v;
    for (;;) {
        Rpc__ServerStats *st = stats_with(tls);
        memcpy(&v, (const char *)st + off, sizeof v);
        rpc__server_stats__free_unpacked(st, NULL);
        if (v >= want || clock_mono_ms() >= deadline)
            return v;
        clock_sleep_ms(20);
    }
}
#define COUNTER(tls, field, want) counter_reaches(tls, offsetof(Rpc__ServerStats, field), want)

struct outcome {
    bool done;
    enum rpc_status st;
    char err[640];
    size_t len;
    bool match;
    const uint8_t *want;
};

static void on_outcome(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                       void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->st = st;
    snprintf(o->err, sizeof o->err, "%s", error ? error : "");
    if (st == RPC_OK) {
        Echo__Reply *r = echo__reply__unpack(NULL, len, payload);
        o->len = r ? r->data.len : 0;
        o->match = r && (o->len == 0 || memcmp(r->data.data, o->want, o->len) == 0);
        if (r)
            echo__reply__free_unpacked(r, NULL);
    }
}

static uint64_t start_echo(struct rpc_client *c, const uint8_t *data, size_t len,
                           struct outcome *o)
{
    Echo__Request r = ECHO__REQUEST__INIT;
    r.data.data = (uint8_t *)data;
    r.data.len = len;
    memset(o, 0, sizeof *o);
    o->want = data;
    return rpc_client_call_msg(c, "echo.Echo", &r.base, 10000, on_outcome, o);
}

static struct rpc_client *client_on(struct event_base *base, const char *addr,
                                    struct rpc_tls *tls)
{
    struct rpc_client_opts o;
    rpc_client_opts_default(&o);
    o.tls = tls;
    char err[256];
    struct rpc_client *c = rpc_client_new(base, addr, &o, err, sizeof err);
    ck_assert_msg(c, "%s", err);
    return c;
}

static void run_until(struct event_base *base, const bool *done, uint64_t ms)
{
    uint64_t deadline = clock_mono_ms() + ms;
    while (!*done && clock_mono_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
}

/* One echo call from a fresh client with identity tls (NULL: plain) to addr. */
static struct outcome call_once(const char *addr, struct rpc_tls *tls, const uint8_t *data,
                                size_t len)
{
    struct event_base *base = event_base_new();
    struct rpc_client *c = client_on(base, addr, tls);
    struct outcome o;
    start_echo(c, data, len, &o);
    run_until(base, &o.done, 15000);
    ck_assert_msg(o.done, "the call did not end");
    rpc_client_free(c);
    event_base_free(base);
    return o;
}

static struct outcome call_text(const char *addr, struct rpc_tls *tls, const char *text)
{
    return call_once(addr, tls, (const uint8_t *)text, strlen(text));
}

#define ASSERT_ERROR_HAS(o, text)                                                              \
    ck_assert_msg(strstr((o).err, (text)) != NULL, "error '%s' does not name '%s'", (o).err,   \
                  (text))

/* ---- the calls work ---- */

START_TEST(test_tls_call_small_and_10mb)
{
    start_server(id_server);
    struct outcome o = call_text(srv.addr, id_client, "hello over TLS");
    ck_assert_msg(o.st == RPC_OK && o.match, "%s: %s", rpc_status_name(o.st), o.err);
    size_t big = 10u << 20;
    uint8_t *data = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    o = call_once(srv.addr, id_client, data, big);
    ck_assert_msg(o.st == RPC_OK, "%s: %s", rpc_status_name(o.st), o.err);
    ck_assert_uint_eq(o.len, big);
    ck_assert(o.match);
    free(data);
    /* Both went over TLS: two handshakes (the stats call makes the third). */
    ck_assert_uint_ge(COUNTER(id_client, tls_handshakes, 3), 3);
    Rpc__ServerStats *st = stats_with(id_client);
    ck_assert_uint_eq(st->tls_refused, 0);
    rpc__server_stats__free_unpacked(st, NULL);
    stop_server();
}
END_TEST

enum { CLIENTS = 20, CALLS = 50 };

struct lclient {
    struct rpc_client *c;
    struct outcome o;
    char data[32];
    int done, failed;
};

START_TEST(test_tls_many_concurrent_calls)
{
    start_server(id_server);
    struct event_base *base = event_base_new();
    static struct lclient cl[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (struct lclient){ .c = client_on(base, srv.addr, id_client) };
        snprintf(cl[i].data, sizeof cl[i].data, "client %d call 0", i);
        start_echo(cl[i].c, (uint8_t *)cl[i].data, strlen(cl[i].data), &cl[i].o);
    }
    uint64_t deadline = clock_mono_ms() + 20000;
    int finished = 0;
    while (finished < CLIENTS && clock_mono_ms() < deadline) {
        event_base_loop(base, EVLOOP_ONCE);
        finished = 0;
        for (int i = 0; i < CLIENTS; i++) {
            struct lclient *l = &cl[i];
            if (l->o.done && l->done < CALLS) {
                l->done++;
                l->failed += l->o.st != RPC_OK || !l->o.match;
                if (l->done < CALLS) {
                    snprintf(l->data, sizeof l->data, "client %d call %d", i, l->done);
                    start_echo(l->c, (uint8_t *)l->data, strlen(l->data), &l->o);
                }
            }
            finished += l->done == CALLS;
        }
    }
    int failed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        failed += cl[i].failed;
        ck_assert_int_eq(cl[i].done, CALLS);
        rpc_client_free(cl[i].c);
    }
    ck_assert_int_eq(failed, 0);
    event_base_free(base);
    ck_assert_uint_ge(COUNTER(id_client, tls_handshakes, CLIENTS), CLIENTS);
    stop_server();
}
END_TEST

/* ---- refusals of clients, by cause ---- */

/* A client with identity tls is refused: its call fails UNREACHABLE with an error naming
 * text, and the server counts cause (at field off) once more. */
static void expect_refused(struct rpc_tls *tls, const char *text, size_t off)
{
    start_server(id_server);
    struct outcome o = call_text(srv.addr, tls, "let me in");
    ck_assert_msg(o.st == RPC_UNREACHABLE, "%s: %s", rpc_status_name(o.st), o.err);
    ASSERT_ERROR_HAS(o, "TLS handshake with 127.0.0.1:");
    ASSERT_ERROR_HAS(o, text);
    ck_assert_uint_eq(counter_reaches(id_client, off, 1), 1);
    Rpc__ServerStats *st = stats_with(id_client);
    ck_assert_uint_eq(st->tls_refused, 1);
    ck_assert_uint_eq(st->calls, stats_calls); /* only the stats calls ran */
    rpc__server_stats__free_unpacked(st, NULL);
    stop_server();
}

START_TEST(test_client_without_certificate)
{
    expect_refused(id_anonymous, "certificate required",
                   offsetof(Rpc__ServerStats, tls_no_cert));
}
END_TEST

START_TEST(test_client_of_another_ca)
{
    expect_refused(id_other_ca, "unknown ca", offsetof(Rpc__ServerStats, tls_unknown_ca));
}
END_TEST

START_TEST(test_client_expired)
{
    expect_refused(id_expired, "expired", offsetof(Rpc__ServerStats, tls_expired));
}
END_TEST

START_TEST(test_client_not_yet_valid)
{
    /* (Counted with the expired ones: the validity period.) */
    expect_refused(id_future, "alert", offsetof(Rpc__ServerStats, tls_expired));
}
END_TEST

/* ---- refusals of servers by the client ---- */

START_TEST(test_server_of_another_ca)
{
    start_server(id_server_other_ca);
    struct outcome o = call_text(srv.addr, id_client, "who are you");
    ck_assert_msg(o.st == RPC_UNREACHABLE, "%s: %s", rpc_status_name(o.st), o.err);
    ASSERT_ERROR_HAS(o, "certificate verify failed (unable to get local issuer certificate)");
    /* The server saw the client give up (an alert): another handshake failure. */
    ck_assert_uint_ge(COUNTER(id_client_ca2, tls_handshake, 1), 1);
    Rpc__ServerStats *st = stats_with(id_client_ca2);
    ck_assert_uint_eq(st->calls, stats_calls);
    rpc__server_stats__free_unpacked(st, NULL);
    stop_server();
}
END_TEST

START_TEST(test_server_san_mismatch)
{
    /* The test CA signed it, so the chain verifies; only the name is wrong. */
    start_server(id_server_wrong_san);
    struct outcome o = call_text(srv.addr, id_client, "is this 127.0.0.1");
    ck_assert_msg(o.st == RPC_UNREACHABLE, "%s: %s", rpc_status_name(o.st), o.err);
    ASSERT_ERROR_HAS(o, "certificate verify failed (IP address mismatch)");
    char byname[64];
    snprintf(byname, sizeof byname, "localhost:%u", srv.port);
    o = call_text(byname, id_client, "is this localhost");
    ck_assert_msg(o.st == RPC_UNREACHABLE, "%s: %s", rpc_status_name(o.st), o.err);
    ASSERT_ERROR_HAS(o, "certificate verify failed (hostname mismatch)");
    stop_server();
    /* The right certificate passes the same checks, by address and by name. */
    start_server(id_server);
    snprintf(byname, sizeof byname, "localhost:%u", srv.port);
    o = call_text(byname, id_client, "this is localhost");
    ck_assert_msg(o.st == RPC_OK && o.match, "%s: %s", rpc_status_name(o.st), o.err);
    stop_server();
}
END_TEST

/* ---- mismatches of plain and TLS ---- */

START_TEST(test_plain_client_on_tls_server)
{
    start_server(id_server);
    struct outcome o = call_text(srv.addr, NULL, "plain hello");
    ck_assert_msg(o.st == RPC_PROTOCOL, "%s: %s", rpc_status_name(o.st), o.err);
    ASSERT_ERROR_HAS(o, "the server requires TLS");
    ck_assert_uint_eq(COUNTER(id_client, tls_plain_client, 1), 1);
    Rpc__ServerStats *st = stats_with(id_client);
    ck_assert_uint_eq(st->calls, stats_calls);
    rpc__server_stats__free_unpacked(st, NULL);
    stop_server();
}
END_TEST

START_TEST(test_tls_client_on_plain_server)
{
    start_server(NULL);
    struct outcome o = call_text(srv.addr, id_client, "TLS hello");
    ck_assert_msg(o.st == RPC_UNREACHABLE, "%s: %s", rpc_status_name(o.st), o.err);
    ASSERT_ERROR_HAS(o, "the server runs without TLS");
    ck_assert_uint_eq(COUNTER(NULL, tls_on_plain, 1), 1);
    Rpc__ServerStats *st = stats_with(NULL);
    ck_assert_uint_eq(st->tls_refused, 1);
    ck_assert_uint_eq(st->calls, stats_calls);
    rpc__server_stats__free_unpacked(st, NULL);
    stop_server();
}
END_TEST

/* ---- authorized clients are served while refused ones keep trying ---- */

struct retrier {
    struct rpc_client *c;
    struct outcome o;
    int calls, ok, named;
    const char *text; /* what its error must name */
};

START_TEST(test_authorized_served_during_refusals)
{
    start_server(id_server);
    struct event_base *base = event_base_new();
    struct retrier r[4] = {
        { .c = client_on(base, srv.addr, id_client) },
        { .c = client_on(base, srv.addr, id_other_ca), .text = "unknown ca" },
        { .c = client_on(base, srv.addr, id_anonymous), .text = "certificate required" },
        { .c = client_on(base, srv.addr, NULL), .text = "requires TLS" },
    };
    static const char msg[] = "keep going";
    for (int i = 0; i < 4; i++)
        start_echo(r[i].c, (const uint8_t *)msg, sizeof msg - 1, &r[i].o);
    uint64_t end = clock_mono_ms() + 1500;
    while (clock_mono_ms() < end) {
        event_base_loop(base, EVLOOP_ONCE);
        for (int i = 0; i < 4; i++) {
            if (!r[i].o.done)
                continue;
            r[i].calls++;
            r[i].ok += r[i].o.st == RPC_OK && r[i].o.match;
            r[i].named += r[i].text && strstr(r[i].o.err, r[i].text) != NULL;
            if (i && !strstr(r[i].o.err, r[i].text))
                fprintf(stderr, "retrier %d: %s: %s\n", i, rpc_status_name(r[i].o.st), r[i].o.err);
            start_echo(r[i].c, (const uint8_t *)msg, sizeof msg - 1, &r[i].o);
        }
    }
    for (int i = 0; i < 4; i++)
        rpc_client_free(r[i].c);
    event_base_free(base);
    ck_assert_msg(r[0].calls > 100 && r[0].ok == r[0].calls, "authorized: %d of %d ok",
                  r[0].ok, r[0].calls);
    for (int i = 1; i < 4; i++) {
        ck_assert_msg(r[i].calls >= 3, "refused client %d made only %d attempts", i, r[i].calls);
        ck_assert_msg(r[i].ok == 0 && r[i].named == r[i].calls,
                      "refused client %d: %d ok, %d of %d errors name '%s' (last: %s)", i,
                      r[i].ok, r[i].named, r[i].calls, r[i].text, r[i].o.err);
    }
    Rpc__ServerStats *st = stats_with(id_client);
    ck_assert_uint_ge(st->tls_unknown_ca, 2);
    ck_assert_uint_ge(st->tls_no_cert, 2);
    ck_assert_uint_ge(st->tls_plain_client, 2);
    ck_assert_uint_eq(st->tls_refused, st->tls_unknown_ca + st->tls_no_cert +
                                           st->tls_plain_client + st->tls_expired +
                                           st->tls_handshake + st->tls_on_plain);
    rpc__server_stats__free_unpacked(st, NULL);
    stop_server();
}
END_TEST

/* ---- session resumption ---- */

/* An in-process server on base at port (0: any), for tests that restart it under a client. */
struct local_server {
    struct rpc_server *s;
    struct echo_service *e;
};

static uint16_t local_start(struct local_server *ls, struct event_base *base, uint16_t port)
{
    struct rpc_server_opts o;
    rpc_server_opts_default(&o);
    o.tls = id_server;
    ls->s = rpc_server_new(base, &o);
    ls->e = echo_service_new(base, ls->s);
    char addr[32], err[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    ck_assert_msg(rpc_server_listen(ls->s, addr, err, sizeof err) == 0, "%s", err);
    return rpc_server_port(ls->s);
}

static void local_stop(struct local_server *ls)
{
    echo_service_free(ls->e);
    rpc_server_free(ls->s);
}

/* A call on c, and the microseconds from t0 (clock_mono_ns) to its reply; asserts it
 * succeeded. */
static uint64_t timed_call(struct event_base *base, struct rpc_client *c, uint64_t t0)
{
    struct outcome o;
    start_echo(c, (const uint8_t *)"x", 1, &o);
    run_until(base, &o.done, 5000);
    ck_assert_msg(o.done && o.st == RPC_OK, "%s: %s", rpc_status_name(o.st), o.err);
    return (clock_mono_ns() - t0) / 1000;
}

START_TEST(test_reconnect_resumes_session)
{
    struct event_base *base = event_base_new();
    struct local_server ls;
    uint16_t port = local_start(&ls, base, 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    struct rpc_client *c = client_on(base, addr, id_client);
    timed_call(base, c, clock_mono_ns());
    ck_assert(!rpc_client_tls_resumed(c)); /* the first connection: a full handshake */
    /* Restart the server (the same identity): the client reconnects and offers its session. */
    enum { ROUNDS = 30 };
    uint64_t resumed_us = 0, full_us = 0;
    int resumed = 0;
    for (int i = 0; i < ROUNDS; i++) {
        local_stop(&ls);
        uint64_t deadline = clock_mono_ms() + 2000; /* the client sees its connection close */
        while (rpc_client_connected(c) && clock_mono_ms() < deadline)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ck_assert(!rpc_client_connected(c));
        local_start(&ls, base, port);
        clock_sleep_ms(15); /* past the reconnect backoff: the call connects at once */
        resumed_us += timed_call(base, c, clock_mono_ns());
        resumed += rpc_client_tls_resumed(c);
        struct rpc_server_stats st;
        rpc_server_stats(ls.s, &st);
        ck_assert_uint_eq(st.tls_handshakes, 1);
        ck_assert_uint_eq(st.tls_resumed, rpc_client_tls_resumed(c));
    }
    ck_assert_int_eq(resumed, ROUNDS);
    /* The same with a fresh client each time (no session to offer): full handshakes. */
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t t0 = clock_mono_ns();
        struct rpc_client *f = client_on(base, addr, id_client);
        full_us += timed_call(base, f, t0);
        ck_assert(!rpc_client_tls_resumed(f));
        rpc_client_free(f);
    }
    printf("TLS connect + handshake + 1-byte echo on 127.0.0.1, mean of %d: full %llu us, "
           "resumed %llu us\n", ROUNDS, (unsigned long long)(full_us / ROUNDS),
           (unsigned long long)(resumed_us / ROUNDS));
    rpc_client_free(c);
    local_stop(&ls);
    event_base_free(base);
}
END_TEST

/* ---- rpc_client_flush over TLS ---- */

/* echo.Note messages the server has received, asked on a connection of its own. */
static uint64_t notes_received(void)
{
    rpc_tls_set_default(id_client);
    char err[256];
    struct rpc_sync *s = rpc_sync_new(srv.addr, err, sizeof err);
    ck_assert_msg(s, "%s", err);
    uint8_t *reply;
    size_t len;
    ck_assert_int_eq(rpc_sync_call(s, "echo.Count", NULL, 0, 5000, &reply, &len, NULL), RPC_OK);
    Echo__Count *cnt = echo__count__unpack(NULL, len, reply);
    ck_assert_ptr_nonnull(cnt);
    uint64_t n = cnt->messages;
    echo__count__free_unpacked(cnt, NULL);
    free(reply);
    rpc_sync_free(s);
    rpc_tls_set_default(NULL);
    return n;
}

/* As test_rpc's test_flush_writes_without_the_loop, over TLS: a one-way message reaches the
 * server through rpc_client_flush alone, the client's loop not running. */
START_TEST(test_flush_over_tls)
{
    start_server(id_server);
    struct event_base *base = event_base_new();
    struct rpc_client *c = client_on(base, srv.addr, id_client);
    uint64_t deadline = clock_mono_ms() + 5000;
    while (!rpc_client_connected(c) && clock_mono_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert(rpc_client_connected(c));
    for (uint64_t round = 1; round <= 3; round++) {
        ck_assert_int_eq(rpc_client_send(c, "echo.Note", (const uint8_t *)"now", 3), 0);
        clock_sleep_ms(100);
        ck_assert_uint_eq(notes_received(), round - 1); /* queued: the loop has not run */
        rpc_client_flush(c);
        deadline = clock_mono_ms() + 2000;
        while (notes_received() < round && clock_mono_ms() < deadline)
            clock_sleep_ms(10);
        ck_assert_uint_eq(notes_received(), round);
        /* the loop runs a while between rounds (the bufferevent's own writes and reads) */
        for (int i = 0; i < 20; i++)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    rpc_client_free(c);
    event_base_free(base);
    stop_server();
}
END_TEST

/* ---- rpc_tls_from_options ---- */

static void clear_env(void)
{
    unsetenv("RAFTKV_TLS_CERT");
    unsetenv("RAFTKV_TLS_KEY");
    unsetenv("RAFTKV_TLS_CA");
}

START_TEST(test_from_options)
{
    clear_env();
    char err[512] = "";
    struct rpc_tls *t = (struct rpc_tls *)1;
    ck_assert_int_eq(rpc_tls_from_options(NULL, NULL, NULL, &t, err, sizeof err), 0);
    ck_assert_ptr_null(t); /* plain */

    ck_assert_int_eq(rpc_tls_from_options(certs.client.cert, NULL, NULL, &t, err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "--tls-key (or RAFTKV_TLS_KEY)") &&
                      strstr(err, "--tls-ca (or RAFTKV_TLS_CA)") && !strstr(err, "--tls-cert ("),
                  "%s", err);

    /* The environment fills in what the options leave out. */
    setenv("RAFTKV_TLS_KEY", certs.client.key, 1);
    setenv("RAFTKV_TLS_CA", certs.ca, 1);
    ck_assert_msg(rpc_tls_from_options(certs.client.cert, NULL, NULL, &t, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_ptr_nonnull(t);
    rpc_tls_free(t);
    setenv("RAFTKV_TLS_CERT", certs.client.cert, 1);
    ck_assert_msg(rpc_tls_from_options(NULL, NULL, NULL, &t, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull(t);
    rpc_tls_free(t);
    /* An option wins over the environment: a missing file there is named. */
    ck_assert_int_eq(rpc_tls_from_options(NULL, NULL, "/nonexistent/ca.pem", &t, err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "'/nonexistent/ca.pem'") && strstr(err, "No such file"), "%s", err);
    clear_env();

    /* A key of another certificate. */
    ck_assert_int_eq(rpc_tls_from_options(certs.server.cert, certs.client.key, certs.ca, &t, err,
                                          sizeof err),
                     -1);
    ck_assert_msg(strstr(err, certs.client.key) && strstr(err, "does not match"), "%s", err);
    /* A "CA bundle" without a certificate (a key file). */
    ck_assert_int_eq(rpc_tls_from_options(certs.server.cert, certs.server.key, certs.server.key,
                                          &t, err, sizeof err),
                     -1);
    ck_assert_msg(strstr(err, certs.server.key) && strstr(err, "CA"), "%s", err);
    /* A certificate file that is not PEM. */
    ck_assert_int_eq(rpc_tls_from_options(certs.server.key, certs.server.key, certs.ca, &t, err,
                                          sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "certificate file") && strstr(err, certs.server.key), "%s", err);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("rpc_tls");
    TCase *tc = tcase_create("tls");
    tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tls_call_small_and_10mb);
    tcase_add_test(tc, test_tls_many_concurrent_calls);
    tcase_add_test(tc, test_client_without_certificate);
    tcase_add_test(tc, test_client_of_another_ca);
    tcase_add_test(tc, test_client_expired);
    tcase_add_test(tc, test_client_not_yet_valid);
    tcase_add_test(tc, test_server_of_another_ca);
    tcase_add_test(tc, test_server_san_mismatch);
    tcase_add_test(tc, test_plain_client_on_tls_server);
    tcase_add_test(tc, test_tls_client_on_plain_server);
    tcase_add_test(tc, test_authorized_served_during_refusals);
    tcase_add_test(tc, test_reconnect_resumes_session);
    tcase_add_test(tc, test_flush_over_tls);
    tcase_add_test(tc, test_from_options);
    suite_add_tcase(s, tc);
    return s;
}
