/* clock.h: the timeline's clock. CLOCK_MONOTONIC through the vDSO: no system
 * call, immune to wall-clock steps; nanoseconds since boot. */
#ifndef RSTWATCH_CLOCK_H
#define RSTWATCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spin-wait politely (platform differences live here, nowhere else). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
