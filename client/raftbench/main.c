/* raftbench: load for a raftd cluster. N proposers keep one proposal each in flight, follow
 * leader hints, and measure proposals/s and latency. With --failover K it also kills the leader
 * (kill -9, pid from --pid-dir) K times, restarts it with --restart, and reports the time from
 * each kill to the next proposal acknowledged by a later term's leader. */
#include <event2/event.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "node.pb-c.h"
#include "../raftclerk/raftclerk.h"
#include "raftd.pb-c.h"
#include "rpc/rpc.h"

extern char **environ;

struct opts {
    char *servers, *pid_dir, *restart;
    int64_t clients, size, failover;
    uint64_t duration_ms, interval_ms;
};

static const struct config_option options[] = {
    { "", "servers", "servers", CONFIG_STRING, offsetof(struct opts, servers),
      "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", 0, 0, "raftd nodes, in id order (1, 2, ...)" },
    { "", "clients", "clients", CONFIG_INT, offsetof(struct opts, clients), "64", 1, 100000,
      "concurrent proposers" },
    { "", "size", "size", CONFIG_INT, offsetof(struct opts, size), "100", 0, 1 << 20,
      "bytes per command" },
    { "", "duration", "duration", CONFIG_DURATION, offsetof(struct opts, duration_ms), "10s", 100,
      86400000, "measured time (after 1 s of warm-up)" },
    { "", "failover", "failover", CONFIG_INT, offsetof(struct opts, failover), "0", 0, 1000,
      "kill the leader this many times instead of measuring throughput" },
    { "", "interval", "interval", CONFIG_DURATION, offsetof(struct opts, interval_ms), "2500ms", 100,
      600000, "time between leader kills" },
    { "", "pid_dir", "pid-dir", CONFIG_STRING, offsetof(struct opts, pid_dir), NULL, 0, 0,
      "directory holding node-<id>.pid (failover)" },
    { "", "restart", "restart", CONFIG_STRING, offsetof(struct opts, restart), NULL, 0, 0,
      "shell command restarting node {id} (failover)" },
};

static const struct config_spec spec = {
    "raftbench", "[OPTION]...", "Load generator for raftd (see the header of client/raftbench/main.c).",
    options, ARRAY_LEN(options),
};

struct bench;

/* One closed-loop proposer: its own clerk engine (client/raftclerk), one proposal at a time. */
struct proposer {
    struct bench *b;
    struct clerk_engine *e;
    uint64_t sent_ns;
};

struct bench {
    const struct opts *o;
    struct event_base *base;
    char **addrs;
    size_t n;
    struct rpc_client **clients; /* for raftd.Status (the failover rounds) */
    struct clerk_net *net;       /* the proposers' */
    uint8_t *data;
    size_t len;
    bool measuring;
    uint64_t acks;
    uint64_t *lat;
    size_t nlat, cap;
    /* failover */
    int round;
    uint64_t kill_ns, kill_term;
    bool waiting_ack;
    uint32_t killed_id;
    uint64_t *gaps;
    struct event *round_ev;
};

static void issue(struct proposer *p);

static void restart_node(struct bench *b, uint32_t id)
{
    char idbuf[16], *cmd;
    snprintf(idbuf, sizeof idbuf, "%u", id);
    const char *at = strstr(b->o->restart, "{id}");
    if (!at)
        cmd = xstrdup(b->o->restart);
    else
        cmd = xasprintf("%.*s%s%s", (int)(at - b->o->restart), b->o->restart, idbuf, at + 4);
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    pid_t pid;
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
        fprintf(stderr, "raftbench: cannot run the restart command\n");
    free(cmd);
}

/* A proposal acknowledged (the engine retries everything else, following leader hints). */
static void on_done(enum clerk_result res, const uint8_t *value, size_t len, void *arg)
{
    struct proposer *p = arg;
    struct bench *b = p->b;
    Raftd__ProposeReply *r = res == CLERK_OK ? raftd__propose_reply__unpack(NULL, len, value) : NULL;
    if (!r) {
        issue(p);
        return;
    }
    uint64_t now = clock_mono_ns();
    b->acks++;
    if (b->measuring) {
        if (b->nlat == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 1 << 16;
            b->lat = xrealloc(b->lat, b->cap * sizeof *b->lat);
        }
        b->lat[b->nlat++] = now - p->sent_ns;
    }
    if (b->waiting_ack && r->term > b->kill_term) {
        b->gaps[b->round - 1] = now - b->kill_ns;
        b->waiting_ack = false;
        restart_node(b, b->killed_id);
    }
    raftd__propose_reply__free_unpacked(r, NULL);
    issue(p);
}

static void issue(struct proposer *p)
{
    struct bench *b = p->b;
    p->sent_ns = clock_mono_ns();
    raftclerk_propose(p->e, b->data, b->len, on_done, p);
}

/* ---- failover rounds -------------------------------------------------------------------- */

static void on_status(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                      void *arg)
{
    (void)error;
    struct bench *b = arg;
    if (st != RPC_OK || b->waiting_ack)
        return;
    Node__Status *s = node__status__unpack(NULL, len, payload);
    if (!s)
        return;
    if (strcmp(s->role, "leader") == 0 && b->kill_ns == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/node-%u.pid", b->o->pid_dir, s->id);
        FILE *f = fopen(path, "r");
        long pid = 0;
        if (f && fscanf(f, "%ld", &pid) == 1 && pid > 0 && kill((pid_t)pid, SIGKILL) == 0) {
            b->kill_ns = clock_mono_ns();
            b->kill_term = s->term;
            b->killed_id = s->id;
            b->waiting_ack = true;
            b->round++;
            waitpid((pid_t)pid, NULL, WNOHANG);
        }
        if (f)
            fclose(f);
    }
    node__status__free_unpacked(s, NULL);
}

