// SPDX-License-Identifier: MIT
/* sandbox.h: is this process under a seccomp filter, and what the shim knows
 * about itself without asking the kernel.
 *
 * A filter allows the system calls its program makes and kills (SIGSYS) or
 * refuses (EPERM) the rest, so under one the shim makes no system call of its
 * own: no TCP_INFO, no identity check, no getsockname/getpeername, no
 * process_vm_readv, no getpid, no open. Records come from what the shim
 * already knows and go to a log fd opened before the filter went in
 * (docs/design.md "Under a seccomp filter, no extra calls"). A filter is
 * seen at load (Seccomp: in /proc/self/status, read by the shim's first
 * constructor with open/read/close, the calls the dynamic loader has just
 * made; a filter inherited across exec from a launcher or systemd) or when
 * the program installs one through prctl(PR_SET_SECCOMP) or libseccomp's
 * seccomp_load (lifecycle.c).
 *
 * The process id is kept here too: read at load (from the same status file)
 * and in a fork child, so records and the vfork check need no getpid. */
#ifndef RSTWATCH_SANDBOX_H
#define RSTWATCH_SANDBOX_H

#include <sys/types.h>

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

extern int sandbox_filter_on;

/* 1 once the process runs under a seccomp filter: make no extra system call. */
static inline int sandbox_filtered(void)
{
    return __atomic_load_n(&sandbox_filter_on, __ATOMIC_RELAXED);
}

/* A filter was just installed: from now on no extra calls. */
void sandbox_filter_installed(void);

/* This process's id, without a system call (0 if a filtered fork child could
 * not learn it). */
pid_t sandbox_pid(void);

/* This thread's id: one gettid per thread, none under a filter (then 0 for a
 * thread that had not asked before). */
pid_t sandbox_tid(void);

/* In a fork child: learn the new pid (one getpid, none under a filter). */
void sandbox_atfork_child(void);

#pragma GCC visibility pop

#endif
