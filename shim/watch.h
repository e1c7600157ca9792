// SPDX-License-Identifier: MIT
/* watch.h: the logic behind every hook (the middle of the three layers:
 * hooks.c -> watch.h -> real.c), implemented by io.c (the send/recv family,
 * read/write, sendfile, splice) and sockets.c (socket lifecycle, fd plumbing,
 * socket options, poll/epoll). Each watch_*() has the exact contract of the
 * libc call it stands for: -1 and errno like libc, the same side effects on
 * the app's sockets (retry/injection, when enabled, excepted and documented
 * in retry.h/inject.h). Below this boundary the shim's functions return 0 or
 * -errno. */
#ifndef RSTWATCH_WATCH_H
#define RSTWATCH_WATCH_H

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "conn_table.h"

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

/* The I/O functions below take the fd's live connection c, which the hook
 * has already looked up (an untracked fd never gets here). */

/* Called once at load: connections that end are handed to sockets.c. */
void sockets_init(void);

/* After a sendmsg() that carried control data: the tracked connections it
 * passed by SCM_RIGHTS go into the handoff table (handoff.h), and count as
 * held elsewhere at their close. Preserves errno. */
void watch_fds_sent(const struct msghdr *m);

/* After a recvmsg() that carried control data: a socket received by
 * SCM_RIGHTS that the handoff table knows is tracked at once, with the
 * sender's role and addresses (one fstat each, none under a filter).
 * Preserves errno. */
void watch_fds_received(const struct msghdr *m);
/* At load: marks the sockets this process inherited (each open fd that is an
 * inet or unix socket), so that a failure on one of them is adopted. */
void watch_mark_inherited(void);

/* At exit, with RSTWATCH_RECORD=all: ends (and records) the connections whose
 * fd was closed where no hook could see it. */
void sockets_exit_sweep(void);

/* At _exit (a fork child's usual end), with RSTWATCH_RECORD=all: the
 * connections still open end with the process, each with its close record
 * unless another process still holds a copy this one never used. */
void sockets_end_with_process(void);

int watch_socket(int domain, int type, int proto);
int watch_connect(int fd, const struct sockaddr *sa, socklen_t len);
int watch_bind(int fd, const struct sockaddr *sa, socklen_t len);
int watch_accept(int fd, struct sockaddr *sa, socklen_t *len, int flags, enum call_variant v);
int watch_close(int fd);
int watch_shutdown(int fd, int how);

ssize_t watch_send(int fd, struct conn *c, const void *b, size_t n, int fl);
ssize_t watch_sendto(int fd, struct conn *c, const void *b, size_t n, int fl,
                     const struct sockaddr *sa, socklen_t len);
ssize_t watch_sendmsg(int fd, struct conn *c, const struct msghdr *m, int fl);
int watch_sendmmsg(int fd, struct conn *c, struct mmsghdr *v, unsigned int n, int fl);
ssize_t watch_write(int fd, struct conn *c, const void *b, size_t n);
ssize_t watch_writev(int fd, struct conn *c, const struct iovec *v, int n);
ssize_t watch_sendfile(int out, int in, off_t *off, size_t n, enum call_variant v);

ssize_t watch_recv(int fd, struct conn *c, void *b, size_t n, int fl);
ssize_t watch_recv_chk(int fd, struct conn *c, void *b, size_t n, size_t bl, int fl);
ssize_t watch_recvfrom(int fd, struct conn *c, void *b, size_t n, int fl, struct sockaddr *sa,
                       socklen_t *len);
ssize_t watch_recvfrom_chk(int fd, struct conn *c, void *b, size_t n, size_t bl, int fl,
                           struct sockaddr *sa, socklen_t *len);
ssize_t watch_recvmsg(int fd, struct conn *c, struct msghdr *m, int fl);
int watch_recvmmsg(int fd, struct conn *c, struct mmsghdr *v, unsigned int n, int fl,
                   struct timespec *tmo);
ssize_t watch_read(int fd, struct conn *c, void *b, size_t n);
ssize_t watch_read_chk(int fd, struct conn *c, void *b, size_t n, size_t bl);
ssize_t watch_readv(int fd, struct conn *c, const struct iovec *v, int n);

ssize_t watch_splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t n, unsigned int fl);
FILE *watch_fdopen(int fd, const char *mode);
int watch_fclose(FILE *f);

int watch_dup(int fd);
int watch_dup3(int fd, int nfd, int fl, enum call_variant v);
int watch_fcntl(int fd, int cmd, void *arg, enum call_variant v);
int watch_ioctl(int fd, unsigned long req, void *arg);
int watch_close_range(unsigned lo, unsigned hi, int fl);
void watch_closefrom(int lo);

int watch_getsockopt(int fd, int lv, int nm, void *v, socklen_t *len);
int watch_setsockopt(int fd, int lv, int nm, const void *v, socklen_t len);

int watch_poll(struct pollfd *p, nfds_t n, int tmo, const struct timespec *ts, const sigset_t *m,
               enum call_variant v);
int watch_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev);
int watch_epoll_wait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m,
                     enum call_variant v);

/* A send/recv-family call on an untracked fd failed (errno set): if it was a
 * reset on a stream socket we never saw created, adopt and record it.
 * Preserves errno. */
void watch_untracked_failed(int fd, unsigned op);

#pragma GCC visibility pop

#endif
