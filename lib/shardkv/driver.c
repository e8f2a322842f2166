/* The shard group leader's driver (driver.h): config polling, pulls and deletes, carried by
 * clerk engines. */
#include "shardkv/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "clerk/ctrl.h"
#include "shardkv.pb-c.h"
#include "shardkv/codec.h"

/* Pulls from one holder that may run at once (shard % PULL_LANES picks the engine): one lost
 * frame, or a pull waiting for its answer, does not hold back the holder's other shards. */
#define PULL_LANES 4

/* Another group, as the driver calls it: PULL_LANES engines for pulls and one for deletes on a
 * transport to its servers (one operation at a time each). */
struct peer {
    char *key; /* "gid servers..." */
    struct clerk_transport t;
    struct clerk_engine *pull[PULL_LANES], *del;
};

/* What the driver last started for a shard, so that a poll does not start it again while it
 * is in flight or its entry is on its way through the log. */
struct inflight {
    bool busy;
    enum skv_action_type type;
    uint64_t left_at, num, since_ms;
    bool first;
    uint8_t *after;
    size_t after_len;
    bool in_sessions;
    uint64_t after_client;
};

/* A shard's pulls, pipelined: the next chunk is pulled as soon as the last one's reply is in
 * (its cursor computed from the reply, skv_codec_install_entry), not once its INSTALL is
 * applied, with up to opts.pull_window INSTALLs proposed ahead of the applied cursor. Each
 * INSTALL is tagged with its own cursor, so one whose predecessor was lost (a leader change)
 * is ignored by every replica; the chain then starts again from the applied cursor. */
struct chain {
    bool active;
    uint64_t left_at, num, gen; /* the hand-over; gen: replies of an older chain are dropped */
    struct skv_cursor next;     /* where the next pull starts */
    bool pulling, ended;        /* a pull in flight; the last chunk proposed */
    struct skv_cursor *ahead;   /* start cursors of the INSTALLs proposed, not yet applied */
    size_t n_ahead;
    uint64_t progress_ms;       /* when the applied cursor last moved (or the chain began) */
};

struct skv_driver {
    struct shardkv *s;
    struct skv_driver_ops ops;
    void *ctx;
    struct clerk_transport ctrl_t;
    struct skv_driver_opts o;
    struct ctrl_clerk *ctrl;
    void *timer;
    bool querying;
    uint64_t proposed_num, proposed_ms; /* the last CONFIG proposed, and when */
    struct peer *peers;
    size_t n_peers;
    struct inflight *fl;
    uint32_t n_fl;
    struct chain *ch; /* per shard (n_fl of them) */
    uint64_t gens;
    struct call *calls; /* in flight */
    struct skv_driver_stats st;
};

/* A call in flight: the action as it was (the state may move meanwhile). Listed so that the
 * calls an engine drops when the driver is freed are freed too. */
struct call {
    struct skv_driver *d;
    struct skv_action a;
    uint8_t *after;
    uint64_t gen; /* a pull: its chain's */
    struct call *prev, *next;
};

void skv_driver_opts_default(struct skv_driver_opts *o)
{
    o->poll_ms = 100;
    o->chunk_bytes = 256 * 1024;
    o->call_ms = 2000;
    o->attempt_ms = 1000;
    o->seed = 0;
    o->pull_window = 4;
}

static uint64_t now_ms(const struct skv_driver *d) { return d->ctrl_t.ops->now_ms(d->ctrl_t.ctx); }

/* ---- the layers: shardkv.PullReply and shardkv.DeleteReply, classified ---------------------- */

static bool classify_err(int err, uint32_t leader_id, const char *leader_addr,
                         struct clerk_reply *out)
{
    switch (err) {
    case SHARDKV__ERR__OK:
        out->verdict = CLERK_DONE;
        out->result = CLERK_OK;
        return true;
    case SHARDKV__ERR__WRONG_LEADER:
        out->verdict = CLERK_WRONG_LEADER;
        out->hint_addr = leader_addr;
        snprintf(out->why, sizeof out->why, "%s", leader_id ? "not the leader" : "no leader known");
        return true;
    case SHARDKV__ERR__NOT_READY:
        out->verdict = CLERK_DONE;
        out->result = CLERK_REFUSED;
        snprintf(out->error, sizeof out->error, "%s: the shard is not ready there", out->server);
        return true;
    default:
        out->verdict = CLERK_RETRY;
        snprintf(out->why, sizeof out->why, "%s", err == SHARDKV__ERR__NO_SPACE ? "no space"
                                                                                : "shutting down");
        return true;
    }
}

