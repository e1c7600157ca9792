// SPDX-License-Identifier: MIT
/* tap.h: the Test Anything Protocol for the C unit tests: ok() prints one
 * result line, tap_done() the plan and the exit status. Each unit program
 * includes it once. A failure whose name carries "# TODO" is expected (TAP). */
#ifndef RSTWATCH_TAP_H
#define RSTWATCH_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static int ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));

static int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    if (!cond && !strstr(fmt, "# TODO")) tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return cond;
}

/* Prints the plan; returns the program's exit status. */
static int tap_done(void) __attribute__((unused));

static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
