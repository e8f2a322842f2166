#include "base/config.h"

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "version.h" /* build/gen/version.h: RAFTKV_VERSION, written by the Makefile */

const char *config_version(void) { return RAFTKV_VERSION; }

static void *field(void *cfg, const struct config_option *o) { return (char *)cfg + o->offset; }
static const void *cfield(const void *cfg, const struct config_option *o)
{
    return (const char *)cfg + o->offset;
}

static const char *expectation(const struct config_option *o, char *buf, size_t len)
{
    const char *what = "";
    switch (o->type) {
    case CONFIG_STRING: return "a string";
    case CONFIG_BOOL: return "true or false";
    case CONFIG_INT: what = "an integer"; break;
    case CONFIG_DURATION: what = "a duration such as 250ms or 2s"; break;
    case CONFIG_SIZE: what = "a size such as 4096, 64KiB or 64MiB"; break;
    }
    if (o->min || o->max)
        snprintf(buf, len, "%s from %lld to %lld", what, o->min, o->max);
    else
        snprintf(buf, len, "%s", what);
    return buf;
}

static bool in_range(const struct config_option *o, long long v)
{
    return (o->min == 0 && o->max == 0) || (v >= o->min && v <= o->max);
}

/* Parses value into the option's field. Returns 0, or -1 when the value is not acceptable. */
static int set_value(const struct config_option *o, const char *value, void *cfg)
{
    switch (o->type) {
    case CONFIG_STRING: {
        char **p = field(cfg, o);
        free(*p);
        *p = xstrdup(value);
        return 0;
    }
    case CONFIG_BOOL:
        return parse_bool(value, field(cfg, o));
    case CONFIG_INT: {
        int64_t v;
        if (parse_i64(value, &v) != 0 || !in_range(o, v))
            return -1;
        *(int64_t *)field(cfg, o) = v;
        return 0;
    }
    case CONFIG_DURATION:
    case CONFIG_SIZE: {
        uint64_t v;
        int rc = o->type == CONFIG_DURATION ? parse_duration_ms(value, &v) : parse_size(value, &v);
        if (rc != 0 || v > INT64_MAX || !in_range(o, (long long)v))
            return -1;
        *(uint64_t *)field(cfg, o) = v;
        return 0;
    }
    }
    return -1;
}

void config_defaults(const struct config_spec *spec, void *out)
{
    for (size_t i = 0; i < spec->count; i++) {
        const struct config_option *o = &spec->options[i];
        if (o->def == NULL) {
            assert(o->type == CONFIG_STRING);
            char **p = field(out, o);
            *p = NULL;
            continue;
        }
        if (o->type == CONFIG_STRING)
            *(char **)field(out, o) = NULL;
        if (set_value(o, o->def, out) != 0) {
            fprintf(stderr, "%s: bad built-in default for %s: '%s'\n", spec->program, o->key, o->def);
            abort();
        }
    }
}

struct file_ctx {
    const struct config_spec *spec;
    void *out;
    FILE *fp;
    const char *path;
    int line;
    char *err;
    size_t errlen;
    bool failed;
};

/* inih reads through this, so the handler knows the line it is looking at. */
static char *read_line(char *buf, int size, void *stream)
{
    struct file_ctx *c = stream;
    char *r = fgets(buf, size, c->fp);
    if (r)
        c->line++;
    return r;
}

static int on_ini_value(void *user, const char *section, const char *key, const char *value)
{
    struct file_ctx *c = user;
    if (c->failed)
        return 0;
    for (size_t i = 0; i < c->spec->count; i++) {
        const struct config_option *o = &c->spec->options[i];
        if (strcmp(o->section, section) != 0 || strcmp(o->key, key) != 0)
            continue;
        if (set_value(o, value, c->out) != 0) {
            char exp[128];
            snprintf(c->err, c->errlen, "%s:%d: bad value '%s' for key '%s'%s%s%s: expected %s",
                     c->path, c->line, value, key, section[0] ? " in section [" : "", section,
                     section[0] ? "]" : "", expectation(o, exp, sizeof exp));
            c->failed = true;
            return 0;
        }
        return 1;
    }
    snprintf(c->err, c->errlen, "%s:%d: unknown key '%s'%s%s%s", c->path, c->line, key,
             section[0] ? " in section [" : "", section, section[0] ? "]" : "");
    c->failed = true;
    return 0;
}

