// SPDX-License-Identifier: MIT
/* replay.c: the replay of idempotent requests (see retry.h, and
 * docs/design.md "Retry and replay"): the copy of the request being sent,
 * the rules that decide whether it may be sent again, and the bounded
 * replay on a replacement socket. A buffer holds exactly one complete
 * request or is invalid; every write path copies into it or invalidates it. */
#include "retry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "conn_event.h"
#include "guard.h"
#include "http_req.h"
#include "real.h"
#include "record.h"
#include "retry_state.h"
#include "sandbox.h"
#include "tcpinfo.h"

/* The whole replay (connect + send) inside one app call is bounded: a
 * blocking call waits at most this long, a non-blocking one (an event loop
 * that must not stall) far less; past it the app gets its original error. */
#define REPLAY_BLOCKING_MS 3000
#define REPLAY_NONBLOCKING_MS 250

/* r is what the app is handed: an EOF or an error other than "try again"
 * means it now knows this connection failed, and nothing sent on it later
 * may be replayed (it would mix requests across a failure the app saw). */
static ssize_t handed_to_app(struct retry_state *rs, ssize_t r, int err)
{
    if (r == 0 || (r < 0 && err != EAGAIN && err != EINTR)) rs->app_saw_failure = 1;
    return r;
}

/* A new request begins on c; its first bytes, if known, are first[0..n). */
static void request_begin(struct conn *c, const void *first, size_t n)
{
    struct retry_state *rs = c->retry;
    if (c->bytes_out == 0 && first && n && ((const unsigned char *)first)[0] == 0x16)
        rs->tls = 1; /* a TLS handshake record: never replayed */
    rs->req_len = 0;
    rs->req_incomplete = 0;
    rs->replayed = 0;
    if (rs->budget) atomic_fetch_add(&rs->budget->requests, 1);
}

/* Appends the n bytes that one output call sent from v[0..cnt) to the
 * current request (starting a new one if the last call was a read). */
static void retry_copy_outv(struct conn *c, const struct iovec *v, int cnt, size_t n)
{
    struct retry_state *rs = c->retry;
    if (c->dir != DIR_OUT) {
        const void *first = NULL;
        size_t first_len = 0;
        for (int i = 0; i < cnt && !first_len; i++)
            first = v[i].iov_base, first_len = v[i].iov_len;
        request_begin(c, first, first_len);
    }
    for (int i = 0; i < cnt && n; i++) {
        size_t part = v[i].iov_len < n ? v[i].iov_len : n;
        n -= part;
        if (!part) continue;
        if (!v[i].iov_base || part > rs->req_cap - rs->req_len) {
            rs->req_incomplete = 1;
            continue;
        }
        memcpy(rs->req + rs->req_len, v[i].iov_base, part);
        rs->req_len += part;
    }
}

void retry_out_unbuffered(struct conn *c, ssize_t r, int err)
{
    struct retry_state *rs = c->retry;
    if (!rs || (r < 0 && (err == EAGAIN || err == EINTR))) return;
    if (c->dir != DIR_OUT) request_begin(c, NULL, 0);
    rs->req_incomplete = 1;
    handed_to_app(rs, r < 0 ? r : 1, err);
}

void retry_in_unbuffered(struct conn *c, ssize_t r, int err)
{
    if (c->retry) handed_to_app(c->retry, r, err);
}

/* Bytes the kernel still holds for the app on fd (Linux keeps a reset
 * socket's receive queue): the end of an earlier response the app has not
 * read yet. A replay would drop them and hand the app the replay's answer in
 * their place. */
static int unread_bytes_queued(int fd)
{
    int n = 0;
    return real_ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* NULL if the buffered request may be replayed, else why not. */
static const char *replay_refusal(int fd, const struct conn *c, const struct retry_state *rs)
{
    if (c->role == ROLE_SERVER) return "server-side connection";
    if (rs->tls) return "TLS payload is never replayed";
    if (rs->replayed) return "the request was already replayed once";
    if (rs->app_saw_failure) return "the app already saw this connection fail";
    if (c->flags & CONN_STDIO)
        return "the socket is also used through stdio, whose bytes the shim cannot see";
    if (rs->req_incomplete || !rs->req_cap)
        return "the request is not fully buffered (too large, or sent via "
               "sendfile/splice/sendmmsg)";
    const char *why = http_req_single(rs->req, rs->req_len);
    if (!why)
        why = http_req_idempotent(rs->req, rs->req_len, (const char(*)[16])rs->rule->methods,
                                  rs->rule->nmethods);
    if (why) return why;
    if (retry_conn_shared(c))
        return "the socket is shared with a forked process, whose writes the shim cannot see";
    if (unread_bytes_queued(fd)) return "response bytes the app has not read are still queued";
    if (rs->budget) {
        uint32_t reqs = atomic_load(&rs->budget->requests),
                 done = atomic_load(&rs->budget->replays);
        uint32_t allowed = reqs * rs->rule->budget_percent / 100;
        if (allowed < rs->rule->budget_min) allowed = rs->rule->budget_min;
        if (done >= allowed) return "the retry budget for this peer is spent";
    }
    return NULL;
}

/* Waits until nfd is ready for events or the deadline (monotonic ns) passes. */
static int wait_until(int nfd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = clock_now_ns();
        if (now >= deadline) return -ETIMEDOUT;
        struct pollfd pfd = {.fd = nfd, .events = events};
        int r = real_poll(&pfd, 1, (int)((deadline - now + 999999) / 1000000));
        if (r == 1) return 0;
        if (r < 0 && errno != EINTR) return -errno;
    }
}

