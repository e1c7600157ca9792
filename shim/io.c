// SPDX-License-Identifier: MIT
/* io.c: the I/O paths of the logic layer (watch.h): the send/recv family,
 * read/write and their vector/msg variants, sendfile and splice. For a
 * tracked socket each call is: (rarely) a TCP_INFO snapshot after an idle
 * gap, the real call, one event into the connection's ring, counters, and —
 * only when the call failed with an error worth a record — the record
 * (conn_event.h). Everything else is one table lookup and the real call.
 * errno is saved right after the real call and restored last. See
 * docs/design.md "The shim's layers".
 *
 * Every call reaches the kernel as the system call the app asked for: write
 * stays write(2), writev stays writev(2) (a seccomp filter that allows write
 * kills a process whose write becomes sendto).
 *
 * SIGPIPE: the send family goes out with MSG_NOSIGNAL (the same system call,
 * one flag more) so the record can be written before the signal; if the app
 * did not ask for MSG_NOSIGNAL, the same SIGPIPE is then raised at the same
 * thread (same disposition, same mask, same outcome as bare). write, writev
 * and sendfile take no flags: on a connection where EPIPE can be foreseen
 * (our own shutdown, the peer's FIN read or seen in a TCP_INFO snapshot)
 * SIGPIPE is blocked around the call, the record written, and the mask
 * restored, which delivers the kernel's own SIGPIPE; elsewhere the call is
 * made as it is, and a process that an unforeseen SIGPIPE kills leaves no
 * record of that write (docs/design.md "Same system calls"). Under a
 * seccomp filter none of this: the app's own call, flags and all, and
 * records after it. */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/un.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cause.h"
#include "clock.h"
#include "conn_event.h"
#include "fdident.h"
#include "inject.h"
#include "real.h"
#include "retry.h"
#include "sandbox.h"
#include "tcpinfo.h"

/* The SIGPIPE the kernel would have sent for the write that failed with
 * EPIPE on fd (sent with MSG_NOSIGNAL so the record could come first): a
 * send of zero bytes without MSG_NOSIGNAL fails the same way and makes the
 * kernel send its own, to this thread, with its own siginfo (SI_USER from
 * this process, as an SA_SIGINFO handler or sigwaitinfo() sees it). Where it
 * does not (the fd is something else by now), tgkill. */
static void raise_sigpipe(int fd)
{
    if (sandbox_filtered()) return; /* the app's own flags went out: the kernel sent it */
    if (real_send(fd, "", 0, 0) < 0 && errno == EPIPE) return;
    syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGPIPE);
}

/* Request-direction bytes (a client's writes, a server's reads) say what the
 * connection carries, and whether a TLS transfer was only handshake. iovcnt 0:
 * nothing to look at (MSG_PEEK: the same bytes come again). */
static void sniff_slow(struct conn *c, int out, const struct iovec *iov, size_t iovcnt, ssize_t r)
{
    if (r <= 0 || !iovcnt || (c->role == ROLE_SERVER) == out) return;
    int after_handshake = c->sniff.handshake_only;
    cause_sniff_request(&c->sniff, iov, iovcnt, (size_t)r);
    /* io_end begins an exchange when request bytes follow anything but
     * request bytes: a TLS handshake transfer poses as one so that it does
     * not, and the first application data after it begins one even when
     * it follows the handshake directly (a TLS 1.3 client's Finished). */
    if (c->sniff.handshake_only)
        c->dir = DIR_OUT;
    else if (c->sniff.alert_only)
        c->dir = DIR_CLOSING; /* our close_notify: the peer's FIN is its answer */
    else if (after_handshake)
        c->dir = DIR_NONE;
}

/* Sniffs while the stream is still watched; iov and iovcnt are evaluated only
 * then. The I/O paths reach it from their one rare-case branch (c->slow). */
#define SNIFF(c, out, iov, iovcnt, r)                                                              \
    do {                                                                                           \
        if ((c)->sniff.proto < PROTO_SETTLED && (r) > 0) { /* only bytes say anything */           \
            sniff_slow((c), (out), (iov), (size_t)(iovcnt), (r));                                  \
            conn_slow_update(c);                                                                   \
        }                                                                                          \
    } while (0)

