// SPDX-License-Identifier: MIT
/* report_text.h: the text rendering of `rstwatch report` (summary table and timelines). */
#ifndef RSTWATCH_REPORT_TEXT_H
#define RSTWATCH_REPORT_TEXT_H

#include "incidents.h"
#include "logscan.h"
#include "pairs.h"

#include <stdio.h>

/* Summary rows shown before "... N more groups" in the text report. */
#define REPORT_MAX_GROUP_ROWS 20

/* Prints the one-screen summary: which service, which cause, how many, since when; then the
 * retry/inject tallies. in: what was read. color: use ANSI colours. */
void report_print_summary(FILE *out, const struct incidents *inc, const struct logscan_stats *in,
                          int color);

/* Prints the events among the incidents (events.c): restarts or reloads of a service, and
 * requests to one service that failed after the same wait (one timeout). Nothing when none. */
void report_print_events(FILE *out, const struct pairs *pairs, int color);

/* Prints one incident as a readable timeline; index/total number it ("Incident 2/7"). */
void report_print_incident(FILE *out, const struct log_record *rec, size_t index, size_t total,
                           int color);

/* Prints both ends of one connection side by side on one time axis, with the verdict. */
void report_print_pair(FILE *out, const struct conn_pair *pair, size_t index, size_t total,
                       int color);

/* Writes s for a terminal: control characters (C0, DEL, C1) are shown escaped as \xNN. */
void report_put_safe(FILE *out, const char *s);

#endif