static bool classify_pull(void *ctx, const uint8_t *payload, size_t len, struct clerk_reply *out)
{
    (void)ctx;
    Shardkv__PullReply *r = shardkv__pull_reply__unpack(NULL, len, payload);
    if (!r)
        return false;
    out->keep = r;
    classify_err(r->err, r->leader_id, r->leader_addr, out);
    out->value = payload; /* the reply bytes, for skv_codec_install_entry */
    out->len = len;
    return true;
}

static void release_pull(void *ctx, struct clerk_reply *r)
{
    (void)ctx;
    shardkv__pull_reply__free_unpacked(r->keep, NULL);
}

static bool classify_delete(void *ctx, const uint8_t *payload, size_t len, struct clerk_reply *out)
{
    (void)ctx;
    Shardkv__DeleteReply *r = shardkv__delete_reply__unpack(NULL, len, payload);
    if (!r)
        return false;
    out->keep = r;
    return classify_err(r->err, r->leader_id, r->leader_addr, out);
}

static void release_delete(void *ctx, struct clerk_reply *r)
{
    (void)ctx;
    shardkv__delete_reply__free_unpacked(r->keep, NULL);
}

static const struct clerk_layer pull_layer = { "shardkv.Pull", "shardkvd", "shardkv.PullReply",
                                               classify_pull, release_pull, NULL };
static const struct clerk_layer delete_layer = { "shardkv.Delete", "shardkvd",
                                                 "shardkv.DeleteReply", classify_delete,
                                                 release_delete, NULL };

/* ---- peers ------------------------------------------------------------------------------------ */

static char *peer_key(const struct skv_action *a)
{
    size_t len = 16;
    for (size_t i = 0; i < a->holder_group->n_servers; i++)
        len += strlen(a->holder_group->servers[i]) + 1;
    char *k = xmalloc(len);
    int n = snprintf(k, len, "%u", a->holder);
    for (size_t i = 0; i < a->holder_group->n_servers; i++)
        n += snprintf(k + n, len - (size_t)n, " %s", a->holder_group->servers[i]);
    return k;
}

static struct peer *peer_for(struct skv_driver *d, const struct skv_action *a)
{
    char *key = peer_key(a);
    for (size_t i = 0; i < d->n_peers; i++)
        if (!strcmp(d->peers[i].key, key)) {
            free(key);
            return &d->peers[i];
        }
    d->peers = xrealloc(d->peers, (d->n_peers + 1) * sizeof *d->peers);
    struct peer *p = &d->peers[d->n_peers++];
    p->key = key;
    p->t = d->ops.transport(d->ctx, (const char *const *)a->holder_group->servers,
                            a->holder_group->n_servers);
    struct clerk_opts o;
    clerk_opts_default(&o);
    o.deadline_ms = d->o.call_ms;
    o.attempt_ms = MIN(d->o.attempt_ms, d->o.call_ms);
    o.seed = d->o.seed ? d->o.seed + d->n_peers : 0;
    o.seed = clerk_seed(&o, (uintptr_t)p);
    for (int k = 0; k < PULL_LANES; k++)
        p->pull[k] = clerk_engine_new(&p->t, &pull_layer, &o);
    p->del = clerk_engine_new(&p->t, &delete_layer, &o);
    return p;
}

/* ---- in flight --------------------------------------------------------------------------------- */

static struct inflight *inflight(struct skv_driver *d, uint32_t shard)
{
    if (shard >= d->n_fl) {
        uint32_t n = shardkv_n_shards(d->s);
        d->fl = xrealloc(d->fl, n * sizeof *d->fl);
        memset(d->fl + d->n_fl, 0, (n - d->n_fl) * sizeof *d->fl);
        d->ch = xrealloc(d->ch, n * sizeof *d->ch);
        memset(d->ch + d->n_fl, 0, (n - d->n_fl) * sizeof *d->ch);
        d->n_fl = n;
    }
    return &d->fl[shard];
}

static bool same_action(const struct inflight *f, const struct skv_action *a)
{
    return f->type == a->type && f->left_at == a->left_at && f->num == a->num &&
           f->first == a->first && f->after_len == a->after_len &&
           (!a->after_len || !memcmp(f->after, a->after, a->after_len)) &&
           f->in_sessions == a->in_sessions && f->after_client == a->after_client;
}