/* An HTTP client writing again after response bytes: a new request begins
 * only with a request line. Anything else continues the current request:
 * its body after an interim "100 Continue" (no answer: those bytes are
 * forgotten) or after an early final answer (a 413: it stays the answer).
 * Either way io_end must not count a new exchange. */
static __attribute__((noinline)) void
http_write_after_response(struct conn *c, const struct iovec *iov, size_t iovcnt, ssize_t r)
{
    if (c->role != ROLE_CLIENT || !iov || cause_http_request_begins(iov, iovcnt, (size_t)r)) return;
    c->dir = DIR_OUT;
    if (c->exchange_resp <= CAUSE_HTTP_INTERIM_MAX) c->exchange_resp = 0;
}

/* Checks a write on an HTTP connection after response bytes; iov and iovcnt
 * are evaluated only then. One load and compare on the fast path. */
#define HTTP_CONTINUES(c, iov, iovcnt, r)                                                          \
    do {                                                                                           \
        if (__builtin_expect((c)->sniff.proto == PROTO_HTTP, 0) && (c)->dir == DIR_IN && (r) > 0)  \
            http_write_after_response((c), (iov), (size_t)(iovcnt), (r));                          \
    } while (0)

/* A fresh TLS 1.3 connection whose first request got only what may be
 * session tickets, then a FIN after a long silence: a server that gave up (or
 * an idle close after a short response; the classifier says it cannot tell). */
static int tls_silence_after_tickets(const struct conn *c, uint64_t t)
{
    return c->exchanges == 1 && c->dir == DIR_IN &&
           cause_tls_not_a_response(c->sniff.proto, c->exchanges, c->exchange_resp) &&
           t - c->t_last >= CAUSE_IDLE_CLOSE_MIN_MS * 1000000ull;
}

/* The first EOF read on c (cold: once per connection, kept out of io_end).
 * A read of zero bytes never gets here (IN_CALL). */
static __attribute__((noinline)) void peer_fin_read(int fd, struct conn *c, unsigned op, uint64_t t)
{
    /* After our own shutdown(SHUT_RD) every read gives 0: no FIN is in that. */
    if (c->flags & CONN_SHUT_RD) return;
    c->flags |= CONN_PEER_FIN;
    int due = c->dir == DIR_OUT || conn_tls_alert_before_request(c) ||
              tls_silence_after_tickets(c, t) || conn_goodbye_before_request(c);
    /* Keep a snapshot taken when this request began: it shows the
     * connection as it was before the peer's FIN was read. */
    if (!(due && c->tcp.t_ns && c->tcp.t_ns >= c->t_exchange)) tcpinfo_snap(fd, c, t);
    /* A response was due: on a reused connection the quiet stale
     * keep-alive, on a fresh HTTP or TLS one a server that gave up or died
     * ("Empty reply from server"). Not after our own shutdown(SHUT_WR):
     * then the peer's FIN may be the whole, expected answer; nor on a fresh
     * connection of another protocol, where a message answered by a FIN is
     * common and nothing says a response was due. */
    int fresh_other = c->exchanges == 1 && c->sniff.proto == PROTO_OTHER;
    if (c->role == ROLE_CLIENT && c->exchanges >= 1 && !(c->flags & CONN_SHUT_WR) && due &&
        !fresh_other)
        conn_eof_due(fd, c, op, t);
    else if (c->role == ROLE_CLIENT && c->dir == DIR_IN && c->exchanges &&
             t - c->t_last >= CAUSE_IDLE_CLOSE_MIN_MS * 1000000ull)
        conn_eof_due(fd, c, op, t); /* an idle close: counted, see cause.h */
}

