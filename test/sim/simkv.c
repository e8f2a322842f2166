#include "simkv.h"

#include <stdlib.h>

#include "base/util.h"
#include "kv.pb-c.h"
#include "kv/codec.h"
#include "../../daemons/kvd/machine.h"

struct simkv {
    struct simsvc *svc;
    int bugs;
};

static struct node_sm create(void *arg, size_t node)
{
    (void)node;
    struct simkv *k = arg;
    struct kvd_machine *m = xcalloc(1, sizeof *m);
    m->kv = kv_new();
    kv_set_planted_bug(m->kv, k->bugs);
    return kvd_state_machine(m);
}

static void destroy(void *arg, size_t node, void *ctx)
{
    (void)arg;
    (void)node;
    struct kvd_machine *m = ctx;
    kv_free(m->kv);
    free(m);
}

static enum simsvc_kind classify(void *arg, const uint8_t *req, size_t len, void **read)
{
    (void)arg;
    Kv__Command *c = kv__command__unpack(NULL, len, req);
    if (!c || !kv_codec_op_known(c->op)) {
        if (c)
            kv__command__free_unpacked(c, NULL);
        return SIMSVC_DROP;
    }
    if (c->op == KV__OP_TYPE__GET) {
        *read = c;
        return SIMSVC_READ;
    }
    kv__command__free_unpacked(c, NULL);
    return SIMSVC_WRITE;
}

static void answer(void *arg, void *ctx, void *read, uint8_t **reply, size_t *len)
{
    (void)arg;
    Kv__Command *get = read;
    kv_codec_get(((struct kvd_machine *)ctx)->kv, get->key.data, get->key.len, reply, len);
}

static void read_free(void *arg, void *read)
{
    (void)arg;
    kv__command__free_unpacked(read, NULL);
}

static void error(void *arg, enum simsvc_err err, void *read, uint32_t leader_id,
                  const char *leader_addr, uint8_t **reply, size_t *len)
{
    (void)arg;
    (void)read;
    Kv__Reply r = KV__REPLY__INIT;
    r.err = err == SIMSVC_NO_SPACE ? KV__ERR__NO_SPACE : KV__ERR__WRONG_LEADER;
    r.leader_id = leader_id;
    r.leader_addr = (char *)leader_addr;
    *len = kv__reply__get_packed_size(&r);
    *reply = xmalloc(*len ? *len : 1);
    kv__reply__pack(&r, *reply);
}

static const struct simsvc_ops kv_ops = { create, destroy, classify, answer, read_free, NULL,
                                          error,  NULL,    NULL };

struct simkv *simkv_new(int kv_bugs)
{
    struct simkv *k = xcalloc(1, sizeof *k);
    k->bugs = kv_bugs;
    k->svc = simsvc_new(&kv_ops, k);
    return k;
}

struct simsvc *simkv_svc(struct simkv *k) { return k->svc; }

void simkv_free(struct simkv *k)
{
    if (!k)
        return;
    simsvc_free(k->svc);
    free(k);
}

struct kv *simkv_kv(struct simkv *k, size_t i)
{
    struct kvd_machine *m = simsvc_ctx(k->svc, i);
    return m ? m->kv : NULL;
}
