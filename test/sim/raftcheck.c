/* Raft's safety properties on the simulator (raftcheck.h). */
#include "raftcheck.h"

#include <stdlib.h>

#include "base/util.h"

unsigned long raftcheck_seeds(void)
{
    const char *env = getenv("RANDOM_SEEDS");
    return env ? strtoul(env, NULL, 10) : 2000;
}

uint64_t raftcheck_term(const struct raft *r, uint64_t index)
{
    uint64_t t = 0;
    if (raft_term_at(r, index, &t) != RAFT_OK)
        return 0;
    return t;
}

void raftcheck_log_matching(struct sim *s)
{
    size_t n = sim_n(s);
    for (size_t a = 0; a < n; a++) {
        const struct raft *ra = sim_raft(s, a);
        if (!ra)
            continue;
        for (size_t b = a + 1; b < n; b++) {
            const struct raft *rb = sim_raft(s, b);
            if (!rb)
                continue;
            uint64_t lo = MAX(raft_snapshot_index(ra), raft_snapshot_index(rb)) + 1;
            uint64_t hi = MIN(raft_last_index(ra), raft_last_index(rb));
            /* Find the highest index where the terms agree; everything below must agree. */
            bool agreed = false;
            for (uint64_t i = hi; i >= lo && i > 0; i--) {
                uint64_t ta = raftcheck_term(ra, i), tb = raftcheck_term(rb, i);
                if (ta == tb)
                    agreed = true;
                else if (agreed) {
                    sim_fail(s, "log matching: nodes %zu and %zu agree above index %llu but differ "
                                "there (terms %llu vs %llu)", a, b, (unsigned long long)i,
                             (unsigned long long)ta, (unsigned long long)tb);
                    return;
                }
            }
        }
    }
}

static void check_new_leader_complete(struct sim *s, size_t i, const struct raft *r)
{
    uint64_t top = sim_max_index(s);
    for (uint64_t k = raft_snapshot_index(r) + 1; k <= top; k++) {
        uint64_t want = sim_applied_term(s, k);
        /* Raft promises a leader of term T the entries committed in terms below T: one applied
         * by a node then in term T or later may have committed only in T or later (a leader of
         * an older term can still be elected late, by a delayed vote reply, and cannot commit). */
        uint64_t by = sim_applied_at_term(s, k);
        if (want == 0 || by == 0 || by >= raft_soft_state(r).term)
            continue;
        uint64_t have = raftcheck_term(r, k);
        if (have != want) {
            sim_fail(s, "leader completeness: new leader %zu lacks applied entry %llu (term %llu, "
                        "it has term %llu)", i, (unsigned long long)k, (unsigned long long)want,
                     (unsigned long long)have);
            return;
        }
    }
}

void raftcheck_observe(struct sim *s, void *arg)
{
    struct raftcheck *c = arg;
    size_t n = sim_n(s);
    for (size_t i = 0; i < n; i++) {
        const struct raft *r = sim_raft(s, i);
        if (!r)
            continue;
        struct raft_soft_state ss = raft_soft_state(r);
        c->max_term = MAX(c->max_term, ss.term);
        if (ss.role != RAFT_LEADER)
            continue;
        uint64_t t = ss.term;
        if (t >= RAFTCHECK_MAX_TERMS) {
            sim_fail(s, "term %llu beyond the checker's table", (unsigned long long)t);
            return;
        }
        if (c->leader_of[t] == 0) {
            c->leader_of[t] = raft_id(r);
            check_new_leader_complete(s, i, r);
        } else if (c->leader_of[t] != raft_id(r)) {
            sim_fail(s, "election safety: term %llu has leaders %u and %u", (unsigned long long)t,
                     c->leader_of[t], raft_id(r));
            return;
        }
        uint64_t last = raft_last_index(r);
        if (c->lead_term[i] == t) {
            /* Leader append-only: what it had, it still has, unchanged. */
            uint64_t old = c->lead_last[i];
            if (last < old || (old > raft_snapshot_index(r) && raftcheck_term(r, old) != c->lead_last_term[i])) {
                sim_fail(s, "leader append-only: leader %zu in term %llu lost or changed index %llu",
                         i, (unsigned long long)t, (unsigned long long)old);
                return;
            }
        }
        c->lead_term[i] = t;
        c->lead_last[i] = last;
        c->lead_last_term[i] = raftcheck_term(r, last);
    }
    if (++c->events % 64 == 0)
        raftcheck_log_matching(s);
}

