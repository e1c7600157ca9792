// SPDX-License-Identifier: MIT
/* sockets.c: the socket lifecycle and the fd plumbing of the logic layer
 * (watch.h): socket/connect/bind/accept, close and shutdown, stdio's
 * fdopen/fclose, the dup/fcntl family, close_range/closefrom, the socket
 * options the shim observes, and poll/epoll readiness. Connections are opened
 * here (and only adopted in io.c) and end here, on the close of their last
 * fd. See docs/design.md "The shim's layers" and docs/design.md "State". */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "conn_event.h"
#include "fdident.h"
#include "handoff.h"
#include "inject.h"
#include "listener.h"
#include "real.h"
#include "record.h"
#include "retry.h"
#include "retry_state.h"
#include "sandbox.h"
#include "sink.h"
#include "sockdiag.h"
#include "summary.h"
#include "tcpinfo.h"

/* The program closed a client connection whose request had no answer, and
 * the kernel still held data unacknowledged or had retransmitted it: its own
 * timeout gave up (local_timeout), or after a long idle a middlebox had lost
 * the connection (path_state_lost). Counted or recorded as cause.h says. */
static void record_gave_up(struct conn *c)
{
    struct record_info ri = {.type = "close",
                             .fd = (int)c->close_fd,
                             .op = OP_CLOSE,
                             .judged = 1,
                             .now_ns = clock_now_ns()};
    struct cause_input in;
    record_cause_input(c, &ri, &in);
    enum cause_code code = cause_rules[cause_classify(&in)].code;
    if (code != CAUSE_LOCAL_TIMEOUT && code != CAUSE_PATH_STATE_LOST) return;
    if (atomic_exchange(&c->recorded, 1)) return;
    if (!conn_counted_instead(c, &ri)) record_write(c, &ri);
}

/* A socket shared with a fork()ed process ends with its last holder
 * (docs/design.md "Never hurt the host"): a forking server's listener
 * closes its copy of each accepted connection at once, and that close is not
 * the connection's end. Asked of the kernel after this process's close
 * (sockdiag.h); when it cannot tell, the record is written, as before. */
static int maybe_shared(const struct conn *c)
{
    return retry_conn_shared(c) || (c->flags & CONN_HANDED);
}

static int held_elsewhere(const struct conn *c)
{
    /* Only a copy this process never used (the forking server's parent, or
     * one that passed it by SCM_RIGHTS), in a process of one thread: a call
     * still blocked on the socket in another thread holds it too, which the
     * kernel cannot tell apart. */
    if (!maybe_shared(c) || c->calls_in || c->calls_out) return 0;
    /* A holder that used it (the child that served it) wrote its record:
     * whoever closes last, there is no second one. */
    struct handoff_entry e;
    if (handoff_find(c->ident, &e) && e.kind == HANDOFF_ENDED) return 1;
    if (sockdiag_threads() != 1) return 0;
    return sockdiag_still_held(c, c->shared_ino) == 1;
}

static void on_last_close(struct conn *c)
{
    if (c->flags & CONN_GAVE_UP) record_gave_up(c);
    /* A TLS client (OpenSSL) stops at the peer's close_notify and never reads
     * the FIN after it: a reused connection whose request got only that alert
     * is a stale keep-alive, recorded when the app closes it. */
    if (c->role == ROLE_CLIENT && conn_tls_alert_before_request(c) &&
        !atomic_exchange(&c->recorded, 1)) {
        struct record_info ri = {.type = "eof",
                                 .fd = (int)c->close_fd,
                                 .op = OP_CLOSE,
                                 .eof = 1,
                                 .now_ns = clock_now_ns()};
        if (!conn_counted_instead(c, &ri)) record_write(c, &ri);
    }
    /* A socket that never connected (retry keeps one from socket() on, for
     * its recipe; a listener, an unused socket) is no connection to record. */
    int connected = c->role == ROLE_SERVER || c->peer.sa.sa_family != 0;
    if (conn_record_all() && connected && !atomic_load(&c->recorded) && held_elsewhere(c)) {
        /* not this process's end: the last holder writes the record */
    } else if (conn_record_all() && connected && !atomic_exchange(&c->recorded, 1)) {
        struct record_info ri = {
            .type = "close", .fd = (int)c->close_fd, .op = OP_CLOSE, .now_ns = clock_now_ns()};
        record_write(c, &ri);
        if (maybe_shared(c)) handoff_publish(c, HANDOFF_ENDED); /* for the other holders */
    }
    retry_forget(c);
    summary_poll(); /* a summary period that ended since the last record */
}

