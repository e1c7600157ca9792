/* logread.h: one line of an rstwatch log (record schema v1) parsed into a plain C struct. */
#ifndef RSTWATCH_LOGREAD_H
#define RSTWATCH_LOGREAD_H

#include <stddef.h>
#include <stdint.h>

#define LOG_SCHEMA_VERSION 1

/* Short vocabulary strings (op names, errno names, TCP states) are stored inline, truncated. */
#define LOG_SHORT_STR 24

/* A record keeps at most this many events; the rest are counted in events_truncated. */
#define LOG_MAX_EVENTS 4096

/* Sentinel for an absent integer field (all the optional integers are >= 0 when present). */
#define LOG_ABSENT (-1LL)

enum log_type { LOG_RESET, LOG_ERROR, LOG_CLOSE, LOG_RETRY, LOG_INJECT, LOG_EOF };

struct log_event {
    double t_ms;    /* since the connection was created */
    long long ret;  /* valid when has_ret */
    long long n;    /* calls merged into this event, >= 1 */
    double span_ms; /* first to last merged call; NAN when absent (n == 1) */
    int has_ret;
    char op[LOG_SHORT_STR];
    char err[LOG_SHORT_STR]; /* errno name, "" when the call did not fail */
};

struct log_tcp {
    int present;
    char state[LOG_SHORT_STR];                                          /* "" when absent */
    long long rtt_us, rttvar_us, retrans, total_retrans, unacked, lost; /* LOG_ABSENT when absent */
    double snapshot_age_ms;                                             /* NAN when absent */
};

/*
 * A parsed record. Strings are NUL-free valid UTF-8 (jansson guarantees it) and owned by the
 * record, NULL when absent. Doubles are NAN when absent, integers LOG_ABSENT.
 */
struct log_record {
    enum log_type type;
    int64_t time_us; /* "time" as microseconds since the Unix epoch */
    char time[40];   /* "time" as written */
    long long pid;   /* > 0 */
    long long tid, fd, conn, errno_code;
    char *prog, *family, *role, *local, *peer, *op, *err, *cause_code, *cause_hint;
    double age_ms, idle_ms;
    long long bytes_out, bytes_in, calls_out, calls_in, exchanges;
    int reused; /* -1 absent, else 0/1 */
    struct log_tcp tcp;
    struct log_event *events;
    size_t nevents;
    long long events_dropped;        /* as reported by the shim */
    size_t events_truncated;         /* dropped by the reader (over LOG_MAX_EVENTS) */
    long long attempt;               /* retry records */
    char *action, *outcome, *reason; /* retry ("reconnect"...) and inject ("reset"...) records */
    char *host;                      /* the host the record was written on (NULL: older shims) */
    long long
        suppressed; /* records of the same type/peer/cause the rate limit left out before it */
    /* Due records this one stands for: 1 + suppressed for a written record; for an entry of a
     * summary record (summarized set: counts only, no timeline) its unreported suppressed count. */
    unsigned long long count;
    int summarized;
};

/*
 * Parses one log line (len bytes, no trailing newline needed; may contain anything) into *out.
 * Strict on "v" (must be 1), "type", "time" and "pid"; lenient with unknown or ill-typed
 * optional fields (ignored). Returns 0, or -1 with a one-line printable reason in err and *out
 * left empty (nothing to free).
 */
int logread_parse_line(const char *buf, size_t len, struct log_record *out, char *err,
                       size_t errlen);

/* Releases what a successfully parsed record owns and empties it. Safe on an empty record. */
void log_record_free(struct log_record *rec);

/* The schema name of a record type ("reset", ...). */
const char *log_type_name(enum log_type type);

/*
 * The event that failed: the last one carrying the record's errno, else the last one carrying
 * any errno, or NULL.
 */
const struct log_event *log_record_failing_event(const struct log_record *rec);

/*
 * Parses an RFC 3339 UTC timestamp ("2026-11-23T05:31:02.123456Z", or with a +HH:MM offset)
 * into microseconds since the epoch. Returns 0 or -1 when malformed or out of range.
 */
int logread_parse_time(const char *s, int64_t *out_us);

/* Formats microseconds since the epoch as "2026-11-23T05:31:02.123456Z" (buf >= 32 bytes). */
void logread_format_time(int64_t us, char *buf, size_t len);

#endif
