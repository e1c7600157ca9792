// SPDX-License-Identifier: MIT
/*
 * logfast.c: the log reader's one-pass scanner, for the ordinary line.
 *
 * report reads hundreds of MB of records; building a jansson tree per line made that 38 MB/s.
 * This scanner walks a line once, validating it exactly as jansson would (JSON grammar, UTF-8
 * rules, control characters, number ranges), and stores the fields it knows straight into the
 * record through logfields.c. It gives up - "let the reference decide" - on whatever it does
 * not handle itself: \u escapes, a known field given twice, nesting deeper than
 * FAST_MAX_DEPTH, integers near the 64-bit limit, real numbers outside double's range, and
 * every error (jansson writes the messages). tests/unit/logread_test.c and the fuzzer hold it
 * to the reference on many lines.
 */
#include "logfields.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The scanner leaves deeper nesting (legal, but never written by the shim) to jansson. */
#define FAST_MAX_DEPTH 32
/* Strings with escapes are decoded into a buffer of this size; longer ones go to jansson. */
#define FAST_SCRATCH 8192

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

/* Where walking an object or array stands after a step. */
enum walk { WALK_MORE, WALK_DONE, WALK_GIVE_UP };

/* Leaves the container when s->p is on its closing bracket. */
static int leave_if_closed(struct scan *s, char close)
{
    if (s->p >= s->end || *s->p != close) return 0;
    s->p++;
    s->depth--;
    return 1;
}

/* Enters the object or array at s->p (on its opening bracket): WALK_DONE when it is empty (and
 * left again), WALK_MORE with s->p on its first member or element, WALK_GIVE_UP when too deep. */
static enum walk walk_enter(struct scan *s, char close)
{
    if (++s->depth > FAST_MAX_DEPTH) return WALK_GIVE_UP;
    s->p++;
    skip_ws(s);
    return leave_if_closed(s, close) ? WALK_DONE : WALK_MORE;
}

/* After a member or element: WALK_DONE past the closing bracket, WALK_MORE past a comma (s->p
 * on the next one), WALK_GIVE_UP on anything else. */
static enum walk walk_next(struct scan *s, char close)
{
    skip_ws(s);
    if (s->p >= s->end) return WALK_GIVE_UP;
    if (leave_if_closed(s, close)) return WALK_DONE;
    if (*s->p != ',') return WALK_GIVE_UP;
    s->p++;
    skip_ws(s);
    return WALK_MORE;
}

typedef int (*member_fn)(struct scan *s, const char *key, size_t keylen, void *ctx);

static int scan_value(struct scan *s, struct value *v);

/* Walks an object at s->p (on '{'), calling fn for each member with s->p on its value; fn must
 * consume the value. */
static int scan_object(struct scan *s, member_fn fn, void *ctx)
{
    enum walk w = walk_enter(s, '}');
    for (; w == WALK_MORE; w = walk_next(s, '}')) {
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
    }
    return w == WALK_DONE ? 0 : GIVE_UP;
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
    enum walk w = walk_enter(s, ']');
    for (; w == WALK_MORE; w = walk_next(s, ']'))
        if (fn(s, ctx)) return GIVE_UP;
    return w == WALK_DONE ? 0 : GIVE_UP;
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
    return fields_store(f, c->base, &v) ? GIVE_UP : 0;
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
    fields_init(&fields_event, &ev);
    if (scan_plain_object(s, &fields_event, &ev, &is_object)) return GIVE_UP;
    if (!is_object || !fields_event_usable(&ev)) return 0;
    if (c->rec->nevents == LOG_MAX_EVENTS) {
        c->rec->events_truncated++;
        return 0;
    }
    struct log_event *slot =
        fields_grow((void **)&c->rec->events, &c->rec->nevents, &c->cap, sizeof ev);
    if (!slot) return GIVE_UP;
    *slot = ev;
    return 0;
}

static int count_element(struct scan *s, void *arg)
{
    struct list_ctx *c = arg;
    struct log_count cnt;
    int is_object;
    fields_init(&fields_count, &cnt);
    if (scan_plain_object(s, &fields_count, &cnt, &is_object)) {
        fields_free(&fields_count, &cnt);
        return GIVE_UP;
    }
    if (!is_object) return 0;
    if (c->rec->ncounts == LOG_MAX_EVENTS) {
        c->rec->counts_truncated++;
        fields_free(&fields_count, &cnt);
        return 0;
    }
    struct log_count *slot =
        fields_grow((void **)&c->rec->counts, &c->rec->ncounts, &c->cap, sizeof cnt);
    if (!slot) {
        fields_free(&fields_count, &cnt);
        return GIVE_UP;
    }
    *slot = cnt;
    return 0;
}

struct record_ctx {
    struct log_record *rec;
    uint64_t seen;
    long long v;
    int type_ok, time_ok, pid_ok;
};

static int record_member(struct scan *s, const char *key, size_t keylen, void *arg)
{
    struct record_ctx *c = arg;
    struct log_record *rec = c->rec;
    const struct field *f = find_field(&fields_record, key, keylen);
    if (!f) return skip_member(s, key, keylen, NULL);
    uint64_t bit = 1ull << (f - fields_record.fields);
    if (c->seen & bit) return GIVE_UP;
    c->seen |= bit;
    if (s->p < s->end && *s->p == 'n') rec->nulls |= bit; /* null, or a line jansson rejects */
    struct value v = {.t = V_NONE};
    int is_object;
    switch (f->kind) {
    case K_TCP:
        if (scan_plain_object(s, &fields_tcp, &rec->tcp, &is_object)) return GIVE_UP;
        rec->tcp.present = is_object;
        return 0;
    case K_CAUSE: return scan_plain_object(s, &fields_cause, &rec->cause, &is_object);
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
        c->type_ok = v.t == V_STR && log_type_from_name(v.s, v.slen, &rec->type) == 0;
        return 0;
    case K_TIME:
        if (v.t == V_STR && v.slen < sizeof rec->time) {
            memcpy(rec->time, v.s, v.slen);
            rec->time[v.slen] = '\0';
            c->time_ok =
                strlen(rec->time) == v.slen && logread_parse_time(rec->time, &rec->time_us) == 0;
        }
        return 0;
    case K_PID: /* 0: a process that could not learn its pid (a fork child under a filter) */
        c->pid_ok = v.t == V_INT && v.i >= 0 && v.i <= INT32_MAX;
        rec->pid = c->pid_ok ? v.i : 0;
        return 0;
    default: return fields_store(f, rec, &v) ? GIVE_UP : 0;
    }
}

int logread_parse_line_fast(const char *buf, size_t len, struct log_record *out)
{
    static struct scan s; /* the CLI reads one line at a time on one thread */
    fields_record_init(out);
    s.p = buf;
    s.end = buf + len;
    s.depth = 0;
    skip_ws(&s);
    int rc = GIVE_UP;
    if (s.p < s.end && *s.p == '{') {
        struct record_ctx c = {.rec = out, .v = -1};
        rc = scan_object(&s, record_member, &c);
        skip_ws(&s);
        if (rc == 0 &&
            (s.p != s.end || c.v != LOG_SCHEMA_VERSION || !c.type_ok || !c.time_ok || !c.pid_ok))
            rc = GIVE_UP;
    }
    if (rc) {
        log_record_free(out);
        fields_record_init(out);
    }
    return rc;
}
