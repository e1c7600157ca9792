/*
 * logread.c: turns one line of an rstwatch log into a struct log_record.
 *
 * This is the only place that knows the JSON shape of schema v1. It is strict where a wrong
 * value would make the record meaningless ("v", "type", "time", "pid": the line is rejected with
 * a reason) and lenient everywhere else: unknown fields are ignored, and an optional field with
 * the wrong type or an absurd value is treated as absent, so a newer shim's log still reads.
 * Input is untrusted (it is fuzzed): any bytes, any length, never a crash.
 */
#include "logread.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relative times and durations beyond ~31 years are nonsense; treat them as absent. */
#define LOG_MAX_MS 1e12
/* Years outside this range cannot come from a real clock. */
#define LOG_MIN_YEAR 1970
#define LOG_MAX_YEAR 9999

static const char *const type_names[] = {
    [LOG_RESET] = "reset", [LOG_ERROR] = "error",   [LOG_CLOSE] = "close",
    [LOG_RETRY] = "retry", [LOG_INJECT] = "inject", [LOG_EOF] = "eof",
};

const char *log_type_name(enum log_type type)
{
    return (unsigned)type < sizeof type_names / sizeof type_names[0] ? type_names[type] : "?";
}

/* Writes a printable version of a formatted message: control bytes become '?'. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

/* Copies at most dstlen-1 bytes of src without splitting a UTF-8 sequence. */
static void copy_short(char *dst, size_t dstlen, const char *src)
{
    size_t n = strlen(src);
    if (n >= dstlen) {
        n = dstlen - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static char *get_string(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? strdup(s) : NULL;
}

static void get_short(const json_t *obj, const char *key, char *dst, size_t dstlen)
{
    const char *s = json_string_value(json_object_get(obj, key));
    copy_short(dst, dstlen, s ? s : "");
}

/* A non-negative integer field, or LOG_ABSENT. */
static long long get_count(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return LOG_ABSENT;
    return json_integer_value(v);
}

/* A finite, plausible number of milliseconds (integer or real), or NAN. */
static double get_ms(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) return NAN;
    double d = json_number_value(v);
    return (isfinite(d) && fabs(d) <= LOG_MAX_MS) ? d : NAN;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: proleptic Gregorian date -> days since 1970-01-01. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c) return -1;
    (*p)++;
    return 0;
}

int logread_parse_time(const char *s, int64_t *out_us)
{
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, mon, day, hh, mm, ss;
    const char *p = s;
    if (parse_digits(&p, 4, &year) || expect(&p, '-') || parse_digits(&p, 2, &mon) ||
        expect(&p, '-') || parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (parse_digits(&p, 2, &hh) || expect(&p, ':') || parse_digits(&p, 2, &mm) ||
        expect(&p, ':') || parse_digits(&p, 2, &ss))
        return -1;
    if (year < LOG_MIN_YEAR || year > LOG_MAX_YEAR || mon < 1 || mon > 12 || day < 1 ||
        day > mdays[mon - 1] || hh > 23 || mm > 59 || ss > 60)
        return -1;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon == 2 && day == 29 && !leap) return -1;

    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6) frac_us = frac_us * 10 + (*p - '0');
        if (digits == 0) return -1;
        for (; digits < 6; digits++)
            frac_us *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || expect(&p, ':') || parse_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    int64_t secs = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hh * 3600 +
                   mm * 60 + ss - offset_s;
    *out_us = secs * 1000000 + frac_us;
    return 0;
}

void logread_format_time(int64_t us, char *buf, size_t len)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    /* civil_from_days, the inverse of days_from_civil. */
    int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", (long long)y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (long long)frac);
}

