/* kvcli del and cas: Delete and compare-and-swap, through the kv clerk (kvd) or the shard clerk
 * (a sharded cluster), with plain or --json output. */
#ifndef KVCLI_WRITE_OPS_H
#define KVCLI_WRITE_OPS_H

#include <stdbool.h>

#include "clerk/clerk.h"
#include "clerk/shard.h"

#define WRITE_OPS_SYNOPSIS "del KEY | cas KEY OLD NEW | cas --absent KEY NEW"

/* Is this a del / cas command line with the right number of arguments (n counts cmd)? */
bool write_ops_match(const char *cmd, char **args, int n);

/* Runs the command (args[0] is its first argument) on kv or, when kv is NULL, on sharded.
 * Returns the exit status when the outcome is the command's own answer (printed): del 0
 * (deleted or absent), cas 0 (swapped) or 1 (not: the current value, or that the key is
 * absent); -1 for any other outcome, left in *r for the caller's report. */
int write_ops_run(const char *cmd, char **args, int n, struct clerk_sync *kv,
                  struct shard_sync *sharded, bool json, enum clerk_result *r);

#endif
