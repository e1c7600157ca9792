/* retry.c: connect retry and idempotent replay (see retry.h). */
#include "retry.h"

#include <errno.h>

#include "real.h"

void retry_init(void)
{
}
void retry_note_socket(int fd, int domain, int type, int proto)
{
    (void)fd, (void)domain, (void)type, (void)proto;
}
void retry_attach(int fd, struct conn *c)
{
    (void)fd, (void)c;
}
void retry_note_sockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    (void)fd, (void)level, (void)name, (void)val, (void)len;
}
void retry_note_fl(int fd, int flags)
{
    (void)fd, (void)flags;
}
void retry_note_epoll(int ep, int op, int fd, const struct epoll_event *ev)
{
    (void)ep, (void)op, (void)fd, (void)ev;
}
void retry_after_dup(int fd)
{
    (void)fd;
}
void retry_forget(struct conn *c)
{
    (void)c;
}
int retry_wants_connect(const struct conn *c)
{
    (void)c;
    return 0;
}
int retry_connect(int fd, struct conn *c, const struct sockaddr *sa, socklen_t len, int *err)
{
    (void)c;
    int r = real_connect(fd, sa, len);
    *err = errno;
    return r;
}
int retry_connect_failed(int fd, struct conn *c, int so_error, void *v)
{
    (void)fd, (void)c, (void)so_error, (void)v;
    return 0;
}
void retry_copy_out(struct conn *c, const void *buf, size_t n)
{
    (void)c, (void)buf, (void)n;
}
void retry_copy_outv(struct conn *c, const struct iovec *v, int cnt, size_t n)
{
    (void)c, (void)v, (void)cnt, (void)n;
}
void retry_note_io(struct conn *c, int out, ssize_t n)
{
    (void)c, (void)out, (void)n;
}
ssize_t retry_after_in(int fd, struct conn *c, ssize_t r, int *err)
{
    (void)fd, (void)c, (void)err;
    return r;
}
int retry_poll(struct pollfd *p, nfds_t n, int tmo, const struct timespec *ts, const sigset_t *m,
               int is_ppoll)
{
    return is_ppoll ? real_ppoll(p, n, ts, m) : real_poll(p, n, tmo);
}
int retry_epoll_wait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m,
                     int is_pwait)
{
    return is_pwait ? real_epoll_pwait(ep, ev, n, tmo, m) : real_epoll_wait(ep, ev, n, tmo);
}
