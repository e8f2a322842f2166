/* The metrics endpoint: libevent's evhttp serving a registry (metrics.h) on --metrics-listen.
 *
 *   GET /metrics   200, the registry in text format 0.0.4
 *   GET <probe>    each path registered with metrics_http_probe: 200 "ok\n" when its check
 *                  passes, 503 and the check's reason (one line) otherwise
 *   anything else  404; methods other than GET and HEAD: 501 (evhttp's answer)
 *
 * It runs on the daemon's own event loop (no thread): a scrape reads the state directly. A
 * request's headers are bounded (8 KiB) and a connection idle for 10 s is closed, so a slow or
 * malicious HTTP client costs little and never blocks the loop. */
#ifndef METRICS_HTTP_H
#define METRICS_HTTP_H

#include <stddef.h>

struct event_base;
struct metrics;
struct metrics_http;

/* Listens on "host:port" (port 0: any free port). Returns NULL with a message in err. reg must
 * outlive the endpoint. */
struct metrics_http *metrics_http_new(struct event_base *base, const char *addr,
                                      struct metrics *reg, char *err, size_t errlen);

/* A health probe: returns 0 when healthy, or non-zero with a one-line reason in reason. */
typedef int (*metrics_probe_fn)(void *arg, char *reason, size_t len);
/* Serves path ("/healthz") with fn. */
void metrics_http_probe(struct metrics_http *h, const char *path, metrics_probe_fn fn, void *arg);

/* The port listened on (after port 0). */
unsigned metrics_http_port(const struct metrics_http *h);

void metrics_http_free(struct metrics_http *h);

#endif
