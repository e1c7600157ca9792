// SPDX-License-Identifier: MIT
/* sandbox.c: the seccomp state and the cached process id (see sandbox.h). */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

int sandbox_filter_on;
static pid_t pid_cache;
static __thread pid_t tid_cache __attribute__((tls_model("initial-exec")));

/* The decimal value after "key" at the start of a line of text, or -1. */
static long status_field(const char *text, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, k)) continue;
        p += k;
        while (*p == ' ' || *p == '\t')
            p++;
        long v = 0;
        if (*p < '0' || *p > '9') return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            v = v * 10 + (*p - '0');
        return v;
    }
    return -1;
}

/* First of the shim's constructors (a lower priority runs earlier): the others
 * ask sandbox_filtered() and sandbox_pid(). */
__attribute__((constructor(101))) static void sandbox_load(void)
{
    int saved = errno;
    char buf[4096];
    size_t n = 0;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r;
        while (n < sizeof buf - 1 && (r = real_read(fd, buf + n, sizeof buf - 1 - n)) > 0)
            n += (size_t)r;
        real_close(fd);
    }
    buf[n] = 0;
    long seccomp = status_field(buf, "Seccomp:");
    long pid = status_field(buf, "Pid:");
    if (seccomp > 0) __atomic_store_n(&sandbox_filter_on, 1, __ATOMIC_RELAXED);
    /* No /proc (a chroot, a bare container): ask, unless a filter is known. */
    pid_cache = pid > 0 ? (pid_t)pid : (pid_t)syscall(SYS_getpid);
    tid_cache = pid_cache; /* constructors run on the main thread */
    errno = saved;
}

void sandbox_filter_installed(void)
{
    __atomic_store_n(&sandbox_filter_on, 1, __ATOMIC_RELAXED);
}

pid_t sandbox_pid(void)
{
    return __atomic_load_n(&pid_cache, __ATOMIC_RELAXED);
}

pid_t sandbox_tid(void)
{
    if (!tid_cache && !sandbox_filtered()) tid_cache = (pid_t)syscall(SYS_gettid);
    return tid_cache;
}

void sandbox_atfork_child(void)
{
    tid_cache = 0;
    pid_t pid = sandbox_filtered() ? 0 : (pid_t)syscall(SYS_getpid);
    __atomic_store_n(&pid_cache, pid, __ATOMIC_RELAXED);
    if (pid) tid_cache = pid; /* the child's one thread */
}
