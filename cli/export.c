// SPDX-License-Identifier: MIT
/*
 * export.c: `rstwatch export --format chrome|html [-o OUT] [--since WHEN] [FILE|DIR ...]`.
 *
 * Reads logs exactly like `rstwatch report` (same inputs, same "FILE:LINE: reason" handling of
 * bad lines, same exit status) and hands the records to a writer: chrome.c streams a Chrome
 * trace-event document record by record; html.c needs the aggregation first (its overview comes
 * first), so records are collected with incidents.c, within the same caps as the report. Both
 * outputs are capped in size and say how much they left out (also on stderr).
 */
#include "chrome.h"
#include "cli.h"
#include "html.h"
#include "logscan.h"
#include "pairs.h"
#include "since.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum export_format { FORMAT_NONE, FORMAT_CHROME, FORMAT_HTML };

struct export_opts {
    enum export_format format;
    const char *out_path;
    int64_t since_us;
    int help;
};

static void usage(FILE *out)
{
    fputs(
        "usage: rstwatch export --format chrome|html [-o OUT] [--since WHEN] [FILE|DIR ...]\n"
        "  --format chrome  Chrome trace-event JSON (open in ui.perfetto.dev or chrome://tracing)\n"
        "  --format html    one self-contained HTML page: an overview, then a timeline per\n"
        "                   connection\n"
        "  -o, --output OUT write to OUT instead of stdout\n"
        "  --since WHEN     only records from WHEN on: " SINCE_FORMS "\n"
        "  FILE|DIR         log files, directories of logs, or - for stdin\n"
        "                   (default: the default log directory)\n"
        "Both outputs are capped in size (HTML 5 MB, trace 32 MiB) and say what they left out.\n",
        out);
    fputs(LOGSCAN_EXIT_HELP, out);
}

/* Parses the options; the inputs are argv[optind..]. Returns 0, or -1 on a usage error. */
static int parse_args(int argc, char **argv, struct export_opts *opts)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"since", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    cli_getopt_restart();
    while ((c = getopt_long(argc, argv, "f:o:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "chrome") == 0) {
                opts->format = FORMAT_CHROME;
            } else if (strcmp(optarg, "html") == 0) {
                opts->format = FORMAT_HTML;
            } else {
                fprintf(stderr, "rstwatch export: --format wants chrome or html (got '%s')\n",
                        optarg);
                return -1;
            }
            break;
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "rstwatch export: -o wants a file name\n");
                return -1;
            }
            opts->out_path = optarg;
            break;
        case 's':
            if (since_option("export", optarg, &opts->since_us)) return -1;
            break;
        case 'h': opts->help = 1; return 0;
        default:
            if (optopt == 'f')
                fprintf(stderr, "rstwatch export: --format wants chrome or html\n");
            else if (optopt == 'o')
                fprintf(stderr, "rstwatch export: -o wants a file name\n");
            else if (optopt == 's')
                since_option_missing("export");
            else
                fprintf(stderr, "rstwatch export: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (opts->format == FORMAT_NONE) {
        fprintf(stderr, "rstwatch export: --format chrome|html is required\n");
        return -1;
    }
    return 0;
}

struct export_ctx {
    const struct export_opts *opts;
    struct chrome_writer chrome;
    struct incidents inc;
};

static void on_record(struct log_record *rec, void *arg)
{
    struct export_ctx *ctx = arg;
    if (since_skip(rec, ctx->opts->since_us, &ctx->inc.filtered)) return;
    if (ctx->opts->format == FORMAT_CHROME) {
        chrome_write_record(&ctx->chrome, rec);
        log_record_free(rec);
    } else {
        incidents_add(&ctx->inc, rec);
    }
}

/* Writes the HTML page and says on stderr what it only counted. */
static void write_html(FILE *out, struct export_ctx *ctx, const struct logscan_stats *stats)
{
    incidents_finish(&ctx->inc);
    struct pairs pairs;
    if (pairs_find(&ctx->inc, &pairs))
        fprintf(stderr, "rstwatch export: out of memory joining the two ends of connections\n");
    size_t left = html_write_page(out, &ctx->inc, &pairs, stats, 0);
    uint64_t counted = left + ctx->inc.detail_omitted + ctx->inc.counted_only;
    if (counted)
        fprintf(stderr,
                "rstwatch export: the page draws %zu timelines; %llu more incidents are only "
                "counted in its overview\n",
                pairs.nshown - left, (unsigned long long)counted);
    pairs_free(&pairs);
}

int cmd_export(int argc, char **argv)
{
    struct export_opts opts = {0};
    int usage_error = parse_args(argc, argv, &opts);
    int rc = cli_usage_or_help(usage_error, opts.help, usage);
    if (rc >= 0) return rc;
    FILE *out = stdout;
    if (opts.out_path && strcmp(opts.out_path, "-") != 0) {
        out = fopen(opts.out_path, "we");
        if (!out) {
            fprintf(stderr, "rstwatch export: %s: %s\n", opts.out_path, strerror(errno));
            return 2;
        }
    }
    const char *out_name = out == stdout ? "stdout" : opts.out_path;

    struct export_ctx ctx = {.opts = &opts};
    incidents_init(&ctx.inc);
    struct logscan_stats stats;
    int failed = 0;
    if (opts.format == FORMAT_CHROME) chrome_begin(&ctx.chrome, out, 0);
    logscan_run(argv + optind, (size_t)(argc - optind), on_record, &ctx, &stats);
    if (opts.format == FORMAT_CHROME) {
        unsigned long long written = ctx.chrome.records, left = ctx.chrome.left_out;
        failed = chrome_end(&ctx.chrome) != 0;
        if (left)
            fprintf(stderr,
                    "rstwatch export: the trace holds the first %llu records; %llu more were "
                    "left out (size cap)\n",
                    written, left);
    } else {
        write_html(out, &ctx, &stats);
    }
    incidents_free(&ctx.inc);
    if (ferror(out) || (out == stdout ? fflush(out) : fclose(out)) != 0) failed = 1;
    if (failed) {
        fprintf(stderr, "rstwatch export: %s: write failed\n", out_name);
        return 2;
    }
    return logscan_exit_status(&stats);
}
