// SPDX-License-Identifier: MIT
/* since.h: the argument of --since: a duration back from now, or a point in time. */
#ifndef RSTWATCH_SINCE_H
#define RSTWATCH_SINCE_H

#include <stdint.h>

/* What --since accepts, for usage and error messages. */
#define SINCE_FORMS "a duration like 30s, 15m, 1h30m, 2d or 1w, or a time like 2026-11-23T05:00Z"

/*
 * Parses s into the earliest time to keep (microseconds since the epoch), given now_us:
 * a duration ("90s", "15m", "1h30m", "7d", "1w": numbers with units s/m/h/d/w, summed) is
 * subtracted from now; an ISO 8601 time ("2026-11-23", "2026-11-23T05:31", "...:02.5Z",
 * "...+02:00"; UTC when no offset is given) is taken as it is. Returns 0 or -1 when s is neither.
 */
int since_parse(const char *s, int64_t now_us, int64_t *out_us);

/*
 * The --since option of `rstwatch CMD` (cmd is "report", "export", ...): parses arg against the
 * current time into *since_us. When arg is neither form, prints "rstwatch CMD: --since wants ...
 * (got 'ARG')" on stderr and returns -1; returns 0 otherwise.
 */
int since_option(const char *cmd, const char *arg, int64_t *since_us);

/* Prints "rstwatch CMD: --since wants ..." on stderr, for --since given without its value. */
void since_option_missing(const char *cmd);

struct log_record;

/*
 * The --since filter of every command that reads records: when since_us is set (0 = keep all)
 * and rec is older, frees rec, adds one to *filtered (unless filtered is NULL) and returns 1;
 * otherwise returns 0 and rec is still the caller's.
 */
int since_skip(struct log_record *rec, int64_t since_us, uint64_t *filtered);

#endif
