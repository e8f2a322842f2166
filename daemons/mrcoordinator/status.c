#include "status.h"

#include <stdio.h>
#include <stdlib.h>

#include "mr.pb-c.h"
#include "mr/mr.h"
#include "rpc/rpc.h"

int status_query(const char *addr, uint64_t timeout_ms)
{
    char err[256];
    struct rpc_sync *s = rpc_sync_new(addr, err, sizeof err);
    if (!s) {
        fprintf(stderr, "mrcoordinator: %s\n", err);
        return 1;
    }
    uint8_t *reply = NULL;
    size_t len = 0;
    char *error = NULL;
    enum rpc_status st = rpc_sync_call(s, "mr.Progress", NULL, 0, timeout_ms, &reply, &len,
                                       &error);
    rpc_sync_free(s);
    Mr__Progress *m = st == RPC_OK ? mr__progress__unpack(NULL, len, reply) : NULL;
    free(reply);
    if (!m) {
        fprintf(stderr, "mrcoordinator: no progress from %s: %s%s%s\n", addr,
                st == RPC_OK ? "reply does not decode" : rpc_status_name(st),
                error && *error ? ": " : "", error ? error : "");
        free(error);
        return 1;
    }
    struct mr_progress p = {
        .c = { m->maps_done, m->maps_total, m->maps_running, m->reduces_done, m->reduces_total,
               m->reduces_running, m->reassigned, m->done, false },
        .workers = m->workers,
        .elapsed_ms = m->elapsed_ms,
    };
    char line[512];
    mr_progress_format_line(&p, line, sizeof line);
    printf("%s\n", line);
    mr__progress__free_unpacked(m, NULL);
    return 0;
}
