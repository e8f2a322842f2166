/* Processes for the harness: spawning daemons that die with the test, ending them within a
 * time limit, ports for them, log tails, and the watcher that cleans up after a dead test. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "cluster.h"
#include "internal.h"

/* In a forked child: closes every descriptor above 2 except keep (-1: none). */
static void close_others(int keep)
{
    if (keep < 3) {
        close_range(3, ~0u, 0);
        return;
    }
    if (keep > 3)
        close_range(3, (unsigned)keep - 1, 0);
    close_range((unsigned)keep + 1, ~0u, 0);
}

/* In a forked child: default dispositions and an empty mask for the signals a test process
 * may have changed (exec keeps ignored signals and the mask). */
static void reset_signals(void)
{
    static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM };
    for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The environment of a child: this process's, with each NAME=VALUE of extra (NULL-terminated;
 * may be NULL) replacing its NAME or added. Built before fork (it allocates). Free with free()
 * (the strings are borrowed). */
static char **child_env(char *const extra[])
{
    extern char **environ;
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[k])
        k++;
    char **env = xcalloc(n + k + 1, sizeof *env);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < k && !replaced; j++) {
            size_t name = strcspn(extra[j], "=");
            replaced = strncmp(environ[i], extra[j], name + 1) == 0;
        }
        if (!replaced)
            env[m++] = environ[i];
    }
    for (size_t j = 0; j < k; j++)
        env[m++] = extra[j];
    return env;
}

pid_t cluster_proc_spawn(char *const argv[], const char *log_path, char *err, size_t errlen)
{
    return cluster_proc_spawn_env(argv, NULL, log_path, err, errlen);
}

pid_t cluster_proc_spawn_env(char *const argv[], char *const env[], const char *log_path,
                             char *err, size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    char **envp = child_env(env);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        free(envp);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127); /* the test died between fork and prctl */
        int e = 0;
        int in = open("/dev/null", O_RDONLY);
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (in < 0 || log < 0 || dup2(in, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0) {
            e = errno;
        } else {
            close_others(fds[1]);
            reset_signals();
            execve(argv[0], argv, envp);
            e = errno;
        }
        if (write(fds[1], &e, sizeof e) != sizeof e)
            _exit(126);
        _exit(127);
    }
    close(fds[1]);
    free(envp);
    int e;
    ssize_t n;
    do
        n = read(fds[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == sizeof e) {
        waitpid(pid, NULL, 0);
        snprintf(err, errlen, "cannot run %s (log %s): %s", argv[0], log_path, strerror(e));
        return -1;
    }
    return pid;
}

int cluster_proc_end(pid_t pid, int sig, uint64_t timeout_ms, int *status)
{
    int st = 0;
    if (sig)
        kill(pid, sig);
    uint64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (clock_mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                    return -1;
            if (status)
                *status = st;
            return 1;
        }
        clock_sleep_ms(2);
    }
    if (status)
        *status = st;
    return 0;
}

void cluster_print_tail(const char *path, int lines, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s(no log at %s)\n", prefix, path);
        return;
    }
    enum { WINDOW = 64 * 1024 };
    char *buf = xmalloc(WINDOW + 1);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = size > WINDOW ? size - WINDOW : 0;
    fseek(f, start, SEEK_SET);
    size_t n = fread(buf, 1, WINDOW, f);
    fclose(f);
    buf[n] = '\0';
    /* Walk back over `lines` line ends (a final newline does not start a line). */
    size_t pos = n;
    if (pos > 0 && buf[pos - 1] == '\n')
        pos--;
    int seen = 0;
    while (pos > 0) {
        if (buf[pos - 1] == '\n' && ++seen == lines)
            break;
        pos--;
    }
    for (char *line = buf + pos; *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        fprintf(stderr, "%s%s\n", prefix, line);
        if (!end)
            break;
        line = end + 1;
    }
    free(buf);
}

/* ---- ports -------------------------------------------------------------------------------- */

static bool port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static bool port_taken(uint16_t port, const uint16_t *taken, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (taken[i] == port)
            return true;
    return false;
}

/* Every daemon port picked in this process and not yet released, whatever cluster it is for:
 * a test holding several clusters (a controller and its groups) must not hand a node of one
 * the port of a node of another that is down at that moment (port_free cannot see it). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static uint16_t *reg_ports;
static size_t reg_n, reg_cap;

/* Reserves port unless it is already reserved: true when it was free to take. */
static bool port_reserve(uint16_t port)
{
    pthread_mutex_lock(&reg_mu);
    bool ok = !port_taken(port, reg_ports, reg_n);
    if (ok) {
        if (reg_n == reg_cap) {
            reg_cap = reg_cap ? reg_cap * 2 : 32;
            reg_ports = xrealloc(reg_ports, reg_cap * sizeof *reg_ports);
        }
        reg_ports[reg_n++] = port;
    }
    pthread_mutex_unlock(&reg_mu);
    return ok;
}

