// SPDX-License-Identifier: MIT
/*
 * since.c: --since for report, export and cat. A duration counts back from now (what an
 * on-call engineer types: "the last 1h30m"); an ISO 8601 time names the start of an incident
 * window. Partial times are completed the usual way (a date means its midnight, a missing
 * offset means UTC, which is what the records and the report use) and then read by the same
 * RFC 3339 parser as the records' own "time".
 */
#include "since.h"

#include "logread.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int parse_duration(const char *s, int64_t *out_us)
{
    int64_t total = 0;
    if (!*s) return -1;
    while (*s) {
        if (*s < '0' || *s > '9') return -1;
        int64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (v > INT64_MAX / 10 / 1000000 / 604800) return -1;
            v = v * 10 + (*s - '0');
        }
        int64_t unit;
        switch (*s++) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 604800; break;
        default: return -1;
        }
        total += v * unit * 1000000;
        if (total < 0 || total > INT64_MAX / 2) return -1;
    }
    *out_us = total;
    return 0;
}

/* Completes "2026-11-23", "2026-11-23T05:31" and zone-less times into RFC 3339. */
static int parse_iso(const char *s, int64_t *out_us)
{
    char buf[64];
    size_t n = strlen(s);
    if (n < 10 || n > 40) return -1;
    if (n == 10) {
        snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
    } else {
        const char *t = s + 11; /* after the date and its T or space */
        const char *zone = t + strcspn(t, "Zz+-");
        int hm_only = (size_t)(zone - t) == 5; /* "05:31" */
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(zone - s), s, hm_only ? ":00" : "",
                 *zone ? zone : "Z");
    }
    return logread_parse_time(buf, out_us);
}

int since_parse(const char *s, int64_t now_us, int64_t *out_us)
{
    int64_t v;
    if (parse_duration(s, &v) == 0) {
        *out_us = now_us - v;
        return 0;
    }
    if (parse_iso(s, &v) == 0) {
        *out_us = v;
        return 0;
    }
    return -1;
}

int since_option(const char *cmd, const char *arg, int64_t *since_us)
{
    if (since_parse(arg, (int64_t)time(NULL) * 1000000, since_us) == 0) return 0;
    fprintf(stderr, "rstwatch %s: --since wants %s (got '%s')\n", cmd, SINCE_FORMS, arg);
    return -1;
}

void since_option_missing(const char *cmd)
{
    fprintf(stderr, "rstwatch %s: --since wants %s\n", cmd, SINCE_FORMS);
}

int since_skip(struct log_record *rec, int64_t since_us, uint64_t *filtered)
{
    if (!since_us || rec->time_us >= since_us) return 0;
    log_record_free(rec);
    if (filtered) (*filtered)++;
    return 1;
}
