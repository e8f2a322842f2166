/* TLS identities (tls.h) and the OpenSSL side of lib/rpc's TLS connections: the contexts, the
 * SSL bufferevents of servers and clients, session resumption, and the words for failures.
 *
 * An identity holds two contexts made from the same files: the server's (verifies clients:
 * SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT; keeps OpenSSL's default session cache and
 * tickets) and the client's (verifies servers, and the name or address dialled against the
 * certificate's subjectAltName; hands each new session to the client that made the connection,
 * so that its next connection offers it). */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "rpc/internal.h"
#include "rpc/tls.h"

struct rpc_tls {
    SSL_CTX *server, *client;
};

static struct rpc_tls *default_tls;

/* The SSL ex_data slot holding a client connection's SSL_SESSION ** (where new sessions go). */
static int session_slot = -1;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_init(void) { session_slot = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }

/* The reason of OpenSSL's earliest queued error ("no such file", "key values mismatch"...), or
 * fallback when there is none; the queue is cleared. */
static const char *ssl_reason(const char *fallback)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : fallback;
}

/* A file that cannot be opened is named with errno's words, before OpenSSL's vaguer ones. */
static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read the TLS %s file '%s': %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* Loads the CA bundle into ctx; it must hold at least one certificate. */
static int load_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
    if (check_readable("CA", ca, err, errlen) != 0)
        return -1;
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        snprintf(err, errlen, "TLS CA file '%s': %s", ca, ssl_reason("no certificate in it"));
        return -1;
    }
    int n = 0;
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
        n += X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509;
    if (n == 0) {
        snprintf(err, errlen, "TLS CA file '%s' holds no certificate", ca);
        return -1;
    }
    return 0;
}

static int load_identity(SSL_CTX *ctx, const char *cert, const char *key, char *err,
                         size_t errlen)
{
    if (check_readable("certificate", cert, err, errlen) != 0 ||
        check_readable("key", key, err, errlen) != 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "TLS certificate file '%s': %s", cert,
                 ssl_reason("not a PEM certificate"));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH) {
            snprintf(err, errlen, "TLS key file '%s': %s", key,
                     ssl_reason("not a PEM private key"));
            return -1;
        }
    }
    if (SSL_CTX_check_private_key(ctx) != 1 || ERR_peek_error()) {
        snprintf(err, errlen, "TLS key file '%s' does not match the certificate '%s' (%s)", key,
                 cert, ssl_reason("key values mismatch"));
        return -1;
    }
    return 0;
}

/* OpenSSL calls this with every session a client connection gets (with TLS 1.3 the tickets
 * come after the handshake): it replaces the one its client keeps. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_ex_data(ssl, session_slot);
    if (!slot || !SSL_SESSION_is_resumable(sess))
        return 0; /* not taken: OpenSSL frees it */
    if (*slot)
        SSL_SESSION_free(*slot);
    *slot = sess;
    return 1;
}

static SSL_CTX *ctx_new(bool server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* OpenSSL 3 reports a peer's close without close_notify as an error; libevent 2.1 expects
     * the older SSL_ERROR_SYSCALL and would never see an EOF. Frames carry their own lengths, so
     * a truncation is seen anyway. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (server) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /* Resuming a session of a verified client needs a context id (else OpenSSL refuses the
         * resumption: "session id context uninitialized"). */
        static const unsigned char sid[] = "raftkv-rpc";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    }
    return ctx;
}

static struct rpc_tls *tls_make(const char *cert, const char *key, const char *ca, char *err,
                                size_t errlen)
{
    pthread_once(&slot_once, slot_init);
    rpc_ignore_sigpipe(); /* OpenSSL writes with write(): see rpc.h */
    struct rpc_tls *t = xcalloc(1, sizeof *t);
    t->server = ctx_new(true);
    t->client = ctx_new(false);
    if (!t->server || !t->client) {
        snprintf(err, errlen, "cannot create a TLS context: %s", ssl_reason("out of memory"));
        rpc_tls_free(t);
        return NULL;
    }
    SSL_CTX *ctx[2] = { t->server, t->client };
    for (int i = 0; i < 2; i++) {
        if (load_ca(ctx[i], ca, err, errlen) != 0 ||
            (cert && load_identity(ctx[i], cert, key, err, errlen) != 0)) {
            rpc_tls_free(t);
            return NULL;
        }
    }
    return t;
}

