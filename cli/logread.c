/*
 * logread.c: turns one line of an rstwatch log into a struct log_record.
 *
 * The shape of schema v1 comes from schema.h; this file only knows how each kind of field is
 * stored. It is strict where a wrong value would make the record meaningless ("v", "type",
 * "time", "pid": the line is rejected with a reason) and lenient everywhere else: unknown fields
 * are ignored, and an optional field with the wrong type or an absurd value is treated as
 * absent, so a newer shim's log still reads. Input is untrusted (it is fuzzed): any bytes, any
 * length, never a crash.
 *
 * Two parsers fill the record. A hand-written scanner reads the ordinary line in one pass
 * without building a tree (report reads hundreds of MB of these); it validates the whole line
 * as jansson would and gives up (returns "use the reference") on anything it does not handle
 * itself: \u escapes, a repeated known field, deep nesting, huge numbers, and every error.
 * jansson is the reference parser and writes every error message. tests/unit/logread_test.c
 * holds the two to the same record on many lines.
 */
#include "logread.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Relative times and durations beyond ~31 years are nonsense; treat them as absent. */
#define LOG_MAX_MS 1e12
/* Years outside this range cannot come from a real clock. */
#define LOG_MIN_YEAR 1970
#define LOG_MAX_YEAR 9999
/* The scanner leaves deeper nesting (legal, but never written by the shim) to jansson. */
#define FAST_MAX_DEPTH 32
/* Strings with escapes are decoded into a buffer of this size; longer ones go to jansson. */
#define FAST_SCRATCH 8192

static const char *const type_names[] = {
    [LOG_RESET] = "reset",     [LOG_ERROR] = "error",   [LOG_CLOSE] = "close",
    [LOG_RETRY] = "retry",     [LOG_INJECT] = "inject", [LOG_EOF] = "eof",
    [LOG_SUMMARY] = "summary",
};

const char *log_type_name(enum log_type type)
{
    return (unsigned)type < sizeof type_names / sizeof type_names[0] ? type_names[type] : "?";
}

static int type_from_name(const char *s, size_t len, enum log_type *out)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strlen(type_names[i]) == len && memcmp(s, type_names[i], len) == 0) {
            *out = (enum log_type)i;
            return 0;
        }
    }
    return -1;
}

/* ---- the field tables, generated from schema.h ------------------------------------------ */

enum kind {
    K_STR,
    K_SHORT,
    K_COUNT,
    K_INT,
    K_MS,
    K_BOOL,
    K_VERSION,
    K_TYPE,
    K_TIME,
    K_PID,
    K_TCP,
    K_CAUSE,
    K_EVENTS,
    K_COUNTS,
};

struct field {
    const char *key;
    size_t keylen;
    enum kind kind;
    size_t off;     /* of the member in its struct */
    size_t has_off; /* INT: of has_<member> */
};

#define OFF_OF(T, m) offsetof(T, m)
#define OFF_STR OFF_OF
#define OFF_SHORT OFF_OF
#define OFF_COUNT OFF_OF
#define OFF_INT OFF_OF
#define OFF_MS OFF_OF
#define OFF_BOOL OFF_OF
#define OFF_VERSION(T, m) 0
#define OFF_TYPE OFF_OF
#define OFF_TIME OFF_OF
#define OFF_PID OFF_OF
#define OFF_TCP OFF_OF
#define OFF_CAUSE OFF_OF
#define OFF_EVENTS OFF_OF
#define OFF_COUNTS OFF_OF
#define HAS_OFF_INT(T, m) offsetof(T, has_##m)
#define HAS_OFF_NONE(T, m) 0
#define HAS_STR HAS_OFF_NONE
#define HAS_SHORT HAS_OFF_NONE
#define HAS_COUNT HAS_OFF_NONE
#define HAS_INT HAS_OFF_INT
#define HAS_MS HAS_OFF_NONE
#define HAS_BOOL HAS_OFF_NONE
#define HAS_VERSION HAS_OFF_NONE
#define HAS_TYPE HAS_OFF_NONE
#define HAS_TIME HAS_OFF_NONE
#define HAS_PID HAS_OFF_NONE
#define HAS_TCP HAS_OFF_NONE
#define HAS_CAUSE HAS_OFF_NONE
#define HAS_EVENTS HAS_OFF_NONE
#define HAS_COUNTS HAS_OFF_NONE
#define DESC(T, key, kind, m) {key, sizeof key - 1, K_##kind, OFF_##kind(T, m), HAS_##kind(T, m)},
#define DESC_RECORD(key, kind, m, doc) DESC(struct log_record, key, kind, m)
#define DESC_TCP(key, kind, m, doc) DESC(struct log_tcp, key, kind, m)
#define DESC_CAUSE(key, kind, m, doc) DESC(struct log_cause, key, kind, m)
#define DESC_EVENT(key, kind, m, doc) DESC(struct log_event, key, kind, m)
#define DESC_COUNT(key, kind, m, doc) DESC(struct log_count, key, kind, m)

