// SPDX-License-Identifier: MIT
/* retry.c: connect retry (see retry.h, and docs/design.md "Retry and
 * replay"): which connections get retry state, refused or unreachable
 * connects retried with backoff on a replacement socket, and non-blocking
 * connects watched through poll/ppoll/epoll_wait. The state and the
 * replacement socket live in retry_state.c, the replay of requests in replay.c.
 *
 * A connection with retry enabled carries a struct retry_state (taken at
 * socket()/connect(), never on the send/recv path). A replacement socket is
 * connected and then dup3()'d onto the app's fd number, so the app keeps its
 * fd and its epoll interest. Backoff sleeps happen inside the
 * connect()/poll()/epoll_wait() call that saw the failure; a non-blocking
 * connect is retried only when its failure is seen through poll/ppoll/
 * epoll_wait (select() is not intercepted). */
#include "retry.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "conn_event.h"
#include "guard.h"
#include "inject.h"
#include "real.h"
#include "prng.h"
#include "record.h"
#include "retry_state.h"
#include "sandbox.h"
#include "tcpinfo.h"

#define PENDING_MAX 256

static struct retry_config cfg;
static int retry_any; /* some rule (or the default) enables retry */
/* Non-blocking connects being watched: claimed and released by compare-and-swap. */
static struct {
    _Atomic(struct conn *) c;
    _Atomic int fd;
} pending[PENDING_MAX];
static _Atomic unsigned npending;
static _Atomic uint64_t rng_state;

void retry_init(const struct options *o)
{
    config_load(&cfg, o, o->config);
    retry_any = cfg.defaults.mode != RETRY_OFF;
    int any_replay = cfg.defaults.mode == RETRY_IDEMPOTENT;
    for (unsigned i = 0; i < cfg.nrules; i++) {
        retry_any |= cfg.rules[i].mode != RETRY_OFF;
        any_replay |= cfg.rules[i].mode == RETRY_IDEMPOTENT;
    }
    retry_state_init(any_replay ? o->replay_max : 0);
    rng_state = clock_now_ns() ^ ((uint64_t)sandbox_pid() << 32) ^ 0x9e3779b97f4a7c15ull;
}

/* Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * sleep uniform(0, min(cap, base * 2^(attempt-1))). */
static uint64_t backoff_ms(const struct retry_rule *r, unsigned attempt)
{
    uint64_t ceil = r->base_ms;
    for (unsigned i = 1; i < attempt && ceil < r->cap_ms; i++)
        ceil *= 2;
    if (ceil > r->cap_ms) ceil = r->cap_ms;
    return prng_next(&rng_state) % (ceil + 1);
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int retryable_connect_errno(int err)
{
    return err == ECONNREFUSED || err == ETIMEDOUT || err == ENETUNREACH || err == EHOSTUNREACH;
}

/* ---- which connections get retry state ---------------------------------------- */

int retry_enabled(void)
{
    return retry_any;
}

int retry_wants_socket(int domain)
{
    return retry_any && domain != AF_UNIX;
}

void retry_note_socket(struct conn *c, int domain, int type, int proto)
{
    guard_enter();
    struct retry_state *rs = retry_state_get();
    guard_leave();
    if (!rs) return;
    rs->domain = domain, rs->type = type, rs->proto = proto;
    rs->rule = &cfg.defaults;
    c->retry = rs;
    conn_slow_update(c);
}

void retry_attach(int fd, struct conn *c)
{
    (void)fd;
    struct retry_state *rs = c->retry;
    if (!rs) return;
    rs->rule = config_match(&cfg, &c->peer.sa);
    if (rs->rule->mode == RETRY_OFF) { /* this peer is not ours to retry: zero cost from here */
        c->retry = NULL;
        conn_slow_update(c);
        guard_enter();
        retry_state_put(rs);
        guard_leave();
        return;
    }
    if (rs->rule->mode != RETRY_IDEMPOTENT) rs->req_cap = 0;
    if (rs->req_cap) rs->budget = retry_budget_for(&c->peer);
}

static void pending_add(int fd, struct conn *c)
{
    for (unsigned i = 0; i < PENDING_MAX; i++) {
        struct conn *expect = NULL;
        if (atomic_compare_exchange_strong(&pending[i].c, &expect, c)) {
            atomic_store(&pending[i].fd, fd);
            atomic_store(&c->retry->pending, 1);
            atomic_fetch_add(&npending, 1);
            return;
        }
    }
}

static void pending_remove(struct conn *c)
{
    struct retry_state *rs = c->retry;
    if (!rs || !atomic_exchange(&rs->pending, 0)) return;
    for (unsigned i = 0; i < PENDING_MAX; i++) {
        struct conn *expect = c;
        if (atomic_compare_exchange_strong(&pending[i].c, &expect, NULL)) {
            atomic_fetch_sub(&npending, 1);
            return;
        }
    }
}

void retry_forget(struct conn *c)
{
    struct retry_state *rs = c->retry;
    if (!rs) return;
    if (rs->replay_why) retry_replay_unanswered(c);
    pending_remove(c);
    c->retry = NULL;
    guard_enter();
    retry_state_put(rs);
    guard_leave();
}

/* ---- connect retry ---------------------------------------------------------------- */

int retry_wants_connect(const struct conn *c)
{
    return c->retry && c->retry->rule->mode != RETRY_OFF;
}

/* What a connect attempt's outcome (0 or -errno) says in a retry record. */
static const char *attempt_outcome(int rc)
{
    return rc == 0 ? "ok" : rc == -EINPROGRESS ? "in_progress" : "failed";
}

/* After backoff, puts a fresh socket (nfd, or one built now when nfd < 0) on
 * fd in place of c's failed one and makes the next connect attempt on it, with its event and
 * "retry" record (prev: the failure it answers). 0 with the attempt's 0/-errno in *rc, or -errno
 * when no fresh socket could take fd's place (nothing attempted; the app's socket is then as the
 * failure left it). */
static int reconnect(int fd, struct conn *c, int prev, const char *reason, int *rc, int nfd)
{
    struct retry_state *rs = c->retry;
    sleep_ms(backoff_ms(rs->rule, rs->attempt));
    rs->attempt++;
    if (nfd < 0) nfd = retry_fresh_socket(rs);
    if (nfd < 0) return nfd;
    int e = retry_move_onto(nfd, fd, c); /* closes nfd either way */
    if (e < 0) return e;
    conn_forget_local(c); /* a new socket, a new local address */
    *rc = inject_connect_attempt(fd, c, &rs->peer.sa, rs->peer_len);
    ring_push(&c->ring, OP_RETRY, (int64_t)rs->attempt, 0, clock_now_ns());
    retry_record(fd, c, OP_CONNECT, prev, (int)rs->attempt, "reconnect", attempt_outcome(*rc),
                 reason);
    return 0;
}

/* A connect() to the peer of a connect already begun on c: POSIX lets a
 * program learn a non-blocking connect's outcome by calling connect() again
 * (EALREADY while in progress, then 0/EISCONN or the error). It continues
 * the same series of attempts, never starts a new one. */
static int connect_again(const struct retry_state *rs, const struct sockaddr *sa, socklen_t len)
{
    socklen_t n = len < sizeof rs->peer ? len : (socklen_t)sizeof rs->peer;
    return rs->attempt > 0 && n == rs->peer_len && memcmp(&rs->peer, sa, n) == 0;
}

int retry_connect(int fd, struct conn *c, const struct sockaddr *sa, socklen_t len)
{
    struct retry_state *rs = c->retry;
    int again = connect_again(rs, sa, len);
    if (!again) {
        /* An inet address fits whole; a larger len (sizeof sockaddr_storage) only pads it. */
        rs->peer_len = len < sizeof rs->peer ? len : (socklen_t)sizeof rs->peer;
        memcpy(&rs->peer, sa, rs->peer_len);
    }
    int stashed = again ? retry_take_stashed_error(c) : 0;
    int rc = stashed ? -stashed : inject_connect_attempt(fd, c, sa, len);
    if (!again) rs->attempt = 1;
    /* The app now holds this outcome: a watch in poll/epoll is over. */
    if (again && rc != -EALREADY && rc != -EINPROGRESS) pending_remove(c);
    while (rc < 0 && retryable_connect_errno(-rc) && rs->attempt < rs->rule->attempts) {
        ring_push(&c->ring, OP_CONNECT, -1, -rc, clock_now_ns());
        if (reconnect(fd, c, -rc, "connect was refused or unreachable", &rc, -1) < 0) break;
    }
    if (rc == -EINPROGRESS && rs->attempt < rs->rule->attempts && !atomic_load(&rs->pending))
        pending_add(fd, c);
    return rc;
}

void retry_connect_settled(struct conn *c)
{
    pending_remove(c);
}

/* The error the shim took from fd's SO_ERROR and then left to the app (not
 * retryable after all): the app's own calls get it, as bare they would
 * have got it from the socket (docs/design.md "Never hurt the host", "The
 * app's own view wins"). */
static void stash_error(int fd, struct conn *c, int so_error)
{
    c->retry->stashed_err = so_error;
    ring_push(&c->ring, OP_SOCKOPT_ERROR, -1, so_error, clock_now_ns());
    if (c->flags & CONN_CONNECTING) {
        c->flags &= ~CONN_CONNECTING;
        atomic_fetch_sub_explicit(&conn_connecting, 1, memory_order_relaxed);
    }
    if (conn_worth_a_record(so_error)) conn_failed(fd, c, OP_CONNECT, so_error, clock_now_ns());
}

/* A watched non-blocking connect reported readiness: decide, and maybe replace
 * the socket. Returns 1 if the event must be hidden from the app. The
 * socket's error is read (and so cleared) only once a replacement socket
 * exists: a connect that cannot be retried (the app bound a fixed source
 * port that is still taken) keeps its error for the app to read. */
static int check_pending(int fd, struct conn *c)
{
    struct retry_state *rs = c->retry;
    if (!rs || !atomic_load(&rs->pending)) return 0;
    if (!conn_at(fd, c)) {
        pending_remove(c);
        return 0;
    }
    struct tcp_fate fate;
    tcpinfo_fate(fd, &fate); /* its pending error stays for the app until a retry is sure */
    if (fate.state == TCP_SYN_SENT) return 0; /* not decided yet */
    if (fate.state != TCP_CLOSE) {            /* connected (or unknown): nothing to retry */
        pending_remove(c);
        return 0;
    }
    int nfd = retry_fresh_socket(rs);
    if (nfd < 0) {
        pending_remove(c);
        retry_record(fd, c, OP_CONNECT, 0, (int)rs->attempt, "none", "refused",
                     "no replacement socket could be built (a fixed source address still in "
                     "use?)");
        return 0;
    }
    int so_error = 0;
    socklen_t sl = sizeof so_error;
    if (real_getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) < 0 || so_error == 0 ||
        !retryable_connect_errno(so_error)) {
        real_close(nfd);
        pending_remove(c);
        if (so_error) stash_error(fd, c, so_error);
        return 0;
    }
    ring_push(&c->ring, OP_SOCKOPT_ERROR, -1, so_error, clock_now_ns());
    int rc;
    if (reconnect(fd, c, so_error, "non-blocking connect was refused or unreachable", &rc, nfd) <
        0) {
        pending_remove(c);
        stash_error(fd, c, so_error);
        return 0;
    }
    if (rc != -EINPROGRESS || rs->attempt >= rs->rule->attempts) pending_remove(c);
    return rc == -EINPROGRESS; /* still connecting: the app keeps waiting */
}

