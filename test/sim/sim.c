#include "sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "store.h"

#define TRACE_LINES 64
#define TRACE_LEN 160

enum ev_type { EV_TICK, EV_DELIVER, EV_CALL, EV_PROCESS };

struct event {
    uint64_t at, seq;
    enum ev_type type;
    size_t node;          /* TICK: the node; DELIVER: the receiver */
    unsigned incarnation; /* the receiver's incarnation when scheduled */
    size_t from;
    unsigned from_incarnation;
    struct raft_msg *msg;
    sim_call_fn fn; /* EV_CALL */
    void *arg;
};

/* What one node has applied, index -> command (kept across restarts, as the lab does). */
struct applied_log {
    uint8_t **cmd;
    size_t *len;
    uint64_t *term; /* 0 when learned from a snapshot */
    uint64_t *at_term; /* the node's own term when it applied it (0: unknown) */
    size_t cap;
};

struct node {
    struct replica *rep;
    struct sim *sim;
    size_t i;
    struct node_sm machine; /* opts.machine's, for this incarnation (ctx NULL: none) */
    struct sim_store *store;
    unsigned incarnation;
    bool connected;
    bool process_scheduled; /* apply lag: an EV_PROCESS is pending for this incarnation */
    uint64_t last_applied, snapshots_installed;
    struct applied_log log;
    uint8_t *snap_buf; /* sm_snapshot_size's encoding, until sm_snapshot_done */
};

struct sim {
    struct sim_opts o;
    struct rng rng;
    uint64_t now, seq;
    struct node nodes[SIM_MAX_NODES];
    uint32_t ids[SIM_MAX_NODES];
    bool link[SIM_MAX_NODES][SIM_MAX_NODES];
    bool unreliable, long_reordering, duplicates;
    struct event *heap;
    size_t heap_len, heap_cap;
    uint64_t max_index[SIM_MAX_NODES]; /* per cluster */
    uint64_t next_read_id, reads_confirmed;
    uint64_t rpc_total, rpc_to[SIM_MAX_NODES], bytes_total, snapshots_installed;
    uint64_t snapshot_msgs_to[SIM_MAX_NODES];
    char *failure;
    bool stopped;
    char trace[TRACE_LINES][TRACE_LEN];
    size_t trace_next;
    void (*observer)(struct sim *, void *);
    void *observer_arg;
    char tmpdir[64];
};

/* The cluster of node i, and its first node and size. */
static size_t cluster_of(const struct sim *s, size_t i) { return i / s->o.cluster_size; }
static size_t cluster_first(const struct sim *s, size_t i)
{
    return cluster_of(s, i) * s->o.cluster_size;
}

static void saw_index(struct sim *s, size_t i, uint64_t index)
{
    uint64_t *m = &s->max_index[cluster_of(s, i)];
    if (index > *m)
        *m = index;
}

/* ---- trace and failures ------------------------------------------------------------------- */

static void trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct sim *s, const char *fmt, ...)
{
    char *line = s->trace[s->trace_next++ % TRACE_LINES];
    int n = snprintf(line, TRACE_LEN, "%8llu ms ", (unsigned long long)s->now);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, TRACE_LEN - (size_t)n, fmt, ap);
    va_end(ap);
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
    if (s->failure)
        return;
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->failure = xasprintf("seed %llu, at %llu ms: %s", (unsigned long long)s->o.seed,
                           (unsigned long long)s->now, buf);
}

bool sim_failed(const struct sim *s) { return s->failure != NULL; }
const char *sim_failure(const struct sim *s) { return s->failure ? s->failure : ""; }

void sim_dump(const struct sim *s)
{
    fprintf(stderr, "simulation seed %llu (replay with SEED=%llu); last events:\n",
            (unsigned long long)s->o.seed, (unsigned long long)s->o.seed);
    for (size_t k = 0; k < TRACE_LINES; k++) {
        const char *line = s->trace[(s->trace_next + k) % TRACE_LINES];
        if (line[0])
            fprintf(stderr, "  %s\n", line);
    }
    if (s->failure)
        fprintf(stderr, "failure: %s\n", s->failure);
}

void sim_set_observer(struct sim *s, void (*fn)(struct sim *, void *), void *arg)
{
    s->observer = fn;
    s->observer_arg = arg;
}

/* ---- event heap --------------------------------------------------------------------------- */

static bool ev_before(const struct event *a, const struct event *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct event ev)
{
    if (s->heap_len == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 256;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof *s->heap);
    }
    ev.seq = s->seq++;
    size_t i = s->heap_len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_before(&ev, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = ev;
}

