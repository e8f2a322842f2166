/* Configuration from built-in defaults, then an INI file, then command-line flags (each level
 * overrides the one before). A program describes its options once, in a table; the same table
 * drives the INI reader (through inih), the flag parser, --help and the one-line summary that
 * daemons print at start. Errors name the file and line (or the flag) and the key. */
#ifndef BASE_CONFIG_H
#define BASE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum config_type {
    CONFIG_STRING,   /* char * (owned by the config struct; free with config_free) */
    CONFIG_INT,      /* int64_t, within [min, max] */
    CONFIG_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
    CONFIG_DURATION, /* uint64_t milliseconds: "250ms", "2s", "1m", bare ms; within [min, max] */
    CONFIG_SIZE,     /* uint64_t bytes: "64MiB", "4KiB", bare bytes; within [min, max] */
};

struct config_option {
    const char *section; /* INI section, or "" for keys before any section */
    const char *key;     /* INI key */
    const char *flag;    /* long flag without the dashes ("data-dir"), or NULL for file-only */
    enum config_type type;
    size_t offset;       /* offsetof(the program's config struct, field) */
    const char *def;     /* default, in the same syntax as the file; NULL = unset (strings only) */
    long long min, max;  /* bounds for numbers; both 0 = unbounded (non-negative for sizes) */
    const char *help;    /* one line for --help */
};

struct config_spec {
    const char *program;  /* "raftd" */
    const char *synopsis; /* what follows the program name in the usage line */
    const char *summary;  /* a short paragraph for --help */
    const struct config_option *options;
    size_t count;
};

enum { CONFIG_OK = 0, CONFIG_HELP = 1, CONFIG_VERSION = 2, CONFIG_ERROR = -1 };

/* The version every program reports ("0.1.0+g1a2b3c4"): the VERSION file, plus the git commit
 * when the tree was built from a checkout (build/gen/version.h, written by the Makefile). */
const char *config_version(void);

/* Fills every option of out with its default. Defaults are part of the program, so a bad one
 * is a programming error and aborts. */
void config_defaults(const struct config_spec *spec, void *out);

/* Reads an INI file over out. On error returns CONFIG_ERROR and writes a message such as
 * "conf/a.ini:7: unknown key 'tick_ms' in section [raft]" into err. */
int config_load_file(const struct config_spec *spec, const char *path, void *out, char *err,
                     size_t errlen);

/* The whole sequence for a main(): defaults, then the file named by --config FILE (wherever it
 * stands among the flags), then every other flag in order; --help and --version stop it. Flags are --flag VALUE or
 * --flag=VALUE (a bool flag alone means true; "--flag false" also works); parsing stops at "--" or the first argument that
 * is not a flag, whose index goes to *first_arg (argc when there is none).
 * Returns CONFIG_OK, CONFIG_HELP (--help was given; nothing else parsed), CONFIG_VERSION
 * (likewise --version), or CONFIG_ERROR with a message in err. */
int config_from_args(const struct config_spec *spec, int argc, char **argv, void *out,
                     int *first_arg, char *err, size_t errlen);

/* config_from_args for a main(): on --help prints the help to stdout and exits 0, on --version
 * prints "<program> <version>" to stdout and exits 0; on an error
 * prints "<program>: <message>" to stderr and exits 2. Returns the index of the first
 * positional argument. */
int config_from_args_or_exit(const struct config_spec *spec, int argc, char **argv, void *out);

/* Prints usage, the summary and every flag with its default and help. */
void config_print_help(const struct config_spec *spec, FILE *out);

/* Writes "key=value key=value ..." for every option into buf (truncated to len). */
void config_describe(const struct config_spec *spec, const void *cfg, char *buf, size_t len);

/* Frees the strings the config owns. */
void config_free(const struct config_spec *spec, void *cfg);

#endif
