/* The kv clerk: kvd's layer on the clerk engine (engine.h): kv.Op requests, kv.Reply
 * classification, the client id and the numbering of writes. */
#include "clerk/clerk.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"

struct clerk {
    struct clerk_engine *e;
    uint64_t id, seq;
};

/* ---- kv.Reply, classified ------------------------------------------------------------------ */

static bool classify(void *ctx, const uint8_t *payload, size_t len, struct clerk_reply *out)
{
    (void)ctx;
    Kv__Reply *r = kv__reply__unpack(NULL, len, payload);
    if (!r)
        return false;
    out->keep = r;
    switch (r->err) {
    case KV__ERR__TIMEOUT:
    case KV__ERR__SHUTTING_DOWN:
        out->verdict = CLERK_RETRY;
        snprintf(out->why, sizeof out->why, "%s",
                 r->err == KV__ERR__TIMEOUT ? "timed out" : "shutting down");
        return true;
    case KV__ERR__WRONG_LEADER:
        out->verdict = CLERK_WRONG_LEADER;
        out->hint_addr = r->leader_addr;
        snprintf(out->why, sizeof out->why, "%s",
                 r->leader_id ? "not the leader" : "no leader known");
        return true;
    case KV__ERR__NO_SPACE:
        /* The leader's answer (another server would only redirect there): at once. */
        out->verdict = CLERK_DONE;
        out->result = CLERK_NO_SPACE;
        snprintf(out->error, sizeof out->error, "not written: no space left on the data volume "
                 "of %s", r->leader_addr[0] ? r->leader_addr : out->server);
        return true;
    case KV__ERR__WRONG_GROUP:
        /* The group's answer for the shard (every member agrees once it applies): at once. */
        out->verdict = CLERK_DONE;
        out->result = CLERK_WRONG_GROUP;
        snprintf(out->error, sizeof out->error, "%s does not serve this key's shard now",
                 out->server);
        return true;
    default:
        out->verdict = CLERK_DONE;
        out->result = r->err == KV__ERR__NO_KEY ? CLERK_NO_KEY : CLERK_OK;
        out->value = r->value.data;
        out->len = r->value.len;
        return true;
    }
}

static void release(void *ctx, struct clerk_reply *r)
{
    (void)ctx;
    kv__reply__free_unpacked(r->keep, NULL);
}

static const struct clerk_layer kv_layer = { "kv.Op", "kvd", "kv.Reply", classify, release, NULL };

/* ---- operations --------------------------------------------------------------------------- */

static void enqueue(struct clerk *c, Kv__OpType type, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    Kv__Command cmd = KV__COMMAND__INIT;
    cmd.op = type;
    cmd.key.data = (uint8_t *)key;
    cmd.key.len = klen;
    cmd.value.data = (uint8_t *)val;
    cmd.value.len = vlen;
    cmd.want_prev = want_prev;
    if (type != KV__OP_TYPE__GET) { /* Gets leave no state on the server: no id, no number */
        cmd.client_id = c->id;
        cmd.seq = ++c->seq;
    }
    size_t len = kv__command__get_packed_size(&cmd);
    uint8_t *req = xmalloc(len ? len : 1);
    kv__command__pack(&cmd, req);
    clerk_engine_submit(c->e, req, len, done, arg);
}

void clerk_get(struct clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__GET, key, klen, NULL, 0, false, done, arg);
}

void clerk_put(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
               bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__PUT, key, klen, val, vlen, want_prev, done, arg);
}

void clerk_append(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__APPEND, key, klen, val, vlen, want_prev, done, arg);
}

struct clerk *clerk_new_on(const struct clerk_transport *t, const struct clerk_opts *o)
{
    struct clerk *c = xcalloc(1, sizeof *c);
    struct clerk_opts opts;
    if (o)
        opts = *o;
    else
        clerk_opts_default(&opts);
    opts.seed = clerk_seed(&opts, (uintptr_t)c);
    c->id = clerk_client_id_from(opts.seed);
    c->e = clerk_engine_new(t, &kv_layer, &opts);
    return c;
}

struct clerk *clerk_new(struct clerk_net *net, const struct clerk_opts *o)
{
    struct clerk_transport t = clerk_net_transport(net);
    return clerk_new_on(&t, o);
}

void clerk_free(struct clerk *c)
{
    if (!c)
        return;
    clerk_engine_free(c->e);
    free(c);
}

uint64_t clerk_client_id(const struct clerk *c) { return c->id; }
const char *clerk_error(const struct clerk *c) { return clerk_engine_error(c->e); }

void clerk_too_large(const struct clerk *c, uint64_t *size, uint64_t *limit)
{
    clerk_engine_too_large(c->e, size, limit);
}

/* ---- blocking API -------------------------------------------------------------------------- */

struct clerk_sync {
    struct clerk_loop loop;
    struct clerk *clerk;
};

struct sync_result {
    bool done;
    enum clerk_result r;
    uint8_t *value;
    size_t len;
};

static void on_sync_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct sync_result *s = arg;
    s->done = true;
    s->r = r;
    s->len = len;
    s->value = xmalloc(len + 1);
    if (len)
        memcpy(s->value, value, len);
    s->value[len] = '\0';
}

struct clerk_sync *clerk_sync_new(const char *const *servers, size_t n, const struct clerk_opts *o,
                                  char *err, size_t errlen)
{
    struct clerk_sync *s = xcalloc(1, sizeof *s);
    if (clerk_loop_open(&s->loop, servers, n, err, errlen)) {
        free(s);
        return NULL;
    }
    s->clerk = clerk_new(s->loop.net, o);
    return s;
}

void clerk_sync_free(struct clerk_sync *s)
{
    if (!s)
        return;
    clerk_free(s->clerk);
    clerk_loop_close(&s->loop);
    free(s);
}

static enum clerk_result wait_result(struct clerk_sync *s, struct sync_result *res, uint8_t **value,
                                     size_t *len)
{
    clerk_loop_wait(&s->loop, &res->done);
    if (value) {
        *value = res->value;
        *len = res->len;
    } else {
        free(res->value);
    }
    return res->r;
}

struct clerk *clerk_sync_clerk(struct clerk_sync *s) { return s->clerk; }

enum clerk_result clerk_sync_get(struct clerk_sync *s, const char *key, uint8_t **value, size_t *len)
{
    struct sync_result res = { 0 };
    clerk_get(s->clerk, (const uint8_t *)key, strlen(key), on_sync_done, &res);
    return wait_result(s, &res, value, len);
}

enum clerk_result clerk_sync_put(struct clerk_sync *s, const char *key, const uint8_t *val,
                                 size_t vlen)
{
    struct sync_result res = { 0 };
    clerk_put(s->clerk, (const uint8_t *)key, strlen(key), val, vlen, false, on_sync_done, &res);
    return wait_result(s, &res, NULL, NULL);
}

enum clerk_result clerk_sync_append(struct clerk_sync *s, const char *key, const uint8_t *val,
                                    size_t vlen)
{
    struct sync_result res = { 0 };
    clerk_append(s->clerk, (const uint8_t *)key, strlen(key), val, vlen, false, on_sync_done, &res);
    return wait_result(s, &res, NULL, NULL);
}
