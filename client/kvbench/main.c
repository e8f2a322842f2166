/* kvbench: a closed-loop load generator for key/value stores. N clients each keep one
 * operation in flight against kvd (through lib/clerk, clerks sharing --conns connections), the
 * sharded service (shard clerks, shardkv_target.c) or etcd v3 (through its JSON gateway over HTTP/1.1 keep-alive), with the same workload: a mix of
 * put / get / append, uniform over --keys keys of --key-size bytes, values of --value-size
 * bytes. After --warmup it measures for --duration and prints ops/s, writes/s and latency
 * percentiles, as a sentence and as key=value pairs. */
#include <event2/event.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "bench.h"
#include "stats.h"
#include "tlsopt/tlsopt.h"
#include "workload.h"

#define KVD_LOCAL "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
#define ETCD_LOCAL "127.0.0.1:2379"
#define CTRL_LOCAL "127.0.0.1:7501,127.0.0.1:7502,127.0.0.1:7503" /* make run-sharded's */
#define ERROR_BACKOFF_MS 10

struct opts {
    char *target, *servers, *mix;
    int64_t clients, conns, put_ratio, get_ratio, append_ratio, keys, key_size, value_size;
    uint64_t duration_ms, warmup_ms, op_timeout_ms;
    bool all_endpoints, preload;
    int64_t seed;
    struct tls_opts tls; /* kvd, shardkv: TLS to the servers */
};

#define O(f) offsetof(struct opts, f)
static const struct config_option options[] = {
    { "", "target", "target", CONFIG_STRING, O(target), "kvd", 0, 0,
      "kvd, etcd, or shardkv (the sharded service, through its controller)" },
    { "", "servers", "servers", CONFIG_STRING, O(servers), NULL, 0, 0,
      "host:port,... (kvd: client ports, default $KV_SERVERS else " KVD_LOCAL "; etcd: client "
      "URLs' host:port, default " ETCD_LOCAL "; shardkv: the controller's, default $KV_CTRLERS "
      "else " CTRL_LOCAL ")" },
    { "", "clients", "clients", CONFIG_INT, O(clients), "1", 1, 100000,
      "concurrent clients, one operation in flight each" },
    { "", "conns", "conns", CONFIG_INT, O(conns), "1", 1, 1024,
      "kvd, shardkv: connections per server the clients share (etcd: always one per client)" },
    { "", "duration", "duration", CONFIG_DURATION, O(duration_ms), "10s", 100, 86400000,
      "measured time" },
    { "", "warmup", "warmup", CONFIG_DURATION, O(warmup_ms), "1s", 0, 600000,
      "load before measuring (connections, leader discovery, caches)" },
    { "", "mix", "mix", CONFIG_STRING, O(mix), "put=100,get=0,append=0", 0, 0,
      "operation weights: put=N,get=N,append=N" },
    { "", "put_ratio", "put-ratio", CONFIG_INT, O(put_ratio), "-1", -1, 1000000,
      "weight of puts (overrides --mix when any --*-ratio is given)" },
    { "", "get_ratio", "get-ratio", CONFIG_INT, O(get_ratio), "-1", -1, 1000000, "weight of gets" },
    { "", "append_ratio", "append-ratio", CONFIG_INT, O(append_ratio), "-1", -1, 1000000,
      "weight of appends (etcd has no append: sent as puts)" },
    { "", "keys", "keys", CONFIG_INT, O(keys), "1000", 1, 1000000000, "distinct keys, drawn uniformly" },
    { "", "key_size", "key-size", CONFIG_INT, O(key_size), "8", 1, 1024, "bytes per key" },
    { "", "value_size", "value-size", CONFIG_INT, O(value_size), "256", 1, 1 << 20,
      "bytes per put / append value" },
    { "", "op_timeout", "op-timeout", CONFIG_DURATION, O(op_timeout_ms), "5s", 1, 600000,
      "an operation not done within this long counts as an error" },
    { "", "preload", "preload", CONFIG_BOOL, O(preload), "false", 0, 0,
      "put every key once before the warm-up (so that gets find values)" },
    { "", "all_endpoints", "all-endpoints", CONFIG_BOOL, O(all_endpoints), "false", 0, 0,
      "etcd: spread clients over every member (default: all on the leader, like kvd's clerks)" },
    { "", "seed", "seed", CONFIG_INT, O(seed), "0", 0, 0, "workload seed (0: from the clock)" },
    TLS_CONFIG_OPTIONS("", "tls_", struct opts, tls),
};

