/* lincheck: checks a key/value history (JSON lines) for linearizability.
 *   lincheck [--timeout 10s] FILE
 * Exit status: 0 linearizable, 1 not linearizable, 3 unknown (time or memory limit), 2 usage or
 * file error. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "base/util.h"
#include "lincheck.h"

struct opts {
    uint64_t timeout_ms;
};

static const struct config_option options[] = {
    { "", "timeout", "timeout", CONFIG_DURATION, offsetof(struct opts, timeout_ms), "10s", 0, 0,
      "give up (exit 3) after this long; 0 = no limit" },
};

static const struct config_spec spec = {
    "lincheck", "[OPTION]... FILE",
    "Checks the key/value history in FILE (JSON lines, one operation per line, see "
    "docs/LINCHECK.md) for linearizability. Prints a one-line verdict and, when the history is "
    "not linearizable, the key and an explanation. Exit status: 0 linearizable, 1 not "
    "linearizable, 3 unknown (time or memory limit reached), 2 usage or file error.",
    options, ARRAY_LEN(options),
};

int main(int argc, char **argv)
{
    struct opts o;
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    if (argc - first != 1) {
        fprintf(stderr, "lincheck: expected exactly one FILE (see --help)\n");
        config_free(&spec, &o);
        return 2;
    }
    struct lin_history h;
    lin_history_init(&h);
    char err[1024];
    if (lin_history_load_jsonl(&h, argv[first], err, sizeof err) < 0) {
        fprintf(stderr, "lincheck: %s\n", err);
        lin_history_free(&h);
        config_free(&spec, &o);
        return 2;
    }
    struct lin_report r;
    enum lin_result res = lin_check(&h, o.timeout_ms, &r);
    char line[512];
    lin_report_summary(&r, line, sizeof line);
    printf("%s\n", line);
    if (res != LIN_OK && r.explanation)
        printf("%s\n", r.explanation);
    lin_report_free(&r);
    lin_history_free(&h);
    config_free(&spec, &o);
    return (int)res;
}
