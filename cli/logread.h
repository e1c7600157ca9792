// SPDX-License-Identifier: MIT
/* logread.h: one line of an rstwatch log (record schema v1) parsed into a plain C struct. */
#ifndef RSTWATCH_LOGREAD_H
#define RSTWATCH_LOGREAD_H

#include "schema.h"

#include <stddef.h>
#include <stdint.h>

#define LOG_SCHEMA_VERSION 1

/* Short vocabulary strings (op names, errno names, TCP states) are stored inline, truncated. */
#define LOG_SHORT_STR 24

/* A record keeps at most this many events (and summary counts); the rest are counted. */
#define LOG_MAX_EVENTS 4096

/* Sentinel for an absent integer field (all the optional integers are >= 0 when present). */
#define LOG_ABSENT (-1LL)

enum log_type {
    LOG_RESET,
    LOG_ERROR,
    LOG_CLOSE,
    LOG_RETRY,
    LOG_INJECT,
    LOG_EOF,
    LOG_SUMMARY,
    LOG_PACKET
};

/* C storage of each schema kind (see schema.h); the structs below are generated from it. */
#define LOG_MEMBER_STR(m) char *m;
#define LOG_MEMBER_SHORT(m) char m[LOG_SHORT_STR];
#define LOG_MEMBER_COUNT(m) long long m;
#define LOG_MEMBER_INT(m)                                                                          \
    long long m;                                                                                   \
    int has_##m;
#define LOG_MEMBER_MS(m) double m;
#define LOG_MEMBER_BOOL(m) int m;
#define LOG_MEMBER_VERSION(m)
#define LOG_MEMBER_TYPE(m) enum log_type m;
#define LOG_MEMBER_TIME(m)                                                                         \
    int64_t m##_us; /* microseconds since the Unix epoch */                                        \
    char m[40];     /* as written */
#define LOG_MEMBER_PID(m) long long m;
#define LOG_MEMBER_TCP(m) struct log_tcp m;
#define LOG_MEMBER_CAUSE(m) struct log_cause m;
#define LOG_MEMBER_EVENTS(m)                                                                       \
    struct log_event *m;                                                                           \
    size_t n##m;                                                                                   \
    size_t m##_truncated; /* dropped by the reader (over LOG_MAX_EVENTS) */
#define LOG_MEMBER_COUNTS(m)                                                                       \
    struct log_count *m;                                                                           \
    size_t n##m;                                                                                   \
    size_t m##_truncated;
#define LOG_MEMBER(key, kind, member, doc) LOG_MEMBER_##kind(member)

struct log_event {
    RECORD_EVENT_FIELDS(LOG_MEMBER)
};

struct log_tcp {
    int present; /* the record had a "tcp" object */
    RECORD_TCP_FIELDS(LOG_MEMBER)
};

struct log_cause {
    RECORD_CAUSE_FIELDS(LOG_MEMBER)
};

/* One line of a summary record: how many records of this key the shim counted. */
struct log_count {
    RECORD_COUNT_FIELDS(LOG_MEMBER)
};

/*
 * A parsed record. Strings are NUL-free valid UTF-8 and owned by the record, NULL when absent.
 * Doubles are NAN when absent, integers LOG_ABSENT, booleans -1. Event n is >= 1. A top-level
 * field written as null is absent too, and its bit in nulls says so, so that it can be re-emitted
 * as it was written.
 */
struct log_record {
    RECORD_FIELDS(LOG_MEMBER)
    uint64_t nulls; /* LOG_NULL(member): the field was present as JSON null ("errno":null) */
};

/* The index of each top-level field in schema order, for log_record.nulls. */
#define LOG_FIELD_INDEX(key, kind, member, doc) LOG_FIELD_##member,
enum log_field { RECORD_FIELDS(LOG_FIELD_INDEX) LOG_NFIELDS };
#define LOG_NULL(member) (1ull << LOG_FIELD_##member)

/*
 * Parses one log line (len bytes, no trailing newline needed; may contain anything) into *out.
 * Strict on "v" (must be 1), "type", "time" and "pid" (an integer >= 0; LOG_PID_UNKNOWN is a
 * record of a process that could not learn its pid, read like any other); lenient with unknown or
 * ill-typed optional fields (ignored). Returns 0, or -1 with a one-line printable reason in err and
 * *out left empty (nothing to free). A fast scanner reads ordinary lines; anything unusual (an
 * escape it does not decode, a repeated field, an error) is read again by jansson, which is the
 * reference: both give the same record for every line the scanner accepts.
 */
int logread_parse_line(const char *buf, size_t len, struct log_record *out, char *err,
                       size_t errlen);

/* The reference parser alone (jansson); same contract as logread_parse_line. For tests. */
int logread_parse_line_reference(const char *buf, size_t len, struct log_record *out, char *err,
                                 size_t errlen);

/*
 * The fast scanner alone: 0 with *out filled, or 1 when the line needs the reference parser
 * (*out left empty). For tests that hold the two parsers to the same result.
 */
int logread_parse_line_fast(const char *buf, size_t len, struct log_record *out);

/* True when two parsed records hold the same values in every schema field. */
int log_record_equal(const struct log_record *a, const struct log_record *b);

/* Releases what a successfully parsed record owns and empties it. Safe on an empty record. */
void log_record_free(struct log_record *rec);

/* The pid of a record written by a process that could not learn it: a fork child under a seccomp
 * filter makes no getpid (docs/design.md "Under a seccomp filter, no extra calls"). */
#define LOG_PID_UNKNOWN 0

/* Room for log_pid_text's answer. */
#define LOG_PID_TEXT 24

/* A record's pid as people read it: "4242", or "pid unknown". Returns buf. */
const char *log_pid_text(const struct log_record *rec, char buf[LOG_PID_TEXT]);

/* The schema name of a record type ("reset", ...). */
const char *log_type_name(enum log_type type);

/*
 * The event that failed: the last one carrying the record's errno, else the last one carrying
 * any errno; for an eof record, the last read that returned 0 (an EOF carries no errno, and an
 * earlier EINPROGRESS connect is not the failure); none for a close record without an errno.
 * NULL when there is none.
 */
const struct log_event *log_record_failing_event(const struct log_record *rec);

/*
 * Parses an RFC 3339 UTC timestamp ("2026-11-23T05:31:02.123456Z", or with a +HH:MM offset)
 * into microseconds since the epoch. Returns 0 or -1 when malformed or out of range.
 */
int logread_parse_time(const char *s, int64_t *out_us);

/* Formats microseconds since the epoch as "2026-11-23T05:31:02.123456Z" (buf >= 32 bytes). */
void logread_format_time(int64_t us, char *buf, size_t len);

/*
 * Formats microseconds since the epoch for a table cell: "2026-11-23 05:31:02" (UTC), with
 * decimals (0..6) digits of the second after it. buf >= 32 bytes.
 */
void logread_format_seen(int64_t us, int decimals, char *buf, size_t len);

#endif
