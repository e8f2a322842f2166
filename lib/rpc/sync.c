/* The blocking wrapper: a client on a private event loop, for command-line tools. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "rpc/rpc.h"

struct rpc_sync {
    struct event_base *base;
    struct rpc_client *client;
};

struct outcome {
    bool done;
    enum rpc_status st;
    char *error;
    uint8_t *reply;
    size_t len;
};

struct rpc_sync *rpc_sync_new(const char *addr, char *err, size_t errlen)
{
    struct event_base *base = event_base_new();
    if (!base) {
        snprintf(err, errlen, "cannot create an event loop");
        return NULL;
    }
    struct rpc_client *client = rpc_client_new(base, addr, NULL, err, errlen);
    if (!client) {
        event_base_free(base);
        return NULL;
    }
    struct rpc_sync *s = xmalloc(sizeof *s);
    s->base = base;
    s->client = client;
    return s;
}

static void on_reply(enum rpc_status st, const char *error, const uint8_t *payload, size_t len,
                     void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->st = st;
    if (st == RPC_OK) {
        o->reply = xmalloc(len ? len : 1);
        if (len) /* an empty reply may come with a NULL payload */
            memcpy(o->reply, payload, len);
        o->len = len;
    } else {
        o->error = xstrdup(error ? error : "");
    }
}

enum rpc_status rpc_sync_call(struct rpc_sync *s, const char *method, const uint8_t *req,
                              size_t len, uint64_t timeout_ms, uint8_t **reply, size_t *reply_len,
                              char **error)
{
    struct outcome o = { 0 };
    rpc_client_call(s->client, method, req, len, timeout_ms, on_reply, &o);
    while (!o.done)
        event_base_loop(s->base, EVLOOP_ONCE);
    if (o.st == RPC_OK) {
        *reply = o.reply;
        *reply_len = o.len;
    } else if (error) {
        *error = o.error;
    } else {
        free(o.error);
    }
    return o.st;
}

void rpc_sync_free(struct rpc_sync *s)
{
    if (!s)
        return;
    rpc_client_free(s->client);
    event_base_free(s->base);
    free(s);
}
