/* The group's driver (lib/shardkv/driver.h) on the daemon's loop: its ops over the node (lead?
 * propose) and over clerk_net connections (the controller's servers, other groups' servers),
 * and a kick deferred to the loop, so that it can be asked for from inside an apply or a role
 * change, where the node must not be re-entered. */
#ifndef SHARDKVD_DRIVER_IO_H
#define SHARDKVD_DRIVER_IO_H

#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "shardkv/driver.h"

struct event_base;
struct driver_io;

/* Starts the driver of skv on node (whose id is self) with the controller at ctrlers. Returns
 * NULL with err when an address is malformed. */
struct driver_io *driver_io_new(struct event_base *base, struct node *node, uint32_t self,
                                struct shardkv *skv, const char *const *ctrlers, size_t n,
                                const struct skv_driver_opts *o, char *err, size_t errlen);
/* skv_driver_kick at the loop's next turn (several calls before it: one kick). */
void driver_io_kick_soon(struct driver_io *io);
/* Proposes cmd (taken: malloc'd) when this node leads, for its effect on the state only. */
void driver_io_propose(struct driver_io *io, uint8_t *cmd, size_t len);
/* Frees the driver (its engines and connections) and then the rest; nothing of it runs after. */
void driver_io_free(struct driver_io *io);

#endif
