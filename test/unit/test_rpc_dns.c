/* lib/rpc's name lookups (lib/rpc/dns.c), against a nameserver of the test's own on 127.0.0.1
 * ($RPC_RESOLV_CONF): a lookup that gets no answer holds up only the calls to that name, not
 * the loop (another client on it is answered meanwhile); a "no such name" is believed for a
 * while by every client of the loop (no second lookup); a name in /etc/hosts connects. */
#include <check.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "echo_proc.h"
#include "rpc/rpc.h"

/* ---- a nameserver: silent, or answering every query "no such name" (NXDOMAIN) ---------- */

struct nameserver {
    int fd;
    uint16_t port;
    bool answer;
    atomic_int queries;
    atomic_bool stop;
    pthread_t thread;
    char conf[64];
};

static void *serve(void *arg)
{
    struct nameserver *ns = arg;
    while (!ns->stop) {
        struct pollfd pfd = { ns->fd, POLLIN, 0 };
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        uint8_t q[512];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(ns->fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
        if (n < 12)
            continue;
        ns->queries++;
        if (!ns->answer)
            continue;
        /* The query back, as a response: QR, RD, RA, RCODE 3 (no such name), no records. */
        q[2] = 0x81;
        q[3] = 0x83;
        memset(q + 6, 0, 6);
        sendto(ns->fd, q, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

static void ns_start(struct nameserver *ns, bool answer)
{
    memset(ns, 0, sizeof *ns);
    ns->answer = answer;
    ns->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(ns->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(ns->fd, (struct sockaddr *)&sa, &sl);
    ns->port = ntohs(sa.sin_port);
    snprintf(ns->conf, sizeof ns->conf, "/tmp/test_rpc_dns_%d.conf", (int)getpid());
    FILE *f = fopen(ns->conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "nameserver 127.0.0.1:%u\noptions attempts:3\n", ns->port);
    fclose(f);
    setenv("RPC_RESOLV_CONF", ns->conf, 1);
    pthread_create(&ns->thread, NULL, serve, ns);
}

static void ns_stop(struct nameserver *ns)
{
    ns->stop = true;
    pthread_join(ns->thread, NULL);
    close(ns->fd);
    unlink(ns->conf);
    unsetenv("RPC_RESOLV_CONF");
}

/* ---- calls on one loop ---------------------------------------------------------------------- */

struct outcome {
    bool done;
    enum rpc_status st;
    char error[256];
    uint64_t at_ms;
};

static void on_reply(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                     void *arg)
{
    (void)payload;
    (void)len;
    struct outcome *o = arg;
    o->done = true;
    o->st = st;
    o->at_ms = clock_mono_ms();
    snprintf(o->error, sizeof o->error, "%s", error ? error : "");
}

static struct rpc_client *client(struct event_base *base, const char *addr)
{
    char err[256];
    struct rpc_client *c = rpc_client_new(base, addr, NULL, err, sizeof err);
    ck_assert_msg(c, "%s", err);
    return c;
}

static void call(struct rpc_client *c, uint64_t timeout_ms, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    rpc_client_call(c, "echo.Echo", (const uint8_t *)"", 0, timeout_ms, on_reply, o);
}

/* Runs base until every outcome is done (at most limit_ms). */
static void run_until(struct event_base *base, struct outcome *const *os, size_t n,
                      uint64_t limit_ms)
{
    uint64_t end = clock_mono_ms() + limit_ms;
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < n; i++)
            all &= os[i]->done;
        if (all || clock_mono_ms() >= end)
            return;
        struct timeval tv = { 0, 10000 };
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

START_TEST(test_lookup_does_not_hold_the_loop)
{
    struct nameserver ns;
    ns_start(&ns, false); /* never answers */
    struct echo_proc srv;
    ck_assert_int_eq(echo_proc_start(&srv, 0, NULL, 500), 0);
    struct event_base *base = event_base_new();
    uint64_t t0 = clock_mono_ms(); /* (a client starts connecting, and looking up, when made) */
    struct rpc_client *slow = client(base, "unanswered.test:7000");
    struct rpc_client *live = client(base, srv.addr);
    struct outcome a, b;
    call(slow, 3000, &a);
    call(live, 3000, &b);
    struct outcome *both[] = { &a, &b };
    run_until(base, both + 1, 1, 3000);
    ck_assert_msg(b.done && b.st == RPC_OK, "the live server's call: %s",
                  b.done ? rpc_status_name(b.st) : "not done");
    ck_assert_msg(b.at_ms - t0 < 300, "the live server answered after %llu ms",
                  (unsigned long long)(b.at_ms - t0));
    ck_assert_msg(!a.done, "the unanswered lookup's call ended after %llu ms: %s",
                  (unsigned long long)(a.at_ms - t0), a.error);
    ck_assert_int_ge(ns.queries, 1);
    run_until(base, both, 1, 5000); /* it ends by itself: the lookup fails, or the deadline */
    ck_assert_msg(a.done && a.st != RPC_OK, "the unanswered name: %s",
                  a.done ? rpc_status_name(a.st) : "not done");
    rpc_client_free(slow);
    rpc_client_free(live);
    event_base_free(base);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
    ns_stop(&ns);
}
END_TEST

START_TEST(test_no_such_name_is_believed)
{
    struct nameserver ns;
    ns_start(&ns, true); /* "no such name" to everything */
    struct event_base *base = event_base_new();
    struct rpc_client *one = client(base, "ghost.test:7000");
    struct outcome a, b;
    call(one, 3000, &a);
    struct outcome *first[] = { &a };
    run_until(base, first, 1, 3000);
    ck_assert_msg(a.done && a.st == RPC_UNREACHABLE && strstr(a.error, "cannot resolve ghost.test:7000"),
                  "first call: %s %s", a.done ? rpc_status_name(a.st) : "not done", a.error);
    int asked = ns.queries;
    ck_assert_int_ge(asked, 1);
    /* Another client of the loop, the same name: fails at once, without asking again. */
    struct rpc_client *two = client(base, "ghost.test:7000");
    uint64_t t0 = clock_mono_ms();
    call(two, 3000, &b);
    struct outcome *second[] = { &b };
    run_until(base, second, 1, 3000);
    ck_assert_msg(b.done && b.st == RPC_UNREACHABLE && strstr(b.error, "cannot resolve ghost.test"),
                  "second call: %s %s", b.done ? rpc_status_name(b.st) : "not done", b.error);
    ck_assert_msg(clock_mono_ms() - t0 < 100, "the second call took %llu ms",
                  (unsigned long long)(clock_mono_ms() - t0));
    ck_assert_msg(ns.queries == asked, "%d queries after the first call, %d after the second",
                  asked, (int)ns.queries);
    /* And the first client's own next call too. */
    call(one, 3000, &a);
    run_until(base, first, 1, 3000);
    ck_assert_msg(a.done && a.st == RPC_UNREACHABLE, "third call: %s", a.error);
    ck_assert_int_eq(ns.queries, asked);
    /* After the time to live (1 s, reconnect_max_ms) the name is asked again. */
    clock_sleep_ms(1100);
    call(one, 3000, &a);
    run_until(base, first, 1, 3000);
    ck_assert_msg(ns.queries > asked, "no new lookup after the time to live");
    rpc_client_free(one);
    rpc_client_free(two);
    event_base_free(base);
    ns_stop(&ns);
}
END_TEST

START_TEST(test_name_in_hosts_connects)
{
    struct echo_proc srv;
    ck_assert_int_eq(echo_proc_start(&srv, 0, NULL, 500), 0);
    struct event_base *base = event_base_new();
    char addr[64];
    snprintf(addr, sizeof addr, "localhost:%u", srv.port);
    struct rpc_client *c = client(base, addr);
    struct outcome a;
    call(c, 3000, &a);
    struct outcome *one[] = { &a };
    run_until(base, one, 1, 3000);
    ck_assert_msg(a.done && a.st == RPC_OK, "%s: %s", addr, a.error);
    rpc_client_free(c);
    event_base_free(base);
    ck_assert_int_eq(echo_proc_stop(&srv), 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("rpc_dns");
    TCase *tc = tcase_create("dns");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_lookup_does_not_hold_the_loop);
    tcase_add_test(tc, test_no_such_name_is_believed);
    tcase_add_test(tc, test_name_in_hosts_connects);
    suite_add_tcase(s, tc);
    return s;
}