static struct event heap_pop(struct sim *s)
{
    struct event top = s->heap[0];
    struct event last = s->heap[--s->heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_len)
            break;
        if (c + 1 < s->heap_len && ev_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_len)
        s->heap[i] = last;
    return top;
}

/* ---- messages ----------------------------------------------------------------------------- */

static struct raft_msg *msg_copy(const struct raft_msg *m)
{
    struct raft_msg *c = xmalloc(sizeof *c);
    raft_msg_copy(c, m);
    return c;
}

static void msg_destroy(struct raft_msg *m)
{
    raft_msg_free_contents(m);
    free(m);
}

static bool is_request(enum raft_msg_type t)
{
    return t == RAFT_MSG_VOTE || t == RAFT_MSG_APPEND || t == RAFT_MSG_SNAPSHOT ||
           t == RAFT_MSG_TIMEOUT_NOW;
}

/* Approximate wire size: a fixed header plus entry and snapshot payloads. */
static uint64_t msg_bytes(const struct raft_msg *m)
{
    uint64_t b = 48 + m->len;
    for (size_t i = 0; i < m->n_entries; i++)
        b += 16 + m->entries[i].len;
    return b;
}

static size_t index_of_id(const struct sim *s, uint32_t id) { (void)s; return (size_t)id - 1; }

static void send_msg(struct sim *s, size_t from, const struct raft_msg *m)
{
    size_t to = index_of_id(s, m->to);
    if (to >= s->o.n)
        return;
    if (is_request(m->type)) {
        s->rpc_total++;
        s->rpc_to[to]++;
        s->snapshot_msgs_to[to] += m->type == RAFT_MSG_SNAPSHOT;
    }
    s->bytes_total += msg_bytes(m);
    if (!s->link[from][to])
        return;
    int copies = 1;
    uint64_t delay = 1;
    if (s->unreliable) {
        if (rng_below(&s->rng, 1000) < 100)
            return; /* dropped */
        delay = rng_below(&s->rng, 27);
        if (s->duplicates && rng_below(&s->rng, 100) < 5)
            copies = 2;
    } else if (s->duplicates && rng_below(&s->rng, 100) < 5) {
        copies = 2;
    }
    if (s->long_reordering && !is_request(m->type) && rng_below(&s->rng, 900) < 600)
        delay = 200 + rng_below(&s->rng, 1 + rng_below(&s->rng, 2000));
    for (int c = 0; c < copies; c++) {
        struct event ev = { .at = s->now + delay + (uint64_t)c, .type = EV_DELIVER, .node = to,
                            .incarnation = s->nodes[to].incarnation, .from = from,
                            .from_incarnation = s->nodes[from].incarnation, .msg = msg_copy(m) };
        heap_push(s, ev);
    }
}

/* ---- the applier (the lab's applier / applierSnap) ----------------------------------------- */

static void alog_set(struct applied_log *l, uint64_t index, const uint8_t *cmd, size_t len,
                     uint64_t term, uint64_t at_term)
{
    if (index >= l->cap) {
        size_t cap = MAX(l->cap * 2, (size_t)index + 64);
        l->cmd = xrealloc(l->cmd, cap * sizeof *l->cmd);
        l->len = xrealloc(l->len, cap * sizeof *l->len);
        l->term = xrealloc(l->term, cap * sizeof *l->term);
        l->at_term = xrealloc(l->at_term, cap * sizeof *l->at_term);
        memset(l->cmd + l->cap, 0, (cap - l->cap) * sizeof *l->cmd);
        memset(l->len + l->cap, 0, (cap - l->cap) * sizeof *l->len);
        memset(l->term + l->cap, 0, (cap - l->cap) * sizeof *l->term);
        memset(l->at_term + l->cap, 0, (cap - l->cap) * sizeof *l->at_term);
        l->cap = cap;
    }
    if (at_term && (!l->at_term[index] || at_term < l->at_term[index]))
        l->at_term[index] = at_term;
    if (!l->cmd[index]) {
        l->cmd[index] = xmalloc(len ? len : 1);
        memcpy(l->cmd[index], cmd, len);
        l->len[index] = len;
    }
    if (term)
        l->term[index] = term;
}

static bool alog_has(const struct applied_log *l, uint64_t index)
{
    return index < l->cap && l->cmd[index] != NULL;
}