static const struct field record_fields[] = {RECORD_FIELDS(DESC_RECORD)};
static const struct field tcp_fields[] = {RECORD_TCP_FIELDS(DESC_TCP)};
static const struct field cause_fields[] = {RECORD_CAUSE_FIELDS(DESC_CAUSE)};
static const struct field event_fields[] = {RECORD_EVENT_FIELDS(DESC_EVENT)};
static const struct field count_fields[] = {RECORD_COUNT_FIELDS(DESC_COUNT)};

struct table {
    const struct field *fields;
    size_t n;
};
#define TABLE(a)                                                                                   \
    {                                                                                              \
        a, sizeof a / sizeof a[0]                                                                  \
    }
static const struct table record_table = TABLE(record_fields), tcp_table = TABLE(tcp_fields),
                          cause_table = TABLE(cause_fields), event_table = TABLE(event_fields),
                          count_table = TABLE(count_fields);

_Static_assert(sizeof record_fields / sizeof record_fields[0] <= 64, "seen masks are 64 bits");

/* ---- storing values, shared by both parsers ---------------------------------------------- */

/* A JSON value as the store functions see it; strings are not NUL-terminated. */
enum vtype { V_NONE, V_NULL, V_FALSE, V_TRUE, V_INT, V_REAL, V_STR, V_OBJ, V_ARR };

struct value {
    enum vtype t;
    long long i;
    double d;
    const char *s;
    size_t slen;
};