static void parse_tcp(const json_t *obj, struct log_tcp *tcp)
{
    tcp->present = json_is_object(obj);
    get_short(obj, "state", tcp->state, sizeof tcp->state);
    tcp->rtt_us = get_count(obj, "rtt_us");
    tcp->rttvar_us = get_count(obj, "rttvar_us");
    tcp->retrans = get_count(obj, "retrans");
    tcp->total_retrans = get_count(obj, "total_retrans");
    tcp->unacked = get_count(obj, "unacked");
    tcp->lost = get_count(obj, "lost");
    tcp->snapshot_age_ms = get_ms(obj, "snapshot_age_ms");
}

/* Copies the well-formed events (objects with a numeric t_ms); returns -1 only on ENOMEM. */
static int parse_events(const json_t *arr, struct log_record *rec)
{
    size_t total = json_array_size(arr), kept = 0;
    if (total == 0) return 0;
    size_t cap = total < LOG_MAX_EVENTS ? total : LOG_MAX_EVENTS;
    rec->events = calloc(cap, sizeof *rec->events);
    if (!rec->events) return -1;
    for (size_t i = 0; i < total; i++) {
        const json_t *e = json_array_get(arr, i);
        if (!json_is_object(e)) continue;
        double t = get_ms(e, "t_ms");
        if (isnan(t)) continue;
        if (kept == cap) {
            rec->events_truncated++;
            continue;
        }
        struct log_event *ev = &rec->events[kept++];
        ev->t_ms = t;
        get_short(e, "op", ev->op, sizeof ev->op);
        get_short(e, "errno", ev->err, sizeof ev->err);
        const json_t *ret = json_object_get(e, "ret");
        ev->has_ret = json_is_integer(ret);
        ev->ret = ev->has_ret ? json_integer_value(ret) : 0;
        long long n = get_count(e, "n");
        ev->n = n >= 1 ? n : 1;
        ev->span_ms = get_ms(e, "span_ms");
    }
    rec->nevents = kept;
    return 0;
}

static int parse_type(const json_t *v, enum log_type *out)
{
    const char *s = json_string_value(v);
    if (!s) return -1;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum log_type)i;
            return 0;
        }
    }
    return -1;
}

/* Checks the strict fields; fills type/time/pid. Returns 0 or -1 with a reason. */
static int parse_required(const json_t *root, struct log_record *rec, char *err, size_t errlen)
{
    const json_t *v = json_object_get(root, "v");
    if (!v) {
        set_err(err, errlen, "missing required field \"v\" (schema version)");
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) != LOG_SCHEMA_VERSION) {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        set_err(err, errlen, "unsupported schema version %.32s (this rstwatch reads v%d)",
                text ? text : "?", LOG_SCHEMA_VERSION);
        free(text);
        return -1;
    }
    const json_t *type = json_object_get(root, "type");
    if (!type) {
        set_err(err, errlen, "missing required field \"type\"");
        return -1;
    }
    if (parse_type(type, &rec->type)) {
        const char *s = json_string_value(type);
        set_err(err, errlen, "unknown record type %s%.32s%s", s ? "\"" : "",
                s ? s : "(not a string)", s ? "\"" : "");
        return -1;
    }
    const json_t *time = json_object_get(root, "time");
    const char *ts = json_string_value(time);
    if (!time) {
        set_err(err, errlen, "missing required field \"time\"");
        return -1;
    }
    if (!ts || strlen(ts) >= sizeof rec->time || logread_parse_time(ts, &rec->time_us)) {
        set_err(err, errlen, "invalid \"time\" %s%.40s%s (want e.g. 2026-11-23T05:31:02.123456Z)",
                ts ? "\"" : "", ts ? ts : "(not a string)", ts ? "\"" : "");
        return -1;
    }
    memcpy(rec->time, ts, strlen(ts) + 1);
    const json_t *pid = json_object_get(root, "pid");
    if (!pid) {
        set_err(err, errlen, "missing required field \"pid\"");
        return -1;
    }
    if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
        json_integer_value(pid) > INT32_MAX) {
        set_err(err, errlen, "invalid \"pid\" (want a positive integer)");
        return -1;
    }
    rec->pid = json_integer_value(pid);
    return 0;
}

