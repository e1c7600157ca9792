// SPDX-License-Identifier: MIT
/* util.c: small helpers shared by the rstwatch subcommands: restarting getopt, usage and --help,
 * the default log directory, colour policy, and where the preload library lives. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RSTWATCH_PKGLIBDIR
#define RSTWATCH_PKGLIBDIR "/usr/local/lib/rstwatch"
#endif

void cli_getopt_restart(void)
{
    opterr = 0;
    optind = 0;
}

int cli_usage_or_help(int usage_error, int help, void (*usage)(FILE *out))
{
    if (usage_error) {
        usage(stderr);
        return 2;
    }
    if (help) {
        usage(stdout);
        return 0;
    }
    return -1;
}

int cli_default_log_dir(char *buf, size_t len)
{
    int n = snprintf(buf, len, "/tmp/rstwatch-%u", (unsigned)getuid());
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int cli_use_color(int fd)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc) return 0;
    return isatty(fd);
}

/* Writes the absolute path of path into out when it is a readable file. */
static int usable(const char *path, char *out, size_t len)
{
    char real[PATH_MAX];
    if (access(path, R_OK) != 0 || !realpath(path, real)) return -ENOENT;
    int n = snprintf(out, len, "%s", real);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cli_find_library(char *out, size_t len)
{
    const char *env = getenv("RSTWATCH_LIB");
    if (env && *env) return usable(env, out, len);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = NULL;
    if (n > 0) {
        exe[n] = 0;
        slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    }
    char path[PATH_MAX + 64];
    /* The build tree first: build/rstwatch must use build/librstwatch.so
     * even when another copy is installed. */
    snprintf(path, sizeof path, "%s/librstwatch.so", exe);
    if (slash && usable(path, out, len) == 0) return 0;
    if (usable(RSTWATCH_PKGLIBDIR "/librstwatch.so", out, len) == 0) return 0;
    snprintf(path, sizeof path, "%s/../lib/rstwatch/librstwatch.so", exe);
    if (slash && usable(path, out, len) == 0) return 0;
    return -ENOENT;
}
