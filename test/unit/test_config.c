/* lib/base/config: defaults, INI files, flags, and the errors a user sees. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/util.h"

struct cfg {
    char *id;
    char *listen;
    int64_t port;
    bool fsync;
    uint64_t tick_ms;
    uint64_t max_state;
};

static const struct config_option opts[] = {
    { "node", "id", "id", CONFIG_STRING, offsetof(struct cfg, id), NULL, 0, 0, "node id" },
    { "node", "listen", "listen", CONFIG_STRING, offsetof(struct cfg, listen), "127.0.0.1:7000", 0, 0,
      "listen address" },
    { "node", "port", "port", CONFIG_INT, offsetof(struct cfg, port), "7000", 1, 65535, "a port" },
    { "storage", "fsync", "fsync", CONFIG_BOOL, offsetof(struct cfg, fsync), "true", 0, 0, "fsync" },
    { "raft", "tick", "tick", CONFIG_DURATION, offsetof(struct cfg, tick_ms), "10ms", 1, 1000,
      "tick" },
    { "raft", "max_raft_state", "max-raft-state", CONFIG_SIZE, offsetof(struct cfg, max_state),
      "0", 0, 0, "snapshot threshold" },
};
static const struct config_spec spec = { "testd", "[OPTION]...", "A test program.", opts,
                                         ARRAY_LEN(opts) };

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof path, "/tmp/test_config_%d.ini", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int load(const char *text, struct cfg *c, char *err, size_t errlen)
{
    write_file(text);
    config_defaults(&spec, c);
    int rc = config_load_file(&spec, path, c, err, errlen);
    unlink(path);
    return rc;
}

START_TEST(test_defaults)
{
    struct cfg c;
    config_defaults(&spec, &c);
    ck_assert_ptr_null(c.id);
    ck_assert_str_eq(c.listen, "127.0.0.1:7000");
    ck_assert_int_eq(c.port, 7000);
    ck_assert(c.fsync);
    ck_assert_uint_eq(c.tick_ms, 10);
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_file_values)
{
    struct cfg c;
    char err[256];
    ck_assert_int_eq(load("; comment\n[node]\nid = n1\nport = 7100\n[storage]\nfsync = off\n"
                          "[raft]\ntick = 20ms\nmax_raft_state = 4KiB\n",
                          &c, err, sizeof err), CONFIG_OK);
    ck_assert_str_eq(c.id, "n1");
    ck_assert_int_eq(c.port, 7100);
    ck_assert(!c.fsync);
    ck_assert_uint_eq(c.tick_ms, 20);
    ck_assert_uint_eq(c.max_state, 4096);
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_missing_file)
{
    struct cfg c;
    char err[256];
    config_defaults(&spec, &c);
    ck_assert_int_eq(config_load_file(&spec, "/nonexistent/x.ini", &c, err, sizeof err),
                     CONFIG_ERROR);
    ck_assert_str_eq(err, "/nonexistent/x.ini: cannot open config file: No such file or directory");
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_unknown_key)
{
    struct cfg c;
    char err[256], want[256];
    ck_assert_int_eq(load("[node]\nid = n1\n\n[raft]\ntick_ms = 5\n", &c, err, sizeof err),
                     CONFIG_ERROR);
    snprintf(want, sizeof want, "%s:5: unknown key 'tick_ms' in section [raft]", path);
    ck_assert_str_eq(err, want);
    config_free(&spec, &c);
    /* A known key in the wrong section is unknown there. */
    ck_assert_int_eq(load("[raft]\nid = n1\n", &c, err, sizeof err), CONFIG_ERROR);
    snprintf(want, sizeof want, "%s:2: unknown key 'id' in section [raft]", path);
    ck_assert_str_eq(err, want);
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_bad_values)
{
    struct cfg c;
    char err[256], want[256];
    ck_assert_int_eq(load("[node]\nport = 70000\n", &c, err, sizeof err), CONFIG_ERROR);
    snprintf(want, sizeof want, "%s:2: bad value '70000' for key 'port' in section [node]: "
                                "expected an integer from 1 to 65535", path);
    ck_assert_str_eq(err, want);
    config_free(&spec, &c);
    ck_assert_int_eq(load("[raft]\n\ntick = fast\n", &c, err, sizeof err), CONFIG_ERROR);
    snprintf(want, sizeof want, "%s:3: bad value 'fast' for key 'tick' in section [raft]: "
                                "expected a duration such as 250ms or 2s from 1 to 1000", path);
    ck_assert_str_eq(err, want);
    config_free(&spec, &c);
    ck_assert_int_eq(load("[storage]\nfsync = maybe\n", &c, err, sizeof err), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, ":2: bad value 'maybe' for key 'fsync'"));
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_syntax_error)
{
    struct cfg c;
    char err[256], want[256];
    ck_assert_int_eq(load("[node]\nid = n1\nthis line has no equals sign\n", &c, err, sizeof err),
                     CONFIG_ERROR);
    snprintf(want, sizeof want, "%s:3: syntax error (expected [section] or key = value)", path);
    ck_assert_str_eq(err, want);
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_flags_override_file)
{
    write_file("[node]\nid = fromfile\nport = 7100\n");
    /* --port comes before --config on the line but still overrides the file. */
    char *argv[] = { "testd", "--port", "7200", "--config", path, "--fsync", "no", "--tick=50ms",
                     "--listen", "0.0.0.0:1", "input1", "input2", NULL };
    struct cfg c;
    char err[256];
    int first;
    ck_assert_int_eq(config_from_args(&spec, 12, argv, &c, &first, err, sizeof err), CONFIG_OK);
    unlink(path);
    ck_assert_str_eq(c.id, "fromfile");
    ck_assert_int_eq(c.port, 7200);
    ck_assert(!c.fsync);
    ck_assert_uint_eq(c.tick_ms, 50);
    ck_assert_str_eq(c.listen, "0.0.0.0:1");
    ck_assert_int_eq(first, 10);
    char desc[512];
    config_describe(&spec, &c, desc, sizeof desc);
    ck_assert_str_eq(desc, "id=fromfile listen=0.0.0.0:1 port=7200 fsync=false tick=50ms "
                           "max_raft_state=0");
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_flag_errors)
{
    struct cfg c;
    char err[256];
    int first;
    char *unknown[] = { "testd", "--bogus", "1", NULL };
    ck_assert_int_eq(config_from_args(&spec, 3, unknown, &c, &first, err, sizeof err), CONFIG_ERROR);
    ck_assert_str_eq(err, "--bogus: unknown flag (see --help)");
    config_free(&spec, &c);
    char *bad[] = { "testd", "--port", "0", NULL };
    ck_assert_int_eq(config_from_args(&spec, 3, bad, &c, &first, err, sizeof err), CONFIG_ERROR);
    ck_assert_str_eq(err, "--port: bad value '0': expected an integer from 1 to 65535");
    config_free(&spec, &c);
    char *missing[] = { "testd", "--port", NULL };
    ck_assert_int_eq(config_from_args(&spec, 2, missing, &c, &first, err, sizeof err), CONFIG_ERROR);
    ck_assert_str_eq(err, "--port: missing value");
    config_free(&spec, &c);
    char *nofile[] = { "testd", "--config", "/nonexistent.ini", NULL };
    ck_assert_int_eq(config_from_args(&spec, 3, nofile, &c, &first, err, sizeof err), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent.ini: cannot open config file"));
    config_free(&spec, &c);
    char *help[] = { "testd", "--port", "1", "--help", NULL };
    ck_assert_int_eq(config_from_args(&spec, 4, help, &c, &first, err, sizeof err), CONFIG_HELP);
    config_free(&spec, &c);
    char *version[] = { "testd", "--port", "1", "--version", "--bogus", NULL };
    ck_assert_int_eq(config_from_args(&spec, 5, version, &c, &first, err, sizeof err),
                     CONFIG_VERSION);
    config_free(&spec, &c);
}
END_TEST

START_TEST(test_help_lists_every_flag)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print_help(&spec, f);
    fclose(f);
    for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", opts[i].flag);
        ck_assert_msg(strstr(buf, flag), "help lacks %s", flag);
    }
    ck_assert_ptr_nonnull(strstr(buf, "(default 10ms)"));
    free(buf);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_file_values);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_bad_values);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_flags_override_file);
    tcase_add_test(tc, test_flag_errors);
    tcase_add_test(tc, test_help_lists_every_flag);
    suite_add_tcase(s, tc);
    return s;
}
