/* The Lab 5 shardkv tester's config on the simulator (skvlab.h). */
#include "skvlab.h"

#include <stdlib.h>

#include "base/util.h"
#include "clerk/ctrl.h"
#include "clerk/shard.h"
#include "simtransport.h"

#define N_CTRL 3
#define N_NODES (N_CTRL + SKVL_GROUPS * SKVL_PER_GROUP)
#define CTRL2_FIRST N_NODES /* the second controller's nodes: CTRL2_FIRST .. + N_CTRL - 1 */
#define ATTEMPT_MS 500
#define CTRL_OP_MS 60000

size_t skvl_node(size_t g, size_t i) { return N_CTRL + g * SKVL_PER_GROUP + i; }
size_t skvl_ctrl_node(bool second, size_t i) { return (second ? CTRL2_FIRST : 0) + i; }

/* ---- the machines: the controller's on its cluster, the groups' on theirs ------------------- */

static struct simsvc *svc_of(struct skvl *c, size_t node)
{
    if (node < N_CTRL)
        return simctrl_svc(c->ctrl);
    return node < CTRL2_FIRST ? simshardkv_svc(c->k) : simctrl_svc(c->ctrl2);
}

static struct node_sm machine_create(void *arg, size_t node)
{
    return simsvc_machine()->create(svc_of(arg, node), node);
}

static void machine_destroy(void *arg, size_t node, void *ctx)
{
    simsvc_machine()->destroy(svc_of(arg, node), node, ctx);
}

static const struct sim_machine machines = { machine_create, machine_destroy };

/* ---- the clients: the shard clerk ------------------------------------------------------------ */

/* A transport to the first or the second controller's servers. */
static struct simtransport *ctrl_transport(struct simnet *net, bool second)
{
    size_t servers[N_CTRL];
    for (size_t i = 0; i < N_CTRL; i++)
        servers[i] = skvl_ctrl_node(second, i);
    return simtransport_new_servers(net, servers, N_CTRL, false);
}

struct sck {
    struct simtransport *ctrl;
    struct shard_clerk *ck;
};

static struct clerk_transport g_transport(void *ctx, const char *const *servers, size_t n)
{
    return simshardkv_transport(ctx, servers, n);
}

static void g_transport_free(void *ctx, struct clerk_transport *t)
{
    (void)ctx;
    simshardkv_transport_free(t);
}

static const struct shard_clerk_groups groups = { g_transport, g_transport_free };

static void *sck_new(void *arg, struct kvl *t, uint64_t seed)
{
    struct skvl *c = arg;
    struct sck *k = xcalloc(1, sizeof *k);
    k->ctrl = ctrl_transport(t->net, c->clerks_on_ctrl2);
    struct clerk_transport ct = simtransport_get(k->ctrl);
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = t->op_deadline_ms;
    o.attempt_ms = ATTEMPT_MS;
    o.seed = seed;
    k->ck = shard_clerk_new_on(&ct, &groups, t->net, &o);
    return k;
}

static void sck_free(void *arg, void *ck)
{
    (void)arg;
    struct sck *k = ck;
    shard_clerk_free(k->ck);
    simtransport_free(k->ctrl);
    free(k);
}

static void sck_get(void *ck, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg)
{
    shard_clerk_get(((struct sck *)ck)->ck, key, klen, done, arg);
}

static void sck_put(void *ck, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                    clerk_done_fn done, void *arg)
{
    shard_clerk_put(((struct sck *)ck)->ck, key, klen, val, vlen, false, done, arg);
}

static void sck_append(void *ck, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                       bool want_prev, clerk_done_fn done, void *arg)
{
    shard_clerk_append(((struct sck *)ck)->ck, key, klen, val, vlen, want_prev, done, arg);
}

static const struct kvl_client_ops shard_clients = { sck_new, sck_free, NULL,
                                                     sck_get, sck_put, sck_append };

/* ---- the config ------------------------------------------------------------------------------ */

/* The controller clerk of join and leave (the lab's cfg.ctl, or ctl1), on its transport t. */
static struct ctrl_clerk *ctl_clerk_new(struct skvl *c, struct simtransport *t)
{
    struct clerk_transport ct = simtransport_get(t);
    struct clerk_opts co;
    clerk_opts_default(&co);
    co.deadline_ms = CTRL_OP_MS;
    co.attempt_ms = ATTEMPT_MS;
    co.seed = (sim_rand(c->s, UINT64_MAX) << 1) | 1;
    return ctrl_clerk_new_on(&ct, &co);
}

