// SPDX-License-Identifier: MIT
/* lifecycle.h: the process events records care about that are not socket
 * calls. exec replaces the image, so the summary of what the rate limit left
 * out is written first (and at _exit, which skips the destructor that
 * writes it otherwise); a user-id change (a daemon dropping root) may leave
 * the process unable to create its log file, so the file is opened before;
 * after chroot() the log's path names a place inside the jail, so it is
 * opened before and nothing is opened by path after; a seccomp filter may
 * refuse or punish any call the program does not make itself, so the log is
 * opened before it and the shim makes no extra call after it (sandbox.h). */
#ifndef RSTWATCH_LIFECYCLE_H
#define RSTWATCH_LIFECYCLE_H

#include <sys/types.h>

/* The exec family: writes the summary of what the rate limit left out (not in
 * a vfork child), then calls the real function; same return and errno. */
int lifecycle_execve(const char *path, char *const argv[], char *const envp[]);
int lifecycle_execv(const char *path, char *const argv[]);
int lifecycle_execvp(const char *file, char *const argv[]);
int lifecycle_execvpe(const char *file, char *const argv[], char *const envp[]);
int lifecycle_fexecve(int fd, char *const argv[], char *const envp[]);

/* The set*uid family: when root changes to another user, opens the log file
 * first (sink_before_uid_change), then calls the real function; same return
 * and errno. */
int lifecycle_setuid(uid_t uid);
int lifecycle_seteuid(uid_t euid);
int lifecycle_setreuid(uid_t ruid, uid_t euid);
int lifecycle_setresuid(uid_t ruid, uid_t euid, uid_t suid);

/* _exit and _Exit: writes the summary of what the rate limit left out (not in
 * a vfork child), then ends the process as the real _exit does. */
_Noreturn void lifecycle_exit(int status);

/* chroot(): opens the log destination first; after success nothing is
 * opened by path (sink_after_chroot). Same return and errno. */
int lifecycle_chroot(const char *path);

/* prctl(): for PR_SET_SECCOMP, opens the log destination first and, once the
 * filter is in, stops every extra system call (sandbox_filter_installed).
 * Same return and errno. */
int lifecycle_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4,
                    unsigned long a5);

/* libseccomp's seccomp_load(), the same way (a negative errno on failure, as
 * libseccomp returns; -ENOSYS when libseccomp is not loaded). */
int lifecycle_seccomp_load(void *ctx);

#endif