void cluster_port_release(uint16_t port)
{
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_n; i++)
        if (reg_ports[i] == port) {
            reg_ports[i] = reg_ports[--reg_n];
            break;
        }
    pthread_mutex_unlock(&reg_mu);
}

/* The range ports are picked from: TEST_PORT_LO..TEST_PORT_HI when set (test/run-all.sh gives
 * each of the programs it runs at once its own), else 10000 up to the kernel's ephemeral range. */
static void port_range(unsigned *lo, unsigned *hi)
{
    enum { LOWEST = 10000 };
    unsigned eph = 32768, eph_hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &eph, &eph_hi) != 2)
            eph = 0;
        fclose(f);
    }
    *lo = LOWEST;
    *hi = eph;
    const char *l = getenv("TEST_PORT_LO"), *h = getenv("TEST_PORT_HI");
    if (l && h && (unsigned)atoi(l) >= 1024 && (unsigned)atoi(h) > (unsigned)atoi(l) + 100 &&
        atoi(h) <= 65535) {
        *lo = (unsigned)atoi(l);
        *hi = (unsigned)atoi(h);
    }
}

int cluster_port_pick(struct rng *r, const uint16_t *taken, size_t n_taken, uint16_t *port)
{
    unsigned lo, hi;
    port_range(&lo, &hi);
    if (hi >= lo + 1000) {
        for (int attempt = 0; attempt < 200; attempt++) {
            uint16_t p = (uint16_t)(lo + rng_below(r, hi - lo));
            if (!port_taken(p, taken, n_taken) && port_free(p) && port_reserve(p)) {
                *port = p;
                return 0;
            }
        }
    }
    /* No room below the ephemeral range: let the kernel choose. */
    for (int attempt = 0; attempt < 20; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof sa;
        if (fd < 0)
            return -1;
        int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                 getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 ? 0 : -1;
        close(fd);
        if (rc == 0 && !port_taken(ntohs(sa.sin_port), taken, n_taken) &&
            port_reserve(ntohs(sa.sin_port))) {
            *port = ntohs(sa.sin_port);
            return 0;
        }
    }
    return -1;
}

int cluster_wait_listening(pid_t pid, uint16_t port, uint64_t timeout_ms, int *status)
{
    uint64_t deadline = clock_mono_ms() + timeout_ms;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (;;) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return 1;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
            close(fd);
            if (rc == 0)
                return 0;
        }
        if (clock_mono_ms() >= deadline)
            return -1;
        clock_sleep_ms(10);
    }
}

/* ---- the watcher -------------------------------------------------------------------------- */

/* $1 dir, $2 node count, $3 seed, $4 keep (1/0), $5 ok (1/0). */
static const char watcher_script[] =
    "if [ \"$5\" != 1 ]; then\n"
    "  echo \"cluster: the test process ended without cluster_free (a failed assertion or a "
    "crash); seed $3 (rerun with CLUSTER_SEED=$3); the nodes' last log lines:\" >&2\n"
    "  i=1; while [ $i -le $2 ]; do\n"
    "    echo \"---- node $i ($1/n$i/log)\" >&2\n"
    "    tail -n 30 \"$1/n$i/log\" 2>/dev/null | sed \"s/^/  n$i| /\" >&2\n"
    "    i=$((i + 1))\n"
    "  done\n"
    "fi\n"
    "if [ \"$4\" = 1 ]; then echo \"cluster: kept $1 (KEEP_CLUSTER=1)\" >&2; else rm -rf \"$1\"; fi\n";

pid_t cluster_watcher_start(const char *dir, unsigned n, uint64_t seed, bool keep, int *wfd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    /* Everything the child needs is prepared before fork: the parent may have threads. */
    char ns[16], seeds[32];
    snprintf(ns, sizeof ns, "%u", n);
    snprintf(seeds, sizeof seeds, "%llu", (unsigned long long)seed);
    char *argv[] = { "sh", "-c", (char *)watcher_script, "sh", (char *)dir, ns, seeds,
                     keep ? "1" : "0", "0", NULL };
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close_others(fds[0]);
        /* Outlive the test long enough to clean up after it: Check kills a test's whole
         * process group when it times out, and a Ctrl-C signals the terminal's group. */
        setpgid(0, 0);
        signal(SIGPIPE, SIG_IGN); /* a closed stdout (| head) must not stop the cleanup */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        char b;
        ssize_t r;
        while ((r = read(fds[0], &b, 1)) != 0) {
            if (r == 1 && b == 'k')
                argv[8] = "1";
            else if (r < 0 && errno != EINTR)
                break;
        }
        execv("/bin/sh", argv);
        _exit(127);
    }
    /* Also here, so the watcher has left the test's group before this process can die
     * (Check SIGKILLs a finished test's group: setpgid in the child alone would race). */
    setpgid(pid, pid);
    close(fds[0]);
    *wfd = fds[1];
    return pid;
}

void cluster_watcher_finish(pid_t pid, int wfd)
{
    if (write(wfd, "k", 1) != 1)
        perror("cluster: watcher");
    close(wfd);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
