#include "http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/util.h"

#define MAX_LINE 8192
#define MAX_BODY (64u << 20)

enum state { ST_IDLE, ST_STATUS, ST_HEADERS, ST_BODY, ST_UNTIL_CLOSE, ST_CHUNK_SIZE, ST_CHUNK_DATA,
             ST_CHUNK_END, ST_TRAILERS };

struct http_conn {
    struct event_base *base;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *host; /* for the Host header: the address as given */
    struct bufferevent *bev;
    struct event *timer; /* the request's deadline; also delivers an immediate connect failure */
    int pending_error;   /* set when the timer fires for a failure rather than a timeout */
    /* the request in flight */
    http_done_fn done;
    void *arg;
    enum state st;
    int status;
    int64_t content_length; /* -1: none given */
    bool chunked, close_after;
    uint64_t left;          /* body or chunk bytes still to read */
    struct evbuffer *body;
};

const char *http_error_name(int status)
{
    switch (status) {
    case HTTP_ERR_CONNECT: return "connection failed or lost";
    case HTTP_ERR_TIMEOUT: return "timed out";
    case HTTP_ERR_PROTOCOL: return "malformed HTTP response";
    default: return "HTTP error";
    }
}

struct http_conn *http_conn_new(struct event_base *base, const char *addr, char *err,
                                size_t errlen)
{
    char host[256], port[8];
    uint16_t p;
    if (parse_host_port(addr, host, sizeof host, &p) != 0) {
        snprintf(err, errlen, "bad address '%s' (expected host:port)", addr);
        return NULL;
    }
    snprintf(port, sizeof port, "%u", p);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", addr, gai_strerror(rc));
        return NULL;
    }
    struct http_conn *c = xcalloc(1, sizeof *c);
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    c->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    c->base = base;
    c->host = xstrdup(addr);
    c->body = evbuffer_new();
    return c;
}

/* Drops the connection (the next request reconnects). */
static void drop_connection(struct http_conn *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
}

/* Ends the request in flight with an error and drops the connection. */
static void fail(struct http_conn *c, int code)
{
    drop_connection(c);
    evtimer_del(c->timer);
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    http_done_fn done = c->done;
    void *arg = c->arg;
    c->done = NULL;
    c->st = ST_IDLE;
    if (done)
        done(code, NULL, 0, arg);
}

static void complete(struct http_conn *c)
{
    evtimer_del(c->timer);
    if (c->close_after)
        drop_connection(c);
    http_done_fn done = c->done;
    void *arg = c->arg;
    c->done = NULL;
    c->st = ST_IDLE;
    size_t len = evbuffer_get_length(c->body);
    const uint8_t *body = evbuffer_pullup(c->body, -1);
    done(c->status, body, len, arg);
    evbuffer_drain(c->body, len);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_conn *c = arg;
    int code = c->pending_error ? c->pending_error : HTTP_ERR_TIMEOUT;
    c->pending_error = 0;
    fail(c, code);
}

static bool no_body(int status) { return status / 100 == 1 || status == 204 || status == 304; }

static int parse_status(struct http_conn *c, const char *line)
{
    int major, minor, status;
    if (sscanf(line, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 || major != 1 || status < 100)
        return -1;
    c->status = status;
    c->content_length = -1;
    c->chunked = false;
    c->close_after = minor == 0;
    return 0;
}

static int parse_header(struct http_conn *c, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strcasecmp(line, "Content-Length") == 0) {
        uint64_t n;
        if (parse_u64(v, &n) != 0 || n > MAX_BODY)
            return -1;
        c->content_length = (int64_t)n;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        c->chunked = strcasestr(v, "chunked") != NULL;
    } else if (strcasecmp(line, "Connection") == 0) {
        if (strcasestr(v, "close"))
            c->close_after = true;
        else if (strcasestr(v, "keep-alive"))
            c->close_after = false;
    }
    return 0;
}

/* Moves up to c->left bytes of input into the body; true when c->left reached 0. */
static bool take_body(struct http_conn *c, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    size_t n = avail < c->left ? avail : (size_t)c->left;
    if (n)
        evbuffer_remove_buffer(in, c->body, n);
    c->left -= n;
    return c->left == 0;
}