/* The end of every I/O call on a tracked connection. out: bytes flowed out. */
static inline __attribute__((always_inline)) void io_end(int fd, struct conn *c, unsigned op,
                                                         int out, ssize_t r, int err, uint64_t t0)
{
    uint64_t t = clock_now_ns();
    if (__builtin_expect((c->flags & CONN_CONNECTING) && r >= 0, 0))
        conn_mark_established(fd, c, t);
    ring_push(&c->ring, op, r < 0 ? -1 : r, r < 0 ? err : 0, t);
    if (r > 0) {
        /* A client's requests flow out, a server's flow in. */
        int request = (c->role == ROLE_SERVER) ? !out : out;
        if (request) {
            if (c->dir < DIR_OUT) {
                c->exchanges++;
                c->idle_before = t0 > c->t_last ? t0 - c->t_last : 0; /* quiet before the call */
                c->t_exchange = t0;
                c->exchange_resp = 0;
                c->dir = DIR_OUT;
            }
        } else {
            c->exchange_resp += (uint64_t)r;
            c->dir = DIR_IN;
        }
        if (out)
            c->bytes_out += (uint64_t)r, c->calls_out++;
        else
            c->bytes_in += (uint64_t)r, c->calls_in++;
        c->t_last = t;
    } else if (r == 0) {
        if (!out && !(c->flags & CONN_PEER_FIN)) peer_fin_read(fd, c, op, t);
    } else {
        /* A request that failed on its first write still began an exchange:
         * the classifier must see the idle gap before it, not the last one. */
        int request = (c->role == ROLE_SERVER) ? !out : out;
        if (request && c->dir < DIR_OUT && err != EAGAIN && err != EINTR &&
            !(c->sniff.proto == PROTO_TLS && !c->sniff.app_seen)) { /* TLS: still handshaking */
            c->exchanges++;
            c->idle_before = t0 > c->t_last ? t0 - c->t_last : 0;
            c->t_exchange = t0;
            c->resp_before_write = c->exchange_resp;
            c->exchange_resp = 0;
            c->dir = DIR_OUT;
        }
        if (conn_worth_a_record(err)) conn_failed(fd, c, op, err, t);
    }
}

/* Before a call: after an idle gap, snapshot TCP_INFO so the record shows the
 * socket as it was before this (possibly failing) call. */
static inline uint64_t io_begin(int fd, struct conn *c)
{
    uint64_t now = clock_now_ns();
    /* The common case (not idle) is decided by the first test alone. */
    if (__builtin_expect((int64_t)(now - c->t_last) <= (int64_t)TCPINFO_IDLE_NS, 1)) return now;
    if (c->family == AF_UNIX) return now;
    if (c->tcp.t_ns >= c->t_last && c->tcp.t_ns) return now; /* already fresh */
    tcpinfo_snap(fd, c, now);
    return now;
}

/* The local port range the kernel picks clients' ports from
 * (net.ipv4.ip_local_port_range); 0 when it cannot be read. */
static int ephemeral_range(unsigned *lo, unsigned *hi)
{
    char buf[64];
    int f = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC);
    if (f < 0) return 0;
    ssize_t n = real_read(f, buf, sizeof buf - 1);
    real_close(f);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *end;
    unsigned long a = strtoul(buf, &end, 10), b = strtoul(end, NULL, 10);
    if (!a || b < a || b > 65535) return 0;
    *lo = (unsigned)a, *hi = (unsigned)b;
    return 1;
}

/* One line of /proc/net/tcp{,6} ("sl local rem st ..."): 1 if it is a
 * listener on port. */
static int listener_line(const char *line, unsigned port)
{
    char *end;
    const char *local = strchr(line, ':'); /* after "sl:" */
    if (!local) return 0;
    local = strchr(local + 1, ':'); /* the local address's ":PORT" */
    if (!local) return 0;
    unsigned long p = strtoul(local + 1, &end, 16);
    unsigned long st = strtoul(strchr(end + 1, ' ') ? strchr(end + 1, ' ') : end, NULL, 16);
    return p == port && st == 0x0A; /* TCP_LISTEN */
}

/* 1 if some socket in this network namespace listens on TCP port (either
 * family), 0 if none does, -1 when the tables cannot be read. */
static int port_has_listener(unsigned port)
{
    static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    int read_any = 0;
    for (unsigned i = 0; i < 2; i++) {
        int f = open(tables[i], O_RDONLY | O_CLOEXEC);
        if (f < 0) continue;
        char buf[4096], line[256];
        size_t have = 0;
        ssize_t n;
        int found = 0;
        while (!found && (n = real_read(f, buf, sizeof buf)) > 0) {
            for (ssize_t k = 0; k < n && !found; k++) {
                if (buf[k] != '\n') {
                    if (have < sizeof line - 1) line[have++] = buf[k];
                    continue;
                }
                line[have] = 0;
                have = 0;
                found = listener_line(line, port);
            }
        }
        real_close(f);
        if (found) return 1;
        read_any = 1;
    }
    return read_any ? 0 : -1;
}