static int64_t ms_left(uint64_t start, int tmo)
{
    if (tmo < 0) return -1;
    int64_t left = tmo - (int64_t)((clock_now_ns() - start) / 1000000);
    return left < 0 ? 0 : left;
}

/* Readiness bits that tell the app its connection failed. */
#define TOLD_POLL (POLLERR | POLLHUP | POLLRDHUP)
#define TOLD_EPOLL (EPOLLERR | EPOLLHUP | EPOLLRDHUP)

/* The app is about to be handed these poll results: a failure they tell
 * on a connection whose request may be replayed is replayed first, and its
 * event hidden; the others are noted as told. Returns the number of
 * entries whose events were hidden. */
static int poll_told(struct pollfd *p, nfds_t n)
{
    int hidden = 0;
    for (nfds_t i = 0; i < n; i++) {
        if (!(p[i].revents & TOLD_POLL)) continue;
        struct conn *c = conn_table_get(p[i].fd);
        if (!conn_is_live(c)) continue;
        if (retry_replay_on_event(p[i].fd, c, p[i].revents & POLLERR))
            p[i].revents = 0, hidden++;
        else
            retry_app_told(c);
    }
    return hidden;
}

/* The connection whose epoll registration on ep carries data (the kernel
 * reports data, not the fd): a scan of the table, made only for an event
 * that tells a failure, with retry on. */
