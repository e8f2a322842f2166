/* The clerk engine's transport (lib/clerk/engine.h) over a simnet endpoint: calls on the
 * endpoint (a lost call is RPC_TIMEOUT at the attempt's end), the simulator's one-shot timers
 * and clock. Any lib/clerk layer runs on it unchanged: the kv clerk (simclerk.h), the
 * controller clerk (ctrl_clerk_new_on). Servers are named by simsvc_addr. Several engines may
 * share one (each has one call in flight at a time). */
#ifndef SIM_SIMTRANSPORT_H
#define SIM_SIMTRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h"
#include "simnet.h"

struct simtransport;

/* A transport to the n servers of net, on its own endpoint (linked to every server). */
struct simtransport *simtransport_new(struct simnet *net, size_t n);
/* A transport to the given servers of net (servers[i]: the net's server of the transport's
 * server i). framed: each request carries its method, as "<method>\0<payload>", for servers
 * that serve several methods (a shard group: simtransport_unframe). */
struct simtransport *simtransport_new_servers(struct simnet *net, const size_t *servers, size_t n,
                                              bool framed);
/* A framed request's method and payload (pointing into req); -1 when it is not framed. */
int simtransport_unframe(const uint8_t *req, size_t len, const char **method,
                         const uint8_t **payload, size_t *plen);
/* Free after the clerk that uses it (which cancels its call and timers). */
void simtransport_free(struct simtransport *t);
/* The transport to give a clerk (valid while t lives). */
struct clerk_transport simtransport_get(struct simtransport *t);
/* Its endpoint (to restrict its links: simnet_ep_connect). */
struct simnet_ep *simtransport_ep(struct simtransport *t);

#endif
