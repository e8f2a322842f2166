/* Building histories: adding operations (validated, strings copied), two-phase recording. */
#include "lincheck.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void lin_history_init(struct lin_history *h) { memset(h, 0, sizeof *h); }

/* Each operation owns one block holding key, value and output, each NUL-terminated; op->key
 * points at its start. */
static void op_release(struct lin_op *op) { free((char *)op->key); }

void lin_history_free(struct lin_history *h)
{
    for (size_t i = 0; i < h->len; i++)
        op_release(&h->ops[i]);
    free(h->ops);
    memset(h, 0, sizeof *h);
}

const char *lin_kind_name(enum lin_kind kind)
{
    switch (kind) {
    case LIN_GET:
        return "get";
    case LIN_PUT:
        return "put";
    case LIN_APPEND:
        return "append";
    }
    return "?";
}

static bool valid_times(int64_t call_ns, int64_t return_ns)
{
    return call_ns >= 0 && (return_ns == LIN_NO_RETURN || return_ns >= call_ns);
}

static bool valid_kind(enum lin_kind kind)
{
    return kind == LIN_GET || kind == LIN_PUT || kind == LIN_APPEND;
}

/* Copies op's strings into a new block and points *out's strings at it (other fields from op). */
static void op_copy(struct lin_op *out, const struct lin_op *op)
{
    size_t olen = op->has_output ? op->output_len : 0;
    size_t vlen = op->kind == LIN_GET ? 0 : op->value_len;
    char *block = xmalloc(op->key_len + 1 + vlen + 1 + olen + 1);
    char *p = block;
    if (op->key_len)
        memcpy(p, op->key, op->key_len);
    p[op->key_len] = '\0';
    p += op->key_len + 1;
    if (vlen)
        memcpy(p, op->value, vlen);
    p[vlen] = '\0';
    p += vlen + 1;
    if (olen)
        memcpy(p, op->output, olen);
    p[olen] = '\0';
    *out = *op;
    out->key = block;
    out->value = block + op->key_len + 1;
    out->value_len = vlen;
    out->output = op->has_output ? p : NULL;
    out->output_len = olen;
}

int lin_history_add_op(struct lin_history *h, const struct lin_op *op)
{
    if (!valid_kind(op->kind) || !valid_times(op->call_ns, op->return_ns))
        return LIN_ERR_INVALID;
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->ops = xrealloc(h->ops, h->cap * sizeof *h->ops);
    }
    op_copy(&h->ops[h->len++], op);
    return 0;
}

int lin_history_add(struct lin_history *h, int64_t client, enum lin_kind kind, const char *key,
                    const char *value, const char *output, int64_t call_ns, int64_t return_ns)
{
    struct lin_op op = {
        .client = client,
        .kind = kind,
        .key = key,
        .key_len = strlen(key),
        .value = value ? value : "",
        .value_len = value ? strlen(value) : 0,
        .output = output,
        .output_len = output ? strlen(output) : 0,
        .has_output = output != NULL,
        .call_ns = call_ns,
        .return_ns = return_ns,
    };
    return lin_history_add_op(h, &op);
}

int lin_history_call(struct lin_history *h, int64_t client, enum lin_kind kind, const char *key,
                     size_t key_len, const char *value, size_t value_len, int64_t call_ns,
                     size_t *index)
{
    struct lin_op op = {
        .client = client,
        .kind = kind,
        .key = key,
        .key_len = key_len,
        .value = value ? value : "",
        .value_len = value ? value_len : 0,
        .call_ns = call_ns,
        .return_ns = LIN_NO_RETURN,
    };
    int rc = lin_history_add_op(h, &op);
    if (rc == 0)
        *index = h->len - 1;
    return rc;
}

int lin_history_return(struct lin_history *h, size_t index, const char *output, size_t output_len,
                       int64_t return_ns)
{
    if (index >= h->len)
        return LIN_ERR_INVALID;
    struct lin_op *op = &h->ops[index];
    if (op->return_ns != LIN_NO_RETURN || return_ns == LIN_NO_RETURN ||
        !valid_times(op->call_ns, return_ns))
        return LIN_ERR_INVALID;
    struct lin_op done = *op;
    done.return_ns = return_ns;
    if (output) {
        done.output = output;
        done.output_len = output_len;
        done.has_output = true;
    }
    op_copy(op, &done);
    free((char *)done.key);
    return 0;
}
