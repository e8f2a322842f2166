/* kvload: a client load for chaos tests that records its history. N clerks append unique
 * elements to a few keys and read them back for --duration (kv clerks on --servers, a kvd
 * cluster; or, with --ctrlers, shard clerks on a sharded cluster); every operation goes into a
 * linearizability history (an operation that timed out is recorded without a return: it may or
 * may not have happened). At the end it reads every key once more, checks that each
 * acknowledged append is there exactly once (unacknowledged ones at most once), writes the
 * history (--history FILE, JSON lines) and checks it with lincheck.
 * Exit status: 0 linearizable and no acknowledged write lost; 1 otherwise; 2 usage. */
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lincheck/lincheck.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "clerk/clerk.h"
#include "clerk/shard.h"

struct opts {
    char *servers, *ctrlers, *history;
    int64_t clients, keys;
    uint64_t duration_ms, op_timeout_ms, pace_ms;
};

static const struct config_option options[] = {
    { "", "servers", "servers", CONFIG_STRING, offsetof(struct opts, servers), "127.0.0.1:7101", 0,
      0, "kvd nodes, comma-separated" },
    { "", "ctrlers", "ctrlers", CONFIG_STRING, offsetof(struct opts, ctrlers), NULL, 0, 0,
      "a sharded cluster's shardctrld nodes, comma-separated (then --servers is not used)" },
    { "", "history", "history", CONFIG_STRING, offsetof(struct opts, history), NULL, 0, 0,
      "write the history here (JSON lines)" },
    { "", "clients", "clients", CONFIG_INT, offsetof(struct opts, clients), "8", 1, 1000,
      "concurrent clerks" },
    { "", "keys", "keys", CONFIG_INT, offsetof(struct opts, keys), "4", 1, 1000, "keys used" },
    { "", "duration", "duration", CONFIG_DURATION, offsetof(struct opts, duration_ms), "30s", 1,
      86400000, "how long to run" },
    { "", "op_timeout", "op-timeout", CONFIG_DURATION, offsetof(struct opts, op_timeout_ms), "5s", 1,
      600000, "give up on one operation after this long (recorded as unknown outcome)" },
    { "", "pace", "pace", CONFIG_DURATION, offsetof(struct opts, pace_ms), "0", 0, 60000,
      "pause between one client's operations (keeps histories checkable)" },
};

static const struct config_spec spec = {
    "kvload", "[OPTION]...", "Records a checked history of appends and reads against kvd or a sharded cluster.",
    options, ARRAY_LEN(options),
};

struct load;

struct worker {
    struct load *l;
    struct clerk *clerk;       /* kvd */
    struct shard_clerk *sc;    /* a sharded cluster */
    struct event *pause;
    int id;
    long n;
    size_t op_index, elem_index;
    char key[40], elem[48];
    bool is_get;
};

struct elem_state {
    char *elem;
    int key;
    bool acked;
};

struct load {
    const struct opts *o;
    unsigned run;          /* keys are "r<run>.k<i>": a run starts from empty keys */
    struct event_base *base;
    struct lin_history h;
    uint64_t t0, end_ms;
    long ok, timed_out, gets;
    struct elem_state *elems;
    size_t nelems, cap;
    int running;
};

static int64_t now_ns(const struct load *l) { return (int64_t)(clock_mono_ns() - l->t0); }

static void next_op(struct worker *w);

static void on_pause(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    next_op(arg);
}

/* The next operation, after the pause (if any). */
static void schedule(struct worker *w)
{
    uint64_t ms = w->l->o->pace_ms;
    if (ms == 0) {
        next_op(w);
        return;
    }
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(w->pause, &tv);
}

static void on_done(enum clerk_result r, const uint8_t *value, size_t len, void *arg)
{
    struct worker *w = arg;
    struct load *l = w->l;
    if (r == CLERK_TIMEOUT) {
        l->timed_out++; /* no return recorded: the outcome is unknown */
    } else {
        l->ok++;
        if (w->is_get)
            lin_history_return(&l->h, w->op_index, (const char *)value, len, now_ns(l));
        else
            lin_history_return(&l->h, w->op_index, NULL, 0, now_ns(l));
    }
    if (!w->is_get && r != CLERK_TIMEOUT)
        l->elems[w->elem_index].acked = true;
    schedule(w);
}

static void next_op(struct worker *w)
{
    struct load *l = w->l;
    if (clock_mono_ms() >= l->end_ms) {
        l->running--;
        if (l->running == 0)
            event_base_loopexit(l->base, NULL);
        return;
    }
    int k = rand() % (int)l->o->keys;
    snprintf(w->key, sizeof w->key, "r%u.k%d", l->run, k);
    w->is_get = rand() % 10 < 3;
    if (w->is_get) {
        lin_history_call(&l->h, w->id, LIN_GET, w->key, strlen(w->key), "", 0, now_ns(l), &w->op_index);
        l->gets++;
        if (w->sc)
            shard_clerk_get(w->sc, (const uint8_t *)w->key, strlen(w->key), on_done, w);
        else
            clerk_get(w->clerk, (const uint8_t *)w->key, strlen(w->key), on_done, w);
        return;
    }
    snprintf(w->elem, sizeof w->elem, "x%d.%ldy", w->id, w->n++);
    if (l->nelems == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->elems = xrealloc(l->elems, l->cap * sizeof *l->elems);
    }
    w->elem_index = l->nelems;
    l->elems[l->nelems++] = (struct elem_state){ xstrdup(w->elem), k, false };
    lin_history_call(&l->h, w->id, LIN_APPEND, w->key, strlen(w->key), w->elem, strlen(w->elem),
                     now_ns(l), &w->op_index);
    if (w->sc)
        shard_clerk_append(w->sc, (const uint8_t *)w->key, strlen(w->key), (const uint8_t *)w->elem,
                           strlen(w->elem), false, on_done, w);
    else
        clerk_append(w->clerk, (const uint8_t *)w->key, strlen(w->key), (const uint8_t *)w->elem,
                     strlen(w->elem), false, on_done, w);
}