/* Copies at most dstlen-1 bytes of src without splitting a UTF-8 sequence. */
static void copy_short(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n >= dstlen) {
        n = dstlen - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Sets every field of a table to absent. */
static void table_init(const struct table *t, void *base)
{
    char *b = base;
    for (size_t i = 0; i < t->n; i++) {
        const struct field *f = &t->fields[i];
        switch (f->kind) {
        case K_STR: *(char **)(b + f->off) = NULL; break;
        case K_SHORT: *(b + f->off) = '\0'; break;
        case K_COUNT: *(long long *)(b + f->off) = LOG_ABSENT; break;
        case K_INT:
            *(long long *)(b + f->off) = 0;
            *(int *)(b + f->has_off) = 0;
            break;
        case K_MS: *(double *)(b + f->off) = NAN; break;
        case K_BOOL: *(int *)(b + f->off) = -1; break;
        default: break; /* nested and strict fields: set by record_init */
        }
    }
}

/* Stores a plain value (the lenient kinds). Returns 0, or -1 when out of memory. */
static int store_plain(const struct field *f, void *base, const struct value *v)
{
    char *b = base;
    switch (f->kind) {
    case K_STR:
        if (v->t == V_STR) {
            char *s = malloc(v->slen + 1);
            if (!s) return -1;
            memcpy(s, v->s, v->slen);
            s[v->slen] = '\0';
            free(*(char **)(b + f->off));
            *(char **)(b + f->off) = s;
        }
        break;
    case K_SHORT:
        if (v->t == V_STR) copy_short(b + f->off, LOG_SHORT_STR, v->s, v->slen);
        break;
    case K_COUNT:
        if (v->t == V_INT && v->i >= 0) *(long long *)(b + f->off) = v->i;
        break;
    case K_INT:
        if (v->t == V_INT) {
            *(long long *)(b + f->off) = v->i;
            *(int *)(b + f->has_off) = 1;
        }
        break;
    case K_MS: {
        double d = v->t == V_INT ? (double)v->i : v->t == V_REAL ? v->d : NAN;
        if (isfinite(d) && fabs(d) <= LOG_MAX_MS) *(double *)(b + f->off) = d;
        break;
    }
    case K_BOOL:
        if (v->t == V_TRUE || v->t == V_FALSE) *(int *)(b + f->off) = v->t == V_TRUE;
        break;
    default: break;
    }
    return 0;
}

/* The event is kept only with a usable t_ms; a lone call has n = 1. */
static int event_usable(struct log_event *ev)
{
    if (isnan(ev->t_ms)) return 0;
    if (ev->n < 1) ev->n = 1;
    return 1;
}

/* Appends a slot to a growing array of elem-sized items; NULL when out of memory. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t elem)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void *a = realloc(*arr, c * elem);
        if (!a) return NULL;
        *arr = a;
        *cap = c;
    }
    return (char *)*arr + (*n)++ * elem;
}

static void record_init(struct log_record *rec)
{
    memset(rec, 0, sizeof *rec);
    table_init(&record_table, rec);
    table_init(&tcp_table, &rec->tcp);
    table_init(&cause_table, &rec->cause);
}

static void table_free(const struct table *t, void *base)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->fields[i].kind != K_STR) continue;
        char **s = (char **)((char *)base + t->fields[i].off);
        free(*s);
        *s = NULL;
    }
}

void log_record_free(struct log_record *rec)
{
    table_free(&record_table, rec);
    table_free(&cause_table, &rec->cause);
    for (size_t i = 0; i < rec->ncounts; i++)
        table_free(&count_table, &rec->counts[i]);
    free(rec->counts);
    free(rec->events);
    rec->counts = NULL;
    rec->events = NULL;
    rec->ncounts = rec->nevents = 0;
}

/* ---- the reference parser (jansson) ------------------------------------------------------ */

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

static struct value value_of(const json_t *j)
{
    struct value v = {.t = V_NONE};
    switch (json_typeof(j)) {
    case JSON_NULL: v.t = V_NULL; break;
    case JSON_TRUE: v.t = V_TRUE; break;
    case JSON_FALSE: v.t = V_FALSE; break;
    case JSON_INTEGER:
        v.t = V_INT;
        v.i = json_integer_value(j);
        break;
    case JSON_REAL:
        v.t = V_REAL;
        v.d = json_real_value(j);
        break;
    case JSON_STRING:
        v.t = V_STR;
        v.s = json_string_value(j);
        v.slen = json_string_length(j);
        break;
    case JSON_OBJECT: v.t = V_OBJ; break;
    case JSON_ARRAY: v.t = V_ARR; break;
    }
    return v;
}

/* Stores the plain fields of a table from a jansson object (not an object: all absent). */
static int jansson_table(const struct table *t, const json_t *obj, void *base)
{
    if (!json_is_object(obj)) return 0;
    for (size_t i = 0; i < t->n; i++) {
        const json_t *j = json_object_get(obj, t->fields[i].key);
        if (!j) continue;
        struct value v = value_of(j);
        if (store_plain(&t->fields[i], base, &v)) return -1;
    }
    return 0;
}

static int jansson_events(const json_t *arr, struct log_record *rec)
{
    size_t total = json_array_size(arr), cap = 0;
    for (size_t i = 0; i < total; i++) {
        const json_t *e = json_array_get(arr, i);
        if (!json_is_object(e)) continue;
        struct log_event ev;
        table_init(&event_table, &ev);
        if (jansson_table(&event_table, e, &ev)) return -1;
        if (!event_usable(&ev)) continue;
        if (rec->nevents == LOG_MAX_EVENTS) {
            rec->events_truncated++;
            continue;
        }
        struct log_event *slot = grow((void **)&rec->events, &rec->nevents, &cap, sizeof ev);
        if (!slot) return -1;
        *slot = ev;
    }
    return 0;
}

static int jansson_counts(const json_t *arr, struct log_record *rec)
{
    size_t total = json_array_size(arr), cap = 0;
    for (size_t i = 0; i < total; i++) {
        const json_t *e = json_array_get(arr, i);
        if (!json_is_object(e)) continue;
        if (rec->ncounts == LOG_MAX_EVENTS) {
            rec->counts_truncated++;
            continue;
        }
        struct log_count *c = grow((void **)&rec->counts, &rec->ncounts, &cap, sizeof *c);
        if (!c) return -1;
        table_init(&count_table, c);
        if (jansson_table(&count_table, e, c)) return -1;
    }
    return 0;
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
    const char *s = json_string_value(type);
    if (!s || type_from_name(s, json_string_length(type), &rec->type)) {
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

static int parse_optional(const json_t *root, struct log_record *rec)
{
    const json_t *tcp = json_object_get(root, "tcp");
    rec->tcp.present = json_is_object(tcp);
    if (jansson_table(&record_table, root, rec) || jansson_table(&tcp_table, tcp, &rec->tcp) ||
        jansson_table(&cause_table, json_object_get(root, "cause"), &rec->cause) ||
        jansson_events(json_object_get(root, "events"), rec) ||
        jansson_counts(json_object_get(root, "counts"), rec))
        return -1;
    return 0;
}

int logread_parse_line_reference(const char *buf, size_t len, struct log_record *out, char *err,
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
        if (parse_optional(root, out) == 0)
            rc = 0;
        else
            set_err(err, errlen, "out of memory");
    }
    json_decref(root);
    if (rc) {
        log_record_free(out);
        record_init(out);
    }
    return rc;
}

/* ---- the fast scanner -------------------------------------------------------------------- */

struct scan {
    const char *p, *end;
    int depth;
    char scratch[FAST_SCRATCH]; /* decoded string with escapes (one live at a time) */
};

/* The scanner's verdict: GIVE_UP means "let the reference parser decide". */
#define GIVE_UP 1

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Length of the valid UTF-8 sequence at p (jansson's rules: no overlongs, surrogates or values
 * above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], n;
    unsigned v;
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        n = 2;
        v = c & 0x1F;
    } else if (c < 0xF0) {
        n = 3;
        v = c & 0x0F;
    } else if (c < 0xF5) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (unsigned i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    return n;
}

/* Reads a string at s->p (on its opening quote). Without escapes *out points into the line. */
static int scan_string(struct scan *s, const char **out, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)s->p + 1, *end = (const unsigned char *)s->end;
    const unsigned char *start = p;
    size_t used = 0;
    int escaped = 0;
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            if (escaped) {
                *out = s->scratch;
                *outlen = used;
            } else {
                *out = (const char *)start;
                *outlen = (size_t)(p - start);
            }
            s->p = (const char *)p + 1;
            return 0;
        }
        if (c < 0x20) return GIVE_UP;
        size_t n = 1;
        char decoded = 0;
        if (c == '\\') {
            if (p + 1 >= end) return GIVE_UP;
            switch (p[1]) {
            case '"': decoded = '"'; break;
            case '\\': decoded = '\\'; break;
            case '/': decoded = '/'; break;
            case 'b': decoded = '\b'; break;
            case 'f': decoded = '\f'; break;
            case 'n': decoded = '\n'; break;
            case 'r': decoded = '\r'; break;
            case 't': decoded = '\t'; break;
            default: return GIVE_UP; /* \u (surrogates, NUL) and invalid escapes */
            }
            if (!escaped) {
                used = (size_t)(p - start);
                if (used >= FAST_SCRATCH) return GIVE_UP;
                memcpy(s->scratch, start, used);
                escaped = 1;
            }
            if (used + 1 >= FAST_SCRATCH) return GIVE_UP;
            s->scratch[used++] = decoded;
            p += 2;
            continue;
        }
        if (c >= 0x80 && !(n = utf8_len(p, end))) return GIVE_UP;
        if (escaped) {
            if (used + n >= FAST_SCRATCH) return GIVE_UP;
            memcpy(s->scratch + used, p, n);
            used += n;
        }
        p += n;
    }
    return GIVE_UP;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Reads a number with JSON's grammar; integers as jansson does (no '.', 'e' or 'E'). */
