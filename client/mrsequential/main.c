/* mrsequential: runs a MapReduce app over its inputs in one process and writes the reference
 * output (the lab's mrsequential):
 *   mrsequential [--output mr-seq-out] APP.so INPUT...
 * (The lab's writes mr-out-0, which is also the distributed job's first output: run in the
 * same directory, one overwrote the other.) */
#include <stddef.h>
#include <stdio.h>

#include "base/config.h"
#include "base/util.h"
#include "mr/mr.h"

struct opts {
    char *output;
};

static const struct config_option options[] = {
    { "", "output", "output", CONFIG_STRING, offsetof(struct opts, output), "mr-seq-out", 0, 0,
      "file to write the \"key value\" lines to (written whole, then renamed into place; not "
      "mr-out-*, the distributed job's outputs)" },
};

static const struct config_spec spec = {
    "mrsequential", "[OPTION]... APP.so INPUT...",
    "Runs the map and reduce functions of APP.so over every INPUT in this one process and writes "
    "the sorted \"key value\" lines: the reference output the distributed run must match.",
    options, ARRAY_LEN(options),
};

int main(int argc, char **argv)
{
    struct opts o;
    char err[1024];
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    if (argc - first < 2) {
        fprintf(stderr, "mrsequential: expected APP.so and at least one INPUT (see --help)\n");
        config_free(&spec, &o);
        return 2;
    }
    struct mr_app app;
    if (mr_app_load(&app, argv[first], err, sizeof err) != MR_OK) {
        fprintf(stderr, "mrsequential: %s\n", err);
        config_free(&spec, &o);
        return 2;
    }
    int rc = mr_sequential(&app, argv + first + 1, (size_t)(argc - first - 1), o.output, err,
                           sizeof err);
    if (rc != MR_OK)
        fprintf(stderr, "mrsequential: %s\n", err);
    mr_app_close(&app);
    config_free(&spec, &o);
    return rc == MR_OK ? 0 : 1;
}
