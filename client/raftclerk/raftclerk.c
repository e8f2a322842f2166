#include "raftclerk.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static bool classify(void *ctx, const uint8_t *payload, size_t len, struct clerk_reply *out)
{
    (void)ctx;
    Raftd__ProposeReply *r = raftd__propose_reply__unpack(NULL, len, payload);
    if (!r)
        return false;
    out->keep = r;
    switch (r->error) {
    case RAFTD__ERROR__OK:
        out->verdict = CLERK_DONE;
        out->result = CLERK_OK;
        out->value = payload; /* the whole reply: the caller wants index, term and hash */
        out->len = len;
        return true;
    case RAFTD__ERROR__NOT_LEADER:
        out->verdict = CLERK_WRONG_LEADER;
        out->hint_addr = r->leader_addr;
        snprintf(out->why, sizeof out->why, "%s",
                 r->leader_id ? "not the leader" : "no leader known");
        return true;
    case RAFTD__ERROR__NO_SPACE:
        out->verdict = CLERK_DONE;
        out->result = CLERK_NO_SPACE;
        snprintf(out->error, sizeof out->error, "not proposed: no space left on the data volume "
                 "of %s", out->server);
        return true;
    default: /* leadership lost before it applied, shutting down: propose again */
        out->verdict = CLERK_RETRY;
        snprintf(out->why, sizeof out->why, "%s",
                 r->error == RAFTD__ERROR__LEADERSHIP_LOST ? "leadership lost" : "not proposed");
        return true;
    }
}

static void release(void *ctx, struct clerk_reply *r)
{
    (void)ctx;
    raftd__propose_reply__free_unpacked(r->keep, NULL);
}

static const struct clerk_layer raftd_layer = {
    "raftd.Propose", "raftd", "raftd.ProposeReply", classify, release, NULL,
};

struct clerk_engine *raftclerk_new(struct clerk_net *net, const struct clerk_opts *o)
{
    struct clerk_opts opts;
    if (o)
        opts = *o;
    else
        clerk_opts_default(&opts);
    opts.seed = clerk_seed(&opts, (uintptr_t)net);
    struct clerk_transport t = clerk_net_transport(net);
    return clerk_engine_new(&t, &raftd_layer, &opts);
}

void raftclerk_propose(struct clerk_engine *e, const uint8_t *data, size_t len,
                       clerk_engine_done_fn done, void *arg)
{
    Raftd__ProposeRequest req = RAFTD__PROPOSE_REQUEST__INIT;
    req.data.data = (uint8_t *)data;
    req.data.len = len;
    size_t n = raftd__propose_request__get_packed_size(&req);
    uint8_t *buf = xmalloc(n ? n : 1);
    raftd__propose_request__pack(&req, buf);
    clerk_engine_submit(e, buf, n, done, arg);
}

/* ---- blocking ------------------------------------------------------------------------------- */

struct raftclerk_sync {
    struct clerk_loop loop;
    struct clerk_engine *e;
};

struct outcome {
    bool done;
    enum clerk_result r;
    Raftd__ProposeReply *reply;
};

static void on_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->r = r;
    if (r == CLERK_OK)
        o->reply = raftd__propose_reply__unpack(NULL, len, value);
}

struct raftclerk_sync *raftclerk_sync_new(const char *const *servers, size_t n,
                                          const struct clerk_opts *o, char *err, size_t errlen)
{
    struct raftclerk_sync *s = xcalloc(1, sizeof *s);
    if (clerk_loop_open(&s->loop, servers, n, err, errlen)) {
        free(s);
        return NULL;
    }
    s->e = raftclerk_new(s->loop.net, o);
    return s;
}

void raftclerk_sync_free(struct raftclerk_sync *s)
{
    if (!s)
        return;
    clerk_engine_free(s->e);
    clerk_loop_close(&s->loop);
    free(s);
}

enum clerk_result raftclerk_sync_propose(struct raftclerk_sync *s, const uint8_t *data, size_t len,
                                         Raftd__ProposeReply **reply)
{
    struct outcome o = { 0 };
    raftclerk_propose(s->e, data, len, on_done, &o);
    clerk_loop_wait(&s->loop, &o.done);
    *reply = o.reply;
    return o.r == CLERK_OK && !o.reply ? CLERK_TIMEOUT : o.r;
}

struct clerk_engine *raftclerk_sync_engine(struct raftclerk_sync *s) { return s->e; }
