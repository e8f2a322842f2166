/* The clerk engine's transport (lib/clerk/engine.h) over a simnet endpoint: calls on the
 * endpoint (a lost call is RPC_TIMEOUT at the attempt's end), the simulator's one-shot timers
 * and clock. Any lib/clerk layer runs on it unchanged: the kv clerk (simclerk.h), the
 * controller clerk (ctrl_clerk_new_on). Servers are named by simsvc_addr. One call in flight
 * at a time (the engine runs one attempt at a time). */
#ifndef SIM_SIMTRANSPORT_H
#define SIM_SIMTRANSPORT_H

#include <stddef.h>

#include "clerk/engine.h"
#include "simnet.h"

struct simtransport;

/* A transport to the n servers of net, on its own endpoint (linked to every server). */
struct simtransport *simtransport_new(struct simnet *net, size_t n);
/* Free after the clerk that uses it (which cancels its call and timers). */
void simtransport_free(struct simtransport *t);
/* The transport to give a clerk (valid while t lives). */
struct clerk_transport simtransport_get(struct simtransport *t);
/* Its endpoint (to restrict its links: simnet_ep_connect). */
struct simnet_ep *simtransport_ep(struct simtransport *t);

#endif
