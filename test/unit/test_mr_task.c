/* lib/mr tasks on real files in a temporary directory, with an app made of this file's
 * functions: map + combine + reduce equal the sequential run; every partition file is written
 * (empty ones too) and nothing else is left behind; apps that break the ABI's rules, missing or
 * damaged intermediate files and unloadable apps give errors that say what is wrong. */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "mr/mr.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/test_mr_task.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char *p = xasprintf("%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static char *path_in(const char *name) { return xasprintf("%s/%s", dir, name); }

static void write_file(const char *name, const char *text)
{
    char *p = path_in(name);
    char err[256];
    struct mr_piece piece = { text, strlen(text) };
    ck_assert_int_eq(mr_file_write_atomic(p, &piece, 1, err, sizeof err), MR_OK);
    free(p);
}

static char *read_file(const char *name)
{
    char *p = path_in(name), *data, err[256];
    size_t len;
    int rc = mr_file_read(p, &data, &len, err, sizeof err);
    free(p);
    return rc == MR_OK ? data : NULL;
}

/* ---- the test app: words separated by spaces; counts ---------------------------------------- */

static int combines; /* test-only observation of how often combine ran */

static int app_map(const char *filename, const char *contents, size_t len, struct mr_emitter *out)
{
    (void)filename;
    ck_assert_int_eq(contents[len], '\0');
    for (const char *p = contents, *end = contents + len; p < end;) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        size_t n = sp ? (size_t)(sp - p) : (size_t)(end - p);
        if (n && mr_emit(out, p, n, "1", 1) != 0)
            return 1;
        p += n + 1;
    }
    return 0;
}

static int sum_values(const struct mr_slice *values, size_t n, struct mr_emitter *out)
{
    long sum = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(values[i].data[values[i].len], '\0');
        sum += strtol(values[i].data, NULL, 10);
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld", sum);
    return mr_emit_value(out, buf, (size_t)len);
}

static int app_reduce(const char *key, size_t key_len, const struct mr_slice *values, size_t n,
                      struct mr_emitter *out)
{
    ck_assert_int_eq(key[key_len], '\0');
    return sum_values(values, n, out);
}

static int app_combine(const char *key, size_t key_len, const struct mr_slice *values, size_t n,
                       struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    combines++;
    return sum_values(values, n, out);
}

START_TEST(test_tasks_match_sequential)
{
    struct mr_app app = { .map = app_map, .reduce = app_reduce,
                          .combine = _i ? app_combine : NULL };
    write_file("in0", "the cat saw the dog and the bird");
    write_file("in1", "a dog saw a cat");
    write_file("in2", "");
    char err[512], *inputs[3] = { path_in("in0"), path_in("in1"), path_in("in2") };
    combines = 0;
    for (uint32_t x = 0; x < 3; x++)
        ck_assert_int_eq(mr_task_map(&app, inputs[x], x, 4, dir, err, sizeof err), MR_OK);
    ck_assert_int_eq(combines > 0, _i == 1);
    /* Every mr-X-Y exists; with the combiner, each key appears once per map output. */
    for (uint32_t x = 0; x < 3; x++)
        for (uint32_t y = 0; y < 4; y++) {
            char name[32], *data;
            snprintf(name, sizeof name, "mr-%u-%u", x, y);
            ck_assert_ptr_nonnull(data = read_file(name));
            if (x == 0 && _i == 1) {
                char *p = path_in(name);
                struct mr_kvlist l = { 0 };
                size_t len;
                char *d2;
                mr_file_read(p, &d2, &len, err, sizeof err);
                ck_assert_int_eq(mr_kvlist_parse(&l, d2, len, name, err, sizeof err), MR_OK);
                for (size_t i = 0; i < l.n; i++)
                    if (strcmp(l.items[i].key, "the") == 0)
                        ck_assert_str_eq(l.items[i].value, "3");
                mr_kvlist_free(&l);
                free(d2);
                free(p);
            }
            free(data);
        }
    for (uint32_t y = 0; y < 4; y++)
        ck_assert_int_eq(mr_task_reduce(&app, y, 3, dir, err, sizeof err), MR_OK);
    char *seq = path_in("seq");
    ck_assert_int_eq(mr_sequential(&app, inputs, 3, seq, err, sizeof err), MR_OK);
    /* Each key is in the partition of its hash, sorted within; together they are seq. */
    for (uint32_t y = 0; y < 4; y++) {
        char name[16];
        snprintf(name, sizeof name, "mr-out-%u", y);
        char *out = read_file(name);
        ck_assert_ptr_nonnull(out);
        char prev[64] = "";
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            char key[64];
            ck_assert_int_eq(sscanf(line, "%63s", key), 1);
            ck_assert_uint_eq(mr_partition(key, strlen(key), 4), y);
            ck_assert_int_lt(strcmp(prev, key), 0);
            strcpy(prev, key);
        }
        free(out);
    }
    char *want = read_file("seq");
    ck_assert_str_eq(want, "a 2\nand 1\nbird 1\ncat 2\ndog 2\nsaw 2\nthe 3\n");
    free(want);
    free(seq);
    for (int i = 0; i < 3; i++)
        free(inputs[i]);
    /* Nothing but the inputs, the outputs and the intermediate files is left. */
    ck_assert_uint_eq(mr_workdir_clean(dir, 3, 4), 12);
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(n, 3 + 4 + 1);
}
END_TEST

/* ---- apps that break the rules ------------------------------------------------------------ */

static int map_emits_value(const char *f, const char *c, size_t l, struct mr_emitter *out)
{
    (void)f;
    (void)c;
    (void)l;
    return mr_emit_value(out, "v", 1);
}

