#include "simclerk.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "simkv.h"

/* lib/clerk's constants (clerk.c). */
#define BACKOFF_MIN_MS 5
#define BACKOFF_MAX_MS 200

struct op {
    uint8_t *cmd;
    size_t len;
    clerk_done_fn done;
    void *arg;
    struct op *next;
};

struct simclerk {
    struct simnet *net;
    struct simnet_ep *ep;
    size_t n;
    struct simclerk_opts o;
    struct rng rng;
    uint64_t id, seq;
    size_t leader;
    struct op *head, *tail;
    uint64_t started_ms, backoff_ms;
    uint64_t call_id, timer_id;
    bool finishing;
};

static void attempt(struct simclerk *c);

static void start_next(struct simclerk *c)
{
    if (!c->head)
        return;
    c->started_ms = simnet_now(c->net);
    c->backoff_ms = BACKOFF_MIN_MS;
    attempt(c);
}

static void finish(struct simclerk *c, enum clerk_result r, const uint8_t *value, size_t len)
{
    struct op *op = c->head;
    c->head = op->next;
    if (!c->head)
        c->tail = NULL;
    c->finishing = true;
    op->done(r, value, len, op->arg);
    c->finishing = false;
    free(op->cmd);
    free(op);
    start_next(c);
}

static void on_retry(void *arg)
{
    struct simclerk *c = arg;
    c->timer_id = 0;
    attempt(c);
}

static void retry(struct simclerk *c, bool moved)
{
    uint64_t spent = simnet_now(c->net) - c->started_ms;
    if (c->o.deadline_ms && spent >= c->o.deadline_ms) {
        finish(c, CLERK_TIMEOUT, NULL, 0);
        return;
    }
    if (moved) {
        attempt(c);
        return;
    }
    uint64_t delay = c->backoff_ms / 2 + rng_below(&c->rng, c->backoff_ms / 2 + 1);
    c->backoff_ms = MIN(c->backoff_ms * 2, BACKOFF_MAX_MS);
    c->timer_id = simnet_timer(c->net, delay, on_retry, c);
}

static size_t server_of(const struct simclerk *c, const char *addr)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(simkv_addr(i), addr) == 0)
            return i;
    return SIZE_MAX;
}

static void on_reply(enum simnet_status st, const uint8_t *payload, size_t len, void *arg)
{
    struct simclerk *c = arg;
    c->call_id = 0;
    Kv__Reply *r = st == SIMNET_OK ? kv__reply__unpack(NULL, len, payload) : NULL;
    if (!r) { /* no answer in time: the next server */
        c->leader = (c->leader + 1) % c->n;
        retry(c, false);
        return;
    }
    if (r->err == KV__ERR__TIMEOUT || r->err == KV__ERR__SHUTTING_DOWN) {
        c->leader = (c->leader + 1) % c->n;
        kv__reply__free_unpacked(r, NULL);
        retry(c, false);
        return;
    }
    if (r->err == KV__ERR__WRONG_LEADER) {
        size_t hint = r->leader_addr[0] ? server_of(c, r->leader_addr) : SIZE_MAX;
        bool moved = hint != SIZE_MAX && hint != c->leader;
        c->leader = hint != SIZE_MAX ? hint : (c->leader + 1) % c->n;
        kv__reply__free_unpacked(r, NULL);
        retry(c, moved);
        return;
    }
    enum clerk_result res = r->err == KV__ERR__NO_KEY     ? CLERK_NO_KEY
                            : r->err == KV__ERR__NO_SPACE ? CLERK_NO_SPACE
                                                          : CLERK_OK;
    finish(c, res, r->value.data, r->value.len);
    kv__reply__free_unpacked(r, NULL);
}

static void attempt(struct simclerk *c)
{
    uint64_t timeout = c->o.attempt_ms;
    if (c->o.deadline_ms) {
        uint64_t spent = simnet_now(c->net) - c->started_ms;
        if (spent >= c->o.deadline_ms) {
            finish(c, CLERK_TIMEOUT, NULL, 0);
            return;
        }
        timeout = MIN(timeout, c->o.deadline_ms - spent);
    }
    c->call_id = simnet_call(c->ep, c->leader, c->head->cmd, c->head->len, MAX(timeout, 1),
                             on_reply, c);
}

static void enqueue(struct simclerk *c, Kv__OpType type, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    Kv__Command cmd = KV__COMMAND__INIT;
    cmd.op = type;
    cmd.key.data = (uint8_t *)key;
    cmd.key.len = klen;
    cmd.value.data = (uint8_t *)val;
    cmd.value.len = vlen;
    cmd.want_prev = want_prev;
    if (type != KV__OP_TYPE__GET) {
        cmd.client_id = c->id;
        cmd.seq = ++c->seq;
    }
    struct op *op = xcalloc(1, sizeof *op);
    op->len = kv__command__get_packed_size(&cmd);
    op->cmd = xmalloc(op->len ? op->len : 1);
    kv__command__pack(&cmd, op->cmd);
    op->done = done;
    op->arg = arg;
    bool idle = c->head == NULL && !c->finishing;
    if (c->tail)
        c->tail->next = op;
    else
        c->head = op;
    c->tail = op;
    if (idle)
        start_next(c);
}

void simclerk_get(struct simclerk *c, const uint8_t *key, size_t klen, clerk_done_fn done,
                  void *arg)
{
    enqueue(c, KV__OP_TYPE__GET, key, klen, NULL, 0, false, done, arg);
}

void simclerk_put(struct simclerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__PUT, key, klen, val, vlen, false, done, arg);
}

void simclerk_append(struct simclerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, bool want_prev, clerk_done_fn done, void *arg)
{
    enqueue(c, KV__OP_TYPE__APPEND, key, klen, val, vlen, want_prev, done, arg);
}

struct simclerk *simclerk_new(struct simnet *net, size_t n, const struct simclerk_opts *o)
{
    struct simclerk *c = xcalloc(1, sizeof *c);
    c->net = net;
    c->ep = simnet_ep_new(net);
    c->n = n;
    c->o = *o;
    rng_seed(&c->rng, o->seed);
    do {
        c->id = rng_next(&c->rng);
    } while (c->id == 0);
    c->leader = rng_below(&c->rng, n);
    return c;
}

void simclerk_free(struct simclerk *c)
{
    if (!c)
        return;
    simnet_ep_free(c->ep); /* cancels the call in flight */
    if (c->timer_id)
        simnet_timer_cancel(c->net, c->timer_id);
    while (c->head) {
        struct op *op = c->head;
        c->head = op->next;
        free(op->cmd);
        free(op);
    }
    free(c);
}

struct simnet_ep *simclerk_ep(struct simclerk *c) { return c->ep; }
uint64_t simclerk_client_id(const struct simclerk *c) { return c->id; }
