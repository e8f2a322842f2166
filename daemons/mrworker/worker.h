/* The worker's loop: asks the coordinator for a task, runs it with lib/mr, reports it, until
 * the coordinator says the job is done or cannot be reached for give_up_ms. Blocking
 * (rpc_sync): a worker does one thing at a time. */
#ifndef MRWORKER_WORKER_H
#define MRWORKER_WORKER_H

#include <stdint.h>

#include "mr/mr.h"

struct worker_config {
    const char *coordinator; /* "host:port" */
    const char *name;        /* how the coordinator's logs call this worker */
    uint64_t give_up_ms;     /* exit after this long without any answer from the coordinator */
};

/* Runs until the job is done (returns 0) or the coordinator is unreachable (returns 0: it
 * exits when done, so that is the usual end of a late worker), or the address is malformed
 * (returns 2). app stays owned by the caller. */
int worker_run(const struct mr_app *app, const struct worker_config *cfg);

#endif
