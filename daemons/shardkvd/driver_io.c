#include "driver_io.h"

#include <event2/event.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/util.h"
#include "clerk/net.h"

struct driver_io {
    struct event_base *base;
    struct node *node;
    uint32_t self;
    struct clerk_net *ctrl;
    struct clerk_transport ctrl_t; /* over ctrl, for the driver (kept while it lives) */
    struct skv_driver *driver;
    struct event *kick;
};

static bool op_leader(void *ctx)
{
    struct driver_io *io = ctx;
    const char *addr;
    return node_leader(io->node, &addr) == io->self;
}

/* The driver needs no outcome (it sees the state); node_propose copied the command. */
static void proposed(enum node_result res, uint64_t index, uint64_t term, const uint8_t *result,
                     size_t len, void *arg)
{
    (void)index;
    (void)term;
    (void)result;
    (void)len;
    (void)arg;
    if (res != NODE_OK)
        LOG_DEBUG("shardkv", "proposal not applied: %s", node_result_name(res));
}

void driver_io_propose(struct driver_io *io, uint8_t *cmd, size_t len)
{
    uint64_t index, term;
    enum node_result res = node_propose(io->node, cmd, len, proposed, NULL, &index, &term);
    if (res != NODE_OK)
        LOG_DEBUG("shardkv", "proposal refused: %s", node_result_name(res));
    free(cmd);
}

static struct clerk_transport op_transport(void *ctx, const char *const *servers, size_t n)
{
    struct driver_io *io = ctx;
    char err[256];
    struct clerk_net *net = clerk_net_new(io->base, servers, n, err, sizeof err);
    if (!net) {
        /* A group's servers come from the controller, which checked them as host:port; an
         * address that still does not parse leaves a transport with no server at all. */
        LOG_WARN("shardkv", "cannot reach a group (%s): using one unreachable address", err);
        const char *none = "127.0.0.1:0";
        net = clerk_net_new(io->base, &none, 1, err, sizeof err);
    }
    return clerk_net_transport(net);
}

static void op_transport_free(void *ctx, struct clerk_transport *t)
{
    (void)ctx;
    clerk_net_free(t->ctx); /* clerk_net_transport's ctx is the clerk_net */
}

static void op_propose(void *ctx, uint8_t *cmd, size_t len) { driver_io_propose(ctx, cmd, len); }

static const struct skv_driver_ops ops = { op_leader, op_propose, op_transport,
                                           op_transport_free };

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct driver_io *io = arg;
    skv_driver_kick(io->driver);
}

struct driver_io *driver_io_new(struct event_base *base, struct node *node, uint32_t self,
                                struct shardkv *skv, const char *const *ctrlers, size_t n,
                                const struct skv_driver_opts *o, char *err, size_t errlen)
{
    struct driver_io *io = xcalloc(1, sizeof *io);
    *io = (struct driver_io){ .base = base, .node = node, .self = self };
    io->ctrl = clerk_net_new(base, ctrlers, n, err, errlen);
    if (!io->ctrl) {
        free(io);
        return NULL;
    }
    io->kick = event_new(base, -1, 0, on_kick, io);
    io->ctrl_t = clerk_net_transport(io->ctrl);
    io->driver = skv_driver_new(skv, &ops, io, &io->ctrl_t, o);
    return io;
}

void driver_io_kick_soon(struct driver_io *io)
{
    event_active(io->kick, EV_TIMEOUT, 0);
}

void driver_io_free(struct driver_io *io)
{
    if (!io)
        return;
    /* The driver first: it frees its engines (no callback of theirs runs after) and the
     * transports it asked for; then the controller's connections it used. */
    skv_driver_free(io->driver);
    clerk_net_free(io->ctrl);
    event_free(io->kick);
    free(io);
}
