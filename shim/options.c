// SPDX-License-Identifier: MIT
/* options.c: the RSTWATCH_* options table (name, default, values, doc, parser),
 * defaults, and the one-pass loader. No allocation; safe in a constructor.
 * Each malformed value yields exactly one warning and the default. */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parses a decimal unsigned in [lo, hi]; no sign, no junk, no overflow. */
static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long long v = 0;
    if (!*s) return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -EINVAL;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > hi) return -EINVAL;
    }
    if (v < lo) return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

static int copy_path(char *dst, const char *v)
{
    size_t n = strlen(v);
    if (n >= OPT_PATH_MAX) return -EINVAL;
    memcpy(dst, v, n + 1);
    return 0;
}

static int parse_log(const char *v, struct options *o)
{
    if (!strncmp(v, "fd:", 3)) {
        unsigned fd;
        if (parse_uint(v + 3, 0, 1 << 20, &fd)) return -EINVAL;
    }
    return copy_path(o->log, v);
}

static int parse_record(const char *v, struct options *o)
{
    if (!strcmp(v, "resets"))
        o->record = RECORD_RESETS;
    else if (!strcmp(v, "errors"))
        o->record = RECORD_ERRORS;
    else if (!strcmp(v, "all"))
        o->record = RECORD_ALL;
    else
        return -EINVAL;
    return 0;
}

static int parse_retry(const char *v, struct options *o)
{
    if (!strcmp(v, "off"))
        o->retry = RETRY_OFF;
    else if (!strcmp(v, "connect"))
        o->retry = RETRY_CONNECT;
    else if (!strcmp(v, "idempotent"))
        o->retry = RETRY_IDEMPOTENT;
    else
        return -EINVAL;
    return 0;
}

static int parse_config(const char *v, struct options *o)
{
    return copy_path(o->config, v);
}

static int parse_inject(const char *v, struct options *o)
{
    return copy_path(o->inject, v);
}

static int parse_events(const char *v, struct options *o)
{
    unsigned n, p = EVENTS_MIN;
    if (parse_uint(v, EVENTS_MIN, EVENTS_MAX, &n)) return -EINVAL;
    while (p < n)
        p <<= 1; /* the ring indexes with a mask */
    o->events = p;
    return 0;
}

static int parse_disable(const char *v, struct options *o)
{
    if (!strcmp(v, "1"))
        o->disabled = 1;
    else if (!strcmp(v, "0"))
        o->disabled = 0;
    else
        return -EINVAL;
    return 0;
}

static int parse_attempts(const char *v, struct options *o)
{
    return parse_uint(v, 1, 20, &o->retry_attempts);
}

static int parse_base(const char *v, struct options *o)
{
    return parse_uint(v, 1, 60000, &o->retry_base_ms);
}

static int parse_cap(const char *v, struct options *o)
{
    return parse_uint(v, 1, 600000, &o->retry_cap_ms);
}

static int parse_replay_max(const char *v, struct options *o)
{
    return parse_uint(v, 0, 1 << 24, &o->replay_max);
}

/* "500ms", "1s", "2m", "1min", "1h" -> ns; a bare number is seconds; a bare unit ("min", as
 * in 1MiB/min) is one of it. */
static int parse_duration(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > 1000000000ull) return -EINVAL;
    }
    if (i == 0) {
        if (n == 0) return -EINVAL;
        v = 1;
    }
    const char *u = s + i;
    size_t un = n - i;
    uint64_t mul;
    if (un == 0 || (un == 1 && *u == 's'))
        mul = 1000000000ull;
    else if (un == 2 && !strncmp(u, "ms", 2))
        mul = 1000000ull;
    else if ((un == 1 && *u == 'm') || (un == 3 && !strncmp(u, "min", 3)))
        mul = 60000000000ull;
    else if (un == 1 && *u == 'h')
        mul = 3600000000000ull;
    else
        return -EINVAL;
    if (v == 0 || v > UINT64_MAX / mul) return -EINVAL;
    *out = v * mul;
    return 0;
}

/* "4096", "64KiB", "64K", "1MiB", "1M" (binary units) -> bytes. */
static int parse_size(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (1ull << 40)) return -EINVAL;
    }
    if (i == 0) return -EINVAL;
    const char *u = s + i;
    size_t un = n - i;
    uint64_t mul = 1;
    if (un == 0 || (un == 1 && *u == 'B'))
        mul = 1;
    else if ((un == 1 && *u == 'K') || (un == 3 && !strncmp(u, "KiB", 3)))
        mul = 1024;
    else if ((un == 1 && *u == 'M') || (un == 3 && !strncmp(u, "MiB", 3)))
        mul = 1024 * 1024;
    else if ((un == 1 && *u == 'G') || (un == 3 && !strncmp(u, "GiB", 3)))
        mul = 1024ull * 1024 * 1024;
    else
        return -EINVAL;
    if (v == 0) return -EINVAL;
    *out = v * mul;
    return 0;
}

void options_rate_defaults(struct rate_limits *r)
{
    r->off = 0;
    r->burst = 10;
    r->interval_ns = 1000000000ull;
    r->budget_bytes = 1024 * 1024;
    r->budget_period_ns = 60000000000ull;
    r->summary_ns = 60000000000ull;
}

