/* mrcoordinator: hands the map and reduce tasks of one job to mrworker processes and exits
 * when every output is final.
 *   mrcoordinator [--listen ADDR] [--nreduce N] [--task-timeout SECS] [--workdir DIR]
 *                 [--metrics-listen ADDR] INPUT...
 *   mrcoordinator --status ADDR      (progress of a running coordinator) */
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "coord.h"
#include "metrics.h"
#include "metrics/http.h"
#include "metrics/metrics.h"
#include "metrics/rpc.h"
#include "rpc/rpc.h"
#include "tlsopt/tlsopt.h"
#include "status.h"

struct opts {
    char *listen, *workdir, *addr_file, *status, *log_level, *metrics_listen;
    int64_t nreduce, task_timeout_s, max_failures;
    uint64_t linger_ms, hold_ms;
    bool keep_intermediate, no_bar;
    struct tls_opts tls;
};

static const struct config_option options[] = {
    { "", "listen", "listen", CONFIG_STRING, offsetof(struct opts, listen), "127.0.0.1:7600", 0, 0,
      "address to serve workers on (port 0: any free port)" },
    { "", "nreduce", "nreduce", CONFIG_INT, offsetof(struct opts, nreduce), "10", 1, 100000,
      "number of reduce tasks (output files mr-out-0 ... mr-out-N-1)" },
    { "", "task_timeout", "task-timeout", CONFIG_INT, offsetof(struct opts, task_timeout_s), "10",
      1, 86400, "seconds after which an unfinished task is given to another worker" },
    { "", "workdir", "workdir", CONFIG_STRING, offsetof(struct opts, workdir), ".", 0, 0,
      "directory, shared by all workers, of the intermediate and output files" },
    { "", "keep_intermediate", "keep-intermediate", CONFIG_BOOL,
      offsetof(struct opts, keep_intermediate), "false", 0, 0,
      "leave the intermediate files mr-X-Y when the job is done" },
    { "", "linger", "linger", CONFIG_DURATION, offsetof(struct opts, linger_ms), "1s", 0, 60000,
      "once done, how long to wait for busy workers to hear so before exiting" },
    { "", "hold", "hold", CONFIG_DURATION, offsetof(struct opts, hold_ms), "1s", 1, 10000,
      "how long a worker's request waits for a task before it is told to ask again" },
    { "", "max_failures", "max-failures", CONFIG_INT, offsetof(struct opts, max_failures), "3", 1,
      1000, "reported failures of one task that fail the whole job" },
    { "", "addr_file", "addr-file", CONFIG_STRING, offsetof(struct opts, addr_file), NULL, 0, 0,
      "write the address actually listened on to this file (for scripts using port 0)" },
    { "", "no_progress_bar", "no-progress-bar", CONFIG_BOOL, offsetof(struct opts, no_bar),
      "false", 0, 0, "log progress lines even when stderr is a terminal" },
    { "", "log_level", "log-level", CONFIG_STRING, offsetof(struct opts, log_level), "info", 0, 0,
      "debug, info, warn, error or off" },
    { "", "metrics_listen", "metrics-listen", CONFIG_STRING, offsetof(struct opts, metrics_listen),
      NULL, 0, 0, "HOST:PORT to serve Prometheus metrics (/metrics), /healthz and /readyz on, "
      "over plain HTTP even with TLS (default: none)" },
    TLS_CONFIG_OPTIONS("", "tls_", struct opts, tls),
    { "", "status", "status", CONFIG_STRING, offsetof(struct opts, status), NULL, 0, 0,
      "print the progress of the coordinator at this address and exit" },
};

static const struct config_spec spec = {
    "mrcoordinator", "[OPTION]... INPUT...",
    "Runs one MapReduce job: one map task per INPUT file, --nreduce reduce tasks, handed to "
    "mrworker processes over TCP. Exits 0 once every output mr-out-* in --workdir is final. "
    "The job's state is kept in memory only.",
    options, ARRAY_LEN(options),
};

static void on_signal(int sig, void *arg)
{
    LOG_WARN("coord", "signal %d", sig);
    coord_stop(arg);
}

/* Checks the inputs and the working directory before anything starts; 0 or -1 (reported). */
static int check_files(char *const *inputs, int n, const char *workdir)
{
    struct stat st;
    for (int i = 0; i < n; i++) {
        if (access(inputs[i], R_OK) != 0 || stat(inputs[i], &st) != 0 || !S_ISREG(st.st_mode)) {
            fprintf(stderr, "mrcoordinator: input %s: %s\n", inputs[i],
                    access(inputs[i], R_OK) != 0 ? "cannot be read" : "not a regular file");
            return -1;
        }
    }
    if (stat(workdir, &st) != 0 || !S_ISDIR(st.st_mode) || access(workdir, W_OK) != 0) {
        fprintf(stderr, "mrcoordinator: --workdir %s: not a writable directory\n", workdir);
        return -1;
    }
    return 0;
}

