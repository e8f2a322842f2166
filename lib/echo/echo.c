#include "echo/echo.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "echo.pb-c.h"
#include "rpc/rpc.h"

/* A call answered later (delay_ms > 0) or never (until the service is freed). */
struct held {
    struct echo_service *e;
    struct rpc_call *call;
    struct event timer;
    uint8_t *data;
    size_t len;
    struct held *prev, *next;
};

struct echo_service {
    struct event_base *base;
    uint64_t notes;
    struct held *held;
};

static void unlink_held(struct held *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        h->e->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

static void reply_data(struct rpc_call *call, uint8_t *data, size_t len)
{
    Echo__Reply r = ECHO__REPLY__INIT;
    r.data.data = data;
    r.data.len = len;
    rpc_call_reply_msg(call, &r.base);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct held *h = arg;
    unlink_held(h);
    reply_data(h->call, h->data, h->len);
    free(h->data);
    free(h);
}

static void handle_echo(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    struct echo_service *e = arg;
    Echo__Request *r = echo__request__unpack(NULL, len, req);
    if (!r) {
        rpc_call_fail(call, RPC_BAD_REQUEST, "echo.Echo: request does not decode");
        return;
    }
    if (!r->never && r->delay_ms == 0) {
        reply_data(call, r->data.data, r->data.len);
        echo__request__free_unpacked(r, NULL);
        return;
    }
    struct held *h = xcalloc(1, sizeof *h);
    h->e = e;
    h->call = call;
    h->len = r->data.len;
    h->data = xmalloc(h->len ? h->len : 1);
    memcpy(h->data, r->data.data, h->len);
    h->next = e->held;
    if (e->held)
        e->held->prev = h;
    e->held = h;
    evtimer_assign(&h->timer, e->base, on_delay, h);
    if (!r->never) {
        struct timeval tv = { r->delay_ms / 1000, (r->delay_ms % 1000) * 1000 };
        evtimer_add(&h->timer, &tv);
    }
    echo__request__free_unpacked(r, NULL);
}

static void handle_note(const uint8_t *msg, size_t len, void *arg)
{
    (void)msg;
    (void)len;
    ((struct echo_service *)arg)->notes++;
}

static void handle_count(struct rpc_call *call, const uint8_t *req, size_t len, void *arg)
{
    (void)req;
    (void)len;
    Echo__Count c = ECHO__COUNT__INIT;
    c.messages = ((struct echo_service *)arg)->notes;
    rpc_call_reply_msg(call, &c.base);
}

struct echo_service *echo_service_new(struct event_base *base, struct rpc_server *srv)
{
    struct echo_service *e = xcalloc(1, sizeof *e);
    e->base = base;
    rpc_server_handle(srv, "echo.Echo", handle_echo, e);
    rpc_server_handle(srv, "echo.Count", handle_count, e);
    rpc_server_handle_message(srv, "echo.Note", handle_note, e);
    return e;
}

void echo_service_free(struct echo_service *e)
{
    if (!e)
        return;
    while (e->held) {
        struct held *h = e->held;
        unlink_held(h);
        event_del(&h->timer);
        rpc_call_fail(h->call, RPC_SHUTTING_DOWN, "echo service stopped");
        free(h->data);
        free(h);
    }
    free(e);
}
