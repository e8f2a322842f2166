/* The focused tests' hand-driven cluster (mini.h). */
#include "mini.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"


void mini_fill(struct sim_store *st, uint64_t term, const uint64_t *terms, size_t n)
{
    struct raft_entry *e = xcalloc(n, sizeof *e);
    for (size_t i = 0; i < n; i++)
        e[i] = (struct raft_entry){ terms[i], i + 1, RAFT_ENTRY_NORMAL, (uint8_t *)"cmd", 3 };
    struct raft_ready rd = { .hard_state_changed = true,
                             .hard_state = { .term = term, .vote = RAFT_NONE, .commit = 10 },
                             .entries = e, .n_entries = n };
    char err[64];
    ck_assert_int_eq(st->store->ops->save(st->store, &rd, err, sizeof err), 0);
    free(e);
}

static void mini_send(void *ctx, const struct raft_msg *msg)
{
    struct mini *m = ctx;
    if (m->qlen == m->qcap) {
        m->qcap = m->qcap ? m->qcap * 2 : 64;
        m->queue = xrealloc(m->queue, m->qcap * sizeof *m->queue);
    }
    raft_msg_copy(&m->queue[m->qlen++], msg);
}

static uint64_t mini_now(void *ctx)
{
    (void)ctx;
    return 0;
}

/* The nodes' state machine: nothing to apply (the tests look at the logs). */
static void null_apply(void *ctx, const struct raft_entry *e, uint8_t **res, size_t *len)
{
    (void)ctx, (void)e, (void)res, (void)len;
}
static void null_snapshot(void *ctx, uint8_t **data, size_t *len)
{
    (void)ctx;
    *data = NULL;
    *len = 0;
}
static int null_restore(void *ctx, uint64_t index, const uint8_t *data, size_t len)
{
    (void)ctx, (void)index, (void)data, (void)len;
    return 0;
}

void mini_drain(struct mini *m, size_t i)
{
    ck_assert_int_eq(replica_process(m->rep[i]), 0);
}

const struct raft *mini_raft(const struct mini *m, size_t i) { return replica_raft(m->rep[i]); }

/* Delivers every queued message (and what they cause) until the network is quiet. */
void mini_settle(struct mini *m)
{
    while (m->qlen > 0) {
        struct raft_msg msg = m->queue[0];
        memmove(m->queue, m->queue + 1, (m->qlen - 1) * sizeof *m->queue);
        m->qlen--;
        if (msg.type == RAFT_MSG_APPEND && !msg.heartbeat)
            m->appends_to[msg.to]++;
        for (size_t k = 0; msg.type == RAFT_MSG_APPEND && k < msg.n_entries; k++)
            if (msg.entries[k].len >= (1u << 20)) {
                m->big_to[msg.to]++;
                break;
            }
        if (msg.type == RAFT_MSG_APPEND_REPLY && !msg.success && !msg.heartbeat)
            m->rejects_from[msg.from]++;
        ck_assert_int_eq(replica_step(m->rep[msg.to - 1], &msg), 0);
        mini_drain(m, msg.to - 1);
        raft_msg_free_contents(&msg);
    }
}

/* Starts node i of m on its store (created empty when the test did not fill one). */
void mini_start(struct mini *m, uint64_t seed, size_t max_msg_bytes)
{
    static const uint32_t ids[3] = { 1, 2, 3 };
    for (size_t i = 0; i < 3; i++) {
        if (!m->st[i])
            m->st[i] = sim_mem_store_new();
        struct replica_config c;
        replica_config_default(&c);
        c.raft.id = ids[i];
        c.raft.peers = ids;
        c.raft.n_peers = 3;
        c.raft.seed = seed;
        if (max_msg_bytes)
            c.raft.max_msg_bytes = max_msg_bytes;
        const struct node_sm sm = { .ctx = NULL, .apply = null_apply, .snapshot = null_snapshot,
                                    .restore = null_restore };
        const struct replica_io io = { .ctx = m, .send = mini_send, .now_ms = mini_now };
        char err[128];
        m->rep[i] = replica_new(&c, m->st[i]->store, &sm, &io, err, sizeof err);
        ck_assert_msg(m->rep[i] != NULL, "%s", err);
    }
}

/* Node 1 times out and wins. */
void mini_elect_first(struct mini *m)
{
    for (int t = 0; t < 100 && raft_soft_state(mini_raft(m, 0)).role != RAFT_LEADER; t++) {
        replica_tick(m->rep[0]);
        mini_drain(m, 0);
        mini_settle(m);
    }
    ck_assert_int_eq(raft_soft_state(mini_raft(m, 0)).role, RAFT_LEADER);
}

void mini_free(struct mini *m)
{
    for (size_t i = 0; i < 3; i++) {
        replica_free(m->rep[i]);
        m->st[i]->destroy(m->st[i]);
    }
    for (size_t k = 0; k < m->qlen; k++)
        raft_msg_free_contents(&m->queue[k]);
    free(m->queue);
}

/* Drops every message in flight (a silent network). */
void mini_drop_all(struct mini *m)
{
    for (size_t k = 0; k < m->qlen; k++)
        raft_msg_free_contents(&m->queue[k]);
    m->qlen = 0;
}

/* Ticks node i n times, dropping whatever it sends. */
void mini_tick_silent(struct mini *m, size_t i, int n)
{
    for (int t = 0; t < n; t++) {
        replica_tick(m->rep[i]);
        mini_drain(m, i);
        mini_drop_all(m);
    }
}

