// SPDX-License-Identifier: MIT
/* incidents.h: aggregation of log records into the groups and incidents that report/export show. */
#ifndef RSTWATCH_INCIDENTS_H
#define RSTWATCH_INCIDENTS_H

#include "counter.h"
#include "logread.h"
#include "packets_join.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Full records kept for per-incident detail; beyond either cap they are only counted. */
#define INCIDENTS_MAX_DETAIL 10000
#define INCIDENTS_MAX_DETAIL_EVENTS (1u << 20)
/* Close records kept to find the other end of an incident's connection (the most recent). */
#define INCIDENTS_MAX_CLOSES 4096
/* Events kept of such a close record (its last ones). */
#define INCIDENTS_CLOSE_EVENTS 256
/* Distinct values remembered per group (programs, errnos); more are counted, not listed. */
#define INCIDENTS_MAX_VALUES 8
/* Distinct retry/inject summary lines; more are folded into the last one. */
#define INCIDENTS_MAX_TALLIES 64
/* Resets over time are counted per minute and group. */
#define INCIDENTS_BUCKET_US (60 * 1000000LL)

struct value_set {
    char *values[INCIDENTS_MAX_VALUES];
    size_t n;
    size_t more; /* distinct values not remembered */
};

/*
 * All incidents of one service and cause, as seen from one host and side. A server-side record
 * belongs to the service it serves (its local address) and the client host (the peer without
 * its ephemeral port); a client-side record to the service it called (its peer).
 */
struct incident_group {
    char *host;       /* "" when the records carry none */
    char *role;       /* "client", "server" or "?" */
    char *service;    /* the service address ("?" when unknown) */
    char *client;     /* server side: the client's host; NULL on the client side */
    char *cause;      /* "unknown" when the record had none */
    char *hint;       /* the first hint seen, or NULL */
    uint64_t count;   /* incidents, including those the shim only counted */
    uint64_t records; /* of which full records were read */
    int64_t first_us, last_us;
    struct value_set progs, errnos;
    size_t id; /* insertion order (the minute buckets' group number before sorting) */
};

/* Retry records by action/outcome/reason, inject records by action. */
struct tally {
    char *action, *outcome, *reason; /* outcome/reason NULL for injections */
    uint64_t count;
};

/* Incidents per (minute, group), for the overview's charts. */
struct time_bucket {
    int64_t minute; /* time_us / INCIDENTS_BUCKET_US */
    size_t group;   /* index into groups (before incidents_finish: insertion order) */
    uint64_t count;
};

struct incidents {
    struct incident_group *groups; /* sorted by incidents_finish */
    size_t ngroups, groups_cap;
    size_t *slots; /* hash index into groups (slots.h), capacity nslots */
    size_t nslots;
    struct log_record *detail; /* kept incidents, time-ordered by incidents_finish */
    size_t ndetail, detail_cap, detail_events;
    uint64_t detail_omitted;   /* incidents read but not kept */
    struct log_record *closes; /* recent clean close records (a ring), for pairing */
    size_t ncloses, closes_next;
    uint64_t incidents;    /* reset/eof/error records and closes with a cause, with counted ones */
    uint64_t counted_only; /* of which the shim only counted (suppressed, summaries) */
    uint64_t clean_closes; /* close records without a cause */
    uint64_t records;      /* everything added */
    uint64_t summaries;    /* summary records */
    uint64_t filtered;     /* records skipped by the caller (older than --since) */
    struct tally retries[INCIDENTS_MAX_TALLIES], injections[INCIDENTS_MAX_TALLIES];
    size_t nretries, ninjections;
    uint64_t retry_records, inject_records;
    struct counter hosts, progs, peers; /* incidents per host, program, peer (service/client) */
    struct time_bucket *buckets;
    size_t nbuckets, buckets_cap;
    size_t *bucket_slots;
    size_t nbucket_slots;
    size_t *group_order;         /* after finish: insertion order -> sorted index */
    struct packets_join packets; /* capture's packet records waiting for their shim record */
};

/* Empties *inc. */
void incidents_init(struct incidents *inc);

/* Accounts one record; takes ownership of its contents (rec is left empty). */
void incidents_add(struct incidents *inc, struct log_record *rec);

/* Sorts groups (most frequent first) and kept incidents (oldest first). Call before reading. */
void incidents_finish(struct incidents *inc);

/* Releases everything. */
void incidents_free(struct incidents *inc);

/* True when the record is an incident (not a retry/inject/summary record or a clean close). */
int incidents_is_incident(const struct log_record *rec);

/*
 * The errno the program last saw on the record's connection: the record's own, else the last
 * failed call in its timeline (a call that went on after an EOF); NULL when none failed.
 */
const char *incidents_seen_errno(const struct log_record *rec);

/* The same for a summary record's entry, by its type and cause (cause NULL: none given). */
int incidents_type_is_incident(const char *type, const char *cause);

/* Number of distinct hosts named by the records (0 when none carries a host). */
size_t incidents_hosts(const struct incidents *inc);

/* The group's service as one line: "10.0.0.7:80 ← 10.1.0.5" on the server side. */
void incidents_group_label(const struct incident_group *g, char *buf, size_t len);

/* Writes "N action outcome (reason), ..." for the tallies, every string through
 * put (the caller's escaper: terminal-safe for report, HTML for export). */
void incidents_put_tallies(FILE *out, const struct tally *t, size_t n,
                           void (*put)(FILE *out, const char *s));

#endif
