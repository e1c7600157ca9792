// SPDX-License-Identifier: MIT
/* conn_table.h: fd -> connection state.
 *
 * A flat array of pointers indexed by fd, in demand-zero .bss: untouched
 * pages cost nothing and read as NULL, so a lookup for any fd is one bounds
 * check and one load, and an untracked fd (file, pipe) costs exactly that.
 * The table is a hint, never the truth: an fd can be closed behind our back
 * and reused; slow paths confirm it with fdident.h first. Connections live in a pool that is never
 * returned to the OS; a connection is shared by all fds dup'd from it (refs) and ends when the last
 * one closes. Each gets a process-unique id, the "conn" of its records, which
 * doubles as its generation: a recycled slot never reuses an id. */
#ifndef RSTWATCH_CONN_TABLE_H
#define RSTWATCH_CONN_TABLE_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cause.h"
#include "ring.h"

/* Everything declared here is internal to the shim: direct, GOT-free access. */
#pragma GCC visibility push(hidden)

enum conn_role { ROLE_UNKNOWN, ROLE_CLIENT, ROLE_SERVER };

/* Which of two libc functions with one logic a hook stands for: the plain
 * one (accept, dup2, fcntl, sendfile, poll, epoll_wait) or its sibling
 * (accept4, dup3, fcntl64, sendfile64, ppoll, epoll_pwait). */
enum call_variant { CALL_PLAIN, CALL_SIBLING };

/* Is the shim recording at all (not disabled, table set up)? */
#define conn_table_enabled() (conn_slot_cap != 0)
/* Where the connection's bytes last flowed. Below DIR_OUT a request-direction
 * transfer begins a new exchange; DIR_CLOSING (this side sent a TLS
 * close_notify) takes no request and awaits no response. */
enum conn_dir { DIR_NONE, DIR_IN, DIR_OUT, DIR_CLOSING };

/* Compact TCP_INFO: the fields a diagnosis needs. */
struct tcp_snap {
    uint64_t t_ns; /* 0 = never taken */
    uint8_t state;
    uint8_t retransmits; /* current consecutive RTO retransmissions */
    uint8_t ext;         /* the kernel reported min_rtt and bytes_received (Linux 4.6+) */
    uint8_t goodbye;     /* enum cause_goodbye: what the unread bytes said (tcpinfo.h) */
    uint32_t rtt_us, rttvar_us;
    uint32_t total_retrans, unacked, lost;
    uint32_t last_data_recv_ms, last_data_sent_ms;
    uint32_t min_rtt_us;  /* the lowest round-trip time seen (ext) */
    uint32_t unread;      /* bytes the kernel had received and the program not read (ext) */
    char goodbye_code[8]; /* SQLSTATE, MySQL error number or HTTP status; "" */
};

