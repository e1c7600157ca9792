/* report.h: rendering of aggregated records for `rstwatch report` (text and JSON). */
#ifndef RSTWATCH_REPORT_H
#define RSTWATCH_REPORT_H

#include "incidents.h"
#include "logread.h"

#include <jansson.h>
#include <stdio.h>

/* Summary rows shown before "... N more groups" in the text report. */
#define REPORT_MAX_GROUP_ROWS 20

/* What the text report says about the inputs, beyond the records themselves. */
struct report_inputs {
    size_t files, bad_lines;
    uint64_t filtered; /* records older than --since */
};

/* Prints the one-screen summary: groups table, retry/inject tallies. color: use ANSI colours. */
void report_print_summary(FILE *out, const struct incidents *inc, const struct report_inputs *in,
                          int color);

/* Prints one incident as a readable timeline; index/total number it ("Incident 2/7"). */
void report_print_incident(FILE *out, const struct log_record *rec, size_t index, size_t total,
                           int color);

/* Writes s for a terminal: control characters (C0, DEL, C1) are shown escaped as \xNN. */
void report_put_safe(FILE *out, const char *s);

/* The record (normalised: known fields only) as a new JSON object; NULL when out of memory. */
json_t *report_record_json(const struct log_record *rec);

/* The whole aggregation (summary, groups, tallies, kept incidents) as a new JSON object. */
json_t *report_json(const struct incidents *inc, const struct report_inputs *in);

#endif
