// SPDX-License-Identifier: MIT
/* watch.c: the logic layer. For a tracked socket each call is: (rarely) a
 * TCP_INFO snapshot after an idle gap, the real call, one event into the
 * connection's ring, counters, and — only when the call failed with an error
 * worth a record — the record. Everything else is one table lookup and the
 * real call. errno is saved right after the real call and restored last.
 *
 * SIGPIPE: writes on tracked sockets go out with MSG_NOSIGNAL so the record
 * can be written before the signal; if the app did not ask for MSG_NOSIGNAL,
 * the same SIGPIPE is then raised at the same thread (same disposition, same
 * mask, same outcome as bare). */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "fdident.h"
#include "guard.h"
#include "inject.h"
#include "real.h"
#include "record.h"
#include "retry.h"
#include "sink.h"
#include "summary.h"
#include "tcpinfo.h"

struct options opt;
static pid_t shim_pid; /* our pid; refreshed in a fork child, NOT in a vfork child */

/* A vfork()/posix_spawn() child runs on its parent's memory until it execs:
 * whatever it closes must not be forgotten in the parent's table. One getpid
 * on the close of a tracked fd is the price. */
static int in_vfork_child(void)
{
    return (pid_t)syscall(SYS_getpid) != shim_pid;
}

/* ---- small helpers ---------------------------------------------------------- */

/* The connection behind fd if we should account for this call, else NULL. */
static inline struct conn *live_conn(int fd)
{
    struct conn *c = conn_table_get(fd);
    if (__builtin_expect(!conn_is_live(c), 1)) return NULL;
    return guard_active() ? NULL : c;
}

int watch_is_reset_errno(int err)
{
    return cause_is_reset_errno(err);
}

static int worth_a_record(int err)
{
    if (watch_is_reset_errno(err)) return 1;
    if (opt.record == RECORD_RESETS) return 0;
    switch (err) {
    case EAGAIN:
    case EINTR:
    case EINPROGRESS:
    case EALREADY:
    case EISCONN: return 0;
    default: return 1;
    }
}

static void raise_sigpipe(void)
{
    syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGPIPE);
}

static void store_addr(union sockaddr_any *dst, char *unix_path, const struct sockaddr *sa,
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

static void snapshot(int fd, struct conn *c, uint64_t now)
{
    tcpinfo_snap(fd, c, now);
}

static void mark_established(int fd, struct conn *c, uint64_t now)
{
    if (c->flags & CONN_CONNECTING) {
        c->flags &= ~CONN_CONNECTING;
        atomic_fetch_sub_explicit(&conn_connecting, 1, memory_order_relaxed);
        ring_push(&c->ring, OP_CONNECTED, 0, 0, now);
    }
    c->flags |= CONN_ESTABLISHED;
    snapshot(fd, c, now);
}

void watch_fill_local(int fd, struct conn *c)
{
    if (!c->local.sa.sa_family) { /* still bound after a reset: cheap to ask now */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_UNIX && c->role == ROLE_SERVER)
                store_addr(&c->local, c->unix_path, (struct sockaddr *)&ss, len);
            else if (ss.ss_family != AF_UNIX)
                store_addr(&c->local, NULL, (struct sockaddr *)&ss, len);
            else
                c->local.sa.sa_family = AF_UNIX;
        }
    }
}

/* Under the default RSTWATCH_RECORD=resets, normal life (an idle pooled
 * connection the peer closed, a write after our own shutdown) is counted by
 * the classifier instead of recorded (cause.h cause_count_instead). */
static int counted_instead(const struct conn *c, const struct record_info *ri)
{
    if (opt.record != RECORD_RESETS) return 0;
    struct cause_input in;
    record_cause_input(c, ri, &in);
    return cause_count_instead(&in);
}

int watch_conn_at(int fd, struct conn *c)
{
    if (fdident_same(fd, c->ident)) return 1;
    /* Closed behind our back (and maybe reused): forget it, never act on it. */
    guard_enter();
    conn_table_forget_if(fd, c);
    guard_leave();
    return 0;
}

/* watch_record() once the identity is known to hold. */
static int record_checked(int fd, struct conn *c, const struct record_info *ri)
{
    guard_enter();
    watch_fill_local(fd, c);
    int r = record_write(c, ri);
    guard_leave();
    return r;
}

int watch_record(int fd, struct conn *c, const struct record_info *ri)
{
    if (!watch_conn_at(fd, c)) return -ESTALE;
    return record_checked(fd, c, ri);
}

void watch_conn_failed(int fd, struct conn *c, unsigned op, int err, uint64_t now)
{
    if (atomic_load_explicit(&c->recorded, memory_order_relaxed)) return;
    if (!watch_conn_at(fd, c)) return;
    if (atomic_exchange(&c->recorded, 1)) return; /* one record per connection */
    struct record_info ri = {
        .type = watch_is_reset_errno(err) ? "reset" : "error",
        .fd = fd,
        .op = op,
        .err = err,
        .now_ns = now,
    };
    if (!counted_instead(c, &ri)) record_checked(fd, c, &ri);
}

/* The peer closed the connection right where the response to our request was
 * due: the quiet form of a stale keep-alive or of a server that gave up on the
 * request ("Remote end closed connection without response", "socket hang up",
 * "Empty reply from server"). No errno, but worth the same record. Also the
 * path of an idle close, which the classifier counts instead. */
