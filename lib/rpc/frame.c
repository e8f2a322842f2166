/* Framing and envelope encoding: the only code that knows the byte layout on the wire. */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"
#include "rpc/internal.h"

const char *rpc_status_name(enum rpc_status st)
{
    static const char *const names[] = {
        "OK", "UNKNOWN_METHOD", "BAD_REQUEST", "TIMEOUT", "CANCELLED", "DISCONNECTED",
        "TOO_LARGE", "SHUTTING_DOWN", "OVERLOADED", "APP_ERROR", "UNREACHABLE", "PROTOCOL",
    };
    return (unsigned)st < ARRAY_LEN(names) ? names[st] : "UNKNOWN_STATUS";
}

void rpc_limits_default(struct rpc_limits *lim)
{
    lim->max_frame = RPC_DEFAULT_MAX_FRAME;
    lim->out_pause = 1u << 20;
    lim->out_drop = RPC_DEFAULT_MAX_FRAME + (8u << 20);
    lim->max_pending = 1024;
    lim->max_request = 0;
}

void rpc_too_large_message(char *out, size_t outlen, size_t size, size_t limit)
{
    snprintf(out, outlen, "request of %zu bytes exceeds the limit of %zu bytes", size, limit);
}

int rpc_too_large_parse(const char *error, uint64_t *size, uint64_t *limit)
{
    unsigned long long n, m;
    if (!error || sscanf(error, "request of %llu bytes exceeds the limit of %llu bytes", &n, &m) != 2)
        return -1;
    *size = n;
    *limit = m;
    return 0;
}

void rpc_frame_header(uint8_t out[RPC_FRAME_HEADER], uint32_t len) { be32_put(out, len); }

static uint32_t header_len(const uint8_t h[RPC_FRAME_HEADER]) { return be32_get(h); }

enum rpc_frame_result rpc_frame_parse(const uint8_t *buf, size_t len, size_t max_frame,
                                      const uint8_t **body, size_t *body_len)
{
    if (len < RPC_FRAME_HEADER)
        return RPC_FRAME_NEED_MORE;
    uint32_t n = header_len(buf);
    if (n > max_frame)
        return RPC_FRAME_TOO_LARGE;
    if (len - RPC_FRAME_HEADER < n)
        return RPC_FRAME_NEED_MORE;
    *body = buf + RPC_FRAME_HEADER;
    *body_len = n;
    return RPC_FRAME_OK;
}

Rpc__Envelope *rpc_envelope_decode(const uint8_t *body, size_t len)
{
    Rpc__Envelope *env = rpc__envelope__unpack(NULL, len, body);
    if (!env)
        return NULL;
    bool ok;
    switch (env->kind) {
    case RPC__KIND__CALL: ok = env->call_id != 0 && env->method[0] != '\0'; break;
    case RPC__KIND__REPLY: ok = env->call_id != 0; break;
    case RPC__KIND__ONEWAY: ok = env->method[0] != '\0'; break;
    default: ok = false; break;
    }
    /* protobuf-c keeps unknown fields, and accepts a (non-minimal) tag of field number 0 that
     * protobuf forbids and that it would itself refuse once re-encoded: reject it here. */
    for (unsigned i = 0; ok && i < env->base.n_unknown_fields; i++)
        ok = env->base.unknown_fields[i].tag != 0;
    if (!ok) {
        rpc__envelope__free_unpacked(env, NULL);
        return NULL;
    }
    return env;
}

enum rpc_read_result rpc_peek_length(struct evbuffer *in, size_t max_frame, uint32_t *len)
{
    uint8_t h[RPC_FRAME_HEADER];
    if (evbuffer_copyout(in, h, sizeof h) < (ev_ssize_t)sizeof h)
        return RPC_READ_NEED_MORE;
    *len = header_len(h);
    return *len > max_frame ? RPC_READ_TOO_LARGE : RPC_READ_OK;
}

enum rpc_read_result rpc_read_envelope(struct evbuffer *in, size_t max_frame, Rpc__Envelope **env)
{
    uint32_t n;
    enum rpc_read_result r = rpc_peek_length(in, max_frame, &n);
    if (r != RPC_READ_OK)
        return r;
    if (evbuffer_get_length(in) - RPC_FRAME_HEADER < n)
        return RPC_READ_NEED_MORE;
    evbuffer_drain(in, RPC_FRAME_HEADER);
    /* The body may span several chunks of the buffer; pullup makes it contiguous. */
    const uint8_t *body = n ? evbuffer_pullup(in, n) : (const uint8_t *)"";
    *env = rpc_envelope_decode(body, n);
    evbuffer_drain(in, n);
    return *env ? RPC_READ_OK : RPC_READ_BAD;
}