static size_t count(const char *hay, size_t len, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            n++;
    return n;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (config_from_args_or_exit(&spec, argc, argv, &o) != argc) {
        fprintf(stderr, "kvload: unexpected argument\n");
        return 2;
    }
    log_setup(LOG_ERROR, "kvload", NULL);
    srand((unsigned)clock_wall_ns());
    bool sharded = o.ctrlers && o.ctrlers[0];
    char **servers = NULL;
    size_t n = split_list(sharded ? o.ctrlers : o.servers, &servers);
    struct load l = { .o = &o, .base = event_base_new(), .t0 = clock_mono_ns(),
                      .run = (unsigned)(clock_wall_ns() % 1000000000u) };
    lin_history_init(&l.h);
    char err[256];
    /* kvd: one connection per server, shared by the clerks; sharded: each shard clerk has its
     * own (to the controller and, per group, to its servers). */
    struct clerk_net *net = sharded ? NULL
                                    : clerk_net_new(l.base, (const char *const *)servers, n, err,
                                                    sizeof err);
    if (!sharded && !net) {
        fprintf(stderr, "kvload: %s\n", err);
        return 2;
    }
    struct clerk_opts co;
    clerk_opts_default(&co);
    co.deadline_ms = o.op_timeout_ms;
    struct worker *ws = xcalloc((size_t)o.clients, sizeof *ws);
    l.end_ms = clock_mono_ms() + o.duration_ms;
    l.running = (int)o.clients;
    for (int64_t i = 0; i < o.clients; i++) {
        ws[i] = (struct worker){ .l = &l, .id = (int)i + 1 };
        if (sharded)
            ws[i].sc = shard_clerk_new(l.base, (const char *const *)servers, n, &co, err, sizeof err);
        else
            ws[i].clerk = clerk_new(net, &co);
        if (sharded && !ws[i].sc) {
            fprintf(stderr, "kvload: %s\n", err);
            return 2;
        }
        ws[i].pause = evtimer_new(l.base, on_pause, &ws[i]);
        next_op(&ws[i]);
    }
    event_base_dispatch(l.base);
    /* Final reads (no deadline: the cluster has healed when the test asks for them). */
    int lost = 0, duplicated = 0;
    struct clerk_sync *cs = sharded ? NULL
                                    : clerk_sync_new((const char *const *)servers, n, NULL, err,
                                                     sizeof err);
    struct shard_sync *ss = sharded ? shard_sync_new((const char *const *)servers, n, NULL, err,
                                                     sizeof err)
                                    : NULL;
    for (int64_t k = 0; k < o.keys && (cs || ss); k++) {
        char key[40];
        snprintf(key, sizeof key, "r%u.k%lld", l.run, (long long)k);
        size_t idx;
        lin_history_call(&l.h, 0, LIN_GET, key, strlen(key), "", 0, now_ns(&l), &idx);
        uint8_t *v = NULL;
        size_t vl = 0;
        enum clerk_result r = ss ? shard_sync_get(ss, key, &v, &vl) : clerk_sync_get(cs, key, &v, &vl);
        lin_history_return(&l.h, idx, (const char *)v, vl, now_ns(&l));
        for (size_t e = 0; e < l.nelems; e++) {
            if (l.elems[e].key != (int)k)
                continue;
            size_t c = r == CLERK_TIMEOUT ? 0 : count((const char *)v, vl, l.elems[e].elem);
            if (c > 1)
                duplicated++;
            if (c == 0 && l.elems[e].acked)
                lost++;
        }
        free(v);
    }
    clerk_sync_free(cs);
    shard_sync_free(ss);
    if (o.history) {
        if (lin_history_write_jsonl(&l.h, o.history, err, sizeof err) != 0)
            fprintf(stderr, "kvload: %s\n", err);
    }
    struct lin_report rep;
    enum lin_result res = lin_check(&l.h, LIN_TIMEOUT_DEFAULT_MS, &rep);
    char summary[512];
    lin_report_summary(&rep, summary, sizeof summary);
    printf("kvload: %ld operations acknowledged (%ld reads), %ld timed out (unknown outcome); "
           "%d acknowledged appends lost, %d duplicated; lincheck: %s\n",
           l.ok, l.gets, l.timed_out, lost, duplicated, summary);
    if (res == LIN_ILLEGAL && rep.explanation)
        printf("%s\n", rep.explanation);
    lin_report_free(&rep);
    for (int64_t i = 0; i < o.clients; i++) {
        clerk_free(ws[i].clerk);
        shard_clerk_free(ws[i].sc);
        event_free(ws[i].pause);
    }
    clerk_net_free(net);
    event_base_free(l.base);
    for (size_t e = 0; e < l.nelems; e++)
        free(l.elems[e].elem);
    free(l.elems);
    free(ws);
    strv_free(servers, n);
    lin_history_free(&l.h);
    config_free(&spec, &o);
    return res == LIN_OK && lost == 0 && duplicated == 0 ? 0 : 1;
}
