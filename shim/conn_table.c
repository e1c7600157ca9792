// SPDX-License-Identifier: MIT
/* conn_table.c: the fd table and the connection pool (see conn_table.h).
 *
 * Allocation and release take a spinlock that is only ever held for a few
 * pointer moves, always under the reentrancy guard (so a signal handler on the
 * same thread cannot spin on it) and across fork (atfork), never on the
 * send/recv path. Memory comes from mmap in slabs and is recycled, never freed:
 * a thread still holding a stale pointer writes into a valid object at worst. */
#include "conn_table.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "guard.h"
#include "listener.h"
#include "sandbox.h"

#define SLAB_CONNS 32 /* connections per slab */

_Atomic(struct conn *) conn_slots[CONN_SLOT_CAP];
unsigned conn_slot_cap;
_Atomic unsigned conn_connecting;
void (*conn_on_last_close)(struct conn *c);

static size_t stride;
static unsigned ring_slots;
static atomic_flag pool_lock = ATOMIC_FLAG_INIT;
static struct conn *free_list;
static _Atomic uint64_t next_id = 1;
static _Atomic unsigned max_fd;

int conn_table_init(unsigned ring_events)
{
    ring_slots = ring_events;
    stride = sizeof(struct conn) + (size_t)ring_events * sizeof(struct event);
    stride = (stride + 63) & ~(size_t)63; /* whole cache lines: no false sharing */
    atomic_signal_fence(memory_order_seq_cst);
    conn_slot_cap = CONN_SLOT_CAP;
    return 0;
}

size_t conn_table_stride(void)
{
    return stride;
}

static void pool_lock_take(void)
{
    while (atomic_flag_test_and_set_explicit(&pool_lock, memory_order_acquire))
        cpu_relax();
}

static void pool_lock_drop(void)
{
    atomic_flag_clear_explicit(&pool_lock, memory_order_release);
}

/* Pops a connection from the free list, growing it by a slab when empty. */
static struct conn *pool_get(void)
{
    pool_lock_take();
    if (!free_list) {
        char *slab = mmap(NULL, stride * SLAB_CONNS, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (slab != MAP_FAILED) {
            for (int i = SLAB_CONNS - 1; i >= 0; i--) {
                struct conn *c = (struct conn *)(slab + (size_t)i * stride);
                c->next_free = free_list;
                free_list = c;
            }
        }
    }
    struct conn *c = free_list;
    if (c) free_list = c->next_free;
    pool_lock_drop();
    return c;
}

static void pool_put(struct conn *c)
{
    pool_lock_take();
    c->next_free = free_list;
    free_list = c;
    pool_lock_drop();
}

static void note_fd(int fd)
{
    unsigned cur = atomic_load_explicit(&max_fd, memory_order_relaxed);
    while ((unsigned)fd > cur &&
           !atomic_compare_exchange_weak_explicit(&max_fd, &cur, (unsigned)fd, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

uint64_t conn_table_next_id(void)
{
    return atomic_load_explicit(&next_id, memory_order_relaxed);
}

unsigned conn_table_max_fd(void)
{
    return atomic_load_explicit(&max_fd, memory_order_relaxed);
}

/* Releases a connection whose fd the kernel closed without a close() we saw
 * (dup2/dup3 onto it, close_range, closefrom, a stale slot reused): when this
 * is its last fd, its timeline still ends with a close on the right fd number,
 * as it does after a plain close(). */
static void release_closed(struct conn *c, int fd)
{
    if (atomic_load_explicit(&c->refs, memory_order_relaxed) == 1) {
        ring_push(&c->ring, OP_CLOSE, 0, 0, clock_now_ns());
        c->close_fd = (uint64_t)fd;
    }
    conn_release(c);
}

struct conn *conn_table_open(int fd, int family, int role, uint64_t now_ns)
{
    if ((unsigned)fd >= conn_slot_cap) return NULL;
    guard_enter();
    struct conn *c = pool_get();
    if (c) {
        /* Only the header is cleared; the ring is valid once head is 0. */
        memset(c, 0, sizeof *c);
        atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
        c->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
        c->family = (uint8_t)family;
        c->role = (uint8_t)role;
        conn_slow_update(c); /* the protocol is not seen yet */
        c->t_create = c->t_last = now_ns;
        c->ring.mask = ring_slots - 1;
        note_fd(fd);
    }
    struct conn *old = atomic_exchange_explicit(&conn_slots[fd], c, memory_order_acq_rel);
    listener_forget(fd);
    if (conn_is_live(old)) release_closed(old, fd);
    guard_leave();
    return c;
}

void conn_table_mark(int fd, struct conn *mark)
{
    if ((unsigned)fd >= conn_slot_cap) return;
    if (mark) note_fd(fd);
    struct conn *old = atomic_exchange_explicit(&conn_slots[fd], mark, memory_order_acq_rel);
    listener_forget(fd);
    if (conn_is_live(old)) {
        guard_enter();
        release_closed(old, fd);
        guard_leave();
    }
}

void conn_table_dup(int fd, int nfd)
{
    if ((unsigned)nfd >= conn_slot_cap) return;
    struct conn *c = conn_table_get(fd);
    if (!c && !conn_table_get(nfd)) return; /* neither is ours: the common case */
    guard_enter();
    if (conn_is_live(c)) {
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
        note_fd(nfd);
    }
    struct conn *old = atomic_exchange_explicit(&conn_slots[nfd], c, memory_order_acq_rel);
    listener_forget(nfd);
    if (conn_is_live(old)) release_closed(old, nfd); /* a twin of fd: refs > 1, no close event */
    guard_leave();
}

void conn_table_forget_if(int fd, struct conn *c)
{
    if ((unsigned)fd >= conn_slot_cap) return;
    struct conn *expect = c;
    if (!atomic_compare_exchange_strong_explicit(&conn_slots[fd], &expect, NULL,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return;
    listener_forget(fd);
    guard_enter();
    release_closed(c, fd);
    guard_leave();
}

struct conn *conn_table_take(int fd)
{
    if ((unsigned)fd >= conn_slot_cap) return NULL;
    if (!atomic_load_explicit(&conn_slots[fd], memory_order_relaxed)) return NULL;
    listener_forget(fd);
    return atomic_exchange_explicit(&conn_slots[fd], NULL, memory_order_acq_rel);
}

void conn_release(struct conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    guard_enter();
    if (conn_on_last_close) conn_on_last_close(c);
    if (c->flags & CONN_CONNECTING)
        atomic_fetch_sub_explicit(&conn_connecting, 1, memory_order_relaxed);
    c->id = 0;
    pool_put(c);
    guard_leave();
}

void conn_table_forget_range(unsigned lo, unsigned hi)
{
    listener_forget_range(lo, hi);
    unsigned top = conn_table_max_fd();
    if (hi > top) hi = top;
    for (unsigned fd = lo; fd <= hi && fd < conn_slot_cap; fd++) {
        struct conn *c = conn_table_take((int)fd);
        if (conn_is_live(c)) release_closed(c, (int)fd);
    }
}

void conn_table_atfork_prepare(void)
{
    guard_enter();
    pool_lock_take();
}

void conn_table_atfork_parent(void)
{
    pool_lock_drop();
    guard_leave();
}

void conn_table_atfork_child(void)
{
    pool_lock_drop();
    guard_leave();
}

void conn_table_unseen_fork(void)
{
    /* The child has one thread, this one, which is not in pool_get or
     * pool_put: a lock held at the clone was another thread's, which the
     * child does not have. */
    pool_lock_drop();
}

int conn_table_in_vfork_child(void)
{
    return sandbox_vfork_child();
}