struct rpc_tls *rpc_tls_new(const struct rpc_tls_files *files, char *err, size_t errlen)
{
    const char *missing = !files->cert ? "certificate" : !files->key ? "key" : !files->ca ? "CA"
                                                                                         : NULL;
    if (missing) {
        snprintf(err, errlen, "TLS needs a certificate, a key and a CA file: no %s file given",
                 missing);
        return NULL;
    }
    return tls_make(files->cert, files->key, files->ca, err, errlen);
}

struct rpc_tls *rpc_tls_new_anonymous(const char *ca, char *err, size_t errlen)
{
    return tls_make(NULL, NULL, ca, err, errlen);
}

void rpc_tls_free(struct rpc_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    free(t);
}

void rpc_tls_set_default(struct rpc_tls *t) { default_tls = t; }

struct rpc_tls *rpc_tls_default(void) { return default_tls; }

/* A command-line value, or the environment's when the value is NULL or empty. */
static const char *option_or_env(const char *v, const char *env)
{
    if (v && *v)
        return v;
    const char *e = getenv(env);
    return e && *e ? e : NULL;
}

int rpc_tls_from_options(const char *cert, const char *key, const char *ca,
                         struct rpc_tls **out, char *err, size_t errlen)
{
    static const char *const opt[3] = { "--tls-cert", "--tls-key", "--tls-ca" };
    static const char *const env[3] = { "RAFTKV_TLS_CERT", "RAFTKV_TLS_KEY", "RAFTKV_TLS_CA" };
    const char *v[3] = { cert, key, ca };
    int set = 0;
    for (int i = 0; i < 3; i++) {
        v[i] = option_or_env(v[i], env[i]);
        set += v[i] != NULL;
    }
    *out = NULL;
    if (set == 0)
        return 0;
    if (set < 3) {
        char miss[160] = "";
        for (int i = 0; i < 3; i++)
            if (!v[i])
                snprintf(miss + strlen(miss), sizeof miss - strlen(miss), "%s%s (or %s)",
                         miss[0] ? ", " : "", opt[i], env[i]);
        snprintf(err, errlen, "TLS needs --tls-cert, --tls-key and --tls-ca together; missing: %s",
                 miss);
        return -1;
    }
    struct rpc_tls_files f = { v[0], v[1], v[2] };
    *out = rpc_tls_new(&f, err, errlen);
    return *out ? 0 : -1;
}

/* ---- connections (internal.h) ----------------------------------------------------------------- */

/* The SSL bufferevent of ssl on fd (-1: not connected yet), owning both; NULL (ssl freed) on
 * failure. */
