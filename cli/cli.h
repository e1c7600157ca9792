// SPDX-License-Identifier: MIT
/* cli.h: the rstwatch command's subcommands and the helpers they share. */
#ifndef RSTWATCH_CLI_H
#define RSTWATCH_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* rstwatch's own failures (bad usage, library not found), as env and timeout do. */
#define CLI_EXIT_USAGE 125

/* Each subcommand gets argv with argv[0] = subcommand name; returns the exit status. */
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_capture(int argc, char **argv);

/* Prints `rstwatch run`'s flags, one per RSTWATCH_* variable, one line each. */
void run_print_options(FILE *out);

/* Makes the next getopt_long() start afresh at argv[1] with its messages off (each subcommand
 * prints its own). main.c has used getopt already, so this sets optind to 0, not 1: glibc then
 * also forgets the state it keeps between calls. */
void cli_getopt_restart(void);

/* How a subcommand starts once its options are parsed (usage_error: the parser failed): on a
 * usage error prints usage on stderr and returns 2; for --help prints it on stdout and returns 0;
 * otherwise returns -1 and the command carries on. */
int cli_usage_or_help(int usage_error, int help, void (*usage)(FILE *out));

/* Writes the default log directory ("/tmp/rstwatch-$UID") into buf. Returns 0 or -ENAMETOOLONG. */
int cli_default_log_dir(char *buf, size_t len);

/* True when colours may be used on the stream with this fd (a TTY and NO_COLOR unset). */
int cli_use_color(int fd);

/* Finds librstwatch.so: $RSTWATCH_LIB if set (it must exist), else next to
 * this executable (a build tree), else the directory fixed at build time
 * (RSTWATCH_PKGLIBDIR), else ../lib/rstwatch relative to this executable (a
 * relocated install). Writes an absolute path; returns 0 or -ENOENT. */
int cli_find_library(char *out, size_t len);

/* Resolves a command name as execvp() does (a name with a slash is used as
 * given; otherwise PATH, or the system default path, is searched for an
 * executable regular file). Returns 0, -ENOENT, -EACCES or -ENAMETOOLONG. */
int cli_resolve_command(const char *cmd, char *out, size_t len);

/* Prints one "rstwatch: warning: ..." line on stderr when LD_PRELOAD cannot
 * reach the program at path (statically linked, credentials-changing, or a
 * Go binary doing its own socket system calls). Returns 1 if it warned. */
int cli_warn_unwatchable(const char *path);

/* Record accounting for `rstwatch run`: which records the command (and its
 * descendants) wrote during the run, wherever RSTWATCH_LOG sent them. */
struct run_count;

/* Starts watching the destination named by the RSTWATCH_LOG in the
 * environment (unset = the default directories). Call before fork. Returns a
 * tracker (never NULL: on failure it counts nothing) to pass to the others. */
struct run_count *run_count_start(void);

/* The wrapper's own pid is the root of the tree whose records count; call in
 * the parent after fork with the child's pid. */
void run_count_child(struct run_count *rc, pid_t child);

/* The fds to poll for readability while the child runs (at most 2, written
 * to fds; returns how many); when one is readable, call run_count_event(). */
int run_count_fds(const struct run_count *rc, int fds[2]);
void run_count_event(struct run_count *rc);

/* Prints the one-line summary (how many records, where; or where records
 * went for sinks that cannot be counted) and frees the tracker. */
void run_count_finish(struct run_count *rc);

#endif