static void mark(struct skv_driver *d, const struct skv_action *a)
{
    struct inflight *f = inflight(d, a->shard);
    free(f->after);
    *f = (struct inflight){ true,      a->type,        a->left_at,     a->num,
                            now_ms(d), a->first,       NULL,           a->after_len,
                            a->in_sessions, a->after_client };
    if (a->after_len) {
        f->after = xmalloc(a->after_len);
        memcpy(f->after, a->after, a->after_len);
    }
}

/* The call failed or was refused: the next poll may start it again. */
static void unmark(struct skv_driver *d, const struct call *c)
{
    struct inflight *f = inflight(d, c->a.shard);
    if (same_action(f, &c->a))
        f->busy = false;
}

static void call_free(struct call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->d->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->after);
    free(c);
}

/* ---- the calls --------------------------------------------------------------------------------- */

static void chain_step(struct skv_driver *d, uint32_t shard);

static void on_pull(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct call *c = arg;
    struct skv_driver *d = c->d;
    uint32_t shard = c->a.shard;
    inflight(d, shard);
    struct chain *ch = &d->ch[shard];
    bool mine = ch->active && ch->gen == c->gen;
    uint8_t *entry;
    size_t elen;
    struct skv_cursor next;
    if (mine)
        ch->pulling = false;
    if (mine && r == CLERK_OK && d->ops.leader(d->ctx) &&
        !skv_codec_install_entry(&c->a, value, len, &entry, &elen, &next)) {
        /* the chunk's start cursor joins those ahead; the chain goes on from its end */
        ch->ahead = xrealloc(ch->ahead, (ch->n_ahead + 1) * sizeof *ch->ahead);
        ch->ahead[ch->n_ahead++] = ch->next;
        ch->next = next;
        ch->ended = next.done;
        d->ops.propose(d->ctx, entry, elen);
        d->st.installs_proposed++;
        call_free(c);
        chain_step(d, shard);
        return;
    }
    if (r == CLERK_REFUSED)
        d->st.pulls_not_ready++;
    else if (r != CLERK_OK)
        d->st.calls_failed++;
    call_free(c);
}

static void on_delete(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    (void)value;
    (void)len;
    struct call *c = arg;
    struct skv_driver *d = c->d;
    if (r == CLERK_OK && d->ops.leader(d->ctx)) {
        struct skv_cmd cmd = { .type = SKV_GC_DONE, .num = c->a.num, .shard = c->a.shard,
                               .left_at = c->a.left_at };
        uint8_t *entry;
        size_t elen;
        skv_codec_encode_cmd(&cmd, &entry, &elen);
        d->ops.propose(d->ctx, entry, elen);
        d->st.gc_proposed++;
    } else {
        d->st.calls_failed++;
        unmark(d, c);
    }
    call_free(c);
}

/* A call for action a (its cursor copied: the state may move meanwhile), listed in d->calls. */
static struct call *call_new(struct skv_driver *d, const struct skv_action *a)
{
    struct call *c = xcalloc(1, sizeof *c);
    c->d = d;
    c->next = d->calls;
    if (d->calls)
        d->calls->prev = c;
    d->calls = c;
    c->a = *a;
    c->a.holder_group = NULL; /* may go with the next apply: the peer has the servers */
    if (a->after_len) {
        c->after = xmalloc(a->after_len);
        memcpy(c->after, a->after, a->after_len);
    }
    c->a.after = c->after;
    return c;
}

static void start_delete(struct skv_driver *d, const struct skv_action *a)
{
    if (!a->holder_group || !a->holder_group->n_servers)
        return; /* cannot happen: a hand-over always names its holder's servers */
    struct peer *p = peer_for(d, a);
    struct call *c = call_new(d, a);
    mark(d, a);
    Shardkv__DeleteRequest rq = SHARDKV__DELETE_REQUEST__INIT;
    rq.shard = a->shard;
    rq.left_at = a->left_at;
    size_t len = shardkv__delete_request__get_packed_size(&rq);
    uint8_t *req = xmalloc(len ? len : 1);
    shardkv__delete_request__pack(&rq, req);
    clerk_engine_submit(p->del, req, len, on_delete, c);
}

/* ---- pipelined pulls --------------------------------------------------------------------------- */

static void cursor_free(struct skv_cursor *c)
{
    free(c->after);
    c->after = NULL;
    c->after_len = 0;
}