static struct bufferevent *ssl_bev(struct event_base *base, evutil_socket_t fd, SSL *ssl,
                                   enum bufferevent_ssl_state state)
{
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, fd, ssl, state,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct bufferevent *rpc_tls_server_bev(struct event_base *base, evutil_socket_t fd,
                                       struct rpc_tls *t)
{
    SSL *ssl = SSL_new(t->server);
    return ssl ? ssl_bev(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING) : NULL;
}

struct bufferevent *rpc_tls_client_bev(struct event_base *base, struct rpc_tls *t,
                                       const char *host, SSL_SESSION **session)
{
    SSL *ssl = SSL_new(t->client);
    if (!ssl)
        return NULL;
    /* The server must prove the name or address this client dialled: a certificate of the
     * same CA issued for another address (a client's, another node's) is refused. */
    unsigned char addr[sizeof(struct in6_addr)];
    bool numeric = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    int ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
                     : SSL_set1_host(ssl, host) && SSL_set_tlsext_host_name(ssl, host);
    if (ok != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (session && *session)
        SSL_set_session(ssl, *session);
    SSL_set_ex_data(ssl, session_slot, session);
    return ssl_bev(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING);
}

struct bufferevent *rpc_tls_bufferevent_accept(struct event_base *base, int fd,
                                               struct rpc_tls *t)
{
    return rpc_tls_server_bev(base, fd, t);
}

struct bufferevent *rpc_tls_bufferevent_connect(struct event_base *base, struct rpc_tls *t,
                                                const char *host)
{
    return rpc_tls_client_bev(base, t, host, NULL);
}

void rpc_tls_client_detach(struct bufferevent *bev)
{
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (!ssl)
        return;
    SSL_set_ex_data(ssl, session_slot, NULL);
    /* An SSL freed without a close_notify exchange marks its session not resumable (the old
     * defence against truncation, which frames' lengths make moot here): connections end by
     * closing the socket, so say the exchange took place, and the session stays resumable. */
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

bool rpc_tls_is_tls(struct bufferevent *bev) { return bufferevent_openssl_get_ssl(bev) != NULL; }

bool rpc_tls_resumed(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    return ssl && SSL_session_reused(ssl);
}

void rpc_tls_flush(struct bufferevent *bev)
{
    /* The SSL bufferevent writes from the front of its output buffer with SSL_write and drains
     * what was taken (do_write in libevent's bufferevent_openssl.c); this does the same, once,
     * from outside its callbacks. A write that would block is retried by the bufferevent with
     * the same front of the buffer, as OpenSSL requires (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    struct evbuffer *out = bufferevent_get_output(bev);
    struct evbuffer_iovec v[8];
    int n = evbuffer_peek(out, 256 * 1024, NULL, v, 8);
    size_t done = 0;
    ERR_clear_error();
    for (int i = 0; i < n && i < 8; i++) {
        if (v[i].iov_len == 0)
            continue;
        int r = SSL_write(ssl, v[i].iov_base, (int)MIN(v[i].iov_len, (size_t)1 << 30));
        if (r <= 0)
            break;
        done += (size_t)r;
        if ((size_t)r < v[i].iov_len)
            break;
    }
    ERR_clear_error();
    evbuffer_drain(out, done);
}

/* ---- failures --------------------------------------------------------------------------------- */

/* The earliest OpenSSL error the bufferevent recorded (0: none). libevent also records the
 * SSL_get_error code of a failed call (SSL_ERROR_SYSCALL...: library 0): not errors of
 * OpenSSL's queue, skipped (the socket's errno tells those). */
static unsigned long bev_error(struct bufferevent *bev)
{
    unsigned long e, first = 0;
    while ((e = bufferevent_get_openssl_error(bev)) != 0)
        if (!first && ERR_GET_LIB(e) != 0)
            first = e;
    return first;
}

static void reason_text(unsigned long e, char *out, size_t len)
{
    const char *r = ERR_reason_error_string(e);
    if (r)
        snprintf(out, len, "%s", r);
    else
        ERR_error_string_n(e, out, len);
}

/* The alert a peer sent (its SSL_AD_* code), when e reports one; -1 otherwise. */
static int alert_of(unsigned long e)
{
    int r = ERR_GET_REASON(e);
    return ERR_GET_LIB(e) == ERR_LIB_SSL && r >= SSL_AD_REASON_OFFSET &&
                   r < SSL_AD_REASON_OFFSET + 256
               ? r - SSL_AD_REASON_OFFSET
               : -1;
}

enum rpc_tls_cause rpc_tls_server_failure(struct bufferevent *bev, short what, char *why,
                                          size_t len)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = bev_error(bev);
    char reason[256];
    reason_text(e, reason, sizeof reason);
    if (v != X509_V_OK) {
        snprintf(why, len, "client certificate refused: %s", X509_verify_cert_error_string(v));
        switch (v) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return RPC_TLS_EXPIRED;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        case X509_V_ERR_CERT_UNTRUSTED:
            return RPC_TLS_UNKNOWN_CA;
        default:
            return RPC_TLS_HANDSHAKE;
        }
    }
    if (e && ERR_GET_LIB(e) == ERR_LIB_SSL &&
        ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        snprintf(why, len, "the client sent no certificate (%s)", reason);
        return RPC_TLS_NO_CERT;
    }
    if (alert_of(e) >= 0)
        snprintf(why, len, "the client refused the handshake (%s)", reason);
    else if (e)
        snprintf(why, len, "TLS handshake failed: %s", reason);
    else if (what & BEV_EVENT_TIMEOUT)
        snprintf(why, len, "TLS handshake not finished in time");
    else if (what & BEV_EVENT_EOF)
        snprintf(why, len, "the client closed the connection during the TLS handshake");
    else
        snprintf(why, len, "TLS handshake failed: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    return RPC_TLS_HANDSHAKE;
}

/* What an alert from the server means for this client. */
static const char *alert_hint(int alert)
{
    switch (alert) {
    case SSL_AD_CERTIFICATE_REQUIRED:
    case SSL_AD_HANDSHAKE_FAILURE:
        return " (the server requires a client certificate: is this client given one?)";
    case SSL_AD_UNKNOWN_CA:
        return " (the server does not trust the CA that signed this client's certificate)";
    case SSL_AD_CERTIFICATE_EXPIRED:
        return " (this client's certificate is expired)";
    case SSL_AD_BAD_CERTIFICATE:
        return " (the server refused this client's certificate: not yet valid, or otherwise "
               "bad)";
    case SSL_AD_PROTOCOL_VERSION:
        return " (the server runs without TLS: a plain server answers a TLS handshake so)";
    default:
        return "";
    }
}

int rpc_tls_client_failure(struct bufferevent *bev, short what, bool established,
                           const char *addr, char *why, size_t len)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long v = SSL_get_verify_result(ssl);
    unsigned long e = bev_error(bev);
    char reason[256];
    reason_text(e, reason, sizeof reason);
    if (!established) {
        if (v != X509_V_OK) {
            snprintf(why, len, "TLS handshake with %s failed: certificate verify failed (%s)",
                     addr, X509_verify_cert_error_string(v));
            return 1;
        }
        if (e) {
            snprintf(why, len, "TLS handshake with %s failed: %s%s", addr, reason,
                     alert_hint(alert_of(e)));
            return 1;
        }
        if (what & BEV_EVENT_EOF) {
            snprintf(why, len, "TLS handshake with %s failed: the server closed the connection "
                               "during the handshake (is it plain TCP?)", addr);
            return 1;
        }
        return 0; /* a socket error (refused, unreachable): not TLS's */
    }
    /* With TLS 1.3 the client's side of the handshake ends before the server has checked the
     * client's certificate: its refusal arrives as an alert on the first read. */
    int alert = alert_of(e);
    if (alert >= 0 && alert != SSL_AD_CLOSE_NOTIFY) {
        snprintf(why, len, "TLS handshake with %s failed: the server refused this client: %s%s",
                 addr, reason, alert_hint(alert));
        return 1;
    }
    if (e) {
        snprintf(why, len, "TLS error: %s", reason);
        return 2;
    }
    return 0;
}

const char *rpc_tls_cause_name(enum rpc_tls_cause c)
{
    static const char *const names[RPC_TLS_CAUSES] = {
        [RPC_TLS_NO_CERT] = "no_cert",         [RPC_TLS_UNKNOWN_CA] = "unknown_ca",
        [RPC_TLS_EXPIRED] = "expired",         [RPC_TLS_HANDSHAKE] = "handshake",
        [RPC_TLS_PLAIN_CLIENT] = "plain_client", [RPC_TLS_ON_PLAIN] = "tls_client",
    };
    return (unsigned)c < RPC_TLS_CAUSES ? names[c] : "unknown";
}

void rpc_tls_session_free(SSL_SESSION *s) { SSL_SESSION_free(s); }
