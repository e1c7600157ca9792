// SPDX-License-Identifier: MIT
/* hooks.c: the exported symbols, and nothing else. Each hook forwards to the
 * logic layer (watch.h: io.c and sockets.c; lifecycle.c for exec and uid
 * changes); the I/O hooks first make the one-load "is this fd tracked" test
 * inline. The list here is the list in shim.map. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn_table.h"
#include "init.h"
#include "lifecycle.h"
#include "real.h"
#include "watch.h"

#define HOOK __attribute__((visibility("default")))

/* The one test every I/O hook makes first: an fd that is not a tracked
 * connection (a file, a pipe, a UDP socket) goes straight to libc. Inlined
 * here so that path costs a bounds check, a load and a compare, no call. */
#define UNTRACKED(c) __builtin_expect(!conn_is_live(c), 1)

/* I/O calls on an untracked fd: a reset there is still worth a record (a
 * socket inherited across exec, received by SCM_RIGHTS, or created before
 * we were loaded). Only a failed call pays: one compare otherwise. */
#define PASS_OR_ADOPT(fd, op, call)                                                                \
    do {                                                                                           \
        ssize_t r_ = (call);                                                                       \
        if (__builtin_expect(r_ < 0, 0)) watch_untracked_failed(fd, op);                           \
        return r_;                                                                                 \
    } while (0)

/* read/write and their vector forms on an fd that is not a tracked
 * connection: an empty slot (a file, a pipe: no socket the shim saw created,
 * inherited or received) goes straight to libc, a tail call with no look at
 * the result; a marked socket is adopted if the call fails. */
#define PASS_UNTRACKED(fd, c, op, call)                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(c), 1)) return (call);                                              \
        if (__builtin_expect(!conn_is_live(c), 0)) PASS_OR_ADOPT(fd, op, call);                    \
    } while (0)

/* glibc declares these only under _FORTIFY_SOURCE / <sys/sendfile.h> (with off64_t). */
ssize_t __read_chk(int fd, void *b, size_t n, size_t bl);
ssize_t __recv_chk(int fd, void *b, size_t n, size_t bl, int fl);
ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t bl, int fl, struct sockaddr *sa,
                       socklen_t *len);
ssize_t sendfile(int out, int in, off_t *off, size_t n);
ssize_t sendfile64(int out, int in, off_t *off, size_t n);

HOOK int socket(int domain, int type, int proto)
{
    return watch_socket(domain, type, proto);
}
HOOK int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return watch_connect(fd, sa, len);
}
HOOK int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    return watch_bind(fd, sa, len);
}
HOOK int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return watch_accept(fd, sa, len, 0, CALL_PLAIN);
}
HOOK int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return watch_accept(fd, sa, len, flags, CALL_SIBLING);
}
HOOK int close(int fd)
{
    return watch_close(fd);
}
HOOK int shutdown(int fd, int how)
{
    return watch_shutdown(fd, how);
}
HOOK ssize_t send(int fd, const void *b, size_t n, int fl)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c)) PASS_OR_ADOPT(fd, OP_SEND, real_send(fd, b, n, fl));
    return watch_send(fd, c, b, n, fl);
}
HOOK ssize_t sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *sa,
                    socklen_t len)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c)) PASS_OR_ADOPT(fd, OP_SENDTO, real_sendto(fd, b, n, fl, sa, len));
    return watch_sendto(fd, c, b, n, fl, sa, len);
}
/* A message that carried control data (rare: SCM_RIGHTS, credentials,
 * IP_PKTINFO) may have passed sockets between processes: one compare
 * otherwise. */
#define FDS_MAY_MOVE(r, m) __builtin_expect((r) >= 0 && (m)->msg_controllen != 0, 0)