static void eof_where_response_due(int fd, struct conn *c, unsigned op, uint64_t now)
{
    if (atomic_load_explicit(&c->recorded, memory_order_relaxed)) return;
    if (!watch_conn_at(fd, c)) return;
    if (atomic_exchange(&c->recorded, 1)) return;
    struct record_info ri = {.type = "eof", .fd = fd, .op = op, .eof = 1, .now_ns = now};
    if (!counted_instead(c, &ri)) record_checked(fd, c, &ri);
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
    else if (after_handshake)
        c->dir = DIR_NONE;
}

/* One compare on the fast path (plain HTTP and other protocols are settled);
 * iov and iovcnt are evaluated only when the stream is still watched. */
#define SNIFF(c, out, iov, iovcnt, r)                                                              \
    do {                                                                                           \
        if (__builtin_expect((c)->sniff.proto < PROTO_SETTLED, 0))                                 \
            sniff_slow((c), (out), (iov), (size_t)(iovcnt), (r));                                  \
    } while (0)

/* A TLS peer that closed an idle keep-alive connection sent its close_notify
 * before its FIN: a client that reused the connection reads that alert where
 * the response was due. Only trusted when a snapshot taken as the request
 * began shows the peer's FIN already in. */
static int tls_alert_before_request(const struct conn *c)
{
    return c->exchanges > 1 && c->dir == DIR_IN &&
           cause_tls_not_a_response(c->sniff.proto, c->exchanges, c->exchange_resp) &&
           c->tcp.t_ns && c->tcp.t_ns <= c->t_exchange &&
           c->tcp.t_ns + c->idle_before >= c->t_exchange &&
           (c->tcp.state == 8 /* CLOSE_WAIT */ || c->tcp.state == 9 /* LAST_ACK */);
}

/* A fresh TLS 1.3 connection whose first request got only what may be
 * session tickets, then a FIN after a long silence: a server that gave up (or
 * an idle close after a short response; the classifier says it cannot tell). */
static int tls_silence_after_tickets(const struct conn *c, uint64_t t)
{
    return c->exchanges == 1 && c->dir == DIR_IN &&
           cause_tls_not_a_response(c->sniff.proto, c->exchanges, c->exchange_resp) &&
           t - c->t_last >= CAUSE_IDLE_CLOSE_MIN_MS * 1000000ull;
}

/* The first EOF read on c (cold: once per connection, kept out of io_end). */
static __attribute__((noinline)) void peer_fin_read(int fd, struct conn *c, unsigned op, uint64_t t)
{
    c->flags |= CONN_PEER_FIN;
    int due = c->dir == DIR_OUT || tls_alert_before_request(c) || tls_silence_after_tickets(c, t);
    /* Keep a snapshot taken when this request began: it shows the
     * connection as it was before the peer's FIN was read. */
    if (!(due && c->tcp.t_ns && c->tcp.t_ns >= c->t_exchange)) snapshot(fd, c, t);
    /* A response was due: on a reused connection the quiet stale
     * keep-alive, on a fresh one a server that gave up or died
     * ("Empty reply from server"). Not after our own shutdown(SHUT_WR):
     * then the peer's FIN may be the whole, expected answer. */
    if (c->role == ROLE_CLIENT && c->exchanges >= 1 && !(c->flags & CONN_SHUT_WR) && due)
        eof_where_response_due(fd, c, op, t);
    else if (c->role == ROLE_CLIENT && c->dir == DIR_IN && c->exchanges &&
             t - c->t_last >= CAUSE_IDLE_CLOSE_MIN_MS * 1000000ull)
        eof_where_response_due(fd, c, op, t); /* an idle close: counted, see cause.h */
}