int config_load_file(const struct config_spec *spec, const char *path, void *out, char *err,
                     size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return CONFIG_ERROR;
    }
    struct file_ctx c = { spec, out, fp, path, 0, err, errlen, false };
    int rc = ini_parse_stream(read_line, &c, on_ini_value, &c);
    fclose(fp);
    if (c.failed)
        return CONFIG_ERROR;
    if (rc != 0) {
        /* rc > 0 is the first line inih could not parse (a handler error would have set failed). */
        snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
        return CONFIG_ERROR;
    }
    return CONFIG_OK;
}

static const struct config_option *find_flag(const struct config_spec *spec, const char *name,
                                             size_t len)
{
    for (size_t i = 0; i < spec->count; i++) {
        const char *f = spec->options[i].flag;
        if (f && strlen(f) == len && strncmp(f, name, len) == 0)
            return &spec->options[i];
    }
    return NULL;
}

static bool is_flag(const char *a) { return a[0] == '-' && a[1] == '-' && a[2] != '\0'; }

/* One parsed flag: its name (not terminated), the option it names (NULL for --config or an
 * unknown flag) and its value (NULL when missing). */
struct flag {
    const char *name;
    size_t len;
    const struct config_option *opt;
    const char *value;
};

static bool flag_is(const struct flag *f, const char *name)
{
    return f->len == strlen(name) && strncmp(f->name, name, f->len) == 0;
}

/* Reads the flag at argv[*i] and advances *i past it and its value. */
static struct flag next_flag(const struct config_spec *spec, int argc, char **argv, int *i)
{
    struct flag f = { .name = argv[*i] + 2 };
    const char *eq = strchr(f.name, '=');
    f.len = eq ? (size_t)(eq - f.name) : strlen(f.name);
    f.opt = find_flag(spec, f.name, f.len);
    bool takes_value = flag_is(&f, "config") || (f.opt && f.opt->type != CONFIG_BOOL);
    bool b;
    if (eq)
        f.value = eq + 1;
    else if (f.opt && f.opt->type == CONFIG_BOOL && *i + 1 < argc && parse_bool(argv[*i + 1], &b) == 0)
        f.value = argv[++*i]; /* "--fsync false" reads as the user meant it */
    else if (f.opt && f.opt->type == CONFIG_BOOL)
        f.value = "true";
    else if (takes_value && *i + 1 < argc)
        f.value = argv[++*i];
    (*i)++;
    return f;
}

int config_from_args(const struct config_spec *spec, int argc, char **argv, void *out,
                     int *first_arg, char *err, size_t errlen)
{
    config_defaults(spec, out);
    /* Pass 1: find where the flags end, answer --help, and load --config before any flag. */
    int end = 1;
    while (end < argc && is_flag(argv[end])) {
        struct flag f = next_flag(spec, argc, argv, &end);
        if (flag_is(&f, "help"))
            return CONFIG_HELP;
        if (flag_is(&f, "version"))
            return CONFIG_VERSION;
        if (flag_is(&f, "config")) {
            if (!f.value) {
                snprintf(err, errlen, "--config: missing file name");
                return CONFIG_ERROR;
            }
            if (config_load_file(spec, f.value, out, err, errlen) != CONFIG_OK)
                return CONFIG_ERROR;
        }
    }
    if (end < argc && strcmp(argv[end], "-h") == 0)
        return CONFIG_HELP;
    /* Pass 2: every other flag, in order. */
    for (int i = 1; i < end;) {
        struct flag f = next_flag(spec, argc, argv, &i);
        if (flag_is(&f, "config"))
            continue;
        if (!f.opt) {
            snprintf(err, errlen, "--%.*s: unknown flag (see --help)", (int)f.len, f.name);
            return CONFIG_ERROR;
        }
        if (!f.value) {
            snprintf(err, errlen, "--%s: missing value", f.opt->flag);
            return CONFIG_ERROR;
        }
        if (set_value(f.opt, f.value, out) != 0) {
            char exp[128];
            snprintf(err, errlen, "--%s: bad value '%s': expected %s", f.opt->flag, f.value,
                     expectation(f.opt, exp, sizeof exp));
            return CONFIG_ERROR;
        }
    }
    if (end < argc && strcmp(argv[end], "--") == 0)
        end++;
    *first_arg = end;
    return CONFIG_OK;
}

