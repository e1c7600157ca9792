// SPDX-License-Identifier: MIT
/*
 * logtime.c: the records' times: RFC 3339 UTC in, microseconds since the epoch out, and back.
 * The calendar is the C library's (timegm, gmtime_r); only the grammar is checked here.
 */
#include "logread.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Years outside this range cannot come from a real clock. */
#define LOG_MIN_YEAR 1970
#define LOG_MAX_YEAR 9999

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c) return -1;
    (*p)++;
    return 0;
}

int logread_parse_time(const char *s, int64_t *out_us)
{
    int year, mon, day, hh, mm, ss;
    const char *p = s;
    if (parse_digits(&p, 4, &year) || expect(&p, '-') || parse_digits(&p, 2, &mon) ||
        expect(&p, '-') || parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (parse_digits(&p, 2, &hh) || expect(&p, ':') || parse_digits(&p, 2, &mm) ||
        expect(&p, ':') || parse_digits(&p, 2, &ss))
        return -1;
    if (year < LOG_MIN_YEAR || year > LOG_MAX_YEAR || mon < 1 || mon > 12 || day < 1 || day > 31 ||
        hh > 23 || mm > 59 || ss > 60)
        return -1;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6) frac_us = frac_us * 10 + (*p - '0');
        if (digits == 0) return -1;
        for (; digits < 6; digits++)
            frac_us *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || expect(&p, ':') || parse_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    /* timegm normalises 31 April into 1 May: a date that does not come back is not one. A leap
     * second (ss 60) is allowed and counts as the next second. */
    struct tm tm = {
        .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hh, .tm_min = mm};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day || tm.tm_mon != mon - 1) return -1;
    *out_us = ((int64_t)t + ss - offset_s) * 1000000 + frac_us;
    return 0;
}

void logread_format_time(int64_t us, char *buf, size_t len)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(us - secs * 1000000));
}

void logread_format_seen(int64_t us, int decimals, char *buf, size_t len)
{
    char iso[48];
    logread_format_time(us, iso, sizeof iso);
    if (strlen(iso) < 26) {
        snprintf(buf, len, "%s", iso);
        return;
    }
    iso[10] = ' ';
    if (decimals < 0) decimals = 0;
    if (decimals > 6) decimals = 6;
    iso[decimals ? 20 + decimals : 19] = '\0';
    snprintf(buf, len, "%s", iso);
}
