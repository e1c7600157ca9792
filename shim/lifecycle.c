// SPDX-License-Identifier: MIT
/* lifecycle.c: exec, set*uid, chroot and seccomp filters (see lifecycle.h).
 * The real functions are resolved on first use with dlsym(RTLD_NEXT); a
 * missing one falls back to the raw system call (execve, chroot, prctl) or
 * fails with ENOSYS. */
#include "lifecycle.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "sink.h"
#include "summary.h"

/* This object's own image, from the linker (hidden: binds here, no GOT). */
extern const char __ehdr_start __attribute__((visibility("hidden")));
extern const char _end __attribute__((visibility("hidden")));

/* dlsym(RTLD_NEXT) once, refusing a definition inside this object (a double
 * preload would call itself forever); decided by address range, so no hook's
 * address is taken (that would cost a GOT relocation per hook at load).
 * Lazy: resolving nine symbols at load would cost every program that never
 * calls them; exec and set*uid are rare, and their first call pays. */
static void *next(void *_Atomic *slot, const char *name)
{
    void *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p) return p;
    p = dlsym(RTLD_NEXT, name);
    if ((const char *)p >= &__ehdr_start && (const char *)p < &_end) p = NULL;
    if (p) atomic_store_explicit(slot, p, memory_order_release);
    return p;
}

#define REAL(type, name, ...)                                                                      \
    static type (*real_##name(void))(__VA_ARGS__)                                                  \
    {                                                                                              \
        static void *_Atomic slot;                                                                 \
        return (type(*)(__VA_ARGS__))next(&slot, #name);                                           \
    }
REAL(int, execve, const char *, char *const[], char *const[])
REAL(int, execv, const char *, char *const[])
REAL(int, execvp, const char *, char *const[])
REAL(int, execvpe, const char *, char *const[], char *const[])
REAL(int, fexecve, int, char *const[], char *const[])
REAL(int, setuid, uid_t)
REAL(int, seteuid, uid_t)
REAL(int, setreuid, uid_t, uid_t)
REAL(int, setresuid, uid_t, uid_t, uid_t)
REAL(void, _exit, int)
REAL(int, chroot, const char *)
REAL(int, prctl, int, unsigned long, unsigned long, unsigned long, unsigned long)
REAL(int, seccomp_load, void *)

static int nosys(void)
{
    errno = ENOSYS;
    return -1;
}

int lifecycle_execve(const char *path, char *const argv[], char *const envp[])
{
    summary_flush("exec");
    int (*f)(const char *, char *const[], char *const[]) = real_execve();
    if (!f) return (int)syscall(SYS_execve, path, argv, envp);
    return f(path, argv, envp);
}

int lifecycle_execv(const char *path, char *const argv[])
{
    summary_flush("exec");
    __typeof__(real_execv()) f = real_execv();
    return f ? f(path, argv) : nosys();
}

int lifecycle_execvp(const char *file, char *const argv[])
{
    summary_flush("exec");
    __typeof__(real_execvp()) f = real_execvp();
    return f ? f(file, argv) : nosys();
}

int lifecycle_execvpe(const char *file, char *const argv[], char *const envp[])
{
    summary_flush("exec");
    __typeof__(real_execvpe()) f = real_execvpe();
    return f ? f(file, argv, envp) : nosys();
}

int lifecycle_fexecve(int fd, char *const argv[], char *const envp[])
{
    summary_flush("exec");
    __typeof__(real_fexecve()) f = real_fexecve();
    return f ? f(fd, argv, envp) : nosys();
}

/* Root is about to become someone else: open the log file while root still
 * may (the fd stays usable). An unchanged or unprivileged id needs nothing. */
static void before_uid_change(uid_t a, uid_t b, uid_t c)
{
    if (geteuid() != 0) return;
    uid_t keep = (uid_t)-1;
    if ((a == keep || a == 0) && (b == keep || b == 0) && (c == keep || c == 0)) return;
    sandbox_check_fork(); /* a raw clone child opens its own file, as a fork child */
    sink_before_uid_change();
}

int lifecycle_setuid(uid_t uid)
{
    before_uid_change(uid, uid, uid);
    __typeof__(real_setuid()) f = real_setuid();
    return f ? f(uid) : nosys();
}

int lifecycle_seteuid(uid_t euid)
{
    before_uid_change(euid, (uid_t)-1, (uid_t)-1);
    __typeof__(real_seteuid()) f = real_seteuid();
    return f ? f(euid) : nosys();
}

int lifecycle_setreuid(uid_t ruid, uid_t euid)
{
    before_uid_change(ruid, euid, (uid_t)-1);
    __typeof__(real_setreuid()) f = real_setreuid();
    return f ? f(ruid, euid) : nosys();
}

int lifecycle_setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    before_uid_change(ruid, euid, suid);
    __typeof__(real_setresuid()) f = real_setresuid();
    return f ? f(ruid, euid, suid) : nosys();
}

/* _exit skips atexit handlers and destructors, where the summary is written
 * at a normal exit: a fork child that ends this way (a forking server's
 * connection handler) would lose the counts of what its rate limit left out.
 * summary_flush is async-signal-safe, as _exit is. */
void lifecycle_exit(int status)
{
    summary_flush("exit");
    __typeof__(real__exit()) f = real__exit();
    if (f) f(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

int lifecycle_chroot(const char *path)
{
    sandbox_check_fork();
    sink_before_chroot();
    __typeof__(real_chroot()) f = real_chroot();
    int r = f ? f(path) : (int)syscall(SYS_chroot, path);
    if (r == 0) {
        int saved = errno;
        sink_after_chroot();
        errno = saved;
    }
    return r;
}

int lifecycle_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4,
                    unsigned long a5)
{
    /* PR_SET_NO_NEW_PRIVS is the sign of a filter to come: an unprivileged
     * process must set it before seccomp(2) lets it install one, and programs
     * that install theirs with a raw syscall(SYS_seccomp) (Chromium's
     * sandbox, with TSYNC for every thread) still set it through prctl(). So
     * from then on the shim makes no extra calls, as under a filter. */
    int filter = option == PR_SET_SECCOMP || (option == PR_SET_NO_NEW_PRIVS && a2 == 1);
    if (filter) sandbox_check_fork(), sink_before_filter();
    __typeof__(real_prctl()) f = real_prctl();
    int r = f ? f(option, a2, a3, a4, a5) : (int)syscall(SYS_prctl, option, a2, a3, a4, a5);
    if (filter && r == 0) sandbox_filter_installed();
    return r;
}

int lifecycle_seccomp_load(void *ctx)
{
    __typeof__(real_seccomp_load()) f = real_seccomp_load();
    if (!f) return -ENOSYS; /* libseccomp's convention: a negative errno */
    sandbox_check_fork();
    sink_before_filter();
    int r = f(ctx);
    if (r == 0) sandbox_filter_installed();
    return r;
}
