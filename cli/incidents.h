/* incidents.h: aggregation of log records into the groups and incidents that report/export show. */
#ifndef RSTWATCH_INCIDENTS_H
#define RSTWATCH_INCIDENTS_H

#include "logread.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Full records kept for per-incident detail; beyond either cap they are only counted. */
#define INCIDENTS_MAX_DETAIL 10000
#define INCIDENTS_MAX_DETAIL_EVENTS (1u << 20)
/* Distinct values remembered per group (programs, errnos); more are counted, not listed. */
#define INCIDENTS_MAX_VALUES 8
/* Distinct retry/inject summary lines; more are folded into the last one. */
#define INCIDENTS_MAX_TALLIES 64

struct value_set {
    char *values[INCIDENTS_MAX_VALUES];
    size_t n;
    size_t more; /* distinct values not remembered */
};

/* All incidents with the same peer and cause code. */
struct incident_group {
    char *peer;  /* "?" when the record had none */
    char *cause; /* "unknown" when the record had none */
    char *hint;  /* the first hint seen, or NULL */
    uint64_t count;
    int64_t first_us, last_us;
    struct value_set progs, errnos;
};

/* Retry records by action/outcome/reason, inject records by action. */
struct tally {
    char *action, *outcome, *reason; /* outcome/reason NULL for injections */
    uint64_t count;
};

struct incidents {
    struct incident_group *groups; /* sorted by incidents_finish */
    size_t ngroups, groups_cap;
    size_t *slots; /* hash index into groups (SIZE_MAX = empty), capacity nslots */
    size_t nslots;
    struct log_record *detail; /* kept incidents, time-ordered by incidents_finish */
    size_t ndetail, detail_cap, detail_events;
    uint64_t detail_omitted; /* incidents counted but not kept */
    uint64_t incidents;      /* reset/error records and closes with a cause */
    uint64_t clean_closes;   /* close records without a cause */
    uint64_t records;        /* everything added */
    struct tally retries[INCIDENTS_MAX_TALLIES], injections[INCIDENTS_MAX_TALLIES];
    size_t nretries, ninjections;
    uint64_t retry_records, inject_records;
};

/* Empties *inc. */
void incidents_init(struct incidents *inc);

/* Accounts one record; takes ownership of its contents (rec is left empty). */
void incidents_add(struct incidents *inc, struct log_record *rec);

/* Sorts groups (most frequent first) and kept incidents (oldest first). Call before reading. */
void incidents_finish(struct incidents *inc);

/* Releases everything. */
void incidents_free(struct incidents *inc);

/* True when the record is an incident (not a retry/inject record or a clean close). */
int incidents_is_incident(const struct log_record *rec);

/* Writes "N action outcome (reason), ..." for the tallies, every string through
 * put (the caller's escaper: terminal-safe for report, HTML for export). */
void incidents_put_tallies(FILE *out, const struct tally *t, size_t n,
                           void (*put)(FILE *out, const char *s));

#endif