struct skvl *skvl_new(const struct skvl_opts *o)
{
    struct skvl *c = xcalloc(1, sizeof *c);
    c->o = *o;
    c->ctrl = simctrl_new(SKVL_NSHARDS, 0);
    if (o->second_ctrl)
        c->ctrl2 = simctrl_new(SKVL_NSHARDS, 0);
    struct simshardkv_opts ko = { .n_ctrl = N_CTRL, .first = N_CTRL, .group_size = SKVL_PER_GROUP,
                                  .n_groups = SKVL_GROUPS, .first_gid = 100,
                                  .bugs = o->skv_bugs, .chunk_bytes = o->chunk_bytes };
    c->k = simshardkv_new(&ko);
    struct sim_opts so = { .n = N_NODES + (o->second_ctrl ? N_CTRL : 0), .seed = o->seed,
                           .cluster_size = SKVL_PER_GROUP, .machine = &machines, .machine_arg = c,
                           .max_raft_state = o->maxraftstate > 0 ? (uint64_t)o->maxraftstate
                                                                 : 0,
                           .background_snapshots = o->background_snapshots };
    c->s = sim_new(&so);
    c->net = simnet_new(c->s);
    simctrl_attach_on(c->ctrl, c->s, c->net, (1u << N_CTRL) - 1);
    if (c->ctrl2)
        simctrl_attach_on(c->ctrl2, c->s, c->net, ((1u << N_CTRL) - 1) << CTRL2_FIRST);
    simshardkv_attach(c->k, c->s, c->net);
    struct kvl_opts lo = { .seed = o->seed, .quiet = true };
    c->t = kvl_new_on(&lo, c->s, c->net, &shard_clients, c);
    c->ctl_t = ctrl_transport(c->net, false);
    c->ctl = ctl_clerk_new(c, c->ctl_t);
    if (c->ctrl2) {
        c->ctl2_t = ctrl_transport(c->net, true);
        c->ctl2 = ctl_clerk_new(c, c->ctl2_t);
    }
    skvl_set_unreliable(c, o->unreliable);
    return c;
}

void skvl_free(struct skvl *c)
{
    if (!c)
        return;
    ctrl_clerk_free(c->ctl);
    simtransport_free(c->ctl_t);
    if (c->ctl2) {
        ctrl_clerk_free(c->ctl2);
        simtransport_free(c->ctl2_t);
    }
    kvl_free(c->t); /* the caller frees its clerks first */
    sim_free(c->s);
    simnet_free(c->net);
    simshardkv_free(c->k);
    simctrl_free(c->ctrl);
    simctrl_free(c->ctrl2);
    free(c);
}

void skvl_set_unreliable(struct skvl *c, bool on)
{
    c->o.unreliable = on;
    sim_set_unreliable(c->s, on);
    simnet_set_unreliable(c->net, on);
}

/* ---- join and leave -------------------------------------------------------------------------- */

struct ctl_op {
    bool done;
    enum clerk_result r;
    struct sim *s;
};

static void ctl_done(enum clerk_result r, uint64_t num, const struct sc_config *config, void *arg)
{
    (void)num;
    (void)config;
    struct ctl_op *op = arg;
    op->done = true;
    op->r = r;
    sim_stop(op->s);
}

static void ctl_wait(struct skvl *c, struct ctl_op *op, const char *what)
{
    uint64_t end = sim_now(c->s) + CTRL_OP_MS + 1000;
    while (!op->done && !sim_failed(c->s) && sim_now(c->s) < end)
        sim_run_for(c->s, end - sim_now(c->s));
    if (!sim_failed(c->s) && (!op->done || op->r != CLERK_OK))
        kvl_fail(c->t, "controller %s failed: %s", what,
                 op->done ? clerk_result_name(op->r) : "no outcome");
}

