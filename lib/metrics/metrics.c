#include "metrics/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

#define MAX_LABELS 8

struct metric {
    struct metric_family *f;
    char **values;     /* f->n_labels label values */
    double value;      /* counter, gauge; a histogram's sum */
    uint64_t *buckets; /* histogram: f->n_bounds + 1 counts (not cumulative; the last is +Inf) */
    uint64_t count;    /* histogram: observations */
    struct metric *next;
};

struct metric_family {
    enum metric_type type;
    char *name, *help;
    char *labels[MAX_LABELS];
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    struct metric *children, **tail;
    struct metric_family *next;
};

struct collector {
    void (*fn)(void *arg);
    void *arg;
};

struct metrics {
    struct metric_family *families, **tail;
    struct collector *collectors;
    size_t n_collectors;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof *m);
    m->tail = &m->families;
    return m;
}

static void child_free(struct metric *c)
{
    for (size_t i = 0; i < c->f->n_labels; i++)
        free(c->values[i]);
    free(c->values);
    free(c->buckets);
    free(c);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (struct metric_family *f = m->families, *nf; f; f = nf) {
        nf = f->next;
        for (struct metric *c = f->children, *nc; c; c = nc) {
            nc = c->next;
            child_free(c);
        }
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f);
    }
    free(m->collectors);
    free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels: no ':' and no leading "__" (reserved). */
static bool valid_name(const char *s, bool label)
{
    if (!*s || (label && s[0] == '_' && s[1] == '_'))
        return false;
    for (const char *p = s; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                     (!label && *p == ':');
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return false;
    }
    return true;
}

static void bug(const char *what, const char *name)
{
    LOG_ERROR("metrics", "%s: '%s'", what, name);
    abort();
}

static struct metric *child_new(struct metric_family *f, const char *const *values)
{
    struct metric *c = xcalloc(1, sizeof *c);
    c->f = f;
    c->values = xcalloc(f->n_labels ? f->n_labels : 1, sizeof *c->values);
    for (size_t i = 0; i < f->n_labels; i++)
        c->values[i] = xstrdup(values[i]);
    if (f->type == METRIC_HISTOGRAM)
        c->buckets = xcalloc(f->n_bounds + 1, sizeof *c->buckets);
    *f->tail = c;
    f->tail = &c->next;
    return c;
}

struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                                     const char *help, const char *labels, const double *buckets,
                                     size_t n_buckets)
{
    if (!valid_name(name, false))
        bug("invalid metric name", name);
    for (struct metric_family *f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            bug("metric registered twice", name);
    struct metric_family *f = xcalloc(1, sizeof *f);
    f->type = type;
    f->name = xstrdup(name);
    f->help = xstrdup(help);
    f->tail = &f->children;
    if (labels) {
        char *copy = xstrdup(labels), *save = NULL;
        for (char *l = strtok_r(copy, ",", &save); l; l = strtok_r(NULL, ",", &save)) {
            if (f->n_labels == MAX_LABELS || !valid_name(l, true) ||
                (type == METRIC_HISTOGRAM && strcmp(l, "le") == 0))
                bug("invalid or too many label names", labels);
            f->labels[f->n_labels++] = xstrdup(l);
        }
        free(copy);
    }
    if (type == METRIC_HISTOGRAM) {
        for (size_t i = 1; i < n_buckets; i++)
            if (!(buckets[i] > buckets[i - 1]))
                bug("histogram bounds not increasing", name);
        f->bounds = xmalloc((n_buckets ? n_buckets : 1) * sizeof *f->bounds);
        if (n_buckets)
            memcpy(f->bounds, buckets, n_buckets * sizeof *f->bounds);
        f->n_bounds = n_buckets;
    }
    *m->tail = f;
    m->tail = &f->next;
    if (f->n_labels == 0)
        child_new(f, NULL);
    return f;
}

struct metric *metric_child(struct metric_family *f, const char *const *values)
{
    if (f->n_labels == 0)
        return f->children;
    for (struct metric *c = f->children; c; c = c->next) {
        size_t i = 0;
        while (i < f->n_labels && strcmp(c->values[i], values[i]) == 0)
            i++;
        if (i == f->n_labels)
            return c;
    }
    return child_new(f, values);
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help)
{
    return metrics_family(m, METRIC_COUNTER, name, help, NULL, NULL, 0)->children;
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help)
{
    return metrics_family(m, METRIC_GAUGE, name, help, NULL, NULL, 0)->children;
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const double *buckets, size_t n_buckets)
{
    return metrics_family(m, METRIC_HISTOGRAM, name, help, NULL, buckets, n_buckets)->children;
}

void metric_add(struct metric *c, double v)
{
    if (c->f->type == METRIC_COUNTER && !(v >= 0))
        return;
    c->value += v;
}

void metric_set(struct metric *g, double v) { g->value = v; }

void metric_observe(struct metric *h, double v)
{
    const struct metric_family *f = h->f;
    size_t i = 0;
    while (i < f->n_bounds && v > f->bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->value += v;
}

double metric_value(const struct metric *c) { return c->value; }
uint64_t metric_count(const struct metric *h) { return h->count; }

void metrics_on_collect(struct metrics *m, void (*fn)(void *arg), void *arg)
{
    m->collectors = xrealloc(m->collectors, (m->n_collectors + 1) * sizeof *m->collectors);
    m->collectors[m->n_collectors++] = (struct collector){ fn, arg };
}

void metrics_fields(struct metrics *m, const struct metrics_field *f, size_t n,
                    struct metric **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = metrics_family(m, f[i].type, f[i].name, f[i].help, NULL, NULL, 0)->children;
}

void metrics_fields_set(const struct metrics_field *f, size_t n, struct metric *const *out,
                        const void *src)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const char *)src + f[i].offset, sizeof v);
        metric_set(out[i], (double)v);
    }
}