static struct conn *conn_for_event(int ep, uint64_t data, int *fdp)
{
    unsigned top = conn_table_max_fd();
    for (unsigned fd = 0; fd <= top && fd < CONN_SLOT_CAP; fd++) {
        struct conn *c = conn_table_get((int)fd);
        if (!conn_is_live(c) || !c->retry) continue;
        const struct retry_state *rs = c->retry;
        for (unsigned j = 0; j < rs->neps && j < EPS_MAX; j++)
            if (rs->eps[j].ep == ep && rs->eps[j].ev.data.u64 == data) {
                *fdp = (int)fd;
                return c;
            }
    }
    return NULL;
}

/* epoll's poll_told: the events of ev[0..n) the app is handed, compacted;
 * returns how many are left. */
static int epoll_told(int ep, struct epoll_event *ev, int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int fd = -1;
        struct conn *c = ev[i].events & TOLD_EPOLL ? conn_for_event(ep, ev[i].data.u64, &fd) : NULL;
        if (c && retry_replay_on_event(fd, c, ev[i].events & EPOLLERR)) continue;
        if (c) retry_app_told(c);
        ev[kept++] = ev[i];
    }
    return kept;
}

int retry_poll(struct pollfd *p, nfds_t n, int tmo, const struct timespec *ts, const sigset_t *m,
               enum call_variant v)
{
    uint64_t start = clock_now_ns();
    /* Each wait gets what is left of the app's timeout, measured from start. */
    const int is_ppoll = v == CALL_SIBLING;
    const int tmo0 = is_ppoll ? (ts ? (int)(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1) : tmo;
    struct timespec rest;
    for (;;) {
        int r = is_ppoll ? real_ppoll(p, n, ts, m) : real_poll(p, n, tmo);
        if (r <= 0 || !retry_any || guard_active()) return r;
        int saved = errno, hidden = 0;
        for (nfds_t i = 0; atomic_load_explicit(&npending, memory_order_relaxed) && i < n; i++) {
            if (!p[i].revents) continue;
            struct conn *c = conn_table_get(p[i].fd);
            if (!conn_is_live(c) || !c->retry || !atomic_load(&c->retry->pending)) continue;
            if (check_pending(p[i].fd, c)) p[i].revents = 0, hidden++;
        }
        hidden += poll_told(p, n);
        errno = saved;
        if (hidden < r) return r - hidden;
        int64_t left = ms_left(start, tmo0);
        if (left == 0) return 0;
        if (left > 0) {
            tmo = (int)left;
            rest.tv_sec = (time_t)(left / 1000), rest.tv_nsec = (long)(left % 1000) * 1000000L;
            if (is_ppoll) ts = &rest;
        }
    }
}

/* The watched connect whose epoll registration on ep carries data, if any. */
static struct conn *pending_for_event(int ep, uint64_t data, int *fd)
{
    for (unsigned k = 0; k < PENDING_MAX; k++) {
        struct conn *c = atomic_load(&pending[k].c);
        if (!c) continue;
        struct retry_state *rs = c->retry;
        for (unsigned j = 0; rs && j < rs->neps && j < EPS_MAX; j++)
            if (rs->eps[j].ep == ep && rs->eps[j].ev.data.u64 == data) {
                *fd = atomic_load(&pending[k].fd);
                return c;
            }
    }
    return NULL;
}

int retry_epoll_wait(int ep, struct epoll_event *ev, int n, int tmo, const sigset_t *m,
                     enum call_variant v)
{
    uint64_t start = clock_now_ns();
    const int tmo0 = tmo; /* each wait gets what is left of it, measured from start */
    for (;;) {
        int r = v == CALL_SIBLING ? real_epoll_pwait(ep, ev, n, tmo, m)
                                  : real_epoll_wait(ep, ev, n, tmo);
        if (r <= 0 || !retry_any || guard_active()) return r;
        int saved = errno, kept = 0;
        if (!atomic_load_explicit(&npending, memory_order_relaxed)) {
            kept = r;
        } else {
            for (int i = 0; i < r; i++) {
                int fd = -1;
                struct conn *c = pending_for_event(ep, ev[i].data.u64, &fd);
                if (!(c && fd >= 0 && check_pending(fd, c))) ev[kept++] = ev[i];
            }
        }
        kept = epoll_told(ep, ev, kept);
        errno = saved;
        if (kept) return kept;
        int64_t left = ms_left(start, tmo0);
        if (left == 0) return 0;
        if (left > 0) tmo = (int)left;
    }
}
