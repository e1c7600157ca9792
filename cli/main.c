// SPDX-License-Identifier: MIT
/* main.c: the rstwatch command: dispatch to run / report / export / cat /
 * metrics / lib, and the top-level --help (which prints the shim's own options table,
 * so help, man page and docs/usage.md list the same variables) and --version. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static void usage(FILE *out)
{
    fputs(
        "rstwatch " RSTWATCH_VERSION " - explain \"connection reset by peer\"\n"
        "\n"
        "usage:\n"
        "  rstwatch run [OPTION...] [--] COMMAND [ARGS...]\n"
        "  rstwatch report [--json] [--since WHEN] [FILE|DIR ...]\n"
        "  rstwatch export --format chrome|html [-o OUT] [--since WHEN] [FILE|DIR ...]\n"
        "  rstwatch cat [--since WHEN] [--schema] [FILE|DIR ...]  (records, validated, pretty)\n"
        "  rstwatch metrics [-o FILE.prom] [--state FILE] [FILE|DIR ...]  (Prometheus counters)\n"
        "  rstwatch lib                             (the path of librstwatch.so, for LD_PRELOAD)\n"
        "  rstwatch capture [-i IFACE] [-l DEST] [--pcap FILE]  (who sent each RST; root)\n"
        "  LD_PRELOAD=$(rstwatch lib) RSTWATCH_...=... COMMAND   (the same as run)\n"
        "\n"
        "run options (each sets the variable of the same name; -l DEST = --log DEST):\n",
        out);
    run_print_options(out);
    fputs("\nenvironment (read once when a program starts; bad values warn and use the default):\n",
          out);
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_defs[i];
        fprintf(out, "  %-24s %s\n  %-24s   values: %s; default: %s\n", d->name, d->doc, "",
                d->values, *d->def ? d->def : "none");
    }
    fputs("  RSTWATCH_LIB             rstwatch run, rstwatch lib: the library to preload\n"
          "\n"
          "exit status: run exits with the command's status; 125 when rstwatch itself fails\n"
          "(bad usage, library not found); 126 command not executable; 127 command not found.\n"
          "\n"
          "records: one JSON line per reset; see rstwatch(1), rstwatch(7).\n",
          out);
}

/* `rstwatch lib`: the library `run` would preload. */
static int cmd_lib(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fputs("usage: rstwatch lib\n", stderr);
        return CLI_EXIT_USAGE;
    }
    char lib[PATH_MAX];
    if (cli_find_library(lib, sizeof lib) < 0) {
        fputs("rstwatch lib: cannot find librstwatch.so (set RSTWATCH_LIB to its path)\n", stderr);
        return 1;
    }
    puts(lib);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'V') {
            puts("rstwatch " RSTWATCH_VERSION);
            return 0;
        }
        fprintf(stderr, "rstwatch: unknown option '%s' (try rstwatch --help)\n", argv[optind - 1]);
        return CLI_EXIT_USAGE;
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 1; /* each subcommand parses its own argv from the start */
    opterr = 1;
    if (!strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "run")) return cmd_run(sub_argc, sub_argv);
    if (!strcmp(cmd, "report")) return cmd_report(sub_argc, sub_argv);
    if (!strcmp(cmd, "export")) return cmd_export(sub_argc, sub_argv);
    if (!strcmp(cmd, "cat")) return cmd_cat(sub_argc, sub_argv);
    if (!strcmp(cmd, "metrics")) return cmd_metrics(sub_argc, sub_argv);
    if (!strcmp(cmd, "lib")) return cmd_lib(sub_argc, sub_argv);
    if (!strcmp(cmd, "capture")) return cmd_capture(sub_argc, sub_argv);
    fprintf(stderr, "rstwatch: unknown command '%s' (try rstwatch --help)\n", cmd);
    return CLI_EXIT_USAGE;
}
