/* The controller clerk: shardctrld's layer on the clerk engine (engine.h): shardctrl.Op
 * requests, shardctrl.Reply classification, the client id and the numbering of writes. */
#include "clerk/ctrl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "shardctrl/codec.h"

struct ctrl_op;

struct ctrl_clerk {
    struct clerk_engine *e;
    uint64_t id, seq;
    char error[256];      /* the controller's refusal, when the last failure was one */
    struct ctrl_op *ops;  /* queued or in flight (freed with the clerk when the engine drops
                             them) */
};

/* An operation: the caller's callback, and the clerk (to keep a refusal's text). */
struct ctrl_op {
    struct ctrl_clerk *c;
    ctrl_done_fn done;
    void *arg;
    struct ctrl_op *prev, *next;
};

static void op_free(struct ctrl_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        op->c->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    free(op);
}

/* ---- shardctrl.Reply, classified -------------------------------------------------------------
 * The decoded reply is the "value" the engine hands to the operation's callback (it lives until
 * release, which the engine calls after the callback). */

static bool classify(void *ctx, const uint8_t *payload, size_t len, struct clerk_reply *out)
{
    (void)ctx;
    struct sc_reply *r = xmalloc(sizeof *r);
    int rc = sc_codec_decode_reply(payload, len, r);
    if (rc == -1) { /* not a shardctrl.Reply: not a server of ours */
        free(r);
        return false;
    }
    out->keep = r;
    if (rc == -2) { /* a broken replica: another may answer well */
        out->verdict = CLERK_RETRY;
        snprintf(out->why, sizeof out->why, "answered %s", r->error);
        return true;
    }
    switch (r->err) {
    case 3: /* TIMEOUT */
    case 4: /* SHUTTING_DOWN */
        out->verdict = CLERK_RETRY;
        snprintf(out->why, sizeof out->why, "%s", r->err == 3 ? "timed out" : "shutting down");
        return true;
    case 2: /* WRONG_LEADER */
        out->verdict = CLERK_WRONG_LEADER;
        out->hint_addr = r->leader_addr;
        snprintf(out->why, sizeof out->why, "%s",
                 r->leader_id ? "not the leader" : "no leader known");
        return true;
    case 7: /* NO_SPACE */
        out->verdict = CLERK_DONE;
        out->result = CLERK_NO_SPACE;
        snprintf(out->error, sizeof out->error, "not done: no space left on the data volume of %s",
                 r->leader_addr[0] ? r->leader_addr : out->server);
        return true;
    case 0: /* OK */
        out->verdict = CLERK_DONE;
        out->result = CLERK_OK;
        break;
    default: /* BAD_REQUEST, STALE: the same answer from every replica */
        out->verdict = CLERK_DONE;
        out->result = CLERK_REFUSED;
        snprintf(out->error, sizeof out->error, "%s",
                 r->error[0] ? r->error : "refused by the controller (a stale request)");
        break;
    }
    out->value = (const uint8_t *)r;
    out->len = sizeof *r;
    return true;
}

static void release(void *ctx, struct clerk_reply *r)
{
    (void)ctx;
    struct sc_reply *rep = r->keep;
    sc_config_free(rep->config);
    free(rep);
}

static const struct clerk_layer ctrl_layer = { "shardctrl.Op", "shardctrld", "shardctrl.Reply",
                                               classify, release, NULL };

/* ---- operations ---------------------------------------------------------------------------- */

static void on_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct ctrl_op *op = arg;
    const struct sc_reply *rep = len == sizeof *rep ? (const struct sc_reply *)value : NULL;
    op->c->error[0] = '\0';
    if (r == CLERK_REFUSED && rep)
        snprintf(op->c->error, sizeof op->c->error, "%s", rep->error);
    op->done(r, rep ? rep->num : 0, rep ? rep->config : NULL, op->arg);
    op_free(op);
}

static void submit(struct ctrl_clerk *c, struct sc_cmd *cmd, ctrl_done_fn done, void *arg)
{
    if (cmd->op != SC_OP_QUERY) { /* Queries leave no state on the servers: no id, no number */
        cmd->client_id = c->id;
        cmd->seq = ++c->seq;
    }
    uint8_t *req;
    size_t len;
    sc_codec_encode_cmd(cmd, &req, &len);
    struct ctrl_op *op = xmalloc(sizeof *op);
    *op = (struct ctrl_op){ c, done, arg, NULL, c->ops };
    if (c->ops)
        c->ops->prev = op;
    c->ops = op;
    clerk_engine_submit(c->e, req, len, on_done, op);
}

void ctrl_clerk_join(struct ctrl_clerk *c, const struct sc_join_group *groups, size_t n,
                     ctrl_done_fn done, void *arg)
{
    struct sc_cmd cmd = { .op = SC_OP_JOIN, .groups = groups, .n_groups = n };
    submit(c, &cmd, done, arg);
}

