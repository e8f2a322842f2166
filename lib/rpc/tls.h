/* TLS with mutual authentication for lib/rpc's connections (OpenSSL through libevent's
 * bufferevent_openssl).
 *
 * One identity per process: a certificate and key (PEM), and the CA bundle that every peer's
 * certificate must chain to. Both ends always present and verify certificates (mutual TLS):
 * a server refuses a client without a certificate or with one the CA did not sign, or that is
 * expired or not yet valid; a client refuses a server likewise. TLS 1.2 is the minimum.
 *
 * Plain TCP stays the default. A process that set an identity (rpc_tls_set_default) speaks TLS
 * on every server and client it makes and never accepts or makes a plain connection: a TLS
 * cluster cannot be joined by a plain peer. The first bytes of a connection tell the mismatch
 * apart, so that both sides can name it: a server with TLS that reads something other than a
 * TLS handshake reports "plain TCP on a TLS port"; a plain server that reads a TLS handshake
 * reports "a TLS handshake on a plain port". Refusals are counted in rpc_server_stats
 * (tls_refused, and by cause) and logged at most once per cause every few seconds.
 *
 * Clients keep the TLS session of their last connection and offer it on the next
 * (resumption), so a reconnect costs one round trip and no certificate exchange. */
#ifndef RPC_TLS_H
#define RPC_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct rpc_tls;

/* Where an identity comes from: PEM files. cert and key are required; ca is required too
 * (verification is never off). */
struct rpc_tls_files {
    const char *cert, *key, *ca;
};

/* Loads an identity: reads and checks the files (the key matches the certificate; the CA
 * bundle holds at least one certificate). Returns NULL with a message naming the file and the
 * cause in err. The process then ignores SIGPIPE, unless it has a handler of its own (OpenSSL
 * writes with write(), which raises it when the peer has gone). */
struct rpc_tls *rpc_tls_new(const struct rpc_tls_files *files, char *err, size_t errlen);
void rpc_tls_free(struct rpc_tls *t);

/* An identity without a certificate of its own (only the CA that servers must chain to): a
 * client made with it is refused by every TLS server (RPC_TLS_NO_CERT). For tests of that
 * refusal, and of what the client then reports. */
struct rpc_tls *rpc_tls_new_anonymous(const char *ca, char *err, size_t errlen);

/* The identity every rpc_server and rpc_client made after this call uses, unless their opts
 * name another (opts.tls). NULL = plain TCP (the default). Not owned: keep t alive while
 * servers and clients use it. */
void rpc_tls_set_default(struct rpc_tls *t);
struct rpc_tls *rpc_tls_default(void);

/* The three files from command-line values, falling back to environment variables (as
 * etcdctl's ETCDCTL_CERT / ETCDCTL_KEY / ETCDCTL_CACERT): RAFTKV_TLS_CERT, RAFTKV_TLS_KEY,
 * RAFTKV_TLS_CA. All three unset = plain (returns 0 with *out = NULL); some but not all set =
 * an error naming the missing ones (-1, message in err); all set = the loaded identity in
 * *out (-1 with the loader's message on failure). */
int rpc_tls_from_options(const char *cert, const char *key, const char *ca,
                         struct rpc_tls **out, char *err, size_t errlen);

/* The SSL bufferevents lib/rpc's own connections are made of, for a program that relays their
 * frames (the test harness's fault proxy, which ends TLS on both of its sides so that it can
 * see the frames). accept: the server side of the accepted socket fd (owned by the
 * bufferevent; the handshake starts at once; clients must present a certificate). connect: the
 * client side, not connected yet (bufferevent_socket_connect); the server's certificate must
 * name host. NULL on failure. Both treat a close without close_notify as an EOF. */
struct bufferevent;
struct event_base;
struct bufferevent *rpc_tls_bufferevent_accept(struct event_base *base, int fd,
                                               struct rpc_tls *t);
struct bufferevent *rpc_tls_bufferevent_connect(struct event_base *base, struct rpc_tls *t,
                                                const char *host);

struct rpc_client;
/* True when the client's current connection resumed the TLS session of its previous one. */
bool rpc_client_tls_resumed(const struct rpc_client *c);

#endif