static void alog_free(struct applied_log *l)
{
    for (size_t i = 0; i < l->cap; i++)
        free(l->cmd[i]);
    free(l->cmd);
    free(l->len);
    free(l->term);
    free(l->at_term);
}

/* Records that node i applied cmd at index, checking it against every node's history. */
static void apply_command(struct sim *s, size_t i, uint64_t index, uint64_t term,
                          const uint8_t *cmd, size_t len)
{
    struct node *nd = &s->nodes[i];
    bool snapshots = s->o.snapshots || s->o.max_raft_state > 0;
    if (snapshots && index != nd->last_applied + 1) {
        sim_fail(s, "server %zu apply out of order, expected index %llu, got %llu", i,
                 (unsigned long long)nd->last_applied + 1, (unsigned long long)index);
        return;
    }
    for (size_t j = cluster_first(s, i); j < cluster_first(s, i) + s->o.cluster_size; j++) {
        const struct applied_log *l = &s->nodes[j].log;
        if (alog_has(l, index) && (l->len[index] != len || memcmp(l->cmd[index], cmd, len) != 0)) {
            sim_fail(s, "commit index=%llu server=%zu applied a different command than server=%zu",
                     (unsigned long long)index, i, j);
            return;
        }
    }
    if (index > 1 && !alog_has(&nd->log, index - 1) && !snapshots) {
        sim_fail(s, "server %zu apply out of order %llu", i, (unsigned long long)index);
        return;
    }
    alog_set(&nd->log, index, cmd, len, term,
             nd->rep ? raft_soft_state(replica_raft(nd->rep)).term : 0);
    nd->last_applied = index;
    saw_index(s, i, index);
}

/* Snapshot format (the lab's xlog): for every index 1..last, a 4-byte length and the command. */
static uint8_t *encode_snapshot(const struct node *nd, uint64_t last, size_t *len)
{
    size_t n = 8;
    for (uint64_t k = 1; k <= last; k++)
        n += 4 + (alog_has(&nd->log, k) ? nd->log.len[k] : 0);
    uint8_t *buf = xmalloc(n), *p = buf;
    memcpy(p, &last, 8);
    p += 8;
    for (uint64_t k = 1; k <= last; k++) {
        uint32_t l = alog_has(&nd->log, k) ? (uint32_t)nd->log.len[k] : 0;
        memcpy(p, &l, 4);
        p += 4;
        if (l)
            memcpy(p, nd->log.cmd[k], l);
        p += l;
    }
    *len = n;
    return buf;
}

/* The lab's ingestSnap: the snapshot replaces the applied history up to its index. */
static void ingest_snapshot(struct sim *s, size_t i, const uint8_t *data, size_t len,
                            uint64_t expect_index)
{
    uint64_t last;
    if (len < 8) {
        sim_fail(s, "server %zu: snapshot too short (%zu bytes)", i, len);
        return;
    }
    memcpy(&last, data, 8);
    if (last != expect_index) {
        sim_fail(s, "server %zu: snapshot covers %llu, metadata says %llu", i,
                 (unsigned long long)last, (unsigned long long)expect_index);
        return;
    }
    const uint8_t *p = data + 8, *end = data + len;
    for (uint64_t k = 1; k <= last && !s->failure; k++) {
        uint32_t l;
        if (end - p < 4) {
            sim_fail(s, "server %zu: truncated snapshot", i);
            return;
        }
        memcpy(&l, p, 4);
        p += 4;
        if ((size_t)(end - p) < l) {
            sim_fail(s, "server %zu: truncated snapshot", i);
            return;
        }
        for (size_t j = cluster_first(s, i); j < cluster_first(s, i) + s->o.cluster_size; j++) {
            const struct applied_log *o = &s->nodes[j].log;
            if (alog_has(o, k) && (o->len[k] != l || memcmp(o->cmd[k], p, l) != 0))
                sim_fail(s, "snapshot index=%llu server=%zu differs from server=%zu",
                         (unsigned long long)k, i, j);
        }
        alog_set(&s->nodes[i].log, k, p, l, 0,
                 s->nodes[i].rep ? raft_soft_state(replica_raft(s->nodes[i].rep)).term : 0);
        p += l;
    }
    s->nodes[i].last_applied = last;
    saw_index(s, i, last);
}

/* ---- reads ---------------------------------------------------------------------------------- */

/* The highest index known committed anywhere in node i's cluster: applied by some node now or
 * earlier, or a live node's commit index. */
