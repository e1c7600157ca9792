// SPDX-License-Identifier: MIT
/*
 * logread.c: turns one line of an rstwatch log into a struct log_record.
 *
 * The shape of schema v1 comes from schema.h (as tables: logfields.c). The reader is strict
 * where a wrong value would make the record meaningless ("v", "type", "time", "pid": the line
 * is rejected with a reason) and lenient everywhere else: unknown fields are ignored, and an
 * optional field with the wrong type or an absurd value is treated as absent, so a newer shim's
 * log still reads. Input is untrusted (it is fuzzed): any bytes, any length, never a crash.
 *
 * Two parsers fill the record. logfast.c's one-pass scanner reads the ordinary line; this file
 * is the reference, jansson, which reads whatever the scanner leaves to it and writes every
 * error message. tests/unit/logread_test.c holds the two to the same record on many lines.
 */
#include "logfields.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Stores the plain fields of a table from a jansson object (not an object: all absent); the
 * fields present as null set their bits in *nulls when nulls is not NULL. */
static int jansson_table(const struct table *t, const json_t *obj, void *base, uint64_t *nulls)
{
    if (!json_is_object(obj)) return 0;
    for (size_t i = 0; i < t->n; i++) {
        const json_t *j = json_object_get(obj, t->fields[i].key);
        if (!j) continue;
        if (nulls && json_is_null(j)) *nulls |= 1ull << i;
        struct value v = value_of(j);
        if (fields_store(&t->fields[i], base, &v)) return -1;
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
        fields_init(&fields_event, &ev);
        if (jansson_table(&fields_event, e, &ev, NULL)) return -1;
        if (!fields_event_usable(&ev)) continue;
        if (rec->nevents == LOG_MAX_EVENTS) {
            rec->events_truncated++;
            continue;
        }
        struct log_event *slot = fields_grow((void **)&rec->events, &rec->nevents, &cap, sizeof ev);
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
        struct log_count *c = fields_grow((void **)&rec->counts, &rec->ncounts, &cap, sizeof *c);
        if (!c) return -1;
        fields_init(&fields_count, c);
        if (jansson_table(&fields_count, e, c, NULL)) return -1;
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
    if (!s || log_type_from_name(s, json_string_length(type), &rec->type)) {
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
    /* 0 is a pid the writer could not learn (a fork child under a seccomp filter): unknown, and
     * the record is still a record. */
    if (!json_is_integer(pid) || json_integer_value(pid) < 0 ||
        json_integer_value(pid) > INT32_MAX) {
        set_err(err, errlen, "invalid \"pid\" (want an integer >= 0, 0 meaning unknown)");
        return -1;
    }
    rec->pid = json_integer_value(pid);
    return 0;
}

static int parse_optional(const json_t *root, struct log_record *rec)
{
    const json_t *tcp = json_object_get(root, "tcp");
    rec->tcp.present = json_is_object(tcp);
    if (jansson_table(&fields_record, root, rec, &rec->nulls) ||
        jansson_table(&fields_tcp, tcp, &rec->tcp, NULL) ||
        jansson_table(&fields_cause, json_object_get(root, "cause"), &rec->cause, NULL) ||
        jansson_events(json_object_get(root, "events"), rec) ||
        jansson_counts(json_object_get(root, "counts"), rec))
        return -1;
    return 0;
}

int logread_parse_line_reference(const char *buf, size_t len, struct log_record *out, char *err,
                                 size_t errlen)
{
    fields_record_init(out);
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
        fields_record_init(out);
    }
    return rc;
}

int logread_parse_line(const char *buf, size_t len, struct log_record *out, char *err,
                       size_t errlen)
{
    if (logread_parse_line_fast(buf, len, out) == 0) return 0;
    return logread_parse_line_reference(buf, len, out, err, errlen);
}

const struct log_event *log_record_failing_event(const struct log_record *rec)
{
    const struct log_event *last = NULL;
    if (rec->type == LOG_CLOSE && !rec->err) return NULL; /* a close: an old EAGAIN is no failure */
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