static int scan_number(struct scan *s, struct value *v)
{
    const char *p = s->p, *end = s->end, *start = p;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') return GIVE_UP;
    unsigned long long mant = 0;
    int digits = 0, frac_digits = 0;
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') return GIVE_UP;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 19) mant = mant * 10 + (unsigned)(*p - '0');
    }
    int is_real = 0, has_exp = 0;
    if (p < end && *p == '.') {
        is_real = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9') return GIVE_UP;
        for (; p < end && *p >= '0' && *p <= '9'; p++, frac_digits++)
            if (digits + frac_digits < 19) mant = mant * 10 + (unsigned)(*p - '0');
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_real = has_exp = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return GIVE_UP;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    if (!is_real) {
        if (digits > 18) return GIVE_UP; /* near LLONG_MAX: jansson decides */
        v->t = V_INT;
        v->i = neg ? -(long long)mant : (long long)mant;
        return 0;
    }
    v->t = V_REAL;
    /* Exact when the digits fit a double's mantissa and 10^k is exact: one rounding. */
    if (!has_exp && digits + frac_digits <= 15 && frac_digits <= 22) {
        double d = (double)mant / pow10_exact[frac_digits];
        v->d = neg ? -d : d;
        return 0;
    }
    char buf[64];
    size_t n = (size_t)(p - start);
    if (n >= sizeof buf) return GIVE_UP;
    memcpy(buf, start, n);
    buf[n] = '\0';
    v->d = strtod(buf, NULL);
    return isinf(v->d) ? GIVE_UP : 0;
}