static uint64_t committed_floor(const struct sim *s, size_t i)
{
    uint64_t floor = s->max_index[cluster_of(s, i)];
    for (size_t j = cluster_first(s, i); j < cluster_first(s, i) + s->o.cluster_size; j++)
        if (s->nodes[j].rep)
            floor = MAX(floor, raft_hard_state(replica_raft(s->nodes[j].rep)).commit);
    return floor;
}

/* A read asked of a node: every one that is served is checked against what was committed
 * anywhere when it was asked. */
struct sim_read {
    struct sim *s;
    size_t node;
    uint64_t id, floor;
    node_read_fn done;
    void *arg;
};

static void on_read(enum node_result res, uint64_t index, void *arg)
{
    struct sim_read *rd = arg;
    struct sim *s = rd->s;
    if (res == NODE_OK) {
        if (index < rd->floor)
            sim_fail(s, "stale read: server %zu confirmed read %llu at index %llu, but index %llu "
                        "was committed before it was asked", rd->node, (unsigned long long)rd->id,
                     (unsigned long long)index, (unsigned long long)rd->floor);
        trace(s, "n%zu read %llu served at index %llu", rd->node, (unsigned long long)rd->id,
              (unsigned long long)index);
        s->reads_confirmed++;
    }
    if (rd->done)
        rd->done(res, index, rd->arg);
    free(rd);
}

static void drain(struct sim *s, size_t i);

enum node_result sim_read_async(struct sim *s, size_t i, node_read_fn done, void *arg)
{
    struct node *nd = &s->nodes[i];
    if (!nd->rep)
        return NODE_NOT_LEADER;
    struct sim_read *rd = xmalloc(sizeof *rd);
    *rd = (struct sim_read){ s, i, ++s->next_read_id, committed_floor(s, i), done, arg };
    enum node_result res = replica_read(nd->rep, on_read, rd);
    if (res != NODE_OK) {
        free(rd);
        return res;
    }
    trace(s, "n%zu read %llu asked (floor %llu)", i, (unsigned long long)rd->id,
          (unsigned long long)rd->floor);
    drain(s, i);
    return NODE_OK;
}

int sim_read(struct sim *s, size_t i)
{
    switch (sim_read_async(s, i, NULL, NULL)) {
    case NODE_OK: return RAFT_OK;
    case NODE_NOT_READY: return RAFT_ERR_NOT_READY;
    default: return RAFT_ERR_NOT_LEADER;
    }
}

uint64_t sim_reads_confirmed(const struct sim *s) { return s->reads_confirmed; }

/* ---- driving one node: the replica layer, with the checker as (or around) its machine ------- */

static void sm_apply(void *ctx, const struct raft_entry *e, uint8_t **result, size_t *rlen)
{
    struct node *nd = ctx;
    /* A no-op entry is checked as an empty command, so the order checks still hold. */
    apply_command(nd->sim, nd->i, e->index, e->term, e->data,
                  e->type == RAFT_ENTRY_NORMAL ? e->len : 0);
    if (nd->machine.ctx && !nd->sim->failure)
        nd->machine.apply(nd->machine.ctx, e, result, rlen);
}

static void sm_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    struct node *nd = ctx;
    if (nd->machine.ctx)
        nd->machine.snapshot(nd->machine.ctx, data, len);
    else
        *data = encode_snapshot(nd, nd->last_applied, len);
}

/* The state machine's snapshot as a stream (sim_opts.background_snapshots): encoded whole at
 * snapshot_size, as any machine can. */
static size_t sm_snapshot_size(void *ctx)
{
    struct node *nd = ctx;
    size_t len;
    sm_snapshot(nd, &nd->snap_buf, &len);
    return len;
}

static void sm_snapshot_write(void *ctx, struct store_sink *sink, size_t len)
{
    sink->append(sink, ((struct node *)ctx)->snap_buf, len);
}

static void sm_snapshot_done(void *ctx)
{
    struct node *nd = ctx;
    free(nd->snap_buf);
    nd->snap_buf = NULL;
}

static int sm_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    struct node *nd = ctx;
    struct sim *s = nd->sim;
    s->snapshots_installed += nd->rep != NULL; /* not the one a restart loads */
    nd->snapshots_installed += nd->rep != NULL;
    trace(s, "n%zu installs snapshot at %llu", nd->i, (unsigned long long)index);
    if (!nd->machine.ctx) {
        ingest_snapshot(s, nd->i, data, len, index);
        return 0;
    }
    nd->last_applied = index;
    saw_index(s, nd->i, index);
    return nd->machine.restore(nd->machine.ctx, index, data, len);
}

