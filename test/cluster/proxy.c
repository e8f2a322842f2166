/* The frame-aware fault proxy: one thread, one event_base, many links (cluster.h).
 *
 * With TLS (cluster_proxy_set_tls) each proxied connection is two TLS connections: the proxy
 * ends the client's on its accepting side and makes its own to the target, with an identity of
 * its own signed by the cluster's CA. So the frames are in the clear inside the proxy and every
 * fault works as over plain TCP; the daemons verify the proxy's certificate as a peer's, and
 * clients verify it against the address they dial (127.0.0.1). */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "cluster.h"
#include "rpc.pb-c.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"

/* Frames larger than this close the connection (the daemons' own limit is 64 MiB). */
#define PROXY_MAX_FRAME (RPC_DEFAULT_MAX_FRAME + 1024u)
/* A direction whose unsent output exceeds this drops further frames (a stopped reader). */
#define PROXY_MAX_BUFFERED (64u << 20)

struct frame {
    struct frame *next;
    uint64_t due_ns;
    size_t len;
    bool synth; /* a failure reply the proxy made up for a dropped CALL or REPLY */
    uint8_t data[]; /* header and body */
};

struct conn;

/* One direction of a proxied connection: frames read from `in` are written to `out`. */
struct half {
    struct conn *conn;
    struct bufferevent *in, *out;
    struct frame *head, *tail; /* frames waiting for their time, by due time */
    struct event *timer;
};

struct link;

struct conn {
    struct link *link;
    struct conn *prev, *next;
    struct bufferevent *client, *server; /* accepted side, target side */
    struct half fwd, back;               /* client -> server, server -> client */
};

struct link {
    struct cluster_proxy *p;
    int index;
    int fd; /* listening socket until the listener owns it */
    struct evconnlistener *lis;
    struct sockaddr_in target;
    char target_host[INET_ADDRSTRLEN]; /* what the target's certificate must name (TLS) */
    char addr[32];
    struct conn *conns;
    /* guarded by p->mu */
    bool up;
    struct cluster_faults f;
    struct cluster_link_stats st;
};

struct cluster_proxy {
    pthread_mutex_t mu;
    struct event_base *base;
    struct link **links;
    size_t n_links;
    struct rng rng; /* the proxy thread's only */
    struct rpc_tls *tls; /* NULL: plain TCP */
    pthread_t thread;
    bool running;
    int wake[2];
    struct event *wake_ev;
};

/* ---- frames and delays ----------------------------------------------------------------- */

static void conn_close(struct conn *c);

static void half_arm(struct half *h)
{
    if (!h->head) {
        evtimer_del(h->timer);
        return;
    }
    uint64_t now = clock_mono_ns();
    uint64_t wait = h->head->due_ns > now ? h->head->due_ns - now : 0;
    struct timeval tv = { (time_t)(wait / 1000000000u), (suseconds_t)(wait % 1000000000u / 1000u) };
    evtimer_add(h->timer, &tv);
}

/* Counts a frame leaving for the other side; false (counted as dropped) when the link went
 * down meanwhile or the output is full. A made-up failure reply (synth) was never received:
 * it counts as failed when it leaves, and as nothing when it is discarded. */
static bool half_admit(struct half *h, size_t len, bool synth)
{
    struct link *l = h->conn->link;
    size_t queued = evbuffer_get_length(bufferevent_get_output(h->out));
    pthread_mutex_lock(&l->p->mu);
    bool pass = l->up && queued + len <= PROXY_MAX_BUFFERED;
    if (synth) {
        if (pass)
            l->st.failed++;
    } else if (pass) {
        l->st.forwarded++;
        l->st.bytes += len;
    } else {
        l->st.dropped++;
    }
    pthread_mutex_unlock(&l->p->mu);
    return pass;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct half *h = arg;
    uint64_t now = clock_mono_ns();
    while (h->head && h->head->due_ns <= now) {
        struct frame *f = h->head;
        h->head = f->next;
        if (!h->head)
            h->tail = NULL;
        if (half_admit(h, f->len, f->synth))
            bufferevent_write(h->out, f->data, f->len);
        free(f);
    }
    half_arm(h);
}

