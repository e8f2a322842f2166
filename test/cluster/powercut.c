/* Power cuts for the harness (cluster.h, "power cuts"): nodes run under the power-cut shim
 * (test/powercut, docs/POWERCUT.md), and a cut kills a set of them at once and then takes
 * away, page by page, what each had written without an fsync. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../powercut/powercut.h"
#include "base/util.h"
#include "cluster.h"
#include "internal.h"

static bool powercut_wanted(const struct cluster_opts *o)
{
    const char *env = getenv("CLUSTER_POWERCUT");
    return o->powercut || (env && strcmp(env, "1") == 0);
}

int cluster_powercut_init(struct cluster *c, const struct cluster_opts *o, char *err,
                          size_t errlen)
{
    if (!powercut_wanted(o))
        return 0;
    const char *lib = getenv("POWERCUT_LIB"), *mode = getenv("MODE");
    char def[PATH_MAX], real[PATH_MAX];
    if (!lib || !*lib) {
        snprintf(def, sizeof def, "build/%s/test/libpowercut.so", mode && *mode ? mode : "release");
        lib = def;
    }
    /* Absolute: the daemons may resolve it from another directory. */
    if (!realpath(lib, real)) {
        snprintf(err, errlen, "cluster: the power-cut shim %s: %s (make builds it; POWERCUT_LIB "
                 "names another)", lib, strerror(errno));
        return -1;
    }
    c->powercut_lib = xstrdup(real);
    return 0;
}

char **cluster_node_env(const struct cluster *c, const struct cnode *nd, char *out[6],
                        char bufs[4][1024])
{
    size_t n = 0;
    if (c->powercut_lib) {
        snprintf(bufs[0], 1024, "LD_PRELOAD=%s", c->powercut_lib);
        snprintf(bufs[1], 1024, "POWERCUT_DIR=%s", nd->data_dir);
        snprintf(bufs[2], 1024, "POWERCUT_JOURNAL=%s/powercut", nd->dir);
        out[n++] = bufs[0];
        out[n++] = bufs[1];
        out[n++] = bufs[2];
        /* An ASan daemon checks that its runtime comes first among the libraries; the shim,
         * preloaded, comes before it and only interposes libc's calls. (Added to the test's
         * own ASAN_OPTIONS, if any.) */
        const char *asan = getenv("ASAN_OPTIONS");
        snprintf(bufs[3], 1024, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan ? asan : "",
                 asan && *asan ? ":" : "");
        out[n++] = bufs[3];
    }
    if (nd->env_extra)
        out[n++] = nd->env_extra;
    out[n] = NULL;
    return out;
}

void cluster_set_node_env(struct cluster *c, unsigned i, const char *assignment)
{
    struct cnode *nd = cluster_node(c, i);
    free(nd->env_extra);
    nd->env_extra = assignment ? xstrdup(assignment) : NULL;
}

int cluster_power_cut(struct cluster *c, uint32_t set, uint64_t seed, int mode,
                      struct powercut_stats *st, char *err, size_t errlen)
{
    if (!c->powercut_lib) {
        snprintf(err, errlen, "cluster_power_cut: the cluster does not run under the shim "
                 "(cluster_opts.powercut, CLUSTER_POWERCUT=1)");
        return -1;
    }
    /* The same instant: every kill is sent before any is waited for. */
    for (unsigned i = 1; i <= c->n; i++)
        if ((set >> i & 1) && c->nodes[i].pid > 0) {
            if (c->nodes[i].paused)
                kill(c->nodes[i].pid, SIGCONT); /* (SIGKILL works either way) */
            kill(c->nodes[i].pid, SIGKILL);
        }
    for (unsigned i = 1; i <= c->n; i++)
        if ((set >> i & 1) && c->nodes[i].pid > 0) {
            cluster_proc_end(c->nodes[i].pid, SIGKILL, 5000, NULL);
            cluster_node_forget(&c->nodes[i]);
        }
    /* A node of set that was down already (crashed, or exited by itself: a failed fsync) has
     * its journal too: a power cut takes its unsynced writes all the same. One that never ran
     * under the shim has none. */
    for (unsigned i = 1; i <= c->n; i++) {
        if (!(set >> i & 1))
            continue;
        struct cnode *nd = &c->nodes[i];
        char journal[1024], why[512];
        snprintf(journal, sizeof journal, "%s/powercut", nd->dir);
        if (access(journal, F_OK) != 0)
            continue;
        struct powercut_stats one = { 0 };
        if (powercut_apply(nd->data_dir, journal, seed ^ ((uint64_t)i << 56), mode, &one, why,
                           sizeof why) != 0) {
            snprintf(err, errlen, "power cut of node %u: %s", i, why);
            return -1;
        }
        if (st) {
            st->files += one.files;
            st->missing += one.missing;
            st->pages += one.pages;
            st->kept += one.kept;
            st->lost += one.lost;
            st->torn += one.torn;
        }
    }
    return 0;
}