static void io_send(void *ctx, const struct raft_msg *m)
{
    struct node *nd = ctx;
    send_msg(nd->sim, nd->i, m);
}

static uint64_t io_now_ms(void *ctx) { return ((struct node *)ctx)->sim->now; }

static void io_soft_state(void *ctx, const struct raft_soft_state *st, bool was_leader)
{
    (void)was_leader;
    struct node *nd = ctx;
    trace(nd->sim, "n%zu is %s in term %llu (leader %u)", nd->i, raft_role_name(st->role),
          (unsigned long long)st->term, st->leader);
}

/* Persist, send, apply, advance — until the core has nothing more to say. */
static void drain(struct sim *s, size_t i)
{
    struct node *nd = &s->nodes[i];
    if (!nd->rep || s->failure)
        return;
    if (!s->o.apply_lag_ms) {
        if (replica_process(nd->rep) != 0)
            sim_fail(s, "server %zu: %s", i, replica_error(nd->rep));
        return;
    }
    /* A slow applier: one ready now (it holds the messages the input produced), the rest
     * later, one at a time, while other inputs come in: the state machine lags behind the
     * commit index (what ReadIndex must wait out). */
    if (replica_process_one(nd->rep) != 0) {
        sim_fail(s, "server %zu: %s", i, replica_error(nd->rep));
        return;
    }
    if (replica_has_ready(nd->rep) && !nd->process_scheduled) {
        nd->process_scheduled = true;
        struct event ev = { .at = s->now + 1 + rng_below(&s->rng, s->o.apply_lag_ms),
                            .type = EV_PROCESS, .node = i, .incarnation = nd->incarnation };
        heap_push(s, ev);
    }
}

static void schedule_tick(struct sim *s, size_t i, uint64_t delay)
{
    struct event ev = { .at = s->now + delay, .type = EV_TICK, .node = i,
                        .incarnation = s->nodes[i].incarnation };
    heap_push(s, ev);
}

static void start_node(struct sim *s, size_t i)
{
    struct node *nd = &s->nodes[i];
    struct replica_config c;
    replica_config_default(&c);
    c.raft.id = s->ids[i];
    c.raft.peers = s->ids + cluster_first(s, i);
    c.raft.n_peers = s->o.cluster_size;
    if (s->o.members) /* the first members start the cluster; the others join it when added */
        c.raft.n_peers = i < s->o.members ? s->o.members : 0;
    c.raft.seed = s->o.seed * 1000003u + nd->incarnation;
    c.raft.planted_bug = s->o.planted_bug;
    c.raft.noop_on_elect = s->o.noop_on_elect;
    c.raft.check_quorum = !s->o.no_check_quorum;
    c.raft.snapshot_chunk = 4096; /* small, so InstallSnapshot really is chunked in the tests */
    c.snapshot_every = s->o.snapshots ? SIM_SNAPSHOT_INTERVAL : 0;
    c.max_raft_state = s->o.max_raft_state;
    c.planted_bug = s->o.replica_bug;
    if (s->o.apply_lag_ms)
        c.raft.max_apply_bytes = 1; /* one entry per ready */
    nd->process_scheduled = false;
    nd->sim = s;
    nd->i = i;
    nd->last_applied = 0;
    nd->machine = s->o.machine ? s->o.machine->create(s->o.machine_arg, i) : (struct node_sm){ 0 };
    struct node_sm sm = { .ctx = nd, .apply = sm_apply, .snapshot = sm_snapshot, .restore = sm_restore };
    if (s->o.background_snapshots && s->o.storage != SIM_STORAGE_LMDB) {
        c.background_snapshot_min = 1;
        sm.snapshot_size = sm_snapshot_size;
        sm.snapshot_write = sm_snapshot_write;
        sm.snapshot_done = sm_snapshot_done;
    }
    struct replica_io io = { .ctx = nd, .send = io_send, .now_ms = io_now_ms,
                             .on_soft_state = io_soft_state };
    char err[256];
    nd->rep = replica_new(&c, nd->store->store, &sm, &io, err, sizeof err);
    if (!nd->rep) {
        sim_fail(s, "server %zu: %s", i, err);
        return;
    }
    schedule_tick(s, i, 1 + rng_below(&s->rng, SIM_TICK_MS));
    const struct raft *r = replica_raft(nd->rep);
    trace(s, "n%zu starts (term %llu, last index %llu)", i,
          (unsigned long long)raft_hard_state(r).term, (unsigned long long)raft_last_index(r));
}

/* ---- public: life cycle --------------------------------------------------------------------- */

