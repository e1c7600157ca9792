/*
 * report.c: `rstwatch report [--json] [--since DURATION] [FILE|DIR ...]`.
 *
 * Reads the logs through logscan, aggregates them (incidents.c) and prints either a text
 * report for a human on call (a one-screen summary grouped by peer x cause, then every incident
 * as a timeline that ends at the failing call, with the TCP snapshot and the cause hint) or the
 * same aggregation as one JSON document (report_json.c). Everything printed from the logs goes
 * through report_put_safe, so a hostile log cannot drive the terminal.
 *
 * Exit status: 0 when every line was good (also when there were no records), 1 when bad lines
 * were skipped, 2 on a usage error or an unreadable input.
 */
#include "cli.h"
#include "logscan.h"
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"
#define C_RESET "\033[0m"

/* Widest a summary column may get before its values are cut. */
#define REPORT_MAX_COL 40

struct report_opts {
    int json;
    int64_t since_us; /* keep records at or after this time; 0 = all */
    const char *since;
};

struct report_ctx {
    struct incidents inc;
    const struct report_opts *opts;
    uint64_t filtered;
};

static const char *paint(int color, const char *code)
{
    return color ? code : "";
}

void report_put_safe(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fprintf(out, "\\x%02x", *p);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fprintf(out, "\\x%02x", p[1]); /* a C1 control character (U+0080..U+009F) */
            p++;
        } else {
            fputc(*p, out);
        }
    }
}

/* Display width of a UTF-8 string, approximated as its number of code points. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Prints s safely, cut to at most width code points (with "…") and padded to width. */
static void put_cell(FILE *out, const char *s, size_t width)
{
    size_t w = text_width(s);
    if (w <= width) {
        report_put_safe(out, s);
        fprintf(out, "%*s", (int)(width - w), "");
        return;
    }
    char buf[4 * REPORT_MAX_COL + 8];
    size_t i = 0, cps = 0;
    for (; s[i] && i < sizeof buf - 8; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && ++cps == width) break;
    }
    memcpy(buf, s, i);
    memcpy(buf + i, "…", sizeof "…");
    report_put_safe(out, buf);
}

/* "2026-11-23 05:31:02" from microseconds. */
static void seen_time(int64_t us, char *buf, size_t len)
{
    char iso[40];
    logread_format_time(us, iso, sizeof iso);
    iso[10] = ' ';
    iso[19] = '\0';
    snprintf(buf, len, "%s", iso);
}

