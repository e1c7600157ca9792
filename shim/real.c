/* real.c: the real socket API, resolved lazily with dlsym(RTLD_NEXT) at each
 * function's first call (so loading the shim costs no lookups at all), and the
 * raw-syscall stand-ins used when a lookup is impossible.
 *
 * A hook that runs while this thread is already inside dlsym() for us (dlsym
 * allocating, a constructor calling back) takes the syscall path for that call
 * instead of recursing: no init deadlock, whatever the host's constructors do.
 * A symbol libc lacks (closefrom on an old glibc) is looked up once and then
 * served by its syscall stand-in. */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Every fixed-signature member starts at its first-call resolver (defined at
 * the end of this file); the variadic ones start NULL and are tested. */
#define REAL_FALLBACK_PROTO(ret, name, params, args) ret real_fallback_##name params;
#define REAL_INIT(ret, name, params, args) .name = real_fallback_##name,
struct real_fns real = {REAL_FIXED_FUNCS(REAL_INIT)};
#undef REAL_INIT
#undef REAL_FALLBACK_PROTO

static __thread int resolving_here;

/* This object's own image, from the linker: [__ehdr_start, _end). Hidden, so
 * each reference binds to this object's symbols, never the program's. */
extern const char __ehdr_start __attribute__((visibility("hidden")));
extern const char _end __attribute__((visibility("hidden")));

/* dlsym(RTLD_NEXT), refusing a definition inside this very object (which
 * would call itself forever). Decided by address range, so no hook's address
 * is ever taken and no symbol table is searched. A second copy of the library
 * under another path is another object, and a fine "next". */
static void *next_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if ((const char *)p >= &__ehdr_start && (const char *)p < &_end) return NULL;
    return p;
}

/* Resolves one symbol into *slot: the next definition, or raw (the syscall
 * stand-in) when there is none, so a missing symbol is looked up only once.
 * Returns what is now in *slot, or NULL if this thread is already inside the
 * dynamic loader for us (then the caller uses raw for this one call). */
static void *resolve_one(void **slot, const char *name, void *raw)
{
    if (resolving_here) return NULL;
    resolving_here = 1;
    int saved = errno;
    void *p = next_symbol(name);
    errno = saved;
    resolving_here = 0;
    __atomic_store_n(slot, p ? p : raw, __ATOMIC_RELEASE);
    return p ? p : raw;
}

/* ---- raw-syscall stand-ins (same contract as the libc call: -1 and errno) ---- */

#define SIGSET_BYTES (_NSIG / 8)