struct sim *sim_new(const struct sim_opts *o)
{
    struct sim *s = xcalloc(1, sizeof *s);
    s->o = *o;
    if (!s->o.cluster_size || s->o.cluster_size > o->n || o->n % s->o.cluster_size)
        s->o.cluster_size = o->n;
    /* The replicas log their recoveries and installs at INFO: too much for thousands of runs. */
    log_setup(LOG_WARN, NULL, NULL);
    rng_seed(&s->rng, o->seed);
    if (o->storage == SIM_STORAGE_LMDB) {
        snprintf(s->tmpdir, sizeof s->tmpdir, "/tmp/sim-lmdb-XXXXXX");
        if (!mkdtemp(s->tmpdir)) {
            free(s);
            return NULL;
        }
    }
    for (size_t i = 0; i < o->n; i++) {
        s->ids[i] = (uint32_t)i + 1;
        s->nodes[i].connected = true;
        if (o->storage == SIM_STORAGE_LMDB) {
            char dir[128];
            snprintf(dir, sizeof dir, "%s/n%zu", s->tmpdir, i);
            s->nodes[i].store = sim_lmdb_store_new(dir);
        } else {
            s->nodes[i].store = sim_mem_store_new();
        }
        for (size_t j = 0; j < o->n; j++)
            s->link[i][j] = true;
    }
    for (size_t i = 0; i < o->n; i++)
        start_node(s, i);
    return s;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    for (size_t k = 0; k < s->heap_len; k++) {
        if (s->heap[k].msg)
            msg_destroy(s->heap[k].msg);
        if (s->heap[k].type == EV_CALL)
            s->heap[k].fn(s, s->heap[k].arg, false);
    }
    free(s->heap);
    for (size_t i = 0; i < s->o.n; i++) {
        sim_crash(s, i);
        s->nodes[i].store->destroy(s->nodes[i].store);
        alog_free(&s->nodes[i].log);
    }
    if (s->tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", s->tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "sim: could not remove %s\n", s->tmpdir);
    }
    free(s->failure);
    free(s);
}

/* ---- public: time --------------------------------------------------------------------------- */

uint64_t sim_now(const struct sim *s) { return s->now; }
uint64_t sim_rand(struct sim *s, uint64_t n) { return rng_below(&s->rng, n); }

static void run_event(struct sim *s, struct event *ev)
{
    struct node *nd = &s->nodes[ev->node];
    if (ev->type == EV_CALL) {
        ev->fn(s, ev->arg, true);
        return;
    }
    if (ev->type == EV_PROCESS) {
        if (ev->incarnation != nd->incarnation || !nd->rep)
            return;
        nd->process_scheduled = false;
        drain(s, ev->node);
        return;
    }
    if (ev->type == EV_TICK) {
        if (ev->incarnation != nd->incarnation || !nd->rep)
            return;
        replica_tick(nd->rep);
        drain(s, ev->node);
        schedule_tick(s, ev->node, SIM_TICK_MS);
        return;
    }
    struct raft_msg *m = ev->msg;
    ev->msg = NULL;
    bool alive = nd->rep && ev->incarnation == nd->incarnation &&
                 ev->from_incarnation == s->nodes[ev->from].incarnation;
    if (alive && s->link[ev->from][ev->node]) {
        if (replica_step(nd->rep, m) != 0)
            sim_fail(s, "server %zu: %s", ev->node, replica_error(nd->rep));
        drain(s, ev->node);
    }
    msg_destroy(m);
}

void sim_run_for(struct sim *s, uint64_t ms)
{
    uint64_t end = s->now + ms;
    s->stopped = false;
    while (!s->failure && !s->stopped && s->heap_len > 0 && s->heap[0].at <= end) {
        struct event ev = heap_pop(s);
        s->now = ev.at;
        run_event(s, &ev);
        if (s->observer && !s->failure)
            s->observer(s, s->observer_arg);
    }
    if (!s->failure && !s->stopped)
        s->now = end;
    s->stopped = false;
}

void sim_stop(struct sim *s) { s->stopped = true; }

void sim_schedule(struct sim *s, uint64_t delay_ms, sim_call_fn fn, void *arg)
{
    struct event ev = { .at = s->now + delay_ms, .type = EV_CALL, .fn = fn, .arg = arg };
    heap_push(s, ev);
}

/* ---- public: network ------------------------------------------------------------------------ */

