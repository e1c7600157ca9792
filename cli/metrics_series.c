// SPDX-License-Identifier: MIT
/*
 * metrics_series.c: the counters behind `rstwatch metrics`.
 *
 * A record adds to a handful of counters, keyed by bounded labels: an incident's service (the
 * address the client called, or the server's listening address: never a client's ephemeral
 * port), side, cause, errno and program. Each label name admits at most max_values distinct
 * values; later ones are counted under "other", and since the set of admitted values is the set
 * of values in the stored series, a value keeps its own series for good once admitted and counts
 * stay monotonic from run to run. Counting follows `rstwatch report` (incidents.c): a record
 * stands for itself plus its "suppressed" count, and a summary's entries add what no record
 * reported, so the totals are exact under the shim's rate limit.
 */
#include "metrics_series.h"

#include "incidents.h"
#include "slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const struct metric_def metric_defs[METRIC_COUNT] = {
    [METRIC_INCIDENTS] = {"rstwatch_incidents_total",
                          "Failed connections (reset, eof, error records and closes with a cause), "
                          "including those the rate limit only counted; by service (the address a "
                          "client called, or the listening address on the server side), side, "
                          "cause, errno and program.",
                          {"service", "side", "cause", "errno", "prog", NULL}},
    [METRIC_RETRIES] = {"rstwatch_retries_total",
                        "Retry records (reconnects and replays), including those the rate limit "
                        "only counted, by service, action and outcome.",
                        {"service", "action", "outcome", NULL}},
    [METRIC_RECORDS] = {"rstwatch_records_total",
                        "Records read from the logs, by record type.",
                        {"type", NULL}},
    [METRIC_SUPPRESSED] = {"rstwatch_records_suppressed_total",
                           "Records the shim's rate limit left out and only counted, by record "
                           "type (they are included in the other counters).",
                           {"type", NULL}},
    [METRIC_BAD_LINES] = {"rstwatch_log_bad_lines_total",
                          "Log lines that started a record but could not be read, skipped.",
                          {NULL}},
    [METRIC_READ_BYTES] = {"rstwatch_log_read_bytes_total",
                           "Bytes of logs read (after decompression).",
                           {NULL}},
};

static const char *const label_names[METRICS_LABEL_NAMES] = {
    "service", "side", "cause", "errno", "prog", "action", "outcome", "type",
};

#define UNKNOWN "unknown"

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const char *p = s; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* a separator no UTF-8 text holds */
}

#define FNV_BASIS 1469598103934665603ull

int metric_by_name(const char *name)
{
    for (int m = 0; m < METRIC_COUNT; m++)
        if (strcmp(metric_defs[m].name, name) == 0) return m;
    return -1;
}

size_t metric_nlabels(enum metric_id metric)
{
    size_t n = 0;
    while (metric_defs[metric].labels[n])
        n++;
    return n;
}

void series_init(struct series_set *set, size_t max_values)
{
    memset(set, 0, sizeof *set);
    set->max_values = max_values ? max_values : METRICS_DEFAULT_MAX_VALUES;
    for (size_t i = 0; i < METRICS_LABEL_NAMES; i++)
        set->labels[i].label = label_names[i];
}

/* ---- distinct values per label name ----------------------------------------------------------
 */

static struct label_values *label_for(struct series_set *set, const char *name)
{
    for (size_t i = 0; i < METRICS_LABEL_NAMES; i++)
        if (strcmp(set->labels[i].label, name) == 0) return &set->labels[i];
    return NULL;
}

static uint64_t value_at_hash(size_t e, const void *ctx)
{
    const struct label_values *lv = ctx;
    return fnv(FNV_BASIS, lv->values[e]);
}

/* The stored copy of value if lv holds it; else, with room (or cap == 0: no cap), adds it;
 * NULL when it is over the cap or out of memory (*oom set then). */
static const char *label_admit(struct label_values *lv, const char *value, size_t cap, int *oom)
{
    if (slots_reserve(&lv->slots, &lv->nslots, lv->n, 64, value_at_hash, lv)) {
        *oom = 1;
        return NULL;
    }
    size_t i = fnv(FNV_BASIS, value) & (lv->nslots - 1);
    for (; lv->slots[i] != SLOT_EMPTY; i = (i + 1) & (lv->nslots - 1))
        if (strcmp(lv->values[lv->slots[i]], value) == 0) return lv->values[lv->slots[i]];
    if (cap && lv->n >= cap && strcmp(value, METRICS_OTHER) != 0) return NULL;
    char **values = array_reserve(lv->values, &lv->cap, lv->n, sizeof *values, 16);
    char *copy = values ? strdup(value) : NULL;
    if (values) lv->values = values;
    if (!copy) {
        *oom = 1;
        return NULL;
    }
    lv->values[lv->n] = copy;
    lv->slots[i] = lv->n++;
    return copy;
}

