/* export.h: the writers behind `rstwatch export` (Chrome trace-event JSON and standalone HTML). */
#ifndef RSTWATCH_EXPORT_H
#define RSTWATCH_EXPORT_H

#include "incidents.h"
#include "logread.h"
#include "report.h"

#include <stdio.h>

/* Streaming Chrome trace writer: begin, any number of records, end. */
struct chrome_writer {
    FILE *out;
    size_t events;               /* trace events written so far */
    struct chrome_track *tracks; /* (pid, track) pairs already named, open-addressed */
    size_t ntracks, track_slots;
    int failed; /* an allocation or write failed */
};

/* Starts a trace document on out. */
void chrome_begin(struct chrome_writer *w, FILE *out);

/*
 * Writes one record's trace events: a "connection" slice on the connection's track (tid = conn),
 * its events as "X" slices, the failing call as a thread-scoped instant named after its errno
 * (args: cause, hint, errno, tcp), retry/inject records as instants. Names the process and the
 * track with "M" metadata events the first time they appear.
 */
void chrome_write_record(struct chrome_writer *w, const struct log_record *rec);

/* Closes the document and frees the writer. Returns 0, or -1 if anything failed. */
int chrome_end(struct chrome_writer *w);

/* Writes a complete self-contained HTML page (inline CSS and SVG, no scripts, no fetches). */
void html_write_page(FILE *out, const struct incidents *inc, const struct report_inputs *in);

/* Writes one incident's <section>: its SVG timeline (class "conn") and its facts. */
void html_write_incident(FILE *out, const struct log_record *rec, size_t index);

/* Writes s with &, <, >, ", ' escaped and control characters replaced (safe in text and
 * attributes). */
void html_put_escaped(FILE *out, const char *s);

#endif
