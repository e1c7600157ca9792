/* options.h: the one table of RSTWATCH_* settings, read once at load.
 * Shared with the CLI (rstwatch --help, rstwatch run) so names, defaults and
 * documentation exist in exactly one place. */
#ifndef RSTWATCH_OPTIONS_H
#define RSTWATCH_OPTIONS_H

#include <stddef.h>

enum record_mode { RECORD_RESETS, RECORD_ERRORS, RECORD_ALL };
enum retry_mode { RETRY_OFF, RETRY_CONNECT, RETRY_IDEMPOTENT };

#define OPT_PATH_MAX 512
#define EVENTS_MIN 8
#define EVENTS_MAX 4096

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

/* Fills o with every default. */
void options_defaults(struct options *o);

/* Reads every variable through getenv_fn (getenv or a test stub); for each
 * malformed one calls warn_fn once with a complete one-line message (no
 * newline) and keeps the default. Returns the number of malformed values. */
int options_load(struct options *o, const char *(*getenv_fn)(const char *name),
                 void (*warn_fn)(const char *line));

#endif
