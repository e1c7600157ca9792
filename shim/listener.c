// SPDX-License-Identifier: MIT
/* listener.c: what a listener's accepted connections share (see listener.h). */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include "real.h"
#include "sandbox.h"

#define LISTENERS 256 /* entries, indexed by fd modulo: a collision only costs a re-learning */
/* A listener's address: an inet one (unix listeners are not kept). */
union inet_addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};
#define ADDR_WORDS ((sizeof(union inet_addr) + 3) / 4)

enum { LS_EMPTY, LS_OWN, LS_ASK };

/* Every field is atomic (relaxed) so that a reader racing a writer is no
 * data race; the sequence number tells the reader whether what it read is
 * whole: odd while a writer is at work, and changed by every write. */
struct listener {
    _Atomic uint32_t seq;
    _Atomic int fd1; /* fd + 1; 0: empty */
    _Atomic uint32_t state;
    _Atomic uint32_t addr[ADDR_WORDS];
};

static struct listener table[LISTENERS];

static struct listener *entry(int fd)
{
    return &table[(unsigned)fd & (LISTENERS - 1)];
}

static int wildcard(const union inet_addr *a)
{
    if (a->sa.sa_family == AF_INET) return a->in.sin_addr.s_addr == htonl(INADDR_ANY);
    if (a->sa.sa_family != AF_INET6) return 1;
    const struct in6_addr *v6 = &a->in6.sin6_addr;
    if (IN6_IS_ADDR_UNSPECIFIED(v6)) return 1;
    return IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr32[3] == 0; /* ::ffff:0.0.0.0 */
}

/* Asks the kernel about listener lfd: LS_OWN (and the address) or LS_ASK. */
static unsigned ask(int lfd, int family, union inet_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(out, 0, sizeof *out);
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0 || ss.ss_family != family ||
        len > sizeof *out)
        return LS_ASK;
    memcpy(out, &ss, len);
    if (wildcard(out)) return LS_ASK;
    int on = 1;
    socklen_t ol = sizeof on;
    int r = family == AF_INET ? real_getsockopt(lfd, SOL_IP, IP_TRANSPARENT, &on, &ol)
                              : real_getsockopt(lfd, SOL_IPV6, IPV6_TRANSPARENT, &on, &ol);
    return r == 0 && on == 0 ? LS_OWN : LS_ASK; /* a refused question: ask each connection */
}

int listener_local(int lfd, int family, void *out, size_t len)
{
    if ((family != AF_INET && family != AF_INET6) || lfd < 0) return 0;
    struct listener *e = entry(lfd);
    uint32_t s = atomic_load_explicit(&e->seq, memory_order_acquire);
    if (!(s & 1) && atomic_load_explicit(&e->fd1, memory_order_relaxed) == lfd + 1) {
        uint32_t st = atomic_load_explicit(&e->state, memory_order_relaxed);
        uint32_t w[ADDR_WORDS];
        for (size_t i = 0; i < ADDR_WORDS; i++)
            w[i] = atomic_load_explicit(&e->addr[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s && st != LS_EMPTY) {
            if (st == LS_ASK) return 0;
            memcpy(out, w, len < sizeof w ? len : sizeof w);
            return 1;
        }
    }
    if (sandbox_filtered()) return 0; /* no question under a filter */
    /* Claim the entry for lfd before asking, so that a listener_forget(lfd)
     * while the kernel is asked (another thread closing it) voids the
     * answer: the final write only goes ahead if nothing moved meanwhile.
     * An entry another thread is writing is left alone (asked, not kept). */
    uint32_t mine = 0;
    s = atomic_load_explicit(&e->seq, memory_order_relaxed);
    if (!(s & 1) && atomic_compare_exchange_strong(&e->seq, &s, s + 1)) {
        atomic_store_explicit(&e->fd1, lfd + 1, memory_order_relaxed);
        atomic_store_explicit(&e->state, LS_EMPTY, memory_order_relaxed);
        atomic_store_explicit(&e->seq, s + 2, memory_order_release);
        mine = s + 2;
    }
    int saved = errno;
    union inet_addr a;
    unsigned st = ask(lfd, family, &a);
    errno = saved;
    if (mine && atomic_compare_exchange_strong(&e->seq, &mine, mine + 1)) {
        uint32_t w[ADDR_WORDS] = {0};
        memcpy(w, &a, sizeof a);
        atomic_store_explicit(&e->state, st, memory_order_relaxed);
        for (size_t i = 0; i < ADDR_WORDS; i++)
            atomic_store_explicit(&e->addr[i], w[i], memory_order_relaxed);
        /* A forget meanwhile has cleared fd1 and moved the count on by 2:
         * the entry is then no one's, whatever was written. */
        atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
    }
    if (st != LS_OWN) return 0;
    memcpy(out, &a, len < sizeof a ? len : sizeof a);
    return 1;
}

void listener_forget(int fd)
{
    if (fd < 0) return;
    struct listener *e = entry(fd);
    if (atomic_load_explicit(&e->fd1, memory_order_relaxed) != fd + 1) return;
    /* Even while a writer is at work: the count moves on, parity kept, and
     * readers take whatever they read before for stale. */
    atomic_store_explicit(&e->fd1, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->seq, 2, memory_order_acq_rel);
}

void listener_forget_range(unsigned lo, unsigned hi)
{
    for (size_t i = 0; i < LISTENERS; i++) {
        int fd1 = atomic_load_explicit(&table[i].fd1, memory_order_relaxed);
        if (fd1 && (unsigned)(fd1 - 1) >= lo && (unsigned)(fd1 - 1) <= hi) listener_forget(fd1 - 1);
    }
}