void sim_connect(struct sim *s, size_t i)
{
    s->nodes[i].connected = true;
    for (size_t j = 0; j < s->o.n; j++) {
        if (s->nodes[j].connected) {
            s->link[i][j] = true;
            s->link[j][i] = true;
        }
    }
    trace(s, "connect n%zu", i);
}

void sim_disconnect(struct sim *s, size_t i)
{
    s->nodes[i].connected = false;
    for (size_t j = 0; j < s->o.n; j++) {
        s->link[i][j] = false;
        s->link[j][i] = false;
    }
    trace(s, "disconnect n%zu", i);
}

bool sim_is_connected(const struct sim *s, size_t i) { return s->nodes[i].connected; }

void sim_partition(struct sim *s, const int *group)
{
    for (size_t i = 0; i < s->o.n; i++) {
        s->nodes[i].connected = true;
        for (size_t j = 0; j < s->o.n; j++)
            s->link[i][j] = group[i] == group[j];
    }
    char buf[64] = "";
    for (size_t i = 0; i < s->o.n; i++)
        buf[i] = (char)('0' + group[i]);
    trace(s, "partition %s", buf);
}

void sim_set_unreliable(struct sim *s, bool on) { s->unreliable = on; }
void sim_set_long_reordering(struct sim *s, bool on) { s->long_reordering = on; }
void sim_set_duplicates(struct sim *s, bool on) { s->duplicates = on; }

/* ---- public: nodes -------------------------------------------------------------------------- */

void sim_crash(struct sim *s, size_t i)
{
    struct node *nd = &s->nodes[i];
    if (!nd->rep)
        return;
    struct replica *rep = nd->rep;
    nd->rep = NULL; /* what it fails (NODE_SHUTDOWN) sees a crashed node */
    replica_free(rep);
    if (nd->store->crash)
        nd->store->crash(nd->store);
    if (nd->machine.ctx)
        s->o.machine->destroy(s->o.machine_arg, i, nd->machine.ctx);
    nd->machine = (struct node_sm){ 0 };
    nd->incarnation++;
    trace(s, "crash n%zu", i);
}

void sim_restart(struct sim *s, size_t i)
{
    sim_crash(s, i);
    start_node(s, i);
}

void sim_restart_empty(struct sim *s, size_t i, bool recover)
{
    sim_crash(s, i);
    s->nodes[i].store->wipe(s->nodes[i].store, recover);
    trace(s, "n%zu lost its store; restarts %s", i, recover ? "recovering" : "as a new node");
    start_node(s, i);
}

bool sim_is_alive(const struct sim *s, size_t i) { return s->nodes[i].rep != NULL; }
unsigned sim_incarnation(const struct sim *s, size_t i) { return s->nodes[i].incarnation; }
const struct raft *sim_raft(const struct sim *s, size_t i)
{
    return s->nodes[i].rep ? replica_raft(s->nodes[i].rep) : NULL;
}
size_t sim_n(const struct sim *s) { return s->o.n; }

enum node_result sim_propose(struct sim *s, size_t i, const uint8_t *cmd, size_t len,
                             node_done_fn done, void *arg, uint64_t *index, uint64_t *term)
{
    struct node *nd = &s->nodes[i];
    if (!nd->rep)
        return NODE_NOT_LEADER;
    enum node_result res = replica_propose(nd->rep, cmd, len, done, arg, index, term);
    if (res != NODE_OK)
        return res;
    trace(s, "n%zu Start -> index %llu term %llu", i, (unsigned long long)*index,
          (unsigned long long)*term);
    drain(s, i);
    return NODE_OK;
}

bool sim_start(struct sim *s, size_t i, const uint8_t *cmd, size_t len, uint64_t *index,
               uint64_t *term)
{
    return sim_propose(s, i, cmd, len, NULL, NULL, index, term) == NODE_OK;
}

static const char *change_name(enum raft_change_type t)
{
    return t == RAFT_CHANGE_ADD_LEARNER ? "add learner" : t == RAFT_CHANGE_PROMOTE ? "promote" : "remove";
}

int sim_change(struct sim *s, size_t i, enum raft_change_type type, size_t target,
               node_done_fn done, void *arg)
{
    struct node *nd = &s->nodes[i];
    if (!nd->rep)
        return RAFT_ERR_NOT_LEADER;
    char addr[32], err[128];
    snprintf(addr, sizeof addr, "sim:%zu", target);
    uint64_t index, term;
    int rc = replica_propose_change(nd->rep, type, s->ids[target], addr, done, arg, &index,
                                    &term, err, sizeof err);
    if (rc != RAFT_OK)
        return rc;
    trace(s, "n%zu proposes %s n%zu at index %llu term %llu", i, change_name(type), target,
          (unsigned long long)index, (unsigned long long)term);
    drain(s, i);
    return RAFT_OK;
}