static const struct config_spec spec = {
    "kvbench", "[OPTION]...",
    "Closed-loop load for kvd, the sharded service (shardkv) or etcd (v3 JSON gateway): "
    "--clients clients, one operation in flight each, for --duration after --warmup. Prints ops/s, writes/s, p50/p99/p99.9 latency "
    "and errors, then the same as key=value pairs. Exit status: 0 when operations completed, 1 "
    "when none did (or setup failed), 2 on a usage error.",
    options, ARRAY_LEN(options),
};

enum phase { PH_PRELOAD, PH_WARMUP, PH_MEASURE, PH_STOPPED };

struct driver;

struct client {
    struct driver *d;
    size_t id;
    enum op_kind kind;
    uint64_t start_ns;
    bool idle;
    struct event *backoff;
};

struct driver {
    const struct opts *o;
    const struct target_ops *t;
    void *tctx;
    struct event_base *base;
    struct workload w;
    struct rng rng;
    struct stats st;
    enum phase phase;
    struct client *clients;
    size_t n_clients, idle;
    uint64_t preload_next, stamp;
    uint8_t *key, *val;
    struct event *phase_ev;
    uint64_t t0_ns, t1_ns;
};

static void issue_next(struct client *c);

static void arm(struct event *ev, uint64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(ev, &tv);
}

static void start_all(struct driver *d)
{
    d->idle = 0;
    for (size_t i = 0; i < d->n_clients; i++) {
        d->clients[i].idle = false;
        issue_next(&d->clients[i]);
    }
}

/* warm-up -> measure -> stopped, on the phase timer. */
static void on_phase(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct driver *d = arg;
    if (d->phase == PH_WARMUP) {
        d->phase = PH_MEASURE;
        d->t0_ns = clock_mono_ns();
        arm(d->phase_ev, d->o->duration_ms);
    } else if (d->phase == PH_MEASURE) {
        d->phase = PH_STOPPED;
        d->t1_ns = clock_mono_ns();
        event_base_loopexit(d->base, NULL);
    }
}

static void begin_warmup(struct driver *d)
{
    d->phase = PH_WARMUP;
    if (d->o->warmup_ms)
        arm(d->phase_ev, d->o->warmup_ms);
    else
        on_phase(-1, 0, d);
    start_all(d);
}

static void on_done(enum op_outcome r, const uint8_t *value, size_t len, const char *err, void *arg)
{
    struct client *c = arg;
    struct driver *d = c->d;
    uint64_t ns = clock_mono_ns() - c->start_ns;
    if (d->phase == PH_MEASURE) {
        if (r == OUT_ERROR) {
            stats_error(&d->st, err);
        } else if (r == OUT_OK && c->kind == OP_GET && !workload_value_ok(&d->w, len)) {
            (void)value;
            char why[96];
            snprintf(why, sizeof why, "a get returned a %zu-byte value (not a multiple of %zu)", len,
                     d->w.value_size);
            stats_error(&d->st, why);
        } else {
            stats_add(&d->st, c->kind, ns);
            d->st.misses += r == OUT_MISS;
        }
    }
    if (r == OUT_ERROR)
        arm(c->backoff, ERROR_BACKOFF_MS); /* do not spin on a server that is down */
    else
        issue_next(c);
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    issue_next(arg);
}

