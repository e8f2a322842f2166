/* lib/metrics: the registry's counters, gauges and histograms, and the exact text of the
 * exposition format 0.0.4 (HELP/TYPE lines, label escaping, cumulative buckets with +Inf,
 * _sum and _count, number formatting), collect callbacks, fields mirroring a struct; and the evhttp endpoint on a real
 * socket (/metrics, a probe's 200 and 503, 404), asked by curl in the background while the
 * loop serves. */
#include <check.h>
#include <event2/event.h>
#include <math.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/http.h"
#include "metrics/metrics.h"

static char *render(struct metrics *m)
{
    size_t len;
    char *s = metrics_render(m, &len);
    ck_assert_uint_eq(strlen(s), len);
    return s;
}

START_TEST(test_counter_and_gauge_text)
{
    struct metrics *m = metrics_new();
    struct metric *c = metrics_counter(m, "x_requests_total", "Requests served.");
    struct metric *g = metrics_gauge(m, "x_term", "The term.");
    metric_inc(c);
    metric_add(c, 2);
    metric_add(c, -5); /* a counter never goes down */
    metric_set(g, 7);
    metric_add(g, -10);
    char *s = render(m);
    ck_assert_str_eq(s, "# HELP x_requests_total Requests served.\n"
                        "# TYPE x_requests_total counter\n"
                        "x_requests_total 3\n"
                        "# HELP x_term The term.\n"
                        "# TYPE x_term gauge\n"
                        "x_term -3\n");
    free(s);
    metrics_free(m);
}
END_TEST

START_TEST(test_labels_and_escaping)
{
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_family(m, METRIC_COUNTER, "x_calls_total",
                                             "Calls by\nmethod \\ status.", "method,status",
                                             NULL, 0);
    const char *a[] = { "kv.Op", "OK" }, *b[] = { "we\"ird\\\nname", "BAD" };
    struct metric *ca = metric_child(f, a);
    ck_assert_ptr_eq(metric_child(f, a), ca); /* the same values: the same child */
    metric_inc(ca);
    metric_add(metric_child(f, b), 2);
    metric_inc(metric_child(f, a));
    char *s = render(m);
    ck_assert_str_eq(s, "# HELP x_calls_total Calls by\\nmethod \\\\ status.\n"
                        "# TYPE x_calls_total counter\n"
                        "x_calls_total{method=\"kv.Op\",status=\"OK\"} 2\n"
                        "x_calls_total{method=\"we\\\"ird\\\\\\nname\",status=\"BAD\"} 2\n");
    free(s);
    metrics_free(m);
}
END_TEST

START_TEST(test_histogram_text)
{
    struct metrics *m = metrics_new();
    const double bounds[] = { 0.001, 0.01, 0.1 };
    struct metric *h = metrics_histogram(m, "x_save_seconds", "Save time.", bounds, 3);
    metric_observe(h, 0.0005);
    metric_observe(h, 0.001); /* le: a value equal to a bound is in that bucket */
    metric_observe(h, 0.05);
    metric_observe(h, 3);
    ck_assert_uint_eq(metric_count(h), 4);
    char *s = render(m);
    ck_assert_str_eq(s, "# HELP x_save_seconds Save time.\n"
                        "# TYPE x_save_seconds histogram\n"
                        "x_save_seconds_bucket{le=\"0.001\"} 2\n"
                        "x_save_seconds_bucket{le=\"0.01\"} 2\n"
                        "x_save_seconds_bucket{le=\"0.1\"} 3\n"
                        "x_save_seconds_bucket{le=\"+Inf\"} 4\n"
                        "x_save_seconds_sum 3.0515\n"
                        "x_save_seconds_count 4\n");
    free(s);
    metrics_free(m);
}
END_TEST

START_TEST(test_labelled_histogram_and_numbers)
{
    struct metrics *m = metrics_new();
    const double bounds[] = { 1 };
    struct metric_family *f = metrics_family(m, METRIC_HISTOGRAM, "x_d_seconds", "D.", "method",
                                             bounds, 1);
    const char *v[] = { "a" };
    metric_observe(metric_child(f, v), 0.1);
    struct metric *g = metrics_gauge(m, "x_g", "G.");
    char *s = render(m);
    ck_assert(strstr(s, "x_d_seconds_bucket{method=\"a\",le=\"1\"} 1\n"));
    ck_assert(strstr(s, "x_d_seconds_bucket{method=\"a\",le=\"+Inf\"} 1\n"));
    ck_assert(strstr(s, "x_d_seconds_sum{method=\"a\"} 0.1\n"));
    ck_assert(strstr(s, "x_d_seconds_count{method=\"a\"} 1\n"));
    free(s);
    const double vals[] = { NAN, INFINITY, -INFINITY, 1e20, 0.1 + 0.2, 12345678901234.0 };
    const char *want[] = { "x_g NaN\n", "x_g +Inf\n", "x_g -Inf\n", "x_g 1e+20\n",
                           "x_g 0.30000000000000004\n", "x_g 12345678901234\n" };
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        metric_set(g, vals[i]);
        s = render(m);
        ck_assert_msg(strstr(s, want[i]), "want %s in %s", want[i], s);
        free(s);
    }
    metrics_free(m);
}
END_TEST

START_TEST(test_labelled_family_without_children)
{
    struct metrics *m = metrics_new();
    metrics_family(m, METRIC_GAUGE, "x_shard_state", "State.", "shard,state", NULL, 0);
    char *s = render(m);
    ck_assert_str_eq(s, "# HELP x_shard_state State.\n# TYPE x_shard_state gauge\n");
    free(s);
    metrics_free(m);
}
END_TEST