/* The end of every I/O call on a tracked connection. out: bytes flowed out. */
static inline __attribute__((always_inline)) void io_end(int fd, struct conn *c, unsigned op,
                                                         int out, ssize_t r, int err, uint64_t t0)
{
    uint64_t t = clock_now_ns();
    if (__builtin_expect((c->flags & CONN_CONNECTING) && r >= 0, 0)) mark_established(fd, c, t);
    ring_push(&c->ring, op, r < 0 ? -1 : r, r < 0 ? err : 0, t);
    if (r > 0) {
        /* A client's requests flow out, a server's flow in. */
        int request = (c->role == ROLE_SERVER) ? !out : out;
        if (request) {
            if (c->dir != DIR_OUT) {
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
        if (request && c->dir != DIR_OUT && err != EAGAIN && err != EINTR &&
            !(c->sniff.proto == PROTO_TLS && !c->sniff.app_seen)) { /* TLS: still handshaking */
            c->exchanges++;
            c->idle_before = t0 > c->t_last ? t0 - c->t_last : 0;
            c->t_exchange = t0;
            c->resp_before_write = c->exchange_resp;
            c->exchange_resp = 0;
            c->dir = DIR_OUT;
        }
        if (worth_a_record(err)) watch_conn_failed(fd, c, op, err, t);
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
    snapshot(fd, c, now);
    return now;
}

/* A reset on a socket we do not track (inherited, or created before we were
 * loaded): adopt it so its failure is still recorded, with what can be known. */
static void adopt_failed(int fd, unsigned op, int err)
{
    if (!conn_table_enabled() || guard_active() || !watch_is_reset_errno(err)) return;
    if (conn_table_get(fd)) return;
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    if (real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) return;
    len = sizeof domain;
    if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return;
    if (domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX) return;
    uint64_t t = clock_now_ns();
    struct conn *c = conn_table_open(fd, domain, ROLE_CLIENT, t);
    if (!c) return;
    c->ident = fdident_take(fd);
    c->flags |= CONN_ESTABLISHED;
    struct sockaddr_storage ss;
    len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        store_addr(&c->peer, c->unix_path, (struct sockaddr *)&ss, len);
    ring_push(&c->ring, op, -1, err, t);
    watch_conn_failed(fd, c, op, err, t);
}

void watch_untracked_failed(int fd, unsigned op)
{
    int e = errno;
    adopt_failed(fd, op, e);
    errno = e;
}

/* ---- init ------------------------------------------------------------------- */

static const char *env_get(const char *name)
{
    return getenv(name);
}

static void on_last_close(struct conn *c)
{
    /* A TLS client (OpenSSL) stops at the peer's close_notify and never reads
     * the FIN after it: a reused connection whose request got only that alert
     * is a stale keep-alive, recorded when the app closes it. */
    if (c->role == ROLE_CLIENT && tls_alert_before_request(c) &&
        !atomic_exchange(&c->recorded, 1)) {
        struct record_info ri = {.type = "eof",
                                 .fd = (int)c->close_fd,
                                 .op = OP_CLOSE,
                                 .eof = 1,
                                 .now_ns = clock_now_ns()};
        if (!counted_instead(c, &ri)) record_write(c, &ri);
    }
    if (opt.record == RECORD_ALL && !atomic_exchange(&c->recorded, 1)) {
        struct record_info ri = {
            .type = "close", .fd = (int)c->close_fd, .op = OP_CLOSE, .now_ns = clock_now_ns()};
        record_write(c, &ri);
    }
    retry_forget(c);
    summary_poll(); /* a summary period that ended since the last record */
}

static void atfork_prepare(void)
{
    conn_table_atfork_prepare();
}

static void atfork_parent(void)
{
    conn_table_atfork_parent();
    retry_after_fork();
}

static void atfork_child(void)
{
    shim_pid = (pid_t)syscall(SYS_getpid);
    conn_table_atfork_child();
    sink_atfork_child();
    retry_after_fork();
}

void watch_init(void)
{
    if (getauxval(AT_SECURE)) return;
    clock_init(); /* set-uid/set-gid: stay inert, trust no env */
    options_load(&opt, env_get, sink_warn);
    if (opt.disabled) return;
    shim_pid = (pid_t)syscall(SYS_getpid);
    sink_configure(opt.log);
    conn_on_last_close = on_last_close;
    retry_init();
    inject_init();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    if (conn_table_init(opt.events) < 0) sink_warn("cannot reserve the fd table; not recording");
}

void watch_fini(void)
{
    if (!conn_table_enabled() || opt.record != RECORD_ALL || guard_active()) return;
    /* Connections whose fd was closed where no hook could see it (libuv and
     * BIND close with a raw system call) and whose number was never reused
     * would otherwise end without their close record. */
    unsigned top = conn_table_max_fd();
    for (unsigned fd = 0; fd <= top && fd < CONN_SLOT_CAP; fd++) {
        struct conn *c = conn_table_get((int)fd);
        if (conn_is_live(c) && !fdident_same((int)fd, c->ident)) {
            guard_enter();
            conn_table_forget_if((int)fd, c);
            guard_leave();
        }
    }
}

/* ---- creation and teardown --------------------------------------------------- */

int watch_socket(int domain, int type, int proto)
{
    int fd = real_socket(domain, type, proto);
    /* Under the guard (a signal handler interrupting the shim on this thread)
     * the table may be mid-update by this very thread: leave it alone. */
    if (fd < 0 || !conn_table_enabled() || guard_active()) return fd;
    if ((type & 0xf) == SOCK_STREAM &&
        (domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX)) {
        int saved = errno;
        conn_table_mark(fd, CONN_MARK(domain));
        retry_note_socket(fd, domain, type, proto);
        errno = saved;
    } else if (conn_table_get(fd)) {
        conn_table_mark(fd, NULL); /* a stale entry from a close we did not see */
    }
    return fd;
}

/* Turns the mark at fd into a client connection to sa. */
static struct conn *open_client(int fd, struct conn *mark, const struct sockaddr *sa, socklen_t len)
{
    struct conn *c = conn_table_open(fd, CONN_MARK_FAMILY(mark), ROLE_CLIENT, clock_now_ns());
    if (!c) return NULL;
    c->ident = fdident_take(fd);
    store_addr(&c->peer, c->unix_path, sa, len);
    if (c->family == AF_UNIX) c->local.sa.sa_family = AF_UNIX;
    retry_attach(fd, c);
    return c;
}

/* Accounts for a connect() outcome (r, err) on c. */
static void connect_outcome(int fd, struct conn *c, int r, int err)
{
    uint64_t t = clock_now_ns();
    if (r == 0 || err == EISCONN) {
        ring_push(&c->ring, OP_CONNECT, r, r ? err : 0, t);
        mark_established(fd, c, t);
        return;
    }
    ring_push(&c->ring, OP_CONNECT, -1, err, t);
    if (err == EINPROGRESS) {
        if (!(c->flags & CONN_CONNECTING)) {
            c->flags |= CONN_CONNECTING;
            atomic_fetch_add_explicit(&conn_connecting, 1, memory_order_relaxed);
        }
        return;
    }
    if (err == EALREADY || err == EINTR || err == EAGAIN) return;
    if (c->flags & CONN_CONNECTING) {
        c->flags &= ~CONN_CONNECTING;
        atomic_fetch_sub_explicit(&conn_connecting, 1, memory_order_relaxed);
    }
    if (worth_a_record(err)) watch_conn_failed(fd, c, OP_CONNECT, err, t);
}

int watch_connect_once(int fd, struct conn *c, const struct sockaddr *sa, socklen_t len, int *err)
{
    if (inject_connect(fd, c, err)) return -1;
    int r = real_connect(fd, sa, len);
    *err = errno;
    return r;
}

/* Copies the app's address into *out without trusting the pointer: a bad one
 * must give the app the kernel's EFAULT, not a crash in the shim. Returns the
 * bytes copied, or 0 when the memory is not readable. */
static socklen_t copy_app_addr(const struct sockaddr *sa, socklen_t len,
                               struct sockaddr_storage *out)
{
    size_t n = len < sizeof *out ? len : sizeof *out;
    memset(out, 0, sizeof *out);
    if (!sa || n < sizeof(sa_family_t)) return 0;
    struct iovec local = {out, n}, remote = {(void *)sa, n};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (got == (ssize_t)n) return (socklen_t)n;
    if (got < 0 && errno == EFAULT) return 0;
    memcpy(out, sa, n); /* process_vm_readv refused (seccomp, old kernel): trust it */
    return (socklen_t)n;
}

int watch_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct conn *c = conn_table_get(fd);
    if (!c || guard_active() || !sa) return real_connect(fd, sa, len);
    int saved = errno;
    struct sockaddr_storage copy;
    socklen_t clen = copy_app_addr(sa, len, &copy);
    errno = saved;
    if (!clen || copy.ss_family == AF_UNSPEC) return real_connect(fd, sa, len);
    const struct sockaddr *peer = (const struct sockaddr *)&copy;
    if (conn_is_live(c) && !watch_conn_at(fd, c)) return real_connect(fd, sa, len);
    if (!conn_is_live(c)) {
        c = open_client(fd, c, peer, clen);
    } else if (!c->peer.sa.sa_family) { /* opened at socket() for retry: now we know the peer */
        store_addr(&c->peer, c->unix_path, peer, clen);
        c->t_create = c->t_last = clock_now_ns();
        retry_attach(fd, c);
    }
    if (!c) return real_connect(fd, sa, len);
    int r, err;
    if (retry_wants_connect(c)) {
        r = retry_connect(fd, c, sa, len, &err); /* each attempt may be injected */
    } else {
        r = watch_connect_once(fd, c, sa, len, &err);
    }
    connect_outcome(fd, c, r, err);
    errno = err;
    return r;
}

int watch_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    int r = real_bind(fd, sa, len);
    if (r == 0 && conn_table_enabled()) {
        int saved = errno;
        retry_note_bind(fd, sa, len);
        errno = saved;
    }
    return r;
}

/* Learns the family of a listener we did not see created (inherited from
 * systemd or an nginx re-exec) and marks it; 0 when it is not ours to watch. */
static int learn_listener(int fd)
{
    int type = 0, family = 0;
    socklen_t sl = sizeof type;
    if (real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 || type != SOCK_STREAM) return 0;
    sl = sizeof family;
    if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &sl) < 0) return 0;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) return 0;
    conn_table_mark(fd, CONN_MARK(family));
    return family;
}

