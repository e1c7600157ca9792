// SPDX-License-Identifier: MIT
/* record.h: one connection's timeline -> one schema-v1 JSON line, written
 * with a single write(). Malloc-free and async-signal-safe: the line is built
 * in an mmap'd scratch buffer by strbuf. Its keys and their order come from
 * the schema table (schema.h); the header fields and the time format it
 * shares with summary records live in recfmt.h. */
#ifndef RSTWATCH_RECORD_H
#define RSTWATCH_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "cause.h"
#include "conn_table.h"

struct record_info {
    const char *type; /* "reset", "error", "close", "retry", "inject" */
    int fd;
    unsigned op;     /* enum ev_op of the failing (or closing) call */
    int err;         /* errno, 0 for close and eof records */
    int eof;         /* an "eof" record: the peer closed where a response was due */
    int judged;      /* a "close" record that carries a cause (the program gave up: cause.h) */
    int listener;    /* about a listening socket (accept failed): no connection, so no conn,
                        peer, timings, counters, tcp or events */
    uint64_t now_ns; /* monotonic time of the failure */
    /* Asked once the rate limit would let the record through, before it is
     * counted: 0 when it is no record after all (fd is no longer the
     * connection's socket), 1 to write it. NULL: nothing to ask. A record
     * the rate limit leaves out is counted without asking (no system call). */
    int (*confirm)(const struct record_info *ri, const struct conn *c);
    /* retry / inject records (NULL / 0 when absent) */
    int attempt;
    const char *action, *outcome, *reason;
};

/* Fills the classifier's input from the connection's state. */
void record_cause_input(const struct conn *c, const struct record_info *ri, struct cause_input *in);

/* Formats the record into b (no newline). */
void record_format(struct strbuf *b, const struct conn *c, const struct record_info *ri);

/* Formats and writes the line to the sink, unless the rate limit leaves it
 * out (then only counted; returns 0). Returns 0 or -errno; -ESTALE (nothing
 * counted, nothing written) when ri->confirm said no. errno preserved. */
int record_write(const struct conn *c, const struct record_info *ri);

/* Normal life that the default RSTWATCH_RECORD=resets counts instead of
 * recording (cause.h cause_count_instead): returns 1 after counting ri on c
 * for the summary records (as left out of the log, under its cause), 0 when
 * ri deserves its record. Async-signal-safe; errno preserved. */
int record_counted_instead(const struct conn *c, const struct record_info *ri);

/* 1 when c's peer is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
int record_peer_is_loopback(const struct conn *c);

/* "127.0.0.1:8080", "[::1]:8080", "unix:/path", "unix:@abstract". */
void record_put_addr(struct strbuf *b, const union sockaddr_any *a, const char *unix_path);

#endif