/* Runs the response parser over the input; returns false when it must wait for more bytes
 * (or the request ended). */
static bool step(struct http_conn *c, struct evbuffer *in)
{
    size_t n = 0;
    char *line = NULL;
    if (c->st == ST_STATUS || c->st == ST_HEADERS || c->st == ST_CHUNK_SIZE || c->st == ST_CHUNK_END ||
        c->st == ST_TRAILERS) {
        line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) > MAX_LINE)
                fail(c, HTTP_ERR_PROTOCOL);
            return false;
        }
    }
    bool more = true;
    int bad = 0;
    switch (c->st) {
    case ST_IDLE:
        more = false;
        break;
    case ST_STATUS:
        bad = parse_status(c, line);
        c->st = ST_HEADERS;
        break;
    case ST_HEADERS:
        if (n > 0) {
            bad = parse_header(c, line);
        } else if (c->status / 100 == 1) {
            c->st = ST_STATUS; /* an interim response (100 Continue): the real one follows */
        } else if (no_body(c->status)) {
            complete(c);
        } else if (c->chunked) {
            c->st = ST_CHUNK_SIZE;
        } else if (c->content_length >= 0) {
            c->left = (uint64_t)c->content_length;
            c->st = ST_BODY;
        } else {
            c->close_after = true;
            c->st = ST_UNTIL_CLOSE;
        }
        break;
    case ST_BODY:
        if (take_body(c, in))
            complete(c);
        else
            more = false;
        break;
    case ST_UNTIL_CLOSE:
        if (evbuffer_get_length(c->body) + evbuffer_get_length(in) > MAX_BODY)
            bad = 1;
        else
            evbuffer_add_buffer(c->body, in);
        more = false;
        break;
    case ST_CHUNK_SIZE: {
        char *end;
        unsigned long long size = strtoull(line, &end, 16);
        if (end == line || (*end && *end != ';' && *end != ' ') ||
            size > MAX_BODY - evbuffer_get_length(c->body)) {
            bad = 1;
        } else if (size == 0) {
            c->st = ST_TRAILERS;
        } else {
            c->left = size;
            c->st = ST_CHUNK_DATA;
        }
        break;
    }
    case ST_CHUNK_DATA:
        if (take_body(c, in))
            c->st = ST_CHUNK_END;
        else
            more = false;
        break;
    case ST_CHUNK_END:
        bad = n != 0;
        c->st = ST_CHUNK_SIZE;
        break;
    case ST_TRAILERS:
        if (n == 0)
            complete(c);
        break;
    }
    free(line);
    if (bad) {
        fail(c, HTTP_ERR_PROTOCOL);
        return false;
    }
    return more && c->st != ST_IDLE;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->st == ST_IDLE) { /* bytes nobody asked for */
        drop_connection(c);
        return;
    }
    while (c->bev == bev && step(c, in)) {
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct http_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (c->st == ST_UNTIL_CLOSE) {
            on_read(bev, c);
            drop_connection(c);
            complete(c);
        } else if (c->st != ST_IDLE) {
            fail(c, HTTP_ERR_CONNECT);
        } else {
            drop_connection(c);
        }
    }
}

int http_conn_post(struct http_conn *c, const char *path, const char *content_type,
                   const void *body, size_t len, uint64_t timeout_ms, http_done_fn done, void *arg)
{
    if (c->done)
        return -1;
    if (!c->timer)
        c->timer = evtimer_new(c->base, on_timer, c);
    c->done = done;
    c->arg = arg;
    c->st = ST_STATUS;
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    if (!c->bev) {
        c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->addr, (int)c->addrlen) != 0) {
            drop_connection(c);
            c->pending_error = HTTP_ERR_CONNECT; /* reported from the loop, not from here */
            event_active(c->timer, EV_TIMEOUT, 0);
            return 0;
        }
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                        path, c->host, content_type, len);
    evbuffer_add(out, body, len);
    if (timeout_ms) {
        struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
        evtimer_add(c->timer, &tv);
    }
    return 0;
}

void http_conn_free(struct http_conn *c)
{
    if (!c)
        return;
    drop_connection(c);
    if (c->timer)
        event_free(c->timer);
    evbuffer_free(c->body);
    free(c->host);
    free(c);
}
