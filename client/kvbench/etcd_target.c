/* The etcd target: etcd v3's JSON gateway (grpc-gateway) over HTTP/1.1 keep-alive, one
 * connection per client and one request in flight on it. A put is POST /v3/kv/put
 * {"key":"<base64>","value":"<base64>"}, a get is POST /v3/kv/range {"key":"<base64>"}
 * (linearizable by default). etcd has no append: an append is sent as a put of the same value.
 *
 * By default every client talks to the leader (found with POST /v3/maintenance/status on each
 * member at open), as kvd's clerks do; --all-endpoints spreads clients over the members, and
 * followers forward to the leader. */
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/clock.h"
#include "base/util.h"
#include "bench.h"
#include "http.h"

#define CT_JSON "application/json"
#define FIND_LEADER_MS 15000

struct etcd;

struct etcd_client {
    struct etcd *e;
    struct http_conn *conn;
    enum op_kind kind;
    op_done_fn done;
    void *arg;
};

struct etcd {
    struct event_base *base;
    struct etcd_client *clients;
    size_t n_clients;
    uint64_t timeout_ms;
    char *req;   /* scratch request body */
    size_t req_cap;
    uint8_t *val; /* scratch decoded value */
    size_t val_cap;
    char msg[256]; /* the current error's reason */
    char desc[256];
};

/* ---- tiny JSON helpers (the gateway's replies are flat enough) -------------------------- */

/* Finds "name":"<string>" in body[0..len) at or after from; the string has no escapes (base64,
 * decimal numbers as strings). Returns its start and sets *slen, or NULL. */
static const char *json_string(const char *body, size_t len, const char *from, const char *name,
                               size_t *slen)
{
    char pat[64];
    int plen = snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *end = body + len;
    for (const char *p = from; p && p + plen <= end; p++) {
        p = memchr(p, '"', (size_t)(end - p));
        if (!p || p + plen > end)
            return NULL;
        if (memcmp(p, pat, (size_t)plen) == 0) {
            const char *s = p + plen, *q = memchr(s, '"', (size_t)(end - s));
            if (!q)
                return NULL;
            *slen = (size_t)(q - s);
            return s;
        }
    }
    return NULL;
}

static const char *json_find(const char *body, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (const char *p = body; p + nl <= body + len; p++)
        if (memcmp(p, needle, nl) == 0)
            return p;
    return NULL;
}

/* ---- finding the leader ------------------------------------------------------------------ */

struct probe {
    char member[32], leader[32]; /* decimal ids as etcd prints them; "" until known */
    bool answered;
};

static void on_status(int status, const uint8_t *body, size_t len, void *arg)
{
    struct probe *p = arg;
    p->answered = true;
    size_t ml, ll;
    const char *b = (const char *)body;
    const char *m = status == 200 ? json_string(b, len, b, "member_id", &ml) : NULL;
    const char *l = status == 200 ? json_string(b, len, b, "leader", &ll) : NULL;
    if (m && l && ml < sizeof p->member && ll < sizeof p->leader) {
        memcpy(p->member, m, ml);
        p->member[ml] = '\0';
        memcpy(p->leader, l, ll);
        p->leader[ll] = '\0';
    }
}

/* Asks every member who leads until one member says it is the leader; returns its index, or
 * -1 after FIND_LEADER_MS. */
static long find_leader(struct event_base *base, const char *const *servers, size_t n, char *err,
                        size_t errlen)
{
    uint64_t start = clock_mono_ms();
    struct http_conn **conns = xcalloc(n, sizeof *conns);
    struct probe *probes = xcalloc(n, sizeof *probes);
    long leader = -1;
    for (size_t i = 0; i < n; i++)
        if (!(conns[i] = http_conn_new(base, servers[i], err, errlen)))
            goto out;
    snprintf(err, errlen, "no etcd member reported itself leader within %d s", FIND_LEADER_MS / 1000);
    while (leader < 0 && clock_mono_ms() - start < FIND_LEADER_MS) {
        for (size_t i = 0; i < n; i++) {
            probes[i] = (struct probe){ .answered = false };
            http_conn_post(conns[i], "/v3/maintenance/status", CT_JSON, "{}", 2, 1000, on_status,
                           &probes[i]);
        }
        for (size_t i = 0; i < n; i++)
            while (!probes[i].answered)
                event_base_loop(base, EVLOOP_ONCE);
        for (size_t i = 0; i < n && leader < 0; i++)
            if (probes[i].member[0] && strcmp(probes[i].member, probes[i].leader) == 0 &&
                strcmp(probes[i].leader, "0") != 0)
                leader = (long)i;
        if (leader < 0)
            clock_sleep_ms(200);
    }
out:
    for (size_t i = 0; i < n; i++)
        http_conn_free(conns[i]);
    free(conns);
    free(probes);
    return leader;
}

/* ---- operations --------------------------------------------------------------------------- */

static void etcd_close(void *t);

