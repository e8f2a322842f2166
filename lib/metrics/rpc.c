#include "metrics/rpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/util.h"
#include "metrics/metrics.h"
#include "rpc/rpc.h"

#define N_STATUS (RPC_PROTOCOL + 1)

/* Request latency buckets: 100 us to about 13 s, doubling. */
#define N_LATENCY_BUCKETS 18

/* One method's series, found by the pointer the server passes (its handler's name). */
struct method {
    const char *name; /* the server's string (NULL: unknown methods) */
    struct metric *calls[N_STATUS];
    struct metric *latency;
};

/* The server's counters and sizes, copied in at each scrape. */
static const struct metrics_field stat_metrics[] = {
#define S(f) offsetof(struct rpc_server_stats, f)
    { METRIC_COUNTER, "raftkv_rpc_connections_accepted_total",
      "Connections accepted, peers' and clients'.", S(conns_accepted) },
    { METRIC_GAUGE, "raftkv_rpc_connections_open", "Connections open now.", S(conns_open) },
    { METRIC_COUNTER, "raftkv_rpc_connections_refused_total",
      "Connections closed at accept: --max-connections were open.", S(conns_refused) },
    { METRIC_COUNTER, "raftkv_rpc_messages_total",
      "One-way messages received (Raft peer traffic).", S(messages) },
    { METRIC_COUNTER, "raftkv_rpc_bad_input_total",
      "Connections closed for bad input (a malformed or oversized frame, a REPLY sent to the "
      "server).", S(bad_input) },
    { METRIC_COUNTER, "raftkv_rpc_slow_client_drops_total",
      "Connections closed because they did not read their replies.", S(slow_drops) },
    { METRIC_COUNTER, "raftkv_rpc_budget_drops_total",
      "Connections closed to keep the input of all connections within the server's budget.",
      S(budget_drops) },
    { METRIC_COUNTER, "raftkv_rpc_frame_timeouts_total",
      "Connections closed for not finishing a frame in time.", S(frame_timeouts) },
    { METRIC_COUNTER, "raftkv_rpc_tls_handshakes_total",
      "TLS handshakes completed (a server with TLS).", S(tls_handshakes) },
    { METRIC_COUNTER, "raftkv_rpc_tls_resumed_total",
      "TLS handshakes that resumed a session (no certificate exchange).", S(tls_resumed) },
    { METRIC_COUNTER, "raftkv_rpc_backpressure_pauses_total",
      "Times a connection's reading was paused for backpressure.", S(paused) },
    { METRIC_GAUGE, "raftkv_rpc_pending_calls", "Calls handed to handlers and not answered yet.",
      S(pending_calls) },
    { METRIC_GAUGE, "raftkv_rpc_output_buffered_bytes",
      "Bytes of replies not yet written to the sockets.", S(out_buffered) },
    { METRIC_GAUGE, "raftkv_rpc_input_buffered_bytes",
      "Bytes read and not yet dispatched (partial frames, mostly).", S(in_buffered) },
#undef S
};

#define N_STATS (sizeof stat_metrics / sizeof *stat_metrics)

struct rpc_metrics {
    struct rpc_server *srv;
    struct metric_family *calls, *latency;
    struct method *methods;
    size_t n_methods;
    struct metric *stats[N_STATS];
    struct metric *tls_refused[RPC_TLS_CAUSES]; /* raftkv_rpc_tls_refused_total{cause} */
};

static struct method *method_of(struct rpc_metrics *rm, const char *name)
{
    for (size_t i = 0; i < rm->n_methods; i++)
        if (rm->methods[i].name == name)
            return &rm->methods[i];
    rm->methods = xrealloc(rm->methods, (rm->n_methods + 1) * sizeof *rm->methods);
    struct method *m = &rm->methods[rm->n_methods++];
    *m = (struct method){ .name = name };
    const char *label[] = { name ? name : "unknown" };
    m->latency = metric_child(rm->latency, label);
    return m;
}

static void on_call_done(const char *method, enum rpc_status st, uint64_t ns, void *arg)
{
    struct rpc_metrics *rm = arg;
    struct method *m = method_of(rm, method);
    unsigned s = (unsigned)st < N_STATUS ? (unsigned)st : RPC_APP_ERROR;
    if (!m->calls[s]) {
        const char *labels[] = { method ? method : "unknown", rpc_status_name((enum rpc_status)s) };
        m->calls[s] = metric_child(rm->calls, labels);
    }
    metric_inc(m->calls[s]);
    metric_observe(m->latency, (double)ns / 1e9);
}

static void collect(void *arg)
{
    struct rpc_metrics *rm = arg;
    struct rpc_server_stats st;
    rpc_server_stats(rm->srv, &st);
    metrics_fields_set(stat_metrics, N_STATS, rm->stats, &st);
    for (int i = 0; i < RPC_TLS_CAUSES; i++)
        metric_set(rm->tls_refused[i], (double)st.tls_refused_by[i]);
}

struct rpc_metrics *rpc_metrics_new(struct metrics *reg, struct rpc_server *srv)
{
    struct rpc_metrics *rm = xcalloc(1, sizeof *rm);
    rm->srv = srv;
    double b[N_LATENCY_BUCKETS];
    metrics_exp_buckets(0.0001, 2, N_LATENCY_BUCKETS, b);
    rm->calls = metrics_family(reg, METRIC_COUNTER, "raftkv_rpc_calls_total",
                               "RPC calls answered, by method and transport status (a method "
                               "without a handler is unknown).", "method,status", NULL, 0);
    rm->latency = metrics_family(reg, METRIC_HISTOGRAM, "raftkv_rpc_request_duration_seconds",
                                 "Time from a call's arrival to its answer (a client request's "
                                 "latency inside the server), by method.", "method", b,
                                 N_LATENCY_BUCKETS);
    metrics_fields(reg, stat_metrics, N_STATS, rm->stats);
    struct metric_family *refused = metrics_family(
        reg, METRIC_COUNTER, "raftkv_rpc_tls_refused_total",
        "Connections refused for TLS, by cause: no_cert, unknown_ca, expired (or not yet valid), "
        "handshake (another handshake failure), plain_client (plain TCP on a TLS port), "
        "tls_client (a TLS handshake on a plain port).", "cause", NULL, 0);
    for (int i = 0; i < RPC_TLS_CAUSES; i++) {
        const char *label[] = { rpc_tls_cause_name((enum rpc_tls_cause)i) };
        rm->tls_refused[i] = metric_child(refused, label);
    }
    metrics_on_collect(reg, collect, rm);
    rpc_server_on_call_done(srv, on_call_done, rm);
    return rm;
}

void rpc_metrics_free(struct rpc_metrics *rm)
{
    if (!rm)
        return;
    free(rm->methods);
    free(rm);
}