HOOK ssize_t sendmsg(int fd, const struct msghdr *m, int fl)
{
    struct conn *c = conn_table_get(fd);
    ssize_t r;
    if (UNTRACKED(c)) {
        r = real_sendmsg(fd, m, fl);
        if (__builtin_expect(r < 0, 0)) watch_untracked_failed(fd, OP_SENDMSG);
    } else {
        r = watch_sendmsg(fd, c, m, fl);
    }
    if (FDS_MAY_MOVE(r, m)) watch_fds_sent(m);
    return r;
}
HOOK int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int fl)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c)) return real_sendmmsg(fd, v, n, fl);
    return watch_sendmmsg(fd, c, v, n, fl);
}
HOOK ssize_t recv(int fd, void *b, size_t n, int fl)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c)) PASS_OR_ADOPT(fd, OP_RECV, real_recv(fd, b, n, fl));
    return watch_recv(fd, c, b, n, fl);
}
HOOK ssize_t recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *sa, socklen_t *len)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c)) PASS_OR_ADOPT(fd, OP_RECVFROM, real_recvfrom(fd, b, n, fl, sa, len));
    return watch_recvfrom(fd, c, b, n, fl, sa, len);
}
HOOK ssize_t recvmsg(int fd, struct msghdr *m, int fl)
{
    struct conn *c = conn_table_get(fd);
    ssize_t r;
    if (UNTRACKED(c)) {
        r = real_recvmsg(fd, m, fl);
        if (__builtin_expect(r < 0, 0)) watch_untracked_failed(fd, OP_RECVMSG);
    } else {
        r = watch_recvmsg(fd, c, m, fl);
    }
    if (FDS_MAY_MOVE(r, m)) watch_fds_received(m);
    return r;
}
HOOK int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int fl, struct timespec *tmo)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c)) return real_recvmmsg(fd, v, n, fl, tmo);
    return watch_recvmmsg(fd, c, v, n, fl, tmo);
}
HOOK ssize_t read(int fd, void *b, size_t n)
{
    struct conn *c = conn_table_get(fd);
    PASS_UNTRACKED(fd, c, OP_READ, real_read(fd, b, n));
    return watch_read(fd, c, b, n);
}
HOOK ssize_t write(int fd, const void *b, size_t n)
{
    struct conn *c = conn_table_get(fd);
    PASS_UNTRACKED(fd, c, OP_WRITE, real_write(fd, b, n));
    return watch_write(fd, c, b, n);
}
HOOK ssize_t readv(int fd, const struct iovec *v, int n)
{
    struct conn *c = conn_table_get(fd);
    PASS_UNTRACKED(fd, c, OP_READV, real_readv(fd, v, n));
    return watch_readv(fd, c, v, n);
}
HOOK ssize_t writev(int fd, const struct iovec *v, int n)
{
    struct conn *c = conn_table_get(fd);
    PASS_UNTRACKED(fd, c, OP_WRITEV, real_writev(fd, v, n));
    return watch_writev(fd, c, v, n);
}
HOOK ssize_t __read_chk(int fd, void *b, size_t n, size_t bl)
{
    struct conn *c = conn_table_get(fd);
    PASS_UNTRACKED(fd, c, OP_READ, real___read_chk(fd, b, n, bl));
    return watch_read_chk(fd, c, b, n, bl);
}
HOOK ssize_t __recv_chk(int fd, void *b, size_t n, size_t bl, int fl)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c)) PASS_OR_ADOPT(fd, OP_RECV, real___recv_chk(fd, b, n, bl, fl));
    return watch_recv_chk(fd, c, b, n, bl, fl);
}
HOOK ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t bl, int fl, struct sockaddr *sa,
                            socklen_t *len)
{
    struct conn *c = conn_table_get(fd);
    if (UNTRACKED(c))
        PASS_OR_ADOPT(fd, OP_RECVFROM, real___recvfrom_chk(fd, b, n, bl, fl, sa, len));
    return watch_recvfrom_chk(fd, c, b, n, bl, fl, sa, len);
}
HOOK ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    return watch_sendfile(out, in, off, n, CALL_PLAIN);
}
HOOK ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
    return watch_sendfile(out, in, off, n, CALL_SIBLING);
}
HOOK ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t n, unsigned int fl)
{
    return watch_splice(in, off_in, out, off_out, n, fl);
}
HOOK FILE *fdopen(int fd, const char *mode)
{
    return watch_fdopen(fd, mode);
}
HOOK int fclose(FILE *f)
{
    return watch_fclose(f);
}
HOOK int dup(int fd)
{
    return watch_dup(fd);
}
HOOK int dup2(int fd, int nfd)
{
    return watch_dup3(fd, nfd, 0, CALL_PLAIN);
}
HOOK int dup3(int fd, int nfd, int fl)
{
    return watch_dup3(fd, nfd, fl, CALL_SIBLING);
}
HOOK int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *); /* what glibc's fcntl does: int or pointer alike */
    va_end(ap);
    return watch_fcntl(fd, cmd, arg, CALL_PLAIN);
}
HOOK int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return watch_fcntl(fd, cmd, arg, CALL_SIBLING);
}
HOOK int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return watch_ioctl(fd, req, arg);
}
HOOK int close_range(unsigned int lo, unsigned int hi, int fl)
{
    return watch_close_range(lo, hi, fl);
}
HOOK void closefrom(int lo)
{
    watch_closefrom(lo);
}
HOOK int getsockopt(int fd, int lv, int nm, void *v, socklen_t *len)
{
    return watch_getsockopt(fd, lv, nm, v, len);
}
HOOK int setsockopt(int fd, int lv, int nm, const void *v, socklen_t len)
{
    return watch_setsockopt(fd, lv, nm, v, len);
}
HOOK int poll(struct pollfd *p, nfds_t n, int tmo)
{
    return watch_poll(p, n, tmo, NULL, NULL, CALL_PLAIN);
}
HOOK int ppoll(struct pollfd *p, nfds_t n, const struct timespec *ts, const sigset_t *m)
{
    return watch_poll(p, n, -1, ts, m, CALL_SIBLING);
}
HOOK int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    return watch_epoll_ctl(ep, op, fd, ev);
}
HOOK int epoll_wait(int ep, struct epoll_event *ev, int n, int tmo)
{
    return watch_epoll_wait(ep, ev, n, tmo, NULL, CALL_PLAIN);
}
HOOK int epoll_pwait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m)
{
    return watch_epoll_wait(ep, ev, n, tmo, m, CALL_SIBLING);
}

