/* Histories as JSON lines: a strict parser for exactly the flat object of one operation, the
 * file loader (errors name the line), and the writer. */
#include "lincheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* A growable byte buffer. */
struct buf {
    char *p;
    size_t len, cap;
};

static void buf_push(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_byte(struct buf *b, char c) { buf_push(b, &c, 1); }

/* ---- parsing --------------------------------------------------------------------------------- */

struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
    if (p->errlen) {
        int n = snprintf(p->err, p->errlen, "column %zu: ", p->pos + 1);
        if (n >= 0 && (size_t)n < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\r' || p->s[p->pos] == '\n'))
        p->pos++;
}

static int peek(const struct parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int expect_char(struct parser *p, char c, const char *what)
{
    skip_ws(p);
    if (peek(p) != (unsigned char)c)
        return p->pos < p->len ? fail(p, "expected %s", what)
                               : fail(p, "line ends; expected %s", what);
    p->pos++;
    return 0;
}

static int hex4(struct parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return fail(p, "\\u needs four hex digits");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(p, "\\u needs four hex digits");
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static void put_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_push(b, u, n);
}

/* Parses a string (after optional white space) into b (reset first). */
static int parse_string(struct parser *p, struct buf *b, const char *what)
{
    skip_ws(p);
    if (peek(p) != '"')
        return p->pos < p->len ? fail(p, "expected a string for %s", what)
                               : fail(p, "line ends; expected a string for %s", what);
    p->pos++;
    b->len = 0;
    buf_push(b, "", 0);
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return 0;
        }
        if (c < 0x20)
            return fail(p, "control character 0x%02x in a string (escape it)", c);
        if (c != '\\') {
            size_t start = p->pos;
            while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' &&
                   (unsigned char)p->s[p->pos] >= 0x20)
                p->pos++;
            buf_push(b, p->s + start, p->pos - start);
            continue;
        }
        p->pos++;
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        char e = p->s[p->pos++];
        switch (e) {
        case '"':
        case '\\':
        case '/':
            buf_byte(b, e);
            break;
        case 'b':
            buf_byte(b, '\b');
            break;
        case 'f':
            buf_byte(b, '\f');
            break;
        case 'n':
            buf_byte(b, '\n');
            break;
        case 'r':
            buf_byte(b, '\r');
            break;
        case 't':
            buf_byte(b, '\t');
            break;
        case 'u': {
            unsigned cp;
            if (hex4(p, &cp) < 0)
                return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return fail(p, "a high surrogate must be followed by \\u and a low one");
                p->pos += 2;
                if (hex4(p, &lo) < 0)
                    return -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, "a high surrogate must be followed by a low one");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(p, "a low surrogate without a high one");
            }
            put_utf8(b, cp);
            break;
        }
        default:
            p->pos--;
            return fail(p, "unknown escape \\%c", e);
        }
    }
}

