/* retry.c: connect retry and idempotent replay (see retry.h, and
 * docs/design.md "Retry and replay").
 *
 * A connection with retry enabled carries a struct retry_state (allocated at
 * socket()/connect(), never on the send/recv path): how to rebuild its socket
 * (socket() arguments, file flags, recorded setsockopt()s, bind address,
 * epoll registrations) and, in idempotent mode, a bounded copy of the request
 * being sent. A replacement socket is connected and then dup3()'d onto the
 * app's fd number, so the app keeps its fd and its epoll interest.
 *
 * Transparency limits (README "Retry and replay"): backoff sleeps happen inside
 * the connect()/poll()/epoll_wait() call that saw the failure; a non-blocking
 * connect is retried only when its failure is seen through poll/ppoll/
 * epoll_wait (select() is not intercepted); replay happens on the read that
 * observes the reset or EOF, never on a partially received response. */
#include "retry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fdident.h"
#include "guard.h"
#include "http_req.h"
#include "real.h"
#include "record.h"
#include "watch.h"

#define OPTS_MAX 16
#define OPT_VAL_MAX 64
#define EPS_MAX 4
#define PEERS_MAX 64
#define PENDING_MAX 256
#define STATE_SLAB_BYTES (1u << 20)
/* The whole replay (connect + send) inside one app call is bounded: a
 * blocking call waits at most this long, a non-blocking one (an event loop
 * that must not stall) far less; past it the app gets its original error. */
#define REPLAY_BLOCKING_MS 3000
#define REPLAY_NONBLOCKING_MS 250

struct sockopt_rec {
    int level, name;
    socklen_t len;
    unsigned char val[OPT_VAL_MAX];
};

struct ep_reg {
    int ep;
    struct epoll_event ev;
};

/* Per-peer budget: replays <= max(budget_min, requests * budget_percent / 100).
 * Slots are claimed once (state 0 -> 1 -> 2) and never released: lock-free. */
struct peer_budget {
    _Atomic int state;
    union sockaddr_any addr;
    _Atomic uint32_t requests, replays;
};

struct retry_state {
    const struct retry_rule *rule;
    struct retry_state *next_free;
    int domain, type, proto;
    int fl, have_fl;
    struct sockopt_rec opts[OPTS_MAX];
    unsigned nopts;
    union sockaddr_any bind_addr;
    socklen_t bind_len;
    union sockaddr_any peer;
    socklen_t peer_len;
    struct ep_reg eps[EPS_MAX];
    unsigned neps;
    unsigned attempt;    /* connect attempts made so far */
    _Atomic int pending; /* a non-blocking connect we watch in poll/epoll */
    /* replay: the current request's bytes, exactly as they left */
    size_t req_len, req_cap;
    int req_incomplete; /* overflowed, or bytes left through a call we could not copy */
    int tls, replayed;
    struct peer_budget *budget;
    char req[]; /* req_cap bytes */
};

static struct retry_config cfg;
static int retry_any; /* some rule (or the default) enables retry */
static struct peer_budget budgets[PEERS_MAX];
/* Non-blocking connects being watched: claimed and released by compare-and-swap. */
static struct {
    _Atomic(struct conn *) c;
    _Atomic int fd;
} pending[PENDING_MAX];
static _Atomic unsigned npending;
static _Atomic uint64_t rng_state;
/* Connections with a smaller id existed at the last fork(): both processes
 * hold the socket, and neither sees the other's writes. */
static _Atomic uint64_t shared_below;

/* The retry states come from a pool of mmap'd slabs, recycled and never
 * returned: socket(), connect() and close() are async-signal-safe, so nothing
 * they reach may call malloc or free. The pool's spinlock is only taken under
 * the reentrancy guard, so a signal handler on the same thread never waits on it. */
static size_t state_stride;
static size_t state_req_cap;
static atomic_flag state_lock = ATOMIC_FLAG_INIT;
static struct retry_state *state_free;