/* A connection that existed at a fork got its one record here: the other
 * holders (sharing a server's table) must not write a second at their end. */
static void on_recorded(const struct conn *c)
{
    if (maybe_shared(c)) handoff_publish(c, HANDOFF_ENDED);
}

void sockets_init(void)
{
    conn_on_last_close = on_last_close;
    conn_on_recorded = on_recorded;
}

void sockets_exit_sweep(void)
{
    if (!conn_table_enabled() || !conn_record_all() || guard_active()) return;
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

static void stdio_counts(int fd, struct conn *c);

/* At _exit, of a connection that existed at a fork (c, first found at fd):
 * does it end with this process? Only an accepted one (a forking server's
 * child serves it: exim's), in a server whose children share its table
 * (handoff.h) where no holder recorded it yet, and that no other process
 * still holds once this one's fds of it are closed (as the kernel is about
 * to) and the kernel asked. A forking client's child that used the
 * connection and exits while its parent keeps it leaves it to the parent.
 * When it ends here, every fd of it is forgotten at once. */
static int last_holder_at_exit(struct conn *c, unsigned fd, unsigned top)
{
    struct handoff_entry e;
    if (c->role != ROLE_SERVER || !handoff_enabled() || sockdiag_threads() != 1 ||
        (handoff_find(c->ident, &e) && e.kind == HANDOFF_ENDED))
        return 0;
    for (unsigned k = fd; k <= top && k < CONN_SLOT_CAP; k++)
        if (conn_table_get((int)k) == c) real_close((int)k);
    if (sockdiag_still_held(c, c->shared_ino) == 1) return 0;
    for (unsigned k = fd + 1; k <= top && k < CONN_SLOT_CAP; k++)
        if (conn_table_get((int)k) == c) conn_table_forget_if((int)k, c);
    return 1;
}

void sockets_end_with_process(void)
{
    if (!conn_table_enabled() || !conn_record_all() || guard_active() ||
        conn_table_in_vfork_child())
        return;
    /* _exit: the kernel is about to close every fd, and a forking server's
     * child (exim's) ends so with its connection open: it ends here, as the
     * kernel closes it. A copy held by another process is left to it
     * (held_elsewhere: a copy this process never used, still held). */
    unsigned top = conn_table_max_fd();
    for (unsigned fd = 0; fd <= top && fd < CONN_SLOT_CAP; fd++) {
        struct conn *c = conn_table_get((int)fd);
        if (!conn_is_live(c)) continue;
        guard_enter();
        int same = fdident_same((int)fd, c->ident);
        if (!same && maybe_shared(c)) { /* closed unseen before a fork: the parent's entry too */
            guard_leave();
            continue;
        }
        if (same && !c->recorded) {
            stdio_counts((int)fd, c);
            conn_fill_local((int)fd, c);
            if (c->family == AF_UNIX && maybe_shared(c)) {
                struct stat st;
                c->shared_ino = fstat((int)fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
            }
            if (maybe_shared(c) && !last_holder_at_exit(c, fd, top)) {
                atomic_store(&c->recorded, 1); /* this process's other fds of it: the same */
                guard_leave();
                continue;
            }
        }
        conn_table_forget_if((int)fd, c);
        guard_leave();
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
        if (retry_wants_socket(domain)) {
            struct conn *c = conn_table_open(fd, domain, ROLE_CLIENT, clock_now_ns());
            if (c) {
                c->ident = fdident_take(fd);
                retry_note_socket(c, domain, type, proto);
            }
        }
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
    conn_store_addr(&c->peer, c->unix_path, sa, len);
    if (c->family == AF_UNIX) c->local.sa.sa_family = AF_UNIX;
    retry_attach(fd, c);
    return c;
}

/* Accounts for a connect() outcome on c: 0 or -errno. */
static void connect_outcome(int fd, struct conn *c, int rc)
{
    uint64_t t = clock_now_ns();
    int err = -rc;
    if (rc == 0 || err == EISCONN) {
        ring_push(&c->ring, OP_CONNECT, rc ? -1 : 0, err, t);
        conn_mark_established(fd, c, t);
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
    if (conn_worth_a_record(err)) conn_failed(fd, c, OP_CONNECT, err, t);
}

/* Copies the app's address into *out without trusting the pointer: a bad one
 * must give the app the kernel's EFAULT, not a crash in the shim. Returns the
 * bytes copied, or 0 when the memory is not readable. Only where the peer is
 * needed before the call (retry, injection); one process_vm_readv, none
 * under a filter (then the pointer is trusted). */
static socklen_t copy_app_addr(const struct sockaddr *sa, socklen_t len,
                               struct sockaddr_storage *out)
{
    size_t n = len < sizeof *out ? len : sizeof *out;
    memset(out, 0, sizeof *out);
    if (!sa || n < sizeof(sa_family_t)) return 0;
    if (sandbox_filtered()) {
        memcpy(out, sa, n);
        return (socklen_t)n;
    }
    struct iovec local = {out, n}, remote = {(void *)sa, n};
    ssize_t got = process_vm_readv(sandbox_pid(), &local, 1, &remote, 1, 0);
    if (got == (ssize_t)n) return (socklen_t)n;
    if (got < 0 && errno == EFAULT) return 0;
    memcpy(out, sa, n); /* process_vm_readv refused (seccomp, old kernel): trust it */
    return (socklen_t)n;
}

/* connect() with neither retry nor injection: the real call first, then the
 * address copied from the app's argument, which the kernel has just read
 * (anything but EFAULT proves it readable): no extra system call. */
static int connect_plain(int fd, struct conn *mark, const struct sockaddr *sa, socklen_t len)
{
    int saved = errno;
    int rc = real_connect(fd, sa, len);
    int err = rc < 0 ? errno : saved;
    if (rc < 0 && (err == EFAULT || err == EBADF || err == ENOTSOCK)) return rc;
    if (len < sizeof(sa_family_t) || sa->sa_family == AF_UNSPEC) return rc;
    struct sockaddr_storage copy;
    size_t n = len < sizeof copy ? len : sizeof copy;
    memcpy(&copy, sa, n);
    struct conn *c = open_client(fd, mark, (const struct sockaddr *)&copy, (socklen_t)n);
    if (c) connect_outcome(fd, c, rc < 0 ? -err : 0);
    errno = err;
    return rc;
}

int watch_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct conn *c = conn_table_get(fd);
    if (!c || guard_active() || !sa) return real_connect(fd, sa, len);
    if (conn_is_mark(c) && !retry_enabled() && !inject_enabled)
        return connect_plain(fd, c, sa, len);
    int saved = errno;
    struct sockaddr_storage copy;
    socklen_t clen = copy_app_addr(sa, len, &copy);
    errno = saved;
    if (!clen || copy.ss_family == AF_UNSPEC) return real_connect(fd, sa, len);
    const struct sockaddr *peer = (const struct sockaddr *)&copy;
    if (conn_is_live(c) && !conn_at(fd, c)) return real_connect(fd, sa, len);
    if (!conn_is_live(c)) {
        c = open_client(fd, c, peer, clen);
    } else if (!c->peer.sa.sa_family) { /* opened at socket() for retry: now we know the peer */
        conn_store_addr(&c->peer, c->unix_path, peer, clen);
        c->t_create = c->t_last = clock_now_ns();
        retry_attach(fd, c);
    }
    if (!c) {
        errno = saved;
        return real_connect(fd, sa, len);
    }
    /* each attempt may be injected (inject.h) */
    uint64_t id0 = c->id;
    int rc = retry_wants_connect(c) ? retry_connect(fd, c, sa, len)
                                    : inject_connect_attempt(fd, c, sa, len);
    if (c->id == id0) connect_outcome(fd, c, rc); /* else a retry found fd closed behind us */
    errno = rc < 0 ? -rc : saved;
    return rc < 0 ? -1 : 0;
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
    if (sandbox_filtered()) return 0; /* two getsockopts: not under a filter */
    int type = 0, family = 0;
    socklen_t sl = sizeof type;
    if (real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 || type != SOCK_STREAM) return 0;
    sl = sizeof family;
    if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &sl) < 0) return 0;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) return 0;
    conn_table_mark(fd, CONN_MARK(family));
    return family;
}

