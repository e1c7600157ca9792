// SPDX-License-Identifier: MIT
/* conn_event.c: the events of a tracked connection that more than one module
 * raises (see conn_event.h): established, failed, ended where a response was
 * due, and the record each deserves. The "guard, identity check, local
 * address, record" sequence lives here once. */
#include "conn_event.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cause.h"
#include "clock.h"
#include "fdident.h"
#include "real.h"
#include "record.h"
#include "sandbox.h"
#include "ring.h"
#include "tcpinfo.h"

static enum record_mode record_mode;

void conn_event_init(enum record_mode mode)
{
    record_mode = mode;
}

int conn_record_all(void)
{
    return record_mode == RECORD_ALL;
}

int conn_worth_a_record_slow(int err)
{
    if (cause_is_reset_errno(err)) return 1;
    if (record_mode == RECORD_RESETS) return 0;
    switch (err) {
    case EAGAIN:
    case EINTR:
    case EINPROGRESS:
    case EALREADY:
    case EISCONN: return 0;
    default: return 1;
    }
}

void conn_store_addr(union sockaddr_any *dst, char *unix_path, const struct sockaddr *sa,
                     socklen_t len)
{
    if (!sa || len < sizeof(sa_family_t)) return;
    if (sa->sa_family == AF_UNIX) {
        dst->sa.sa_family = AF_UNIX;
        if (!unix_path) return; /* this side's path is not kept (e.g. an accepted peer) */
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        if (n > sizeof un->sun_path) n = sizeof un->sun_path;
        memset(unix_path, 0, sizeof(un->sun_path) + 1);
        memcpy(unix_path, un->sun_path, n);
        if (n == 0)
            unix_path[0] = unix_path[1] = 0;
        else if (n == 1 && un->sun_path[0] == 0)
            unix_path[1] = 0;
        return;
    }
    size_t n = len < sizeof *dst ? len : sizeof *dst;
    memcpy(dst, sa, n);
}

void conn_mark_established(int fd, struct conn *c, uint64_t now)
{
    if (c->flags & CONN_CONNECTING) {
        c->flags &= ~CONN_CONNECTING;
        atomic_fetch_sub_explicit(&conn_connecting, 1, memory_order_relaxed);
        ring_push(&c->ring, OP_CONNECTED, 0, 0, now);
    }
    c->flags |= CONN_ESTABLISHED;
    tcpinfo_snap(fd, c, now);
}

void conn_fill_local(int fd, struct conn *c)
{
    /* still bound after a reset: cheap to ask now (not under a filter) */
    if (!c->local.sa.sa_family && !sandbox_filtered()) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_UNIX && c->role == ROLE_SERVER)
                conn_store_addr(&c->local, c->unix_path, (struct sockaddr *)&ss, len);
            else if (ss.ss_family != AF_UNIX)
                conn_store_addr(&c->local, NULL, (struct sockaddr *)&ss, len);
            else
                c->local.sa.sa_family = AF_UNIX;
        }
    }
}

void conn_socket_replaced(int fd, struct conn *c)
{
    c->ident = fdident_take(fd);
}

void conn_forget_local(struct conn *c)
{
    c->local.sa.sa_family = 0;
}

/* A socketpair's end, adopted when a call on it failed (neither end has a
 * name, so no side is known): both ends belong to this program or its
 * family (Chromium's IPC, a parent and its worker), and a reset there is
 * one of them closing its end, with data unread, or before the other's
 * write: the program's own teardown, not the network's. Recorded with
 * RSTWATCH_RECORD=errors or all, not by default. */
static int unix_pair(const struct conn *c)
{
    return c->family == AF_UNIX && c->role == ROLE_UNKNOWN;
}

/* Under the default RSTWATCH_RECORD=resets, normal life (an idle pooled
 * connection the peer closed, a write after our own shutdown) is counted by
 * the classifier instead of recorded (cause.h cause_count_instead). */
int conn_counted_instead(const struct conn *c, const struct record_info *ri)
{
    return record_mode == RECORD_RESETS && (unix_pair(c) || record_counted_instead(c, ri));
}

int conn_at(int fd, struct conn *c)
{
    if (fdident_same(fd, c->ident)) return 1;
    /* Closed behind our back (and maybe reused): forget it, never act on it. */
    guard_enter();
    conn_table_forget_if(fd, c);
    guard_leave();
    return 0;
}

/* record_info.confirm: is the record's fd still c's socket? Asked by
 * record_write only for a record the rate limit would let through. */
static int still_at(const struct record_info *ri, const struct conn *c)
{
    return fdident_same(ri->fd, c->ident);
}

/* Writes the record ri on c (under the guard, having learnt the local
 * address). Unless the identity is known to hold, record_write asks it
 * (still_at) where the record would be written; a stale fd is then
 * forgotten and -ESTALE returned. */
static int record_checked(int fd, struct conn *c, const struct record_info *ri)
{
    guard_enter();
    conn_fill_local(fd, c);
    int r = record_write(c, ri);
    if (r == -ESTALE) conn_table_forget_if(fd, c);
    guard_leave();
    return r;
}

int conn_record(int fd, struct conn *c, const struct record_info *ri)
{
    if (!conn_at(fd, c)) return -ESTALE;
    return record_checked(fd, c, ri);
}

