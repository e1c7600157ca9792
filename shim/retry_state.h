// SPDX-License-Identifier: MIT
/* retry_state.h: what retry.c (reconnects) and replay.c (replays) share
 * about one connection with retry on: the recipe to rebuild its socket, its
 * epoll registrations, the replay buffer, the per-peer budget; and the
 * operations on it that both need; and the notes the logic layer makes for
 * it. Below retry.c and replay.c: it calls neither. */
#ifndef RSTWATCH_RETRY_STATE_H
#define RSTWATCH_RETRY_STATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "config.h"
#include "conn_table.h"

#pragma GCC visibility push(hidden)

#define OPTS_MAX 16
#define OPT_VAL_MAX 64
#define EPS_MAX 4
#define PEERS_MAX 64

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
    int stashed_err;     /* SO_ERROR taken by the shim and owed to the app (retry.h) */
    /* replay: the current request's bytes, exactly as they left */
    size_t req_len, req_cap;
    int req_incomplete; /* overflowed, or bytes left through a call we could not copy */
    int tls, replayed;
    int app_saw_failure; /* the app was told this connection failed (replay.c) */
    /* A replay whose answer has not reached the app yet: its retry record
     * waits for it (outcome "ok" only once the app got the answer). */
    const char *replay_why; /* NULL: none waiting; else the record's reason */
    unsigned replay_op;
    int replay_err;
    union sockaddr_any replay_local; /* the failed connection's local address */
    struct peer_budget *budget;
    char req[]; /* req_cap bytes */
};

/* Sizes the pool: every state carries req_cap bytes of replay buffer. */
void retry_state_init(size_t req_cap);

/* A zeroed state from the pool (mmap'd slabs, recycled, never freed: no
 * malloc on socket()/connect()), or NULL. The pool's spinlock is
 * only ever taken under the reentrancy guard, so a signal handler on the
 * same thread (which then passes through) never waits on it. */
struct retry_state *retry_state_get(void);
/* Returns rs to the pool. */
void retry_state_put(struct retry_state *rs);

/* The retry state of fd's live connection, or NULL. */
struct retry_state *retry_state_of(int fd);

/* The budget slot for peer a (claimed on first use, lock-free), or NULL. */
struct peer_budget *retry_budget_for(const union sockaddr_any *a);

/* 1 if c existed at the last fork(): the other process holds the socket too. */
int retry_conn_shared(const struct conn *c);

/* A new socket like the app's, with its recorded options; the fd or -errno. */
int retry_fresh_socket(const struct retry_state *rs);

/* Puts nfd on the app's fd number (closing nfd either way) and re-applies its
 * epoll registrations; 0, or -ESTALE when fd is no longer c's socket, or -errno. */
int retry_move_onto(int nfd, int fd, struct conn *c);

/* The app set an option / flags / a local address on fd, or added it to an
 * epoll set: remember it for replacement sockets (the logic layer calls these
 * for every stream socket; no-ops without retry state). */
void retry_note_sockopt(int fd, int level, int name, const void *val, socklen_t len);
void retry_note_fl(int fd, int flags);
void retry_note_bind(int fd, const struct sockaddr *sa, socklen_t len);
void retry_note_epoll(int ep, int op, int fd, const struct epoll_event *ev);

/* After fork(), in parent and child: every connection open now is shared
 * with the other process and is never replayed. */
void retry_after_fork(void);

/* The error of c's failed non-blocking connect that the shim read from
 * SO_ERROR (clearing it) and then did not retry, once: the app's next
 * SO_ERROR read, connect() or I/O call gets it. 0 when there is none. */
int retry_take_stashed_error(struct conn *c);

/* Writes a "retry" record about c on fd. */
void retry_record(int fd, struct conn *c, unsigned op, int err, int attempt, const char *action,
                  const char *outcome, const char *reason);

#pragma GCC visibility pop

#endif
