// SPDX-License-Identifier: MIT
/* conn_event.h: what happens to a tracked connection, below every module that
 * acts on one (sockets.c, io.c, retry, replay, inject): its addresses, its
 * establishment, whether a failure is worth a record, and the one guarded
 * way to write that record. Nothing here calls upward (see
 * docs/design.md "The shim's layers"). Internal functions return 0 or -errno. */
#ifndef RSTWATCH_CONN_EVENT_H
#define RSTWATCH_CONN_EVENT_H

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn_table.h"
#include "guard.h"
#include "options.h"

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

struct record_info;

/* Sets what is worth a record (RSTWATCH_RECORD); called once at load. */
void conn_event_init(enum record_mode mode);

/* RSTWATCH_RECORD=all: every connection gets a close record. */
int conn_record_all(void);

/* The connection behind fd if this call should be accounted for, else NULL
 * (untracked, or the shim is already on this thread's stack). */
static inline struct conn *live_conn(int fd)
{
    struct conn *c = conn_table_get(fd);
    if (__builtin_expect(!conn_is_live(c), 1)) return NULL;
    return guard_active() ? NULL : c;
}

/* Stores address sa (len bytes) into dst; a unix path goes to unix_path
 * (sun_path + 1 bytes), or is dropped when unix_path is NULL. */
void conn_store_addr(union sockaddr_any *dst, char *unix_path, const struct sockaddr *sa,
                     socklen_t len);

/* c on fd is connected: ends a pending non-blocking connect, snapshots TCP_INFO. */
void conn_mark_established(int fd, struct conn *c, uint64_t now_ns);

/* Learns c's local address from fd if not known yet (records name it). */
void conn_fill_local(int fd, struct conn *c);

/* fd now holds a new socket for c (a retry moved it there): its identity.
 * The local address stays the old socket's, for the record about the
 * failure, until conn_forget_local(). */
void conn_socket_replaced(int fd, struct conn *c);

/* c's socket changed: later records learn its local address again. */
void conn_forget_local(struct conn *c);

/* conn_worth_a_record() for the errors that are not EAGAIN or EINTR. */
int conn_worth_a_record_slow(int err);

/* 1 if a call failing with err deserves a record under RSTWATCH_RECORD.
 * EAGAIN and EINTR never do, in any mode: a non-blocking reader meets them
 * all the time, so they are settled here, without a call. */
static inline int conn_worth_a_record(int err)
{
    return err != EAGAIN && err != EINTR && conn_worth_a_record_slow(err);
}

/* 1 if fd is still the socket of connection c (fdident.h). If not, the fd
 * was closed behind our back: c is forgotten there and 0 returned; the caller
 * must then neither record on c, nor replay, reconnect or dup3 onto fd. */
int conn_at(int fd, struct conn *c);

/* Writes one record about c, which failed (or ended) on fd: after the
 * identity check, under the guard, having learnt the local address.
 * 0, -ESTALE (fd is no longer c's socket: nothing written) or the sink's
 * -errno. */
int conn_record(int fd, struct conn *c, const struct record_info *ri);

/* Called as a connection's one record (reset, error, eof) is written: a
 * holder of it in another process must not write a second one (sockets.c
 * publishes that, handoff.h). */
extern void (*conn_on_recorded)(const struct conn *c);

/* Records the failure (err) of call op on c (at most once per connection;
 * normal life is counted instead, see cause.h cause_count_instead). */
void conn_failed(int fd, struct conn *c, unsigned op, int err, uint64_t now_ns);

/* accept() on listener lfd (of family) failed with err, EMFILE or ENFILE:
 * the program is out of file descriptors, which leaves no connection to
 * record on. Writes an "error" record naming the listener (cause fd_limit;
 * record.h's listener). Preserves errno. */
void conn_accept_failed(int lfd, int family, int err, uint64_t now_ns);

/* The peer closed c where the response to our request was due (or closed an
 * idle connection, which the classifier counts instead): an eof record. */
void conn_eof_due(int fd, struct conn *c, unsigned op, uint64_t now_ns);

/* Would the record ri on c only be counted (RSTWATCH_RECORD=resets)? */
int conn_counted_instead(const struct conn *c, const struct record_info *ri);

/* A TLS peer that closed an idle keep-alive connection sent its close_notify
 * before its FIN: a client that reused the connection read that alert where
 * the response was due. Only trusted when a snapshot taken as the request
 * began shows the peer's FIN already in. */
int conn_tls_alert_before_request(const struct conn *c);

/* The peer had closed c before its current request was sent, leaving bytes
 * unread (a PostgreSQL FATAL, a MySQL error packet, an HTTP 408: tcpinfo.h
 * tcpinfo_goodbye), and everything read since is no more than those bytes:
 * what the program read after the request was no response to it. */
int conn_goodbye_before_request(const struct conn *c);

#pragma GCC visibility pop

#endif
