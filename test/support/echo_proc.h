/* Test helpers for lib/rpc: an echo server in a child process (so it can be killed, restarted
 * and measured like a real daemon), raw sockets, and a background well-behaved client. */
#ifndef TEST_ECHO_PROC_H
#define TEST_ECHO_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc.pb-c.h"
#include "rpc/rpc.h"

struct echo_proc {
    pid_t pid;
    uint16_t port;
    char addr[32]; /* "127.0.0.1:<port>" */
};

/* Forks a child that serves lib/echo on 127.0.0.1:port (0 = any free port) with the given
 * server options (NULL = defaults); on SIGTERM it shuts down with a grace period of grace_ms
 * and exits 0. Returns 0 once the child listens, -1 if it could not start. */
int echo_proc_start(struct echo_proc *p, uint16_t port, const struct rpc_server_opts *opts,
                    uint64_t grace_ms);

/* SIGTERM, then waits; returns the child's exit status (-1 when killed by a signal). */
int echo_proc_stop(struct echo_proc *p);

/* SIGKILL, then waits. */
void echo_proc_kill(struct echo_proc *p);

/* The child's resident set size in KiB, or -1. */
long echo_proc_rss_kb(const struct echo_proc *p);

/* Calls echo.Echo with data (NUL-terminated) and checks the echo. Returns the status, or
 * RPC_APP_ERROR when the reply does not match. */
enum rpc_status echo_sync(struct rpc_sync *s, const char *data, uint32_t delay_ms, bool never,
                          uint64_t timeout_ms);

/* Fetches rpc.Stats from addr; NULL on failure. Free with rpc__server_stats__free_unpacked. */
Rpc__ServerStats *echo_stats(const char *addr);

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int raw_connect(uint16_t port);

/* Packs an envelope into a frame; returns its length (buf must be large enough). */
size_t raw_frame(uint8_t *buf, const Rpc__Envelope *env);

/* Waits up to ms for the server to close fd (read returns 0 or an error), discarding data.
 * Returns true when it closed. */
bool raw_wait_closed(int fd, int ms);

/* A thread that makes echo calls on its own connection until stopped, counting outcomes. */
struct bg_client;
struct bg_client *bg_client_start(const char *addr);
/* Stops the thread; returns the number of successful calls and stores failures in *failed. */
long bg_client_stop(struct bg_client *b, long *failed);

#endif
