/* main.c: the rstwatch command: dispatch to run / report / export, and the
 * top-level --help (which prints the shim's own options table) and --version. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static void usage(FILE *out)
{
    fputs("rstwatch " RSTWATCH_VERSION " - explain \"connection reset by peer\"\n"
          "\n"
          "usage:\n"
          "  rstwatch run [--log DEST] [--record MODE] [--retry MODE] [--config FILE]\n"
          "               [--inject SPEC] [--events N] -- COMMAND [ARGS...]\n"
          "  rstwatch report [--json] [--since DURATION] [FILE|DIR ...]\n"
          "  rstwatch export --format chrome|html [-o OUT] FILE...\n"
          "  rstwatch cat [FILE...]                   (the records, validated and pretty-printed)\n"
          "  LD_PRELOAD=/path/to/librstwatch.so RSTWATCH_...=... COMMAND   (same as run)\n"
          "\n"
          "environment (read once when a program starts; bad values warn and use the default):\n",
          out);
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *d = &option_defs[i];
        fprintf(out, "  %-24s %s\n  %-24s   values: %s; default: %s\n", d->name, d->doc, "",
                d->values, *d->def ? d->def : "none");
    }
    fputs("\nrecords: one JSON line per reset, see README.md (\"The record\").\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        puts("rstwatch " RSTWATCH_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "report")) return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "cat")) return cmd_cat(argc - 1, argv + 1);
    fprintf(stderr, "rstwatch: unknown command '%s' (try rstwatch --help)\n", cmd);
    return 2;
}