static unsigned addr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

/* Which side of an adopted connection this process holds, from evidence
 * only (a slow path: once per adopted connection). A unix socket's named
 * end is the listener's (accepted) side. An inet connection whose local
 * port has a listener is an accepted one; without a listener, a local port
 * in the kernel's ephemeral range was picked for a connect. Anything else
 * (a closed listener, a client that bound a service port, tables that
 * cannot be read) is ROLE_UNKNOWN, never a guess. */
static int adopted_role(const struct sockaddr_storage *local, socklen_t llen,
                        const struct sockaddr_storage *peer, socklen_t plen)
{
    (void)peer; /* its address is gone from a reset socket: only its length says it was named */
    if (local->ss_family == AF_UNIX) {
        size_t base = offsetof(struct sockaddr_un, sun_path);
        int lnamed = llen > base, pnamed = plen > base;
        if (lnamed != pnamed) return lnamed ? ROLE_SERVER : ROLE_CLIENT;
        return ROLE_UNKNOWN; /* a socketpair: neither end is named */
    }
    unsigned lo = 0, hi = 0, lp = addr_port(local);
    if (!lp) return ROLE_UNKNOWN;
    int listener = port_has_listener(lp);
    if (listener == 1) return ROLE_SERVER;
    if (listener == 0 && ephemeral_range(&lo, &hi) && lp >= lo && lp <= hi) return ROLE_CLIENT;
    return ROLE_UNKNOWN;
}

/* A reset on a socket we do not track (inherited, received by SCM_RIGHTS,
 * or created before we were loaded): adopt it so its failure is still
 * recorded, with what can be known. */
static void adopt_failed(int fd, unsigned op, int err)
{
    if (!conn_table_enabled() || guard_active() || !cause_is_reset_errno(err)) return;
    if (sandbox_filtered()) return; /* its getsockopts and getpeername: not under a filter */
    if (conn_is_live(conn_table_get(fd))) return; /* a mark: a socket not connected by us */
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    if (real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) return;
    len = sizeof domain;
    if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return;
    if (domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX) return;
    struct sockaddr_storage local, peer;
    socklen_t llen = sizeof local, plen = sizeof peer;
    memset(&local, 0, sizeof local);
    memset(&peer, 0, sizeof peer);
    if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0) llen = 0, local.ss_family = 0;
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) plen = 0, peer.ss_family = 0;
    int role = adopted_role(&local, llen, &peer, plen);
    uint64_t t = clock_now_ns();
    struct conn *c = conn_table_open(fd, domain, role, t);
    if (!c) return;
    c->ident = fdident_take(fd);
    c->flags |= CONN_ESTABLISHED;
    if (plen)
        conn_store_addr(&c->peer, role == ROLE_SERVER ? NULL : c->unix_path,
                        (struct sockaddr *)&peer, plen);
    if (llen && local.ss_family != AF_UNIX)
        conn_store_addr(&c->local, NULL, (struct sockaddr *)&local, llen);
    else if (llen && role == ROLE_SERVER)
        conn_store_addr(&c->local, c->unix_path, (struct sockaddr *)&local, llen);
    else if (llen)
        c->local.sa.sa_family = AF_UNIX;
    ring_push(&c->ring, op, -1, err, t);
    conn_failed(fd, c, op, err, t);
}

void watch_untracked_failed(int fd, unsigned op)
{
    int e = errno;
    adopt_failed(fd, op, e);
    errno = e;
}

/* ---- output ------------------------------------------------------------------ */

/* A call that blocked may complete after another thread closed its fd and the
 * connection's memory went to a new connection (its id changes then): such an
 * orphaned completion must not touch the new connection, record, or replay. */
#define ORPHANED(c, id0) __builtin_expect((c)->id != (id0), 0)
/* One test on the fast path for every rare case after a call: orphaned, retry
 * on, or the protocol still being sniffed (conn_table.h conn_slow_update). */
#define RARE_AFTER_CALL(c, id0) ((((c)->id ^ (id0)) | (c)->slow) != 0)

