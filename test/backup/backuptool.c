/* backuptool: the loads and checks of test/backup/test-backup.sh (kvcli snapshot save under a
 * write load, restore into a new cluster). Keys are k000000.. k(N-1); every value is a decimal
 * counter and a padding (PAD: "0:pppp...", so that 100,000 keys make a snapshot of several MB,
 * several chunks): the preload writes 0, the churn writes 1, 2, 3... to each of the first HOT
 * keys, one client per key, so a key's value only grows.
 *
 *   backuptool load SERVERS N CLIENTS
 *       puts every key to "0" (CLIENTS clerks at once)
 *   backuptool churn SERVERS HOT CLIENTS SECONDS LOG
 *       for SECONDS, puts ever higher counters to keys 0..HOT-1; LOG gets one line per put:
 *       key counter issued_ms acked_ms (wall clock ms; acked 0: no answer)
 *   backuptool check FILE N LOG T_START T_END [SERVERS CLIENTS]
 *       the backup FILE's state (kv codec) must hold exactly the N keys; an untouched key "0";
 *       a churned key a counter between the last one acknowledged before T_START and the last
 *       one issued before T_END (the snapshot's index lies between the save's start and end);
 *       with SERVERS, every key read from that cluster must equal FILE's value.
 * Every loop is bounded: operations have a 10 s deadline, and the churn stops at SECONDS. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "clerk/clerk.h"
#include "kv/codec.h"
#include "node/snapfile.h"

#define OP_DEADLINE_MS 10000
#define PAD ":pppppppppppppppppppppppppppppppppppppppp"

/* The value of counter c, in buf (64 bytes). */
static size_t value_of(uint64_t c, char *buf)
{
    return (size_t)snprintf(buf, 64, "%llu%s", (unsigned long long)c, PAD);
}

static uint64_t wall_ms(void) { return clock_wall_ns() / 1000000; }

/* (keys below 10^7: 8 bytes) */
static void key_of(uint64_t i, char *buf) { snprintf(buf, 16, "k%06u", (unsigned)(i % 10000000)); }

/* ---- many clerks on one loop --------------------------------------------------------------- */

struct run;

struct worker {
    struct run *run;
    struct clerk *clerk;
    uint64_t next;  /* the next key index of this worker (i, i + clients, ...) */
    uint64_t cur;   /* the key of the operation in flight */
    size_t rec;     /* churn: its record */
};

struct record {
    uint32_t key;
    uint64_t counter, issued_ms, acked_ms;
};

struct run {
    struct event_base *base;
    struct clerk_net *net;
    struct worker *w;
    size_t n_workers, active;
    uint64_t n_keys;          /* load/read: keys; churn: hot keys */
    uint64_t stop_ms;         /* churn: no new put after this */
    uint64_t *counter;        /* churn: per hot key */
    struct record *recs;
    size_t n_recs, cap_recs;
    const struct kv *expect;  /* read: the file's state */
    uint64_t failures, mismatches, done_ops;
};

static void step(struct worker *w);

static void finished(struct worker *w)
{
    if (--w->run->active == 0)
        event_base_loopbreak(w->run->base);
}

static void on_put(enum clerk_result r, const uint8_t *v, size_t len, void *arg)
{
    (void)v, (void)len;
    struct worker *w = arg;
    struct run *run = w->run;
    if (r != CLERK_OK) {
        if (run->failures++ < 5)
            fprintf(stderr, "backuptool: put failed: %s\n", clerk_error(w->clerk));
    } else {
        run->done_ops++;
        if (run->recs)
            run->recs[w->rec].acked_ms = wall_ms();
    }
    step(w);
}

static void on_get(enum clerk_result r, const uint8_t *v, size_t len, void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    char key[16];
    key_of(w->cur, key);
    struct kv_result want;
    kv_get(run->expect, (const uint8_t *)key, strlen(key), &want);
    if (r != CLERK_OK || want.err != KV_OK || len != want.vlen || memcmp(v, want.value, len)) {
        if (run->mismatches++ < 5)
            fprintf(stderr, "backuptool: %s: the restored cluster gives %s '%.*s', the file '%.*s'\n",
                    key, r == CLERK_OK ? "" : clerk_error(w->clerk), (int)(r == CLERK_OK ? len : 0),
                    (const char *)v, (int)want.vlen, (const char *)want.value);
    }
    run->done_ops++;
    step(w);
}

