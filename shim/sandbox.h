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
 * and in a fork child, so records need no getpid.
 *
 * And which process this is. A fork child runs the fork handlers, but a
 * child made by a raw clone() without CLONE_VM (vsftpd's per-connection
 * clone(CLONE_NEWIPC) and clone(CLONE_NEWNET), a syscall(SYS_fork)) runs
 * none, and with CLONE_NEWPID its getpid() is 1: it must not be taken for a vfork
 * child (which shares its parent's memory, so its closes must not touch the
 * fd table), nor keep its parent's pid, log file and spent rate limit. A
 * page marked MADV_WIPEONFORK at load tells them apart with one load and no
 * system call: any child with memory of its own finds it zeroed, a vfork
 * child finds its parent's mark. */
#ifndef RSTWATCH_SANDBOX_H
#define RSTWATCH_SANDBOX_H

#include <sys/types.h>

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

extern int sandbox_filter_on;
/* MSG_NOSIGNAL, or 0 once a filter is on: the flag the send family's hooks
 * add (one load on the hot path, no test). */
extern int sandbox_nosignal;

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

/* The fork mark (NULL when MADV_WIPEONFORK is refused, or under a filter at
 * load): nonzero in the process that set it and in the vfork children that
 * share its memory; zero in a child with memory of its own until it is
 * adopted (sandbox_atfork_child, sandbox_adopt_fork). */
extern unsigned char *sandbox_fork_mark;

/* A child with memory of its own that ran no fork handler: do what they do
 * (learn the pid, as sandbox_atfork_child; then the function registered with
 * sandbox_on_unseen_fork, once). */
void sandbox_adopt_fork(void);

/* Where the shim acts for "this process" (a close it forgets, a record, the
 * summary, opening the log): one load, and the fork handlers' work in a
 * child that ran none. Async-signal-safe. */
static inline void sandbox_check_fork(void)
{
    unsigned char *m = sandbox_fork_mark;
    if (__builtin_expect(m && !__atomic_load_n(m, __ATOMIC_RELAXED), 0)) sandbox_adopt_fork();
}

/* Called once by init: the rest of the fork handlers' child work, for a
 * child the fork handlers never saw. */
void sandbox_on_unseen_fork(void (*fn)(void));

/* 1 in a vfork()/posix_spawn()/CLONE_VM child, which runs on its parent's
 * memory until it execs (sandbox_check_fork first, then one getpid; none
 * under a filter, where a vfork child is taken for its parent). */
int sandbox_vfork_child(void);

#pragma GCC visibility pop

#endif
