// SPDX-License-Identifier: MIT
/* retry.h: connect retry and idempotent replay (RSTWATCH_RETRY; the rules:
 * docs/design.md "Retry and replay"), as the logic layer calls them: retry.c
 * (connects) and replay.c (requests); the notes about a socket's recipe are
 * in retry_state.h. Every function is a no-op when retry is off, and the hot
 * path only reaches here through c->retry != NULL. */
#ifndef RSTWATCH_RETRY_H
#define RSTWATCH_RETRY_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "conn_table.h"
#include "options.h"

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

/* Loads the rules file (o->config) and the retry options; called once at load. */
void retry_init(const struct options *o);

/* Does a socket() of this domain need a connection opened at once, so that
 * options set before connect() can be re-applied to a replacement socket? */
int retry_wants_socket(int domain);

/* 1 if any rule (or the default) retries: a connect may need its peer before
 * the real call. */
int retry_enabled(void);
/* socket() created c (opened at once because retry_wants_socket() said so):
 * give it retry state, with the recipe for a replacement socket. */
void retry_note_socket(struct conn *c, int domain, int type, int proto);
/* A client connection was opened on fd: attach retry state if its peer's rule wants it. */
void retry_attach(int fd, struct conn *c);
/* The connection ended: free its retry state. */
void retry_forget(struct conn *c);

/* Does a connect on c go through retry_connect()? */
int retry_wants_connect(const struct conn *c);
/* connect() with retries for refused/unreachable/timed-out outcomes (each
 * attempt may be injected, inject.h): 0 or -errno of the last attempt. */
int retry_connect(int fd, struct conn *c, const struct sockaddr *sa, socklen_t len);
/* The app read a non-blocking connect's failure through SO_ERROR itself:
 * stop watching that connect (the app already holds the error). */
void retry_connect_settled(struct conn *c);

/* After output call op on c returned r (errno *err) for the bytes in v[cnt]:
 * on success keeps a copy of what left (the current request, for a replay);
 * on a reset, if the whole request may be replayed, sends it on a fresh
 * connection placed on fd and returns the full length as if this call had
 * succeeded; otherwise returns r unchanged (with a refusal record). */
ssize_t retry_after_out(int fd, struct conn *c, unsigned op, const struct iovec *v, int cnt,
                        ssize_t r, int *err);
/* A call whose buffers the replay buffer cannot copy (sendfile, splice,
 * sendmmsg) returned r (errno err) on c: unless nothing happened (EAGAIN,
 * EINTR), the current request can no longer be replayed. */
void retry_out_unbuffered(struct conn *c, ssize_t r, int err);
/* An input call that is never replayed (recvmmsg, splice from the socket)
 * returned r (errno err) on c: an EOF or an error other than EAGAIN/EINTR
 * tells the app of the failure (no replay on c from then on). */
void retry_in_unbuffered(struct conn *c, ssize_t r, int err);

/* retry_after_in()'s answer "the request was replayed on a fresh connection
 * now on the same fd: issue the same read again". */
#define RETRY_REISSUE ((ssize_t)-2)

/* After input call op returned r (errno *err): if the request can and may be
 * replayed, does so and returns RETRY_REISSUE; otherwise returns r unchanged
 * (with a "retry" record saying why not, when a replay was called for). */
ssize_t retry_after_in(int fd, struct conn *c, unsigned op, ssize_t r, int *err);

/* The app was told that c failed by a channel other than an I/O call's
 * result: poll/epoll reported POLLERR, POLLHUP or POLLRDHUP for it, or it
 * read a nonzero SO_ERROR. From now on nothing on c is replayed (the app's
 * own view wins: it may already have acted on the failure). */
void retry_app_told(struct conn *c);

/* poll/epoll_wait is about to tell the app that c (on fd) failed (POLLERR,
 * POLLHUP or POLLRDHUP; err: POLLERR was among them): if c's request is unanswered and may be
 * replayed, the replay happens here, before the app hears of the failure, and 1 is returned (the
 * event was the old connection's: hide it). Otherwise 0, and the caller tells the app
 * (retry_app_told). */
int retry_replay_on_event(int fd, struct conn *c, int err);

/* c ends (its last fd is closed) with a replay whose answer never reached
 * the app: its retry record says so. */
void retry_replay_unanswered(struct conn *c);

/* poll/ppoll and epoll_wait, with non-blocking connect retries made
 * transparent; events that tell the app of a failure are noted
 * (retry_app_told). */
int retry_poll(struct pollfd *p, nfds_t n, int tmo, const struct timespec *ts, const sigset_t *m,
               enum call_variant v);
int retry_epoll_wait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m,
                     enum call_variant v);

#pragma GCC visibility pop

#endif