/* Queues a frame by due time; with in-order delivery the due time never precedes the tail's. */
static void half_queue(struct half *h, struct frame *f, bool reorder)
{
    if (!reorder && h->tail && f->due_ns < h->tail->due_ns)
        f->due_ns = h->tail->due_ns;
    struct frame **pp = &h->head;
    while (*pp && (*pp)->due_ns <= f->due_ns)
        pp = &(*pp)->next;
    f->next = *pp;
    *pp = f;
    if (!f->next)
        h->tail = f;
    if (h->head == f)
        half_arm(h);
}

enum fate {
    PASS,      /* forward after the delay */
    DISCARD,   /* gone without a trace (link down, silent drop) */
    DROP_FAIL, /* dropped by chance: a CALL or REPLY becomes a failure reply (labrpc's false) */
};

/* Decides one frame's fate and its delay (*delay_ns, drawn for every frame). */
static enum fate half_decide(struct half *h, uint64_t *delay_ns, bool *reorder)
{
    struct link *l = h->conn->link;
    struct cluster_proxy *p = l->p;
    pthread_mutex_lock(&p->mu);
    l->st.frames++;
    enum fate fate = l->up ? PASS : DISCARD;
    if (fate == PASS && l->f.drop > 0 &&
        (double)rng_below(&p->rng, 1000000) < l->f.drop * 1000000.0)
        fate = l->f.silent_drop ? DISCARD : DROP_FAIL;
    uint64_t lo = l->f.delay_min_ms * 1000000u;
    uint64_t hi = MAX(l->f.delay_max_ms, l->f.delay_min_ms) * (uint64_t)1000000u;
    *delay_ns = lo + (hi > lo ? rng_below(&p->rng, hi - lo + 1) : 0);
    *reorder = l->f.reorder;
    if (fate != PASS)
        l->st.dropped++;
    pthread_mutex_unlock(&p->mu);
    return fate;
}

/* A dropped frame (the whole frame, len bytes, at the start of in) that is a CALL going to the
 * server or a REPLY coming back is answered, after the frame's own delay, by a REPLY of the
 * same call_id with status DISCONNECTED (it may or may not have run), queued on the direction
 * towards the caller so that it keeps that direction's order. Anything else (ONEWAY, a frame
 * that does not decode) vanishes. */
static void fail_dropped(struct half *h, struct evbuffer *in, size_t len, uint64_t delay,
                         bool reorder)
{
    struct conn *c = h->conn;
    const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
    Rpc__Envelope *got =
        data ? rpc__envelope__unpack(NULL, len - RPC_FRAME_HEADER, data + RPC_FRAME_HEADER) : NULL;
    if (!got)
        return;
    Rpc__Kind want = h == &c->fwd ? RPC__KIND__CALL : RPC__KIND__REPLY;
    uint64_t call_id = got->call_id;
    bool answer = got->kind == want;
    rpc__envelope__free_unpacked(got, NULL);
    if (!answer)
        return;
    Rpc__Envelope env = RPC__ENVELOPE__INIT;
    env.kind = RPC__KIND__REPLY;
    env.call_id = call_id;
    env.status = RPC__STATUS__DISCONNECTED;
    env.error = (char *)(h == &c->fwd ? "the fault proxy dropped the request"
                                      : "the fault proxy dropped the reply");
    size_t body = rpc__envelope__get_packed_size(&env);
    struct frame *f = xmalloc(sizeof *f + RPC_FRAME_HEADER + body);
    f->len = RPC_FRAME_HEADER + body;
    f->synth = true;
    f->due_ns = clock_mono_ns() + delay;
    rpc_frame_header(f->data, (uint32_t)body);
    rpc__envelope__pack(&env, f->data + RPC_FRAME_HEADER);
    half_queue(&c->back, f, reorder);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct half *h = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        uint8_t hdr[RPC_FRAME_HEADER];
        if (avail < sizeof hdr)
            return;
        evbuffer_copyout(in, hdr, sizeof hdr);
        size_t body = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
        if (body > PROXY_MAX_FRAME) {
            conn_close(h->conn);
            return;
        }
        size_t len = sizeof hdr + body;
        if (avail < len)
            return;
        uint64_t delay;
        bool reorder;
        enum fate fate = half_decide(h, &delay, &reorder);
        if (fate != PASS) {
            if (fate == DROP_FAIL)
                fail_dropped(h, in, len, delay, reorder);
            evbuffer_drain(in, len);
            continue;
        }
        if (delay == 0 && !h->head) {
            if (half_admit(h, len, false))
                evbuffer_remove_buffer(in, bufferevent_get_output(h->out), len);
            else
                evbuffer_drain(in, len);
            continue;
        }
        struct frame *f = xmalloc(sizeof *f + len);
        f->len = len;
        f->synth = false;
        f->due_ns = clock_mono_ns() + delay;
        evbuffer_remove(in, f->data, len);
        half_queue(h, f, reorder);
    }
}