void retry_init(void)
{
    config_load(&cfg, &opt, opt.config);
    retry_any = cfg.defaults.mode != RETRY_OFF;
    int any_replay = cfg.defaults.mode == RETRY_IDEMPOTENT;
    for (unsigned i = 0; i < cfg.nrules; i++) {
        retry_any |= cfg.rules[i].mode != RETRY_OFF;
        any_replay |= cfg.rules[i].mode == RETRY_IDEMPOTENT;
    }
    state_req_cap = any_replay ? opt.replay_max : 0;
    state_stride = (sizeof(struct retry_state) + state_req_cap + 63) & ~(size_t)63;
    rng_state = clock_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
}

/* A zeroed state from the pool, or NULL. Call under the guard. */
static struct retry_state *state_get(void)
{
    while (atomic_flag_test_and_set_explicit(&state_lock, memory_order_acquire))
        cpu_relax();
    if (!state_free) {
        size_t n = STATE_SLAB_BYTES / state_stride;
        if (n == 0) n = 1;
        char *slab = mmap(NULL, n * state_stride, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slab != MAP_FAILED)
            for (size_t i = n; i-- > 0;) {
                struct retry_state *rs = (struct retry_state *)(slab + i * state_stride);
                rs->next_free = state_free;
                state_free = rs;
            }
    }
    struct retry_state *rs = state_free;
    if (rs) state_free = rs->next_free;
    atomic_flag_clear_explicit(&state_lock, memory_order_release);
    if (rs) {
        memset(rs, 0, sizeof *rs); /* the request bytes need no clearing */
        rs->req_cap = state_req_cap;
    }
    return rs;
}

/* Back to the pool. Call under the guard. */
static void state_put(struct retry_state *rs)
{
    while (atomic_flag_test_and_set_explicit(&state_lock, memory_order_acquire))
        cpu_relax();
    rs->next_free = state_free;
    state_free = rs;
    atomic_flag_clear_explicit(&state_lock, memory_order_release);
}

/* xorshift64*: good enough for jitter; races between threads only mix it more. */
static uint64_t rng_next(void)
{
    uint64_t x = atomic_load_explicit(&rng_state, memory_order_relaxed);
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    atomic_store_explicit(&rng_state, x, memory_order_relaxed);
    return x * 0x2545f4914f6cdd1dull;
}

/* Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * sleep uniform(0, min(cap, base * 2^(attempt-1))). */
static uint64_t backoff_ms(const struct retry_rule *r, unsigned attempt)
{
    uint64_t ceil = r->base_ms;
    for (unsigned i = 1; i < attempt && ceil < r->cap_ms; i++)
        ceil *= 2;
    if (ceil > r->cap_ms) ceil = r->cap_ms;
    return rng_next() % (ceil + 1);
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

static struct retry_state *state_of(int fd)
{
    struct conn *c = conn_table_get(fd);
    return conn_is_live(c) ? c->retry : NULL;
}

/* ---- bookkeeping ------------------------------------------------------------- */

void retry_note_socket(int fd, int domain, int type, int proto)
{
    if (!retry_any || domain == AF_UNIX || guard_active()) return;
    struct conn *c = conn_table_open(fd, domain, ROLE_CLIENT, clock_now_ns());
    if (!c) return;
    c->ident = fdident_take(fd);
    guard_enter();
    struct retry_state *rs = state_get();
    guard_leave();
    if (!rs) return;
    rs->domain = domain, rs->type = type, rs->proto = proto;
    rs->rule = &cfg.defaults;
    c->retry = rs;
}

static int same_peer(const union sockaddr_any *x, const union sockaddr_any *a)
{
    if (x->sa.sa_family != a->sa.sa_family) return 0;
    if (a->sa.sa_family == AF_INET)
        return x->in.sin_port == a->in.sin_port && x->in.sin_addr.s_addr == a->in.sin_addr.s_addr;
    if (a->sa.sa_family == AF_INET6)
        return x->in6.sin6_port == a->in6.sin6_port &&
               !memcmp(&x->in6.sin6_addr, &a->in6.sin6_addr, 16);
    return 0;
}

/* The budget slot for peer a, claimed on first use; NULL when all are taken.
 * Two threads racing for a new peer may claim two slots: each budget is then
 * looser, never stricter, which errs on the side of the app's own error. */
static struct peer_budget *budget_for(const union sockaddr_any *a)
{
    for (unsigned i = 0; i < PEERS_MAX; i++) {
        int st = atomic_load_explicit(&budgets[i].state, memory_order_acquire);
        if (st == 0) break;
        if (st == 2 && same_peer(&budgets[i].addr, a)) return &budgets[i];
    }
    for (unsigned i = 0; i < PEERS_MAX; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&budgets[i].state, &expect, 1)) {
            budgets[i].addr = *a;
            atomic_store_explicit(&budgets[i].state, 2, memory_order_release);
            return &budgets[i];
        }
    }
    return NULL;
}

