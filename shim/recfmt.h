// SPDX-License-Identifier: MIT
/* recfmt.h: what every record writer shares, below both of them. The record
 * schema (schema.h) as enums of field ids and their JSON keys, a JSON object
 * being written key by key, the header fields every record starts with, and
 * the RFC 3339 time. record.c (connection records) and summary.c (summary
 * records) write through it, so neither needs the other's formatting code and
 * every key and its place in the line come from schema.h.
 *
 * Malloc-free and async-signal-safe, like strbuf underneath it. */
#ifndef RSTWATCH_RECFMT_H
#define RSTWATCH_RECFMT_H

#include <stdint.h>

#include "schema.h"
#include "strbuf.h"

#pragma GCC visibility push(hidden)

/* Field ids in table order: RF_<member> for a record's top level, RF_TCP_,
 * RF_CAUSE_, RF_EV_ (events[]) and RF_CNT_ (counts[]) for the nested tables. */
#define RECFMT_ID(key, kind, member, doc) RF_##member,
#define RECFMT_ID_TCP(key, kind, member, doc) RF_TCP_##member,
#define RECFMT_ID_CAUSE(key, kind, member, doc) RF_CAUSE_##member,
#define RECFMT_ID_EV(key, kind, member, doc) RF_EV_##member,
#define RECFMT_ID_CNT(key, kind, member, doc) RF_CNT_##member,
enum rec_field { RECORD_FIELDS(RECFMT_ID) RF_NFIELDS };
enum rec_tcp_field { RECORD_TCP_FIELDS(RECFMT_ID_TCP) RF_TCP_NFIELDS };
enum rec_cause_field { RECORD_CAUSE_FIELDS(RECFMT_ID_CAUSE) RF_CAUSE_NFIELDS };
enum rec_event_field { RECORD_EVENT_FIELDS(RECFMT_ID_EV) RF_EV_NFIELDS };
enum rec_count_field { RECORD_COUNT_FIELDS(RECFMT_ID_CNT) RF_CNT_NFIELDS };

/* The JSON key of each field id, from the same tables. */
extern const char *const recfmt_keys[RF_NFIELDS];
extern const char *const recfmt_tcp_keys[RF_TCP_NFIELDS];
extern const char *const recfmt_cause_keys[RF_CAUSE_NFIELDS];
extern const char *const recfmt_event_keys[RF_EV_NFIELDS];
extern const char *const recfmt_count_keys[RF_CNT_NFIELDS];

/* A JSON object being written into b: its first key opens it with '{', every
 * later one follows a ','. */
struct jobj {
    struct strbuf *b;
    unsigned n; /* keys written so far */
};

static inline struct jobj jobj_begin(struct strbuf *b)
{
    return (struct jobj){b, 0};
}

/* Writes the separator and "key": (the caller writes the value). */
void jobj_key(struct jobj *o, const char *key);

/* Closes the object ("{}" when no key was written). */
void jobj_end(struct jobj *o);

/* The fields every record starts with, in table order: v, type, time, host,
 * pid, tid, prog. A writer's switch over enum rec_field hands them to
 * recfmt_put_header_field with these case labels. */
#define RECFMT_HEADER_CASES                                                                        \
    case RF_v:                                                                                     \
    case RF_type:                                                                                  \
    case RF_time:                                                                                  \
    case RF_host:                                                                                  \
    case RF_pid:                                                                                   \
    case RF_tid:                                                                                   \
    case RF_prog

/* Writes header field f (one of RECFMT_HEADER_CASES) of a record of the given
 * type: the schema version, the type, the wall-clock time now, the host name
 * and program name captured at load, the pid and the calling thread's id. */
void recfmt_put_header_field(struct jobj *o, enum rec_field f, const char *type);

/* "2026-11-23T05:31:02.123456Z" for a CLOCK_REALTIME timespec (no locale, no tz lock). */
void recfmt_put_time(struct strbuf *b, int64_t sec, long nsec);

#pragma GCC visibility pop

#endif