static int raw_socket(int domain, int type, int proto)
{
    return (int)syscall(SYS_socket, domain, type, proto);
}
static int raw_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return (int)syscall(SYS_connect, fd, sa, len);
}
static int raw_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    return (int)syscall(SYS_bind, fd, sa, len);
}
static int raw_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return (int)syscall(SYS_accept4, fd, sa, len, 0);
}
static int raw_accept4(int fd, struct sockaddr *sa, socklen_t *len, int fl)
{
    return (int)syscall(SYS_accept4, fd, sa, len, fl);
}
static int raw_close(int fd)
{
    return (int)syscall(SYS_close, fd);
}
static int raw_shutdown(int fd, int how)
{
    return (int)syscall(SYS_shutdown, fd, how);
}
static ssize_t raw_send(int fd, const void *b, size_t n, int fl)
{
    return syscall(SYS_sendto, fd, b, n, fl, NULL, 0);
}
static ssize_t raw_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *sa,
                          socklen_t len)
{
    return syscall(SYS_sendto, fd, b, n, fl, sa, len);
}
static ssize_t raw_sendmsg(int fd, const struct msghdr *m, int fl)
{
    return syscall(SYS_sendmsg, fd, m, fl);
}
static int raw_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int fl)
{
    return (int)syscall(SYS_sendmmsg, fd, v, n, fl);
}
static ssize_t raw_recv(int fd, void *b, size_t n, int fl)
{
    return syscall(SYS_recvfrom, fd, b, n, fl, NULL, NULL);
}
static ssize_t raw_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *sa, socklen_t *len)
{
    return syscall(SYS_recvfrom, fd, b, n, fl, sa, len);
}
static ssize_t raw_recvmsg(int fd, struct msghdr *m, int fl)
{
    return syscall(SYS_recvmsg, fd, m, fl);
}
static int raw_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int fl, struct timespec *tmo)
{
    return (int)syscall(SYS_recvmmsg, fd, v, n, fl, tmo);
}
static ssize_t raw_read(int fd, void *b, size_t n)
{
    return syscall(SYS_read, fd, b, n);
}
static ssize_t raw_write(int fd, const void *b, size_t n)
{
    return syscall(SYS_write, fd, b, n);
}
static ssize_t raw_readv(int fd, const struct iovec *v, int n)
{
    return syscall(SYS_readv, fd, v, n);
}
static ssize_t raw_writev(int fd, const struct iovec *v, int n)
{
    return syscall(SYS_writev, fd, v, n);
}
static ssize_t raw___read_chk(int fd, void *b, size_t n, size_t bl)
{
    if (n > bl) __builtin_trap(); /* what __chk_fail would do, minus the message */
    return syscall(SYS_read, fd, b, n);
}
static ssize_t raw___recv_chk(int fd, void *b, size_t n, size_t bl, int fl)
{
    if (n > bl) __builtin_trap();
    return syscall(SYS_recvfrom, fd, b, n, fl, NULL, NULL);
}
static ssize_t raw___recvfrom_chk(int fd, void *b, size_t n, size_t bl, int fl, struct sockaddr *sa,
                                  socklen_t *len)
{
    if (n > bl) __builtin_trap();
    return syscall(SYS_recvfrom, fd, b, n, fl, sa, len);
}
static ssize_t raw_sendfile(int out, int in, off_t *off, size_t n)
{
    return syscall(SYS_sendfile, out, in, off, n);
}
static ssize_t raw_sendfile64(int out, int in, off_t *off, size_t n)
{
    return syscall(SYS_sendfile, out, in, off, n);
}
static int raw_dup(int fd)
{
    return (int)syscall(SYS_dup, fd);
}
static int raw_dup2(int fd, int nfd)
{
    if (fd == nfd) return (int)syscall(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : fd;
    return (int)syscall(SYS_dup3, fd, nfd, 0);
}
static int raw_dup3(int fd, int nfd, int fl)
{
    return (int)syscall(SYS_dup3, fd, nfd, fl);
}
static int raw_close_range(unsigned int lo, unsigned int hi, int fl)
{
    return (int)syscall(SYS_close_range, lo, hi, fl);
}
static void raw_closefrom(int lo)
{
    syscall(SYS_close_range, (unsigned)lo, ~0U, 0);
}
static int raw_getsockopt(int fd, int lv, int nm, void *v, socklen_t *len)
{
    return (int)syscall(SYS_getsockopt, fd, lv, nm, v, len);
}
static int raw_setsockopt(int fd, int lv, int nm, const void *v, socklen_t len)
{
    return (int)syscall(SYS_setsockopt, fd, lv, nm, v, len);
}
static int raw_poll(struct pollfd *p, nfds_t n, int tmo)
{
    struct timespec ts = {tmo / 1000, (long)(tmo % 1000) * 1000000L};
    return (int)syscall(SYS_ppoll, p, n, tmo < 0 ? NULL : &ts, NULL, SIGSET_BYTES);
}
static int raw_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *m)
{
    struct timespec ts, *tp = NULL;
    if (t) ts = *t, tp = &ts; /* the kernel writes the remaining time back */
    return (int)syscall(SYS_ppoll, p, n, tp, m, SIGSET_BYTES);
}
static int raw_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    return (int)syscall(SYS_epoll_ctl, ep, op, fd, ev);
}
static int raw_epoll_wait(int ep, struct epoll_event *ev, int n, int tmo)
{
    return (int)syscall(SYS_epoll_pwait, ep, ev, n, tmo, NULL, SIGSET_BYTES);
}
static int raw_epoll_pwait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m)
{
    return (int)syscall(SYS_epoll_pwait, ep, ev, n, tmo, m, SIGSET_BYTES);
}
static int raw_fcntl(int fd, int cmd, void *arg)
{
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}
static int raw_fcntl_va(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return raw_fcntl(fd, cmd, arg);
}
static int raw_ioctl(int fd, unsigned long req, void *arg)
{
    return (int)syscall(SYS_ioctl, fd, req, arg);
}
static ssize_t raw_splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t n,
                          unsigned int fl)
{
    return syscall(SYS_splice, in, off_in, out, off_out, n, fl);
}

/* stdio has no system call: glibc's _IO_ aliases of the same functions are not
 * interposed by us, so they are the stand-ins. */
extern FILE *_IO_fdopen(int fd, const char *mode);
extern int _IO_fclose(FILE *f);

static FILE *raw_fdopen(int fd, const char *mode)
{
    return _IO_fdopen(fd, mode);
}

static int raw_fclose(FILE *f)
{
    return _IO_fclose(f);
}

static int raw_ioctl_va(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return raw_ioctl(fd, req, arg);
}

/* ---- lazy resolution: the first call of each function looks it up ---------------- */

#define REAL_LAZY(ret, name, params, args)                                                         \
    ret real_fallback_##name params                                                                \
    {                                                                                              \
        void *fn_ = resolve_one((void **)&real.name, #name, (void *)&raw_##name);                  \
        return fn_ ? ((ret(*) params)fn_)args : raw_##name args;                                   \
    }
REAL_FIXED_FUNCS(REAL_LAZY)
#undef REAL_LAZY

void real_fallback_closefrom(int lo)
{
    void *p = resolve_one((void **)&real.closefrom, "closefrom", (void *)&raw_closefrom);
    if (p)
        ((void (*)(int))p)(lo);
    else
        raw_closefrom(lo);
}

int real_fallback_fcntl(int fd, int cmd, void *arg)
{
    void *p = resolve_one((void **)&real.fcntl, "fcntl", (void *)&raw_fcntl_va);
    return p ? ((int (*)(int, int, ...))p)(fd, cmd, arg) : raw_fcntl(fd, cmd, arg);
}

int real_fallback_fcntl64(int fd, int cmd, void *arg)
{
    void *p = resolve_one((void **)&real.fcntl64, "fcntl64", (void *)&raw_fcntl_va);
    return p ? ((int (*)(int, int, ...))p)(fd, cmd, arg) : raw_fcntl(fd, cmd, arg);
}

int real_fallback_ioctl(int fd, unsigned long req, void *arg)
{
    void *p = resolve_one((void **)&real.ioctl, "ioctl", (void *)&raw_ioctl_va);
    return p ? ((int (*)(int, unsigned long, ...))p)(fd, req, arg) : raw_ioctl(fd, req, arg);
}
