// SPDX-License-Identifier: MIT
/* real.h: the real libc functions behind every hook.
 *
 * Each pointer starts at a first-call resolver that looks the function up
 * with dlsym(RTLD_NEXT) and replaces itself. While a thread is inside that
 * lookup, or if a symbol is missing, the call falls back to the raw system
 * call (for stdio's fdopen/fclose: glibc's own _IO_ aliases), so a host whose
 * own constructors already use sockets can never deadlock in us.
 * Nothing in the shim may call an intercepted function except through here. */
#ifndef RSTWATCH_REAL_H
#define RSTWATCH_REAL_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

/* X(return type, name, (parameters), (arguments)) for every function we hook
 * whose signature is fixed; the variadic ones (fcntl, ioctl) are listed apart. */
#define REAL_FIXED_FUNCS(X)                                                                        \
    X(int, socket, (int domain, int type, int proto), (domain, type, proto))                       \
    X(int, connect, (int fd, const struct sockaddr *sa, socklen_t len), (fd, sa, len))             \
    X(int, bind, (int fd, const struct sockaddr *sa, socklen_t len), (fd, sa, len))                \
    X(int, accept, (int fd, struct sockaddr *sa, socklen_t *len), (fd, sa, len))                   \
    X(int, accept4, (int fd, struct sockaddr *sa, socklen_t *len, int fl), (fd, sa, len, fl))      \
    X(int, close, (int fd), (fd))                                                                  \
    X(int, shutdown, (int fd, int how), (fd, how))                                                 \
    X(ssize_t, send, (int fd, const void *b, size_t n, int fl), (fd, b, n, fl))                    \
    X(ssize_t, sendto,                                                                             \
      (int fd, const void *b, size_t n, int fl, const struct sockaddr *sa, socklen_t len),         \
      (fd, b, n, fl, sa, len))                                                                     \
    X(ssize_t, sendmsg, (int fd, const struct msghdr *m, int fl), (fd, m, fl))                     \
    X(int, sendmmsg, (int fd, struct mmsghdr *v, unsigned int n, int fl), (fd, v, n, fl))          \
    X(ssize_t, recv, (int fd, void *b, size_t n, int fl), (fd, b, n, fl))                          \
    X(ssize_t, recvfrom, (int fd, void *b, size_t n, int fl, struct sockaddr *sa, socklen_t *len), \
      (fd, b, n, fl, sa, len))                                                                     \
    X(ssize_t, recvmsg, (int fd, struct msghdr *m, int fl), (fd, m, fl))                           \
    X(int, recvmmsg, (int fd, struct mmsghdr *v, unsigned int n, int fl, struct timespec *tmo),    \
      (fd, v, n, fl, tmo))                                                                         \
    X(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))                                      \
    X(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))                               \
    X(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))                          \
    X(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))                         \
    X(ssize_t, __read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl))                 \
    X(ssize_t, __recv_chk, (int fd, void *b, size_t n, size_t bl, int fl), (fd, b, n, bl, fl))     \
    X(ssize_t, __recvfrom_chk,                                                                     \
      (int fd, void *b, size_t n, size_t bl, int fl, struct sockaddr *sa, socklen_t *len),         \
      (fd, b, n, bl, fl, sa, len))                                                                 \
    X(ssize_t, sendfile, (int out, int in, off_t *off, size_t n), (out, in, off, n))               \
    X(ssize_t, sendfile64, (int out, int in, off_t *off, size_t n), (out, in, off, n))             \
    X(int, dup, (int fd), (fd))                                                                    \
    X(int, dup2, (int fd, int nfd), (fd, nfd))                                                     \
    X(int, dup3, (int fd, int nfd, int fl), (fd, nfd, fl))                                         \
    X(int, close_range, (unsigned int lo, unsigned int hi, int fl), (lo, hi, fl))                  \
    X(int, getsockopt, (int fd, int lv, int nm, void *v, socklen_t *len), (fd, lv, nm, v, len))    \
    X(int, setsockopt, (int fd, int lv, int nm, const void *v, socklen_t len),                     \
      (fd, lv, nm, v, len))                                                                        \
    X(int, poll, (struct pollfd * p, nfds_t n, int tmo), (p, n, tmo))                              \
    X(int, ppoll, (struct pollfd * p, nfds_t n, const struct timespec *t, const sigset_t *m),      \
      (p, n, t, m))                                                                                \
    X(int, epoll_ctl, (int ep, int op, int fd, struct epoll_event *ev), (ep, op, fd, ev))          \
    X(int, epoll_wait, (int ep, struct epoll_event *ev, int n, int tmo), (ep, ev, n, tmo))         \
    X(int, epoll_pwait, (int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m),       \
      (ep, ev, n, tmo, m))                                                                         \
    X(ssize_t, splice,                                                                             \
      (int in, loff_t *off_in, int out, loff_t *off_out, size_t n, unsigned int fl),               \
      (in, off_in, out, off_out, n, fl))                                                           \
    X(FILE *, fdopen, (int fd, const char *mode), (fd, mode))                                      \
    X(int, fclose, (FILE * f), (f))

