/* kvcli's shard commands: the shard controller's admin operations (join, leave, move, config)
 * through the blocking controller clerk (lib/clerk/ctrl.h). */
#ifndef KVCLI_SHARD_H
#define KVCLI_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#define SHARD_SYNOPSIS                                                                           \
    "shard join GID=HOST:PORT[,HOST:PORT]... [GID=...]... | shard leave GID... | "               \
    "shard move SHARD GID | shard config [--json] [NUM] | shard status [--json] | shard key KEY"

/* Runs `kvcli shard ARGS...` (args[0] is the subcommand, n may be 0) against the controllers
 * in ctrlers (comma-separated host:port; NULL or empty: none given, a usage error). json: print
 * a config as JSON. Returns the exit status: 0 done; 1 refused by the controller or failed, the
 * reason on stderr; 2 usage error, with a usage line on stderr. */
int shard_main(char **args, int n, const char *ctrlers, uint64_t timeout_ms, bool json);

#endif
