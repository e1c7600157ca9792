// SPDX-License-Identifier: MIT
/* options.h: the one table of RSTWATCH_* settings, read once at load.
 * Shared with the CLI (rstwatch --help, rstwatch run) so names, defaults and
 * documentation exist in exactly one place. */
#ifndef RSTWATCH_OPTIONS_H
#define RSTWATCH_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

enum record_mode { RECORD_RESETS, RECORD_ERRORS, RECORD_ALL };
enum retry_mode { RETRY_OFF, RETRY_CONNECT, RETRY_IDEMPOTENT };

#define OPT_PATH_MAX 512
#define EVENTS_MIN 8
#define EVENTS_MAX 4096

/* Record rate limits (RSTWATCH_RATE, or "rate" in the rules file). */
struct rate_limits {
    int off;                   /* 1: write every record, no summaries */
    unsigned burst;            /* records of one type/peer/cause written back to back */
    uint64_t interval_ns;      /* then at most one per interval */
    uint64_t budget_bytes;     /* per-process record bytes ... */
    uint64_t budget_period_ns; /* ... per this period */
    uint64_t summary_ns;       /* summary period */
};

#define RATE_DEFAULT "burst=10,interval=1s,budget=1MiB/min,summary=60s"

struct options {
    char log[OPT_PATH_MAX]; /* destination template; "" = default */
    enum record_mode record;
    enum retry_mode retry;
    char config[OPT_PATH_MAX]; /* "" = none */
    char inject[OPT_PATH_MAX]; /* "" = none */
    unsigned events;           /* ring size, a power of two */
    int disabled;
    unsigned retry_attempts; /* total connect attempts, including the first */
    unsigned retry_base_ms;
    unsigned retry_cap_ms;
    unsigned replay_max; /* bytes of request kept for replay */
    struct rate_limits rate;
};

struct option_def {
    const char *name;   /* environment variable */
    const char *def;    /* default, as documented */
    const char *values; /* accepted values, for --help */
    const char *doc;    /* one line */
    /* Parses a non-empty value into o; returns 0 or -EINVAL and leaves o unchanged. */
    int (*parse)(const char *value, struct options *o);
};

extern const struct option_def option_defs[];
extern const size_t option_count;

/* Parses "off" or "burst=N,interval=DUR,budget=SIZE/DUR,summary=DUR" (any subset, the rest
 * keep their defaults; DUR like 500ms, 1s, 2m, 1h; SIZE like 4096, 64KiB, 1MiB) into r.
 * Returns 0 or -EINVAL with r unchanged. */
int options_parse_rate(const char *v, struct rate_limits *r);

/* Fills r with the default limits. */
void options_rate_defaults(struct rate_limits *r);

/* Fills o with every default. */
void options_defaults(struct options *o);

/* Reads every variable through getenv_fn (getenv or a test stub); for each
 * malformed one calls warn_fn once with a complete one-line message (no
 * newline) and keeps the default. Returns the number of malformed values. */
int options_load(struct options *o, const char *(*getenv_fn)(const char *name),
                 void (*warn_fn)(const char *line));

#endif
