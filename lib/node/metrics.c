#include "node/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/util.h"
#include "metrics/metrics.h"
#include "node/health.h"
#include "node/node.h"

/* Buckets in seconds: 50 us to about 26 s, doubling (an fsync on tmpfs to a slow disk's). */
#define N_BUCKETS 20

/* What node_status says, copied in at each scrape. */
static const struct metrics_field status_fields[] = {
#define S(f) offsetof(struct node_status, f)
    { METRIC_GAUGE, "raftkv_raft_term", "The current term.", S(soft.term) },
    { METRIC_GAUGE, "raftkv_raft_commit_index", "The commit index this node knows.", S(commit) },
    { METRIC_GAUGE, "raftkv_raft_applied_index", "The last index applied to the state machine.",
      S(applied) },
    { METRIC_GAUGE, "raftkv_raft_last_index", "The last index of the log.", S(last_index) },
    { METRIC_GAUGE, "raftkv_raft_snapshot_index",
      "The index of the last snapshot (the log starts after it).", S(snapshot_index) },
    { METRIC_COUNTER, "raftkv_raft_leader_changes_total",
      "Times the leader this node knows changed to a new one.", S(leader_changes) },
    { METRIC_COUNTER, "raftkv_snapshots_taken_total",
      "Snapshots this node took of its state machine.", S(snapshots_taken) },
    { METRIC_COUNTER, "raftkv_snapshots_background_total",
      "Of the snapshots taken, those written by a forked child.", S(snapshots_background) },
    { METRIC_COUNTER, "raftkv_snapshots_installed_total",
      "Snapshots received from the leader and installed.", S(snapshots_installed) },
    { METRIC_GAUGE, "raftkv_snapshot_size_bytes", "Size of the stored snapshot.",
      S(snapshot_bytes) },
    { METRIC_GAUGE, "raftkv_raft_state_bytes",
      "Size of the persisted Raft state (the log and hard state), what --max-raft-state bounds.",
      S(raft_state_bytes) },
#undef S
};

#define N_STATUS (sizeof status_fields / sizeof *status_fields)

/* The replica's timings (enum replica_timing order). */
static const struct {
    const char *name, *help;
} timings[] = {
    { "raftkv_raft_proposal_commit_duration_seconds",
      "On the leader, time from a proposal to the ready that says it committed." },
    { "raftkv_raft_save_duration_seconds",
      "Time to make one ready durable: one LMDB write transaction and its fsync." },
    { "raftkv_raft_apply_duration_seconds",
      "Time to apply one committed entry to the state machine." },
};

struct node_metrics {
    struct node *node;
    struct metric *timing[REPLICA_TIME_APPLY + 1];
    struct metric *status[N_STATUS];
    struct metric *is_leader, *leader_id, *role[RAFT_LEADER + 1], *healthy, *ready;
};

static void on_timing(enum replica_timing what, uint64_t ns, void *arg)
{
    struct node_metrics *nm = arg;
    metric_observe(nm->timing[what], (double)ns / 1e9);
}

static void collect(void *arg)
{
    struct node_metrics *nm = arg;
    struct node_status st;
    node_status(nm->node, &st);
    metrics_fields_set(status_fields, N_STATUS, nm->status, &st);
    metric_set(nm->is_leader, st.soft.role == RAFT_LEADER);
    metric_set(nm->leader_id, st.soft.leader);
    for (int r = 0; r <= RAFT_LEADER; r++)
        metric_set(nm->role[r], st.soft.role == (enum raft_role)r);
    char why[256];
    metric_set(nm->healthy, node_metrics_healthz(nm, why, sizeof why) == 0);
    metric_set(nm->ready, node_metrics_readyz(nm, why, sizeof why) == 0);
}

struct node_metrics *node_metrics_new(struct metrics *reg, struct node *n)
{
    struct node_metrics *nm = xcalloc(1, sizeof *nm);
    nm->node = n;
    double b[N_BUCKETS];
    metrics_exp_buckets(0.00005, 2, N_BUCKETS, b);
    for (size_t i = 0; i < ARRAY_LEN(timings); i++)
        nm->timing[i] = metrics_histogram(reg, timings[i].name, timings[i].help, b, N_BUCKETS);
    metrics_fields(reg, status_fields, N_STATUS, nm->status);
    nm->is_leader = metrics_gauge(reg, "raftkv_raft_is_leader", "1 when this node leads, else 0.");
    nm->leader_id = metrics_gauge(reg, "raftkv_raft_leader_id",
                                  "The id of the leader this node knows (0: none).");
    struct metric_family *role = metrics_family(reg, METRIC_GAUGE, "raftkv_raft_role",
                                                "1 for this node's role, 0 for the others.",
                                                "role", NULL, 0);
    for (int r = 0; r <= RAFT_LEADER; r++) {
        const char *v[] = { raft_role_name((enum raft_role)r) };
        nm->role[r] = metric_child(role, v);
    }
    nm->healthy = metrics_gauge(reg, "raftkv_node_healthy", "1 when /healthz answers 200.");
    nm->ready = metrics_gauge(reg, "raftkv_node_ready", "1 when /readyz answers 200.");
    metrics_on_collect(reg, collect, nm);
    node_on_timing(n, on_timing, nm);
    return nm;
}

void node_metrics_free(struct node_metrics *nm)
{
    if (!nm)
        return;
    node_on_timing(nm->node, NULL, NULL);
    free(nm);
}

static int probe(struct node_metrics *nm, bool ready, char *why, size_t len)
{
    struct node_health_facts f;
    node_health_facts(nm->node, &f);
    return node_health_judge(&f, ready, why, len);
}

int node_metrics_healthz(void *arg, char *why, size_t len) { return probe(arg, false, why, len); }
int node_metrics_readyz(void *arg, char *why, size_t len) { return probe(arg, true, why, len); }