void ctrl_clerk_leave(struct ctrl_clerk *c, const uint32_t *gids, size_t n, ctrl_done_fn done,
                      void *arg)
{
    struct sc_cmd cmd = { .op = SC_OP_LEAVE, .gids = gids, .n_gids = n };
    submit(c, &cmd, done, arg);
}

void ctrl_clerk_move(struct ctrl_clerk *c, uint32_t shard, uint32_t gid, ctrl_done_fn done,
                     void *arg)
{
    struct sc_cmd cmd = { .op = SC_OP_MOVE, .shard = shard, .gid = gid };
    submit(c, &cmd, done, arg);
}

void ctrl_clerk_query(struct ctrl_clerk *c, int64_t num, ctrl_done_fn done, void *arg)
{
    struct sc_cmd cmd = { .op = SC_OP_QUERY, .num = num };
    submit(c, &cmd, done, arg);
}

struct ctrl_clerk *ctrl_clerk_new_on(const struct clerk_transport *t, const struct clerk_opts *o)
{
    struct ctrl_clerk *c = xcalloc(1, sizeof *c);
    struct clerk_opts opts;
    if (o)
        opts = *o;
    else
        clerk_opts_default(&opts);
    opts.seed = clerk_seed(&opts, (uintptr_t)c);
    c->id = clerk_client_id_from(opts.seed);
    c->e = clerk_engine_new(t, &ctrl_layer, &opts);
    return c;
}

struct ctrl_clerk *ctrl_clerk_new(struct clerk_net *net, const struct clerk_opts *o)
{
    struct clerk_transport t = clerk_net_transport(net);
    return ctrl_clerk_new_on(&t, o);
}

void ctrl_clerk_free(struct ctrl_clerk *c)
{
    if (!c)
        return;
    clerk_engine_free(c->e); /* drops the pending operations without their callbacks */
    while (c->ops)
        op_free(c->ops);
    free(c);
}

uint64_t ctrl_clerk_client_id(const struct ctrl_clerk *c) { return c->id; }

const char *ctrl_clerk_error(const struct ctrl_clerk *c)
{
    return c->error[0] ? c->error : clerk_engine_error(c->e);
}

/* ---- blocking ------------------------------------------------------------------------------- */

struct ctrl_sync {
    struct clerk_loop loop;
    struct ctrl_clerk *c;
};

struct outcome {
    bool done;
    enum clerk_result r;
    uint64_t num;
    struct sc_config *config;
};

static void on_sync(enum clerk_result r, uint64_t num, const struct sc_config *config, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->r = r;
    o->num = num;
    o->config = config ? sc_config_copy(config) : NULL;
}

struct ctrl_sync *ctrl_sync_new(const char *const *servers, size_t n, const struct clerk_opts *o,
                                char *err, size_t errlen)
{
    struct ctrl_sync *s = xcalloc(1, sizeof *s);
    if (clerk_loop_open(&s->loop, servers, n, err, errlen)) {
        free(s);
        return NULL;
    }
    s->c = ctrl_clerk_new(s->loop.net, o);
    return s;
}

void ctrl_sync_free(struct ctrl_sync *s)
{
    if (!s)
        return;
    ctrl_clerk_free(s->c);
    clerk_loop_close(&s->loop);
    free(s);
}

struct ctrl_clerk *ctrl_sync_clerk(struct ctrl_sync *s) { return s->c; }

static enum clerk_result wait_write(struct ctrl_sync *s, struct outcome *o, uint64_t *num)
{
    clerk_loop_wait(&s->loop, &o->done);
    sc_config_free(o->config);
    if (num)
        *num = o->num;
    return o->r;
}

enum clerk_result ctrl_sync_join(struct ctrl_sync *s, const struct sc_join_group *groups,
                                 size_t n, uint64_t *num)
{
    struct outcome o = { 0 };
    ctrl_clerk_join(s->c, groups, n, on_sync, &o);
    return wait_write(s, &o, num);
}

enum clerk_result ctrl_sync_leave(struct ctrl_sync *s, const uint32_t *gids, size_t n,
                                  uint64_t *num)
{
    struct outcome o = { 0 };
    ctrl_clerk_leave(s->c, gids, n, on_sync, &o);
    return wait_write(s, &o, num);
}

enum clerk_result ctrl_sync_move(struct ctrl_sync *s, uint32_t shard, uint32_t gid, uint64_t *num)
{
    struct outcome o = { 0 };
    ctrl_clerk_move(s->c, shard, gid, on_sync, &o);
    return wait_write(s, &o, num);
}

enum clerk_result ctrl_sync_query(struct ctrl_sync *s, int64_t num, struct sc_config **config)
{
    struct outcome o = { 0 };
    ctrl_clerk_query(s->c, num, on_sync, &o);
    clerk_loop_wait(&s->loop, &o.done);
    if (o.r == CLERK_OK && !o.config) /* an OK reply without a config: not a Query's answer */
        o.r = CLERK_REFUSED;
    *config = o.config;
    return o.r;
}