void metrics_exp_buckets(double start, double factor, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++, start *= factor)
        out[i] = start;
}

/* ---- rendering ------------------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = MAX(2 * b->cap, b->len + n + 1);
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Escapes backslash and newline (HELP text), and the double quote too in label values. */
static void put_escaped(struct buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(b, "\\\\");
        else if (*s == '\n')
            puts_(b, "\\n");
        else if (quote && *s == '"')
            puts_(b, "\\\"");
        else
            put(b, s, 1);
    }
}

/* Go's ParseFloat reads all of these: integers exactly, others in the shortest %g that reads
 * back as the same double. */
static void put_number(struct buf *b, double v)
{
    char s[40];
    if (isnan(v))
        snprintf(s, sizeof s, "NaN");
    else if (isinf(v))
        snprintf(s, sizeof s, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        snprintf(s, sizeof s, "%.0f", v);
    else {
        int prec = 15;
        do
            snprintf(s, sizeof s, "%.*g", prec, v);
        while (strtod(s, NULL) != v && ++prec <= 17);
    }
    puts_(b, s);
}

/* name{a="x",b="y"[,le="bound"]} value */
static void put_series(struct buf *b, const struct metric *c, const char *suffix, const char *le,
                       double v)
{
    const struct metric_family *f = c->f;
    puts_(b, f->name);
    puts_(b, suffix);
    if (f->n_labels || le) {
        puts_(b, "{");
        for (size_t i = 0; i < f->n_labels; i++) {
            if (i)
                puts_(b, ",");
            puts_(b, f->labels[i]);
            puts_(b, "=\"");
            put_escaped(b, c->values[i], true);
            puts_(b, "\"");
        }
        if (le) {
            puts_(b, f->n_labels ? ",le=\"" : "le=\"");
            puts_(b, le);
            puts_(b, "\"");
        }
        puts_(b, "}");
    }
    puts_(b, " ");
    put_number(b, v);
    puts_(b, "\n");
}

static void put_histogram(struct buf *b, const struct metric *c)
{
    const struct metric_family *f = c->f;
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->n_bounds; i++) {
        cum += c->buckets[i];
        struct buf le = { 0 };
        put_number(&le, i < f->n_bounds ? f->bounds[i] : INFINITY);
        put_series(b, c, "_bucket", le.p, (double)cum);
        free(le.p);
    }
    put_series(b, c, "_sum", NULL, c->value);
    put_series(b, c, "_count", NULL, (double)c->count);
}

char *metrics_render(struct metrics *m, size_t *len)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    for (size_t i = 0; i < m->n_collectors; i++)
        m->collectors[i].fn(m->collectors[i].arg);
    struct buf b = { 0 };
    put(&b, "", 0);
    for (const struct metric_family *f = m->families; f; f = f->next) {
        puts_(&b, "# HELP ");
        puts_(&b, f->name);
        puts_(&b, " ");
        put_escaped(&b, f->help, false);
        puts_(&b, "\n# TYPE ");
        puts_(&b, f->name);
        puts_(&b, " ");
        puts_(&b, types[f->type]);
        puts_(&b, "\n");
        for (const struct metric *c = f->children; c; c = c->next) {
            if (f->type == METRIC_HISTOGRAM)
                put_histogram(&b, c);
            else
                put_series(&b, c, "", NULL, c->value);
        }
    }
    *len = b.len;
    return b.p;
}
