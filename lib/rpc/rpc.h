/* Framed protobuf RPC over TCP on libevent.
 *
 * Wire: every frame is a 4-byte big-endian length and one rpc.Envelope (proto/rpc.proto).
 * Client calls are CALL/REPLY pairs matched by call id, many in flight on one connection;
 * peer streams are ONEWAY messages on one outbound connection per peer.
 *
 * Threading: every object here belongs to the event_base it was created on and must be used
 * only from that base's thread. Callbacks run on that thread, never from inside the function
 * that registered them. */
#ifndef RPC_RPC_H
#define RPC_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct rpc_tls;

/* The transport outcome of a call; the values are those of rpc.Status on the wire. */
enum rpc_status {
    RPC_OK = 0,
    RPC_UNKNOWN_METHOD = 1,
    RPC_BAD_REQUEST = 2,
    RPC_TIMEOUT = 3,
    RPC_CANCELLED = 4,
    RPC_DISCONNECTED = 5,
    RPC_TOO_LARGE = 6,
    RPC_SHUTTING_DOWN = 7,
    RPC_OVERLOADED = 8,
    RPC_APP_ERROR = 9,
    RPC_UNREACHABLE = 10, /* set locally: no connection could be made (refused, unresolvable,
                             timed out); the call was not sent */
    RPC_PROTOCOL = 11,    /* set locally: the server answered with bytes that are not frames
                             of this protocol (another kind of server listens there) */
};

/* A short upper-case name such as "TIMEOUT". */
const char *rpc_status_name(enum rpc_status st);

/* Per-connection limits. Memory per connection is bounded by about
 * max_frame (input) + out_drop (output); a server also bounds the input of all its connections
 * together (rpc_server_opts.in_budget). */
struct rpc_limits {
    size_t max_frame;     /* largest frame accepted or sent; checked before allocating (64 MiB) */
    size_t out_pause;     /* server: stop reading a connection while its unsent output is above
                             this (1 MiB); it resumes when the output drains to half */
    size_t out_drop;      /* close a connection whose unsent output would exceed this
                             (max_frame + 8 MiB): a peer that never reads is dropped */
    uint32_t max_pending; /* server: stop reading a connection while this many of its calls
                             await replies (1024) */
    size_t max_request;   /* server: a CALL whose payload exceeds this is answered TOO_LARGE
                             (rpc_too_large_message) without reaching its handler; ONEWAY peer
                             messages are not requests and only meet max_frame (0: max_frame) */
};

/* The error text of a TOO_LARGE reply for a request of size bytes over limit bytes, and its
 * reading: rpc_too_large_parse returns 0 and fills *size and *limit when error has that form
 * (so a client can say "N bytes, limit M" however the limit was hit), -1 otherwise. */
void rpc_too_large_message(char *out, size_t outlen, size_t size, size_t limit);
int rpc_too_large_parse(const char *error, uint64_t *size, uint64_t *limit);

/* Fills *lim with the defaults above. */
void rpc_limits_default(struct rpc_limits *lim);

/* ---- frames (pure functions; used by the connections, the tests and the fuzzer) ---- */

#define RPC_FRAME_HEADER 4u
#define RPC_DEFAULT_MAX_FRAME (64u << 20)

enum rpc_frame_result {
    RPC_FRAME_OK = 0,         /* a whole frame is present */
    RPC_FRAME_NEED_MORE = 1,  /* not yet: read more bytes */
    RPC_FRAME_TOO_LARGE = -1, /* the length prefix exceeds max_frame: close the connection */
};

/* Looks for one frame at the start of buf[0..len). On RPC_FRAME_OK, *body and *body_len give
 * the message (pointing into buf) and the frame takes RPC_FRAME_HEADER + *body_len bytes. */
enum rpc_frame_result rpc_frame_parse(const uint8_t *buf, size_t len, size_t max_frame,
                                      const uint8_t **body, size_t *body_len);

/* Writes the 4-byte big-endian header for a body of len bytes. */
void rpc_frame_header(uint8_t out[RPC_FRAME_HEADER], uint32_t len);

/* ---- server ---- */

struct rpc_server;
/* A call awaiting its reply. The handler owns it until it calls rpc_call_reply* or
 * rpc_call_fail exactly once (at once or later, from any callback on the same loop); that call
 * frees it. If the connection closed meanwhile, the reply is discarded. */
struct rpc_call;

