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

#endif
