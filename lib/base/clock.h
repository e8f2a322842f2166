/* Time sources. Only daemons, lib/node, lib/rpc and lib/storage (a background snapshot's pace)
 * read clocks; lib/raft sees ticks. */
#ifndef BASE_CLOCK_H
#define BASE_CLOCK_H

#include <stdint.h>

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC); never goes back. */
uint64_t clock_mono_ns(void);

/* Monotonic time in milliseconds. */
uint64_t clock_mono_ms(void);

/* Wall-clock time in nanoseconds since the Unix epoch (for log lines only). */
uint64_t clock_wall_ns(void);

/* Sleeps for ms milliseconds, resuming after signals. */
void clock_sleep_ms(uint64_t ms);

#endif