/* Handles a CALL. req[0..len) is valid only until the handler returns. */
typedef void (*rpc_handler_fn)(struct rpc_call *call, const uint8_t *req, size_t len, void *arg);
/* Handles a ONEWAY message. msg[0..len) is valid only until the handler returns. */
typedef void (*rpc_message_fn)(const uint8_t *msg, size_t len, void *arg);

/* Why a server refused a connection for TLS (rpc_server_stats.tls_refused_by). */
enum rpc_tls_cause {
    RPC_TLS_NO_CERT,      /* the client sent no certificate */
    RPC_TLS_UNKNOWN_CA,   /* its certificate is not signed by the server's CA */
    RPC_TLS_EXPIRED,      /* its certificate is expired or not yet valid */
    RPC_TLS_HANDSHAKE,    /* any other handshake failure (a bad certificate, a client refusing
                             the server's, no handshake in time...) */
    RPC_TLS_PLAIN_CLIENT, /* plain TCP on a TLS port */
    RPC_TLS_ON_PLAIN,     /* a TLS handshake on a plain port */
    RPC_TLS_CAUSES
};

/* A short lower-case name of a cause, e.g. "no_cert" (the metrics' label). */
const char *rpc_tls_cause_name(enum rpc_tls_cause c);

struct rpc_server_stats {
    uint64_t conns_accepted, conns_open;
    uint64_t calls, messages;      /* CALL and ONEWAY frames dispatched */
    uint64_t bad_input;            /* connections closed for malformed or oversized frames */
    uint64_t slow_drops;           /* connections closed because they did not read replies */
    uint64_t paused;               /* times a connection's reading was paused for backpressure */
    uint64_t pending_calls;        /* calls handed to handlers and not answered yet */
    uint64_t out_buffered;         /* bytes of replies not yet written to sockets, all conns */
    uint64_t in_buffered;          /* bytes read and not yet dispatched, all conns */
    uint64_t budget_drops;         /* connections closed to keep in_buffered within in_budget
                                      (or whose large frame found no memory) */
    uint64_t frame_timeouts;       /* connections closed for not finishing a frame in time */
    uint64_t conns_refused;        /* connections closed at accept: max_connections were open */
    uint64_t tls_handshakes;       /* TLS handshakes completed */
    uint64_t tls_resumed;          /* of those, the ones that resumed a session */
    uint64_t tls_refused;          /* connections refused for TLS: the sum of tls_refused_by */
    uint64_t tls_refused_by[RPC_TLS_CAUSES];
};

/* A server's limits. The per-connection ones bound what one peer can make the server hold;
 * these bound what many peers can do together (e.g. ten connections each sending 60 MB of an
 * unfinished 64 MiB frame would otherwise hold 600 MB, and a peer can open any number of
 * connections, or sit in the middle of a frame forever). */
struct rpc_server_opts {
    struct rpc_limits limits;
    /* Bytes read and not yet dispatched (partial frames, mostly), all connections together
     * (256 MiB: four frames of the default max_frame). It is checked after every read (one
     * read adds at most a few KiB): while the total is above it, the connection holding the
     * most input is closed (budget_drops), so a peer sending complete small frames is never
     * closed while another holds more. Values below max_frame + RPC_FRAME_HEADER are raised to
     * that, so that one frame of the largest size can always arrive. */
    size_t in_budget;
    /* A connection that has begun a frame (any part of it, header included) and has not
     * received all of it within this time is closed (frame_timeouts). The clock runs only
     * while the server reads the connection: a connection paused for backpressure, or idle
     * between frames, is never closed by it. Checked every quarter of it (at most every
     * second). 30000 ms; 0 = no timeout. */
    uint64_t frame_timeout_ms;
    /* Connections open at once (4096; 0 = no limit). Beyond it a new connection is accepted
     * and closed at once (conns_refused; logged at most once a second). Note that the process
     * limit on open files (ulimit -n) may be lower: accepting then fails with EMFILE. */
    uint32_t max_connections;
    /* The TLS identity (lib/rpc/tls.h) every connection must use; NULL = rpc_tls_default() when
     * the server is made (NULL there too: plain TCP). A TLS server refuses plain connections. */
    struct rpc_tls *tls;
};

#define RPC_DEFAULT_IN_BUDGET (4 * (size_t)RPC_DEFAULT_MAX_FRAME)

