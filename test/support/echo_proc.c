#include "echo_proc.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "echo.pb-c.h"
#include "echo/echo.h"

struct child {
    struct event_base *base;
    struct rpc_server *srv;
    uint64_t grace_ms;
};

static void child_done(void *arg) { event_base_loopexit(((struct child *)arg)->base, NULL); }

static void child_signal(int sig, void *arg)
{
    (void)sig;
    struct child *c = arg;
    rpc_server_shutdown(c->srv, c->grace_ms, child_done, c);
}

static void child_main(int wfd, uint16_t port, const struct rpc_server_opts *opts,
                       uint64_t grace_ms)
{
    log_setup(LOG_WARN, "echo", NULL);
    struct child c = { event_base_new(), NULL, grace_ms };
    c.srv = rpc_server_new(c.base, opts);
    char addr[32], err[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    uint16_t bound = 0;
    if (rpc_server_listen(c.srv, addr, err, sizeof err) == 0)
        bound = rpc_server_port(c.srv);
    else
        fprintf(stderr, "echo child: %s\n", err);
    if (write(wfd, &bound, sizeof bound) != sizeof bound || bound == 0)
        _exit(3);
    close(wfd);
    struct echo_service *e = echo_service_new(c.base, c.srv);
    struct rpc_signals *sig = rpc_signals_install(c.base, child_signal, &c);
    event_base_dispatch(c.base);
    rpc_signals_free(sig);
    echo_service_free(e);
    rpc_server_free(c.srv);
    event_base_free(c.base);
    _exit(0);
}

int echo_proc_start(struct echo_proc *p, uint16_t port, const struct rpc_server_opts *opts,
                    uint64_t grace_ms)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], port, opts, grace_ms);
    }
    close(fds[1]);
    uint16_t bound = 0;
    ssize_t n = read(fds[0], &bound, sizeof bound);
    close(fds[0]);
    if (n != sizeof bound || bound == 0) {
        waitpid(pid, NULL, 0);
        return -1;
    }
    p->pid = pid;
    p->port = bound;
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%u", bound);
    return 0;
}

int echo_proc_stop(struct echo_proc *p)
{
    int status;
    kill(p->pid, SIGTERM);
    waitpid(p->pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void echo_proc_kill(struct echo_proc *p)
{
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
}

long echo_proc_rss_kb(const struct echo_proc *p)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

enum rpc_status echo_sync(struct rpc_sync *s, const char *data, uint32_t delay_ms, bool never,
                          uint64_t timeout_ms)
{
    Echo__Request r = ECHO__REQUEST__INIT;
    r.data.data = (uint8_t *)data;
    r.data.len = strlen(data);
    r.delay_ms = delay_ms;
    r.never = never;
    uint8_t buf[4096];
    size_t n = echo__request__pack(&r, buf);
    uint8_t *reply;
    size_t len;
    enum rpc_status st = rpc_sync_call(s, "echo.Echo", buf, n, timeout_ms, &reply, &len, NULL);
    if (st != RPC_OK)
        return st;
    Echo__Reply *rep = echo__reply__unpack(NULL, len, reply);
    free(reply);
    bool ok = rep && rep->data.len == strlen(data) && memcmp(rep->data.data, data, rep->data.len) == 0;
    if (rep)
        echo__reply__free_unpacked(rep, NULL);
    return ok ? RPC_OK : RPC_APP_ERROR;
}

Rpc__ServerStats *echo_stats(const char *addr)
{
    char err[256];
    struct rpc_sync *s = rpc_sync_new(addr, err, sizeof err);
    if (!s)
        return NULL;
    uint8_t *reply;
    size_t len;
    Rpc__ServerStats *st = NULL;
    if (rpc_sync_call(s, "rpc.Stats", NULL, 0, 5000, &reply, &len, NULL) == RPC_OK) {
        st = rpc__server_stats__unpack(NULL, len, reply);
        free(reply);
    }
    rpc_sync_free(s);
    return st;
}

int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t raw_frame(uint8_t *buf, const Rpc__Envelope *env)
{
    size_t n = rpc__envelope__pack(env, buf + RPC_FRAME_HEADER);
    rpc_frame_header(buf, (uint32_t)n);
    return n + RPC_FRAME_HEADER;
}

bool raw_wait_closed(int fd, int ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)ms;
    char buf[65536];
    while (clock_mono_ms() < deadline) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
    return false;
}

struct bg_client {
    pthread_t thread;
    char addr[32];
    atomic_bool stop;
    long ok, failed;
};

static void *bg_run(void *arg)
{
    struct bg_client *b = arg;
    char err[256];
    struct rpc_sync *s = rpc_sync_new(b->addr, err, sizeof err);
    if (!s) {
        b->failed++;
        return NULL;
    }
    for (long i = 0; !atomic_load(&b->stop); i++) {
        char data[32];
        snprintf(data, sizeof data, "bg-%ld", i);
        if (echo_sync(s, data, 0, false, 2000) == RPC_OK)
            b->ok++;
        else
            b->failed++;
        clock_sleep_ms(1);
    }
    rpc_sync_free(s);
    return NULL;
}

struct bg_client *bg_client_start(const char *addr)
{
    struct bg_client *b = xcalloc(1, sizeof *b);
    snprintf(b->addr, sizeof b->addr, "%s", addr);
    atomic_init(&b->stop, false);
    pthread_create(&b->thread, NULL, bg_run, b);
    return b;
}

long bg_client_stop(struct bg_client *b, long *failed)
{
    atomic_store(&b->stop, true);
    pthread_join(b->thread, NULL);
    long ok = b->ok;
    *failed = b->failed;
    free(b);
    return ok;
}