/* The worker's next operation, or its end. */
static void step(struct worker *w)
{
    struct run *run = w->run;
    char key[16], val[64];
    if (run->recs) { /* churn */
        if (wall_ms() >= run->stop_ms || run->failures > 100) {
            finished(w);
            return;
        }
        uint64_t k = w->next;
        w->next += run->n_workers;
        if (w->next >= run->n_keys)
            w->next = (size_t)(w - run->w);
        if (run->n_recs == run->cap_recs)
            run->recs = xrealloc(run->recs, (run->cap_recs *= 2) * sizeof *run->recs);
        w->rec = run->n_recs++;
        uint64_t c = ++run->counter[k];
        run->recs[w->rec] = (struct record){ (uint32_t)k, c, wall_ms(), 0 };
        key_of(k, key);
        size_t vlen = value_of(c, val);
        clerk_put(w->clerk, (uint8_t *)key, strlen(key), (uint8_t *)val, vlen, false, on_put, w);
        return;
    }
    if (w->next >= run->n_keys || run->failures > 100) {
        finished(w);
        return;
    }
    w->cur = w->next;
    w->next += run->n_workers;
    key_of(w->cur, key);
    if (run->expect)
        clerk_get(w->clerk, (uint8_t *)key, strlen(key), on_get, w);
    else
        clerk_put(w->clerk, (uint8_t *)key, strlen(key), (uint8_t *)val, value_of(0, val), false,
                  on_put, w);
}

/* Runs clients workers over servers until each is done. Returns 0, or -1 (printed). */
static int run_workers(struct run *run, const char *servers, size_t clients)
{
    char **sv, err[256];
    size_t n = split_list(servers, &sv);
    run->base = event_base_new();
    run->net = clerk_net_new(run->base, (const char *const *)sv, n, err, sizeof err);
    strv_free(sv, n);
    if (!run->net) {
        fprintf(stderr, "backuptool: %s\n", err);
        return -1;
    }
    struct clerk_opts co;
    clerk_opts_default(&co);
    co.deadline_ms = OP_DEADLINE_MS;
    run->n_workers = run->active = clients;
    run->w = xcalloc(clients, sizeof *run->w);
    for (size_t i = 0; i < clients; i++) {
        run->w[i] = (struct worker){ run, clerk_new(run->net, &co), i, 0, 0 };
        step(&run->w[i]);
    }
    if (run->active > 0)
        event_base_dispatch(run->base);
    for (size_t i = 0; i < clients; i++)
        clerk_free(run->w[i].clerk);
    free(run->w);
    clerk_net_free(run->net);
    event_base_free(run->base);
    return 0;
}

/* ---- the commands ---------------------------------------------------------------------------- */

static int cmd_load(const char *servers, uint64_t n, size_t clients)
{
    struct run run = { .n_keys = n };
    uint64_t t0 = clock_mono_ms();
    if (run_workers(&run, servers, clients) != 0)
        return 1;
    double s = (double)(clock_mono_ms() - t0) / 1000.0;
    printf("loaded %llu keys in %.1f s (%.0f puts/s), %llu failures\n",
           (unsigned long long)run.done_ops, s, (double)run.done_ops / s,
           (unsigned long long)run.failures);
    return run.failures || run.done_ops != n ? 1 : 0;
}

static int cmd_churn(const char *servers, uint64_t hot, size_t clients, uint64_t secs,
                     const char *log)
{
    struct run run = { .n_keys = hot, .stop_ms = wall_ms() + secs * 1000 };
    run.counter = xcalloc(hot, sizeof *run.counter);
    run.cap_recs = 1024;
    run.recs = xmalloc(run.cap_recs * sizeof *run.recs);
    int rc = run_workers(&run, servers, clients < hot ? clients : hot);
    FILE *f = fopen(log, "w");
    for (size_t i = 0; f && i < run.n_recs; i++)
        fprintf(f, "%u %llu %llu %llu\n", run.recs[i].key, (unsigned long long)run.recs[i].counter,
                (unsigned long long)run.recs[i].issued_ms, (unsigned long long)run.recs[i].acked_ms);
    if (!f || fclose(f) != 0)
        rc = -1;
    printf("churn: %llu puts acknowledged of %zu issued on %llu keys in %llu s, %llu failures\n",
           (unsigned long long)run.done_ops, run.n_recs, (unsigned long long)hot,
           (unsigned long long)secs, (unsigned long long)run.failures);
    free(run.counter);
    free(run.recs);
    return rc == 0 && run.done_ops > 0 ? 0 : 1;
}

/* Per churned key: the last counter acknowledged before t_start (lo) and the last issued
 * before t_end (hi). */
static int read_bounds(const char *log, uint64_t n, uint64_t t_start, uint64_t t_end,
                       uint64_t *lo, uint64_t *hi, bool *touched)
{
    FILE *f = fopen(log, "r");
    if (!f) {
        perror(log);
        return -1;
    }
    unsigned key;
    unsigned long long c, issued, acked;
    while (fscanf(f, "%u %llu %llu %llu", &key, &c, &issued, &acked) == 4) {
        if (key >= n)
            continue;
        touched[key] = true;
        if (acked && acked < t_start && c > lo[key])
            lo[key] = c;
        if (issued <= t_end && c > hi[key])
            hi[key] = c;
    }
    fclose(f);
    return 0;
}