int options_parse_rate(const char *v, struct rate_limits *out)
{
    struct rate_limits r = *out;
    if (!*v) return -EINVAL;
    if (!strcmp(v, "off")) {
        out->off = 1;
        return 0;
    }
    r.off = 0;
    while (*v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        const char *eq = memchr(v, '=', n);
        if (!eq) return -EINVAL;
        size_t kn = (size_t)(eq - v);
        const char *val = eq + 1;
        size_t vn = n - kn - 1;
        if (kn == 5 && !strncmp(v, "burst", 5)) {
            char tmp[16];
            unsigned b;
            if (vn == 0 || vn >= sizeof tmp) return -EINVAL;
            memcpy(tmp, val, vn);
            tmp[vn] = 0;
            if (parse_uint(tmp, 1, 1000000, &b)) return -EINVAL;
            r.burst = b;
        } else if (kn == 8 && !strncmp(v, "interval", 8)) {
            if (parse_duration(val, vn, &r.interval_ns)) return -EINVAL;
        } else if (kn == 7 && !strncmp(v, "summary", 7)) {
            if (parse_duration(val, vn, &r.summary_ns)) return -EINVAL;
        } else if (kn == 6 && !strncmp(v, "budget", 6)) {
            const char *slash = memchr(val, '/', vn);
            if (!slash) return -EINVAL;
            if (parse_size(val, (size_t)(slash - val), &r.budget_bytes)) return -EINVAL;
            if (parse_duration(slash + 1, vn - (size_t)(slash - val) - 1, &r.budget_period_ns))
                return -EINVAL;
        } else {
            return -EINVAL;
        }
        v += n;
        if (*v == ',') {
            v++;
            if (!*v) return -EINVAL;
        }
    }
    *out = r;
    return 0;
}

static int parse_rate(const char *v, struct options *o)
{
    return options_parse_rate(v, &o->rate);
}

const struct option_def option_defs[] = {
    {"RSTWATCH_LOG", "/tmp/rstwatch-$EUID/%p.jsonl",
     "PATH (%p pid, %t time, %h host, %u euid) | stderr | fd:N | syslog[:SOCKET] | "
     "journal[:SOCKET]",
     "where records go; the directory is created 0700 and must be yours", parse_log},
    {"RSTWATCH_RECORD", "resets", "resets | errors | all",
     "which events write a record: reset-family errors, any socket error, every connection at "
     "close",
     parse_record},
    {"RSTWATCH_RETRY", "off", "off | connect | idempotent",
     "retry refused connects; idempotent also replays safe requests on a fresh connection",
     parse_retry},
    {"RSTWATCH_CONFIG", "", "PATH",
     "JSON rules file: per-peer retry mode, attempts, backoff, methods", parse_config},
    {"RSTWATCH_INJECT", "", "ACTION:key=val,...",
     "fault injection, e.g. reset:peer=127.0.0.1:8080,after=2,prob=0.1", parse_inject},
    {"RSTWATCH_EVENTS", "64", "8..4096",
     "events kept per connection (rounded up to a power of two)", parse_events},
    {"RSTWATCH_DISABLE", "0", "0 | 1", "1: load but pass every call through untouched",
     parse_disable},
    {"RSTWATCH_RETRY_ATTEMPTS", "3", "1..20", "connect attempts in all, the first included",
     parse_attempts},
    {"RSTWATCH_RETRY_BASE_MS", "50", "1..60000",
     "backoff base (full jitter: sleep rand(0, min(cap, base*2^n)))", parse_base},
    {"RSTWATCH_RETRY_CAP_MS", "2000", "1..600000", "backoff cap", parse_cap},
    {"RSTWATCH_REPLAY_MAX", "65536", "0..16777216", "bytes of the current request kept for replay",
     parse_replay_max},
    {"RSTWATCH_RATE", RATE_DEFAULT, "off | burst=N,interval=DUR,budget=SIZE/DUR,summary=DUR",
     "record rate limits per type/peer/cause, with a per-process byte budget; what is left out "
     "is counted in summary records",
     parse_rate},
};
const size_t option_count = sizeof option_defs / sizeof option_defs[0];

void options_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->record = RECORD_RESETS;
    o->retry = RETRY_OFF;
    o->events = 64;
    o->retry_attempts = 3;
    o->retry_base_ms = 50;
    o->retry_cap_ms = 2000;
    o->replay_max = 65536;
    options_rate_defaults(&o->rate);
}

int options_load(struct options *o, const char *(*getenv_fn)(const char *name),
                 void (*warn_fn)(const char *line))
{
    int bad = 0;
    options_defaults(o);
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_defs[i];
        const char *v = getenv_fn(d->name);
        if (!v) continue;
        if (*v && d->parse(v, o) == 0) continue;
        /* The value is echoed, but only as one line: control bytes (a newline
         * that would forge a second warning, a terminal escape) become '?'. */
        char shown[41];
        size_t n = strnlen(v, sizeof shown - 1);
        for (size_t k = 0; k < n; k++)
            shown[k] = ((unsigned char)v[k] < 0x20 || v[k] == 0x7f) ? '?' : v[k];
        shown[n] = 0;
        char line[256];
        snprintf(line, sizeof line, "ignoring %s=%s%s (expected %s); using %s", d->name, shown,
                 v[n] ? "..." : "", d->values, *d->def ? d->def : "none");
        warn_fn(line);
        bad++;
    }
    if (o->retry_cap_ms < o->retry_base_ms) o->retry_cap_ms = o->retry_base_ms;
    return bad;
}