static void collect(void *arg)
{
    struct metric *g = arg;
    metric_set(g, metric_value(g) + 10);
}

START_TEST(test_collect_runs_at_each_render)
{
    struct metrics *m = metrics_new();
    struct metric *g = metrics_gauge(m, "x_commit_index", "Commit.");
    metrics_on_collect(m, collect, g);
    free(render(m));
    char *s = render(m);
    ck_assert(strstr(s, "\nx_commit_index 20\n"));
    free(s);
    metrics_free(m);
}
END_TEST

struct stats {
    uint64_t a;
    int pad;
    uint64_t b;
};

START_TEST(test_fields_mirror_a_struct)
{
    static const struct metrics_field f[] = {
        { METRIC_COUNTER, "x_a_total", "A.", offsetof(struct stats, a) },
        { METRIC_GAUGE, "x_b_bytes", "B.", offsetof(struct stats, b) },
    };
    struct metrics *m = metrics_new();
    struct metric *out[2];
    metrics_fields(m, f, 2, out);
    struct stats st = { 7, 0, 1ull << 40 };
    metrics_fields_set(f, 2, out, &st);
    char *s = render(m);
    ck_assert_str_eq(s, "# HELP x_a_total A.\n# TYPE x_a_total counter\nx_a_total 7\n"
                        "# HELP x_b_bytes B.\n# TYPE x_b_bytes gauge\nx_b_bytes 1099511627776\n");
    free(s);
    metrics_free(m);
}
END_TEST

START_TEST(test_exp_buckets)
{
    double b[4];
    metrics_exp_buckets(0.0001, 10, 4, b);
    ck_assert(fabs(b[3] - 0.1) < 1e-12);
}
END_TEST

/* ---- the endpoint, over a real socket ---- */

static int probe(void *arg, char *reason, size_t len)
{
    if (*(bool *)arg)
        return 0;
    snprintf(reason, len, "no leader known");
    return 1;
}

START_TEST(test_http_endpoint)
{
    struct event_base *base = event_base_new();
    struct metrics *m = metrics_new();
    metric_add(metrics_counter(m, "x_total", "X."), 5);
    char err[256];
    ck_assert_ptr_null(metrics_http_new(base, "nonsense", m, err, sizeof err));
    ck_assert(strstr(err, "HOST:PORT"));
    struct metrics_http *h = metrics_http_new(base, "127.0.0.1:0", m, err, sizeof err);
    ck_assert_msg(h, "%s", err);
    bool healthy = false;
    metrics_http_probe(h, "/healthz", probe, &healthy);
    unsigned port = metrics_http_port(h);
    ck_assert_uint_gt(port, 0);
    /* A second endpoint on the same port cannot listen. */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    ck_assert_ptr_null(metrics_http_new(base, addr, m, err, sizeof err));
    ck_assert(strstr(err, "cannot serve metrics"));
    struct {
        const char *path;
        bool healthy;
        const char *want_status, *want_body;
    } cases[] = {
        { "/metrics", false, " 200 ", "x_total 5\n" },
        { "/healthz", false, " 503 ", "no leader known\n" },
        { "/healthz", true, " 200 ", "ok\n" },
        { "/nope", true, " 404 ", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        healthy = cases[i].healthy;
        FILE *p;
        char cmd[256];
        snprintf(cmd, sizeof cmd, "curl -s -i --max-time 5 http://127.0.0.1:%u%s", port,
                 cases[i].path);
        /* curl runs in the background; the loop serves until its output is complete. */
        char file[64];
        snprintf(file, sizeof file, "/tmp/test_metrics.%d.%zu", (int)getpid(), i);
        char bg[640];
        snprintf(bg, sizeof bg, "(%s > %s; echo >> %s.done) &", cmd, file, file);
        ck_assert_int_eq(system(bg), 0);
        char done[80];
        snprintf(done, sizeof done, "%s.done", file);
        for (int t = 0; t < 500 && access(done, F_OK) != 0; t++) {
            struct timeval tv = { 0, 10000 };
            event_base_loopexit(base, &tv);
            event_base_dispatch(base);
        }
        p = fopen(file, "r");
        ck_assert_ptr_nonnull(p);
        char out[8192];
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
        fclose(p);
        unlink(file);
        unlink(done);
        char *eol = strchr(out, '\n');
        ck_assert_ptr_nonnull(eol);
        *eol = '\0'; /* the status line */
        ck_assert_msg(strstr(out, cases[i].want_status), "%s: %s", cases[i].path, out);
        *eol = '\n';
        ck_assert_msg(strstr(out, cases[i].want_body), "%s: %s", cases[i].path, out);
        if (i == 0)
            ck_assert(strstr(out, "Content-Type: text/plain; version=0.0.4"));
    }
    metrics_http_free(h);
    metrics_free(m);
    event_base_free(base);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_counter_and_gauge_text);
    tcase_add_test(tc, test_labels_and_escaping);
    tcase_add_test(tc, test_histogram_text);
    tcase_add_test(tc, test_labelled_histogram_and_numbers);
    tcase_add_test(tc, test_labelled_family_without_children);
    tcase_add_test(tc, test_collect_runs_at_each_render);
    tcase_add_test(tc, test_fields_mirror_a_struct);
    tcase_add_test(tc, test_exp_buckets);
    tcase_add_test(tc, test_http_endpoint);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