static void join_on(struct skvl *c, struct ctrl_clerk *ctl, const size_t *gs, size_t n)
{
    if (sim_failed(c->s))
        return;
    struct sc_join_group jg[SKVL_GROUPS];
    for (size_t k = 0; k < n; k++)
        jg[k] = (struct sc_join_group){ simshardkv_gid(c->k, gs[k]),
                                        simshardkv_servers(c->k, gs[k]), SKVL_PER_GROUP };
    struct ctl_op op = { .s = c->s };
    ctrl_clerk_join(ctl, jg, n, ctl_done, &op);
    ctl_wait(c, &op, "join");
}

void skvl_join(struct skvl *c, const size_t *gs, size_t n) { join_on(c, c->ctl, gs, n); }

void skvl_ctl2_join1(struct skvl *c, size_t g)
{
    if (!c->ctl2)
        kvl_fail(c->t, "no second controller (skvl_opts.second_ctrl)");
    else
        join_on(c, c->ctl2, &g, 1);
}

struct kvl_ck *skvl_ck_new_ctrl2(struct skvl *c)
{
    if (!c->ctrl2) {
        kvl_fail(c->t, "no second controller (skvl_opts.second_ctrl)");
        return kvl_ck_new(c->t);
    }
    c->clerks_on_ctrl2 = true;
    struct kvl_ck *k = kvl_ck_new(c->t);
    c->clerks_on_ctrl2 = false;
    return k;
}

void skvl_leave(struct skvl *c, const size_t *gs, size_t n)
{
    if (sim_failed(c->s))
        return;
    uint32_t gids[SKVL_GROUPS];
    for (size_t k = 0; k < n; k++)
        gids[k] = simshardkv_gid(c->k, gs[k]);
    struct ctl_op op = { .s = c->s };
    ctrl_clerk_leave(c->ctl, gids, n, ctl_done, &op);
    ctl_wait(c, &op, "leave");
}

void skvl_move(struct skvl *c, uint32_t shard, size_t g)
{
    if (sim_failed(c->s))
        return;
    struct ctl_op op = { .s = c->s };
    ctrl_clerk_move(c->ctl, shard, simshardkv_gid(c->k, g), ctl_done, &op);
    ctl_wait(c, &op, "move");
}

void skvl_join1(struct skvl *c, size_t g) { skvl_join(c, &g, 1); }
void skvl_leave1(struct skvl *c, size_t g) { skvl_leave(c, &g, 1); }

/* ---- servers --------------------------------------------------------------------------------- */

void skvl_shutdown_server(struct skvl *c, size_t g, size_t i) { sim_crash(c->s, skvl_node(g, i)); }

void skvl_start_server(struct skvl *c, size_t g, size_t i)
{
    sim_restart(c->s, skvl_node(g, i));
}

void skvl_shutdown_group(struct skvl *c, size_t g)
{
    for (size_t i = 0; i < SKVL_PER_GROUP; i++)
        skvl_shutdown_server(c, g, i);
}

void skvl_start_group(struct skvl *c, size_t g)
{
    for (size_t i = 0; i < SKVL_PER_GROUP; i++)
        skvl_start_server(c, g, i);
}

void skvl_checklogs(struct skvl *c)
{
    for (size_t g = 0; g < SKVL_GROUPS && !sim_failed(c->s); g++) {
        for (size_t i = 0; i < SKVL_PER_GROUP; i++) {
            size_t n = skvl_node(g, i);
            size_t rs = sim_raft_state_size(c->s, n), snap = sim_snapshot_size(c->s, n);
            if (c->o.maxraftstate >= 0 && rs > 8 * (size_t)c->o.maxraftstate)
                kvl_fail(c->t, "server %zu of group %u: raft state %zu bytes, but maxraftstate %d",
                         i, simshardkv_gid(c->k, g), rs, c->o.maxraftstate);
            if (c->o.maxraftstate < 0 && snap > 0)
                kvl_fail(c->t, "maxraftstate is -1, but server %zu of group %u has a snapshot of "
                         "%zu bytes", i, simshardkv_gid(c->k, g), snap);
        }
    }
}

size_t skvl_stored_bytes(struct skvl *c)
{
    size_t sum = 0;
    for (size_t g = 0; g < SKVL_GROUPS; g++)
        for (size_t i = 0; i < SKVL_PER_GROUP; i++)
            sum += sim_raft_state_size(c->s, skvl_node(g, i)) +
                   sim_snapshot_size(c->s, skvl_node(g, i));
    return sum;
}
