/* real.c: resolve the real socket API with dlsym(RTLD_NEXT), once, without
 * ever blocking; and the raw-syscall stand-ins used until that is done.
 *
 * The resolver never waits for another thread: a hook that runs while some
 * thread is resolving (possibly one holding the dynamic loader's lock, as a
 * library constructor does) takes the syscall path instead. That is what makes
 * a host whose constructors open sockets safe from an init deadlock. */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct real_fns real;

enum { RESOLVE_NONE, RESOLVE_BUSY, RESOLVE_DONE };
static atomic_int resolve_state;
static __thread int resolving_here;

/* dlsym(RTLD_NEXT), refusing our own definition (a double preload). */
static void *next_symbol(const char *name, void *ours)
{
    void *p = dlsym(RTLD_NEXT, name);
    return p == ours ? NULL : p;
}

void real_resolve(void)
{
    if (atomic_load_explicit(&resolve_state, memory_order_acquire) == RESOLVE_DONE) return;
    if (resolving_here) return;
    int expected = RESOLVE_NONE;
    if (!atomic_compare_exchange_strong(&resolve_state, &expected, RESOLVE_BUSY)) return;
    resolving_here = 1;
    int saved = errno;
#define REAL_RESOLVE(ret, name, params, args)                                                      \
    {                                                                                              \
        extern ret name params;                                                                    \
        void *p = next_symbol(#name, (void *)&name);                                               \
        __atomic_store_n((void **)&real.name, p, __ATOMIC_RELEASE);                                \
    }
    REAL_FIXED_FUNCS(REAL_RESOLVE)
#undef REAL_RESOLVE
    extern void closefrom(int);
    extern int fcntl(int, int, ...);
    extern int fcntl64(int, int, ...);
    extern int ioctl(int, unsigned long, ...);
    __atomic_store_n((void **)&real.closefrom, next_symbol("closefrom", (void *)&closefrom),
                     __ATOMIC_RELEASE);
    __atomic_store_n((void **)&real.fcntl, next_symbol("fcntl", (void *)&fcntl), __ATOMIC_RELEASE);
    __atomic_store_n((void **)&real.fcntl64, next_symbol("fcntl64", (void *)&fcntl64),
                     __ATOMIC_RELEASE);
    __atomic_store_n((void **)&real.ioctl, next_symbol("ioctl", (void *)&ioctl), __ATOMIC_RELEASE);
    errno = saved;
    resolving_here = 0;
    atomic_store_explicit(&resolve_state, RESOLVE_DONE, memory_order_release);
}

/* ---- raw-syscall stand-ins (same contract as the libc call: -1 and errno) ---- */

#define SIGSET_BYTES (_NSIG / 8)

int real_fallback_socket(int domain, int type, int proto)
{
    return (int)syscall(SYS_socket, domain, type, proto);
}
int real_fallback_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return (int)syscall(SYS_connect, fd, sa, len);
}
int real_fallback_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    return (int)syscall(SYS_bind, fd, sa, len);
}
int real_fallback_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return (int)syscall(SYS_accept4, fd, sa, len, 0);
}
int real_fallback_accept4(int fd, struct sockaddr *sa, socklen_t *len, int fl)
{
    return (int)syscall(SYS_accept4, fd, sa, len, fl);
}
int real_fallback_close(int fd)
{
    return (int)syscall(SYS_close, fd);
}
int real_fallback_shutdown(int fd, int how)
{
    return (int)syscall(SYS_shutdown, fd, how);
}
ssize_t real_fallback_send(int fd, const void *b, size_t n, int fl)
{
    return syscall(SYS_sendto, fd, b, n, fl, NULL, 0);
}
ssize_t real_fallback_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *sa,
                             socklen_t len)
{
    return syscall(SYS_sendto, fd, b, n, fl, sa, len);
}
ssize_t real_fallback_sendmsg(int fd, const struct msghdr *m, int fl)
{
    return syscall(SYS_sendmsg, fd, m, fl);
}
int real_fallback_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int fl)
{
    return (int)syscall(SYS_sendmmsg, fd, v, n, fl);
}
ssize_t real_fallback_recv(int fd, void *b, size_t n, int fl)
{
    return syscall(SYS_recvfrom, fd, b, n, fl, NULL, NULL);
}
ssize_t real_fallback_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *sa,
                               socklen_t *len)
{
    return syscall(SYS_recvfrom, fd, b, n, fl, sa, len);
}
ssize_t real_fallback_recvmsg(int fd, struct msghdr *m, int fl)
{
    return syscall(SYS_recvmsg, fd, m, fl);
}
int real_fallback_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int fl, struct timespec *tmo)
{
    return (int)syscall(SYS_recvmmsg, fd, v, n, fl, tmo);
}
ssize_t real_fallback_read(int fd, void *b, size_t n)
{
    return syscall(SYS_read, fd, b, n);
}
ssize_t real_fallback_write(int fd, const void *b, size_t n)
{
    return syscall(SYS_write, fd, b, n);
}
ssize_t real_fallback_readv(int fd, const struct iovec *v, int n)
{
    return syscall(SYS_readv, fd, v, n);
}
ssize_t real_fallback_writev(int fd, const struct iovec *v, int n)
{
    return syscall(SYS_writev, fd, v, n);
}
ssize_t real_fallback___read_chk(int fd, void *b, size_t n, size_t bl)
{
    if (n > bl) __builtin_trap(); /* what __chk_fail would do, minus the message */
    return syscall(SYS_read, fd, b, n);
}
ssize_t real_fallback___recv_chk(int fd, void *b, size_t n, size_t bl, int fl)
{
    if (n > bl) __builtin_trap();
    return syscall(SYS_recvfrom, fd, b, n, fl, NULL, NULL);
}
ssize_t real_fallback___recvfrom_chk(int fd, void *b, size_t n, size_t bl, int fl,
                                     struct sockaddr *sa, socklen_t *len)
{
    if (n > bl) __builtin_trap();
    return syscall(SYS_recvfrom, fd, b, n, fl, sa, len);
}
ssize_t real_fallback_sendfile(int out, int in, off_t *off, size_t n)
{
    return syscall(SYS_sendfile, out, in, off, n);
}
ssize_t real_fallback_sendfile64(int out, int in, off_t *off, size_t n)
{
    return syscall(SYS_sendfile, out, in, off, n);
}
int real_fallback_dup(int fd)
{
    return (int)syscall(SYS_dup, fd);
}
int real_fallback_dup2(int fd, int nfd)
{
    if (fd == nfd) return (int)syscall(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : fd;
    return (int)syscall(SYS_dup3, fd, nfd, 0);
}
int real_fallback_dup3(int fd, int nfd, int fl)
{
    return (int)syscall(SYS_dup3, fd, nfd, fl);
}
int real_fallback_close_range(unsigned int lo, unsigned int hi, int fl)
{
    return (int)syscall(SYS_close_range, lo, hi, fl);
}
void real_fallback_closefrom(int lo)
{
    syscall(SYS_close_range, (unsigned)lo, ~0U, 0);
}
int real_fallback_getsockopt(int fd, int lv, int nm, void *v, socklen_t *len)
{
    return (int)syscall(SYS_getsockopt, fd, lv, nm, v, len);
}
int real_fallback_setsockopt(int fd, int lv, int nm, const void *v, socklen_t len)
{
    return (int)syscall(SYS_setsockopt, fd, lv, nm, v, len);
}
int real_fallback_poll(struct pollfd *p, nfds_t n, int tmo)
{
    struct timespec ts = {tmo / 1000, (long)(tmo % 1000) * 1000000L};
    return (int)syscall(SYS_ppoll, p, n, tmo < 0 ? NULL : &ts, NULL, SIGSET_BYTES);
}
int real_fallback_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *m)
{
    struct timespec ts, *tp = NULL;
    if (t) ts = *t, tp = &ts; /* the kernel writes the remaining time back */
    return (int)syscall(SYS_ppoll, p, n, tp, m, SIGSET_BYTES);
}
int real_fallback_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    return (int)syscall(SYS_epoll_ctl, ep, op, fd, ev);
}
int real_fallback_epoll_wait(int ep, struct epoll_event *ev, int n, int tmo)
{
    return (int)syscall(SYS_epoll_pwait, ep, ev, n, tmo, NULL, SIGSET_BYTES);
}
int real_fallback_epoll_pwait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m)
{
    return (int)syscall(SYS_epoll_pwait, ep, ev, n, tmo, m, SIGSET_BYTES);
}
int real_fallback_fcntl(int fd, int cmd, void *arg)
{
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}
int real_fallback_ioctl(int fd, unsigned long req, void *arg)
{
    return (int)syscall(SYS_ioctl, fd, req, arg);
}