/* A send-family call on fd: untracked -> the plain call (adopting the fd if it
 * fails with a reset); tracked -> the call with MSG_NOSIGNAL (nosignal_flag()),
 * accounted, and on EPIPE the record first and then the SIGPIPE the app would
 * have had. */
#define OUT_CALL(op, untracked_call, tracked_call, app_flags, iov, iovcnt)                         \
    do {                                                                                           \
        if (guard_active()) return (ssize_t)(untracked_call);                                      \
        uint64_t t0 = io_begin(fd, c), id0 = c->id;                                                \
        int inj = inject_io(fd, c, 1);                                                             \
        ssize_t r = inj ? -1 : (ssize_t)(tracked_call);                                            \
        int err = inj ? -inj : r < 0 ? errno : 0; /* success leaves errno alone */                 \
        if (__builtin_expect(RARE_AFTER_CALL(c, id0), 0)) {                                        \
            if (ORPHANED(c, id0)) goto out_done;                                                   \
            if (c->retry && err != EFAULT) /* EFAULT: bad app memory */                            \
                r = retry_after_out(fd, c, op, (iov), (iovcnt), r, &err);                          \
            if (ORPHANED(c, id0)) goto out_done; /* ended while retry asked the fd */              \
            SNIFF(c, 1, (iov), (iovcnt), r);                                                       \
        }                                                                                          \
        HTTP_CONTINUES(c, (iov), (iovcnt), r);                                                     \
        io_end(fd, c, op, 1, r, err, t0);                                                          \
    out_done:                                                                                      \
        if (r < 0) {                                                                               \
            if (err == EPIPE && !((app_flags)&MSG_NOSIGNAL)) raise_sigpipe(fd);                    \
            errno = err;                                                                           \
        }                                                                                          \
        return r;                                                                                  \
    } while (0)

/* MSG_NOSIGNAL, or 0 under a seccomp filter (no zero-byte send to raise the
 * signal again: the app's own flags go out and the kernel sends it). */
static inline int nosignal_flag(void)
{
    return __atomic_load_n(&sandbox_nosignal, __ATOMIC_RELAXED);
}

ssize_t watch_send(int fd, struct conn *c, const void *b, size_t n, int fl)
{
    /* the iovec is built only on the rare path that looks at the bytes */
    OUT_CALL(OP_SEND, real_send(fd, b, n, fl), real_send(fd, b, n, fl | nosignal_flag()), fl,
             (&(struct iovec){(void *)b, n}), 1);
}

ssize_t watch_sendto(int fd, struct conn *c, const void *b, size_t n, int fl,
                     const struct sockaddr *sa, socklen_t len)
{
    OUT_CALL(OP_SENDTO, real_sendto(fd, b, n, fl, sa, len),
             real_sendto(fd, b, n, fl | nosignal_flag(), sa, len), fl,
             (&(struct iovec){(void *)b, n}), 1);
}

ssize_t watch_sendmsg(int fd, struct conn *c, const struct msghdr *m, int fl)
{
    /* m may be bad: the kernel answers EFAULT; we must not touch it first. */
    OUT_CALL(OP_SENDMSG, real_sendmsg(fd, m, fl), real_sendmsg(fd, m, fl | nosignal_flag()), fl,
             m ? m->msg_iov : NULL, m ? (int)m->msg_iovlen : 0);
}

/* sendmmsg/recvmmsg return a message count; the timeline wants the bytes:
 * the sum of msg_len over the r messages moved (or r itself, an error). */
static ssize_t mmsg_bytes(const struct mmsghdr *v, int r)
{
    ssize_t bytes = 0;
    for (int i = 0; i < r; i++)
        bytes += v[i].msg_len;
    return r > 0 ? bytes : r;
}

/* sendmmsg() keeps the app's flags: when a later message meets a dead peer
 * after earlier ones went out, the kernel reports that EPIPE only through
 * SIGPIPE (the call returns the count sent), so MSG_NOSIGNAL plus a re-raise
 * could not give the same signal. A program killed by it leaves no record. */
