/* util.c: small helpers shared by the rstwatch subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