static void issue_next(struct client *c)
{
    struct driver *d = c->d;
    uint64_t key;
    if (d->phase == PH_STOPPED) {
        c->idle = true;
        return;
    }
    if (d->phase == PH_PRELOAD) {
        if (d->preload_next == d->w.keys) {
            c->idle = true;
            if (++d->idle == d->n_clients)
                begin_warmup(d);
            return;
        }
        c->kind = OP_PUT;
        key = d->preload_next++;
    } else {
        c->kind = workload_pick(&d->w, &d->rng);
        key = workload_pick_key(&d->w, &d->rng);
    }
    workload_key(&d->w, key, d->key);
    if (c->kind != OP_GET)
        workload_value(&d->w, ++d->stamp, d->val);
    c->start_ns = clock_mono_ns();
    d->t->issue(d->tctx, c->id, c->kind, d->key, d->w.key_size, d->val, d->w.value_size, on_done, c);
}

static void report(const struct driver *d, const char *mix)
{
    const struct stats *s = &d->st;
    double secs = (double)(d->t1_ns - d->t0_ns) / 1e9;
    uint64_t ops = stats_ops(s), writes = s->done[OP_PUT] + s->done[OP_APPEND];
    double ops_s = (double)ops / secs, writes_s = (double)writes / secs,
           reads_s = (double)s->done[OP_GET] / secs;
    printf("%s, %zu clients, %s: %.0f ops/s (%.0f writes/s, %.0f reads/s), latency p50 %.3f ms, "
           "p99 %.3f ms, p99.9 %.3f ms, max %.3f ms; %llu errors, %llu misses\n",
           d->t->name, d->n_clients, mix, ops_s, writes_s, reads_s, stats_pct_ms(s, 0.5),
           stats_pct_ms(s, 0.99), stats_pct_ms(s, 0.999), stats_pct_ms(s, 1.0),
           (unsigned long long)s->errors, (unsigned long long)s->misses);
    if (s->errors)
        printf("first error: %s\n", s->first_error);
    printf("target=%s clients=%zu mix=%s ops=%llu secs=%.3f ops_per_sec=%.1f writes_per_sec=%.1f "
           "reads_per_sec=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f errors=%llu "
           "misses=%llu\n",
           d->t->name, d->n_clients, mix, (unsigned long long)ops, secs, ops_s, writes_s, reads_s,
           stats_pct_ms(s, 0.5), stats_pct_ms(s, 0.99), stats_pct_ms(s, 0.999),
           stats_pct_ms(s, 1.0), (unsigned long long)s->errors, (unsigned long long)s->misses);
}

