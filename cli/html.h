// SPDX-License-Identifier: MIT
/* html.h: records -> one self-contained HTML page: an overview, then connection timelines. */
#ifndef RSTWATCH_HTML_H
#define RSTWATCH_HTML_H

#include "incidents.h"
#include "logscan.h"
#include "pairs.h"

#include <stdio.h>

/* The page stays below this size whatever the log size; timelines stop when the next one
 * would not fit (the page says how many were left out). */
#define HTML_MAX_BYTES (5u * 1000 * 1000)
/* Group rows in the page's table; the rest are summed in one line. */
#define HTML_MAX_GROUP_ROWS 50
/* Timelines drawn at most, even when they would fit. */
#define HTML_MAX_TIMELINES 200

/*
 * Writes a complete self-contained page (inline CSS and SVG, no scripts, no fetches): the
 * summary and the overview first (incidents over time by cause and by service, top peers,
 * programs and hosts, the groups table), then the first timelines in pairs->shown order within
 * max_bytes (0: HTML_MAX_BYTES), with a note of how many were left out. Returns the number of
 * timelines left out.
 */
size_t html_write_page(FILE *out, const struct incidents *inc, const struct pairs *pairs,
                       const struct logscan_stats *in, size_t max_bytes);

/* Writes the overview: charts over time and the top lists (part of html_write_page). */
void html_write_overview(FILE *out, const struct incidents *inc);

/* Writes one incident's <section>: its SVG timeline (class "conn") and its facts. */
void html_write_incident(FILE *out, const struct log_record *rec, size_t index);

/* Writes both ends of one connection: one SVG with two lanes on one time axis, the verdict. */
void html_write_pair(FILE *out, const struct conn_pair *pair, size_t index);

/* Draws n (1 or 2) records as one SVG timeline: a lane each (n = 2: client above, server
 * below, labelled), record i shifted by shift[i] ms on the shared axis. */
void html_write_svg(FILE *out, const struct log_record *const *recs, const double *shift, size_t n);

/* Writes s with &, <, >, ", ' escaped and control characters replaced (safe in text and
 * attributes). */
void html_put_escaped(FILE *out, const char *s);

#endif
