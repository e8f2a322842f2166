#include "node/peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "rpc/rpc.h"

struct peer_link *peers_find(const struct peers *p, uint32_t id)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->links[i].peer.id == id)
            return &p->links[i];
    return NULL;
}

static struct rpc_client *connect_to(const struct peers *p, const char *addr, char *err,
                                     size_t errlen)
{
    struct rpc_client_opts co;
    rpc_client_opts_default(&co);
    if (p->max_frame > co.limits.max_frame) {
        co.limits.max_frame = p->max_frame;
        co.limits.out_drop = p->max_frame + (8u << 20);
    }
    return rpc_client_new(p->base, addr, &co, err, errlen);
}

/* Adds id at addr, or moves it there. Returns 0, or -1 with err (a malformed address). */
static int set_addr(struct peers *p, uint32_t id, const char *addr, char *err, size_t errlen)
{
    struct peer_link *l = peers_find(p, id);
    if (l && strcmp(l->peer.addr, addr) == 0)
        return 0;
    struct rpc_client *c = NULL;
    if (id != p->self && !(c = connect_to(p, addr, err, errlen)))
        return -1;
    if (!l) {
        if (p->n == p->cap) {
            p->cap = p->cap ? 2 * p->cap : 8;
            p->links = xrealloc(p->links, p->cap * sizeof *p->links);
        }
        l = &p->links[p->n++];
        memset(l, 0, sizeof *l);
        l->peer.id = id;
    } else if (l->client) {
        p->retired = xrealloc(p->retired, (p->n_retired + 1) * sizeof *p->retired);
        p->retired[p->n_retired++] = l->client;
    }
    snprintf(l->peer.addr, sizeof l->peer.addr, "%s", addr);
    l->client = c;
    return 0;
}

void peers_init(struct peers *p, struct event_base *base, uint32_t self, size_t max_frame)
{
    memset(p, 0, sizeof *p);
    p->base = base;
    p->self = self;
    p->max_frame = max_frame;
}

int peers_add(struct peers *p, const struct node_peer *v, size_t n, bool pinned, char *err,
              size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (set_addr(p, v[i].id, v[i].addr, err, errlen) != 0)
            return -1;
        peers_find(p, v[i].id)->pinned |= pinned;
    }
    return 0;
}

void peers_sync(struct peers *p, const struct raft_membership *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct raft_member *mb = &m->m[i];
        struct peer_link *l = peers_find(p, mb->id);
        if (!mb->addr[0] || (l && (l->pinned || strcmp(l->peer.addr, mb->addr) == 0)))
            continue;
        char err[256];
        if (set_addr(p, mb->id, mb->addr, err, sizeof err) != 0)
            LOG_WARN("node", "member %u: cannot use its address %s: %s", mb->id, mb->addr, err);
        else
            LOG_INFO("node", "member %u is at %s", mb->id, mb->addr);
    }
}

void peers_free(struct peers *p)
{
    for (size_t i = 0; i < p->n; i++)
        rpc_client_free(p->links[i].client);
    for (size_t i = 0; i < p->n_retired; i++)
        rpc_client_free(p->retired[i]);
    free(p->links);
    free(p->retired);
    memset(p, 0, sizeof *p);
}
