#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *op_kind_name(enum op_kind k)
{
    static const char *const names[] = { "put", "get", "append" };
    return (unsigned)k < OP_KINDS ? names[k] : "?";
}

int workload_parse_mix(struct workload *w, const char *mix, char *err, size_t errlen)
{
    unsigned weight[OP_KINDS] = { 0 };
    char *copy = xstrdup(mix), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        uint64_t v;
        int kind = -1;
        if (eq) {
            *eq = '\0';
            for (int k = 0; k < OP_KINDS; k++)
                if (strcmp(item, op_kind_name((enum op_kind)k)) == 0)
                    kind = k;
        }
        if (kind < 0 || parse_u64(eq + 1, &v) != 0 || v > 1000000) {
            snprintf(err, errlen, "--mix: expected put=N,get=N,append=N, got '%s'", mix);
            rc = -1;
            break;
        }
        weight[kind] = (unsigned)v;
    }
    free(copy);
    if (rc == 0 && weight[OP_PUT] + weight[OP_GET] + weight[OP_APPEND] == 0) {
        snprintf(err, errlen, "--mix: every weight is 0");
        rc = -1;
    }
    if (rc == 0) {
        memcpy(w->weight, weight, sizeof weight);
        w->total = weight[OP_PUT] + weight[OP_GET] + weight[OP_APPEND];
    }
    return rc;
}

int workload_init(struct workload *w, uint64_t keys, size_t key_size, size_t value_size,
                  char *err, size_t errlen)
{
    uint64_t room = 1;
    for (size_t i = 0; i < key_size && room <= keys; i++)
        room *= 10;
    if (keys == 0 || room < keys) {
        snprintf(err, errlen, "--keys %llu do not fit in %zu-byte keys", (unsigned long long)keys,
                 key_size);
        return -1;
    }
    if (value_size == 0) {
        snprintf(err, errlen, "--value-size must be at least 1");
        return -1;
    }
    w->keys = keys;
    w->key_size = key_size;
    w->value_size = value_size;
    return 0;
}

enum op_kind workload_pick(const struct workload *w, struct rng *r)
{
    uint64_t x = rng_below(r, w->total);
    if (x < w->weight[OP_PUT])
        return OP_PUT;
    return x < w->weight[OP_PUT] + w->weight[OP_GET] ? OP_GET : OP_APPEND;
}

uint64_t workload_pick_key(const struct workload *w, struct rng *r) { return rng_below(r, w->keys); }

void workload_key(const struct workload *w, uint64_t idx, uint8_t *out)
{
    for (size_t i = w->key_size; i > 0; i--) {
        out[i - 1] = (uint8_t)('0' + idx % 10);
        idx /= 10;
    }
}

void workload_value(const struct workload *w, uint64_t stamp, uint8_t *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < w->value_size; i++)
        out[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < 16 && i < w->value_size; i++)
        out[i] = (uint8_t)hex[(stamp >> (60 - 4 * i)) & 15];
}

bool workload_value_ok(const struct workload *w, size_t len)
{
    return len > 0 && len % w->value_size == 0;
}

void workload_describe_mix(const struct workload *w, char *buf, size_t len)
{
    snprintf(buf, len, "put=%u,get=%u,append=%u", w->weight[OP_PUT] * 100 / w->total,
             w->weight[OP_GET] * 100 / w->total, w->weight[OP_APPEND] * 100 / w->total);
}
