// SPDX-License-Identifier: MIT
/* retry_state.c: the per-connection retry state (see retry_state.h): its
 * pool, the recipe notes taken from the app's calls (options, flags, bind
 * address, epoll registrations), the per-peer budgets, the replacement
 * socket built from the recipe and moved onto the app's fd number. */
#include "retry_state.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "conn_event.h"
#include "fdident.h"
#include "guard.h"
#include "real.h"
#include "record.h"

#define STATE_SLAB_BYTES (1u << 20)

static struct peer_budget budgets[PEERS_MAX];
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

void retry_state_init(size_t req_cap)
{
    state_req_cap = req_cap;
    state_stride = (sizeof(struct retry_state) + req_cap + 63) & ~(size_t)63;
}

struct retry_state *retry_state_get(void)
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

void retry_state_put(struct retry_state *rs)
{
    while (atomic_flag_test_and_set_explicit(&state_lock, memory_order_acquire))
        cpu_relax();
    rs->next_free = state_free;
    state_free = rs;
    atomic_flag_clear_explicit(&state_lock, memory_order_release);
}

struct retry_state *retry_state_of(int fd)
{
    struct conn *c = conn_table_get(fd);
    return conn_is_live(c) ? c->retry : NULL;
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
struct peer_budget *retry_budget_for(const union sockaddr_any *a)
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

void retry_after_fork(void)
{
    atomic_store_explicit(&shared_below, conn_table_next_id(), memory_order_relaxed);
}

int retry_conn_shared(const struct conn *c)
{
    return c->id < atomic_load_explicit(&shared_below, memory_order_relaxed);
}

/* The retry state a call on fd notes its effect into, once fd is known to
 * still be the connection's socket: after an unseen close another file (a
 * socketpair, a pipe) may hold the number while the connection lives on
 * through a dup, and what is done to that file must not shape the socket a
 * reconnect builds (docs/design.md "Never hurt the host", rule 2). One
 * getsockopt, on calls made a few times per connection, with retry on. */
static struct retry_state *note_target(int fd)
{
    struct conn *c = conn_table_get(fd);
    if (!conn_is_live(c) || !c->retry || guard_active()) return NULL;
    return conn_at(fd, c) ? c->retry : NULL;
}

void retry_note_sockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    if (!val || len > OPT_VAL_MAX) return;
    struct retry_state *rs = note_target(fd);
    if (!rs) return;
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
    struct retry_state *rs = note_target(fd);
    if (rs) rs->fl = flags, rs->have_fl = 1;
}

void retry_note_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (!sa) return;
    struct retry_state *rs = note_target(fd);
    if (!rs || len > sizeof rs->bind_addr) return;
    memcpy(&rs->bind_addr, sa, len);
    rs->bind_len = len;
}

void retry_note_epoll(int ep, int op, int fd, const struct epoll_event *ev)
{
    struct retry_state *rs = retry_state_of(fd);
    if (!rs) return;
    unsigned i = 0;
    while (i < rs->neps && rs->eps[i].ep != ep)
        i++;
    /* A new registration is checked; an update of a known one needs no
     * check: the kernel refuses EPOLL_CTL_MOD of a file it never added. */
    if (i == rs->neps && op != EPOLL_CTL_DEL && note_target(fd) != rs) return;
    if (op == EPOLL_CTL_DEL) {
        if (i < rs->neps) rs->eps[i] = rs->eps[--rs->neps];
        return;
    }
    if (!ev || i == EPS_MAX) return;
    rs->eps[i].ep = ep;
    rs->eps[i].ev = *ev;
    if (i == rs->neps) rs->neps++;
}

/* ---- the replacement socket ----------------------------------------------------- */

/* A new socket like the app's, with its options; returns the fd or -errno. */
int retry_fresh_socket(const struct retry_state *rs)
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
int retry_move_onto(int nfd, int fd, struct conn *c)
{
    const struct retry_state *rs = c->retry;
    if (!conn_at(fd, c)) {
        real_close(nfd);
        return -ESTALE;
    }
    int fdflags = real_fcntl(fd, F_GETFD, NULL);
    int r = real_dup3(nfd, fd, fdflags > 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0);
    int e = errno;
    real_close(nfd);
    if (r < 0) return -e;
    conn_socket_replaced(fd, c);
    for (unsigned i = 0; i < rs->neps; i++) {
        struct epoll_event ev = rs->eps[i].ev;
        if (real_epoll_ctl(rs->eps[i].ep, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
            real_epoll_ctl(rs->eps[i].ep, EPOLL_CTL_MOD, fd, &ev);
    }
    return 0;
}

void retry_record(int fd, struct conn *c, unsigned op, int err, int attempt, const char *action,
                  const char *outcome, const char *reason)
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
    conn_record(fd, c, &ri);
}

int retry_take_stashed_error(struct conn *c)
{
    struct retry_state *rs = c->retry;
    if (!rs || !rs->stashed_err) return 0;
    int e = rs->stashed_err;
    rs->stashed_err = 0;
    return e;
}