union sockaddr_any {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

struct retry_state; /* retry.c: options to re-apply, replay buffer; NULL when retry is off */

struct conn {
    _Atomic uint32_t refs; /* fds pointing here */
    uint32_t flags;        /* CONN_* */
    uint64_t id;
    uint64_t t_create, t_last; /* monotonic ns: creation, last successful I/O */
    uint64_t t_exchange,
        idle_before; /* start of the current exchange's first call; quiet gap before it */
    uint64_t bytes_in, bytes_out;
    uint64_t exchange_resp;     /* response-direction bytes in the current exchange */
    uint64_t resp_before_write; /* the previous exchange's, when a failed write began one */
    uint64_t close_fd;          /* fd whose close ended the connection */
    uint64_t ident;             /* the socket's identity (fdident.h); 0 = unknown */
    uint64_t shared_ino;        /* a socket shared across fork: its inode, taken at its close */
    uint32_t calls_in, calls_out, exchanges;
    uint8_t role, dir, family;
    _Atomic uint8_t recorded; /* a record was written: one per connection */
    uint8_t slow;             /* conn_slow_update(): a call must leave the fast path */
    struct tcp_snap tcp;
    union sockaddr_any local, peer;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    struct retry_state *retry;
    struct conn *next_free;   /* pool free list link */
    struct cause_sniff sniff; /* what the request-direction bytes carry (cause.h) */
    struct ring ring;         /* must be last: the events follow */
};

enum {
    CONN_CONNECTING = 1u << 0, /* non-blocking connect in progress */
    CONN_ESTABLISHED = 1u << 1,
    CONN_PEER_FIN = 1u << 2,  /* we read EOF */
    CONN_SHUT_WR = 1u << 3,   /* we shut down our side */
    CONN_LINGER0 = 1u << 4,   /* app set SO_LINGER {1,0}: its close aborts */
    CONN_STDIO = 1u << 5,     /* fdopen()ed: stdio moves bytes the shim cannot see */
    CONN_SHUT_RD = 1u << 6,   /* we shut down our receiving side: reads give EOF, not the peer */
    CONN_TCP_AFTER = 1u << 7, /* c->tcp was taken after the failure (ETIMEDOUT: current counters) */
    CONN_GAVE_UP = 1u << 8,   /* closed by the program with its request unanswered and unacked */
    /* a TCP_INFO snapshot saw the peer's FIN in (CLOSE_WAIT, LAST_ACK, CLOSE):
     * a write may meet EPIPE and its SIGPIPE */
    CONN_PEER_CLOSING = 1u << 9,
    /* passed to another process by SCM_RIGHTS: its close here may not be
     * the connection's end (held elsewhere, as a copy shared across fork) */
    CONN_HANDED = 1u << 10,
};

/* c->slow is nonzero while a call on c has work after the real call beyond
 * the fast path's: retry state is attached, or the request stream's protocol
 * is not settled yet (cause.h). One byte, so that the I/O paths test it
 * together with the orphan check in a single branch. A stale 1 only costs a
 * detour; it is recomputed wherever either input changes. */
static inline void conn_slow_update(struct conn *c)
{
    c->slow = c->retry != NULL || c->sniff.proto < PROTO_SETTLED;
}

/* A socket we saw created (or a listener) but that is not a connection yet:
 * slot values below CONN_LIVE_MIN are marks, CONN_MARK(family) = family + 1.
 * Listeners and unconnected sockets cost no memory. */
#define CONN_LIVE_MIN ((uintptr_t)64)
#define CONN_MARK(family) ((struct conn *)(uintptr_t)((family) + 1))
#define CONN_MARK_FAMILY(c) ((int)((uintptr_t)(c)-1))

static inline int conn_is_live(const struct conn *c)
{
    return (uintptr_t)c >= CONN_LIVE_MIN;
}

static inline int conn_is_mark(const struct conn *c)
{
    return c && !conn_is_live(c);
}

/* fds tracked: 0 .. 2^20-1 (the kernel's default fs.nr_open); higher fds pass through. */
#define CONN_SLOT_CAP (1u << 20)

/* The fd table: 8 MiB of .bss, so demand-zero pages that cost no memory until
 * a socket's slot is written, and a lookup needs no pointer load and no
 * variable bound. conn_slot_cap is 0 until conn_table_init() (the shim is
 * disabled or inert: nothing is ever stored, every lookup finds NULL). */
extern _Atomic(struct conn *) conn_slots[CONN_SLOT_CAP];
extern unsigned conn_slot_cap;
extern _Atomic unsigned conn_connecting; /* connections with CONN_CONNECTING set */

/* Reserves the table and sizes the pool for ring_events events; returns 0 or -errno. */
int conn_table_init(unsigned ring_events);

/* The slot for fd: NULL, a mark, or a live connection. The hot path: one
 * compare and one load; callers test conn_is_live() (one more compare). */
static inline struct conn *conn_table_get(int fd)
{
    if (__builtin_expect((unsigned)fd >= CONN_SLOT_CAP, 0)) return NULL;
    return atomic_load_explicit(&conn_slots[fd], memory_order_relaxed);
}

/* A fresh connection (refs = 1) for a new socket, stored at fd; any stale
 * connection left at fd (closed behind our back) is released. NULL when the
 * pool cannot grow. */
struct conn *conn_table_open(int fd, int family, int role, uint64_t now_ns);

/* Stores a mark (or NULL) at fd, releasing what was there. */
void conn_table_mark(int fd, struct conn *mark);

/* Points nfd at fd's connection (dup family); releases what nfd held. */
void conn_table_dup(int fd, int nfd);

/* Forgets fd if its slot still holds c (a close we did not see): releases c. */
void conn_table_forget_if(int fd, struct conn *c);

/* Detaches fd's slot and returns it (caller must conn_release() a live one),
 * or NULL. Call before the real close so a racing socket() cannot be clobbered. */
struct conn *conn_table_take(int fd);

/* Drops one reference; at zero the connection is finished (on_last_close runs) and recycled. */
void conn_release(struct conn *c);

/* Called once per connection when its last fd closes (set by the logic layer). */
extern void (*conn_on_last_close)(struct conn *c);

/* Forgets every fd in [lo, hi] (close_range/closefrom). */
void conn_table_forget_range(unsigned lo, unsigned hi);

/* The id the next connection will get (ids only grow). */
uint64_t conn_table_next_id(void);

/* Highest fd ever stored, to bound scans. */
unsigned conn_table_max_fd(void);

/* fork support: the pool lock is held across fork so the child's pool is consistent. */
void conn_table_atfork_prepare(void);
void conn_table_atfork_parent(void);
void conn_table_atfork_child(void);

/* In a child that ran no fork handler (sandbox.h sandbox_adopt_fork): the
 * pool lock is free, as conn_table_atfork_child leaves it. */
void conn_table_unseen_fork(void);

/* A vfork()/posix_spawn() child runs on its parent's memory until it execs:
 * whatever it closes must not be forgotten in the parent's table. 1 when this
 * process shares the table's memory with another (sandbox_vfork_child: one
 * getpid, paid on the close of a tracked fd); a fork child that ran no fork
 * handler (a raw clone) is adopted here and is not one. */
int conn_table_in_vfork_child(void);

/* Bytes one connection occupies (header + ring), for the benchmark's memory figure. */
size_t conn_table_stride(void);

#pragma GCC visibility pop

#endif
