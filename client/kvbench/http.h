/* A small HTTP/1.1 client on one libevent bufferevent: one keep-alive connection, one request
 * in flight at a time (no pipelining), POST only. It reads Content-Length and chunked bodies,
 * honours "Connection: close", and reconnects lazily on the next request after any failure. */
#ifndef KVBENCH_HTTP_H
#define KVBENCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct http_conn;

enum {
    HTTP_ERR_CONNECT = -1, /* the connection could not be made or broke before the response */
    HTTP_ERR_TIMEOUT = -2, /* no complete response within the request's timeout */
    HTTP_ERR_PROTOCOL = -3 /* the response was not HTTP/1.x we understand */
};

/* Outcome of a request: status is the HTTP status code, or an HTTP_ERR_* value (body NULL).
 * body is the whole body (chunked bodies reassembled), valid during the call only. The callback
 * may start the next request on the same connection, but must not free it. */
typedef void (*http_done_fn)(int status, const uint8_t *body, size_t len, void *arg);

/* A connection to addr ("host:port"; resolved once, here). Connects on the first request.
 * Returns NULL with a message in err when the address is malformed or does not resolve. */
struct http_conn *http_conn_new(struct event_base *base, const char *addr, char *err,
                                size_t errlen);

/* Sends POST path with a body of the given content type; done is called exactly once, unless
 * the connection is freed first. Returns 0, or -1 when a request is already in flight. */
int http_conn_post(struct http_conn *c, const char *path, const char *content_type,
                   const void *body, size_t len, uint64_t timeout_ms, http_done_fn done, void *arg);

/* Message for an HTTP_ERR_* value. */
const char *http_error_name(int status);

/* Closes the connection; a request in flight is dropped without its callback. */
void http_conn_free(struct http_conn *c);

#endif
