/* kv.Reply classified, kv.Command encoded: the kv layer (kvlayer.h). */
#include "clerk/kvlayer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kv.pb-c.h"

static bool classify(void *ctx, const uint8_t *payload, size_t len, struct clerk_reply *out)
{
    (void)ctx;
    Kv__Reply *r = kv__reply__unpack(NULL, len, payload);
    if (!r)
        return false;
    out->keep = r;
    switch (r->err) {
    case KV__ERR__TIMEOUT:
    case KV__ERR__SHUTTING_DOWN:
        out->verdict = CLERK_RETRY;
        snprintf(out->why, sizeof out->why, "%s",
                 r->err == KV__ERR__TIMEOUT ? "timed out" : "shutting down");
        return true;
    case KV__ERR__WRONG_LEADER:
        out->verdict = CLERK_WRONG_LEADER;
        out->hint_addr = r->leader_addr;
        snprintf(out->why, sizeof out->why, "%s",
                 r->leader_id ? "not the leader" : "no leader known");
        return true;
    case KV__ERR__NO_SPACE:
        /* The leader's answer (another server would only redirect there): at once. */
        out->verdict = CLERK_DONE;
        out->result = CLERK_NO_SPACE;
        snprintf(out->error, sizeof out->error, "not written: no space left on the data volume "
                 "of %s", r->leader_addr[0] ? r->leader_addr : out->server);
        return true;
    case KV__ERR__WRONG_GROUP:
        /* The group's answer for the shard (every member agrees once it applies): at once. */
        out->verdict = CLERK_DONE;
        out->result = CLERK_WRONG_GROUP;
        snprintf(out->error, sizeof out->error, "%s does not serve this key's shard now",
                 out->server);
        return true;
    default:
        out->verdict = CLERK_DONE;
        out->hint_addr = r->leader_addr; /* set when a follower relayed the call */
        out->result = r->err == KV__ERR__NO_KEY       ? CLERK_NO_KEY
                      : r->err == KV__ERR__CAS_FAILED ? CLERK_CAS_FAILED
                                                      : CLERK_OK;
        out->value = r->value.data;
        out->len = r->value.len;
        return true;
    }
}

static void release(void *ctx, struct clerk_reply *r)
{
    (void)ctx;
    kv__reply__free_unpacked(r->keep, NULL);
}

struct clerk_layer clerk_kv_layer(const char *method, const char *service)
{
    return (struct clerk_layer){ method, service, "kv.Reply", classify, release, NULL };
}

uint8_t *clerk_kv_command(const struct clerk_kv_req *r, uint64_t client_id, uint64_t seq,
                          size_t *len)
{
    static const Kv__OpType types[] = { KV__OP_TYPE__GET, KV__OP_TYPE__PUT, KV__OP_TYPE__APPEND,
                                        KV__OP_TYPE__DELETE, KV__OP_TYPE__CAS };
    Kv__Command cmd = KV__COMMAND__INIT;
    cmd.op = types[r->op];
    cmd.key.data = (uint8_t *)r->key;
    cmd.key.len = r->klen;
    cmd.value.data = (uint8_t *)r->val;
    cmd.value.len = r->vlen;
    cmd.want_prev = r->want_prev;
    cmd.expected.data = (uint8_t *)r->expected;
    cmd.expected.len = r->elen;
    cmd.expect_absent = r->expect_absent;
    if (r->op != CLERK_KV_GET) {
        cmd.client_id = client_id;
        cmd.seq = seq;
    }
    *len = kv__command__get_packed_size(&cmd);
    uint8_t *req = xmalloc(*len ? *len : 1);
    kv__command__pack(&cmd, req);
    return req;
}

static uint8_t *copy_bytes(const uint8_t *p, size_t len)
{
    uint8_t *c = xmalloc(len ? len : 1);
    if (len) /* p may be NULL when empty */
        memcpy(c, p, len);
    return c;
}

void clerk_kv_req_copy(struct clerk_kv_req *dst, const struct clerk_kv_req *src)
{
    *dst = *src;
    dst->key = copy_bytes(src->key, src->klen);
    dst->val = copy_bytes(src->val, src->vlen);
    dst->expected = copy_bytes(src->expected, src->elen);
}

void clerk_kv_req_release(struct clerk_kv_req *r)
{
    free((uint8_t *)r->key);
    free((uint8_t *)r->val);
    free((uint8_t *)r->expected);
    r->key = r->val = r->expected = NULL;
}