int watch_sendmmsg(int fd, struct conn *c, struct mmsghdr *v, unsigned int n, int fl)
{
    if (guard_active()) return real_sendmmsg(fd, v, n, fl);
    uint64_t t0 = io_begin(fd, c), id0 = c->id;
    int r = real_sendmmsg(fd, v, n, fl);
    int err = errno;
    if (!ORPHANED(c, id0)) {
        ssize_t bytes = mmsg_bytes(v, r);
        if (c->retry) retry_out_unbuffered(c, bytes, err); /* several messages: no replay */
        io_end(fd, c, OP_SENDMMSG, 1, bytes, err, t0);
    }
    errno = err;
    return r;
}

/* Connections where a write may meet EPIPE (and its SIGPIPE) that the shim
 * can foresee: our own shutdown(SHUT_WR), the peer's FIN read by the app or
 * seen in a TCP_INFO snapshot. */
#define CONN_PIPE_RISK (CONN_SHUT_WR | CONN_PEER_FIN | CONN_PEER_CLOSING)

struct pipe_hold {
    sigset_t old;
    int held, was_pending;
};

/* Blocks SIGPIPE for this thread around a write that may meet EPIPE, so the
 * record comes first (rare: only on CONN_PIPE_RISK connections, never under a
 * filter). Three system calls: the mask, and whether one is pending already. */
static __attribute__((noinline)) void pipe_hold(struct pipe_hold *h)
{
    h->held = 0;
    if (sandbox_filtered()) return;
    sigset_t pipe_set, pend;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_set, &h->old) != 0) return;
    h->held = 1;
    sigemptyset(&pend);
    sigpending(&pend);
    h->was_pending = sigismember(&pend, SIGPIPE);
}

/* Ends pipe_hold: the kernel's SIGPIPE for a call whose EPIPE the app will
 * not see (a replay answered it) is consumed; the mask is restored, which
 * delivers the kernel's own signal, with its siginfo, as bare. */
static __attribute__((noinline)) void pipe_release(struct pipe_hold *h, int got_epipe,
                                                   int app_sees_epipe)
{
    if (!h->held) return;
    int saved = errno;
    if (got_epipe && !app_sees_epipe && !h->was_pending) {
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &h->old, NULL);
    errno = saved;
}

/* The body of WRITE_CALL; HELD is a constant: 1 in the instance for a
 * connection where EPIPE can be foreseen (SIGPIPE held around the call), 0
 * in the hot one, which then has no trace of the hold. */
#define WRITE_BODY(op, call, iov, iovcnt, HELD)                                                    \
    do {                                                                                           \
        __label__ write_done;                                                                      \
        uint64_t t0 = io_begin(fd, c), id0 = c->id;                                                \
        struct pipe_hold hold = {.held = 0};                                                       \
        if (HELD) pipe_hold(&hold);                                                                \
        int inj = inject_io(fd, c, 1);                                                             \
        ssize_t r = inj ? -1 : (call);                                                             \
        int err = inj ? -inj : r < 0 ? errno : 0;                                                  \
        int got_epipe = HELD && r < 0 && err == EPIPE;                                             \
        if (__builtin_expect(RARE_AFTER_CALL(c, id0), 0)) {                                        \
            if (ORPHANED(c, id0)) goto write_done;                                                 \
            if (c->retry && err != EFAULT)                                                         \
                r = retry_after_out(fd, c, op, (iov), (iovcnt), r, &err);                          \
            if (ORPHANED(c, id0)) goto write_done; /* ended while retry asked the fd */            \
            SNIFF(c, 1, (iov), (iovcnt), r);                                                       \
        }                                                                                          \
        HTTP_CONTINUES(c, (iov), (iovcnt), r);                                                     \
        io_end(fd, c, op, 1, r, err, t0);                                                          \
    write_done:                                                                                    \
        if (HELD && hold.held) pipe_release(&hold, got_epipe, r < 0 && err == EPIPE);              \
        if (r < 0) errno = err;                                                                    \
        return r;                                                                                  \
    } while (0)

/* write() and writev() on a tracked socket: the same system call, accounted. */
#define WRITE_CALL(op, call, iov, iovcnt)                                                          \
    do {                                                                                           \
        if (guard_active()) return (call);                                                         \
        if (__builtin_expect(c->flags & CONN_PIPE_RISK, 0)) WRITE_BODY(op, call, iov, iovcnt, 1);  \
        WRITE_BODY(op, call, iov, iovcnt, 0);                                                      \
    } while (0)

