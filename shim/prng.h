/* prng.h: xorshift64* (Vigna, "An experimental exploration of Marsaglia's
 * xorshift generators"), the one pseudo-random step the shim uses for retry
 * jitter and for fault-injection coins. Lock-free: threads racing on one
 * state only mix it more; a seeded state gives a reproducible sequence. */
#ifndef RSTWATCH_PRNG_H
#define RSTWATCH_PRNG_H

#include <stdatomic.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* The next 64-bit value from *state (which must not be 0). */
static inline uint64_t prng_next(_Atomic uint64_t *state)
{
    uint64_t x = atomic_load_explicit(state, memory_order_relaxed);
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    atomic_store_explicit(state, x, memory_order_relaxed);
    return x * 0x2545f4914f6cdd1dull;
}

#pragma GCC visibility pop

#endif
