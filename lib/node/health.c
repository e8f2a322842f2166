#include "node/health.h"

#include <stdarg.h>
#include <stdio.h>

#include "raft/raft.h"

__attribute__((format(printf, 3, 4))) static int no(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return 1;
}

int node_health_judge(const struct node_health_facts *f, bool ready, char *why, size_t len)
{
    if (f->holding)
        return no(why, len, "a write is held: no space left on the data volume");
    if (f->leader == RAFT_NONE)
        return no(why, len, "no leader known");
    if (f->leader == f->self && f->voters_heard < f->quorum)
        return no(why, len, "leader without a quorum: voters heard from recently %llu, "
                  "needed %llu", (unsigned long long)f->voters_heard,
                  (unsigned long long)f->quorum);
    if (f->leader != f->self && f->leader_heard_ago_ms > f->window_ms)
        return no(why, len, "leader %llu not heard from for %llu ms (0: never)",
                  (unsigned long long)f->leader,
                  (unsigned long long)(f->leader_heard_ago_ms == UINT64_MAX
                                           ? 0 : f->leader_heard_ago_ms));
    if (f->applied < f->commit && f->apply_ok_ago_ms > NODE_APPLY_STALL_MS)
        return no(why, len, "not applying: applied index %llu stuck below commit index %llu",
                  (unsigned long long)f->applied, (unsigned long long)f->commit);
    if (!ready)
        return 0;
    if (f->applied < f->ready_index)
        return no(why, len, "catching up: applied index %llu, %llu needed",
                  (unsigned long long)f->applied, (unsigned long long)f->ready_index);
    if (!f->voter)
        return no(why, len, "a learner, not yet a voter");
    if (f->refusing_writes)
        return no(why, len, "writes refused: no space left on the data volume");
    return 0;
}
