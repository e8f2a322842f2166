/* The kv clerk: kvd's layer on the clerk engine (engine.h): kv.Op requests, kv.Reply
 * classification, the client id and the numbering of writes. */
#include "clerk/clerk.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "clerk/kvlayer.h"

struct clerk {
    struct clerk_engine *e;
    uint64_t id, seq;
};

/* ---- operations --------------------------------------------------------------------------- */

static void enqueue(struct clerk *c, const struct clerk_kv_req *r, clerk_done_fn done, void *arg)
{
    size_t len;
    uint64_t seq = r->op == CLERK_KV_GET ? 0 : ++c->seq; /* Gets leave no state: no number */
    uint8_t *req = clerk_kv_command(r, c->id, seq, &len);
    clerk_engine_submit(c->e, req, len, done, arg);
}

void clerk_get(struct clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg)
{
    enqueue(c, &(struct clerk_kv_req){ .op = CLERK_KV_GET, .key = key, .klen = klen }, done, arg);
}

void clerk_put(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
               bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c, &(struct clerk_kv_req){ CLERK_KV_PUT, key, klen, val, vlen, NULL, 0, false, want_prev },
            done, arg);
}

void clerk_append(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c,
            &(struct clerk_kv_req){ CLERK_KV_APPEND, key, klen, val, vlen, NULL, 0, false, want_prev },
            done, arg);
}

void clerk_delete(struct clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg)
{
    enqueue(c, &(struct clerk_kv_req){ .op = CLERK_KV_DELETE, .key = key, .klen = klen }, done, arg);
}

void clerk_cas(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *expected,
               size_t elen, bool expect_absent, const uint8_t *val, size_t vlen,
               clerk_done_fn done, void *arg)
{
    enqueue(c,
            &(struct clerk_kv_req){ CLERK_KV_CAS, key, klen, val, vlen, expected, elen,
                                    expect_absent, false },
            done, arg);
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
    struct clerk_layer l = clerk_kv_layer("kv.Op", "kvd");
    c->e = clerk_engine_new(t, &l, &opts);
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

struct clerk *clerk_sync_clerk(struct clerk_sync *s) { return s->clerk; }

enum clerk_result clerk_sync_get(struct clerk_sync *s, const char *key, uint8_t **value, size_t *len)
{
    struct clerk_outcome res = { 0 };
    clerk_get(s->clerk, (const uint8_t *)key, strlen(key), clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, value, len);
}

enum clerk_result clerk_sync_put(struct clerk_sync *s, const char *key, const uint8_t *val,
                                 size_t vlen)
{
    struct clerk_outcome res = { 0 };
    clerk_put(s->clerk, (const uint8_t *)key, strlen(key), val, vlen, false, clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, NULL, NULL);
}

enum clerk_result clerk_sync_append(struct clerk_sync *s, const char *key, const uint8_t *val,
                                    size_t vlen)
{
    struct clerk_outcome res = { 0 };
    clerk_append(s->clerk, (const uint8_t *)key, strlen(key), val, vlen, false, clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, NULL, NULL);
}

enum clerk_result clerk_sync_delete(struct clerk_sync *s, const char *key)
{
    struct clerk_outcome res = { 0 };
    clerk_delete(s->clerk, (const uint8_t *)key, strlen(key), clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, NULL, NULL);
}

enum clerk_result clerk_sync_cas(struct clerk_sync *s, const char *key, const uint8_t *expected,
                                 size_t elen, bool expect_absent, const uint8_t *val, size_t vlen,
                                 uint8_t **current, size_t *len)
{
    struct clerk_outcome res = { 0 };
    clerk_cas(s->clerk, (const uint8_t *)key, strlen(key), expected, elen, expect_absent, val,
              vlen, clerk_outcome_done, &res);
    return clerk_outcome_wait(&s->loop, &res, current, len);
}
