/* SIGINT / SIGTERM delivered as events on the loop, so shutdown runs as ordinary loop code. */
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>

#include "base/util.h"
#include "rpc/rpc.h"

struct rpc_signals {
    struct event *ev[2];
    void (*fn)(int sig, void *arg);
    void *arg;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct rpc_signals *s = arg;
    s->fn((int)sig, s->arg);
}

struct rpc_signals *rpc_signals_install(struct event_base *base, void (*fn)(int sig, void *arg),
                                        void *arg)
{
    /* A peer that closes while we write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    struct rpc_signals *s = xcalloc(1, sizeof *s);
    s->fn = fn;
    s->arg = arg;
    const int sigs[2] = { SIGINT, SIGTERM };
    for (int i = 0; i < 2; i++) {
        s->ev[i] = evsignal_new(base, sigs[i], on_signal, s);
        evsignal_add(s->ev[i], NULL);
    }
    return s;
}

void rpc_signals_free(struct rpc_signals *s)
{
    if (!s)
        return;
    for (int i = 0; i < 2; i++)
        event_free(s->ev[i]);
    free(s);
}

/* Writing to a socket whose peer has gone raises SIGPIPE (libevent writes with writev, OpenSSL
 * with write; neither can pass MSG_NOSIGNAL), and its default action kills the process: a
 * command-line tool or a test process whose server just died would vanish with status 141. So
 * every process that makes a server or a client ignores it, unless it handles it itself. */
void rpc_ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
}