ssize_t watch_write(int fd, struct conn *c, const void *b, size_t n)
{
    WRITE_CALL(OP_WRITE, real_write(fd, b, n), (&(struct iovec){(void *)b, n}), 1);
}

ssize_t watch_writev(int fd, struct conn *c, const struct iovec *v, int n)
{
    WRITE_CALL(OP_WRITEV, real_writev(fd, v, n), v, n > 0 ? n : 0);
}

/* sendfile() takes no flags either: the same as write(). */
ssize_t watch_sendfile(int out, int in, off_t *off, size_t n, enum call_variant v)
{
    struct conn *c = live_conn(out);
    if (!c) {
        ssize_t r =
            v == CALL_SIBLING ? real_sendfile64(out, in, off, n) : real_sendfile(out, in, off, n);
        if (__builtin_expect(r < 0, 0)) watch_untracked_failed(out, OP_SENDFILE);
        return r;
    }
    uint64_t t0 = io_begin(out, c), id0 = c->id;
    struct pipe_hold hold = {.held = 0};
    if (__builtin_expect(c->flags & CONN_PIPE_RISK, 0)) pipe_hold(&hold);
    ssize_t r =
        v == CALL_SIBLING ? real_sendfile64(out, in, off, n) : real_sendfile(out, in, off, n);
    int err = errno;
    if (!ORPHANED(c, id0)) {
        if (c->retry) retry_out_unbuffered(c, r, err); /* bytes the replay buffer never saw */
        io_end(out, c, OP_SENDFILE, 1, r, err, t0);
    }
    if (hold.held) pipe_release(&hold, r < 0 && err == EPIPE, r < 0 && err == EPIPE);
    errno = err;
    return r;
}

/* splice() moves bytes between a pipe and a socket without the app's buffers:
 * accounted as output (to a socket) or input (from one), never buffered for a
 * replay. The kernel's SIGPIPE comes before any record (splice takes no
 * MSG_NOSIGNAL), so a program killed by it leaves none. */
ssize_t watch_splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t n, unsigned int fl)
{
    struct conn *co = live_conn(out), *ci = co ? NULL : live_conn(in);
    if (!co && !ci) {
        ssize_t r = real_splice(in, off_in, out, off_out, n, fl);
        if (__builtin_expect(r < 0, 0)) { /* one of the two may be a socket we never saw */
            watch_untracked_failed(out, OP_SPLICE);
            watch_untracked_failed(in, OP_SPLICE);
        }
        return r;
    }
    struct conn *c = co ? co : ci;
    int fd = co ? out : in;
    uint64_t t0 = io_begin(fd, c), id0 = c->id;
    ssize_t r = real_splice(in, off_in, out, off_out, n, fl);
    int err = errno;
    if (!ORPHANED(c, id0)) {
        if (co && c->retry) retry_out_unbuffered(c, r, err);
        if (!co && c->retry) retry_in_unbuffered(c, r, err);
        io_end(fd, c, OP_SPLICE, co != NULL, r, r < 0 ? err : 0, t0);
    }
    errno = err;
    return r;
}

/* ---- input ------------------------------------------------------------------- */

/* The bytes a read asked for: a read of zero bytes returns 0 without any
 * FIN (and without touching a pending error), so it says nothing about the
 * connection. Only evaluated after the call returned 0, so the kernel has
 * already read the iovec array. */
static size_t iov_total(const struct iovec *v, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].iov_len;
    return total;
}

/* want: the bytes asked for, evaluated only when the call returned 0. */
#define IN_CALL(op, call_expr, iov, iovcnt, want)                                                  \
    do {                                                                                           \
        if (guard_active()) return (ssize_t)(call_expr);                                           \
        uint64_t t0 = io_begin(fd, c), id0 = c->id;                                                \
        int inj = inject_io(fd, c, 0);                                                             \
        ssize_t r = inj ? -1 : (ssize_t)(call_expr);                                               \
        int err = inj ? -inj : r < 0 ? errno : 0;                                                  \
        if (__builtin_expect(r == 0, 0) && (want) == 0)                                            \
            return 0; /* nothing asked, nothing said */                                            \
        if (__builtin_expect(RARE_AFTER_CALL(c, id0), 0)) {                                        \
            while (!ORPHANED(c, id0) && c->retry &&                                                \
                   (r = retry_after_in(fd, c, op, r, &err)) == RETRY_REISSUE) {                    \
                inj = inject_io(fd, c, 0);                                                         \
                r = inj ? -1 : (ssize_t)(call_expr);                                               \
                err = inj ? -inj : r < 0 ? errno : 0;                                              \
            }                                                                                      \
            if (ORPHANED(c, id0)) {                                                                \
                if (r < 0) errno = err;                                                            \
                return r;                                                                          \
            }                                                                                      \
            SNIFF(c, 0, iov, iovcnt, r);                                                           \
        }                                                                                          \
        io_end(fd, c, op, 0, r, err, t0);                                                          \
        if (r < 0) errno = err;                                                                    \
        return r;                                                                                  \
    } while (0)