int config_from_args_or_exit(const struct config_spec *spec, int argc, char **argv, void *out)
{
    char err[512];
    int first = argc;
    int rc = config_from_args(spec, argc, argv, out, &first, err, sizeof err);
    if (rc == CONFIG_HELP) {
        config_print_help(spec, stdout);
        exit(0);
    }
    if (rc == CONFIG_VERSION) {
        printf("%s %s\n", spec->program, config_version());
        exit(0);
    }
    if (rc != CONFIG_OK) {
        fprintf(stderr, "%s: %s\n", spec->program, err);
        exit(2);
    }
    return first;
}

void config_print_help(const struct config_spec *spec, FILE *out)
{
    fprintf(out, "Usage: %s %s\n\n%s\n\nOptions:\n", spec->program, spec->synopsis, spec->summary);
    fprintf(out, "  %-26s %s\n", "--config FILE", "read settings from an INI file first "
                                                  "(flags override it)");
    for (size_t i = 0; i < spec->count; i++) {
        const struct config_option *o = &spec->options[i];
        if (!o->flag)
            continue;
        char left[64];
        const char *meta = o->type == CONFIG_BOOL ? "" : o->type == CONFIG_STRING ? " VALUE"
                           : o->type == CONFIG_INT ? " N" : o->type == CONFIG_SIZE ? " SIZE"
                                                                              : " DURATION";
        snprintf(left, sizeof left, "--%s%s", o->flag, meta);
        fprintf(out, "  %-26s %s", left, o->help);
        if (o->def)
            fprintf(out, " (default %s)", o->def);
        if (o->section[0])
            fprintf(out, " [ini: %s.%s]", o->section, o->key);
        else
            fprintf(out, " [ini: %s]", o->key);
        fputc('\n', out);
    }
    fprintf(out, "  %-26s %s\n", "--help", "print this help and exit");
    fprintf(out, "  %-26s %s\n", "--version", "print the program's name and version and exit");
}

void config_describe(const struct config_spec *spec, const void *cfg, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < spec->count && used < len; i++) {
        const struct config_option *o = &spec->options[i];
        const void *f = cfield(cfg, o);
        char val[256];
        switch (o->type) {
        case CONFIG_STRING: snprintf(val, sizeof val, "%s", *(char *const *)f ? *(char *const *)f : "");
            break;
        case CONFIG_BOOL: snprintf(val, sizeof val, "%s", *(const bool *)f ? "true" : "false"); break;
        case CONFIG_INT: snprintf(val, sizeof val, "%lld", (long long)*(const int64_t *)f); break;
        case CONFIG_DURATION: snprintf(val, sizeof val, "%llums", (unsigned long long)*(const uint64_t *)f);
            break;
        case CONFIG_SIZE: snprintf(val, sizeof val, "%llu", (unsigned long long)*(const uint64_t *)f); break;
        }
        int n = snprintf(buf + used, len - used, "%s%s=%s", used ? " " : "", o->key, val);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void config_free(const struct config_spec *spec, void *cfg)
{
    for (size_t i = 0; i < spec->count; i++) {
        const struct config_option *o = &spec->options[i];
        if (o->type == CONFIG_STRING) {
            char **p = field(cfg, o);
            free(*p);
            *p = NULL;
        }
    }
}