static void cursor_of(const struct skv_action *a, struct skv_cursor *c)
{
    *c = (struct skv_cursor){ a->first, NULL, a->after_len, a->in_sessions, a->after_client,
                              false };
    if (a->after_len) {
        c->after = xmalloc(a->after_len);
        memcpy(c->after, a->after, a->after_len);
    }
}

static bool cursor_at(const struct skv_cursor *c, const struct skv_action *a)
{
    return c->first == a->first && c->after_len == a->after_len &&
           (!a->after_len || !memcmp(c->after, a->after, a->after_len)) &&
           c->in_sessions == a->in_sessions && c->after_client == a->after_client;
}

static void chain_clear(struct chain *ch)
{
    cursor_free(&ch->next);
    for (size_t i = 0; i < ch->n_ahead; i++)
        cursor_free(&ch->ahead[i]);
    free(ch->ahead);
    *ch = (struct chain){ 0 };
}

/* (Re)starts shard's chain at the applied cursor (action a). */
static void chain_reset(struct skv_driver *d, struct chain *ch, const struct skv_action *a)
{
    chain_clear(ch);
    ch->active = true;
    ch->left_at = a->left_at;
    ch->num = a->num;
    ch->gen = ++d->gens;
    cursor_of(a, &ch->next);
    ch->progress_ms = now_ms(d);
}

/* Drops from the chunks ahead those applied: the applied cursor (a) is the start of the next
 * one to apply, or the chain's end when all are. Returns false when it is neither (the chain
 * lost its way: an INSTALL was not applied). */
static bool chain_sync(struct skv_driver *d, struct chain *ch, const struct skv_action *a)
{
    size_t j = 0;
    while (j < ch->n_ahead && !cursor_at(&ch->ahead[j], a))
        j++;
    if (j == ch->n_ahead && !cursor_at(&ch->next, a))
        return false;
    if (j) {
        for (size_t i = 0; i < j; i++)
            cursor_free(&ch->ahead[i]);
        memmove(ch->ahead, ch->ahead + j, (ch->n_ahead - j) * sizeof *ch->ahead);
        ch->n_ahead -= j;
        ch->progress_ms = now_ms(d);
    }
    return true;
}

/* Pulls the chain's next chunk when there is room ahead (action a: the shard's PULL, for its
 * holder and tags). */
static void chain_pull(struct skv_driver *d, struct chain *ch, const struct skv_action *a)
{
    if (ch->pulling || ch->ended || ch->n_ahead >= MAX(1, d->o.pull_window) ||
        !a->holder_group || !a->holder_group->n_servers)
        return;
    struct peer *p = peer_for(d, a);
    struct skv_action at = *a; /* the chain's cursor, not the applied one */
    at.first = ch->next.first;
    at.after = ch->next.after;
    at.after_len = ch->next.after_len;
    at.in_sessions = ch->next.in_sessions;
    at.after_client = ch->next.after_client;
    struct call *c = call_new(d, &at);
    c->gen = ch->gen;
    ch->pulling = true;
    uint8_t *req;
    size_t len;
    skv_codec_pull_request(&c->a, shardkv_gid(d->s), d->o.chunk_bytes, &req, &len);
    clerk_engine_submit(p->pull[a->shard % PULL_LANES], req, len, on_pull, c);
}

/* A PULL action now due: sync the chain with the applied cursor, start it again when it is
 * another hand-over's or made no progress for twice a call's time with nothing in flight (an
 * INSTALL lost with a leader change), and pull on. */
static void chain_act(struct skv_driver *d, const struct skv_action *a)
{
    inflight(d, a->shard);
    struct chain *ch = &d->ch[a->shard];
    uint64_t now = now_ms(d);
    if (!ch->active || ch->left_at != a->left_at || ch->num != a->num)
        chain_reset(d, ch, a);
    else if (!chain_sync(d, ch, a) || (ch->n_ahead && !ch->pulling &&
                                       now - ch->progress_ms >= 2 * d->o.call_ms))
        chain_reset(d, ch, a);
    chain_pull(d, ch, a);
}

/* After a reply: pull on at once if the shard still has that PULL due. */
static void chain_step(struct skv_driver *d, uint32_t shard)
{
    size_t n = shardkv_actions(d->s, NULL, 0);
    struct skv_action *acts = xmalloc((n ? n : 1) * sizeof *acts);
    shardkv_actions(d->s, acts, n);
    for (size_t i = 0; i < n; i++)
        if (acts[i].shard == shard && acts[i].type == SKV_ACT_PULL)
            chain_act(d, &acts[i]);
    free(acts);
}

/* ---- configs ---------------------------------------------------------------------------------- */

