// SPDX-License-Identifier: MIT
/* inject.h: fault injection (RSTWATCH_INJECT): make resets, refusals and
 * delays happen on purpose inside any program, deterministically with seed=. */
#ifndef RSTWATCH_INJECT_H
#define RSTWATCH_INJECT_H

#include <sys/socket.h>

#include "conn_table.h"

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

/* Parses the RSTWATCH_INJECT value spec (one warning and no injection if
 * malformed). */
void inject_init(const char *spec);

/* One connect attempt on fd for c: refused (-ECONNREFUSED, with an inject
 * record, no SYN sent) when a refuse rule fires, else the real connect().
 * 0 or -errno. */
int inject_connect_attempt(int fd, struct conn *c, const struct sockaddr *sa, socklen_t len);

/* Nonzero when RSTWATCH_INJECT is set: the hot path tests only this. */
extern int inject_enabled;

/* Before an I/O call on c: returns 0 to proceed, or -errno the call must
 * fail with (the connection has really been aborted), after any delay. */
int inject_before_io(int fd, struct conn *c, int out);

static inline int inject_io(int fd, struct conn *c, int out)
{
    return __builtin_expect(inject_enabled, 0) ? inject_before_io(fd, c, out) : 0;
}

#pragma GCC visibility pop

#endif
