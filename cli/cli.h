/* cli.h: the rstwatch command's subcommands and the helpers they share. */
#ifndef RSTWATCH_CLI_H
#define RSTWATCH_CLI_H

#include <stddef.h>

/* Each subcommand gets argv with argv[0] = subcommand name; returns the exit status. */
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_cat(int argc, char **argv);

/* Writes the default log directory ("/tmp/rstwatch-$UID") into buf. Returns 0 or -ENAMETOOLONG. */
int cli_default_log_dir(char *buf, size_t len);

/* True when colours may be used on the stream with this fd (a TTY and NO_COLOR unset). */
int cli_use_color(int fd);

#endif
