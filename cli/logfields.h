// SPDX-License-Identifier: MIT
/*
 * logfields.h: the record schema (schema.h) as data, for the log reader's two parsers.
 *
 * Internal to the reader (logread.c, logfast.c, logfields.c): each table lists the fields of one
 * struct with their JSON key, kind and offset, and the store functions put a parsed value into
 * its member with the reader's leniency (a wrong type or an absurd value is "absent").
 */
#ifndef RSTWATCH_LOGFIELDS_H
#define RSTWATCH_LOGFIELDS_H

#include "logread.h"

#include <stddef.h>

/* Relative times and durations beyond ~31 years are nonsense; treat them as absent. */
#define LOG_MAX_MS 1e12

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

/* One field of a table: its JSON key, its kind and where it lives in its struct. */
struct field {
    const char *key;
    size_t keylen;
    enum kind kind;
    size_t off;     /* of the member in its struct */
    size_t has_off; /* INT: of has_<member> */
};

/* The fields of one struct (a record, its tcp or cause object, an event, a summary count). */
struct table {
    const struct field *fields;
    size_t n;
};

extern const struct table fields_record, fields_tcp, fields_cause, fields_event, fields_count;

/* A JSON value as the store functions see it; strings are not NUL-terminated. */
enum vtype { V_NONE, V_NULL, V_FALSE, V_TRUE, V_INT, V_REAL, V_STR, V_OBJ, V_ARR };

struct value {
    enum vtype t;
    long long i;
    double d;
    const char *s;
    size_t slen;
};

/* Finds a record type by its schema name (len bytes). Returns 0, or -1 when unknown. */
int log_type_from_name(const char *s, size_t len, enum log_type *out);

/* Sets every plain field of a table in the struct at base to absent. */
void fields_init(const struct table *t, void *base);

/* Stores v into field f of the struct at base when v has the field's type and a sane value
 * (plain kinds only; others are ignored). Returns 0, or -1 when out of memory. */
int fields_store(const struct field *f, void *base, const struct value *v);

/* Frees the strings of a table's struct at base and sets them to NULL. */
void fields_free(const struct table *t, void *base);

/* Empties a record: every field absent, nothing owned. */
void fields_record_init(struct log_record *rec);

/* True when the event may be kept (a usable t_ms); a lone call gets n = 1. */
int fields_event_usable(struct log_event *ev);

/* Appends a slot of elem bytes to the growing array *arr (*n used, *cap allocated); returns it,
 * or NULL when out of memory (the array is unchanged). */
void *fields_grow(void **arr, size_t *n, size_t *cap, size_t elem);

#endif