/* Applies --*-ratio over --mix when any was given. */
static int build_mix(const struct opts *o, struct workload *w, char *err, size_t errlen)
{
    if (o->put_ratio < 0 && o->get_ratio < 0 && o->append_ratio < 0)
        return workload_parse_mix(w, o->mix, err, errlen);
    char mix[96];
    snprintf(mix, sizeof mix, "put=%lld,get=%lld,append=%lld", (long long)MAX(o->put_ratio, 0),
             (long long)MAX(o->get_ratio, 0), (long long)MAX(o->append_ratio, 0));
    return workload_parse_mix(w, mix, err, errlen);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (config_from_args_or_exit(&spec, argc, argv, &o) != argc) {
        fprintf(stderr, "kvbench: unexpected argument (see --help)\n");
        config_free(&spec, &o);
        return 2;
    }
    log_setup(LOG_ERROR, "kvbench", NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rpc_tls *tls = NULL;
    if (tls_opts_setup("kvbench", &o.tls, &tls) != 0) {
        config_free(&spec, &o);
        return 2;
    }
    struct driver d = { .o = &o };
    char err[512];
    if (strcmp(o.target, "kvd") == 0) {
        d.t = &kvd_target;
    } else if (strcmp(o.target, "etcd") == 0) {
        d.t = &etcd_target;
    } else if (strcmp(o.target, "shardkv") == 0) {
        d.t = &shardkv_target;
    } else {
        fprintf(stderr, "kvbench: --target must be kvd, etcd or shardkv\n");
        tls_opts_teardown(tls);
        config_free(&spec, &o);
        return 2;
    }
    if (build_mix(&o, &d.w, err, sizeof err) != 0 ||
        workload_init(&d.w, (uint64_t)o.keys, (size_t)o.key_size, (size_t)o.value_size, err,
                      sizeof err) != 0) {
        fprintf(stderr, "kvbench: %s\n", err);
        tls_opts_teardown(tls);
        config_free(&spec, &o);
        return 2;
    }
    const char *list = o.servers ? o.servers
                       : d.t == &etcd_target ? ETCD_LOCAL
                       : d.t == &shardkv_target ? (getenv("KV_CTRLERS") ? getenv("KV_CTRLERS") : CTRL_LOCAL)
                       : getenv("KV_SERVERS") ? getenv("KV_SERVERS")
                                              : KVD_LOCAL;
    char **servers;
    size_t n_servers = split_list(list, &servers);
    char mix[96];
    workload_describe_mix(&d.w, mix, sizeof mix);
    int rc = 1;
    d.base = event_base_new();
    struct target_config tc = { d.base, (const char *const *)servers, n_servers, (size_t)o.clients,
                                (size_t)o.conns, o.op_timeout_ms, o.all_endpoints };
    if (n_servers == 0) {
        fprintf(stderr, "kvbench: no servers given\n");
        rc = 2;
    } else if (!(d.tctx = d.t->open(&tc, err, sizeof err))) {
        fprintf(stderr, "kvbench: %s: %s\n", d.t->name, err);
    } else {
        const char *how = d.t->describe(d.tctx);
        printf("kvbench: target=%s servers=%s clients=%lld conns=%lld mix=%s keys=%lld key_size=%lld "
               "value_size=%lld warmup=%llums duration=%llums tls=%s%s%s\n",
               d.t->name, list, (long long)o.clients, (long long)o.conns, mix, (long long)o.keys,
               (long long)o.key_size, (long long)o.value_size, (unsigned long long)o.warmup_ms,
               (unsigned long long)o.duration_ms, tls ? "on" : "off", how ? "; " : "",
               how ? how : "");
        if (d.t == &etcd_target && d.w.weight[OP_APPEND])
            printf("note: etcd has no append; appends are sent to etcd as puts of the same value\n");
        fflush(stdout);
        rng_seed(&d.rng, o.seed ? (uint64_t)o.seed : clock_wall_ns());
        d.key = xmalloc(d.w.key_size);
        d.val = xmalloc(d.w.value_size);
        d.n_clients = (size_t)o.clients;
        d.clients = xcalloc(d.n_clients, sizeof *d.clients);
        for (size_t i = 0; i < d.n_clients; i++)
            d.clients[i] = (struct client){ .d = &d, .id = i,
                                            .backoff = evtimer_new(d.base, on_backoff, &d.clients[i]) };
        d.phase_ev = evtimer_new(d.base, on_phase, &d);
        if (o.preload) {
            d.phase = PH_PRELOAD;
            start_all(&d);
        } else {
            begin_warmup(&d);
        }
        event_base_dispatch(d.base);
        d.t->close(d.tctx);
        stats_finish(&d.st);
        if (d.phase == PH_STOPPED) {
            report(&d, mix);
            rc = stats_ops(&d.st) > 0 ? 0 : 1;
        }
        for (size_t i = 0; i < d.n_clients; i++)
            event_free(d.clients[i].backoff);
        event_free(d.phase_ev);
        free(d.clients);
        free(d.key);
        free(d.val);
        stats_free(&d.st);
    }
    event_base_free(d.base);
    for (size_t i = 0; i < n_servers; i++)
        free(servers[i]);
    free(servers);
    tls_opts_teardown(tls);
    config_free(&spec, &o);
    return rc;
}