int sim_transfer(struct sim *s, size_t i, size_t target)
{
    struct node *nd = &s->nodes[i];
    if (!nd->rep)
        return RAFT_ERR_NOT_LEADER;
    int rc = replica_transfer_leader(nd->rep, s->ids[target]);
    if (rc == RAFT_OK) {
        trace(s, "n%zu transfers leadership to n%zu", i, target);
        drain(s, i);
    }
    return rc;
}

bool sim_is_member(const struct sim *s, size_t i, size_t j, bool *voter)
{
    const struct raft *r = sim_raft(s, i);
    const struct raft_member *m = r ? membership_find(raft_membership(r), s->ids[j]) : NULL;
    if (voter)
        *voter = m && m->voter;
    return m != NULL;
}

bool sim_get_state(const struct sim *s, size_t i, uint64_t *term)
{
    const struct node *nd = &s->nodes[i];
    if (!nd->rep) {
        *term = 0;
        return false;
    }
    struct raft_soft_state ss = raft_soft_state(replica_raft(nd->rep));
    *term = ss.term;
    return ss.role == RAFT_LEADER;
}

/* ---- public: observations ------------------------------------------------------------------- */

size_t sim_n_committed(struct sim *s, uint64_t index, const uint8_t **cmd, size_t *len)
{
    size_t count = 0;
    const uint8_t *c = NULL;
    size_t l = 0;
    for (size_t i = 0; i < s->o.cluster_size; i++) {
        const struct applied_log *al = &s->nodes[i].log;
        if (!alog_has(al, index))
            continue;
        if (count > 0 && (al->len[index] != l || memcmp(al->cmd[index], c, l) != 0))
            sim_fail(s, "committed values do not match: index %llu", (unsigned long long)index);
        c = al->cmd[index];
        l = al->len[index];
        count++;
    }
    if (cmd)
        *cmd = c;
    if (len)
        *len = l;
    return count;
}

uint64_t sim_max_index(const struct sim *s) { return s->max_index[0]; }

uint64_t sim_applied_term(const struct sim *s, uint64_t index)
{
    for (size_t i = 0; i < s->o.cluster_size; i++) {
        const struct applied_log *al = &s->nodes[i].log;
        if (index < al->cap && al->term[index])
            return al->term[index];
    }
    return 0;
}
uint64_t sim_applied_at_term(const struct sim *s, uint64_t index)
{
    uint64_t best = 0;
    for (size_t i = 0; i < s->o.cluster_size; i++) {
        const struct applied_log *al = &s->nodes[i].log;
        if (index < al->cap && al->at_term[index] && (!best || al->at_term[index] < best))
            best = al->at_term[index];
    }
    return best;
}

uint64_t sim_rpc_total(const struct sim *s) { return s->rpc_total; }
uint64_t sim_rpc_count(const struct sim *s, size_t i) { return s->rpc_to[i]; }
uint64_t sim_snapshot_msgs(const struct sim *s, size_t i) { return s->snapshot_msgs_to[i]; }
uint64_t sim_bytes_total(const struct sim *s) { return s->bytes_total; }
uint64_t sim_snapshots_installed(const struct sim *s) { return s->snapshots_installed; }
uint64_t sim_snapshots_installed_on(const struct sim *s, size_t i)
{
    return s->nodes[i].snapshots_installed;
}

void sim_background_snapshots(const struct sim *s, uint64_t *adopted, uint64_t *superseded,
                              uint64_t *lost)
{
    *adopted = *superseded = *lost = 0;
    for (size_t i = 0; i < s->o.n; i++) {
        *adopted += s->nodes[i].store->bg_adopted;
        *superseded += s->nodes[i].store->bg_superseded;
        *lost += s->nodes[i].store->bg_lost;
    }
}

size_t sim_snapshot_size(struct sim *s, size_t i)
{
    struct store *st = s->nodes[i].store->store;
    struct raft_snapshot_meta meta;
    uint8_t *data = NULL;
    size_t len = 0;
    if (st->ops->snapshot(st, &meta, &data, &len) != 0)
        len = 0;
    free(data);
    return len;
}

size_t sim_raft_state_size(struct sim *s, size_t i)
{
    struct store *st = s->nodes[i].store->store;
    return st->ops->raft_state_size(st);
}