/* ---- connections ------------------------------------------------------------------------ */

static void half_clear(struct half *h)
{
    while (h->head) {
        struct frame *f = h->head;
        h->head = f->next;
        free(f);
    }
    h->tail = NULL;
    if (h->timer)
        event_free(h->timer);
}

static void conn_close(struct conn *c)
{
    struct link *l = c->link;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    half_clear(&c->fwd);
    half_clear(&c->back);
    bufferevent_free(c->client);
    bufferevent_free(c->server);
    free(c);
}

static void set_nodelay(evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct half *h = arg;
    if (what & BEV_EVENT_CONNECTED) {
        set_nodelay(bufferevent_getfd(bev));
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_close(h->conn);
}

static void half_init(struct half *h, struct conn *c, struct bufferevent *in,
                      struct bufferevent *out)
{
    h->conn = c;
    h->in = in;
    h->out = out;
    h->timer = evtimer_new(c->link->p->base, on_timer, h);
    bufferevent_setcb(in, on_read, NULL, on_event, h);
    bufferevent_enable(in, EV_READ | EV_WRITE);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lis;
    (void)sa;
    (void)salen;
    struct link *l = arg;
    struct event_base *base = l->p->base;
    pthread_mutex_lock(&l->p->mu);
    l->st.conns++;
    pthread_mutex_unlock(&l->p->mu);
    set_nodelay(fd);
    struct bufferevent *client, *server;
    if (l->p->tls) {
        client = rpc_tls_bufferevent_accept(base, fd, l->p->tls);
        server = rpc_tls_bufferevent_connect(base, l->p->tls, l->target_host);
    } else {
        int out = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        client = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
        server = out >= 0 ? bufferevent_socket_new(base, out, BEV_OPT_CLOSE_ON_FREE) : NULL;
        if (out >= 0 && !server)
            close(out);
    }
    if (!client || !server) {
        if (client)
            bufferevent_free(client);
        else
            close(fd);
        if (server)
            bufferevent_free(server);
        return;
    }
    struct conn *c = xcalloc(1, sizeof *c);
    c->link = l;
    c->client = client;
    c->server = server;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    half_init(&c->fwd, c, c->client, c->server);
    half_init(&c->back, c, c->server, c->client);
    if (bufferevent_socket_connect(c->server, (struct sockaddr *)&l->target, sizeof l->target) != 0)
        conn_close(c);
}

/* ---- the proxy -------------------------------------------------------------------------- */

struct cluster_proxy *cluster_proxy_new(uint64_t seed)
{
    rpc_ignore_sigpipe(); /* a write to a killed node must not kill the test */
    struct cluster_proxy *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->base = event_base_new();
    rng_seed(&p->rng, seed);
    p->wake[0] = p->wake[1] = -1;
    return p;
}

int cluster_proxy_add_link(struct cluster_proxy *p, const char *target, char *err, size_t errlen)
{
    char host[64];
    uint16_t port;
    struct sockaddr_in ta = { .sin_family = AF_INET };
    if (p->running) {
        snprintf(err, errlen, "proxy: links must be added before the proxy starts");
        return -1;
    }
    if (parse_host_port(target, host, sizeof host, &port) != 0 || port == 0 ||
        inet_pton(AF_INET, host, &ta.sin_addr) != 1) {
        snprintf(err, errlen, "proxy: bad target address '%s' (want IPv4:port)", target);
        return -1;
    }
    ta.sin_port = htons(port);
    char target_host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &ta.sin_addr, target_host, sizeof target_host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        snprintf(err, errlen, "proxy: cannot listen on 127.0.0.1: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct link *l = xcalloc(1, sizeof *l);
    l->p = p;
    l->index = (int)p->n_links;
    l->fd = fd;
    l->target = ta;
    snprintf(l->target_host, sizeof l->target_host, "%s", target_host);
    l->up = true;
    snprintf(l->addr, sizeof l->addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    l->lis = evconnlistener_new(p->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                -1, fd);
    if (!l->lis) {
        snprintf(err, errlen, "proxy: cannot create a listener");
        close(fd);
        free(l);
        return -1;
    }
    p->links = xrealloc(p->links, (p->n_links + 1) * sizeof *p->links);
    p->links[p->n_links++] = l;
    return l->index;
}

void cluster_proxy_set_tls(struct cluster_proxy *p, struct rpc_tls *tls) { p->tls = tls; }

const char *cluster_proxy_link_addr(const struct cluster_proxy *p, int link)
{
    return p->links[link]->addr;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    char b;
    if (read(fd, &b, 1) >= 0)
        event_base_loopbreak(arg);
}

static void *proxy_main(void *arg)
{
    struct cluster_proxy *p = arg;
    event_base_dispatch(p->base);
    return NULL;
}

int cluster_proxy_start(struct cluster_proxy *p)
{
    if (p->running)
        return 0;
    if (pipe2(p->wake, O_CLOEXEC) != 0)
        return -1;
    p->wake_ev = event_new(p->base, p->wake[0], EV_READ | EV_PERSIST, on_wake, p->base);
    event_add(p->wake_ev, NULL);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0)
        return -1;
    p->running = true;
    return 0;
}

static struct link *link_at(struct cluster_proxy *p, int link)
{
    if (link < 0 || (size_t)link >= p->n_links)
        abort(); /* a programming error in the test */
    return p->links[link];
}

void cluster_proxy_set_up(struct cluster_proxy *p, int link, bool up)
{
    struct link *l = link_at(p, link);
    pthread_mutex_lock(&p->mu);
    l->up = up;
    pthread_mutex_unlock(&p->mu);
}

bool cluster_proxy_up(struct cluster_proxy *p, int link)
{
    struct link *l = link_at(p, link);
    pthread_mutex_lock(&p->mu);
    bool up = l->up;
    pthread_mutex_unlock(&p->mu);
    return up;
}

void cluster_proxy_set_faults(struct cluster_proxy *p, int link, const struct cluster_faults *f)
{
    struct link *l = link_at(p, link);
    pthread_mutex_lock(&p->mu);
    if (f)
        l->f = *f;
    else
        memset(&l->f, 0, sizeof l->f);
    pthread_mutex_unlock(&p->mu);
}

void cluster_proxy_stats(struct cluster_proxy *p, int link, struct cluster_link_stats *out)
{
    struct link *l = link_at(p, link);
    pthread_mutex_lock(&p->mu);
    *out = l->st;
    pthread_mutex_unlock(&p->mu);
}

void cluster_proxy_free(struct cluster_proxy *p)
{
    if (!p)
        return;
    if (p->running) {
        char b = 1;
        if (write(p->wake[1], &b, 1) != 1)
            abort();
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < p->n_links; i++) {
        struct link *l = p->links[i];
        while (l->conns)
            conn_close(l->conns);
        evconnlistener_free(l->lis);
        free(l);
    }
    free(p->links);
    if (p->wake_ev)
        event_free(p->wake_ev);
    for (int i = 0; i < 2; i++)
        if (p->wake[i] >= 0)
            close(p->wake[i]);
    event_base_free(p->base);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
