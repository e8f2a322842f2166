#include "base/clock.h"

#include <errno.h>
#include <time.h>

static uint64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mono_ns(void) { return read_clock(CLOCK_MONOTONIC); }
uint64_t clock_mono_ms(void) { return read_clock(CLOCK_MONOTONIC) / 1000000u; }
uint64_t clock_wall_ns(void) { return read_clock(CLOCK_REALTIME); }

void clock_sleep_ms(uint64_t ms)
{
    struct timespec req = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&req, &req) != 0 && errno == EINTR) {
    }
}
