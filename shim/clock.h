// SPDX-License-Identifier: MIT
/* clock.h: the timeline's clock, CLOCK_MONOTONIC nanoseconds.
 *
 * On x86-64 with an invariant TSC (CPUID 0x80000007 EDX bit 8) the hot path
 * reads the TSC (one instruction, no vDSO call, no seqlock loop) and scales
 * it with a multiplier calibrated against clock_gettime() — lazily, from the
 * calls the program makes anyway in its first 50 ms, so loading the shim
 * never sleeps. Elsewhere, or until calibrated, it is clock_gettime(). */
#ifndef RSTWATCH_CLOCK_H
#define RSTWATCH_CLOCK_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)
#endif

struct tsc_scale {
    uint64_t tsc0, ns0; /* a (TSC, CLOCK_MONOTONIC) pair */
    uint64_t mult;      /* ns = ns0 + ((tsc - tsc0) * mult) >> 32 */
};

extern int clock_tsc_ready; /* 1: use the TSC */
extern struct tsc_scale clock_scale;

/* Records the calibration start; called once at load. */
void clock_init(void);

/* The slow path: clock_gettime(), and calibration once 50 ms have passed. */
uint64_t clock_now_slow(void);

static inline uint64_t clock_now_ns(void)
{
#if defined(__x86_64__)
    /* Acquire pairs with the calibrating thread's release: the scale it published is read after
     * the flag, never before (a plain mov on x86; it only keeps the compiler from hoisting). */
    if (__builtin_expect(__atomic_load_n(&clock_tsc_ready, __ATOMIC_ACQUIRE), 1)) {
        uint64_t d = __rdtsc() - clock_scale.tsc0;
        return clock_scale.ns0 + (uint64_t)(((unsigned __int128)d * clock_scale.mult) >> 32);
    }
#endif
    return clock_now_slow();
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

#pragma GCC visibility pop

#endif