static int cmd_check(const char *file, uint64_t n, const char *log, uint64_t t_start,
                     uint64_t t_end, const char *servers, size_t clients)
{
    struct snapfile_meta m;
    uint8_t *payload;
    char err[512];
    if (snapfile_read(file, &m, &payload, err, sizeof err) != 0) {
        fprintf(stderr, "backuptool: %s\n", err);
        return 1;
    }
    struct kv *kv = kv_new();
    if (kv_codec_restore(kv, payload, m.payload_len) != 0) {
        fprintf(stderr, "backuptool: %s: not a kv snapshot\n", file);
        return 1;
    }
    free(payload);
    uint64_t *lo = xcalloc(n, sizeof *lo), *hi = xcalloc(n, sizeof *hi);
    bool *touched = xcalloc(n, sizeof *touched);
    if (read_bounds(log, n, t_start, t_end, lo, hi, touched) != 0)
        return 1;
    struct kv_stats st;
    kv_stats(kv, &st);
    uint64_t bad = 0, churned = 0, moved = 0;
    if (st.keys != n) {
        fprintf(stderr, "backuptool: the file holds %llu keys, not %llu\n",
                (unsigned long long)st.keys, (unsigned long long)n);
        bad++;
    }
    for (uint64_t i = 0; i < n; i++) {
        char key[16], val[64], want[64];
        key_of(i, key);
        struct kv_result r;
        kv_get(kv, (const uint8_t *)key, strlen(key), &r);
        uint64_t v = UINT64_MAX;
        if (r.err == KV_OK && r.vlen < sizeof val) {
            memcpy(val, r.value, r.vlen);
            val[r.vlen] = '\0';
            char *colon = strchr(val, ':');
            if (colon)
                *colon = '\0';
            if (!colon || parse_u64(val, &v) != 0 || r.vlen != value_of(v, want) ||
                memcmp(r.value, want, r.vlen) != 0)
                v = UINT64_MAX;
        }
        churned += touched[i];
        moved += touched[i] && v > lo[i];
        if (v < lo[i] || v > hi[i]) {
            if (bad++ < 5)
                fprintf(stderr, "backuptool: %s is %s in the file; the snapshot must hold a "
                        "counter in [%llu, %llu]\n", key, v == UINT64_MAX ? "missing or malformed" : val,
                        (unsigned long long)lo[i], (unsigned long long)hi[i]);
        }
    }
    printf("file: index %llu, term %llu, %llu keys; %llu churned keys within their bounds (%llu "
           "past the last value acknowledged before the save), %llu bad\n",
           (unsigned long long)m.index, (unsigned long long)m.term, (unsigned long long)st.keys,
           (unsigned long long)(churned - (bad < churned ? bad : churned)),
           (unsigned long long)moved, (unsigned long long)bad);
    int rc = bad ? 1 : 0;
    if (servers && rc == 0) {
        struct run run = { .n_keys = n, .expect = kv };
        uint64_t t0 = clock_mono_ms();
        if (run_workers(&run, servers, clients) != 0)
            rc = 1;
        printf("restored cluster: %llu keys read in %.1f s, %llu differ from the file\n",
               (unsigned long long)run.done_ops, (double)(clock_mono_ms() - t0) / 1000.0,
               (unsigned long long)run.mismatches);
        if (run.mismatches || run.done_ops != n)
            rc = 1;
    }
    free(lo);
    free(hi);
    free(touched);
    kv_free(kv);
    return rc;
}

static uint64_t num(const char *s)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0) {
        fprintf(stderr, "backuptool: '%s' is not a number\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    log_setup(LOG_ERROR, "backuptool", NULL);
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "load") == 0 && argc == 5)
        return cmd_load(argv[2], num(argv[3]), num(argv[4]));
    if (strcmp(cmd, "churn") == 0 && argc == 7)
        return cmd_churn(argv[2], num(argv[3]), num(argv[4]), num(argv[5]), argv[6]);
    if (strcmp(cmd, "check") == 0 && (argc == 7 || argc == 9))
        return cmd_check(argv[2], num(argv[3]), argv[4], num(argv[5]), num(argv[6]),
                         argc == 9 ? argv[7] : NULL, argc == 9 ? num(argv[8]) : 0);
    if (strcmp(cmd, "now") == 0) {
        printf("%llu\n", (unsigned long long)wall_ms());
        return 0;
    }
    fprintf(stderr, "usage: backuptool load SERVERS N CLIENTS | churn SERVERS HOT CLIENTS SECONDS "
                    "LOG | check FILE N LOG T_START T_END [SERVERS CLIENTS] | now\n");
    return 2;
}