static int scan_literal(struct scan *s, const char *word, enum vtype t, struct value *v)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return GIVE_UP;
    s->p += n;
    v->t = t;
    return 0;
}

typedef int (*member_fn)(struct scan *s, const char *key, size_t keylen, void *ctx);

static int scan_value(struct scan *s, struct value *v);

/* Walks an object at s->p (on '{'), calling fn for each member with s->p on its value; fn must
 * consume the value. */
static int scan_object(struct scan *s, member_fn fn, void *ctx)
{
    if (++s->depth > FAST_MAX_DEPTH) return GIVE_UP;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"') return GIVE_UP;
        const char *key;
        size_t keylen;
        const char *before = s->p;
        if (scan_string(s, &key, &keylen)) return GIVE_UP;
        if (key == s->scratch) {
            s->p = before; /* an escaped key: let jansson match it */
            return GIVE_UP;
        }
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') return GIVE_UP;
        s->p++;
        skip_ws(s);
        if (fn(s, key, keylen, ctx)) return GIVE_UP;
        skip_ws(s);
        if (s->p >= s->end) return GIVE_UP;
        if (*s->p == '}') {
            s->p++;
            s->depth--;
            return 0;
        }
        if (*s->p != ',') return GIVE_UP;
        s->p++;
        skip_ws(s);
    }
}

static int skip_member(struct scan *s, const char *key, size_t keylen, void *ctx)
{
    (void)key, (void)keylen, (void)ctx;
    struct value v;
    return scan_value(s, &v);
}

typedef int (*element_fn)(struct scan *s, void *ctx);

/* Walks an array at s->p (on '['), calling fn with s->p on each element. */
static int scan_array(struct scan *s, element_fn fn, void *ctx)
{
    if (++s->depth > FAST_MAX_DEPTH) return GIVE_UP;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (fn(s, ctx)) return GIVE_UP;
        skip_ws(s);
        if (s->p >= s->end) return GIVE_UP;
        if (*s->p == ']') {
            s->p++;
            s->depth--;
            return 0;
        }
        if (*s->p != ',') return GIVE_UP;
        s->p++;
        skip_ws(s);
    }
}