struct real_fns {
#define REAL_MEMBER(ret, name, params, args) ret(*name) params;
    REAL_FIXED_FUNCS(REAL_MEMBER)
#undef REAL_MEMBER
    void (*closefrom)(int lo);
    int (*fcntl)(int fd, int cmd, ...);
    int (*fcntl64)(int fd, int cmd, ...);
    int (*ioctl)(int fd, unsigned long req, ...);
};

/* The table: each member starts at its first-call resolver (real_fallback_*),
 * which replaces itself with the libc function; so a call is one indirect jump. */
extern struct real_fns real;

/* First-call resolvers: look the function up, store it in real, and call it
 * (or its raw-syscall stand-in while that is impossible). */
#define REAL_FALLBACK_DECL(ret, name, params, args) ret real_fallback_##name params;
REAL_FIXED_FUNCS(REAL_FALLBACK_DECL)
#undef REAL_FALLBACK_DECL
void real_fallback_closefrom(int lo);
int real_fallback_fcntl(int fd, int cmd, void *arg);
int real_fallback_fcntl64(int fd, int cmd, void *arg);
int real_fallback_ioctl(int fd, unsigned long req, void *arg);

/* A member of the table, read while another thread may be resolving it. Only the pointer is
 * published, and an aligned pointer load is single-copy atomic on every target the shim
 * builds for, so a plain load is what the hot path uses: the relaxed atomic load costs the
 * tracked I/O path about 2 instructions per call, because GCC schedules around it. Under
 * ThreadSanitizer (make tsan-build) it is the atomic load, so that TSan checks everything else
 * without reporting this one benign, intended race. */
#if defined(__SANITIZE_THREAD__)
#define REAL_LOAD(name) __atomic_load_n(&real.name, __ATOMIC_RELAXED)
#else
#define REAL_LOAD(name) (real.name)
#endif

/* real_NAME(...): call the real function: one indirect jump. */
#define REAL_CALLER(ret, name, params, args)                                                       \
    static inline ret real_##name params                                                           \
    {                                                                                              \
        return REAL_LOAD(name) args;                                                               \
    }
REAL_FIXED_FUNCS(REAL_CALLER)
#undef REAL_CALLER

static inline void real_closefrom(int lo)
{
    void (*f)(int) = REAL_LOAD(closefrom);
    if (__builtin_expect(f != NULL, 1))
        f(lo);
    else
        real_fallback_closefrom(lo);
}

static inline int real_fcntl(int fd, int cmd, void *arg)
{
    int (*f)(int, int, ...) = REAL_LOAD(fcntl);
    if (__builtin_expect(f != NULL, 1)) return f(fd, cmd, arg);
    return real_fallback_fcntl(fd, cmd, arg);
}

static inline int real_fcntl64(int fd, int cmd, void *arg)
{
    int (*f)(int, int, ...) = REAL_LOAD(fcntl64);
    if (__builtin_expect(f != NULL, 1)) return f(fd, cmd, arg);
    return real_fallback_fcntl64(fd, cmd, arg);
}

static inline int real_ioctl(int fd, unsigned long req, void *arg)
{
    int (*f)(int, unsigned long, ...) = REAL_LOAD(ioctl);
    if (__builtin_expect(f != NULL, 1)) return f(fd, req, arg);
    return real_fallback_ioctl(fd, req, arg);
}

#pragma GCC visibility pop

#endif
