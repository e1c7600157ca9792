// SPDX-License-Identifier: MIT
/* clock.c: TSC calibration for clock_now_ns() (see clock.h). */
#include "clock.h"

#include <stdatomic.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

int clock_tsc_ready;
struct tsc_scale clock_scale;

#define CALIBRATE_AFTER_NS (50ull * 1000 * 1000)

static int tsc_usable;
static uint64_t start_tsc, start_ns;
static atomic_flag calibrating = ATOMIC_FLAG_INIT;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void clock_init(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8))) {
        tsc_usable = 1;
        start_ns = mono_ns();
        start_tsc = __rdtsc();
    }
#endif
}

uint64_t clock_now_slow(void)
{
    uint64_t now = mono_ns();
#if defined(__x86_64__)
    if (tsc_usable && now - start_ns >= CALIBRATE_AFTER_NS &&
        !atomic_flag_test_and_set(&calibrating)) {
        uint64_t tsc = __rdtsc();
        uint64_t ns = mono_ns();
        uint64_t dt = tsc - start_tsc, dn = ns - start_ns;
        if (dt > 0 && dn > 0 && dn < dt * 16) { /* sane: a TSC between ~0.06 and 100s of GHz */
            clock_scale.tsc0 = tsc;
            clock_scale.ns0 = ns;
            clock_scale.mult = (uint64_t)(((unsigned __int128)dn << 32) / dt);
            __atomic_store_n(&clock_tsc_ready, 1, __ATOMIC_RELEASE);
        }
    }
#endif
    return now;
}