/* accept() on fd failed for want of a file descriptor: a record about the
 * listener (conn_event.h). Only for a socket known to be a stream listener
 * of ours; errno preserved. */
static __attribute__((noinline)) void accept_out_of_fds(int fd, int err)
{
    int saved = errno;
    struct conn *l = conn_table_get(fd);
    int family = conn_is_mark(l) ? CONN_MARK_FAMILY(l) : l ? l->family : learn_listener(fd);
    if (family) conn_accept_failed(fd, family, err, clock_now_ns());
    errno = saved;
}

/* A program keeps accept's *len in its own frame, which lies in the stack
 * just above the shim's: a pointer into this many bytes above the shim's
 * frame is read at once; any other through the kernel. */
#define APP_LEN_STACK_BAND (16 * 1024)

/* The app's *len before accept(), without trusting the pointer: a bad one
 * must give the app the kernel's EFAULT, as bare, not a crash in the shim.
 * Read at once when it points into the stack just above the shim's frame (no
 * system call), else with one process_vm_readv (none under a filter). 1 and
 * *out, or 0 when it could not be read. */
static __attribute__((noinline)) int app_len(const socklen_t *len, socklen_t *out)
{
    uintptr_t p = (uintptr_t)len, sp = (uintptr_t)__builtin_frame_address(0);
    if (p - sp < APP_LEN_STACK_BAND - sizeof *len) {
        *out = *len;
        return 1;
    }
    if (sandbox_filtered()) return 0;
    int saved = errno;
    struct iovec local = {out, sizeof *out}, remote = {(void *)len, sizeof *out};
    ssize_t got = process_vm_readv(sandbox_pid(), &local, 1, &remote, 1, 0);
    errno = saved;
    return got == (ssize_t)sizeof *out;
}