static int write_addr_file(const char *path, const char *listen, uint16_t port)
{
    char host[256];
    uint16_t unused;
    if (parse_host_port(listen, host, sizeof host, &unused) != 0)
        return -1;
    char *tmp = xasprintf("%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    int rc = fp && fprintf(fp, "%s:%u\n", host, (unsigned)port) > 0 ? 0 : -1;
    if (fp && fclose(fp) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    free(tmp);
    return rc;
}

static uint64_t random_job_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = clock_wall_ns() ^ ((uint64_t)getpid() << 32);
    return id;
}

static int run(const struct opts *o, const struct rpc_tls *tls, char *const *inputs, int ninputs)
{
    enum log_level level;
    if (log_level_parse(o->log_level, &level) != 0) {
        fprintf(stderr, "mrcoordinator: --log-level %s: expected debug, info, warn, error or off\n",
                o->log_level);
        return 2;
    }
    log_setup(level, "coord", NULL);
    char desc[1024];
    config_describe(&spec, o, desc, sizeof desc);
    LOG_INFO("coord", "config: %s", desc);
    tls_opts_describe(&o->tls, tls, desc, sizeof desc);
    LOG_INFO("coord", "%s", desc);
    if (check_files(inputs, ninputs, o->workdir) != 0)
        return 2;
    struct event_base *base = event_base_new();
    struct rpc_server *srv = rpc_server_new(base, NULL);
    struct metrics *reg = metrics_new();
    struct rpc_metrics *rm = rpc_metrics_new(reg, srv);
    struct metrics_http *http = NULL;
    char err[256];
    if (rpc_server_listen(srv, o->listen, err, sizeof err) != 0 ||
        (o->metrics_listen &&
         !(http = metrics_http_new(base, o->metrics_listen, reg, err, sizeof err)))) {
        fprintf(stderr, "mrcoordinator: %s\n", err);
        rpc_server_free(srv);
        rpc_metrics_free(rm);
        metrics_free(reg);
        event_base_free(base);
        return 1;
    }
    struct coord_config cfg = {
        .inputs = inputs,
        .ninputs = (uint32_t)ninputs,
        .nreduce = (uint32_t)o->nreduce,
        .task_timeout_ms = (uint64_t)o->task_timeout_s * 1000,
        .workdir = o->workdir,
        .hold_ms = o->hold_ms,
        .linger_ms = o->linger_ms,
        .max_failures = (uint32_t)o->max_failures,
        .keep_intermediate = o->keep_intermediate,
        .progress_bar = !o->no_bar && isatty(STDERR_FILENO),
        .job_id = random_job_id(),
    };
    LOG_INFO("coord", "listening on port %u: %d map tasks, %u reduce tasks, job %016llx",
             (unsigned)rpc_server_port(srv), ninputs, cfg.nreduce,
             (unsigned long long)cfg.job_id);
    struct coord *c = coord_new(base, srv, &cfg);
    struct coord_metrics *cm = coord_metrics_new(reg, c);
    if (http) {
        metrics_http_probe(http, "/healthz", coord_metrics_healthz, cm);
        metrics_http_probe(http, "/readyz", coord_metrics_readyz, cm);
    }
    struct rpc_signals *sig = rpc_signals_install(base, on_signal, c);
    /* The address file says "ready": written only once SIGTERM is handled, so a signal sent as
     * soon as it appears is a clean stop, not the default death. */
    int rc;
    if (o->addr_file && write_addr_file(o->addr_file, o->listen, rpc_server_port(srv)) != 0) {
        fprintf(stderr, "mrcoordinator: cannot write --addr-file %s\n", o->addr_file);
        rc = 1;
    } else {
        event_base_dispatch(base);
        rc = coord_exit_status(c);
    }
    rpc_signals_free(sig);
    metrics_http_free(http);
    coord_free(c);
    rpc_server_free(srv);
    coord_metrics_free(cm);
    rpc_metrics_free(rm);
    metrics_free(reg);
    event_base_free(base);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    int first = config_from_args_or_exit(&spec, argc, argv, &o);
    if ((!o.status && first == argc) || (o.status && first != argc)) {
        fprintf(stderr, "mrcoordinator: %s\n",
                o.status ? "--status takes no INPUT" : "no INPUT files (see --help)");
        config_free(&spec, &o);
        return 2;
    }
    struct rpc_tls *tls = NULL;
    int rc = tls_opts_setup("mrcoordinator", &o.tls, &tls);
    if (rc == 0)
        rc = o.status ? status_query(o.status, 5000) : run(&o, tls, argv + first, argc - first);
    tls_opts_teardown(tls);
    config_free(&spec, &o);
    return rc;
}