static int skip_element(struct scan *s, void *ctx)
{
    (void)ctx;
    struct value v;
    return scan_value(s, &v);
}

/* Reads any value; objects and arrays are validated and skipped (v->t tells which). */
static int scan_value(struct scan *s, struct value *v)
{
    if (s->p >= s->end) return GIVE_UP;
    switch (*s->p) {
    case '"': v->t = V_STR; return scan_string(s, &v->s, &v->slen);
    case '{': v->t = V_OBJ; return scan_object(s, skip_member, NULL);
    case '[': v->t = V_ARR; return scan_array(s, skip_element, NULL);
    case 't': return scan_literal(s, "true", V_TRUE, v);
    case 'f': return scan_literal(s, "false", V_FALSE, v);
    case 'n': return scan_literal(s, "null", V_NULL, v);
    default: return scan_number(s, v);
    }
}

static const struct field *find_field(const struct table *t, const char *key, size_t keylen)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct field *f = &t->fields[i];
        if (f->keylen == keylen && memcmp(f->key, key, keylen) == 0) return f;
    }
    return NULL;
}

/* An object whose members are plain fields of one table. */
struct plain_ctx {
    const struct table *t;
    void *base;
    uint64_t seen;
};

static int plain_member(struct scan *s, const char *key, size_t keylen, void *arg)
{
    struct plain_ctx *c = arg;
    const struct field *f = find_field(c->t, key, keylen);
    struct value v;
    if (scan_value(s, &v)) return GIVE_UP;
    if (!f) return 0;
    uint64_t bit = 1ull << (f - c->t->fields);
    if (c->seen & bit) return GIVE_UP; /* jansson keeps the last; not worth copying */
    c->seen |= bit;
    return store_plain(f, c->base, &v) ? GIVE_UP : 0;
}

/* Reads an object of plain fields when the value is one, else skips the value. */
static int scan_plain_object(struct scan *s, const struct table *t, void *base, int *is_object)
{
    if (s->p < s->end && *s->p == '{') {
        struct plain_ctx c = {.t = t, .base = base};
        *is_object = 1;
        return scan_object(s, plain_member, &c);
    }
    struct value v;
    *is_object = 0;
    return scan_value(s, &v);
}

struct list_ctx {
    struct log_record *rec;
    size_t cap;
};

static int event_element(struct scan *s, void *arg)
{
    struct list_ctx *c = arg;
    struct log_event ev;
    int is_object;
    table_init(&event_table, &ev);
    if (scan_plain_object(s, &event_table, &ev, &is_object)) return GIVE_UP;
    if (!is_object || !event_usable(&ev)) return 0;
    if (c->rec->nevents == LOG_MAX_EVENTS) {
        c->rec->events_truncated++;
        return 0;
    }
    struct log_event *slot = grow((void **)&c->rec->events, &c->rec->nevents, &c->cap, sizeof ev);
    if (!slot) return GIVE_UP;
    *slot = ev;
    return 0;
}

static int count_element(struct scan *s, void *arg)
{
    struct list_ctx *c = arg;
    struct log_count cnt;
    int is_object;
    table_init(&count_table, &cnt);
    if (scan_plain_object(s, &count_table, &cnt, &is_object)) {
        table_free(&count_table, &cnt);
        return GIVE_UP;
    }
    if (!is_object) return 0;
    if (c->rec->ncounts == LOG_MAX_EVENTS) {
        c->rec->counts_truncated++;
        table_free(&count_table, &cnt);
        return 0;
    }
    struct log_count *slot = grow((void **)&c->rec->counts, &c->rec->ncounts, &c->cap, sizeof cnt);
    if (!slot) {
        table_free(&count_table, &cnt);
        return GIVE_UP;
    }
    *slot = cnt;
    return 0;
}

struct record_ctx {
    struct log_record *rec;
    uint64_t seen;
    long long v;
    int type_ok, time_ok;
};

