/* `mrcoordinator --status ADDR`: asks a running coordinator for its progress (mr.Progress). */
#ifndef MRCOORDINATOR_STATUS_H
#define MRCOORDINATOR_STATUS_H

#include <stdint.h>

/* Prints one progress line on stdout. Returns the exit status: 0, or 1 (with a message on
 * stderr) when the coordinator does not answer within timeout_ms. */
int status_query(const char *addr, uint64_t timeout_ms);

#endif
