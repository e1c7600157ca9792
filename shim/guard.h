// SPDX-License-Identifier: MIT
/* guard.h: the thread-local reentrancy guard.
 *
 * Set while the shim does anything that takes a lock or calls into libc
 * (allocating a connection, writing a record). A hook that finds it set (a
 * signal handler doing socket I/O, libc calling back into a hooked function)
 * passes straight through to the real call: never recursion, never a
 * self-deadlock. Initial-exec TLS: one load from %fs, no call. */
#ifndef RSTWATCH_GUARD_H
#define RSTWATCH_GUARD_H

#include <stdatomic.h>

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

extern __thread unsigned guard_depth;

static inline int guard_active(void)
{
    return guard_depth != 0;
}

static inline void guard_enter(void)
{
    guard_depth++;
    atomic_signal_fence(memory_order_seq_cst); /* a handler sees it before the work starts */
}

static inline void guard_leave(void)
{
    atomic_signal_fence(memory_order_seq_cst);
    guard_depth--;
}

#pragma GCC visibility pop

#endif