static int record_member(struct scan *s, const char *key, size_t keylen, void *arg)
{
    struct record_ctx *c = arg;
    struct log_record *rec = c->rec;
    const struct field *f = find_field(&record_table, key, keylen);
    if (!f) return skip_member(s, key, keylen, NULL);
    uint64_t bit = 1ull << (f - record_fields);
    if (c->seen & bit) return GIVE_UP;
    c->seen |= bit;
    struct value v = {.t = V_NONE};
    int is_object;
    switch (f->kind) {
    case K_TCP:
        if (scan_plain_object(s, &tcp_table, &rec->tcp, &is_object)) return GIVE_UP;
        rec->tcp.present = is_object;
        return 0;
    case K_CAUSE: return scan_plain_object(s, &cause_table, &rec->cause, &is_object);
    case K_EVENTS:
    case K_COUNTS:
        if (s->p < s->end && *s->p == '[') {
            struct list_ctx lc = {.rec = rec};
            return scan_array(s, f->kind == K_EVENTS ? event_element : count_element, &lc);
        }
        return scan_value(s, &v);
    default: break;
    }
    if (scan_value(s, &v)) return GIVE_UP;
    switch (f->kind) {
    case K_VERSION: c->v = v.t == V_INT ? v.i : -1; return 0;
    case K_TYPE:
        c->type_ok = v.t == V_STR && type_from_name(v.s, v.slen, &rec->type) == 0;
        return 0;
    case K_TIME:
        if (v.t == V_STR && v.slen < sizeof rec->time) {
            memcpy(rec->time, v.s, v.slen);
            rec->time[v.slen] = '\0';
            c->time_ok =
                strlen(rec->time) == v.slen && logread_parse_time(rec->time, &rec->time_us) == 0;
        }
        return 0;
    case K_PID: rec->pid = v.t == V_INT && v.i > 0 && v.i <= INT32_MAX ? v.i : 0; return 0;
    default: return store_plain(f, rec, &v) ? GIVE_UP : 0;
    }
}

int logread_parse_line_fast(const char *buf, size_t len, struct log_record *out)
{
    static struct scan s; /* the CLI reads one line at a time on one thread */
    record_init(out);
    s.p = buf;
    s.end = buf + len;
    s.depth = 0;
    skip_ws(&s);
    int rc = GIVE_UP;
    if (s.p < s.end && *s.p == '{') {
        struct record_ctx c = {.rec = out, .v = -1};
        rc = scan_object(&s, record_member, &c);
        skip_ws(&s);
        if (rc == 0 && (s.p != s.end || c.v != LOG_SCHEMA_VERSION || !c.type_ok || !c.time_ok ||
                        out->pid <= 0))
            rc = GIVE_UP;
    }
    if (rc) {
        log_record_free(out);
        record_init(out);
    }
    return rc;
}

int logread_parse_line(const char *buf, size_t len, struct log_record *out, char *err,
                       size_t errlen)
{
    if (logread_parse_line_fast(buf, len, out) == 0) return 0;
    return logread_parse_line_reference(buf, len, out, err, errlen);
}

/* ---- comparing records (tests) ------------------------------------------------------------ */

static int table_equal(const struct table *t, const void *a, const void *b)
{
    const char *x = a, *y = b;
    for (size_t i = 0; i < t->n; i++) {
        const struct field *f = &t->fields[i];
        switch (f->kind) {
        case K_STR: {
            const char *p = *(char *const *)(x + f->off), *q = *(char *const *)(y + f->off);
            if ((p == NULL) != (q == NULL) || (p && strcmp(p, q) != 0)) return 0;
            break;
        }
        case K_SHORT:
            if (strcmp(x + f->off, y + f->off) != 0) return 0;
            break;
        case K_COUNT:
        case K_PID:
            if (*(const long long *)(x + f->off) != *(const long long *)(y + f->off)) return 0;
            break;
        case K_INT:
            if (*(const int *)(x + f->has_off) != *(const int *)(y + f->has_off) ||
                *(const long long *)(x + f->off) != *(const long long *)(y + f->off))
                return 0;
            break;
        case K_MS: {
            double p = *(const double *)(x + f->off), q = *(const double *)(y + f->off);
            if (isnan(p) != isnan(q) || (!isnan(p) && p != q)) return 0;
            break;
        }
        case K_BOOL:
            if (*(const int *)(x + f->off) != *(const int *)(y + f->off)) return 0;
            break;
        default: break;
        }
    }
    return 1;
}