/* Errors that only a stream socket's connection returns: a pipe or a file
 * that took the number of a socket closed behind our back gives EPIPE, EOF
 * or its own errors, never these. */
static int socket_only_error(int err)
{
    switch (err) {
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EHOSTUNREACH:
    case ENETUNREACH: return 1;
    default: return 0;
    }
}

/* May the identity check wait until the record is known to be written
 * (record_info.confirm)? Only when the failure itself says fd is a
 * connected socket and nothing else must be asked of fd first: the local
 * address is known (asking a stale fd's would take another socket's), and
 * no TCP_INFO is due. Then a record the rate limit leaves out costs no
 * system call: it is counted under the connection's key, which comes from
 * the shim's memory alone. The one stale case this counts is a socket the
 * shim never saw created (a raw syscall, SCM_RIGHTS) that took the number
 * of one closed behind its back and failed in turn: counted (not written)
 * under the old connection's key. */
static int check_later(const struct conn *c, int err)
{
    return socket_only_error(err) && (c->local.sa.sa_family || sandbox_filtered());
}

void conn_accept_failed(int lfd, int family, int err, uint64_t now)
{
    /* No connection came of it: a stand-in that only names the listener. */
    union {
        struct conn c;
        unsigned char room[sizeof(struct conn) + sizeof(struct event)];
    } u;
    memset(&u, 0, sizeof u);
    struct conn *c = &u.c;
    c->role = ROLE_SERVER;
    c->family = (uint8_t)family;
    c->t_create = c->t_last = now;
    guard_enter();
    conn_fill_local(lfd, c);
    struct record_info ri = {
        .type = "error", .fd = lfd, .op = OP_ACCEPT, .err = err, .now_ns = now, .listener = 1};
    record_write(c, &ri);
    guard_leave();
}

/* After ETIMEDOUT the kernel's counters tell how hard it tried: the snapshot
 * from before the failing call can be seconds old (it showed no
 * retransmission yet), so take one now and keep it if it knows more. */
static void snap_after_timeout(int fd, struct conn *c, uint64_t now)
{
    struct tcp_snap after;
    if (tcpinfo_read(fd, c->family, &after, now, c->bytes_in) == 0 &&
        after.total_retrans >= c->tcp.total_retrans) {
        c->tcp = after;
        c->flags |= CONN_TCP_AFTER;
    }
}

void (*conn_on_recorded)(const struct conn *c);

/* c's one record is being written: tell the logic layer (a holder of c in
 * another process must not write a second one). */
static void note_recorded(const struct conn *c)
{
    if (conn_on_recorded) conn_on_recorded(c);
}

void conn_failed(int fd, struct conn *c, unsigned op, int err, uint64_t now)
{
    if (atomic_load_explicit(&c->recorded, memory_order_relaxed)) return;
    int later = check_later(c, err);
    if (!later && !conn_at(fd, c)) return;
    if (atomic_exchange(&c->recorded, 1)) return; /* one record per connection */
    note_recorded(c);
    if (err == ETIMEDOUT && (c->flags & CONN_ESTABLISHED)) snap_after_timeout(fd, c, now);
    struct record_info ri = {
        .type = cause_is_reset_errno(err) ? "reset" : "error",
        .fd = fd,
        .op = op,
        .err = err,
        .now_ns = now,
        .confirm = later ? still_at : NULL,
    };
    if (!conn_counted_instead(c, &ri)) record_checked(fd, c, &ri);
}

/* The peer closed the connection right where the response to our request was
 * due: the quiet form of a stale keep-alive or of a server that gave up on the
 * request ("Remote end closed connection without response", "socket hang up",
 * "Empty reply from server"). No errno, but worth the same record. Also the
 * path of an idle close, which the classifier counts instead. */
void conn_eof_due(int fd, struct conn *c, unsigned op, uint64_t now)
{
    if (atomic_load_explicit(&c->recorded, memory_order_relaxed)) return;
    if (!conn_at(fd, c)) return;
    if (atomic_exchange(&c->recorded, 1)) return;
    note_recorded(c);
    struct record_info ri = {.type = "eof", .fd = fd, .op = op, .eof = 1, .now_ns = now};
    if (!conn_counted_instead(c, &ri)) record_checked(fd, c, &ri);
}

/* A snapshot taken as the current request began (and after the previous
 * exchange's last I/O). */
static int snap_as_request_began(const struct conn *c)
{
    return c->tcp.t_ns && c->tcp.t_ns <= c->t_exchange &&
           c->tcp.t_ns + c->idle_before >= c->t_exchange;
}

int conn_goodbye_before_request(const struct conn *c)
{
    return c->role == ROLE_CLIENT && c->exchanges >= 1 && c->dir == DIR_IN &&
           snap_as_request_began(c) && c->tcp.goodbye != GOODBYE_NONE &&
           c->exchange_resp <= c->tcp.unread;
}

int conn_tls_alert_before_request(const struct conn *c)
{
    return c->exchanges > 1 && c->dir == DIR_IN &&
           cause_tls_not_a_response(c->sniff.proto, c->exchanges, c->exchange_resp) &&
           c->tcp.t_ns && c->tcp.t_ns <= c->t_exchange &&
           c->tcp.t_ns + c->idle_before >= c->t_exchange &&
           (c->tcp.state == 8 /* CLOSE_WAIT */ || c->tcp.state == 9 /* LAST_ACK */);
}
