#include "metrics/http.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "metrics/metrics.h"
#include "rpc/rpc.h"

#define MAX_HEADERS (8 * 1024)
#define IDLE_TIMEOUT_S 10

struct probe {
    char *path;
    metrics_probe_fn fn;
    void *arg;
};

struct metrics_http {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct metrics *reg;
    struct probe *probes;
    size_t n_probes;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct metrics_http *h = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evhttp_uri *parsed = evhttp_uri_parse(uri);
    const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;
    if (!path || !*path) {
        reply(req, 400, "Bad Request", "text/plain", "bad request\n", 12);
    } else if (strcmp(path, "/metrics") == 0) {
        size_t len;
        char *text = metrics_render(h->reg, &len);
        reply(req, 200, "OK", METRICS_CONTENT_TYPE, text, len);
        free(text);
    } else {
        const struct probe *p = NULL;
        for (size_t i = 0; i < h->n_probes && !p; i++)
            if (strcmp(h->probes[i].path, path) == 0)
                p = &h->probes[i];
        if (!p) {
            reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
        } else {
            char why[256] = "";
            if (p->fn(p->arg, why, sizeof why) == 0) {
                reply(req, 200, "OK", "text/plain", "ok\n", 3);
            } else {
                char body[300];
                int n = snprintf(body, sizeof body, "%s\n", why[0] ? why : "unhealthy");
                reply(req, 503, "Service Unavailable", "text/plain", body,
                      MIN((size_t)n, sizeof body - 1));
            }
        }
    }
    if (parsed)
        evhttp_uri_free(parsed);
}

struct metrics_http *metrics_http_new(struct event_base *base, const char *addr,
                                      struct metrics *reg, char *err, size_t errlen)
{
    char host[256];
    uint16_t port;
    if (parse_host_port(addr, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "--metrics-listen %s: expected HOST:PORT", addr);
        return NULL;
    }
    struct metrics_http *h = xcalloc(1, sizeof *h);
    h->reg = reg;
    h->http = evhttp_new(base);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(h->http, MAX_HEADERS);
    evhttp_set_max_body_size(h->http, 0);
    evhttp_set_timeout(h->http, IDLE_TIMEOUT_S);
    evhttp_set_gencb(h->http, on_request, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, host, port);
    if (!h->sock) {
        snprintf(err, errlen, "cannot serve metrics on %s: %s", addr,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        metrics_http_free(h);
        return NULL;
    }
    return h;
}

void metrics_http_probe(struct metrics_http *h, const char *path, metrics_probe_fn fn, void *arg)
{
    h->probes = xrealloc(h->probes, (h->n_probes + 1) * sizeof *h->probes);
    h->probes[h->n_probes++] = (struct probe){ xstrdup(path), fn, arg };
}

unsigned metrics_http_port(const struct metrics_http *h)
{
    return rpc_socket_port(evhttp_bound_socket_get_fd(h->sock));
}

void metrics_http_free(struct metrics_http *h)
{
    if (!h)
        return;
    if (h->http)
        evhttp_free(h->http);
    for (size_t i = 0; i < h->n_probes; i++)
        free(h->probes[i].path);
    free(h->probes);
    free(h);
}
