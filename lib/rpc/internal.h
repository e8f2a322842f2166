/* Shared by the files of lib/rpc; not part of its public interface. */
#ifndef RPC_INTERNAL_H
#define RPC_INTERNAL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "rpc.h"
#include "rpc.pb-c.h"

/* Outcome of reading one envelope out of an input buffer. */
enum rpc_read_result {
    RPC_READ_OK,        /* *env holds a valid envelope; free with rpc__envelope__free_unpacked */
    RPC_READ_NEED_MORE, /* no whole frame yet */
    RPC_READ_TOO_LARGE, /* the length prefix exceeds max_frame */
    RPC_READ_BAD,       /* the body is not a valid envelope */
    RPC_READ_NO_MEMORY, /* server: no memory for the body of a large frame */
};

/* Reads the length prefix at the front of in without consuming it: RPC_READ_OK with *len,
 * RPC_READ_NEED_MORE (fewer than RPC_FRAME_HEADER bytes) or RPC_READ_TOO_LARGE. */
enum rpc_read_result rpc_peek_length(struct evbuffer *in, size_t max_frame, uint32_t *len);

/* Takes one frame from the front of in and decodes it. Consumes the frame on OK and BAD. */
enum rpc_read_result rpc_read_envelope(struct evbuffer *in, size_t max_frame,
                                       Rpc__Envelope **env);

/* Decodes and validates an envelope body: a known kind, a call id on CALL and REPLY, a method
 * on CALL and ONEWAY. Returns NULL when any of that fails. */
Rpc__Envelope *rpc_envelope_decode(const uint8_t *body, size_t len);

/* Appends one framed envelope to out. Returns 0, or -1 when it would exceed max_frame. */
int rpc_write_envelope(struct evbuffer *out, const Rpc__Envelope *env, size_t max_frame);

/* Packs a protobuf message into a malloc'd buffer; the caller frees *buf. */
size_t rpc_pack_msg(const ProtobufCMessage *msg, uint8_t **buf);

/* Sets TCP_NODELAY on a connected socket (small RPCs must not wait for Nagle), and makes a
 * connection to a vanished peer fail within seconds (TCP_USER_TIMEOUT, keepalive). */
void rpc_socket_tune(evutil_socket_t fd);

/* Lets one write callback of a connection send up to 256 KiB instead of libevent's 16 KiB
 * default, so that a leader's batch of appends leaves in one writev. (Reads are not raised:
 * libevent 2.1 reads at most 4 KiB per callback whatever the limit, EVBUFFER_MAX_READ; lib/node
 * copes with that by processing at the loop's lowest priority, see node_new.) */
void rpc_bev_tune(struct bufferevent *bev);

/* The loop's asynchronous resolver (dns.c), shared by its clients: acquire when a client is
 * made, release when it is freed (the last release frees it). NULL when none could be made (the
 * client then reports names as unresolvable; numeric addresses need none). */
struct evdns_base *rpc_dns_acquire(struct event_base *base);
void rpc_dns_release(struct event_base *base);
/* The negative cache of base's resolver: whether host was reported as no such name within its
 * time to live (why: the message then), and noting it so. */
bool rpc_dns_unresolved(struct event_base *base, const char *host, char *why, size_t whylen);
void rpc_dns_note_unresolved(struct event_base *base, const char *host, const char *why,
                             uint64_t ttl_ms);

/* "host:port" into *ss when host is a numeric address (no lookup). Returns 0, 1 when host is a
 * name, or -1 with a message in err when addr is not host:port. */
int rpc_resolve_numeric(const char *addr, struct sockaddr_storage *ss, int *sslen, char *err,
                        size_t errlen);

/* Resolves "host:port" into *ss (blocking: for listening addresses, at startup). Returns 0, or -1 with a message in err. */
int rpc_resolve(const char *addr, struct sockaddr_storage *ss, int *sslen, char *err,
                size_t errlen);

/* ---- TLS (tls.c) ---- */

struct rpc_tls;
typedef struct ssl_session_st SSL_SESSION;

/* The accepting side of a TLS connection on fd (owned by the bufferevent from then on), or
 * NULL. Dirty shutdowns (a close without close_notify) are EOFs. */
struct bufferevent *rpc_tls_server_bev(struct event_base *base, evutil_socket_t fd,
                                       struct rpc_tls *t);
/* The connecting side, not connected yet (bufferevent_socket_connect / _connect_hostname). The
 * server's certificate must name host (a DNS name or a numeric address). session may be NULL
 * (no resumption); *session, when set, is offered for resumption, and every new session of the connection replaces it (the caller owns
 * it: SSL_SESSION_free); call rpc_tls_client_detach before *session goes away. */
struct bufferevent *rpc_tls_client_bev(struct event_base *base, struct rpc_tls *t,
                                       const char *host, SSL_SESSION **session);
void rpc_tls_client_detach(struct bufferevent *bev);
void rpc_tls_session_free(SSL_SESSION *s);

bool rpc_tls_is_tls(struct bufferevent *bev);
/* True when the connection's handshake resumed a session. */
bool rpc_tls_resumed(struct bufferevent *bev);
/* rpc_client_flush for a TLS bufferevent: encrypts and writes what the socket takes now. */
void rpc_tls_flush(struct bufferevent *bev);

/* Why a server's TLS handshake failed (what: the bufferevent's event flags): the cause, and a
 * text for the log in why. */
enum rpc_tls_cause rpc_tls_server_failure(struct bufferevent *bev, short what, char *why,
                                          size_t len);
/* Why a client's TLS connection failed (established: after BEV_EVENT_CONNECTED). Returns 1 with
 * a text naming the handshake's failure (the server refused us or we refused it: nothing was
 * served), 2 with a text for another TLS error, 0 when the failure is not TLS's (a socket
 * error: the caller words it). */
int rpc_tls_client_failure(struct bufferevent *bev, short what, bool established,
                           const char *addr, char *why, size_t len);

/* The least contiguous space a frame is written into (the largest TLS record's plaintext):
 * see rpc_write_envelope. */
#define RPC_WRITE_CHUNK 16384

/* The first bytes of a TLS connection: a handshake record (content type 22, version 3.x). */
#define RPC_TLS_RECORD_HANDSHAKE 0x16
#define RPC_TLS_RECORD_MAJOR 0x03

/* A TLS alert record, protocol_version (70), fatal: what a plain server answers a TLS
 * handshake with, so that the TLS client's OpenSSL reports an alert rather than garbage. */
#define RPC_TLS_ALERT_PROTOCOL_VERSION { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46 }

/* Reads the kind and the call id of an envelope from the first bytes of its body (fields 1
 * and 2 come first on the wire), without the rest. Returns 0 with *is_call and *id, 1 when
 * more bytes are needed, -1 when the bytes are not an envelope's start. */
int rpc_envelope_scan_call(const uint8_t *body, size_t len, size_t body_len, bool *is_call,
                           uint64_t *id);

#endif
