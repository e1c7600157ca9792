// SPDX-License-Identifier: MIT
/* metrics_series.h: the counters of `rstwatch metrics`, what a record adds to them, and their
 * Prometheus text form. */
#ifndef RSTWATCH_METRICS_SERIES_H
#define RSTWATCH_METRICS_SERIES_H

#include "logread.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define METRIC_MAX_LABELS 5

/* The metrics, in the order they are written. */
enum metric_id {
    METRIC_INCIDENTS,
    METRIC_RETRIES,
    METRIC_RECORDS,
    METRIC_SUPPRESSED,
    METRIC_BAD_LINES,
    METRIC_READ_BYTES,
    METRIC_COUNT
};

/* One metric: its name, HELP text and label names (NULL-terminated). */
struct metric_def {
    const char *name;
    const char *help;
    const char *labels[METRIC_MAX_LABELS + 1];
};

extern const struct metric_def metric_defs[METRIC_COUNT];

/* The value that stands for every label value over the cap. */
#define METRICS_OTHER "other"

/* Default cap on the distinct values of one label (service, prog, ...). */
#define METRICS_DEFAULT_MAX_VALUES 100

/* One time series: a metric and its label values (in metric_defs order), and its count. */
struct series {
    enum metric_id metric;
    char *values[METRIC_MAX_LABELS];
    uint64_t value;
};

/* Distinct values seen per label name, for the cap. */
struct label_values {
    const char *label;
    char **values;
    size_t n, cap;
    size_t *slots, nslots;
};

#define METRICS_LABEL_NAMES 8

struct series_set {
    struct series *s;
    size_t n, cap;
    size_t *slots, nslots;
    struct label_values labels[METRICS_LABEL_NAMES];
    size_t max_values; /* cap per label name; 0 = METRICS_DEFAULT_MAX_VALUES */
    uint64_t folded;   /* additions whose label went to METRICS_OTHER (this run) */
    int oom;           /* an addition was lost for lack of memory */
};

/* Empties *set; max_values is the cap per label (0: the default). */
void series_init(struct series_set *set, size_t max_values);

/*
 * Adds n to the series of metric with these label values (one per label of the metric; NULL
 * or "" is stored as "unknown"). A value not yet seen for its label name, when that label already
 * has max_values distinct values, is replaced by METRICS_OTHER: values once admitted stay, so a
 * series never moves to "other" later. Returns 0, or -1 when out of memory (set->oom).
 */
int series_add(struct series_set *set, enum metric_id metric, const char *const *values,
               uint64_t n);

/*
 * Sets a series' count as it was stored (the state file): like series_add, but with no cap
 * (values the state holds were admitted before). Returns 0 or -1.
 */
int series_restore(struct series_set *set, enum metric_id metric, const char *const *values,
                   uint64_t value);

/*
 * Counts one record, the way `rstwatch report` counts it: an incident (reset, eof, error, a close
 * with a cause) is 1 + its "suppressed" in rstwatch_incidents_total; a summary's entries add
 * their "suppressed" counts; retries go to rstwatch_retries_total; every record to
 * rstwatch_records_total, what the rate limit left out to rstwatch_records_suppressed_total.
 */
void series_account(struct series_set *set, const struct log_record *rec);

/* The metric named name, or -1. */
int metric_by_name(const char *name);

/* Number of labels of a metric. */
size_t metric_nlabels(enum metric_id metric);

/* Writes every series in the Prometheus text exposition format (version 0.0.4), metrics in
 * enum order with HELP and TYPE, series sorted by label values. Returns 0 or -1 (errno). */
int series_write_prom(const struct series_set *set, FILE *out);

/* The sum of a metric's series. */
uint64_t series_total(const struct series_set *set, enum metric_id metric);

/* Releases everything and empties *set. */
void series_free(struct series_set *set);

#endif
