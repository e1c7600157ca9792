// SPDX-License-Identifier: MIT
/* envdoc.c: a build tool. Copies an scdoc man page source to stdout,
 * replacing each line "@ENVIRONMENT@" with the RSTWATCH_* variables from the
 * options table (shim/options.c), each line "@RUNOPTIONS@" with the
 * `rstwatch run` flag of each variable, and "@VERSION@" anywhere with the version,
 * so the man page lists exactly what the shim reads and `rstwatch --help`
 * prints. Usage: envdoc FILE.scd >OUT.scd */
#include <stdio.h>
#include <string.h>

#include "options.h"

/* Writes s with scdoc's inline markup characters escaped. */
static void put_escaped(const char *s)
{
    for (; *s; s++) {
        if (*s == '*' || *s == '_' || *s == '\\' || *s == '`') putchar('\\');
        putchar(*s);
    }
}

static void put_environment(void)
{
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_defs[i];
        fputs("*", stdout);
        put_escaped(d->name);
        fputs("*\n\t", stdout);
        put_escaped(d->doc);
        fputs(".\n\tValues: ", stdout);
        put_escaped(d->values);
        fputs("; default: ", stdout);
        put_escaped(*d->def ? d->def : "none");
        fputs(".\n\n", stdout);
    }
}

/* "RSTWATCH_RETRY_BASE_MS" -> "retry-base-ms", as `rstwatch run` names its flags. */
static void put_flag(const char *var)
{
    for (const char *p = var + strlen("RSTWATCH_"); *p; p++)
        putchar(*p == '_' ? '-' : (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p));
}

static void put_run_options(void)
{
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_defs[i];
        fputs("*--", stdout);
        put_flag(d->name);
        fputs("*=_VALUE_\n\tSets *", stdout);
        put_escaped(d->name);
        fputs("* for the command (", stdout);
        put_escaped(d->values);
        fputs(").\n\n", stdout);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: envdoc FILE.scd\n", stderr);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        if (!strcmp(line, "@RUNOPTIONS@\n")) {
            put_run_options();
            continue;
        }
        if (!strcmp(line, "@ENVIRONMENT@\n")) {
            put_environment();
            continue;
        }
        for (char *p = line, *at; *p; p = at + 9) {
            at = strstr(p, "@VERSION@");
            if (!at) {
                fputs(p, stdout);
                break;
            }
            fwrite(p, 1, (size_t)(at - p), stdout);
            fputs(RSTWATCH_VERSION, stdout);
        }
    }
    fclose(in);
    return 0;
}
