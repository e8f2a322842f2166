/* lin_check_and_save: the cluster tests' entry point (writes the history to $KV_HISTORY_DIR). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "lincheck.h"

int lin_check_and_save(const struct lin_history *h, const char *test_name, uint64_t timeout_ms,
                       struct lin_report *report)
{
    const char *dir = getenv(LIN_HISTORY_DIR_ENV);
    if (dir && *dir) {
        char err[512];
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            memset(report, 0, sizeof *report);
            report->result = LIN_UNKNOWN;
            report->ops = h->len;
            report->timeout_ms = timeout_ms;
            report->explanation = xasprintf("cannot create %s=%s: %s", LIN_HISTORY_DIR_ENV, dir,
                                            strerror(errno));
            return LIN_ERR_IO;
        }
        char *name = xstrdup(test_name && *test_name ? test_name : "history");
        for (char *c = name; *c; c++)
            if (*c == '/')
                *c = '_';
        char *path = xasprintf("%s/%s.jsonl", dir, name);
        free(name);
        int rc = lin_history_write_jsonl(h, path, err, sizeof err);
        free(path);
        if (rc < 0) {
            memset(report, 0, sizeof *report);
            report->result = LIN_UNKNOWN;
            report->ops = h->len;
            report->timeout_ms = timeout_ms;
            report->explanation = xstrdup(err);
            return LIN_ERR_IO;
        }
    }
    return lin_check(h, timeout_ms, report);
}