int watch_accept(int fd, struct sockaddr *sa, socklen_t *len, int flags, enum call_variant v)
{
    if (!conn_table_enabled() || guard_active())
        return v == CALL_SIBLING ? real_accept4(fd, sa, len, flags) : real_accept(fd, sa, len);
    /* An app that wants no address (accept(fd, NULL, NULL)) lends the kernel
     * our buffer instead: the peer's address at no extra system call. An app
     * buffer holds the address the kernel wrote, up to its capacity, *len
     * before the call (read only when the kernel will read it too: the app
     * passed both pointers; app_len). getpeername after the accept would
     * fail for a client that reset before it was accepted. */
    struct sockaddr_storage own;
    socklen_t own_len = sizeof own, cap = 0;
    int use_own = sa == NULL;
    int cap_known = !use_own && len && app_len(len, &cap);
    struct sockaddr *ksa = use_own ? (struct sockaddr *)&own : sa;
    socklen_t *klen = use_own ? &own_len : len;
    int r = v == CALL_SIBLING ? real_accept4(fd, ksa, klen, flags) : real_accept(fd, ksa, klen);
    if (r < 0) {
        if (errno == EMFILE || errno == ENFILE) accept_out_of_fds(fd, errno);
        return r;
    }
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
    handoff_ready(); /* once: before this server forks the processes it may hand sockets to */
    struct conn *c = conn_table_open(r, family, ROLE_SERVER, t);
    if (!c) goto out;
    c->ident = fdident_take(r);
    c->flags |= CONN_ESTABLISHED;
    if (family == AF_UNIX) {
        c->peer.sa.sa_family = AF_UNIX; /* a unix client is nearly always unnamed */
    } else if (use_own) {
        conn_store_addr(&c->peer, NULL, (struct sockaddr *)&own, own_len);
    } else if (cap_known && *len <= cap) { /* the whole address is in the app's buffer */
        conn_store_addr(&c->peer, NULL, sa, *len);
    } else if (!sandbox_filtered()) { /* truncated by a short buffer, or unknown: ask */
        socklen_t sl = sizeof own;
        if (getpeername(r, (struct sockaddr *)&own, &sl) == 0)
            conn_store_addr(&c->peer, NULL, (struct sockaddr *)&own, sl);
    }
    /* The listener's own address, when it is every accepted socket's: no
     * getsockname per connection (listener.h). */
    if (family != AF_UNIX) listener_local(fd, family, &c->local, sizeof c->local);
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

/* A client connection whose request is out and unanswered. */
static int awaiting_answer(const struct conn *c)
{
    return c->role == ROLE_CLIENT && c->exchanges && c->dir == DIR_OUT && c->exchange_resp == 0 &&
           c->t_last >= c->t_exchange && c->family != AF_UNIX;
}

/* Closing with the request unanswered: one TCP_INFO (the close path's only
 * extra call, on these connections alone) says whether the kernel was still
 * waiting for the request's acknowledgement. */
static __attribute__((noinline)) void gave_up_snapshot(int fd, struct conn *c)
{
    if (guard_active()) return;
    if (tcpinfo_snap(fd, c, clock_now_ns()) == 0 && c->tcp.unread == 0 &&
        (c->tcp.unacked || c->tcp.total_retrans))
        c->flags |= CONN_GAVE_UP;
}

/* A connection wrapped in a stdio stream (fdopen: exim's SMTP replies go
 * out through fprintf and fflush) moved bytes through libc's internal calls,
 * which no hook sees: at its end its counts come from the kernel (one
 * TCP_INFO, only for such a connection, only with a close record due). */
static void stdio_counts(int fd, struct conn *c)
{
    uint64_t sent, received;
    if (!(c->flags & CONN_STDIO) || tcpinfo_bytes(fd, c->family, &sent, &received) != 0) return;
    if (sent > c->bytes_out) c->bytes_out = sent;
    if (received > c->bytes_in) c->bytes_in = received;
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
         * address (and, for a unix socket shared across fork, the inode that
         * finds it again) while they can still be asked. */
        if (!c->recorded && awaiting_answer(c)) gave_up_snapshot(fd, c);
        if (!c->recorded && conn_record_all()) stdio_counts(fd, c);
        if (!c->recorded &&
            (conn_record_all() || conn_tls_alert_before_request(c) || (c->flags & CONN_GAVE_UP)))
            conn_fill_local(fd, c);
        if (!c->recorded && conn_record_all() && c->family == AF_UNIX && maybe_shared(c)) {
            struct stat st;
            c->shared_ino = fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
        }
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

/* After a close that freed a descriptor: records held for want of one
 * (sink.h) are written now. One load on the common path. */
static inline void fd_freed(int r)
{
    if (__builtin_expect(atomic_load_explicit(&sink_held, memory_order_relaxed) != 0, 0) &&
        r == 0 && !conn_table_in_vfork_child())
        sink_fd_freed();
}

int watch_close(int fd)
{
    if (__builtin_expect(!conn_table_get(fd), 1) || conn_table_in_vfork_child()) {
        int r = real_close(fd);
        fd_freed(r);
        return r;
    }
    struct conn *c = close_begin(fd);
    int r = real_close(fd);
    if (c) close_end(c);
    fd_freed(r);
    return r;
}

/* fclose() of a FILE over a tracked socket closes the fd inside libc, where
 * close() is never called: forget it here, as close() would. */
int watch_fclose(FILE *f)
{
    int fd = f ? fileno_unlocked(f) : -1;
    if (__builtin_expect(fd < 0 || !conn_table_get(fd), 1) || conn_table_in_vfork_child())
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
    /* What a shutdown marks changes how later calls are judged (a write
     * after our own SHUT_WR is no network failure, an EOF after SHUT_RD no
     * FIN), so it must be c's own socket, not a number that another socket
     * (a socketpair, say) took after an unseen close. Rare: one getsockopt. */
    if (conn_at(fd, c)) {
        ring_push(&c->ring, OP_SHUTDOWN, r < 0 ? -1 : how, r < 0 ? err : 0, clock_now_ns());
        if (r == 0 && how != SHUT_RD) c->flags |= CONN_SHUT_WR;
        if (r == 0 && how != SHUT_WR) c->flags |= CONN_SHUT_RD;
        if (r < 0 && err == ENOTCONN) retry_app_told(c); /* the app now knows it is gone */
    }
    errno = err;
    return r;
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
        (conn_table_get(fd) || conn_table_get(nfd)) && !conn_table_in_vfork_child()) {
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
        !conn_table_in_vfork_child()) {
        int saved = errno;
        conn_table_forget_range(lo, hi);
        errno = saved;
    }
    return r;
}

void watch_closefrom(int lo)
{
    real_closefrom(lo);
    if (conn_table_enabled() && lo >= 0 && !conn_table_in_vfork_child()) {
        int saved = errno;
        conn_table_forget_range((unsigned)lo, ~0u);
        errno = saved;
    }
}

/* ---- sockets passed between processes (SCM_RIGHTS) ------------------------------ */

/* Calls fn(fd) for each fd that m passed by SCM_RIGHTS. */
static void each_passed_fd(const struct msghdr *m, void (*fn)(int fd))
{
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR((struct msghdr *)m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *p = CMSG_DATA(h);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, p + i * sizeof fd, sizeof fd);
            fn(fd);
        }
    }
}