/* Connects nfd to the peer by the deadline, whatever its blocking mode. 0 or -errno. */
static int connect_bounded(int nfd, const struct retry_state *rs, uint64_t deadline)
{
    int fl = real_fcntl(nfd, F_GETFL, NULL);
    real_fcntl(nfd, F_SETFL, (void *)(intptr_t)(fl | O_NONBLOCK));
    int r = real_connect(nfd, &rs->peer.sa, rs->peer_len) == 0 ? 0 : -errno;
    if (r == -EINPROGRESS) {
        r = wait_until(nfd, POLLOUT, deadline);
        if (r == 0) {
            int so_error = 0;
            socklen_t sl = sizeof so_error;
            real_getsockopt(nfd, SOL_SOCKET, SO_ERROR, &so_error, &sl);
            r = -so_error;
        }
    }
    real_fcntl(nfd, F_SETFL, (void *)(intptr_t)fl);
    return r;
}

/* Sends all of p[0..len) on nfd by the deadline. 0 or -errno. */
static int send_all(int nfd, const char *p, size_t len, uint64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = real_send(nfd, p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) {
            int w = wait_until(nfd, POLLOUT, deadline);
            if (w < 0) return w;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? -errno : -EPIPE;
        done += (size_t)n;
    }
    return 0;
}

/* Sends the buffered request on a fresh connection and puts it on fd, within
 * the replay's time bound (shorter for a non-blocking fd). Returns 0, or
 * -errno (the app's connection is then untouched). */
static int replay_request(int fd, struct conn *c, unsigned op, int cause_err, const char *why_ok)
{
    struct retry_state *rs = c->retry;
    rs->replayed = 1;
    if (!conn_at(fd, c)) return -ESTALE; /* closed behind our back: not ours to touch */
    conn_fill_local(fd, c);              /* the replay record names the connection that failed */
    int app_fl = real_fcntl(fd, F_GETFL, NULL);
    uint64_t bound_ms =
        app_fl >= 0 && (app_fl & O_NONBLOCK) ? REPLAY_NONBLOCKING_MS : REPLAY_BLOCKING_MS;
    uint64_t deadline = clock_now_ns() + bound_ms * 1000000ull;
    int nfd = retry_fresh_socket(rs);
    int e = nfd < 0 ? nfd : connect_bounded(nfd, rs, deadline);
    if (!e) e = send_all(nfd, rs->req, rs->req_len, deadline);
    if (!e) {
        e = retry_move_onto(nfd, fd, c); /* closes nfd either way */
        nfd = -1;
    }
    if (!e) {
        if (rs->budget) atomic_fetch_add(&rs->budget->replays, 1);
        uint64_t t = clock_now_ns();
        ring_push(&c->ring, op, -1, cause_err, t);
        ring_push(&c->ring, OP_REPLAY, (int64_t)rs->req_len, 0, t);
        /* Its record waits for the answer (replay_outcome). */
        rs->replay_why = why_ok;
        rs->replay_op = op;
        rs->replay_err = cause_err;
        rs->replay_local = c->local;
        c->flags &= ~CONN_PEER_FIN;
        c->t_last = t;
        conn_forget_local(c); /* later records name the new connection's address */
        return 0;
    }
    if (nfd >= 0) real_close(nfd);
    if (e == -ESTALE) return e;
    const char *desc =
        e == -ETIMEDOUT ? "the replay did not finish within its time bound" : strerrordesc_np(-e);
    retry_record(fd, c, op, cause_err, 1, "replay", "failed", desc ? desc : "error");
    return e;
}

/* The retry record of the replay on c that was waiting for its answer:
 * "ok" once the app got the replay's answer, else "failed" with reason. It
 * names the connection that failed (its local address), as it would have at
 * the replay. fd < 0: c has ended and its fd is closed. */
