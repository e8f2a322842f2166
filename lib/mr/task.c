/* Running one map or reduce task (or the whole job sequentially) on local files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "mr/mr.h"

/* ---- emitters ---------------------------------------------------------------------------- */

/* mr_map's emitter: pairs go to their partition's buffer. */
struct map_out {
    struct mr_emitter base; /* first, so the emitter pointer converts back */
    struct mr_kvbuf *parts;
    uint32_t nparts;
    const char *fault; /* why an emit was refused, or NULL */
};

static int map_emit(struct mr_emitter *self, const char *key, size_t key_len, const char *value,
                    size_t value_len)
{
    struct map_out *m = (struct map_out *)self;
    if (!key) {
        m->fault = "mr_map called mr_emit_value; a map emits pairs with mr_emit";
        return MR_ERR;
    }
    uint32_t p = m->nparts == 1 ? 0 : mr_partition(key, key_len, m->nparts);
    if (mr_kvbuf_add(&m->parts[p], key, key_len, value, value_len) != MR_OK) {
        m->fault = "mr_map emitted a key or value of 4 GiB or more";
        return MR_ERR;
    }
    return MR_OK;
}

/* A growable text buffer (reduce output). */
struct text {
    char *data;
    size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    if (t->cap - t->len < n) {
        t->cap = MAX(t->cap * 2, t->len + n + 4096);
        t->data = xrealloc(t->data, t->cap);
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
}

/* mr_reduce's and mr_combine's emitter: exactly one value per key, written as a "key value"
 * line (reduce) or as a pair of a new buffer (combine). */
struct value_out {
    struct mr_emitter base;
    struct text *lines;   /* reduce */
    struct mr_kvbuf *kvs; /* combine */
    const char *key;
    size_t key_len;
    unsigned count;
    const char *fault;
};

static int value_emit(struct mr_emitter *self, const char *key, size_t key_len,
                      const char *value, size_t value_len)
{
    (void)key_len;
    struct value_out *o = (struct value_out *)self;
    if (key) {
        o->fault = "called mr_emit; a reduce or combine emits its one value with mr_emit_value";
        return MR_ERR;
    }
    if (++o->count > 1)
        return MR_ERR; /* reported after the call returns */
    if (o->lines) {
        text_add(o->lines, o->key, o->key_len);
        text_add(o->lines, " ", 1);
        text_add(o->lines, value, value_len);
        text_add(o->lines, "\n", 1);
    } else if (mr_kvbuf_add(o->kvs, o->key, o->key_len, value, value_len) != MR_OK) {
        o->fault = "emitted a value of 4 GiB or more";
        return MR_ERR;
    }
    return MR_OK;
}

/* ---- grouping ---------------------------------------------------------------------------- */

/* Sorts l and calls fn (named what in errors) once per key with all its values; o receives
 * exactly one value per key. */
static int run_groups(mr_reduce_fn fn, const char *what, struct mr_kvlist *l,
                      struct value_out *o, char *err, size_t errlen)
{
    mr_kvlist_sort(l);
    struct mr_slice *vals = NULL;
    size_t cap = 0;
    int rc = MR_OK;
    for (size_t i = 0; i < l->n && rc == MR_OK;) {
        size_t j = mr_kvlist_group_end(l, i);
        if (j - i > cap) {
            cap = MAX(j - i, cap * 2);
            vals = xrealloc(vals, cap * sizeof *vals);
        }
        for (size_t k = i; k < j; k++)
            vals[k - i] = (struct mr_slice){ l->items[k].value, l->items[k].value_len };
        const struct mr_kv *kv = &l->items[i];
        o->key = kv->key;
        o->key_len = kv->key_len;
        o->count = 0;
        o->fault = NULL;
        int r = fn(kv->key, kv->key_len, vals, j - i, &o->base);
        int shown = (int)MIN(kv->key_len, 60u);
        if (o->fault) {
            snprintf(err, errlen, "%s %s (key '%.*s')", what, o->fault, shown, kv->key);
            rc = MR_ERR;
        } else if (r != 0) {
            snprintf(err, errlen, "%s returned %d for key '%.*s'", what, r, shown, kv->key);
            rc = MR_ERR;
        } else if (o->count != 1) {
            snprintf(err, errlen, "%s emitted %u values for key '%.*s' (must be exactly one)",
                     what, o->count, shown, kv->key);
            rc = MR_ERR;
        }
        i = j;
    }
    free(vals);
    return rc;
}

/* Replaces the pairs of b by one pair per key, the app's combination of that key's values. */
static int combine_buffer(const struct mr_app *app, struct mr_kvbuf *b, char *err, size_t errlen)
{
    struct mr_kvlist l = { 0 };
    int rc = mr_kvlist_parse(&l, b->data, b->len, "map output", err, errlen);
    struct mr_kvbuf out;
    mr_kvbuf_init(&out);
    struct value_out o = { .base = { value_emit }, .kvs = &out };
    if (rc == MR_OK)
        rc = run_groups(app->combine, "mr_combine", &l, &o, err, errlen);
    mr_kvlist_free(&l);
    if (rc == MR_OK) {
        mr_kvbuf_free(b);
        *b = out;
    } else {
        mr_kvbuf_free(&out);
    }
    return rc;
}

/* Reduces the pairs indexed by l and writes the "key value" lines to path. */
static int reduce_to_file(const struct mr_app *app, struct mr_kvlist *l, const char *path,
                          char *err, size_t errlen)
{
    struct text lines = { 0 };
    struct value_out o = { .base = { value_emit }, .lines = &lines };
    int rc = run_groups(app->reduce, "mr_reduce", l, &o, err, errlen);
    if (rc == MR_OK) {
        struct mr_piece piece = { lines.data, lines.len };
        rc = mr_file_write_atomic(path, &piece, 1, err, errlen);
    }
    free(lines.data);
    return rc;
}

/* Reads input and runs the app's map on it, into the partitions of m. */
static int map_file(const struct mr_app *app, const char *input, struct map_out *m, char *err,
                    size_t errlen)
{
    char *contents;
    size_t len;
    if (mr_file_read(input, &contents, &len, err, errlen) != MR_OK)
        return MR_ERR;
    int r = app->map(input, contents, len, &m->base);
    free(contents);
    if (m->fault) {
        snprintf(err, errlen, "%s: %s", input, m->fault);
        return MR_ERR;
    }
    if (r != 0) {
        snprintf(err, errlen, "%s: mr_map returned %d", input, r);
        return MR_ERR;
    }
    return MR_OK;
}

/* ---- tasks ------------------------------------------------------------------------------- */

int mr_task_map(const struct mr_app *app, const char *input, uint32_t map_id, uint32_t nreduce,
                const char *workdir, char *err, size_t errlen)
{
    struct mr_kvbuf *parts = xcalloc(nreduce, sizeof *parts);
    for (uint32_t y = 0; y < nreduce; y++)
        mr_kvbuf_init(&parts[y]);
    struct map_out m = { .base = { map_emit }, .parts = parts, .nparts = nreduce };
    int rc = map_file(app, input, &m, err, errlen);
    for (uint32_t y = 0; y < nreduce && rc == MR_OK && app->combine; y++)
        rc = combine_buffer(app, &parts[y], err, errlen);
    for (uint32_t y = 0; y < nreduce && rc == MR_OK; y++) {
        char *path = mr_path_intermediate(workdir, map_id, y);
        struct mr_piece piece = { parts[y].data, parts[y].len };
        rc = mr_file_write_atomic(path, &piece, 1, err, errlen);
        free(path);
    }
    for (uint32_t y = 0; y < nreduce; y++)
        mr_kvbuf_free(&parts[y]);
    free(parts);
    return rc;
}

int mr_task_reduce(const struct mr_app *app, uint32_t reduce_id, uint32_t nmap,
                   const char *workdir, char *err, size_t errlen)
{
    char **bufs = xcalloc(nmap, sizeof *bufs);
    struct mr_kvlist l = { 0 };
    int rc = MR_OK;
    for (uint32_t x = 0; x < nmap && rc == MR_OK; x++) {
        char *path = mr_path_intermediate(workdir, x, reduce_id);
        size_t len;
        rc = mr_file_read(path, &bufs[x], &len, err, errlen);
        if (rc == MR_OK)
            rc = mr_kvlist_parse(&l, bufs[x], len, path, err, errlen);
        free(path);
    }
    if (rc == MR_OK) {
        char *out = mr_path_output(workdir, reduce_id);
        rc = reduce_to_file(app, &l, out, err, errlen);
        free(out);
    }
    mr_kvlist_free(&l);
    for (uint32_t x = 0; x < nmap; x++)
        free(bufs[x]);
    free(bufs);
    return rc;
}

int mr_sequential(const struct mr_app *app, char *const *inputs, size_t ninputs,
                  const char *output, char *err, size_t errlen)
{
    struct mr_kvbuf all;
    mr_kvbuf_init(&all);
    struct map_out m = { .base = { map_emit }, .parts = &all, .nparts = 1 };
    int rc = MR_OK;
    for (size_t i = 0; i < ninputs && rc == MR_OK; i++)
        rc = map_file(app, inputs[i], &m, err, errlen);
    struct mr_kvlist l = { 0 };
    if (rc == MR_OK)
        rc = mr_kvlist_parse(&l, all.data, all.len, "map output", err, errlen);
    if (rc == MR_OK)
        rc = reduce_to_file(app, &l, output, err, errlen);
    mr_kvlist_free(&l);
    mr_kvbuf_free(&all);
    return rc;
}
