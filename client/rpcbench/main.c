/* rpcbench: an echo server, and a load generator that keeps N connections with M calls in
 * flight each and reports calls/s and latency percentiles.
 *   rpcbench --serve 127.0.0.1:7400
 *   rpcbench --connect 127.0.0.1:7400 --conns 50 --inflight 1 --calls 200000 */
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "echo.pb-c.h"
#include "echo/echo.h"
#include "rpc/rpc.h"

struct opts {
    char *serve;
    char *connect;
    int64_t conns, inflight, calls, size;
    uint64_t timeout_ms;
};

static const struct config_option options[] = {
    { "", "serve", "serve", CONFIG_STRING, offsetof(struct opts, serve), NULL, 0, 0,
      "run the echo server on this address until SIGTERM/SIGINT" },
    { "", "connect", "connect", CONFIG_STRING, offsetof(struct opts, connect), "127.0.0.1:7400", 0, 0,
      "address of the echo server to load" },
    { "", "conns", "conns", CONFIG_INT, offsetof(struct opts, conns), "50", 1, 10000,
      "number of connections" },
    { "", "inflight", "inflight", CONFIG_INT, offsetof(struct opts, inflight), "1", 1, 100000,
      "calls in flight per connection" },
    { "", "calls", "calls", CONFIG_INT, offsetof(struct opts, calls), "200000", 1, 100000000,
      "total number of calls" },
    { "", "size", "size", CONFIG_INT, offsetof(struct opts, size), "16", 0, 16 << 20,
      "echo payload bytes" },
    { "", "timeout", "timeout", CONFIG_DURATION, offsetof(struct opts, timeout_ms), "10s", 1, 3600000,
      "per-call timeout" },
};

static const struct config_spec spec = {
    "rpcbench", "[OPTION]...",
    "Benchmarks lib/rpc with the echo service: --serve runs a server; otherwise it loads one.",
    options, ARRAY_LEN(options),
};

/* ---- server ---- */

static void on_stop_signal(int sig, void *arg)
{
    (void)sig;
    struct event_base *base = arg;
    event_base_loopexit(base, NULL);
}

static int serve(const struct opts *o)
{
    struct event_base *base = event_base_new();
    struct rpc_server *srv = rpc_server_new(base, NULL);
    char err[256];
    if (rpc_server_listen(srv, o->serve, err, sizeof err) != 0) {
        fprintf(stderr, "rpcbench: %s\n", err);
        return 1;
    }
    struct echo_service *echo = echo_service_new(base, srv);
    struct rpc_signals *sig = rpc_signals_install(base, on_stop_signal, base);
    LOG_INFO("rpcbench", "serving echo on %s", o->serve);
    event_base_dispatch(base);
    rpc_signals_free(sig);
    echo_service_free(echo);
    rpc_server_free(srv);
    event_base_free(base);
    return 0;
}

/* ---- load ---- */

struct load {
    const struct opts *o;
    struct event_base *base;
    struct rpc_client **clients;
    uint8_t *req;
    size_t req_len;
    int64_t issued, done, failed;
    uint64_t *lat_ns;
    uint64_t start_ns;
};

struct slot {
    struct load *l;
    struct rpc_client *c;
    uint64_t sent_ns;
};

static void issue(struct slot *s);

static void on_reply(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                     void *arg)
{
    (void)payload;
    struct slot *s = arg;
    struct load *l = s->l;
    if (st != RPC_OK || len < (size_t)l->o->size) {
        if (l->failed++ < 5)
            fprintf(stderr, "rpcbench: call failed: %s %s\n", rpc_status_name(st), error);
    }
    l->lat_ns[l->done++] = clock_mono_ns() - s->sent_ns;
    if (l->done == l->o->calls)
        event_base_loopexit(l->base, NULL);
    else
        issue(s);
}

static void issue(struct slot *s)
{
    struct load *l = s->l;
    if (l->issued == l->o->calls)
        return;
    l->issued++;
    s->sent_ns = clock_mono_ns();
    rpc_client_call(s->c, "echo.Echo", l->req, l->req_len, l->o->timeout_ms, on_reply, s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *sorted, int64_t n, double p)
{
    int64_t i = (int64_t)(p * (double)(n - 1));
    return (double)sorted[i] / 1e6;
}

static int load(const struct opts *o)
{
    struct load l = { .o = o };
    l.base = event_base_new();
    l.clients = xcalloc((size_t)o->conns, sizeof *l.clients);
    char err[256];
    for (int64_t i = 0; i < o->conns; i++) {
        l.clients[i] = rpc_client_new(l.base, o->connect, NULL, err, sizeof err);
        if (!l.clients[i]) {
            fprintf(stderr, "rpcbench: %s\n", err);
            return 2;
        }
    }
    /* Wait until every connection is up, so connecting is not timed. */
    uint64_t deadline = clock_mono_ms() + 5000;
    for (;;) {
        int64_t up = 0;
        for (int64_t i = 0; i < o->conns; i++)
            up += rpc_client_connected(l.clients[i]);
        if (up == o->conns)
            break;
        if (clock_mono_ms() > deadline) {
            fprintf(stderr, "rpcbench: only %lld of %lld connections to %s came up\n",
                    (long long)up, (long long)o->conns, o->connect);
            return 1;
        }
        event_base_loop(l.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    Echo__Request r = ECHO__REQUEST__INIT;
    r.data.len = (size_t)o->size;
    r.data.data = xcalloc(1, r.data.len + 1);
    memset(r.data.data, 'x', r.data.len);
    l.req_len = echo__request__get_packed_size(&r);
    l.req = xmalloc(l.req_len);
    echo__request__pack(&r, l.req);
    l.lat_ns = xmalloc((size_t)o->calls * sizeof *l.lat_ns);

    int64_t nslots = o->conns * o->inflight;
    struct slot *slots = xcalloc((size_t)nslots, sizeof *slots);
    l.start_ns = clock_mono_ns();
    for (int64_t i = 0; i < nslots; i++) {
        slots[i] = (struct slot){ &l, l.clients[i % o->conns], 0 };
        issue(&slots[i]);
    }
    event_base_dispatch(l.base);
    double secs = (double)(clock_mono_ns() - l.start_ns) / 1e9;
    qsort(l.lat_ns, (size_t)l.done, sizeof *l.lat_ns, cmp_u64);
    printf("rpcbench: %lld conns x %lld in flight, %lld-byte payload: %lld calls in %.2f s, "
           "%lld failed\n", (long long)o->conns, (long long)o->inflight, (long long)o->size,
           (long long)l.done, secs, (long long)l.failed);
    printf("calls_per_sec=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n", (double)l.done / secs,
           pct_ms(l.lat_ns, l.done, 0.50), pct_ms(l.lat_ns, l.done, 0.99),
           pct_ms(l.lat_ns, l.done, 0.999));
    for (int64_t i = 0; i < o->conns; i++)
        rpc_client_free(l.clients[i]);
    free(l.clients);
    free(slots);
    free(l.lat_ns);
    free(l.req);
    free(r.data.data);
    event_base_free(l.base);
    return l.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (config_from_args_or_exit(&spec, argc, argv, &o) != argc) {
        fprintf(stderr, "rpcbench: unexpected argument (see --help)\n");
        return 2;
    }
    log_setup(LOG_INFO, "bench", NULL);
    int rc = o.serve ? serve(&o) : load(&o);
    config_free(&spec, &o);
    return rc;
}