static void on_config(enum clerk_result r, uint64_t num, const struct sc_config *config, void *arg)
{
    (void)num;
    struct skv_driver *d = arg;
    d->querying = false;
    const struct sc_config *cur = shardkv_config(d->s);
    if (r != CLERK_OK || !config || config->num != cur->num + 1 || !d->ops.leader(d->ctx) ||
        !shardkv_settled(d->s))
        return;
    struct skv_cmd cmd = { .type = SKV_CONFIG, .config = config };
    uint8_t *entry;
    size_t len;
    skv_codec_encode_cmd(&cmd, &entry, &len);
    d->ops.propose(d->ctx, entry, len);
    d->proposed_num = config->num;
    d->proposed_ms = now_ms(d);
    d->st.configs_proposed++;
}

/* ---- the poll ---------------------------------------------------------------------------------- */

void skv_driver_kick(struct skv_driver *d)
{
    if (!d->ops.leader(d->ctx))
        return;
    uint64_t now = now_ms(d);
    const struct sc_config *cur = shardkv_config(d->s);
    bool proposed_pending = d->proposed_num == cur->num + 1 && now - d->proposed_ms < d->o.call_ms;
    if (shardkv_settled(d->s) && !d->querying && !proposed_pending) {
        d->querying = true;
        ctrl_clerk_query(d->ctrl, (int64_t)cur->num + 1, on_config, d);
    }
    size_t n = shardkv_actions(d->s, NULL, 0);
    if (!n)
        return;
    struct skv_action *acts = xmalloc(n * sizeof *acts);
    shardkv_actions(d->s, acts, n);
    for (size_t i = 0; i < n; i++) {
        if (acts[i].type == SKV_ACT_PULL) {
            chain_act(d, &acts[i]);
            continue;
        }
        struct inflight *f = inflight(d, acts[i].shard);
        /* In flight, or its entry on its way through the log: wait, up to twice a call's time
         * (a proposal lost with a leader change is started again after that). */
        if (f->busy && same_action(f, &acts[i]) && now - f->since_ms < 2 * d->o.call_ms)
            continue;
        start_delete(d, &acts[i]);
    }
    free(acts);
}

static void on_timer(void *arg)
{
    struct skv_driver *d = arg;
    skv_driver_kick(d);
    d->ctrl_t.ops->timer_start(d->ctrl_t.ctx, d->timer, d->o.poll_ms);
}

struct skv_driver *skv_driver_new(struct shardkv *s, const struct skv_driver_ops *ops, void *ctx,
                                  const struct clerk_transport *ctrl,
                                  const struct skv_driver_opts *o)
{
    struct skv_driver *d = xcalloc(1, sizeof *d);
    d->s = s;
    d->ops = *ops;
    d->ctx = ctx;
    d->ctrl_t = *ctrl;
    if (o)
        d->o = *o;
    else
        skv_driver_opts_default(&d->o);
    struct clerk_opts co;
    clerk_opts_default(&co);
    co.deadline_ms = d->o.call_ms;
    co.attempt_ms = MIN(d->o.attempt_ms, d->o.call_ms);
    co.seed = d->o.seed;
    d->ctrl = ctrl_clerk_new_on(&d->ctrl_t, &co);
    d->timer = d->ctrl_t.ops->timer_new(d->ctrl_t.ctx, on_timer, d);
    d->ctrl_t.ops->timer_start(d->ctrl_t.ctx, d->timer, d->o.poll_ms);
    return d;
}

void skv_driver_free(struct skv_driver *d)
{
    if (!d)
        return;
    d->ctrl_t.ops->timer_free(d->ctrl_t.ctx, d->timer);
    ctrl_clerk_free(d->ctrl);
    for (size_t i = 0; i < d->n_peers; i++) {
        for (int k = 0; k < PULL_LANES; k++)
            clerk_engine_free(d->peers[i].pull[k]);
        clerk_engine_free(d->peers[i].del);
        d->ops.transport_free(d->ctx, &d->peers[i].t);
        free(d->peers[i].key);
    }
    free(d->peers);
    while (d->calls) /* what the engines dropped */
        call_free(d->calls);
    for (uint32_t i = 0; i < d->n_fl; i++) {
        free(d->fl[i].after);
        chain_clear(&d->ch[i]);
    }
    free(d->fl);
    free(d->ch);
    free(d);
}

void skv_driver_stats(const struct skv_driver *d, struct skv_driver_stats *st) { *st = d->st; }
