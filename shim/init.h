// SPDX-License-Identifier: MIT
/* init.h: loading and unloading the shim (the top of the logic layer; only
 * hooks.c's constructor and destructor call these). */
#ifndef RSTWATCH_INIT_H
#define RSTWATCH_INIT_H

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

/* Reads the options, then sets up the sink, the fd table, retry and fault
 * injection, and the fork handlers; inert when RSTWATCH is disabled or the
 * program is set-uid/set-gid (AT_SECURE: no environment is trusted). */
void shim_init(void);

/* At exit: with RSTWATCH_RECORD=all, ends (and records) the connections
 * whose fd was closed where no hook could see it. */
void shim_fini(void);

#pragma GCC visibility pop

#endif