int watch_accept(int fd, struct sockaddr *sa, socklen_t *len, int flags, enum call_variant v)
{
    if (!conn_table_enabled() || guard_active())
        return v == CALL_SIBLING ? real_accept4(fd, sa, len, flags) : real_accept(fd, sa, len);
    /* An app that wants no address (accept(fd, NULL, NULL)) lends the kernel
     * our buffer instead: the peer's address at no extra system call. An app
     * buffer is never read by us: its capacity is unknown after the call. */
    struct sockaddr_storage own;
    socklen_t own_len = sizeof own;
    int use_own = sa == NULL;
    struct sockaddr *ksa = use_own ? (struct sockaddr *)&own : sa;
    socklen_t *klen = use_own ? &own_len : len;
    int r = v == CALL_SIBLING ? real_accept4(fd, ksa, klen, flags) : real_accept(fd, ksa, klen);
    if (r < 0) return r;
    int saved = errno;
    struct conn *l = conn_table_get(fd);
    int family;
    if (conn_is_mark(l)) {
        family = CONN_MARK_FAMILY(l);
    } else if (!l) {
        family = learn_listener(fd);
        if (!family) goto out;
    } else {
        /* accept() on something we thought was a connection: it is a listener now */
        family = l->family;
        conn_table_mark(fd, CONN_MARK(family));
    }
    uint64_t t = clock_now_ns();
    struct conn *c = conn_table_open(r, family, ROLE_SERVER, t);
    if (!c) goto out;
    c->ident = fdident_take(r);
    c->flags |= CONN_ESTABLISHED;
    if (family == AF_UNIX) {
        c->peer.sa.sa_family = AF_UNIX; /* a unix client is nearly always unnamed */
    } else if (use_own) {
        store_addr(&c->peer, NULL, (struct sockaddr *)&own, own_len);
    } else {
        socklen_t sl = sizeof own;
        if (getpeername(r, (struct sockaddr *)&own, &sl) == 0)
            store_addr(&c->peer, NULL, (struct sockaddr *)&own, sl);
    }
    ring_push(&c->ring, OP_ACCEPT, r, 0, t);
out:
    errno = saved;
    return r;
}

/* Forgets every other fd that still points at c but is no longer its socket
 * (closed behind our back). One getsockopt per such fd; only connections
 * that were dup'd ever get here. */