/* Fills *o with the defaults above (and rpc_limits_default). */
void rpc_server_opts_default(struct rpc_server_opts *o);

/* Creates a server on base. opts NULL = defaults (copied). Free with rpc_server_free. Every
 * server answers the built-in method "rpc.Stats" (reply: rpc.ServerStats). */
struct rpc_server *rpc_server_new(struct event_base *base, const struct rpc_server_opts *opts);

/* Starts listening on "host:port" (port 0 = any free port). Returns 0, or -1 with a message
 * in err. May be called more than once for several addresses. */
int rpc_server_listen(struct rpc_server *s, const char *addr, char *err, size_t errlen);

/* The port of the first listener (useful after listening on port 0), or 0. */
uint16_t rpc_server_port(const struct rpc_server *s);
/* The local port a bound socket listens on (IPv4 or IPv6), or 0 when it cannot be read. */
uint16_t rpc_socket_port(int fd);

/* Registers the handler of a method name for CALLs, or of a ONEWAY message. Names are copied;
 * registering a name again replaces its handler. */
void rpc_server_handle(struct rpc_server *s, const char *method, rpc_handler_fn fn, void *arg);
void rpc_server_handle_message(struct rpc_server *s, const char *method, rpc_message_fn fn,
                               void *arg);

/* Answers a call with payload bytes, with a packed protobuf message, or with an error status
 * and message (NULL for none). Each frees the call. A reply larger than max_frame is turned into
 * RPC_TOO_LARGE. */
void rpc_call_reply(struct rpc_call *call, const uint8_t *payload, size_t len);
void rpc_call_reply_msg(struct rpc_call *call, const ProtobufCMessage *msg);
void rpc_call_fail(struct rpc_call *call, enum rpc_status st, const char *message);

/* True when the call was relayed by another server on its client's behalf (rpc_client_forward):
 * a server that cannot serve it must answer rather than relay it again. */
bool rpc_call_forwarded(const struct rpc_call *call);

/* False once the caller's connection is gone (the reply would be discarded). */
bool rpc_call_connected(const struct rpc_call *call);

/* A text naming the caller, e.g. "127.0.0.1:53124" (valid while the call lives). */
const char *rpc_call_peer(const struct rpc_call *call);

/* Stops accepting, stops reading new calls, waits up to grace_ms for pending calls to be
 * answered, answers the rest SHUTTING_DOWN, flushes replies (briefly) and closes every
 * connection; then calls done(arg). Calls answered after that are discarded. */
void rpc_server_shutdown(struct rpc_server *s, uint64_t grace_ms, void (*done)(void *arg),
                         void *arg);

/* Calls fn(len, arg) when a frame of RPC_BIG_FRAME bytes or more begins to arrive (its header
 * read, the rest not yet), on any connection: lib/node announces the work it brings to its
 * followers (raft_grace) before it takes the loop. One callback per server; NULL removes it. */
#define RPC_BIG_FRAME (256u << 10)
void rpc_server_on_big_frame(struct rpc_server *s, void (*fn)(size_t len, void *arg), void *arg);

/* Calls fn once per answered CALL (for metrics): the method's registered name, or NULL for a
 * method without a handler (so that a client's made-up names never become labels), the status
 * it was answered with, and the nanoseconds from its dispatch to its answer. A call whose
 * connection closed before the answer is not counted (its answer is discarded). One observer
 * per server; NULL removes it. */
typedef void (*rpc_call_observer_fn)(const char *method, enum rpc_status st, uint64_t ns,
                                     void *arg);
void rpc_server_on_call_done(struct rpc_server *s, rpc_call_observer_fn fn, void *arg);

/* Fills *st with counters and current buffer sizes. */
void rpc_server_stats(const struct rpc_server *s, struct rpc_server_stats *st);

/* Closes every listener and connection at once and frees the server. Calls that handlers still
 * hold stay valid: answering them afterwards discards the reply and frees them. */
void rpc_server_free(struct rpc_server *s);

/* ---- client ---- */

struct rpc_client;

/* Receives the outcome of a call exactly once (unless cancelled): status RPC_OK with the
 * reply payload, or another status with a message (error may be ""). payload is valid only
 * during the callback. */
typedef void (*rpc_reply_fn)(enum rpc_status st, const char *error, const uint8_t *payload,
                             size_t len, void *arg);