/* ---- series ----------------------------------------------------------------------------------
 */

static uint64_t key_hash(enum metric_id metric, const char *const *values, size_t nlabels)
{
    uint64_t h = FNV_BASIS ^ (uint64_t)metric;
    for (size_t i = 0; i < nlabels; i++)
        h = fnv(h, values[i]);
    return h;
}

static uint64_t series_at_hash(size_t e, const void *ctx)
{
    const struct series_set *set = ctx;
    const struct series *s = &set->s[e];
    return key_hash(s->metric, (const char *const *)s->values, metric_nlabels(s->metric));
}

/* values are label_admit's stored copies (pointer-comparable). */
static int series_bump(struct series_set *set, enum metric_id metric, const char **values,
                       uint64_t n, int set_value)
{
    size_t nl = metric_nlabels(metric);
    if (slots_reserve(&set->slots, &set->nslots, set->n, 64, series_at_hash, set)) goto oom;
    size_t i = key_hash(metric, values, nl) & (set->nslots - 1);
    for (; set->slots[i] != SLOT_EMPTY; i = (i + 1) & (set->nslots - 1)) {
        struct series *s = &set->s[set->slots[i]];
        if (s->metric != metric) continue;
        size_t k = 0;
        while (k < nl && s->values[k] == values[k])
            k++;
        if (k == nl) {
            s->value = set_value ? n : s->value + n;
            return 0;
        }
    }
    struct series *arr = array_reserve(set->s, &set->cap, set->n, sizeof *arr, 64);
    if (!arr) goto oom;
    set->s = arr;
    struct series *s = &set->s[set->n];
    memset(s, 0, sizeof *s);
    s->metric = metric;
    for (size_t k = 0; k < nl; k++)
        s->values[k] = (char *)values[k]; /* owned by the label sets */
    s->value = n;
    set->slots[i] = set->n++;
    return 0;
oom:
    set->oom = 1;
    return -1;
}

static int add_or_restore(struct series_set *set, enum metric_id metric, const char *const *values,
                          uint64_t n, int restore)
{
    const char *stored[METRIC_MAX_LABELS];
    size_t nl = metric_nlabels(metric);
    for (size_t k = 0; k < nl; k++) {
        const char *v = values[k] && *values[k] ? values[k] : UNKNOWN;
        struct label_values *lv = label_for(set, metric_defs[metric].labels[k]);
        stored[k] = label_admit(lv, v, restore ? 0 : set->max_values, &set->oom);
        if (!stored[k] && !set->oom) {
            stored[k] = label_admit(lv, METRICS_OTHER, 0, &set->oom);
            set->folded++;
        }
        if (!stored[k]) return -1;
    }
    return series_bump(set, metric, stored, n, restore);
}

int series_add(struct series_set *set, enum metric_id metric, const char *const *values, uint64_t n)
{
    return add_or_restore(set, metric, values, n, 0);
}

int series_restore(struct series_set *set, enum metric_id metric, const char *const *values,
                   uint64_t value)
{
    return add_or_restore(set, metric, values, value, 1);
}

uint64_t series_total(const struct series_set *set, enum metric_id metric)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < set->n; i++)
        if (set->s[i].metric == metric) sum += set->s[i].value;
    return sum;
}

/* ---- what a record adds ----------------------------------------------------------------------
 */

/* The side and service of a record or summary entry: a server serves its listening address, a
 * client calls its peer. A summary's server entries carry the client without its port as peer,
 * and the listening address as local, as records do. */
static void side_service(const char *role, const char *local, const char *peer, const char **side,
                         const char **service)
{
    if (role && strcmp(role, "server") == 0) {
        *side = "server";
        *service = local;
    } else if (role && strcmp(role, "client") == 0) {
        *side = "client";
        *service = peer;
    } else {
        *side = UNKNOWN;
        *service = peer;
    }
}

static void count_suppressed(struct series_set *set, const char *type, uint64_t n)
{
    if (n) series_add(set, METRIC_SUPPRESSED, (const char *[]){type}, n);
}