ssize_t watch_recv(int fd, struct conn *c, void *b, size_t n, int fl)
{
    IN_CALL(OP_RECV, real_recv(fd, b, n, fl), (&(struct iovec){b, n}), !(fl & MSG_PEEK), n);
}

ssize_t watch_recv_chk(int fd, struct conn *c, void *b, size_t n, size_t bl, int fl)
{
    IN_CALL(OP_RECV, real___recv_chk(fd, b, n, bl, fl), (&(struct iovec){b, n}), !(fl & MSG_PEEK),
            n);
}

ssize_t watch_recvfrom(int fd, struct conn *c, void *b, size_t n, int fl, struct sockaddr *sa,
                       socklen_t *len)
{
    IN_CALL(OP_RECVFROM, real_recvfrom(fd, b, n, fl, sa, len), (&(struct iovec){b, n}),
            !(fl & MSG_PEEK), n);
}

ssize_t watch_recvfrom_chk(int fd, struct conn *c, void *b, size_t n, size_t bl, int fl,
                           struct sockaddr *sa, socklen_t *len)
{
    IN_CALL(OP_RECVFROM, real___recvfrom_chk(fd, b, n, bl, fl, sa, len), (&(struct iovec){b, n}),
            !(fl & MSG_PEEK), n);
}

ssize_t watch_recvmsg(int fd, struct conn *c, struct msghdr *m, int fl)
{
    IN_CALL(OP_RECVMSG, real_recvmsg(fd, m, fl), m ? m->msg_iov : NULL,
            m && !(fl & MSG_PEEK) ? m->msg_iovlen : 0, iov_total(m->msg_iov, m->msg_iovlen));
}

int watch_recvmmsg(int fd, struct conn *c, struct mmsghdr *v, unsigned int n, int fl,
                   struct timespec *tmo)
{
    if (guard_active()) return real_recvmmsg(fd, v, n, fl, tmo);
    uint64_t t0 = io_begin(fd, c), id0 = c->id;
    int r = real_recvmmsg(fd, v, n, fl, tmo);
    int err = errno;
    /* No message, or one of zero bytes asked: no FIN in that (see IN_CALL). */
    int nothing = r == 0 || (r > 0 && v[0].msg_len == 0 &&
                             iov_total(v[0].msg_hdr.msg_iov, v[0].msg_hdr.msg_iovlen) == 0);
    if (!ORPHANED(c, id0) && !nothing) io_end(fd, c, OP_RECVMMSG, 0, mmsg_bytes(v, r), err, t0);
    if (!ORPHANED(c, id0) && c->retry && r != 0 && !(r > 0 && nothing))
        retry_in_unbuffered(c, r < 0 ? r : (ssize_t)v[0].msg_len, err);
    errno = err;
    return r;
}

ssize_t watch_read(int fd, struct conn *c, void *b, size_t n)
{
    IN_CALL(OP_READ, real_read(fd, b, n), (&(struct iovec){b, n}), 1, n);
}

ssize_t watch_read_chk(int fd, struct conn *c, void *b, size_t n, size_t bl)
{
    IN_CALL(OP_READ, real___read_chk(fd, b, n, bl), (&(struct iovec){b, n}), 1, n);
}

ssize_t watch_readv(int fd, struct conn *c, const struct iovec *v, int n)
{
    IN_CALL(OP_READV, real_readv(fd, v, n), v, n > 0 ? n : 0, iov_total(v, (size_t)n));
}
