// SPDX-License-Identifier: MIT
/* lifecycle.c: exec and set*uid (see lifecycle.h). The real functions are
 * resolved once at load with dlsym(RTLD_NEXT) (exec is async-signal-safe and
 * may run in a vfork child: it must not resolve anything itself); a missing
 * one falls back to the raw system call or fails with ENOSYS. */
#include "lifecycle.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sink.h"
#include "summary.h"

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execv)(const char *, char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);
static int (*real_setuid)(uid_t);
static int (*real_seteuid)(uid_t);
static int (*real_setreuid)(uid_t, uid_t);
static int (*real_setresuid)(uid_t, uid_t, uid_t);

/* dlsym(RTLD_NEXT), refusing our own definition (a double preload). */
static void *next(const char *name, void *ours)
{
    void *p = dlsym(RTLD_NEXT, name);
    return p == ours ? NULL : p;
}

__attribute__((constructor)) static void lifecycle_resolve(void)
{
    real_execve = next("execve", (void *)&execve);
    real_execv = next("execv", (void *)&execv);
    real_execvp = next("execvp", (void *)&execvp);
    real_execvpe = next("execvpe", (void *)&execvpe);
    real_fexecve = next("fexecve", (void *)&fexecve);
    real_setuid = next("setuid", (void *)&setuid);
    real_seteuid = next("seteuid", (void *)&seteuid);
    real_setreuid = next("setreuid", (void *)&setreuid);
    real_setresuid = next("setresuid", (void *)&setresuid);
}

static int nosys(void)
{
    errno = ENOSYS;
    return -1;
}

int lifecycle_execve(const char *path, char *const argv[], char *const envp[])
{
    summary_flush("exec");
    if (!real_execve) return (int)syscall(SYS_execve, path, argv, envp);
    return real_execve(path, argv, envp);
}

int lifecycle_execv(const char *path, char *const argv[])
{
    summary_flush("exec");
    return real_execv ? real_execv(path, argv) : nosys();
}

int lifecycle_execvp(const char *file, char *const argv[])
{
    summary_flush("exec");
    return real_execvp ? real_execvp(file, argv) : nosys();
}

int lifecycle_execvpe(const char *file, char *const argv[], char *const envp[])
{
    summary_flush("exec");
    return real_execvpe ? real_execvpe(file, argv, envp) : nosys();
}

int lifecycle_fexecve(int fd, char *const argv[], char *const envp[])
{
    summary_flush("exec");
    return real_fexecve ? real_fexecve(fd, argv, envp) : nosys();
}

/* Root is about to become someone else: open the log file while root still
 * may (the fd stays usable). An unchanged or unprivileged id needs nothing. */
static void before_uid_change(uid_t a, uid_t b, uid_t c)
{
    if (geteuid() != 0) return;
    uid_t keep = (uid_t)-1;
    if ((a == keep || a == 0) && (b == keep || b == 0) && (c == keep || c == 0)) return;
    sink_before_uid_change();
}

int lifecycle_setuid(uid_t uid)
{
    before_uid_change(uid, uid, uid);
    return real_setuid ? real_setuid(uid) : nosys();
}

int lifecycle_seteuid(uid_t euid)
{
    before_uid_change(euid, (uid_t)-1, (uid_t)-1);
    return real_seteuid ? real_seteuid(euid) : nosys();
}

int lifecycle_setreuid(uid_t ruid, uid_t euid)
{
    before_uid_change(ruid, euid, (uid_t)-1);
    return real_setreuid ? real_setreuid(ruid, euid) : nosys();
}

int lifecycle_setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    before_uid_change(ruid, euid, suid);
    return real_setresuid ? real_setresuid(ruid, euid, suid) : nosys();
}
