/* Building histories: adding operations (validated, strings copied), two-phase recording. */
#include "lincheck.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void lin_history_init(struct lin_history *h) { memset(h, 0, sizeof *h); }

/* Each operation owns one block holding key, value, output and expected, each NUL-terminated;
 * op->key points at its start. */
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
    case LIN_DELETE:
        return "delete";
    case LIN_CAS:
        return "cas";
    }
    return "?";
}

static bool valid_times(int64_t call_ns, int64_t return_ns)
{
    return call_ns >= 0 && (return_ns == LIN_NO_RETURN || return_ns >= call_ns);
}

static bool valid_kind(enum lin_kind kind)
{
    return kind == LIN_GET || kind == LIN_PUT || kind == LIN_APPEND || kind == LIN_DELETE ||
           kind == LIN_CAS;
}

/* Copies op's strings into a new block and points *out's strings at it (other fields from op). */
static void op_copy(struct lin_op *out, const struct lin_op *op)
{
    size_t olen = op->has_output && !op->absent ? op->output_len : 0;
    size_t vlen = op->kind == LIN_GET || op->kind == LIN_DELETE ? 0 : op->value_len;
    size_t elen = op->kind == LIN_CAS && !op->expect_absent ? op->expected_len : 0;
    char *block = xmalloc(op->key_len + 1 + vlen + 1 + olen + 1 + elen + 1);
    const char *parts[4] = { op->key, op->value, op->output, op->expected };
    size_t lens[4] = { op->key_len, vlen, olen, elen };
    char *starts[4], *p = block;
    for (int i = 0; i < 4; i++) {
        starts[i] = p;
        if (lens[i])
            memcpy(p, parts[i], lens[i]);
        p[lens[i]] = '\0';
        p += lens[i] + 1;
    }
    *out = *op;
    out->key = starts[0];
    out->value = starts[1];
    out->value_len = vlen;
    out->output = op->has_output ? starts[2] : NULL;
    out->output_len = olen;
    out->expected = starts[3];
    out->expected_len = elen;
    if (op->kind != LIN_DELETE && op->kind != LIN_CAS)
        out->has_ok = out->ok = false;
    if (op->kind != LIN_CAS)
        out->expect_absent = false;
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

int lin_history_call_op(struct lin_history *h, const struct lin_op *op, size_t *index)
{
    struct lin_op o = *op;
    o.return_ns = LIN_NO_RETURN;
    o.has_output = o.absent = o.has_ok = o.ok = false;
    o.output = NULL;
    o.output_len = 0;
    int rc = lin_history_add_op(h, &o);
    if (rc == 0)
        *index = h->len - 1;
    return rc;
}

/* Completes operation index with its return time and outcome (has_ok: a delete's or cas's). */
static int complete(struct lin_history *h, size_t index, bool has_ok, bool ok, bool absent,
                    const char *output, size_t output_len, int64_t return_ns)
{
    if (index >= h->len)
        return LIN_ERR_INVALID;
    struct lin_op *op = &h->ops[index];
    if (op->return_ns != LIN_NO_RETURN || return_ns == LIN_NO_RETURN ||
        !valid_times(op->call_ns, return_ns))
        return LIN_ERR_INVALID;
    struct lin_op done = *op;
    done.return_ns = return_ns;
    done.has_ok = has_ok;
    done.ok = ok;
    if (absent || output) {
        done.output = absent ? "" : output;
        done.output_len = absent ? 0 : output_len;
        done.has_output = true;
        done.absent = absent;
    }
    op_copy(op, &done);
    free((char *)done.key);
    return 0;
}

int lin_history_return_op(struct lin_history *h, size_t index, bool ok, bool absent,
                          const char *output, size_t output_len, int64_t return_ns)
{
    return complete(h, index, true, ok, absent, output, output_len, return_ns);
}

int lin_history_return(struct lin_history *h, size_t index, const char *output, size_t output_len,
                       int64_t return_ns)
{
    return complete(h, index, false, false, false, output, output_len, return_ns);
}
