// SPDX-License-Identifier: MIT
/* ratelimit.h: how many records a process writes, per kind of record and in
 * bytes, and the counts of everything that was due, written or not.
 *
 * A record is keyed by (type, peer, cause, role). Each key may write a burst
 * of records back to back, then one per interval (a GCRA token bucket in one
 * atomic word); all records together share a byte budget per period. What is
 * left out is never lost: it is counted per key, reported as `suppressed` on
 * the key's next record or, failing that, in the next summary record.
 *
 * The table is a fixed, preallocated open-addressing hash of RL_SLOTS keys,
 * claimed and counted with atomics only: no malloc, no lock, callable from a
 * signal handler. When it is full (or a slot is being claimed by another
 * thread at that instant) the record is counted in an "other" slot of its
 * type and role, so counts stay exact. */
#ifndef RSTWATCH_RATELIMIT_H
#define RSTWATCH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define RL_SLOTS 2048
#define RL_PEER_MAX 112
#define RL_LOCAL_MAX 64

/* The identity of a due record, binary and compared with memcmp (zero it
 * first): formatting addresses for every due record would cost more than
 * the rest of the decision. */
struct rl_id {
    uint8_t type;   /* ratelimit_type_index() */
    uint8_t cause;  /* enum cause_code + 1; 0: none */
    uint8_t server; /* role */
    uint8_t family;
    uint16_t peer_port, local_port; /* server role: peer_port 0 (clients' ports all differ) */
    uint8_t peer_addr[16], local_addr[16];
    uint64_t path_hash; /* unix sockets: the path */
};

/* The same key as text, for summaries: filled once, when a key is first seen. */
struct rl_key {
    const char *type;         /* "reset", "error", "eof", "close", "retry", "inject" */
    const char *cause;        /* cause code, "" when the record has none */
    int server;               /* role */
    char peer[RL_PEER_MAX];   /* for the server role: the client's address without its port */
    char local[RL_LOCAL_MAX]; /* for the server role: the listening address, else "" */
};

/* One key's counts as a summary reports them. */
struct rl_counts {
    struct rl_key key;
    uint64_t n;          /* records due since the last summary */
    uint64_t records;    /* ... of which were written */
    uint64_t suppressed; /* left out and not yet reported in a record's "suppressed" */
};

struct rl_slot;

/* Sets the limits (from RSTWATCH_RATE, then the rules file). Not signal-safe;
 * call at load. */
void ratelimit_configure(const struct rate_limits *r);

/* The limits in force. */
const struct rate_limits *ratelimit_limits(void);

/* The index of a record type ("reset", "error", "eof", "close", "retry",
 * "inject"); unknown types share the last. */
uint8_t ratelimit_type_index(const char *type);

/* Fills the text form of the key being counted (ctx: the caller's). */
typedef void (*rl_describe_fn)(struct rl_key *k, const void *ctx);

/* Counts one due record of key id; returns its slot (never NULL). describe
 * is called only when the key is new. */
struct rl_slot *ratelimit_count(const struct rl_id *id, rl_describe_fn describe, const void *ctx);

/* The slot of key id, without counting anything (describe as above). */
struct rl_slot *ratelimit_slot(const struct rl_id *id, rl_describe_fn describe, const void *ctx);

/* Counts one due record in slot s: ratelimit_count() is ratelimit_slot()
 * then this. */
void ratelimit_count_in(struct rl_slot *s);

/* Would ratelimit_admit(s, now) let a record through, asked without taking
 * anything? Its tokens only ever run out between the two calls, so a 0 here
 * means a 0 there for the same now. */
int ratelimit_would_admit(const struct rl_slot *s, uint64_t now_ns);

/* 1 when the key may write a record at monotonic time now, else 0 (the record
 * is then counted as suppressed). Always 1 when limits are off. */
int ratelimit_admit(struct rl_slot *s, uint64_t now_ns);

/* Takes (and clears) the key's suppressed count, to be reported on the record
 * about to be written. */
uint64_t ratelimit_take_suppressed(struct rl_slot *s);

/* 1 when a record of len bytes fits the process's byte budget at now (and
 * charges it), else 0. */
int ratelimit_budget(size_t len, uint64_t now_ns);

/* The record was left out after all (byte budget): n more suppressed. */
void ratelimit_suppress(struct rl_slot *s, uint64_t n);

/* The record was written. */
void ratelimit_written(struct rl_slot *s);

/* The record was handed to the sink, which returned rc (sink_write_record):
 * written, or, when even the sink's hold for want of a descriptor was full
 * (-ENOBUFS), counted with the carried records its `suppressed` field
 * reported, so that the next summary has them (none is lost uncounted). */
void ratelimit_sent(struct rl_slot *s, int rc, uint64_t carried);

/* Has anything been suppressed since load (or the fork)? Summaries are only
 * written by processes where this is true: one that never hit a limit has
 * every record in its log already. */
int ratelimit_ever_suppressed(void);

/* Has a record been dropped by the sink since load (or the fork)? Then a
 * summary is written even with the rate limit off: it is where they are
 * counted. */
int ratelimit_ever_dropped(void);

/* Records due since the last ratelimit_take_due(); take clears the count. */
uint64_t ratelimit_due(void);
uint64_t ratelimit_take_due(void);

/* Drains slot i (0 <= i < ratelimit_nslots()) into *out: returns 1 when it
 * had counts (then zeroed), else 0. */
size_t ratelimit_nslots(void);
int ratelimit_drain(size_t i, struct rl_counts *out);

/* In a fork child: the parent's counts are the parent's to report, and its spent
 * bursts and byte budget the parent's: the child starts afresh. */
void ratelimit_atfork_child(void);

#endif