static void parse_optional(const json_t *root, struct log_record *rec)
{
    rec->tid = get_count(root, "tid");
    rec->fd = get_count(root, "fd");
    rec->conn = get_count(root, "conn");
    rec->errno_code = get_count(root, "errno_code");
    rec->prog = get_string(root, "prog");
    rec->family = get_string(root, "family");
    rec->role = get_string(root, "role");
    rec->local = get_string(root, "local");
    rec->peer = get_string(root, "peer");
    rec->op = get_string(root, "op");
    rec->err = get_string(root, "errno");
    const json_t *cause = json_object_get(root, "cause");
    rec->cause_code = get_string(cause, "code");
    rec->cause_hint = get_string(cause, "hint");
    rec->age_ms = get_ms(root, "age_ms");
    rec->idle_ms = get_ms(root, "idle_ms");
    rec->bytes_out = get_count(root, "bytes_out");
    rec->bytes_in = get_count(root, "bytes_in");
    rec->calls_out = get_count(root, "calls_out");
    rec->calls_in = get_count(root, "calls_in");
    rec->exchanges = get_count(root, "exchanges");
    const json_t *reused = json_object_get(root, "reused");
    rec->reused = json_is_boolean(reused) ? json_is_true(reused) : -1;
    parse_tcp(json_object_get(root, "tcp"), &rec->tcp);
    rec->events_dropped = get_count(root, "events_dropped");
    rec->attempt = get_count(root, "attempt");
    rec->action = get_string(root, "action");
    rec->outcome = get_string(root, "outcome");
    rec->reason = get_string(root, "reason");
    rec->host = get_string(root, "host");
    rec->suppressed = get_count(root, "suppressed");
    rec->count = 1 + (unsigned long long)(rec->suppressed > 0 ? rec->suppressed : 0);
}

static void record_init(struct log_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->tid = rec->fd = rec->conn = rec->errno_code = LOG_ABSENT;
    rec->bytes_out = rec->bytes_in = rec->calls_out = rec->calls_in = LOG_ABSENT;
    rec->exchanges = rec->events_dropped = rec->attempt = LOG_ABSENT;
    rec->age_ms = rec->idle_ms = NAN;
    rec->reused = -1;
    parse_tcp(NULL, &rec->tcp);
}

int logread_parse_line(const char *buf, size_t len, struct log_record *out, char *err,
                       size_t errlen)
{
    record_init(out);
    if (memchr(buf, '\0', len)) {
        set_err(err, errlen, "contains a NUL byte (binary data, not a log line)");
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        set_err(err, errlen, "not valid JSON: %s (column %d)", jerr.text, jerr.column);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        set_err(err, errlen, "not a JSON object");
    } else if (parse_required(root, out, err, errlen) == 0) {
        parse_optional(root, out);
        if (parse_events(json_object_get(root, "events"), out) == 0) {
            rc = 0;
        } else {
            set_err(err, errlen, "out of memory");
            log_record_free(out);
        }
    }
    json_decref(root);
    if (rc) record_init(out);
    return rc;
}

void log_record_free(struct log_record *rec)
{
    char **strings[] = {&rec->prog,       &rec->family, &rec->role,    &rec->local,
                        &rec->peer,       &rec->op,     &rec->err,     &rec->cause_code,
                        &rec->cause_hint, &rec->action, &rec->outcome, &rec->reason,
                        &rec->host};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    free(rec->events);
    rec->events = NULL;
    rec->nevents = 0;
}

const struct log_event *log_record_failing_event(const struct log_record *rec)
{
    const struct log_event *last = NULL;
    for (size_t i = rec->nevents; i-- > 0;) {
        const struct log_event *ev = &rec->events[i];
        if (!ev->err[0]) continue;
        if (!rec->err || strncmp(ev->err, rec->err, sizeof ev->err - 1) == 0) return ev;
        if (!last) last = ev;
    }
    return last;
}
