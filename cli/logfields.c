// SPDX-License-Identifier: MIT
/*
 * logfields.c: the record schema (schema.h) as tables, and storing values into a record.
 *
 * The tables are generated from schema.h's X-macros (key, kind, offset of the member), so a
 * field added there is read, freed and compared everywhere without more code. Storing is where
 * the reader's leniency lives: an optional field with the wrong type or an absurd value is
 * treated as absent, so a newer shim's log still reads. Both parsers (logread.c's jansson
 * reference and logfast.c's scanner) store through here, so they cannot disagree on it.
 */
#include "logfields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    [LOG_RESET] = "reset",     [LOG_ERROR] = "error",   [LOG_CLOSE] = "close",
    [LOG_RETRY] = "retry",     [LOG_INJECT] = "inject", [LOG_EOF] = "eof",
    [LOG_SUMMARY] = "summary", [LOG_PACKET] = "packet",
};

const char *log_type_name(enum log_type type)
{
    return (unsigned)type < sizeof type_names / sizeof type_names[0] ? type_names[type] : "?";
}

const char *log_pid_text(const struct log_record *rec, char buf[LOG_PID_TEXT])
{
    if (rec->pid == LOG_PID_UNKNOWN)
        strcpy(buf, "pid unknown");
    else
        snprintf(buf, LOG_PID_TEXT, "%lld", rec->pid);
    return buf;
}

int log_type_from_name(const char *s, size_t len, enum log_type *out)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strlen(type_names[i]) == len && memcmp(s, type_names[i], len) == 0) {
            *out = (enum log_type)i;
            return 0;
        }
    }
    return -1;
}

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

#define TABLE(a)                                                                                   \
    {                                                                                              \
        a, sizeof a / sizeof a[0]                                                                  \
    }
const struct table fields_record = TABLE(record_fields), fields_tcp = TABLE(tcp_fields),
                   fields_cause = TABLE(cause_fields), fields_event = TABLE(event_fields),
                   fields_count = TABLE(count_fields);

_Static_assert(sizeof record_fields / sizeof record_fields[0] <= 64,
               "the seen and null masks are 64 bits");
_Static_assert(sizeof record_fields / sizeof record_fields[0] == LOG_NFIELDS,
               "log_field indexes the record table");

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
void fields_init(const struct table *t, void *base)
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
int fields_store(const struct field *f, void *base, const struct value *v)
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
int fields_event_usable(struct log_event *ev)
{
    if (isnan(ev->t_ms)) return 0;
    if (ev->n < 1) ev->n = 1;
    return 1;
}

/* Appends a slot to a growing array of elem-sized items; NULL when out of memory. */
void *fields_grow(void **arr, size_t *n, size_t *cap, size_t elem)
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

void fields_record_init(struct log_record *rec)
{
    memset(rec, 0, sizeof *rec);
    fields_init(&fields_record, rec);
    fields_init(&fields_tcp, &rec->tcp);
    fields_init(&fields_cause, &rec->cause);
}

void fields_free(const struct table *t, void *base)
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
    fields_free(&fields_record, rec);
    fields_free(&fields_cause, &rec->cause);
    for (size_t i = 0; i < rec->ncounts; i++)
        fields_free(&fields_count, &rec->counts[i]);
    free(rec->counts);
    free(rec->events);
    rec->counts = NULL;
    rec->events = NULL;
    rec->ncounts = rec->nevents = 0;
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
        a->nulls != b->nulls || a->tcp.present != b->tcp.present || a->nevents != b->nevents ||
        a->events_truncated != b->events_truncated || a->ncounts != b->ncounts ||
        a->counts_truncated != b->counts_truncated)
        return 0;
    if (!table_equal(&fields_record, a, b) || !table_equal(&fields_tcp, &a->tcp, &b->tcp) ||
        !table_equal(&fields_cause, &a->cause, &b->cause))
        return 0;
    for (size_t i = 0; i < a->nevents; i++)
        if (!table_equal(&fields_event, &a->events[i], &b->events[i])) return 0;
    for (size_t i = 0; i < a->ncounts; i++)
        if (!table_equal(&fields_count, &a->counts[i], &b->counts[i])) return 0;
    return 1;
}