int rpc_write_envelope(struct evbuffer *out, const Rpc__Envelope *env, size_t max_frame)
{
    size_t n = rpc__envelope__get_packed_size(env);
    if (n > max_frame)
        return -1;
    /* Ask for at least a TLS record's worth of contiguous space though the frame may be
     * small: the frames that follow fill the same chunk. An SSL bufferevent writes its output
     * one chunk per SSL_write (one record, one write() each), so small chunks made a syscall
     * and a TCP segment per reply; a plain socket's writev does not care either way. */
    struct evbuffer_iovec v;
    size_t want = MAX(RPC_FRAME_HEADER + n, (size_t)RPC_WRITE_CHUNK);
    if (evbuffer_reserve_space(out, (ev_ssize_t)want, &v, 1) < 1)
        return -1;
    uint8_t *p = v.iov_base;
    rpc_frame_header(p, (uint32_t)n);
    rpc__envelope__pack(env, p + RPC_FRAME_HEADER);
    v.iov_len = RPC_FRAME_HEADER + n;
    evbuffer_commit_space(out, &v, 1);
    return 0;
}

size_t rpc_pack_msg(const ProtobufCMessage *msg, uint8_t **buf)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    *buf = xmalloc(n);
    protobuf_c_message_pack(msg, *buf);
    return n;
}

void rpc_bev_tune(struct bufferevent *bev) { bufferevent_set_max_single_write(bev, 256 * 1024); }

void rpc_socket_tune(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A peer that vanished without a FIN or RST (a killed container, a cut network) must not
     * leave a connection that looks alive for the ~15 minutes of TCP retransmissions: drop it
     * when sent data stays unacknowledged for 5 s (Raft heartbeats keep data flowing), and
     * probe idle connections after 5 s. A stopped (SIGSTOP) process still has its kernel
     * acknowledge data, so pausing a node does not trip this. */
    int user_timeout_ms = 5000, idle = 5, intvl = 1, cnt = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/* getaddrinfo of "host:port" with flags: 0, 1 when it found nothing (rc in *gai), -1 when addr
 * is not host:port (message in err). */
static int lookup(const char *addr, int flags, struct sockaddr_storage *ss, int *sslen, int *gai,
                  char *err, size_t errlen)
{
    char host[256];
    uint16_t port;
    if (parse_host_port(addr, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "'%s': expected host:port with a port from 0 to 65535", addr);
        return -1;
    }
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | flags };
    struct addrinfo *res;
    if ((*gai = getaddrinfo(host, service, &hints, &res)) != 0)
        return 1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int rpc_resolve(const char *addr, struct sockaddr_storage *ss, int *sslen, char *err,
                size_t errlen)
{
    int gai = 0, rc = lookup(addr, 0, ss, sslen, &gai, err, errlen);
    if (rc == 1)
        snprintf(err, errlen, "cannot resolve %s: %s", addr, gai_strerror(gai));
    return rc == 0 ? 0 : -1;
}

int rpc_resolve_numeric(const char *addr, struct sockaddr_storage *ss, int *sslen, char *err,
                        size_t errlen)
{
    int gai = 0;
    return lookup(addr, AI_NUMERICHOST, ss, sslen, &gai, err, errlen);
}

/* A varint at b[*pos..len): 0 with *v, 1 when it runs past len (more bytes needed), -1 when
 * longer than ten bytes. */
static int scan_varint(const uint8_t *b, size_t len, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*pos >= len)
            return 1;
        uint8_t byte = b[(*pos)++];
        *v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return 0;
    }
    return -1;
}

int rpc_envelope_scan_call(const uint8_t *body, size_t len, size_t body_len, bool *is_call,
                           uint64_t *id)
{
    uint64_t kind = RPC__KIND__CALL; /* proto3 leaves the default out */
    size_t pos = 0;
    len = MIN(len, body_len);
    for (;;) {
        if (pos == body_len) { /* no call id in the whole body */
            *is_call = false;
            return 0;
        }
        uint64_t key, v;
        int r = scan_varint(body, len, &pos, &key);
        if (r == 0 && (key & 7) == 0 && (key >> 3) <= 2)
            r = scan_varint(body, len, &pos, &v);
        if (r != 0)
            return r == 1 && len < body_len ? 1 : -1;
        if ((key & 7) != 0 || (key >> 3) > 2 || (key >> 3) == 0) {
            *is_call = false; /* fields 1 and 2 come first: past them, there was no call id */
            return 0;
        }
        if ((key >> 3) == 1) {
            kind = v;
            continue;
        }
        *is_call = kind == RPC__KIND__CALL && v != 0;
        *id = v;
        return 0;
    }
}
