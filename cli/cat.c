// SPDX-License-Identifier: MIT
/*
 * cat.c: `rstwatch cat [--since WHEN] [FILE|DIR ...]`: the records of rstwatch logs, read like
 * report reads them (logscan: same inputs, the default log directory when none is given, the
 * same line limit and "FILE:LINE: reason" for bad lines) and pretty-printed as written (two-space
 * indent, the shim's field order, unknown fields kept), one JSON object after another.
 *
 * Exit status: 0 when every line was good, 1 when bad lines were skipped, 2 on a usage error or
 * an unreadable input.
 */
#include "cli.h"
#include "logscan.h"
#include "schema.h"
#include "since.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct cat_opts {
    int64_t since_us;
    int help, schema;
};

static void usage(FILE *out)
{
    fputs("usage: rstwatch cat [--since WHEN] [FILE|DIR ...]\n"
          "  Prints the records of rstwatch logs, validated and pretty-printed.\n"
          "  FILE|DIR  log files, directories of logs, or - for stdin\n"
          "            (default: the default log directory)\n"
          "  --since   only records from WHEN on: " SINCE_FORMS "\n"
          "  --schema  print the record schema instead: one field per line\n"
          "            (name, JSON type, meaning)\n",
          out);
    fputs(LOGSCAN_EXIT_HELP, out);
}

/* The JSON type of each schema kind, for --schema. */
#define KIND_JSON_STR "string"
#define KIND_JSON_SHORT "string"
#define KIND_JSON_COUNT "integer"
#define KIND_JSON_INT "integer"
#define KIND_JSON_MS "number"
#define KIND_JSON_BOOL "boolean"
#define KIND_JSON_VERSION "integer"
#define KIND_JSON_TYPE "string"
#define KIND_JSON_TIME "string"
#define KIND_JSON_PID "integer"
#define KIND_JSON_TCP "object"
#define KIND_JSON_CAUSE "object"
#define KIND_JSON_EVENTS "array"
#define KIND_JSON_COUNTS "array"
#define SCHEMA_LINE(prefix, key, kind, doc)                                                        \
    printf("%s%s\t%s\t%s\n", prefix, key, KIND_JSON_##kind, doc);
#define SCHEMA_TOP(key, kind, m, doc) SCHEMA_LINE("", key, kind, doc)
#define SCHEMA_TCP(key, kind, m, doc) SCHEMA_LINE("tcp.", key, kind, doc)
#define SCHEMA_CAUSE(key, kind, m, doc) SCHEMA_LINE("cause.", key, kind, doc)
#define SCHEMA_EVENT(key, kind, m, doc) SCHEMA_LINE("events[].", key, kind, doc)
#define SCHEMA_COUNT(key, kind, m, doc) SCHEMA_LINE("counts[].", key, kind, doc)

/* Prints schema.h as "name<TAB>json type<TAB>meaning" lines, nested fields as tcp.rtt_us. */
static void print_schema(void)
{
    RECORD_FIELDS(SCHEMA_TOP)
    RECORD_TCP_FIELDS(SCHEMA_TCP)
    RECORD_CAUSE_FIELDS(SCHEMA_CAUSE)
    RECORD_EVENT_FIELDS(SCHEMA_EVENT)
    RECORD_COUNT_FIELDS(SCHEMA_COUNT)
}

static int parse_args(int argc, char **argv, struct cat_opts *opts)
{
    static const struct option longopts[] = {{"since", required_argument, NULL, 's'},
                                             {"schema", no_argument, NULL, 'S'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    cli_getopt_restart();
    while ((c = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (since_option("cat", optarg, &opts->since_us)) return -1;
            break;
        case 'S': opts->schema = 1; break;
        case 'h': opts->help = 1; break;
        default:
            if (optopt == 's')
                since_option_missing("cat");
            else
                fprintf(stderr, "rstwatch cat: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    return 0;
}

/* The record was validated by logscan; print its line as written, pretty. */
static void on_record(struct log_record *rec, void *arg)
{
    const struct cat_opts *opts = arg;
    if (since_skip(rec, opts->since_us, NULL)) return;
    log_record_free(rec);
    size_t len;
    const char *line = logscan_current_line(&len);
    json_t *root = line ? json_loadb(line, len, 0, NULL) : NULL;
    if (!root) return; /* cannot happen: the line just parsed */
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    fputc('\n', stdout);
    json_decref(root);
}

int cmd_cat(int argc, char **argv)
{
    struct cat_opts opts = {0};
    int usage_error = parse_args(argc, argv, &opts);
    int rc = cli_usage_or_help(usage_error, opts.help, usage);
    if (rc >= 0) return rc;
    if (opts.schema) {
        print_schema();
        return 0;
    }
    struct logscan_stats stats;
    logscan_run(argv + optind, (size_t)(argc - optind), on_record, &opts, &stats);
    if (fflush(stdout) != 0) {
        perror("rstwatch cat: stdout");
        return 2;
    }
    return logscan_exit_status(&stats);
}