static void forget_stale_twins(struct conn *c)
{
    unsigned top = conn_table_max_fd();
    for (unsigned j = 0; j <= top && j < CONN_SLOT_CAP; j++)
        if (conn_table_get((int)j) == c && !fdident_same((int)j, c->ident)) {
            guard_enter();
            conn_table_forget_if((int)j, c);
            guard_leave();
        }
}

/* The first half of closing a tracked fd: the slot is emptied before the real
 * close, so a socket() racing in another thread cannot be clobbered. Returns
 * the connection to hand to close_end(), or NULL. */
static struct conn *close_begin(int fd)
{
    struct conn *c = conn_table_take(fd);
    if (!conn_is_live(c)) return NULL;
    /* Another fd of this connection may have been closed where no hook saw
     * it: forget those first, so that this close is seen as the last one. */
    if (atomic_load_explicit(&c->refs, memory_order_relaxed) > 1 && !guard_active())
        forget_stale_twins(c);
    if (atomic_load_explicit(&c->refs, memory_order_relaxed) == 1) {
        ring_push(&c->ring, OP_CLOSE, 0, 0, clock_now_ns());
        c->close_fd = (uint64_t)fd;
        /* Its close record is written after the fd is gone: learn the local
         * address while it can still be asked. */
        if (!c->recorded && (opt.record == RECORD_ALL || tls_alert_before_request(c)))
            watch_fill_local(fd, c);
    }
    return c;
}

static void close_end(struct conn *c)
{
    int saved = errno;
    /* Under the guard (a signal handler interrupting the shim) the pool lock may
     * be held by this very thread: leak the connection rather than deadlock. */
    if (!guard_active()) conn_release(c);
    errno = saved;
}

int watch_close(int fd)
{
    if (__builtin_expect(!conn_table_get(fd), 1) || in_vfork_child()) return real_close(fd);
    struct conn *c = close_begin(fd);
    int r = real_close(fd);
    if (c) close_end(c);
    return r;
}

/* fclose() of a FILE over a tracked socket closes the fd inside libc, where
 * close() is never called: forget it here, as close() would. */
int watch_fclose(FILE *f)
{
    int fd = f ? fileno_unlocked(f) : -1;
    if (__builtin_expect(fd < 0 || !conn_table_get(fd), 1) || in_vfork_child())
        return real_fclose(f);
    struct conn *c = close_begin(fd);
    int r = real_fclose(f);
    if (c) close_end(c);
    return r;
}

/* stdio reads and writes a socket through libc's internal calls, which no
 * hook sees: such a connection's bytes are not all known, so it is never
 * replayed. */
FILE *watch_fdopen(int fd, const char *mode)
{
    FILE *f = real_fdopen(fd, mode);
    if (f && conn_table_enabled()) {
        struct conn *c = conn_table_get(fd);
        if (conn_is_live(c)) c->flags |= CONN_STDIO;
    }
    return f;
}

int watch_shutdown(int fd, int how)
{
    struct conn *c = live_conn(fd);
    int r = real_shutdown(fd, how);
    if (!c) return r;
    int err = errno;
    ring_push(&c->ring, OP_SHUTDOWN, r < 0 ? -1 : how, r < 0 ? err : 0, clock_now_ns());
    if (r == 0 && how != SHUT_RD) c->flags |= CONN_SHUT_WR;
    errno = err;
    return r;
}

/* ---- output ------------------------------------------------------------------ */

/* A call that blocked may complete after another thread closed its fd and the
 * connection's memory went to a new connection (its id changes then): such an
 * orphaned completion must not touch the new connection, record, or replay. */
#define ORPHANED(c, id0) __builtin_expect((c)->id != (id0), 0)
/* One test on the fast path for both rare cases after a call: orphaned, or retry on. */
#define RARE_AFTER_CALL(c, id0) ((((c)->id ^ (id0)) | (uintptr_t)(c)->retry) != 0)

/* A send-family call on fd: untracked -> the plain call (adopting the fd if it
 * fails with a reset); tracked -> the call with MSG_NOSIGNAL, accounted, and
 * on EPIPE the record first and then the SIGPIPE the app would have had. */
#define OUT_CALL(op, untracked_call, tracked_call, app_flags, iov, iovcnt)                         \
    do {                                                                                           \
        if (guard_active()) return (ssize_t)(untracked_call);                                      \
        uint64_t t0 = io_begin(fd, c), id0 = c->id;                                                \
        int inj = inject_io(fd, c, 1);                                                             \
        ssize_t r = inj ? -1 : (ssize_t)(tracked_call);                                            \
        int err = inj ? inj : r < 0 ? errno : 0; /* success leaves errno alone */                  \
        if (__builtin_expect(RARE_AFTER_CALL(c, id0), 0)) {                                        \
            if (ORPHANED(c, id0)) goto out_done;                                                   \
            if (c->retry && err != EFAULT) /* EFAULT: bad app memory */                            \
                r = retry_after_out(fd, c, op, (iov), (iovcnt), r, &err);                          \
        }                                                                                          \
        SNIFF(c, 1, (iov), (iovcnt), r);                                                           \
        io_end(fd, c, op, 1, r, err, t0);                                                          \
    out_done:                                                                                      \
        if (r < 0) {                                                                               \
            if (err == EPIPE && !((app_flags)&MSG_NOSIGNAL)) raise_sigpipe();                      \
            errno = err;                                                                           \
        }                                                                                          \
        return r;                                                                                  \
    } while (0)

