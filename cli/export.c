/*
 * export.c: `rstwatch export --format chrome|html [-o OUT] FILE...`.
 *
 * Reads logs exactly like `rstwatch report` (same inputs, same "FILE:LINE: reason" handling of
 * bad lines, same exit status) and hands the records to a writer: chrome.c streams a Chrome
 * trace-event document record by record; html.c needs the aggregation first (its header is the
 * summary), so records are collected with incidents.c, within the same caps as the report.
 */
#include "cli.h"
#include "export.h"
#include "logscan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum export_format { FORMAT_NONE, FORMAT_CHROME, FORMAT_HTML };

struct export_opts {
    enum export_format format;
    const char *out_path;
};

static void usage(FILE *out)
{
    fputs(
        "usage: rstwatch export --format chrome|html [-o OUT] FILE|DIR...\n"
        "  --format chrome  Chrome trace-event JSON (open in ui.perfetto.dev or chrome://tracing)\n"
        "  --format html    one self-contained HTML page with a timeline per connection\n"
        "  -o OUT           write to OUT instead of stdout\n"
        "  FILE|DIR         log files, directories of *.jsonl, or - for stdin\n"
        "                   (default: the default log directory)\n"
        "exit status: 0 ok, 1 bad lines were skipped, 2 usage error or unreadable input\n",
        out);
}

/* Takes "--opt VALUE" or "--opt=VALUE"; returns the value (advancing *i) or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* Splits argv into options and inputs (moved to the front of argv). Returns -1 on usage error. */
static int parse_args(int argc, char **argv, struct export_opts *opts, size_t *ninputs)
{
    size_t n = 0;
    int only_inputs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (only_inputs || a[0] != '-' || strcmp(a, "-") == 0) {
            argv[n++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            only_inputs = 1;
        } else if (is_option(a, "--format") || is_option(a, "-f")) {
            v = option_value(argc, argv, &i, a[1] == '-' ? "--format" : "-f");
            if (v && strcmp(v, "chrome") == 0) {
                opts->format = FORMAT_CHROME;
            } else if (v && strcmp(v, "html") == 0) {
                opts->format = FORMAT_HTML;
            } else {
                fprintf(stderr, "rstwatch export: --format wants chrome or html%s%s%s\n",
                        v ? " (got '" : "", v ? v : "", v ? "')" : "");
                return -1;
            }
        } else if (is_option(a, "-o") || is_option(a, "--output")) {
            v = option_value(argc, argv, &i, a[1] == '-' ? "--output" : "-o");
            if (!v || !*v) {
                fprintf(stderr, "rstwatch export: %s wants a file name\n", a);
                return -1;
            }
            opts->out_path = v;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "rstwatch export: unknown option '%s'\n", a);
            return -1;
        }
    }
    if (opts->format == FORMAT_NONE) {
        fprintf(stderr, "rstwatch export: --format chrome|html is required\n");
        return -1;
    }
    *ninputs = n;
    return 0;
}

static void on_chrome_record(struct log_record *rec, void *arg)
{
    chrome_write_record(arg, rec);
    log_record_free(rec);
}

static void on_html_record(struct log_record *rec, void *arg)
{
    incidents_add(arg, rec);
}

int cmd_export(int argc, char **argv)
{
    struct export_opts opts = {0};
    size_t ninputs;
    if (parse_args(argc, argv, &opts, &ninputs)) {
        usage(stderr);
        return 2;
    }
    FILE *out = stdout;
    if (opts.out_path && strcmp(opts.out_path, "-") != 0) {
        out = fopen(opts.out_path, "we");
        if (!out) {
            fprintf(stderr, "rstwatch export: %s: %s\n", opts.out_path, strerror(errno));
            return 2;
        }
    }
    const char *out_name = out == stdout ? "stdout" : opts.out_path;

    struct logscan_stats stats;
    int failed = 0;
    if (opts.format == FORMAT_CHROME) {
        struct chrome_writer w;
        chrome_begin(&w, out);
        logscan_run(argv, ninputs, on_chrome_record, &w, &stats);
        failed = chrome_end(&w) != 0;
    } else {
        struct incidents inc;
        incidents_init(&inc);
        logscan_run(argv, ninputs, on_html_record, &inc, &stats);
        incidents_finish(&inc);
        struct report_inputs in = {.files = stats.files, .bad_lines = stats.bad_lines};
        html_write_page(out, &inc, &in);
        incidents_free(&inc);
    }
    if (ferror(out) || (out == stdout ? fflush(out) : fclose(out)) != 0) failed = 1;
    if (failed) {
        fprintf(stderr, "rstwatch export: %s: write failed\n", out_name);
        return 2;
    }
    if (stats.unreadable) return 2;
    return stats.bad_lines ? 1 : 0;
}