int log_record_equal(const struct log_record *a, const struct log_record *b)
{
    if (a->type != b->type || a->time_us != b->time_us || strcmp(a->time, b->time) != 0 ||
        a->tcp.present != b->tcp.present || a->nevents != b->nevents ||
        a->events_truncated != b->events_truncated || a->ncounts != b->ncounts ||
        a->counts_truncated != b->counts_truncated)
        return 0;
    if (!table_equal(&record_table, a, b) || !table_equal(&tcp_table, &a->tcp, &b->tcp) ||
        !table_equal(&cause_table, &a->cause, &b->cause))
        return 0;
    for (size_t i = 0; i < a->nevents; i++)
        if (!table_equal(&event_table, &a->events[i], &b->events[i])) return 0;
    for (size_t i = 0; i < a->ncounts; i++)
        if (!table_equal(&count_table, &a->counts[i], &b->counts[i])) return 0;
    return 1;
}

/* ---- times -------------------------------------------------------------------------------- */

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
    int year, mon, day, hh, mm, ss;
    const char *p = s;
    if (parse_digits(&p, 4, &year) || expect(&p, '-') || parse_digits(&p, 2, &mon) ||
        expect(&p, '-') || parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (parse_digits(&p, 2, &hh) || expect(&p, ':') || parse_digits(&p, 2, &mm) ||
        expect(&p, ':') || parse_digits(&p, 2, &ss))
        return -1;
    if (year < LOG_MIN_YEAR || year > LOG_MAX_YEAR || mon < 1 || mon > 12 || day < 1 || day > 31 ||
        hh > 23 || mm > 59 || ss > 60)
        return -1;
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
    /* timegm normalises 31 April into 1 May: a date that does not come back is not one. A leap
     * second (ss 60) is allowed and counts as the next second. */
    struct tm tm = {
        .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hh, .tm_min = mm};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day || tm.tm_mon != mon - 1) return -1;
    *out_us = ((int64_t)t + ss - offset_s) * 1000000 + frac_us;
    return 0;
}

void logread_format_time(int64_t us, char *buf, size_t len)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(us - secs * 1000000));
}

void logread_format_seen(int64_t us, int decimals, char *buf, size_t len)
{
    char iso[48];
    logread_format_time(us, iso, sizeof iso);
    if (strlen(iso) < 26) {
        snprintf(buf, len, "%s", iso);
        return;
    }
    iso[10] = ' ';
    if (decimals < 0) decimals = 0;
    if (decimals > 6) decimals = 6;
    iso[decimals ? 20 + decimals : 19] = '\0';
    snprintf(buf, len, "%s", iso);
}

const struct log_event *log_record_failing_event(const struct log_record *rec)
{
    const struct log_event *last = NULL;
    if (rec->type == LOG_EOF) {
        /* No errno: the failing call is the read that returned 0 (the EOF). */
        for (size_t i = rec->nevents; i-- > 0;) {
            const struct log_event *ev = &rec->events[i];
            if (ev->has_ret && ev->ret == 0 && !ev->err[0] &&
                (strncmp(ev->op, "recv", 4) == 0 || strncmp(ev->op, "read", 4) == 0))
                return ev;
        }
        return NULL;
    }
    for (size_t i = rec->nevents; i-- > 0;) {
        const struct log_event *ev = &rec->events[i];
        if (!ev->err[0]) continue;
        if (!rec->err || strncmp(ev->err, rec->err, sizeof ev->err - 1) == 0) return ev;
        if (!last) last = ev;
    }
    return last;
}