ssize_t watch_send(int fd, struct conn *c, const void *b, size_t n, int fl)
{
    struct iovec one = {(void *)b, n};
    OUT_CALL(OP_SEND, real_send(fd, b, n, fl), real_send(fd, b, n, fl | MSG_NOSIGNAL), fl, &one, 1);
}

ssize_t watch_sendto(int fd, struct conn *c, const void *b, size_t n, int fl,
                     const struct sockaddr *sa, socklen_t len)
{
    struct iovec one = {(void *)b, n};
    OUT_CALL(OP_SENDTO, real_sendto(fd, b, n, fl, sa, len),
             real_sendto(fd, b, n, fl | MSG_NOSIGNAL, sa, len), fl, &one, 1);
}

ssize_t watch_sendmsg(int fd, struct conn *c, const struct msghdr *m, int fl)
{
    /* m may be bad: the kernel answers EFAULT; we must not touch it first. */
    OUT_CALL(OP_SENDMSG, real_sendmsg(fd, m, fl), real_sendmsg(fd, m, fl | MSG_NOSIGNAL), fl,
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

/* write() on a stream socket is send(flags 0); we add MSG_NOSIGNAL. If the fd
 * turned out not to be a socket (closed behind our back and reused), forget
 * it and do the plain write. */
ssize_t watch_write(int fd, struct conn *c, const void *b, size_t n)
{
    if (guard_active()) return real_write(fd, b, n);
    uint64_t t0 = io_begin(fd, c), id0 = c->id;
    int inj = inject_io(fd, c, 1);
    ssize_t r = inj ? -1 : real_send(fd, b, n, MSG_NOSIGNAL);
    int err = inj ? inj : errno;
    if (r < 0 && err == ENOTSOCK) {
        conn_table_forget_if(fd, c);
        errno = err;
        return real_write(fd, b, n);
    }
    if (__builtin_expect(RARE_AFTER_CALL(c, id0), 0)) {
        if (ORPHANED(c, id0)) goto done;
        if (c->retry) {
            struct iovec one = {(void *)b, n};
            r = retry_after_out(fd, c, OP_WRITE, &one, 1, r, &err);
        }
    }
    SNIFF(c, 1, (&(struct iovec){(void *)b, n}), 1, r);
    io_end(fd, c, OP_WRITE, 1, r, err, t0);
done:
    if (r < 0 && err == EPIPE) raise_sigpipe();
    errno = err;
    return r;
}

ssize_t watch_writev(int fd, struct conn *c, const struct iovec *v, int n)
{
    /* An iovec count sendmsg() could judge differently goes to writev() as is. */
    if (guard_active() || n <= 0 || n > IOV_MAX) return real_writev(fd, v, n);
    uint64_t t0 = io_begin(fd, c), id0 = c->id;
    struct msghdr m = {.msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)n};
    int inj = inject_io(fd, c, 1);
    ssize_t r = inj ? -1 : real_sendmsg(fd, &m, MSG_NOSIGNAL);
    int err = inj ? inj : errno;
    if (r < 0 && err == ENOTSOCK) {
        conn_table_forget_if(fd, c);
        return real_writev(fd, v, n);
    }
    if (!ORPHANED(c, id0)) {
        if (c->retry) r = retry_after_out(fd, c, OP_WRITEV, v, n, r, &err);
        SNIFF(c, 1, v, n, r);
        io_end(fd, c, OP_WRITEV, 1, r, err, t0);
    }
    if (r < 0 && err == EPIPE) raise_sigpipe();
    errno = err;
    return r;
}

/* Is SIGPIPE's disposition SIG_IGN? Asked of the kernel at most once a second
 * (apps set it once, at start-up), so sendfile() pays no extra system call. */
static int sigpipe_ignored(void)
{
    static _Atomic uint64_t checked_at;
    static _Atomic int ignored;
    uint64_t now = clock_now_ns();
    if (now - atomic_load_explicit(&checked_at, memory_order_relaxed) > 1000000000ull) {
        struct sigaction sa;
        if (sigaction(SIGPIPE, NULL, &sa) == 0)
            atomic_store_explicit(&ignored, sa.sa_handler == SIG_IGN, memory_order_relaxed);
        atomic_store_explicit(&checked_at, now, memory_order_relaxed);
    }
    return atomic_load_explicit(&ignored, memory_order_relaxed);
}

/* sendfile() cannot take MSG_NOSIGNAL: unless SIGPIPE is ignored, block it
 * around the call so the record is written first, then raise it as the kernel
 * would have (a SIGPIPE already pending before the call is left alone). */
ssize_t watch_sendfile(int out, int in, off_t *off, size_t n, enum call_variant v)
{
    struct conn *c = live_conn(out);
    if (!c)
        return v == CALL_SIBLING ? real_sendfile64(out, in, off, n)
                                 : real_sendfile(out, in, off, n);
    int guard_signal = !sigpipe_ignored();
    sigset_t pipe_set, old;
    int was_pending = 0;
    if (guard_signal) {
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
        sigset_t pend;
        sigpending(&pend);
        was_pending = sigismember(&pend, SIGPIPE);
    }
    uint64_t t0 = io_begin(out, c), id0 = c->id;
    ssize_t r =
        v == CALL_SIBLING ? real_sendfile64(out, in, off, n) : real_sendfile(out, in, off, n);
    int err = errno;
    if (guard_signal) {
        if (r < 0 && err == EPIPE && !was_pending) {
            struct timespec zero = {0, 0};
            sigtimedwait(&pipe_set, NULL, &zero); /* consume the kernel's SIGPIPE */
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (!ORPHANED(c, id0)) {
        if (c->retry) retry_out_unbuffered(c, r, err); /* bytes the replay buffer never saw */
        io_end(out, c, OP_SENDFILE, 1, r, err, t0);
    }
    if (guard_signal && r < 0 && err == EPIPE) raise_sigpipe();
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
    if (!co && !ci) return real_splice(in, off_in, out, off_out, n, fl);
    struct conn *c = co ? co : ci;
    int fd = co ? out : in;
    uint64_t t0 = io_begin(fd, c), id0 = c->id;
    ssize_t r = real_splice(in, off_in, out, off_out, n, fl);
    int err = errno;
    if (!ORPHANED(c, id0)) {
        if (co && c->retry) retry_out_unbuffered(c, r, err);
        io_end(fd, c, OP_SPLICE, co != NULL, r, r < 0 ? err : 0, t0);
    }
    errno = err;
    return r;
}

/* ---- input ------------------------------------------------------------------- */

#define IN_CALL(op, call_expr, iov, iovcnt)                                                        \
    do {                                                                                           \
        if (guard_active()) return (ssize_t)(call_expr);                                           \
        uint64_t t0 = io_begin(fd, c), id0 = c->id;                                                \
        int inj = inject_io(fd, c, 0);                                                             \
        ssize_t r = inj ? -1 : (ssize_t)(call_expr);                                               \
        int err = inj ? inj : r < 0 ? errno : 0;                                                   \
        if (__builtin_expect(RARE_AFTER_CALL(c, id0), 0)) {                                        \
            while (!ORPHANED(c, id0) && c->retry &&                                                \
                   (r = retry_after_in(fd, c, op, r, &err)) == RETRY_REISSUE) {                    \
                inj = inject_io(fd, c, 0);                                                         \
                r = inj ? -1 : (ssize_t)(call_expr);                                               \
                err = inj ? inj : r < 0 ? errno : 0;                                               \
            }                                                                                      \
            if (ORPHANED(c, id0)) {                                                                \
                if (r < 0) errno = err;                                                            \
                return r;                                                                          \
            }                                                                                      \
        }                                                                                          \
        SNIFF(c, 0, iov, iovcnt, r);                                                               \
        io_end(fd, c, op, 0, r, err, t0);                                                          \
        if (r < 0) errno = err;                                                                    \
        return r;                                                                                  \
    } while (0)

ssize_t watch_recv(int fd, struct conn *c, void *b, size_t n, int fl)
{
    IN_CALL(OP_RECV, real_recv(fd, b, n, fl), (&(struct iovec){b, n}), !(fl & MSG_PEEK));
}

ssize_t watch_recv_chk(int fd, struct conn *c, void *b, size_t n, size_t bl, int fl)
{
    IN_CALL(OP_RECV, real___recv_chk(fd, b, n, bl, fl), (&(struct iovec){b, n}), !(fl & MSG_PEEK));
}

ssize_t watch_recvfrom(int fd, struct conn *c, void *b, size_t n, int fl, struct sockaddr *sa,
                       socklen_t *len)
{
    IN_CALL(OP_RECVFROM, real_recvfrom(fd, b, n, fl, sa, len), (&(struct iovec){b, n}),
            !(fl & MSG_PEEK));
}

ssize_t watch_recvfrom_chk(int fd, struct conn *c, void *b, size_t n, size_t bl, int fl,
                           struct sockaddr *sa, socklen_t *len)
{
    IN_CALL(OP_RECVFROM, real___recvfrom_chk(fd, b, n, bl, fl, sa, len), (&(struct iovec){b, n}),
            !(fl & MSG_PEEK));
}

ssize_t watch_recvmsg(int fd, struct conn *c, struct msghdr *m, int fl)
{
    IN_CALL(OP_RECVMSG, real_recvmsg(fd, m, fl), m ? m->msg_iov : NULL,
            m && !(fl & MSG_PEEK) ? m->msg_iovlen : 0);
}

int watch_recvmmsg(int fd, struct conn *c, struct mmsghdr *v, unsigned int n, int fl,
                   struct timespec *tmo)
{
    if (guard_active()) return real_recvmmsg(fd, v, n, fl, tmo);
    uint64_t t0 = io_begin(fd, c), id0 = c->id;
    int r = real_recvmmsg(fd, v, n, fl, tmo);
    int err = errno;
    if (!ORPHANED(c, id0)) io_end(fd, c, OP_RECVMMSG, 0, mmsg_bytes(v, r), err, t0);
    errno = err;
    return r;
}

ssize_t watch_read(int fd, struct conn *c, void *b, size_t n)
{
    IN_CALL(OP_READ, real_read(fd, b, n), (&(struct iovec){b, n}), 1);
}

ssize_t watch_read_chk(int fd, struct conn *c, void *b, size_t n, size_t bl)
{
    IN_CALL(OP_READ, real___read_chk(fd, b, n, bl), (&(struct iovec){b, n}), 1);
}

ssize_t watch_readv(int fd, struct conn *c, const struct iovec *v, int n)
{
    IN_CALL(OP_READV, real_readv(fd, v, n), v, n > 0 ? n : 0);
}

/* ---- fd plumbing -------------------------------------------------------------- */

int watch_dup(int fd)
{
    int r = real_dup(fd);
    if (r >= 0 && conn_table_enabled()) {
        int saved = errno;
        conn_table_dup(fd, r);
        errno = saved;
    }
    return r;
}

int watch_dup3(int fd, int nfd, int fl, enum call_variant v)
{
    int r = v == CALL_PLAIN ? real_dup2(fd, nfd) : real_dup3(fd, nfd, fl);
    if (r >= 0 && conn_table_enabled() && fd != nfd &&
        (conn_table_get(fd) || conn_table_get(nfd)) && !in_vfork_child()) {
        int saved = errno;
        /* The kernel closed what nfd was: if that was the last real fd of a
         * dup'd connection, its other slots are stale and must go first. */
        struct conn *old = conn_table_get(nfd);
        if (conn_is_live(old) && atomic_load_explicit(&old->refs, memory_order_relaxed) > 1 &&
            !guard_active())
            forget_stale_twins(old);
        conn_table_dup(fd, r);
        errno = saved;
    }
    return r;
}

int watch_fcntl(int fd, int cmd, void *arg, enum call_variant v)
{
    int r = v == CALL_SIBLING ? real_fcntl64(fd, cmd, arg) : real_fcntl(fd, cmd, arg);
    if (r < 0 || !conn_table_enabled()) return r;
    int saved = errno;
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
        conn_table_dup(fd, r);
    } else if (cmd == F_SETFL) {
        retry_note_fl(fd, (int)(intptr_t)arg);
    }
    errno = saved;
    return r;
}

int watch_ioctl(int fd, unsigned long req, void *arg)
{
    int r = real_ioctl(fd, req, arg);
    if (r == 0 && req == FIONBIO && conn_table_enabled() && arg) {
        int on = *(int *)arg;
        retry_note_fl(fd, on ? O_NONBLOCK : 0);
    }
    return r;
}

int watch_close_range(unsigned lo, unsigned hi, int fl)
{
    int r = real_close_range(lo, hi, fl);
    if (r == 0 && conn_table_enabled() && !(fl & CLOSE_RANGE_CLOEXEC) && lo <= hi &&
        !in_vfork_child()) {
        int saved = errno;
        conn_table_forget_range(lo, hi);
        errno = saved;
    }
    return r;
}

void watch_closefrom(int lo)
{
    real_closefrom(lo);
    if (conn_table_enabled() && lo >= 0 && !in_vfork_child()) {
        int saved = errno;
        conn_table_forget_range((unsigned)lo, ~0u);
        errno = saved;
    }
}

/* ---- options and readiness ------------------------------------------------------ */

int watch_getsockopt(int fd, int lv, int nm, void *v, socklen_t *len)
{
    int r = real_getsockopt(fd, lv, nm, v, len);
    if (r < 0 || lv != SOL_SOCKET || nm != SO_ERROR || !v || !len || *len < sizeof(int)) return r;
    struct conn *c = live_conn(fd);
    if (!c) return r;
    int saved = errno;
    int so_error = *(int *)v;
    uint64_t t = clock_now_ns();
    if (so_error == 0) {
        if ((c->flags & CONN_CONNECTING) && c->family != AF_UNIX) {
            snapshot(fd, c, t);
            if (c->tcp.state == 1 /* ESTABLISHED */) mark_established(fd, c, t);
        }
    } else {
        int connecting = (c->flags & CONN_CONNECTING) != 0;
        retry_connect_settled(c); /* the app holds the error: too late to retry */
        ring_push(&c->ring, OP_SOCKOPT_ERROR, -1, so_error, t);
        if (connecting) {
            c->flags &= ~CONN_CONNECTING;
            atomic_fetch_sub_explicit(&conn_connecting, 1, memory_order_relaxed);
        }
        if (worth_a_record(so_error))
            watch_conn_failed(fd, c, connecting ? OP_CONNECT : OP_SOCKOPT_ERROR, so_error, t);
    }
    errno = saved;
    return r;
}

int watch_setsockopt(int fd, int lv, int nm, const void *v, socklen_t len)
{
    int r = real_setsockopt(fd, lv, nm, v, len);
    if (r < 0 || !conn_table_enabled()) return r;
    int saved = errno;
    struct conn *c = live_conn(fd);
    if (c && lv == SOL_SOCKET && nm == SO_LINGER && v && len >= sizeof(struct linger)) {
        const struct linger *l = v;
        if (l->l_onoff && l->l_linger == 0)
            c->flags |= CONN_LINGER0;
        else
            c->flags &= ~CONN_LINGER0;
    }
    retry_note_sockopt(fd, lv, nm, v, len);
    errno = saved;
    return r;
}

int watch_poll(struct pollfd *p, nfds_t n, int tmo, const struct timespec *ts, const sigset_t *m,
               enum call_variant v)
{
    int r = retry_poll(p, n, tmo, ts, m, v);
    if (r <= 0 || !atomic_load_explicit(&conn_connecting, memory_order_relaxed)) return r;
    int saved = errno;
    for (nfds_t i = 0; i < n; i++) {
        if (!(p[i].revents & POLLOUT) || (p[i].revents & (POLLERR | POLLHUP))) continue;
        struct conn *c = live_conn(p[i].fd);
        if (c && (c->flags & CONN_CONNECTING)) mark_established(p[i].fd, c, clock_now_ns());
    }
    errno = saved;
    return r;
}

int watch_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    int r = real_epoll_ctl(ep, op, fd, ev);
    if (r == 0 && conn_table_enabled()) {
        int saved = errno;
        retry_note_epoll(ep, op, fd, ev);
        errno = saved;
    }
    return r;
}

int watch_epoll_wait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m,
                     enum call_variant v)
{
    return retry_epoll_wait(ep, ev, n, tmo, m, v);
}