/* Parses an integer (JSON syntax: -?(0|[1-9][0-9]*), no fraction or exponent). */
static int parse_int(struct parser *p, int64_t *out, const char *what)
{
    skip_ws(p);
    size_t start = p->pos;
    bool neg = false;
    if (peek(p) == '-') {
        neg = true;
        p->pos++;
    }
    if (peek(p) < '0' || peek(p) > '9') {
        p->pos = start;
        return fail(p, "expected an integer for %s", what);
    }
    if (peek(p) == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' &&
        p->s[p->pos + 1] <= '9') {
        p->pos = start;
        return fail(p, "leading zero in %s", what);
    }
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (peek(p) >= '0' && peek(p) <= '9') {
        unsigned d = (unsigned)(peek(p) - '0');
        if (v > (limit - d) / 10) {
            p->pos = start;
            return fail(p, "%s is out of range", what);
        }
        v = v * 10 + d;
        p->pos++;
    }
    if (peek(p) == '.' || peek(p) == 'e' || peek(p) == 'E') {
        p->pos = start;
        return fail(p, "%s must be an integer", what);
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

static bool parse_null(struct parser *p)
{
    skip_ws(p);
    if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
        p->pos += 4;
        return true;
    }
    return false;
}

static int parse_boolean(struct parser *p, bool *out, const char *what)
{
    skip_ws(p);
    size_t left = p->len - p->pos;
    if (left >= 4 && memcmp(p->s + p->pos, "true", 4) == 0) {
        p->pos += 4;
        *out = true;
        return 0;
    }
    if (left >= 5 && memcmp(p->s + p->pos, "false", 5) == 0) {
        p->pos += 5;
        *out = false;
        return 0;
    }
    return fail(p, "%s must be true or false", what);
}

enum field {
    F_CLIENT, F_OP, F_KEY, F_VALUE, F_OUTPUT, F_ABSENT, F_EXPECTED, F_IF_ABSENT, F_OK, F_CALL,
    F_RETURN, F_COUNT
};
static const char *const field_names[F_COUNT] = { "client",   "op",        "key", "value",
                                                  "output",   "absent",    "expected",
                                                  "if_absent", "ok",       "call", "return" };
static const char *const op_names[] = { "get", "put", "append", "delete", "cas" };

int lin_history_parse_line(struct lin_history *h, const char *line, size_t len, uint32_t line_no,
                           char *err, size_t errlen)
{
    struct parser p = { .s = line, .len = len, .err = err, .errlen = errlen };
    struct buf name = { 0 }, key = { 0 }, value = { 0 }, output = { 0 }, expected = { 0 },
               tmp = { 0 };
    bool seen[F_COUNT] = { false };
    bool output_null = false;
    struct lin_op op = { .return_ns = LIN_NO_RETURN, .line = line_no };
    int rc = -1;

    if (expect_char(&p, '{', "'{'") < 0)
        goto out;
    skip_ws(&p);
    if (peek(&p) == '}') {
        fail(&p, "empty object");
        goto out;
    }
    for (;;) {
        size_t at = p.pos;
        if (parse_string(&p, &name, "a field name") < 0)
            goto out;
        int f = 0;
        while (f < F_COUNT && !(strlen(field_names[f]) == name.len &&
                                memcmp(field_names[f], name.p, name.len) == 0))
            f++;
        if (f == F_COUNT) {
            p.pos = at;
            skip_ws(&p);
            fail(&p, "unknown field \"%.40s\"", name.p);
            goto out;
        }
        if (seen[f]) {
            p.pos = at;
            skip_ws(&p);
            fail(&p, "field \"%s\" appears twice", field_names[f]);
            goto out;
        }
        seen[f] = true;
        if (expect_char(&p, ':', "':'") < 0)
            goto out;
        switch ((enum field)f) {
        case F_CLIENT:
            if (parse_int(&p, &op.client, "client") < 0)
                goto out;
            break;
        case F_OP: {
            size_t vat = p.pos;
            if (parse_string(&p, &tmp, "op") < 0)
                goto out;
            size_t k = 0;
            while (k < ARRAY_LEN(op_names) &&
                   !(strlen(op_names[k]) == tmp.len && strcmp(tmp.p, op_names[k]) == 0))
                k++;
            if (k == ARRAY_LEN(op_names)) {
                p.pos = vat;
                skip_ws(&p);
                fail(&p, "op must be \"get\", \"put\", \"append\", \"delete\" or \"cas\", not "
                         "\"%.20s\"", tmp.p);
                goto out;
            }
            op.kind = (enum lin_kind)k;
            break;
        }
        case F_ABSENT:
            if (parse_boolean(&p, &op.absent, "absent") < 0)
                goto out;
            break;
        case F_EXPECTED:
            if (parse_string(&p, &expected, "expected") < 0)
                goto out;
            break;
        case F_IF_ABSENT:
            if (parse_boolean(&p, &op.expect_absent, "if_absent") < 0)
                goto out;
            break;
        case F_OK:
            if (parse_boolean(&p, &op.ok, "ok") < 0)
                goto out;
            op.has_ok = true;
            break;
        case F_KEY:
            if (parse_string(&p, &key, "key") < 0)
                goto out;
            break;
        case F_VALUE:
            if (parse_string(&p, &value, "value") < 0)
                goto out;
            break;
        case F_OUTPUT:
            if (parse_null(&p))
                output_null = true;
            else if (parse_string(&p, &output, "output") < 0)
                goto out;
            break;
        case F_CALL: {
            size_t vat = p.pos;
            if (parse_int(&p, &op.call_ns, "call") < 0)
                goto out;
            if (op.call_ns < 0) {
                p.pos = vat;
                skip_ws(&p);
                fail(&p, "call must not be negative");
                goto out;
            }
            break;
        }
        case F_RETURN: {
            size_t vat = p.pos;
            if (parse_null(&p)) {
                op.return_ns = LIN_NO_RETURN;
                break;
            }
            if (parse_int(&p, &op.return_ns, "return") < 0)
                goto out;
            if (op.return_ns < 0 && op.return_ns != LIN_NO_RETURN) {
                p.pos = vat;
                skip_ws(&p);
                fail(&p, "return must be -1 (no return) or a time");
                goto out;
            }
            break;
        }
        case F_COUNT:
            break;
        }
        skip_ws(&p);
        if (peek(&p) == ',') {
            p.pos++;
            continue;
        }
        if (peek(&p) == '}') {
            p.pos++;
            break;
        }
        fail(&p, p.pos < p.len ? "expected ',' or '}'" : "line ends; expected ',' or '}'");
        goto out;
    }
    skip_ws(&p);
    if (p.pos < p.len) {
        fail(&p, "unexpected text after the object");
        goto out;
    }
    static const enum field required[] = { F_CLIENT, F_OP, F_KEY, F_CALL };
    for (size_t i = 0; i < ARRAY_LEN(required); i++) {
        if (!seen[required[i]]) {
            fail(&p, "missing field \"%s\"", field_names[required[i]]);
            goto out;
        }
    }
    if (op.kind != LIN_GET && op.kind != LIN_DELETE && !seen[F_VALUE]) {
        fail(&p, "missing field \"value\" (required for %s)", lin_kind_name(op.kind));
        goto out;
    }
    if (op.return_ns != LIN_NO_RETURN && op.return_ns < op.call_ns) {
        fail(&p, "return (%" PRId64 ") is before call (%" PRId64 ")", op.return_ns, op.call_ns);
        goto out;
    }
    if (op.absent && seen[F_OUTPUT] && !output_null) {
        fail(&p, "\"absent\":true and an \"output\" contradict each other");
        goto out;
    }
    if (op.kind == LIN_CAS && !op.expect_absent && !seen[F_EXPECTED]) {
        fail(&p, "missing field \"expected\" (required for cas without \"if_absent\":true)");
        goto out;
    }
    if ((seen[F_EXPECTED] || seen[F_IF_ABSENT]) && op.kind != LIN_CAS) {
        fail(&p, "\"expected\" and \"if_absent\" are for cas only");
        goto out;
    }
    if (seen[F_OK] && op.kind != LIN_CAS && op.kind != LIN_DELETE) {
        fail(&p, "\"ok\" is for delete and cas only");
        goto out;
    }
    op.expected = expected.p;
    op.expected_len = expected.len;
    op.key = key.p;
    op.key_len = key.len;
    op.value = seen[F_VALUE] ? value.p : "";
    op.value_len = seen[F_VALUE] ? value.len : 0;
    op.has_output = (seen[F_OUTPUT] && !output_null) || op.absent;
    op.output = op.has_output ? (op.absent ? "" : output.p ? output.p : "") : NULL;
    op.output_len = op.has_output && !op.absent ? output.len : 0;
    if (lin_history_add_op(h, &op) < 0) {
        fail(&p, "invalid operation");
        goto out;
    }
    rc = 0;
out:
    free(name.p);
    free(key.p);
    free(value.p);
    free(output.p);
    free(expected.p);
    free(tmp.p);
    return rc < 0 ? LIN_ERR_PARSE : 0;
}

int lin_history_load_jsonl(struct lin_history *h, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return LIN_ERR_IO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint32_t line_no = 0;
    int rc = 0;
    char msg[256];
    while ((n = getline(&line, &cap, f)) >= 0) {
        line_no++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        size_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i == len)
            continue;
        if (lin_history_parse_line(h, line, len, line_no, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "%s:%" PRIu32 ": %s", path, line_no, msg);
            rc = LIN_ERR_PARSE;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        rc = LIN_ERR_IO;
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- writing --------------------------------------------------------------------------------- */

static void write_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

int lin_history_write_jsonl(const struct lin_history *h, const char *path, char *err,
                            size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return LIN_ERR_IO;
    }
    for (size_t i = 0; i < h->len; i++) {
        const struct lin_op *op = &h->ops[i];
        fprintf(f, "{\"client\":%" PRId64 ",\"op\":\"%s\",\"key\":", op->client,
                lin_kind_name(op->kind));
        write_string(f, op->key, op->key_len);
        fputs(",\"value\":", f);
        write_string(f, op->value, op->value_len);
        if (op->absent) {
            fputs(",\"absent\":true", f);
        } else if (op->has_output) {
            fputs(",\"output\":", f);
            write_string(f, op->output, op->output_len);
        }
        if (op->kind == LIN_CAS && op->expect_absent) {
            fputs(",\"if_absent\":true", f);
        } else if (op->kind == LIN_CAS) {
            fputs(",\"expected\":", f);
            write_string(f, op->expected, op->expected_len);
        }
        if (op->has_ok)
            fprintf(f, ",\"ok\":%s", op->ok ? "true" : "false");
        fprintf(f, ",\"call\":%" PRId64 ",\"return\":%" PRId64 "}\n", op->call_ns, op->return_ns);
    }
    int bad = ferror(f);
    int saved = errno;
    if (fclose(f) != 0 || bad) {
        snprintf(err, errlen, "%s: write error: %s", path, strerror(bad ? saved : errno));
        return LIN_ERR_IO;
    }
    return 0;
}