static void *etcd_open(const struct target_config *c, char *err, size_t errlen)
{
    struct etcd *e = xcalloc(1, sizeof *e);
    e->base = c->base;
    e->timeout_ms = c->op_timeout_ms;
    long leader = -1;
    if (!c->all_endpoints) {
        leader = find_leader(c->base, c->servers, c->n_servers, err, errlen);
        if (leader < 0) {
            free(e);
            return NULL;
        }
        snprintf(e->desc, sizeof e->desc, "every client on the leader, %s", c->servers[leader]);
    } else {
        snprintf(e->desc, sizeof e->desc, "clients spread over %zu members", c->n_servers);
    }
    e->n_clients = c->clients;
    e->clients = xcalloc(c->clients, sizeof *e->clients);
    for (size_t i = 0; i < c->clients; i++) {
        const char *addr = c->servers[leader >= 0 ? (size_t)leader : i % c->n_servers];
        e->clients[i].e = e;
        if (!(e->clients[i].conn = http_conn_new(c->base, addr, err, errlen))) {
            etcd_close(e);
            return NULL;
        }
    }
    return e;
}

static void finish(struct etcd_client *cl, enum op_outcome r, const uint8_t *value, size_t len,
                   const char *err)
{
    op_done_fn done = cl->done;
    cl->done = NULL;
    done(r, value, len, err, cl->arg);
}

static void on_reply(int status, const uint8_t *body, size_t len, void *arg)
{
    struct etcd_client *cl = arg;
    struct etcd *e = cl->e;
    const char *b = (const char *)body;
    if (status != 200) {
        if (status < 0)
            snprintf(e->msg, sizeof e->msg, "etcd: %s", http_error_name(status));
        else
            snprintf(e->msg, sizeof e->msg, "etcd: HTTP %d: %.*s", status, (int)MIN(len, 120), b);
        finish(cl, OUT_ERROR, NULL, 0, e->msg);
        return;
    }
    if (!json_find(b, len, "\"header\"")) {
        snprintf(e->msg, sizeof e->msg, "etcd: reply without a header: %.*s", (int)MIN(len, 120), b);
        finish(cl, OUT_ERROR, NULL, 0, e->msg);
        return;
    }
    if (cl->kind != OP_GET) {
        finish(cl, OUT_OK, NULL, 0, NULL);
        return;
    }
    const char *kvs = json_find(b, len, "\"kvs\":[");
    if (!kvs) {
        finish(cl, OUT_MISS, NULL, 0, NULL);
        return;
    }
    size_t vlen;
    const char *v = json_string(b, len, kvs, "value", &vlen);
    if (!v) {
        finish(cl, OUT_OK, NULL, 0, NULL); /* an empty value is left out of the reply */
        return;
    }
    if (vlen / 4 * 3 > e->val_cap) {
        e->val_cap = vlen / 4 * 3;
        e->val = xrealloc(e->val, e->val_cap);
    }
    long n = b64_decode(v, vlen, e->val);
    if (n < 0) {
        snprintf(e->msg, sizeof e->msg, "etcd: a value that is not base64");
        finish(cl, OUT_ERROR, NULL, 0, e->msg);
        return;
    }
    finish(cl, OUT_OK, e->val, (size_t)n, NULL);
}

static void etcd_issue(void *t, size_t client, enum op_kind kind, const uint8_t *key, size_t klen,
                       const uint8_t *val, size_t vlen, op_done_fn done, void *arg)
{
    struct etcd *e = t;
    struct etcd_client *cl = &e->clients[client];
    cl->kind = kind;
    cl->done = done;
    cl->arg = arg;
    size_t need = 32 + b64_encoded_len(klen) + (kind == OP_GET ? 0 : b64_encoded_len(vlen));
    if (need > e->req_cap) {
        e->req_cap = need;
        e->req = xrealloc(e->req, need);
    }
    size_t n = 0;
    memcpy(e->req, "{\"key\":\"", 8);
    n = 8;
    n += b64_encode(key, klen, e->req + n);
    if (kind != OP_GET) { /* put, and append sent as a put */
        memcpy(e->req + n, "\",\"value\":\"", 11);
        n += 11;
        n += b64_encode(val, vlen, e->req + n);
    }
    memcpy(e->req + n, "\"}", 2);
    n += 2;
    const char *path = kind == OP_GET ? "/v3/kv/range" : "/v3/kv/put";
    if (http_conn_post(cl->conn, path, CT_JSON, e->req, n, e->timeout_ms, on_reply, cl) != 0)
        finish(cl, OUT_ERROR, NULL, 0, "etcd: request already in flight");
}

static void etcd_close(void *t)
{
    struct etcd *e = t;
    if (!e)
        return;
    for (size_t i = 0; i < e->n_clients; i++)
        http_conn_free(e->clients[i].conn);
    free(e->clients);
    free(e->req);
    free(e->val);
    free(e);
}

static const char *etcd_describe(void *t) { return ((struct etcd *)t)->desc; }

const struct target_ops etcd_target = { "etcd", etcd_open, etcd_issue, etcd_close, etcd_describe };
