/* mrworker: runs the map and reduce functions of an app (a shared object) for a coordinator
 * until the job is done.
 *   mrworker [--coordinator ADDR] APP.so */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "mr/mr.h"
#include "tlsopt/tlsopt.h"
#include "worker.h"

struct opts {
    char *coordinator, *log_level;
    uint64_t give_up_ms;
    struct tls_opts tls;
};

static const struct config_option options[] = {
    { "", "coordinator", "coordinator", CONFIG_STRING, offsetof(struct opts, coordinator),
      "127.0.0.1:7600", 0, 0, "address of the mrcoordinator" },
    { "", "give_up", "give-up", CONFIG_DURATION, offsetof(struct opts, give_up_ms), "3s", 1,
      3600000, "exit when the coordinator has not answered for this long" },
    { "", "log_level", "log-level", CONFIG_STRING, offsetof(struct opts, log_level), "info", 0, 0,
      "debug, info, warn, error or off" },
    TLS_CONFIG_OPTIONS("", "tls_", struct opts, tls),
};

static const struct config_spec spec = {
    "mrworker", "[OPTION]... APP.so",
    "Asks the coordinator for map and reduce tasks and runs them with the functions of APP.so "
    "(see lib/mr/mrapp.h), until the coordinator says the job is done or cannot be reached. "
    "Input names are opened, and the coordinator's work directory used, relative to the "
    "current directory. Killing a worker at any moment is safe: files appear whole or not at "
    "all, and the coordinator gives its task to another worker.",
    options, ARRAY_LEN(options),
};

int main(int argc, char **argv)
{
    struct opts o;
    char err[1024];
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    enum log_level level = LOG_INFO;
    const char *problem = argc - first != 1 ? "expected one APP.so (see --help)"
                          : log_level_parse(o.log_level, &level) != 0
                              ? "--log-level: expected debug, info, warn, error or off"
                              : NULL;
    if (problem) {
        fprintf(stderr, "mrworker: %s\n", problem);
        config_free(&spec, &o);
        return 2;
    }
    char name[300], host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "%s/%ld", host, (long)getpid());
    log_setup(level, name, NULL);
    struct rpc_tls *tls = NULL;
    if (tls_opts_setup("mrworker", &o.tls, &tls) != 0) {
        config_free(&spec, &o);
        return 2;
    }
    struct mr_app app;
    if (mr_app_load(&app, argv[first], err, sizeof err) != MR_OK) {
        fprintf(stderr, "mrworker: %s\n", err);
        tls_opts_teardown(tls);
        config_free(&spec, &o);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a coordinator going away must not kill us mid-write */
    char desc[512];
    config_describe(&spec, &o, desc, sizeof desc);
    LOG_INFO("worker", "config: %s app=%s", desc, argv[first]);
    tls_opts_describe(&o.tls, tls, desc, sizeof desc);
    LOG_INFO("worker", "%s", desc);
    struct worker_config cfg = { o.coordinator, name, o.give_up_ms };
    int rc = worker_run(&app, &cfg);
    mr_app_close(&app);
    tls_opts_teardown(tls);
    config_free(&spec, &o);
    return rc;
}