/* "curl, python3 +2" */
static void join_values(const struct value_set *set, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < set->n && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? "," : "", set->values[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (set->more && used < len) snprintf(buf + used, len - used, " +%zu", set->more);
    if (!buf[0]) snprintf(buf, len, "-");
}

static void print_tallies(FILE *out, const char *label, const struct tally *t, size_t n,
                          uint64_t total)
{
    if (!total) return;
    fprintf(out, "  %s: ", label);
    incidents_put_tallies(out, t, n, report_put_safe);
    fputc('\n', out);
}

void report_print_summary(FILE *out, const struct incidents *inc, const struct report_inputs *in,
                          int color)
{
    fprintf(out,
            "%srstwatch report%s: %llu incident%s in %zu group%s, from %llu record%s in %zu "
            "file%s",
            paint(color, C_BOLD), paint(color, C_RESET), (unsigned long long)inc->incidents,
            inc->incidents == 1 ? "" : "s", inc->ngroups, inc->ngroups == 1 ? "" : "s",
            (unsigned long long)inc->records, inc->records == 1 ? "" : "s", in->files,
            in->files == 1 ? "" : "s");
    if (in->filtered) fprintf(out, " (%llu older skipped)", (unsigned long long)in->filtered);
    if (in->bad_lines)
        fprintf(out, "; %zu bad line%s skipped", in->bad_lines, in->bad_lines == 1 ? "" : "s");
    fputs("\n", out);

    if (inc->ngroups) {
        size_t rows = inc->ngroups < REPORT_MAX_GROUP_ROWS ? inc->ngroups : REPORT_MAX_GROUP_ROWS;
        size_t wpeer = 4, wcause = 5, werr = 5, wprog = 8;
        char buf[512];
        for (size_t i = 0; i < rows; i++) {
            const struct incident_group *g = &inc->groups[i];
            size_t w;
            if ((w = text_width(g->peer)) > wpeer) wpeer = w;
            if ((w = text_width(g->cause)) > wcause) wcause = w;
            join_values(&g->errnos, buf, sizeof buf);
            if ((w = text_width(buf)) > werr) werr = w;
            join_values(&g->progs, buf, sizeof buf);
            if ((w = text_width(buf)) > wprog) wprog = w;
        }
        wpeer = wpeer > REPORT_MAX_COL ? REPORT_MAX_COL : wpeer;
        werr = werr > REPORT_MAX_COL ? REPORT_MAX_COL : werr;
        wprog = wprog > REPORT_MAX_COL ? REPORT_MAX_COL : wprog;
        wcause = wcause > REPORT_MAX_COL ? REPORT_MAX_COL : wcause;
        fprintf(out, "\n%s  COUNT  %-*s  %-*s  %-*s  %-*s  %-19s  %s%s\n", paint(color, C_BOLD),
                (int)wpeer, "PEER", (int)wcause, "CAUSE", (int)werr, "ERRNO", (int)wprog,
                "PROGRAMS", "FIRST SEEN (UTC)", "LAST SEEN", paint(color, C_RESET));
        for (size_t i = 0; i < rows; i++) {
            const struct incident_group *g = &inc->groups[i];
            fprintf(out, "  %5llu  ", (unsigned long long)g->count);
            put_cell(out, g->peer, wpeer);
            fputs("  ", out);
            fputs(paint(color, C_YELLOW), out);
            put_cell(out, g->cause, wcause);
            fputs(paint(color, C_RESET), out);
            fputs("  ", out);
            join_values(&g->errnos, buf, sizeof buf);
            put_cell(out, buf, werr);
            fputs("  ", out);
            join_values(&g->progs, buf, sizeof buf);
            put_cell(out, buf, wprog);
            seen_time(g->first_us, buf, sizeof buf);
            fprintf(out, "  %-19s  ", buf);
            seen_time(g->last_us, buf, sizeof buf);
            fprintf(out, "%s\n", buf);
        }
        if (inc->ngroups > rows)
            fprintf(out, "  ... and %zu more groups (rstwatch report --json lists them all)\n",
                    inc->ngroups - rows);
    }
    if (inc->retry_records || inc->inject_records || inc->clean_closes) fputc('\n', out);
    print_tallies(out, "retries", inc->retries, inc->nretries, inc->retry_records);
    print_tallies(out, "injected faults", inc->injections, inc->ninjections, inc->inject_records);
    if (inc->clean_closes)
        fprintf(out, "  connections closed without error: %llu\n",
                (unsigned long long)inc->clean_closes);
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* Calls whose return value is a byte count (send, recvfrom, writev, sendfile, ...). */
static int is_data_op(const char *op)
{
    static const char *const prefixes[] = {"send", "recv", "read", "write", "splice", "copy"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(op, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

static void print_event(FILE *out, const struct log_event *ev, int failing, int color)
{
    fprintf(out, "  %s%s %12.3f ms  ", failing ? paint(color, C_RED C_BOLD) : "",
            failing ? "✗" : " ", ev->t_ms);
    char op[LOG_SHORT_STR + 24];
    if (ev->n > 1)
        snprintf(op, sizeof op, "%s ×%lld", or_dash(ev->op), ev->n);
    else
        snprintf(op, sizeof op, "%s", or_dash(ev->op));
    put_cell(out, op, 14);
    fputs("  ", out);
    if (ev->err[0]) {
        if (ev->has_ret) fprintf(out, "%lld ", ev->ret);
        report_put_safe(out, ev->err);
    } else if (!ev->has_ret) {
        fputs("-", out);
    } else if (is_data_op(ev->op)) {
        if (ev->ret == 0 && (strncmp(ev->op, "recv", 4) == 0 || strncmp(ev->op, "read", 4) == 0))
            fputs("0 B (end of stream: peer sent FIN)", out);
        else
            fprintf(out, "%lld B", ev->ret);
    } else if (strcmp(ev->op, "socket") == 0 || strncmp(ev->op, "accept", 6) == 0) {
        fprintf(out, "fd %lld", ev->ret);
    } else if (ev->ret == 0) {
        fputs("ok", out);
    } else {
        fprintf(out, "ret %lld", ev->ret);
    }
    if (failing) fputs(paint(color, C_RESET), out);
    fputc('\n', out);
}

static void print_count(FILE *out, const char *label, long long v, const char *unit)
{
    if (v != LOG_ABSENT) fprintf(out, "  %s %lld%s", label, v, unit);
}

static void print_tcp(FILE *out, const struct log_tcp *tcp)
{
    fputs("  tcp      ", out);
    if (!tcp->present) {
        fputs(" no snapshot\n", out);
        return;
    }
    fputc(' ', out);
    report_put_safe(out, or_dash(tcp->state));
    if (tcp->rtt_us != LOG_ABSENT) {
        fprintf(out, "  rtt %lld us", tcp->rtt_us);
        if (tcp->rttvar_us != LOG_ABSENT) fprintf(out, " ±%lld", tcp->rttvar_us);
    }
    print_count(out, "retrans", tcp->retrans, "");
    print_count(out, "total_retrans", tcp->total_retrans, "");
    print_count(out, "unacked", tcp->unacked, "");
    print_count(out, "lost", tcp->lost, "");
    if (!isnan(tcp->snapshot_age_ms))
        fprintf(out, "  (snapshot %.1f ms old)", tcp->snapshot_age_ms);
    fputc('\n', out);
}

static void print_connection_line(FILE *out, const struct log_record *rec)
{
    fputs("  ", out);
    if (rec->conn != LOG_ABSENT) fprintf(out, "conn %lld  ", rec->conn);
    if (rec->fd != LOG_ABSENT) fprintf(out, "fd %lld  ", rec->fd);
    report_put_safe(out, or_dash(rec->role));
    fputc(' ', out);
    report_put_safe(out, or_dash(rec->family));
    fputs("  ", out);
    report_put_safe(out, or_dash(rec->local));
    fputs(" → ", out);
    report_put_safe(out, or_dash(rec->peer));
    fputc('\n', out);
}

/* " age 65712.4 ms (65.7 s)": seconds added when they read better. */
static void print_duration(FILE *out, const char *label, double ms)
{
    if (isnan(ms)) return;
    fprintf(out, "%s %.1f ms", label, ms);
    if (ms >= 1000) fprintf(out, " (%.1f s)", ms / 1000);
}

static void print_failure_line(FILE *out, const struct log_record *rec, int color)
{
    fprintf(out, "  %s", paint(color, C_RED));
    report_put_safe(out, or_dash(rec->op));
    if (rec->type == LOG_EOF) {
        fprintf(out, " got EOF: the peer closed where the response was due");
    } else {
        fprintf(out, " failed: ");
        report_put_safe(out, or_dash(rec->err));
        if (rec->errno_code != LOG_ABSENT) fprintf(out, " (%lld)", rec->errno_code);
    }
    fputs(paint(color, C_RESET), out);
    print_duration(out, "  age", rec->age_ms);
    print_duration(out, ", idle", rec->idle_ms);
    fputc('\n', out);
}

static void print_calls(FILE *out, const char *verb, long long bytes, long long calls)
{
    if (bytes == LOG_ABSENT) return;
    fprintf(out, "  %s %lld B", verb, bytes);
    if (calls != LOG_ABSENT) fprintf(out, " (%lld call%s)", calls, calls == 1 ? "" : "s");
}

static void print_traffic(FILE *out, const struct log_record *rec)
{
    fputs("  traffic ", out);
    print_calls(out, "sent", rec->bytes_out, rec->calls_out);
    print_calls(out, "received", rec->bytes_in, rec->calls_in);
    if (rec->exchanges != LOG_ABSENT)
        fprintf(out, "  %lld exchange%s", rec->exchanges, rec->exchanges == 1 ? "" : "s");
    if (rec->reused >= 0)
        fprintf(out, "  %s", rec->reused ? "reused (kept-alive) connection" : "fresh connection");
    fputc('\n', out);
}

void report_print_incident(FILE *out, const struct log_record *rec, size_t index, size_t total,
                           int color)
{
    fprintf(out, "\n%sIncident %zu/%zu%s  ", paint(color, C_BOLD), index, total,
            paint(color, C_RESET));
    report_put_safe(out, rec->time);
    fputs("  ", out);
    report_put_safe(out, rec->prog ? rec->prog : "?");
    fprintf(out, "[%lld]", rec->pid);
    if (rec->tid != LOG_ABSENT && rec->tid != rec->pid) fprintf(out, " tid %lld", rec->tid);
    fprintf(out, "  (%s record)\n", log_type_name(rec->type));
    print_connection_line(out, rec);
    print_failure_line(out, rec, color);

    if (rec->events_dropped > 0)
        fprintf(out, "  %s(%lld earlier events not kept by the shim)%s\n", paint(color, C_DIM),
                rec->events_dropped, paint(color, C_RESET));
    const struct log_event *failing = log_record_failing_event(rec);
    for (size_t i = 0; i < rec->nevents; i++)
        print_event(out, &rec->events[i], &rec->events[i] == failing, color);
    if (rec->events_truncated)
        fprintf(out, "  (%zu more events not shown)\n", rec->events_truncated);

    print_traffic(out, rec);
    print_tcp(out, &rec->tcp);
    fprintf(out, "  cause     %s", paint(color, C_YELLOW C_BOLD));
    report_put_safe(out, rec->cause.code ? rec->cause.code : "unknown");
    fprintf(out, "%s\n", paint(color, C_RESET));
    if (rec->cause.hint) {
        fprintf(out, "  hint      %s", paint(color, C_CYAN));
        report_put_safe(out, rec->cause.hint);
        fprintf(out, "%s\n", paint(color, C_RESET));
    }
}

/* Parses "30s", "15m", "2h", "7d" into microseconds. Returns 0 or -1. */
static int parse_duration(const char *s, int64_t *out_us)
{
    char *end;
    if (*s < '0' || *s > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    int64_t unit;
    switch (*end) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return -1;
    }
    if (end[1] != '\0' || v > (unsigned long long)(INT64_MAX / 1000000 / unit)) return -1;
    *out_us = (int64_t)v * unit * 1000000;
    return 0;
}

static void on_record(struct log_record *rec, void *arg)
{
    struct report_ctx *ctx = arg;
    if (ctx->opts->since_us && rec->time_us < ctx->opts->since_us) {
        ctx->filtered++;
        log_record_free(rec);
        return;
    }
    incidents_add(&ctx->inc, rec);
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
    fputs("usage: rstwatch report [--json] [--since DURATION] [FILE|DIR ...]\n"
          "  Summarises rstwatch logs: incidents grouped by peer and cause, then each\n"
          "  connection's timeline up to the failing call, with the likely cause.\n"
          "  FILE|DIR  log files, directories of *.jsonl, or - for stdin\n"
          "            (default: the default log directory)\n"
          "  --json    print the same aggregation as one JSON document\n"
          "  --since   only records newer than DURATION, e.g. 30s, 15m, 2h, 7d\n"
          "exit status: 0 ok, 1 bad lines were skipped, 2 usage error or unreadable input\n",
          out);
}

/* Splits argv into options and inputs (moved to the front of argv). Returns -1 on usage error. */
static int parse_args(int argc, char **argv, struct report_opts *opts, size_t *ninputs)
{
    size_t n = 0;
    int only_inputs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_inputs || a[0] != '-' || strcmp(a, "-") == 0) {
            argv[n++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            only_inputs = 1;
        } else if (strcmp(a, "--json") == 0) {
            opts->json = 1;
        } else if (strcmp(a, "--since") == 0 || strncmp(a, "--since=", 8) == 0) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            int64_t dur;
            if (!v || parse_duration(v, &dur)) {
                fprintf(stderr,
                        "rstwatch report: --since wants a duration like 30s, 15m, 2h "
                        "or 7d%s%s%s\n",
                        v ? " (got '" : "", v ? v : "", v ? "')" : "");
                return -1;
            }
            opts->since = v;
            opts->since_us = (int64_t)time(NULL) * 1000000 - dur;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "rstwatch report: unknown option '%s'\n", a);
            return -1;
        }
    }
    *ninputs = n;
    return 0;
}

int cmd_report(int argc, char **argv)
{
    struct report_opts opts = {0};
    size_t ninputs;
    if (parse_args(argc, argv, &opts, &ninputs)) {
        usage(stderr);
        return 2;
    }
    struct report_ctx ctx = {.opts = &opts};
    incidents_init(&ctx.inc);
    struct logscan_stats stats;
    logscan_run(argv, ninputs, on_record, &ctx, &stats);
    incidents_finish(&ctx.inc);

    struct report_inputs in = {
        .files = stats.files, .bad_lines = stats.bad_lines, .filtered = ctx.filtered};
    if (opts.json) {
        json_t *doc = report_json(&ctx.inc, &in);
        if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2)) != 0) {
            fprintf(stderr, "rstwatch report: cannot build the JSON report (out of memory)\n");
            stats.unreadable = 1;
        }
        fputc('\n', stdout);
        json_decref(doc);
    } else if (ctx.inc.records == 0) {
        print_no_records(ninputs, ctx.filtered, stats.bad_lines || stats.unreadable);
    } else {
        int color = cli_use_color(STDOUT_FILENO);
        report_print_summary(stdout, &ctx.inc, &in, color);
        for (size_t i = 0; i < ctx.inc.ndetail; i++)
            report_print_incident(stdout, &ctx.inc.detail[i], i + 1, ctx.inc.ndetail, color);
        if (ctx.inc.detail_omitted)
            printf("\n(%llu more incidents counted in the summary; their timelines are not shown "
                   "beyond the first %zu)\n",
                   (unsigned long long)ctx.inc.detail_omitted, ctx.inc.ndetail);
    }
    incidents_free(&ctx.inc);
    if (fflush(stdout) != 0) {
        perror("rstwatch report: stdout");
        return 2;
    }
    if (stats.unreadable) return 2;
    return stats.bad_lines ? 1 : 0;
}