static void replay_outcome(int fd, struct conn *c, const char *outcome, const char *reason)
{
    struct retry_state *rs = c->retry;
    if (!rs || !rs->replay_why) return;
    struct record_info ri = {.type = "retry",
                             .fd = fd >= 0 ? fd : (int)c->close_fd,
                             .op = rs->replay_op,
                             .err = rs->replay_err,
                             .now_ns = clock_now_ns(),
                             .attempt = 1,
                             .action = "replay",
                             .outcome = outcome,
                             .reason = reason ? reason : rs->replay_why};
    rs->replay_why = NULL;
    union sockaddr_any now = c->local;
    c->local = rs->replay_local;
    if (fd >= 0) {
        conn_record(fd, c, &ri);
    } else {
        guard_enter();
        record_write(c, &ri);
        guard_leave();
    }
    if (c->retry == rs) c->local = now; /* unless c was forgotten on the way */
}

/* An input call on c returned r (errno err) while a replay awaited its answer. */
static void replay_answered(int fd, struct conn *c, ssize_t r, int err)
{
    if (r < 0 && (err == EAGAIN || err == EINTR)) return; /* not yet */
    if (r > 0)
        replay_outcome(fd, c, "ok", NULL);
    else
        replay_outcome(fd, c, "failed",
                       r == 0 ? "the replayed request was answered by the peer's close (EOF)"
                              : "the replayed request failed too before any response byte");
}

void retry_replay_unanswered(struct conn *c)
{
    replay_outcome(-1, c, "failed", "the app closed the connection before the replay's answer");
}

void retry_app_told(struct conn *c)
{
    if (c->retry) c->retry->app_saw_failure = 1;
}

/* What a poll/epoll event with error bit err (POLLERR: the socket holds an
 * error) and TCP_INFO say of c's connection, for a replay before the event
 * reaches the app: a reset (an error or CLOSE, with nothing retransmitted or
 * probed: a connection that timed out is not replayed, as in the read path;
 * the error bit, because the kernel wakes the waiters before the socket's
 * state becomes CLOSE), an EOF on a reused connection (CLOSE_WAIT), or
 * neither (NULL). The socket's pending error is left alone: if nothing is
 * replayed, the app reads it. */
static const char *failure_on_event(int fd, const struct conn *c, int err)
{
    struct tcp_fate fate;
    if (tcpinfo_fate(fd, &fate) < 0) return NULL;
    if ((err || fate.state == TCP_CLOSE) && !fate.retransmits && !fate.probes)
        return "reset before any response byte, seen in poll/epoll";
    if (fate.state == TCP_CLOSE_WAIT && c->exchanges > 1 && !(c->flags & CONN_SHUT_RD))
        return "EOF on a reused connection before any response byte, seen in poll/epoll";
    return NULL;
}

int retry_replay_on_event(int fd, struct conn *c, int err)
{
    struct retry_state *rs = c->retry;
    /* the read path's conditions; an app that already heard of a failure,
     * or shut down its own sending side (a replay could not repeat that), or
     * a replay still waiting for its answer, is left to its own calls */
    if (!rs || rs->rule->mode != RETRY_IDEMPOTENT || c->role == ROLE_SERVER ||
        rs->app_saw_failure || rs->replay_why || c->exchange_resp > 0 || c->dir != DIR_OUT ||
        !rs->req_len || (c->flags & CONN_SHUT_WR) || sandbox_filtered())
        return 0;
    const char *what = failure_on_event(fd, c, err);
    if (!what || !conn_at(fd, c)) return 0;
    const char *why = replay_refusal(fd, c, rs);
    if (why) {
        retry_record(fd, c, OP_POLL, ECONNRESET, 0, "none", "refused", why);
        return 0;
    }
    return replay_request(fd, c, OP_POLL, ECONNRESET, what) == 0;
}

/* A step that asks fd's identity (conn_at: a replay, a record) may have found
 * it closed behind our back and ended c there, detaching its retry state:
 * then neither c nor rs may be touched again. */
static int detached(const struct conn *c, const struct retry_state *rs)
{
    return c->retry != rs;
}

/* A write that failed and reaches the app as an error: it still began a
 * request (the exchange count moves on), its bytes never left, and the app
 * now knows the connection failed, so nothing buffered here is replayed. */
static ssize_t write_failed(struct conn *c, struct retry_state *rs, ssize_t r, int err)
{
    if (c->dir != DIR_OUT) request_begin(c, NULL, 0);
    rs->req_incomplete = 1;
    return handed_to_app(rs, r, err);
}

/* A call on a socket whose failed connect's error the shim took (retry_state.h)
 * fails as a socket without that error does (a read ENOTCONN, a write
 * EPIPE); bare, it would have failed with the error itself. */
static void owed_error(struct conn *c, ssize_t r, int *err)
{
    if (r < 0 && c->retry->stashed_err && (*err == ENOTCONN || *err == EPIPE))
        *err = retry_take_stashed_error(c);
}