static int reduce_none(const char *k, size_t kl, const struct mr_slice *v, size_t n,
                       struct mr_emitter *out)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)n;
    (void)out;
    return 0;
}

static int reduce_two(const char *k, size_t kl, const struct mr_slice *v, size_t n,
                      struct mr_emitter *out)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)n;
    mr_emit_value(out, "1", 1);
    mr_emit_value(out, "2", 1);
    return 0;
}

static int reduce_pair(const char *k, size_t kl, const struct mr_slice *v, size_t n,
                       struct mr_emitter *out)
{
    (void)v;
    (void)n;
    return mr_emit(out, k, kl, "x", 1);
}

START_TEST(test_rule_breakers)
{
    write_file("in", "x y");
    char *in = path_in("in"), *out = path_in("out"), err[512];
    struct mr_app app = { .map = map_emits_value, .reduce = app_reduce };
    ck_assert_int_eq(mr_sequential(&app, &in, 1, out, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "mr_map called mr_emit_value") != NULL);

    app.map = app_map;
    app.reduce = reduce_none;
    ck_assert_int_eq(mr_sequential(&app, &in, 1, out, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "mr_reduce emitted 0 values for key 'x'") != NULL);
    app.reduce = reduce_two;
    ck_assert_int_eq(mr_sequential(&app, &in, 1, out, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "mr_reduce emitted 2 values") != NULL);
    app.reduce = reduce_pair;
    ck_assert_int_eq(mr_sequential(&app, &in, 1, out, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "mr_reduce called mr_emit") != NULL);
    app.reduce = app_reduce;
    app.combine = reduce_two;
    ck_assert_int_eq(mr_task_map(&app, in, 0, 2, dir, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "mr_combine emitted 2 values") != NULL);
    /* No output was written by any of the failures. */
    ck_assert_int_ne(access(out, F_OK), 0);
    free(in);
    free(out);
}
END_TEST

START_TEST(test_bad_files)
{
    struct mr_app app = { .map = app_map, .reduce = app_reduce };
    char err[512];
    char *missing = path_in("nothere");
    ck_assert_int_eq(mr_task_map(&app, missing, 0, 2, dir, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "nothere: No such file or directory") != NULL);
    ck_assert_int_eq(mr_task_map(&app, dir, 0, 2, dir, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "not a regular file") != NULL);
    free(missing);
    /* A reduce whose intermediate file is missing, then damaged. */
    ck_assert_int_eq(mr_task_reduce(&app, 0, 1, dir, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "mr-0-0: No such file or directory") != NULL);
    write_file("mr-0-0", "MRK1\x05");
    ck_assert_int_eq(mr_task_reduce(&app, 0, 1, dir, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "mr-0-0: truncated record header at offset 4") != NULL);
    char *o = path_in("mr-out-0");
    ck_assert_int_ne(access(o, F_OK), 0);
    free(o);
    /* Writing into a directory that does not exist. */
    struct mr_piece piece = { "x", 1 };
    ck_assert_int_eq(mr_file_write_atomic("/nonexistent/dir/f", &piece, 1, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "No such file or directory") != NULL);
}
END_TEST

START_TEST(test_atomic_write_pieces)
{
    /* More pieces than one writev takes, of uneven sizes. */
    enum { N = 300 };
    struct mr_piece pieces[N];
    char *bufs[N], *want = xmalloc(N * 40 + 1);
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        bufs[i] = xasprintf("%d:%.*s|", i, i % 30, "abcdefghijklmnopqrstuvwxyzABCD");
        pieces[i] = (struct mr_piece){ bufs[i], strlen(bufs[i]) };
        memcpy(want + len, bufs[i], pieces[i].len);
        len += pieces[i].len;
    }
    want[len] = '\0';
    char *p = path_in("pieces"), err[256];
    ck_assert_int_eq(mr_file_write_atomic(p, pieces, N, err, sizeof err), MR_OK);
    char *got = read_file("pieces");
    ck_assert_str_eq(got, want);
    /* Replacing: the old contents are gone, no temporary file is left. */
    struct mr_piece one = { "new", 3 };
    ck_assert_int_eq(mr_file_write_atomic(p, &one, 1, err, sizeof err), MR_OK);
    free(got);
    got = read_file("pieces");
    ck_assert_str_eq(got, "new");
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        ck_assert(strncmp(e->d_name, ".tmp.", 5) != 0);
    closedir(d);
    for (int i = 0; i < N; i++)
        free(bufs[i]);
    free(got);
    free(want);
    free(p);
}
END_TEST

START_TEST(test_app_load_errors)
{
    struct mr_app app;
    char err[512];
    ck_assert_int_eq(mr_app_load(&app, "/nonexistent/app.so", err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "cannot load app") != NULL && strstr(err, "app.so") != NULL);
    /* A shared object that is not an app: the C library has no mr_app_abi_version. */
    Dl_info info;
    ck_assert_int_ne(dladdr((void *)strlen, &info), 0);
    ck_assert_ptr_nonnull(strchr(info.dli_fname, '/'));
    ck_assert_int_eq(mr_app_load(&app, info.dli_fname, err, sizeof err), MR_ERR);
    ck_assert(strstr(err, "no symbol mr_app_abi_version") != NULL);
    mr_app_close(&app); /* harmless on a zeroed app */
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("mr_task");
    TCase *tc = tcase_create("mr_task");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_tasks_match_sequential, 0, 2);
    tcase_add_test(tc, test_rule_breakers);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_atomic_write_pieces);
    tcase_add_test(tc, test_app_load_errors);
    suite_add_tcase(s, tc);
    return s;
}
