// SPDX-License-Identifier: MIT
/*
 * report.c: `rstwatch report [--json] [--since WHEN] [FILE|DIR ...]`.
 *
 * The command: reads the logs through logscan, aggregates them (incidents.c), joins the two
 * ends of a connection (pairs.c) and hands the result to a renderer: report_text.c for a human,
 * report_json.c for scripts.
 *
 * Exit status: 0 when every line was good (also when there were no records), 1 when bad lines
 * were skipped, 2 on a usage error or an unreadable input.
 */
#include "cli.h"
#include "logscan.h"
#include "pairs.h"
#include "report_json.h"
#include "report_text.h"
#include "since.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct report_opts {
    int json, help;
    int64_t since_us; /* keep records at or after this time; 0 = all */
};

struct report_ctx {
    const struct report_opts *opts;
    struct incidents inc;
};

static void on_record(struct log_record *rec, void *arg)
{
    struct report_ctx *ctx = arg;
    if (!since_skip(rec, ctx->opts->since_us, &ctx->inc.filtered)) incidents_add(&ctx->inc, rec);
}

/* The friendly message for an empty result; problems, if any, were already on stderr. */
static void print_no_records(size_t ninputs, uint64_t filtered, int had_problems)
{
    char dir[256];
    if (ninputs == 0 && cli_default_log_dir(dir, sizeof dir) == 0)
        printf("rstwatch report: no records found in %s", dir);
    else
        printf("rstwatch report: no records found in the given input%s", ninputs > 1 ? "s" : "");
    printf("%s.\n", filtered ? " newer than --since" : "");
    if (filtered)
        printf("  %llu older record%s skipped; try a longer --since.\n",
               (unsigned long long)filtered, filtered == 1 ? "" : "s");
    else if (!had_problems)
        printf("  No connection was reset (or nothing ran under rstwatch yet): "
               "rstwatch run -- COMMAND\n");
}

static void usage(FILE *out)
{
    fputs("usage: rstwatch report [--json] [--since WHEN] [FILE|DIR ...]\n"
          "  Summarises rstwatch logs: incidents grouped by service and cause (which service,\n"
          "  which cause, how many, since when), then each connection's timeline up to the\n"
          "  failing call with the likely cause; both ends of one connection side by side.\n"
          "  FILE|DIR  log files, directories of logs, or - for stdin\n"
          "            (default: the default log directory)\n"
          "  --json    print the same aggregation as one JSON document\n"
          "  --since   only records from WHEN on: " SINCE_FORMS "\n",
          out);
    fputs(LOGSCAN_EXIT_HELP, out);
}

/* Parses the options; the inputs are argv[optind..]. Returns 0, or -1 on a usage error. */
static int parse_args(int argc, char **argv, struct report_opts *opts)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"since", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    cli_getopt_restart();
    while ((c = getopt_long(argc, argv, "hjs:", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': opts->json = 1; break;
        case 'h': opts->help = 1; break;
        case 's':
            if (since_option("report", optarg, &opts->since_us)) return -1;
            break;
        default:
            if (optopt == 's')
                since_option_missing("report");
            else
                fprintf(stderr, "rstwatch report: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    return 0;
}

static int print_json(const struct incidents *inc, const struct pairs *pairs,
                      const struct logscan_stats *stats)
{
    json_t *doc = report_json(inc, pairs, stats);
    int rc = 0;
    if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) != 0) {
        fprintf(stderr, "rstwatch report: cannot build the JSON report (out of memory)\n");
        rc = -1;
    }
    fputc('\n', stdout);
    json_decref(doc);
    return rc;
}

static void print_text(const struct incidents *inc, const struct pairs *pairs,
                       const struct logscan_stats *stats)
{
    int color = cli_use_color(STDOUT_FILENO);
    report_print_summary(stdout, inc, stats, color);
    report_print_events(stdout, pairs, color);
    for (size_t i = 0; i < pairs->nshown; i++) {
        const struct shown_incident *si = &pairs->shown[i];
        if (si->pair)
            report_print_pair(stdout, si->pair, i + 1, pairs->nshown, color);
        else
            report_print_incident(stdout, si->rec, i + 1, pairs->nshown, color);
    }
    if (inc->detail_omitted)
        printf("\n(%llu more incidents counted in the summary; their timelines are not shown "
               "beyond the first %zu)\n",
               (unsigned long long)inc->detail_omitted, inc->ndetail);
}

int cmd_report(int argc, char **argv)
{
    struct report_opts opts = {0};
    int usage_error = parse_args(argc, argv, &opts);
    int rc = cli_usage_or_help(usage_error, opts.help, usage);
    if (rc >= 0) return rc;
    char **inputs = argv + optind;
    size_t ninputs = (size_t)(argc - optind);
    struct report_ctx ctx = {.opts = &opts};
    struct incidents *inc = &ctx.inc;
    incidents_init(inc);
    struct logscan_stats stats;
    logscan_run(inputs, ninputs, on_record, &ctx, &stats);
    incidents_finish(inc);
    struct pairs pairs;
    if (pairs_find(inc, &pairs))
        fprintf(stderr, "rstwatch report: out of memory joining the two ends of connections\n");

    if (opts.json) {
        if (print_json(inc, &pairs, &stats)) stats.unreadable = 1;
    } else if (inc->records == 0) {
        print_no_records(ninputs, inc->filtered, stats.bad_lines || stats.unreadable);
    } else {
        print_text(inc, &pairs, &stats);
    }
    pairs_free(&pairs);
    incidents_free(inc);
    if (fflush(stdout) != 0) {
        perror("rstwatch report: stdout");
        return 2;
    }
    return logscan_exit_status(&stats);
}
