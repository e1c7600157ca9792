// SPDX-License-Identifier: MIT
/* ring.h: the per-connection event timeline, a fixed-size lock-free ring.
 *
 * Writers advance the head with a relaxed load and store, no locked
 * instruction: threads sharing a socket never block each other, and the rare
 * two threads writing one connection at the same instant can lose one event
 * to the other (never memory safety: the index is always masked). Consecutive
 * successful calls of the same kind (a stream of recv()s, EAGAIN storms) merge
 * into one event with a count, so 64 slots tell the story of a long
 * connection. A reader racing a writer can see one half-written event; that
 * only ever blurs a timeline. */
#ifndef RSTWATCH_RING_H
#define RSTWATCH_RING_H

#include <stdatomic.h>
#include <stdint.h>

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

/* Event kinds; names in ring_op_name(). Order is part of nothing external. */
enum ev_op {
    OP_NONE,
    OP_CONNECT,
    OP_ACCEPT,
    OP_SEND,
    OP_SENDTO,
    OP_SENDMSG,
    OP_SENDMMSG,
    OP_WRITE,
    OP_WRITEV,
    OP_SENDFILE,
    OP_SPLICE,
    OP_RECV,
    OP_RECVFROM,
    OP_RECVMSG,
    OP_RECVMMSG,
    OP_READ,
    OP_READV,
    OP_SHUTDOWN,
    OP_CLOSE,
    OP_SOCKOPT_ERROR, /* the app read SO_ERROR: a non-blocking connect's outcome */
    OP_CONNECTED,     /* a non-blocking connect seen complete (poll / first I/O) */
    OP_RETRY,         /* the shim reconnected this fd */
    OP_REPLAY,        /* the shim replayed the buffered request */
    OP_INJECT,        /* the shim injected a fault here */
    OP_POLL,          /* poll/epoll_wait reported the failure (a replay there: retry.h) */
    OP_COUNT
};

struct event {
    uint64_t t_ns;    /* CLOCK_MONOTONIC at the end of the (first merged) call */
    uint32_t span_1k; /* last merged call minus first, in units of 1024 ns, saturating */
    int32_t ret;      /* return value (sum of bytes when merged), -1 on error */
    uint16_t n;       /* calls merged into this event */
    uint8_t op;       /* enum ev_op */
    uint8_t err;      /* errno (all socket errnos fit), 0 on success */
};

struct ring {
    _Atomic uint32_t head; /* total events ever pushed */
    uint32_t mask;         /* slots - 1 */
    struct event ev[];     /* slots */
};

const char *ring_op_name(unsigned op);

static inline int32_t ring_sat_add(int32_t a, int64_t b)
{
    int64_t s = (int64_t)a + b;
    return s > INT32_MAX ? INT32_MAX : (int32_t)s;
}

/* Appends (or merges) one call's outcome. ret is clamped to int32. */
static inline void ring_push(struct ring *r, unsigned op, int64_t ret, int err, uint64_t t_ns)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h) {
        struct event *last = &r->ev[(h - 1) & r->mask];
        /* Merge runs of successful transfers, and runs of the same error (EAGAIN). */
        if (last->op == op && last->err == (uint8_t)err && (err ? ret < 0 : ret > 0) &&
            last->n != UINT16_MAX) {
            uint64_t span = (t_ns - last->t_ns) >> 10; /* a shift, not a division */
            last->span_1k = span > UINT32_MAX ? UINT32_MAX : (uint32_t)span;
            if (!err) last->ret = ring_sat_add(last->ret, ret);
            last->n++;
            return;
        }
    }
    atomic_store_explicit(&r->head, h + 1, memory_order_relaxed);
    struct event *e = &r->ev[h & r->mask];
    e->t_ns = t_ns;
    e->span_1k = 0;
    e->ret = ret > INT32_MAX ? INT32_MAX : (int32_t)ret;
    e->n = 1;
    e->op = (uint8_t)op;
    e->err = (uint8_t)err;
}

/* Number of events lost to wrap-around. */
static inline uint32_t ring_dropped(const struct ring *r)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    return h > r->mask + 1 ? h - (r->mask + 1) : 0;
}

#pragma GCC visibility pop

#endif