void retry_attach(int fd, struct conn *c)
{
    (void)fd;
    struct retry_state *rs = c->retry;
    if (!rs) return;
    rs->rule = config_match(&cfg, &c->peer.sa);
    if (rs->rule->mode == RETRY_OFF) { /* this peer is not ours to retry: zero cost from here */
        c->retry = NULL;
        guard_enter();
        state_put(rs);
        guard_leave();
        return;
    }
    if (rs->rule->mode != RETRY_IDEMPOTENT) rs->req_cap = 0;
    if (rs->req_cap) rs->budget = budget_for(&c->peer);
}

void retry_note_sockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct retry_state *rs = state_of(fd);
    if (!rs || !val || len > OPT_VAL_MAX) return;
    unsigned i = 0;
    while (i < rs->nopts && !(rs->opts[i].level == level && rs->opts[i].name == name))
        i++;
    if (i == OPTS_MAX) return;
    rs->opts[i].level = level, rs->opts[i].name = name, rs->opts[i].len = len;
    memcpy(rs->opts[i].val, val, len);
    if (i == rs->nopts) rs->nopts++;
}

void retry_note_fl(int fd, int flags)
{
    struct retry_state *rs = state_of(fd);
    if (rs) rs->fl = flags, rs->have_fl = 1;
}

void retry_note_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct retry_state *rs = state_of(fd);
    if (!rs || !sa || len > sizeof rs->bind_addr) return;
    memcpy(&rs->bind_addr, sa, len);
    rs->bind_len = len;
}