struct rpc_client_opts {
    struct rpc_limits limits;
    uint64_t reconnect_min_ms; /* first retry delay after a failed connect (10 ms) */
    uint64_t reconnect_max_ms; /* the delay doubles up to this (1000 ms) */
    struct rpc_tls *tls;       /* as rpc_server_opts.tls: NULL = rpc_tls_default() at creation */
};

/* Fills *o with the defaults. */
void rpc_client_opts_default(struct rpc_client_opts *o);

/* Creates a client for "host:port" and starts connecting. The client keeps one connection and
 * reconnects with backoff whenever it breaks, until freed. opts NULL = defaults. Returns NULL
 * with a message in err when addr is malformed. */
struct rpc_client *rpc_client_new(struct event_base *base, const char *addr,
                                  const struct rpc_client_opts *opts, char *err, size_t errlen);

/* Starts a call; returns its non-zero id. The request is copied. timeout_ms 0 = no deadline.
 * Calls made while disconnected are queued and sent when the connection comes up (a call made
 * during the reconnect backoff starts an attempt at once); if the attempt fails, they fail with
 * RPC_DISCONNECTED ("cannot connect": they were not sent). When a sent call's connection
 * breaks, it fails with RPC_DISCONNECTED ("connection lost"): it may or may not have run. */
uint64_t rpc_client_call(struct rpc_client *c, const char *method, const uint8_t *req,
                         size_t len, uint64_t timeout_ms, rpc_reply_fn cb, void *arg);
uint64_t rpc_client_call_msg(struct rpc_client *c, const char *method,
                             const ProtobufCMessage *req, uint64_t timeout_ms, rpc_reply_fn cb,
                             void *arg);

/* rpc_client_call for a call relayed on behalf of another client: the server sees
 * rpc_call_forwarded(). */
uint64_t rpc_client_forward(struct rpc_client *c, const char *method, const uint8_t *req,
                            size_t len, uint64_t timeout_ms, rpc_reply_fn cb, void *arg);

/* Cancels a call: its callback will not be called. Returns false if it had already completed. */
bool rpc_client_cancel(struct rpc_client *c, uint64_t call_id);

/* Sends a ONEWAY message. Messages are not queued while disconnected: returns 0 when written to
 * the connection, -1 when dropped (not connected, too large, or output full). */
int rpc_client_send(struct rpc_client *c, const char *method, const uint8_t *msg, size_t len);
int rpc_client_send_msg(struct rpc_client *c, const char *method, const ProtobufCMessage *msg);

/* Writes as much of the pending output to the socket as it takes now, instead of when the
 * loop next runs (for a caller about to block, e.g. in an fsync). No-op when not connected. */
void rpc_client_flush(struct rpc_client *c);

/* True while the connection is established. */
bool rpc_client_connected(const struct rpc_client *c);


/* The address given at creation. */
const char *rpc_client_addr(const struct rpc_client *c);

/* Closes the connection and frees the client. Callbacks of calls still in flight are NOT
 * called. */
void rpc_client_free(struct rpc_client *c);

/* ---- blocking wrapper for command-line tools ---- */

struct rpc_sync;

/* A client on its own private event loop. */
struct rpc_sync *rpc_sync_new(const char *addr, char *err, size_t errlen);

/* Makes one call and waits for its outcome (at most timeout_ms; 0 = no deadline). On RPC_OK
 * *reply (malloc'd, caller frees) and *reply_len hold the answer; otherwise, if error is not
 * NULL, *error gets a malloc'd message. */
enum rpc_status rpc_sync_call(struct rpc_sync *s, const char *method, const uint8_t *req,
                              size_t len, uint64_t timeout_ms, uint8_t **reply, size_t *reply_len,
                              char **error);

void rpc_sync_free(struct rpc_sync *s);

/* ---- signals ---- */

struct rpc_signals;

/* Ignores SIGPIPE and calls fn(arg) on the loop when SIGINT or SIGTERM arrives (each time). */
struct rpc_signals *rpc_signals_install(struct event_base *base, void (*fn)(int sig, void *arg),
                                        void *arg);
void rpc_signals_free(struct rpc_signals *s);

/* Ignores SIGPIPE unless the process has a handler of its own: a write to a socket whose peer
 * has gone must fail with EPIPE, not kill the process. rpc_server_new and rpc_client_new call
 * it; code that writes sockets through libevent without them (the test proxy) calls it too. */
void rpc_ignore_sigpipe(void);

#endif