__attribute__((constructor)) static void rstwatch_load(void)
{
    shim_init();
}

__attribute__((destructor)) static void rstwatch_unload(void)
{
    shim_fini();
}

/* Process lifecycle: exec and _exit write the rate limit's summary first; a user-id
 * change opens the log file while the old user still may (lifecycle.c). */
HOOK int execve(const char *path, char *const argv[], char *const envp[])
{
    return lifecycle_execve(path, argv, envp);
}
HOOK int execv(const char *path, char *const argv[])
{
    return lifecycle_execv(path, argv);
}
HOOK int execvp(const char *file, char *const argv[])
{
    return lifecycle_execvp(file, argv);
}
HOOK int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return lifecycle_execvpe(file, argv, envp);
}
HOOK int fexecve(int fd, char *const argv[], char *const envp[])
{
    return lifecycle_fexecve(fd, argv, envp);
}
HOOK int setuid(uid_t uid)
{
    return lifecycle_setuid(uid);
}
HOOK int seteuid(uid_t euid)
{
    return lifecycle_seteuid(euid);
}
HOOK int setreuid(uid_t ruid, uid_t euid)
{
    return lifecycle_setreuid(ruid, euid);
}
HOOK int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    return lifecycle_setresuid(ruid, euid, suid);
}
HOOK void _exit(int status)
{
    sockets_end_with_process();
    lifecycle_exit(status);
}
HOOK void _Exit(int status)
{
    sockets_end_with_process();
    lifecycle_exit(status);
}
/* Sandboxing: the log is opened where its path still means what it says,
 * and before a seccomp filter could refuse it (lifecycle.c). */
HOOK int chroot(const char *path)
{
    return lifecycle_chroot(path);
}
HOOK int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                  a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    return lifecycle_prctl(option, a2, a3, a4, a5);
}
/* libseccomp's loader (it installs the filter with syscall(), which no hook sees). */
int seccomp_load(void *ctx);
HOOK int seccomp_load(void *ctx)
{
    return lifecycle_seccomp_load(ctx);
}