ssize_t retry_after_out(int fd, struct conn *c, unsigned op, const struct iovec *v, int cnt,
                        ssize_t r, int *err)
{
    struct retry_state *rs = c->retry;
    owed_error(c, r, err);
    if (__builtin_expect(rs->replay_why != NULL, 0) && r < 0 && *err != EAGAIN && *err != EINTR) {
        replay_outcome(fd, c, "failed", "the connection failed again before the replay's answer");
        if (detached(c, rs)) return r;
    }
    if (r > 0) {
        if (rs->req_cap || c->dir != DIR_OUT) retry_copy_outv(c, v, cnt, (size_t)r);
        return r;
    }
    if (r == 0 || *err == EAGAIN || *err == EINTR) return r; /* nothing left, nothing lost */
    /* After the app's own shutdown(SHUT_WR), EPIPE is its own doing: never a
     * replay. Once the app has seen this connection fail, its later writes on
     * it (a TLS client's close_notify) are its own clean-up, not a request:
     * no replay, and no refusal record either. */
    if (rs->rule->mode != RETRY_IDEMPOTENT || c->role == ROLE_SERVER || rs->app_saw_failure ||
        !(*err == ECONNRESET || *err == EPIPE) || (c->flags & CONN_SHUT_WR)) {
        return write_failed(c, rs, r, *err);
    }
    /* The connection died under this write (the peer's RST was already in):
     * this call's bytes complete the buffered request, then the usual rules.
     * The kernel may have failed the call before reading the app's buffers,
     * so they are read with process_vm_readv (EFAULT, never a crash). */
    struct iovec app[64];
    if (cnt <= 0 || cnt > 64) return write_failed(c, rs, r, *err);
    struct iovec vec_local = {app, sizeof app[0] * (size_t)cnt};
    struct iovec vec_remote = {(void *)v, vec_local.iov_len};
    if (process_vm_readv(sandbox_pid(), &vec_local, 1, &vec_remote, 1, 0) !=
        (ssize_t)vec_local.iov_len)
        return write_failed(c, rs, r, *err);
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += app[i].iov_len;
    if (!total || total > SSIZE_MAX) return write_failed(c, rs, r, *err);
    int first = c->dir != DIR_OUT;
    if (first) request_begin(c, NULL, 0);
    if (!rs->req_cap || total > rs->req_cap - rs->req_len) {
        rs->req_incomplete = 1;
    } else {
        struct iovec dst = {rs->req + rs->req_len, total};
        if (process_vm_readv(sandbox_pid(), &dst, 1, app, (unsigned long)cnt, 0) != (ssize_t)total)
            return write_failed(c, rs, r, *err);
        if (first && c->bytes_out == 0 && (unsigned char)rs->req[rs->req_len] == 0x16) rs->tls = 1;
        rs->req_len += total;
    }
    const char *why = replay_refusal(fd, c, rs);
    if (!why && !replay_request(fd, c, op, *err,
                                "reset under the request's write, before any response byte")) {
        *err = 0;
        return (ssize_t)total;
    }
    if (why) retry_record(fd, c, op, *err, 0, "none", "refused", why);
    if (detached(c, rs)) return r;
    return write_failed(c, rs, r, *err);
}

ssize_t retry_after_in(int fd, struct conn *c, unsigned op, ssize_t r, int *err)
{
    struct retry_state *rs = c->retry;
    owed_error(c, r, err);
    if (__builtin_expect(rs->replay_why != NULL, 0)) {
        replay_answered(fd, c, r, *err);
        if (detached(c, rs)) return r;
    }
    if (r > 0) return r;
    if (rs->rule->mode != RETRY_IDEMPOTENT || c->role == ROLE_SERVER || rs->app_saw_failure)
        return handed_to_app(rs, r, *err);
    int reset = r < 0 && (*err == ECONNRESET || *err == EPIPE);
    /* an EOF after the app's own shutdown(SHUT_RD) is its own doing, not the peer's */
    int stale_eof = r == 0 && c->exchanges > 1 && !(c->flags & CONN_SHUT_RD);
    if (!(reset || stale_eof) || c->exchange_resp > 0 || c->dir != DIR_OUT)
        return handed_to_app(rs, r, *err);
    /* Only a socket gives EOF or a reset: anything else at this fd number
     * (a pipe after a close we did not see) is not this connection. */
    if (!conn_at(fd, c)) return r;
    int cause_err = reset ? *err : ECONNRESET;
    const char *why = replay_refusal(fd, c, rs);
    if (why) {
        retry_record(fd, c, op, cause_err, 0, "none", "refused", why);
        return detached(c, rs) ? r : handed_to_app(rs, r, *err);
    }
    if (replay_request(fd, c, op, cause_err,
                       reset ? "reset before any response byte"
                             : "EOF on a reused connection before any response byte"))
        return detached(c, rs) ? r : handed_to_app(rs, r, *err);
    return RETRY_REISSUE;
}
