/* A small metrics registry and the Prometheus text exposition format (version 0.0.4).
 *
 * Pure: no I/O, no clock, no locks. Every call comes from one thread (a daemon's event loop),
 * so an update is a plain add (a histogram's observe: a scan of its few bucket bounds).
 *
 * A family is a metric name with its type, help text and label names; its children are the
 * series, one per combination of label values, created on first use (keep the pointer: the
 * lookup compares strings, the update does not). A family without labels has its one child
 * from the start. Values a process already keeps elsewhere (a Raft node's term, a server's
 * counters) are copied in at scrape time by collect callbacks rather than pushed on every
 * change. Names and label names are checked when registered: a bad one is a programming error
 * (abort), never a runtime condition. */
#ifndef METRICS_METRICS_H
#define METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric_family;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Registers a family. labels: comma-separated label names ("method,status"), or NULL for none.
 * buckets: a histogram's upper bounds, strictly increasing, without +Inf (copied); NULL, 0 for
 * other types. Aborts on an invalid or repeated name. */
struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                                     const char *help, const char *labels, const double *buckets,
                                     size_t n_buckets);

/* The child of f with these label values (one per label name, in order; copied), created at
 * the first call. For a family without labels, values is ignored. */
struct metric *metric_child(struct metric_family *f, const char *const *values);

/* Shorthands for a family without labels: its one child. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help);
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const double *buckets, size_t n_buckets);

/* Counters only go up (add ignores a negative amount); a gauge is set or added to. */
void metric_add(struct metric *c, double v);
static inline void metric_inc(struct metric *c) { metric_add(c, 1); }
void metric_set(struct metric *g, double v);
/* A histogram's observation (seconds, bytes: the unit in its name). */
void metric_observe(struct metric *h, double v);

double metric_value(const struct metric *c); /* a counter's or gauge's value */
uint64_t metric_count(const struct metric *h); /* a histogram's observations */

/* Called, in registration order, before every rendering: to set the gauges and counters that
 * mirror state kept elsewhere. */
void metrics_on_collect(struct metrics *m, void (*fn)(void *arg), void *arg);

/* Runs the collect callbacks and renders every family, in registration order, as text format
 * 0.0.4: # HELP and # TYPE lines, then one line per series (a histogram's cumulative
 * _bucket{le=...} lines, +Inf included, then _sum and _count). Returns the text (malloc'd,
 * NUL-terminated) and its length in *len. */
char *metrics_render(struct metrics *m, size_t *len);

/* Unlabelled counters and gauges that mirror the uint64_t fields of a struct (a status or
 * stats struct filled at scrape time): metrics_fields registers one family per field, its
 * child in out[i]; metrics_fields_set copies each field of *src into out[i]. */
struct metrics_field {
    enum metric_type type; /* METRIC_COUNTER or METRIC_GAUGE */
    const char *name, *help;
    size_t offset; /* of a uint64_t in the struct */
};
void metrics_fields(struct metrics *m, const struct metrics_field *f, size_t n,
                    struct metric **out);
void metrics_fields_set(const struct metrics_field *f, size_t n, struct metric *const *out,
                        const void *src);

/* Bucket bounds: factor^i * start for i in 0..n-1, into out[n]. */
void metrics_exp_buckets(double start, double factor, size_t n, double *out);

/* The content type of metrics_render's text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