static void fd_sent(int fd)
{
    struct conn *c = conn_table_get(fd);
    if (!conn_is_live(c)) return;
    c->flags |= CONN_HANDED;
    handoff_publish(c, HANDOFF_PASSED);
}

void watch_fds_sent(const struct msghdr *m)
{
    if (!conn_table_enabled() || guard_active() || !handoff_enabled()) return;
    int saved = errno;
    each_passed_fd(m, fd_sent);
    errno = saved;
}

/* A socket the shim did not see created (inherited across exec, received
 * by SCM_RIGHTS) is marked with its family, as a socket seen created is, so
 * that the I/O hooks adopt it when a call on it fails (PASS_OR_ADOPT in
 * hooks.c); an fd whose slot is empty (a file, a pipe) goes straight to libc,
 * with no look at the result. One getsockopt, not under a filter. */
static void mark_foreign(int fd)
{
    if (conn_table_get(fd) || sandbox_filtered()) return;
    int family = 0;
    socklen_t sl = sizeof family;
    if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &sl) < 0) return;
    if (family == AF_INET || family == AF_INET6 || family == AF_UNIX)
        conn_table_mark(fd, CONN_MARK(family));
}

void watch_mark_inherited(void)
{
    if (!conn_table_enabled() || sandbox_filtered()) return;
    int saved = errno;
    int dir =
        (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) { /* no /proc: the standard three and the first few after them */
        for (int fd = 0; fd < 64; fd++)
            mark_foreign(fd);
        errno = saved;
        return;
    }
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            const char *name =
                buf + off + 19; /* struct linux_dirent64: ino 8, off 8, reclen 2, type 1 */
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof reclen);
            off += reclen ? reclen : n;
            char *end;
            long fd = strtol(name, &end, 10);
            if (*name >= '0' && *name <= '9' && !*end && fd != dir && fd < (long)CONN_SLOT_CAP)
                mark_foreign((int)fd);
        }
    }
    syscall(SYS_close, dir);
    errno = saved;
}

