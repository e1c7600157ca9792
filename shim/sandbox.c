// SPDX-License-Identifier: MIT
/* sandbox.c: the seccomp state, the cached process id and the fork mark
 * (see sandbox.h). */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18 /* Linux 4.14 */
#endif
#define MARK_BYTES 4096

int sandbox_filter_on;
int sandbox_nosignal = MSG_NOSIGNAL;
unsigned char *sandbox_fork_mark;
static pid_t pid_cache;   /* for records and %p: the pid /proc names */
static pid_t self_pid;    /* what getpid() returns here, for the vfork test */
static unsigned fork_gen; /* +1 at each fork child: thread ids cached before are stale */
static __thread pid_t tid_cache __attribute__((tls_model("initial-exec")));
static __thread unsigned tid_gen __attribute__((tls_model("initial-exec")));
static void (*on_unseen_fork)(void);

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

/* The last decimal value on the line that starts with key, or -1: NSpid's
 * last is the pid in the process's own PID namespace, which getpid() returns. */
static long status_last(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p || (p != text && p[-1] != '\n')) return -1;
    long v = -1;
    for (p += strlen(key); *p && *p != '\n'; p++) {
        if (*p < '0' || *p > '9') continue;
        v = 0;
        for (; *p >= '0' && *p <= '9'; p++)
            v = v * 10 + (*p - '0');
        p--;
    }
    return v;
}

/* A page that a child with memory of its own (fork, or clone without
 * CLONE_VM, whether or not fork handlers ran) gets zeroed, while a vfork or
 * CLONE_VM child sees this process's byte: the memory it shares. */
static void fork_mark_setup(void)
{
    void *p = mmap(NULL, MARK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    if (madvise(p, MARK_BYTES, MADV_WIPEONFORK) != 0) { /* before Linux 4.14 */
        munmap(p, MARK_BYTES);
        return;
    }
    *(unsigned char *)p = 1;
    sandbox_fork_mark = p;
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
    long own = status_last(buf, "NSpid:");
    if (seccomp > 0) sandbox_filter_installed();
    /* No /proc (a chroot, a bare container): ask, unless a filter is known. */
    pid_cache = pid > 0 ? (pid_t)pid : (pid_t)syscall(SYS_getpid);
    /* Started inside a PID namespace with the host's /proc: getpid() is not
     * the Pid: line's. */
    self_pid = own > 0 ? (pid_t)own : pid_cache;
    tid_cache = pid_cache;               /* constructors run on the main thread */
    if (seccomp <= 0) fork_mark_setup(); /* madvise is not the loader's, nor every filter's */
    errno = saved;
}

void sandbox_filter_installed(void)
{
    __atomic_store_n(&sandbox_nosignal, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sandbox_filter_on, 1, __ATOMIC_RELAXED);
}

pid_t sandbox_pid(void)
{
    return __atomic_load_n(&pid_cache, __ATOMIC_RELAXED);
}

pid_t sandbox_tid(void)
{
    unsigned gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
    if (tid_gen != gen) tid_cache = 0, tid_gen = gen; /* cached in the parent */
    if (!tid_cache && !sandbox_filtered()) tid_cache = (pid_t)syscall(SYS_gettid);
    return tid_cache;
}

/* The child's pid, as sandbox_atfork_child and an unseen fork learn it. */
static pid_t learn_pid(void)
{
    if (sandbox_fork_mark) __atomic_store_n(sandbox_fork_mark, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&fork_gen, 1, __ATOMIC_RELAXED);
    pid_t pid = sandbox_filtered() ? 0 : (pid_t)syscall(SYS_getpid);
    __atomic_store_n(&pid_cache, pid, __ATOMIC_RELAXED);
    __atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
    return pid;
}

void sandbox_atfork_child(void)
{
    pid_t pid = learn_pid();
    tid_gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
    tid_cache = pid; /* the child's one thread (0 under a filter: unknown) */
}

void sandbox_on_unseen_fork(void (*fn)(void))
{
    on_unseen_fork = fn;
}

void sandbox_adopt_fork(void)
{
    unsigned char zero = 0;
    /* One thread adopts; a child's later threads find the mark set again. */
    if (!__atomic_compare_exchange_n(sandbox_fork_mark, &zero, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return;
    learn_pid();
    if (on_unseen_fork) on_unseen_fork();
}

int sandbox_vfork_child(void)
{
    sandbox_check_fork();
    /* Under a filter no getpid: a vfork child is taken for its parent. */
    return !sandbox_filtered() &&
           (pid_t)syscall(SYS_getpid) != __atomic_load_n(&self_pid, __ATOMIC_RELAXED);
}