static void on_round(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct bench *b = arg;
    if (b->waiting_ack) { /* no acknowledgement yet: keep waiting */
        struct timeval tv = { 0, 100000 };
        evtimer_add(b->round_ev, &tv);
        return;
    }
    if (b->round == b->o->failover) {
        event_base_loopexit(b->base, NULL);
        return;
    }
    b->kill_ns = 0;
    Raftd__StatusRequest req = RAFTD__STATUS_REQUEST__INIT;
    for (size_t i = 0; i < b->n; i++)
        rpc_client_call_msg(b->clients[i], "raftd.Status", &req.base, 1000, on_status, b);
    struct timeval tv = { (time_t)(b->o->interval_ms / 1000), (suseconds_t)(b->o->interval_ms % 1000) * 1000 };
    evtimer_add(b->round_ev, &tv);
}

static int cmp_u64(const void *a, const void *c)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)c;
    return x < y ? -1 : x > y;
}

static double pct_ms(uint64_t *v, size_t n, double p)
{
    return n ? (double)v[(size_t)(p * (double)(n - 1))] / 1e6 : 0;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

static void run_for(struct bench *b, uint64_t ms)
{
    struct event *ev = evtimer_new(b->base, on_stop, b->base);
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(ev, &tv);
    event_base_dispatch(b->base);
    event_free(ev);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (config_from_args_or_exit(&spec, argc, argv, &o) != argc) {
        fprintf(stderr, "raftbench: unexpected argument\n");
        return 2;
    }
    if (o.failover && (!o.pid_dir || !o.restart)) {
        fprintf(stderr, "raftbench: --failover needs --pid-dir and --restart\n");
        return 2;
    }
    log_setup(LOG_WARN, "bench", NULL);
    signal(SIGPIPE, SIG_IGN);
    struct bench b = { .o = &o, .base = event_base_new() };
    b.n = split_list(o.servers, &b.addrs);
    b.clients = xcalloc(b.n, sizeof *b.clients);
    char err[256];
    for (size_t i = 0; i < b.n; i++) {
        b.clients[i] = rpc_client_new(b.base, b.addrs[i], NULL, err, sizeof err);
        if (!b.clients[i]) {
            fprintf(stderr, "raftbench: %s\n", err);
            return 2;
        }
    }
    b.net = clerk_net_new(b.base, (const char *const *)b.addrs, b.n, err, sizeof err);
    if (!b.net) {
        fprintf(stderr, "raftbench: %s\n", err);
        return 2;
    }
    b.len = (size_t)o.size;
    b.data = xcalloc(1, b.len + 1);
    memset(b.data, 'c', b.len);
    struct proposer *ps = xcalloc((size_t)o.clients, sizeof *ps);
    for (int64_t i = 0; i < o.clients; i++) {
        struct clerk_opts co;
        clerk_opts_default(&co);
        co.seed = clerk_seed(&co, (uint64_t)i);
        ps[i] = (struct proposer){ &b, raftclerk_new(b.net, &co), 0 };
        issue(&ps[i]);
    }
    run_for(&b, 1000); /* warm-up: connections, leader discovery */
    int rc = 0;
    if (o.failover) {
        b.gaps = xcalloc((size_t)o.failover, sizeof *b.gaps);
        b.round_ev = evtimer_new(b.base, on_round, &b);
        event_active(b.round_ev, EV_TIMEOUT, 0);
        event_base_dispatch(b.base);
        qsort(b.gaps, (size_t)b.round, sizeof *b.gaps, cmp_u64);
        printf("failover: %d leader kills; time from kill -9 to the next acknowledged proposal: "
               "median %.0f ms, p90 %.0f ms, max %.0f ms\n", b.round,
               pct_ms(b.gaps, (size_t)b.round, 0.5), pct_ms(b.gaps, (size_t)b.round, 0.9),
               pct_ms(b.gaps, (size_t)b.round, 1.0));
        printf("failover_median_ms=%.0f failover_p90_ms=%.0f\n", pct_ms(b.gaps, (size_t)b.round, 0.5),
               pct_ms(b.gaps, (size_t)b.round, 0.9));
        rc = b.round == o.failover ? 0 : 1;
    } else {
        b.measuring = true;
        uint64_t acks0 = b.acks, t0 = clock_mono_ns();
        run_for(&b, o.duration_ms);
        double secs = (double)(clock_mono_ns() - t0) / 1e9;
        qsort(b.lat, b.nlat, sizeof *b.lat, cmp_u64);
        printf("throughput: %lld proposers, %lld-byte commands: %.0f proposals/s, latency p50 %.2f "
               "ms, p99 %.2f ms, p99.9 %.2f ms\n", (long long)o.clients, (long long)o.size,
               (double)(b.acks - acks0) / secs, pct_ms(b.lat, b.nlat, 0.5), pct_ms(b.lat, b.nlat, 0.99),
               pct_ms(b.lat, b.nlat, 0.999));
        printf("proposals_per_sec=%.0f p50_ms=%.2f p99_ms=%.2f\n", (double)(b.acks - acks0) / secs,
               pct_ms(b.lat, b.nlat, 0.5), pct_ms(b.lat, b.nlat, 0.99));
    }
    return rc;
}
