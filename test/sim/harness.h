/* The 6.5840 Raft tester's helpers (config.go), on the simulator: one(), nCommitted,
 * checkOneLeader, checkTerms, checkNoLeader, wait. Waiting advances simulated time. Failures
 * are recorded in the sim (sim_fail) and make later helpers return at once. */
#ifndef SIM_HARNESS_H
#define SIM_HARNESS_H

#include <stdint.h>

#include "sim.h"

/* A command: 8 bytes holding v, as the lab's integer commands. */
struct cmd {
    uint8_t b[8];
};
struct cmd cmd_int(uint64_t v);

/* Cooperative tasks standing in for the lab's goroutines: step() runs at sim time wake and
 * returns how long to sleep, or -1 when the task is finished. */
struct task {
    int64_t (*step)(struct sim *s, struct task *t);
    uint64_t wake;
    bool done;
};

/* Runs the tasks until every one is done (or the sim failed), advancing simulated time to
 * each wake-up in turn. */
void h_run_tasks(struct sim *s, struct task **tasks, size_t n);

/* one() as a task, so several can run "concurrently". */
struct one_task {
    struct task t;
    const uint8_t *cmd;
    size_t len;
    size_t expected;
    bool retry;
    uint64_t t0, t1;
    int64_t index; /* -1 while no leader took it; the result when done */
    size_t starts;
};
void h_one_task_init(struct one_task *o, struct sim *s, const uint8_t *cmd, size_t len,
                     size_t expected, bool retry);

/* The lab's one(): tries Start on connected servers round robin for up to 10 s, and waits up
 * to 2 s each time for >= expected servers to apply cmd at its index. Returns the index, or
 * -1 after recording a failure. retry: try again when the first leader's index held another
 * command (false: fail at once). */
int64_t h_one(struct sim *s, const uint8_t *cmd, size_t len, size_t expected, bool retry);
int64_t h_one_int(struct sim *s, uint64_t v, size_t expected, bool retry);

/* The lab's checkOneLeader: up to 10 polls 450-550 ms apart; fails if a term has two leaders
 * or no leader appears. Returns the leader's node number, or -1. */
int h_check_one_leader(struct sim *s);

/* Every connected server has the same term (returned); fails otherwise. */
uint64_t h_check_terms(struct sim *s);

/* No connected server thinks it is leader. */
void h_check_no_leader(struct sim *s);

/* nCommitted: how many servers applied index (failing if they disagree). */
size_t h_n_committed(struct sim *s, uint64_t index);

/* The lab's wait(): waits (10 ms growing to 1 s) until n servers applied index; returns false
 * (without failing) if some server's term passed start_term; fails if too few committed. */
bool h_wait(struct sim *s, uint64_t index, size_t n, uint64_t start_term, uint64_t *value);

/* Reads the 8-byte integer command applied at index by some server (0 when none). */
uint64_t h_cmd_value(struct sim *s, uint64_t index);

#endif