static void fd_received(int fd)
{
    if (conn_is_live(conn_table_get(fd))) return;
    if (!handoff_enabled()) {
        mark_foreign(fd);
        return;
    }
    uint64_t ident = fdident_take(fd);
    struct handoff_entry e;
    if (!handoff_find(ident, &e) || e.kind != HANDOFF_PASSED) {
        mark_foreign(fd);
        return;
    }
    struct conn *c = conn_table_open(fd, e.family, e.role, clock_now_ns());
    if (!c) return;
    c->ident = ident;
    c->flags |= CONN_ESTABLISHED;
    c->peer = e.peer;
    c->local = e.local;
}

void watch_fds_received(const struct msghdr *m)
{
    /* fstat or getsockopt of each received socket: not under a filter */
    if (!conn_table_enabled() || guard_active() || sandbox_filtered()) return;
    int saved = errno;
    guard_enter();
    each_passed_fd(m, fd_received);
    guard_leave();
    errno = saved;
}

/* ---- options and readiness ------------------------------------------------------ */

int watch_getsockopt(int fd, int lv, int nm, void *v, socklen_t *len)
{
    int r = real_getsockopt(fd, lv, nm, v, len);
    if (r < 0 || lv != SOL_SOCKET || nm != SO_ERROR || !v || !len || *len < sizeof(int)) return r;
    struct conn *c = live_conn(fd);
    if (!c) return r;
    int saved = errno;
    if (c->retry && *(int *)v == 0) {
        int owed = retry_take_stashed_error(c); /* the shim read it first (retry_state.h) */
        if (owed) *(int *)v = owed;
    }
    int so_error = *(int *)v;
    uint64_t t = clock_now_ns();
    if (so_error == 0) {
        if ((c->flags & CONN_CONNECTING) && c->family != AF_UNIX) {
            tcpinfo_snap(fd, c, t);
            if (c->tcp.state == 1 /* ESTABLISHED */) conn_mark_established(fd, c, t);
        }
    } else {
        int connecting = (c->flags & CONN_CONNECTING) != 0;
        retry_connect_settled(c); /* the app holds the error: too late to retry */
        retry_app_told(c);        /* ... or to replay */
        ring_push(&c->ring, OP_SOCKOPT_ERROR, -1, so_error, t);
        if (connecting) {
            c->flags &= ~CONN_CONNECTING;
            atomic_fetch_sub_explicit(&conn_connecting, 1, memory_order_relaxed);
        }
        if (conn_worth_a_record(so_error))
            conn_failed(fd, c, connecting ? OP_CONNECT : OP_SOCKOPT_ERROR, so_error, t);
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
    /* A listener made transparent accepts connections to any address. */
    if ((lv == SOL_IP && nm == IP_TRANSPARENT) || (lv == SOL_IPV6 && nm == IPV6_TRANSPARENT))
        listener_forget(fd);
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
        if (c && (c->flags & CONN_CONNECTING)) conn_mark_established(p[i].fd, c, clock_now_ns());
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