static void account_summary(struct series_set *set, const struct log_record *rec)
{
    for (size_t i = 0; i < rec->ncounts; i++) {
        const struct log_count *c = &rec->counts[i];
        if (c->suppressed <= 0) continue;
        uint64_t n = (uint64_t)c->suppressed;
        const char *side, *service;
        side_service(c->role, c->local, c->peer, &side, &service);
        if (incidents_type_is_incident(c->type, c->cause)) {
            /* The rate limit's key has no errno: an eof has none, the others are not known. */
            const char *err = c->type && strcmp(c->type, "eof") == 0 ? "none" : UNKNOWN;
            const char *v[] = {service, side, c->cause, err, rec->prog};
            series_add(set, METRIC_INCIDENTS, v, n);
        } else if (c->type && strcmp(c->type, "retry") == 0) {
            const char *v[] = {service, UNKNOWN, UNKNOWN};
            series_add(set, METRIC_RETRIES, v, n);
        }
        count_suppressed(set, c->type, n);
    }
}

void series_account(struct series_set *set, const struct log_record *rec)
{
    const char *type = log_type_name(rec->type);
    series_add(set, METRIC_RECORDS, &type, 1);
    uint64_t extra = rec->suppressed > 0 ? (uint64_t)rec->suppressed : 0;
    count_suppressed(set, type, extra);
    const char *side, *service;
    side_service(rec->role, rec->local, rec->peer, &side, &service);
    if (rec->type == LOG_SUMMARY) {
        account_summary(set, rec);
    } else if (rec->type == LOG_RETRY) {
        const char *v[] = {service, rec->action, rec->outcome};
        series_add(set, METRIC_RETRIES, v, 1 + extra);
    } else if (incidents_is_incident(rec)) {
        const char *err = incidents_seen_errno(rec); /* as report's ERRNO column */
        if (!err) err = "none";
        const char *v[] = {service, side, rec->cause.code, err, rec->prog};
        series_add(set, METRIC_INCIDENTS, v, 1 + extra);
    }
}

/* ---- Prometheus text format ------------------------------------------------------------------
 */

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a,
                        *y = *(const struct series *const *)b;
    if (x->metric != y->metric) return x->metric < y->metric ? -1 : 1;
    size_t nl = metric_nlabels(x->metric);
    for (size_t k = 0; k < nl; k++) {
        int c = strcmp(x->values[k], y->values[k]);
        if (c) return c;
    }
    return 0;
}

/* A label value: backslash, double quote and newline escaped, as the format wants. */
static void put_label_value(FILE *out, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '"')
            fputs("\\\"", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

int series_write_prom(const struct series_set *set, FILE *out)
{
    const struct series **sorted = malloc((set->n ? set->n : 1) * sizeof *sorted);
    if (!sorted) return -1;
    for (size_t i = 0; i < set->n; i++)
        sorted[i] = &set->s[i];
    qsort(sorted, set->n, sizeof *sorted, cmp_series);
    size_t i = 0;
    for (int m = 0; m < METRIC_COUNT; m++) {
        const struct metric_def *d = &metric_defs[m];
        size_t nl = metric_nlabels((enum metric_id)m);
        size_t first = i;
        while (i < set->n && sorted[i]->metric == (enum metric_id)m)
            i++;
        if (i == first && nl) continue; /* a labelled metric without series: nothing to say */
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", d->name, d->help, d->name);
        if (!nl) {
            fprintf(out, "%s %llu\n", d->name,
                    (unsigned long long)(i > first ? sorted[first]->value : 0));
            continue;
        }
        for (size_t k = first; k < i; k++) {
            fprintf(out, "%s{", d->name);
            for (size_t l = 0; l < nl; l++) {
                fprintf(out, "%s%s=\"", l ? "," : "", d->labels[l]);
                put_label_value(out, sorted[k]->values[l]);
                fputc('"', out);
            }
            fprintf(out, "} %llu\n", (unsigned long long)sorted[k]->value);
        }
    }
    free(sorted);
    return ferror(out) ? -1 : 0;
}

void series_free(struct series_set *set)
{
    free(set->s);
    free(set->slots);
    for (size_t i = 0; i < METRICS_LABEL_NAMES; i++) {
        struct label_values *lv = &set->labels[i];
        for (size_t k = 0; k < lv->n; k++)
            free(lv->values[k]);
        free(lv->values);
        free(lv->slots);
    }
    series_init(set, set->max_values);
}