void retry_note_epoll(int ep, int op, int fd, const struct epoll_event *ev)
{
    struct retry_state *rs = state_of(fd);
    if (!rs) return;
    unsigned i = 0;
    while (i < rs->neps && rs->eps[i].ep != ep)
        i++;
    if (op == EPOLL_CTL_DEL) {
        if (i < rs->neps) rs->eps[i] = rs->eps[--rs->neps];
        return;
    }
    if (!ev || i == EPS_MAX) return;
    rs->eps[i].ep = ep;
    rs->eps[i].ev = *ev;
    if (i == rs->neps) rs->neps++;
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

void retry_after_fork(void)
{
    atomic_store_explicit(&shared_below, conn_table_next_id(), memory_order_relaxed);
}

void retry_forget(struct conn *c)
{
    struct retry_state *rs = c->retry;
    if (!rs) return;
    pending_remove(c);
    c->retry = NULL;
    guard_enter();
    state_put(rs);
    guard_leave();
}

/* ---- the replacement socket ----------------------------------------------------- */

/* A new socket like the app's, with its options; returns the fd or -errno. */
static int fresh_socket(const struct retry_state *rs)
{
    int fd = real_socket(rs->domain, rs->type | SOCK_CLOEXEC, rs->proto);
    if (fd < 0) return -errno;
    if (rs->have_fl) real_fcntl(fd, F_SETFL, (void *)(intptr_t)rs->fl);
    for (unsigned i = 0; i < rs->nopts; i++)
        real_setsockopt(fd, rs->opts[i].level, rs->opts[i].name, rs->opts[i].val, rs->opts[i].len);
    if (rs->bind_len && real_bind(fd, &rs->bind_addr.sa, rs->bind_len) < 0) {
        int e = errno;
        real_close(fd);
        return -e;
    }
    return fd;
}

/* Puts nfd on the app's fd number (keeping its close-on-exec flag) and
 * re-registers it with every epoll set the app had added it to. Refuses
 * (-ESTALE, nfd closed) when fd is no longer c's socket: dup3 over an fd the
 * app now uses for something else would destroy it. */
static int move_onto(int nfd, int fd, struct conn *c)
{
    const struct retry_state *rs = c->retry;
    if (!watch_conn_at(fd, c)) {
        real_close(nfd);
        return -ESTALE;
    }
    int fdflags = real_fcntl(fd, F_GETFD, NULL);
    int r = real_dup3(nfd, fd, fdflags > 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0);
    int e = errno;
    real_close(nfd);
    if (r < 0) return -e;
    c->ident = fdident_take(fd);
    for (unsigned i = 0; i < rs->neps; i++) {
        struct epoll_event ev = rs->eps[i].ev;
        if (real_epoll_ctl(rs->eps[i].ep, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
            real_epoll_ctl(rs->eps[i].ep, EPOLL_CTL_MOD, fd, &ev);
    }
    return 0;
}

static void retry_record(int fd, struct conn *c, unsigned op, int err, int attempt,
                         const char *action, const char *outcome, const char *reason)
{
    struct record_info ri = {.type = "retry",
                             .fd = fd,
                             .op = op,
                             .err = err,
                             .now_ns = clock_now_ns(),
                             .attempt = attempt,
                             .action = action,
                             .outcome = outcome,
                             .reason = reason};
    watch_record(fd, c, &ri);
}

/* ---- connect retry ---------------------------------------------------------------- */

int retry_wants_connect(const struct conn *c)
{
    return c->retry && c->retry->rule->mode != RETRY_OFF;
}

int retry_connect(int fd, struct conn *c, const struct sockaddr *sa, socklen_t len, int *err)
{
    struct retry_state *rs = c->retry;
    if (len <= sizeof rs->peer) memcpy(&rs->peer, sa, len), rs->peer_len = len;
    int e;
    int r = watch_connect_once(fd, c, sa, len, &e);
    rs->attempt = 1;
    while (r < 0 && retryable_connect_errno(e) && rs->attempt < rs->rule->attempts) {
        ring_push(&c->ring, OP_CONNECT, -1, e, clock_now_ns());
        int prev = e; /* the failure this attempt answers */
        sleep_ms(backoff_ms(rs->rule, rs->attempt));
        rs->attempt++;
        int nfd = fresh_socket(rs);
        if (nfd < 0) break;
        if (move_onto(nfd, fd, c) < 0) break;
        c->local.sa.sa_family = 0; /* a new socket, a new local address */
        r = watch_connect_once(fd, c, sa, len, &e);
        ring_push(&c->ring, OP_RETRY, (int64_t)rs->attempt, 0, clock_now_ns());
        retry_record(fd, c, OP_CONNECT, prev, (int)rs->attempt, "reconnect",
                     r == 0             ? "ok"
                     : e == EINPROGRESS ? "in_progress"
                                        : "failed",
                     "connect was refused or unreachable");
    }
    if (r < 0 && e == EINPROGRESS && rs->attempt < rs->rule->attempts) pending_add(fd, c);
    *err = e;
    return r;
}

void retry_connect_settled(struct conn *c)
{
    pending_remove(c);
}

/* A watched non-blocking connect reported readiness: decide, and maybe replace
 * the socket. Returns 1 if the event must be hidden from the app. */
static int check_pending(int fd, struct conn *c)
{
    struct retry_state *rs = c->retry;
    if (!rs || !atomic_load(&rs->pending)) return 0;
    int so_error = 0;
    socklen_t sl = sizeof so_error;
    /* We read SO_ERROR only while another attempt is possible, so the error of
     * the final attempt always reaches the app through its own getsockopt. */
    if (!watch_conn_at(fd, c)) {
        pending_remove(c);
        return 0;
    }
    if (real_getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) < 0) return 0;
    if (so_error == 0 || !retryable_connect_errno(so_error)) {
        pending_remove(c);
        return 0;
    }
    ring_push(&c->ring, OP_SOCKOPT_ERROR, -1, so_error, clock_now_ns());
    sleep_ms(backoff_ms(rs->rule, rs->attempt));
    rs->attempt++;
    int nfd = fresh_socket(rs);
    if (nfd < 0 || move_onto(nfd, fd, c) < 0) {
        if (nfd >= 0) real_close(nfd);
        pending_remove(c);
        return 0;
    }
    c->local.sa.sa_family = 0;
    int e;
    int r = watch_connect_once(fd, c, &rs->peer.sa, rs->peer_len, &e);
    ring_push(&c->ring, OP_RETRY, (int64_t)rs->attempt, 0, clock_now_ns());
    retry_record(fd, c, OP_CONNECT, so_error, (int)rs->attempt, "reconnect",
                 r == 0             ? "ok"
                 : e == EINPROGRESS ? "in_progress"
                                    : "failed",
                 "non-blocking connect was refused or unreachable");
    if (r == 0 || e != EINPROGRESS || rs->attempt >= rs->rule->attempts) pending_remove(c);
    return r < 0 && e == EINPROGRESS; /* still connecting: the app keeps waiting */
}

static int64_t ms_left(uint64_t start, int tmo)
{
    if (tmo < 0) return -1;
    int64_t left = tmo - (int64_t)((clock_now_ns() - start) / 1000000);
    return left < 0 ? 0 : left;
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
        if (r <= 0 || !atomic_load_explicit(&npending, memory_order_relaxed) || guard_active())
            return r;
        int saved = errno, hidden = 0;
        for (nfds_t i = 0; i < n; i++) {
            if (!p[i].revents) continue;
            struct conn *c = conn_table_get(p[i].fd);
            if (!conn_is_live(c) || !c->retry || !atomic_load(&c->retry->pending)) continue;
            if (check_pending(p[i].fd, c)) p[i].revents = 0, hidden++;
        }
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
        if (r <= 0 || !atomic_load_explicit(&npending, memory_order_relaxed) || guard_active())
            return r;
        int saved = errno, kept = 0;
        for (int i = 0; i < r; i++) {
            int fd = -1;
            struct conn *c = pending_for_event(ep, ev[i].data.u64, &fd);
            if (!(c && fd >= 0 && check_pending(fd, c))) ev[kept++] = ev[i];
        }
        errno = saved;
        if (kept) return kept;
        int64_t left = ms_left(start, tmo0);
        if (left == 0) return 0;
        if (left > 0) tmo = (int)left;
    }
}

/* ---- replay ------------------------------------------------------------------------ */

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

void retry_out_unbuffered(struct conn *c)
{
    struct retry_state *rs = c->retry;
    if (!rs) return;
    if (c->dir != DIR_OUT) request_begin(c, NULL, 0);
    rs->req_incomplete = 1;
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
    if (c->id < atomic_load_explicit(&shared_below, memory_order_relaxed))
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
    if (!watch_conn_at(fd, c)) return -ESTALE; /* closed behind our back: not ours to touch */
    watch_fill_local(fd, c); /* the replay record names the connection that failed */
    int app_fl = real_fcntl(fd, F_GETFL, NULL);
    uint64_t bound_ms =
        app_fl >= 0 && (app_fl & O_NONBLOCK) ? REPLAY_NONBLOCKING_MS : REPLAY_BLOCKING_MS;
    uint64_t deadline = clock_now_ns() + bound_ms * 1000000ull;
    int nfd = fresh_socket(rs);
    int e = nfd < 0 ? nfd : connect_bounded(nfd, rs, deadline);
    if (!e) e = send_all(nfd, rs->req, rs->req_len, deadline);
    if (!e) {
        e = move_onto(nfd, fd, c); /* closes nfd either way */
        nfd = -1;
    }
    if (!e) {
        if (rs->budget) atomic_fetch_add(&rs->budget->replays, 1);
        uint64_t t = clock_now_ns();
        ring_push(&c->ring, op, -1, cause_err, t);
        ring_push(&c->ring, OP_REPLAY, (int64_t)rs->req_len, 0, t);
        retry_record(fd, c, op, cause_err, 1, "replay", "ok", why_ok);
        c->flags &= ~CONN_PEER_FIN;
        c->t_last = t;
        c->local.sa.sa_family = 0; /* later records name the new connection's address */
        return 0;
    }
    if (nfd >= 0) real_close(nfd);
    if (e == -ESTALE) return e;
    const char *desc =
        e == -ETIMEDOUT ? "the replay did not finish within its time bound" : strerrordesc_np(-e);
    retry_record(fd, c, op, cause_err, 1, "replay", "failed", desc ? desc : "error");
    return e;
}

ssize_t retry_after_out(int fd, struct conn *c, unsigned op, const struct iovec *v, int cnt,
                        ssize_t r, int *err)
{
    struct retry_state *rs = c->retry;
    if (r > 0) {
        if (rs->req_cap || c->dir != DIR_OUT) retry_copy_outv(c, v, cnt, (size_t)r);
        return r;
    }
    if (r == 0 || *err == EAGAIN || *err == EINTR) return r; /* nothing left, nothing lost */
    /* After the app's own shutdown(SHUT_WR), EPIPE is its own doing: never a replay. */
    if (rs->rule->mode != RETRY_IDEMPOTENT || c->role == ROLE_SERVER ||
        !(*err == ECONNRESET || *err == EPIPE) || (c->flags & CONN_SHUT_WR)) {
        /* A failed write still begins a request (the exchange count moves on):
         * whatever the buffer held is no longer the current request. */
        if (c->dir != DIR_OUT) request_begin(c, NULL, 0);
        rs->req_incomplete = 1;
        return r;
    }
    /* The connection died under this write (the peer's RST was already in):
     * this call's bytes complete the buffered request, then the usual rules.
     * The kernel may have failed the call before reading the app's buffers,
     * so they are read with process_vm_readv (EFAULT, never a crash). */
    struct iovec app[64];
    if (cnt <= 0 || cnt > 64) return r;
    struct iovec vec_local = {app, sizeof app[0] * (size_t)cnt};
    struct iovec vec_remote = {(void *)v, vec_local.iov_len};
    if (process_vm_readv(getpid(), &vec_local, 1, &vec_remote, 1, 0) != (ssize_t)vec_local.iov_len)
        return r;
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += app[i].iov_len;
    if (!total || total > SSIZE_MAX) return r;
    int first = c->dir != DIR_OUT;
    if (first) request_begin(c, NULL, 0);
    if (!rs->req_cap || total > rs->req_cap - rs->req_len) {
        rs->req_incomplete = 1;
    } else {
        struct iovec dst = {rs->req + rs->req_len, total};
        if (process_vm_readv(getpid(), &dst, 1, app, (unsigned long)cnt, 0) != (ssize_t)total)
            return r;
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
    /* The app was told these bytes did not leave: they belong to no request
     * the shim may ever send, so nothing on this connection is replayed now. */
    rs->req_incomplete = 1;
    return r;
}

ssize_t retry_after_in(int fd, struct conn *c, unsigned op, ssize_t r, int *err)
{
    struct retry_state *rs = c->retry;
    if (r > 0 || rs->rule->mode != RETRY_IDEMPOTENT || c->role == ROLE_SERVER) return r;
    int reset = r < 0 && (*err == ECONNRESET || *err == EPIPE);
    int stale_eof = r == 0 && c->exchanges > 1;
    if (!(reset || stale_eof) || c->exchange_resp > 0 || c->dir != DIR_OUT) return r;
    /* Only a socket gives EOF or a reset: anything else at this fd number
     * (a pipe after a close we did not see) is not this connection. */
    if (!watch_conn_at(fd, c)) return r;
    int cause_err = reset ? *err : ECONNRESET;
    const char *why = replay_refusal(fd, c, rs);
    if (why) {
        retry_record(fd, c, op, cause_err, 0, "none", "refused", why);
        return r;
    }
    if (replay_request(fd, c, op, cause_err,
                       reset ? "reset before any response byte"
                             : "EOF on a reused connection before any response byte"))
        return r;
    return RETRY_REISSUE;
}
