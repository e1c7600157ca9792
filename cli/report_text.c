// SPDX-License-Identifier: MIT
/*
 * report_text.c: the text report for a human on call.
 *
 * First a one-screen summary that answers "which service, which cause, how many, since when"
 * (groups from incidents.c: a server's incidents by its service and client host, a client's by
 * the service it called; a HOST column when the logs come from more than one host), then every
 * kept incident as a timeline that ends at the failing call, with the TCP snapshot and the cause
 * hint, and the two ends of one connection side by side with one verdict (pairs.c). Everything
 * printed from the logs goes through report_put_safe, so a hostile log cannot drive the
 * terminal.
 */
#include "report_text.h"

#include "events.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"
#define C_RESET "\033[0m"

/* Widest a summary column may get before its values are cut. */
#define REPORT_MAX_COL 40

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

/* The summary's columns, widest value first measured over the rows shown. */
enum col { COL_HOST, COL_SERVICE, COL_SIDE, COL_CAUSE, COL_ERRNO, COL_PROGS, NCOLS };
static const char *const col_titles[NCOLS] = {"HOST",  "SERVICE", "SIDE",
                                              "CAUSE", "ERRNO",   "PROGRAMS"};

static void cell_text(const struct incident_group *g, enum col c, char *buf, size_t len)
{
    switch (c) {
    case COL_HOST: snprintf(buf, len, "%s", *g->host ? g->host : "-"); break;
    case COL_SERVICE: incidents_group_label(g, buf, len); break;
    case COL_SIDE: snprintf(buf, len, "%s", g->role); break;
    case COL_CAUSE: snprintf(buf, len, "%s", g->cause); break;
    case COL_ERRNO: join_values(&g->errnos, buf, len); break;
    case COL_PROGS: join_values(&g->progs, buf, len); break;
    default: buf[0] = '\0';
    }
}

static void print_groups(FILE *out, const struct incidents *inc, int color)
{
    size_t rows = inc->ngroups < REPORT_MAX_GROUP_ROWS ? inc->ngroups : REPORT_MAX_GROUP_ROWS;
    int show_host = incidents_hosts(inc) > 1;
    size_t width[NCOLS];
    char buf[512];
    for (int c = 0; c < NCOLS; c++) {
        width[c] = text_width(col_titles[c]);
        for (size_t i = 0; i < rows; i++) {
            cell_text(&inc->groups[i], (enum col)c, buf, sizeof buf);
            size_t w = text_width(buf);
            if (w > width[c]) width[c] = w;
        }
        if (width[c] > REPORT_MAX_COL) width[c] = REPORT_MAX_COL;
    }
    fprintf(out, "\n%s  COUNT  ", paint(color, C_BOLD));
    for (int c = show_host ? 0 : 1; c < NCOLS; c++)
        fprintf(out, "%-*s  ", (int)width[c], col_titles[c]);
    fprintf(out, "%-19s  %s%s\n", "FIRST SEEN (UTC)", "LAST SEEN", paint(color, C_RESET));
    for (size_t i = 0; i < rows; i++) {
        const struct incident_group *g = &inc->groups[i];
        fprintf(out, "  %5llu  ", (unsigned long long)g->count);
        for (int c = show_host ? 0 : 1; c < NCOLS; c++) {
            cell_text(g, (enum col)c, buf, sizeof buf);
            if (c == COL_CAUSE) fputs(paint(color, C_YELLOW), out);
            put_cell(out, buf, width[c]);
            if (c == COL_CAUSE) fputs(paint(color, C_RESET), out);
            fputs("  ", out);
        }
        logread_format_seen(g->first_us, 0, buf, sizeof buf);
        fprintf(out, "%-19s  ", buf);
        logread_format_seen(g->last_us, 0, buf, sizeof buf);
        fprintf(out, "%s\n", buf);
    }
    if (inc->ngroups > rows)
        fprintf(out, "  ... and %zu more groups (rstwatch report --json lists them all)\n",
                inc->ngroups - rows);
}

void report_print_summary(FILE *out, const struct incidents *inc, const struct logscan_stats *in,
                          int color)
{
    fprintf(out,
            "%srstwatch report%s: %llu incident%s in %zu group%s, from %llu record%s in %zu "
            "file%s",
            paint(color, C_BOLD), paint(color, C_RESET), (unsigned long long)inc->incidents,
            inc->incidents == 1 ? "" : "s", inc->ngroups, inc->ngroups == 1 ? "" : "s",
            (unsigned long long)inc->records, inc->records == 1 ? "" : "s", in->files,
            in->files == 1 ? "" : "s");
    if (incidents_hosts(inc) > 1) fprintf(out, " from %zu hosts", incidents_hosts(inc));
    if (inc->filtered) fprintf(out, " (%llu older skipped)", (unsigned long long)inc->filtered);
    if (in->bad_lines)
        fprintf(out, "; %zu bad line%s skipped", in->bad_lines, in->bad_lines == 1 ? "" : "s");
    fputs("\n", out);
    if (inc->counted_only)
        fprintf(out,
                "  (%llu of the incidents were only counted: the shim's rate limit left their "
                "records out)\n",
                (unsigned long long)inc->counted_only);
    if (inc->ngroups) print_groups(out, inc, color);
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

/* Merged events spread over less than this are shown without their span. */
#define SPAN_SHOWN_MS 1.0

/* The event as "op ×n  result", for a timeline line or a lane of one; at_ms: the time the
 * line shows for the event (its t_ms on its own timeline, or on a pair's shared axis). */
static void event_text(const struct log_event *ev, double at_ms, char *buf, size_t len)
{
    char op[LOG_SHORT_STR + 24], res[96];
    if (ev->n > 1)
        snprintf(op, sizeof op, "%s ×%lld", or_dash(ev->op), ev->n);
    else
        snprintf(op, sizeof op, "%s", or_dash(ev->op));
    if (ev->err[0]) {
        if (ev->has_ret)
            snprintf(res, sizeof res, "%lld %s", ev->ret, ev->err);
        else
            snprintf(res, sizeof res, "%s", ev->err);
    } else if (!ev->has_ret) {
        snprintf(res, sizeof res, "-");
    } else if (is_data_op(ev->op)) {
        if (ev->ret == 0 && (strncmp(ev->op, "recv", 4) == 0 || strncmp(ev->op, "read", 4) == 0))
            snprintf(res, sizeof res, "0 B (end of stream: peer sent FIN)");
        else
            snprintf(res, sizeof res, "%lld B", ev->ret);
    } else if (strcmp(ev->op, "socket") == 0 || strncmp(ev->op, "accept", 6) == 0) {
        snprintf(res, sizeof res, "fd %lld", ev->ret);
    } else if (ev->ret == 0) {
        snprintf(res, sizeof res, "ok");
    } else {
        snprintf(res, sizeof res, "ret %lld", ev->ret);
    }
    /* A merged event stands for calls spread over span_ms: a stall inside it (a client that
     * sends for 5 s) must not read as a wait before the next event. */
    char span[64] = "";
    if (ev->n > 1 && !isnan(ev->span_ms) && ev->span_ms >= SPAN_SHOWN_MS)
        snprintf(span, sizeof span, " over %.1f ms (last at %.3f ms)", ev->span_ms,
                 at_ms + ev->span_ms);
    /* The op column is 14 wide so that results line up, as in the one-end timeline. */
    size_t w = text_width(op);
    snprintf(buf, len, "%s%*s  %s%s", op, (int)(w < 14 ? 14 - w : 0), "", res, span);
}

static void print_event(FILE *out, const struct log_event *ev, int failing, int color)
{
    char text[256];
    fprintf(out, "  %s%s %12.3f ms  ", failing ? paint(color, C_RED C_BOLD) : "",
            failing ? "✗" : " ", ev->t_ms);
    event_text(ev, ev->t_ms, text, sizeof text);
    report_put_safe(out, text);
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
    /* A packet record alone: seen on the wire, by no program we know of (its
     * pid is the capture daemon's), with no call, traffic or TCP_INFO. */
    int wire_only = rec->type == LOG_PACKET;
    fputs("  ", out);
    if (wire_only) {
        fputs("rstwatch capture", out);
        if (rec->iface) {
            fputs(" (", out);
            report_put_safe(out, rec->iface);
            fputc(')', out);
        }
    } else {
        report_put_safe(out, rec->prog ? rec->prog : "?");
        char pid[LOG_PID_TEXT];
        fprintf(out, "[%s]", log_pid_text(rec, pid));
        if (rec->tid > 0 && rec->tid != rec->pid) fprintf(out, " tid %lld", rec->tid);
    }
    if (rec->host) {
        fputs(" on ", out);
        report_put_safe(out, rec->host);
    }
    fprintf(out, "  (%s record)\n", log_type_name(rec->type));
    if (rec->suppressed > 0)
        fprintf(out, "  %s(%lld more like it were left out by the rate limit)%s\n",
                paint(color, C_DIM), rec->suppressed, paint(color, C_RESET));
    print_connection_line(out, rec);
    if (!wire_only) print_failure_line(out, rec, color);

    if (rec->events_dropped > 0)
        fprintf(out, "  %s(%lld earlier events not kept by the shim)%s\n", paint(color, C_DIM),
                rec->events_dropped, paint(color, C_RESET));
    const struct log_event *failing = log_record_failing_event(rec);
    for (size_t i = 0; i < rec->nevents; i++)
        print_event(out, &rec->events[i], &rec->events[i] == failing, color);
    if (rec->events_truncated)
        fprintf(out, "  (%zu more events not shown)\n", rec->events_truncated);

    if (!wire_only) {
        print_traffic(out, rec);
        print_tcp(out, &rec->tcp);
    }
    char sender[512];
    if (packets_join_describe(rec, sender, sizeof sender)) {
        fputs("  reset by  ", out); /* rstwatch capture's verdict on the RST */
        report_put_safe(out, sender);
        fputc('\n', out);
    }
    fprintf(out, "  cause     %s", paint(color, C_YELLOW C_BOLD));
    report_put_safe(out, rec->cause.code ? rec->cause.code : "unknown");
    fprintf(out, "%s\n", paint(color, C_RESET));
    if (rec->cause.hint) {
        fprintf(out, "  hint      %s", paint(color, C_CYAN));
        report_put_safe(out, rec->cause.hint);
        fprintf(out, "%s\n", paint(color, C_RESET));
    }
}

void report_print_events(FILE *out, const struct pairs *pairs, int color)
{
    struct service_events ev;
    if (events_find(pairs, &ev) || !ev.n) return;
    fprintf(out, "\n%sEvents%s (several connections of one service, one cause):\n",
            paint(color, C_BOLD), paint(color, C_RESET));
    for (size_t i = 0; i < ev.n; i++) {
        const struct service_event *e = &ev.ev[i];
        char first[64], last[64];
        logread_format_seen(e->first_us, 0, first, sizeof first);
        logread_format_seen(e->last_us, 0, last, sizeof last);
        fprintf(out, "  %s%s, %zu %s%s: ", paint(color, C_YELLOW), events_kind_name(e->kind), e->n,
                e->kind == EVENT_RESTART ? "connections" : "requests", paint(color, C_RESET));
        report_put_safe(out, e->service);
        if (e->host) {
            fputs(" on ", out);
            report_put_safe(out, e->host);
        }
        double window = (double)(e->last_us - e->first_us) / 1000.0;
        if (e->kind == EVENT_RESTART && e->server_times)
            fprintf(out, " closed them within %.0f ms of each other at %s (the server's records)",
                    window, first);
        else if (e->kind == EVENT_RESTART)
            fprintf(out, ": the clients found them closed within %.0f ms of each other at %s",
                    window, first);
        else if (e->elapsed_hi - e->elapsed_lo < 50)
            fprintf(out, " gave up on each %.1f s after the request, %s to %s",
                    e->elapsed_lo / 1000, first, last);
        else
            fprintf(out, " gave up on each %.1f to %.1f s after the request, %s to %s",
                    e->elapsed_lo / 1000, e->elapsed_hi / 1000, first, last);
        fputs(" (", out);
        for (size_t k = 0; k < e->ncauses; k++) {
            fputs(k ? ", " : "", out);
            report_put_safe(out, e->causes[k].code);
            fprintf(out, " ×%zu", e->causes[k].n);
        }
        fputs(")\n", out);
    }
    events_free(&ev);
}

/* One end's header line in a pair: "client  curl[4242] @host  local → peer  (reset record)". */
static void print_end(FILE *out, const char *side, const struct log_record *rec)
{
    fprintf(out, "  %-8s  ", side);
    report_put_safe(out, rec->prog ? rec->prog : "?");
    char pid[LOG_PID_TEXT];
    fprintf(out, "[%s]", log_pid_text(rec, pid));
    if (rec->host) {
        fputs(" on ", out);
        report_put_safe(out, rec->host);
    }
    fputs("  ", out);
    report_put_safe(out, or_dash(rec->local));
    fputs(strcmp(side, "server") == 0 ? " ← " : " → ", out);
    report_put_safe(out, or_dash(rec->peer));
    fprintf(out, "  (%s record", log_type_name(rec->type));
    if (rec->cause.code && strcmp(rec->cause.code, "none") != 0) {
        fputs(": ", out);
        report_put_safe(out, rec->cause.code);
    }
    fputs(")\n", out);
}

/* Width of the client lane in a pair's timeline. */
#define PAIR_LANE 64

void report_print_pair(FILE *out, const struct conn_pair *pair, size_t index, size_t total,
                       int color)
{
    const struct log_record *c = pair->client, *s = pair->server;
    const struct log_record *first = s->time_us <= c->time_us ? s : c;
    fprintf(out, "\n%sIncident %zu/%zu%s  both ends of one connection  ", paint(color, C_BOLD),
            index, total, paint(color, C_RESET));
    report_put_safe(out, first->time);
    fputc('\n', out);
    fprintf(out, "  verdict   %s", paint(color, C_YELLOW C_BOLD));
    report_put_safe(out, pair->verdict);
    fprintf(out, "%s\n", paint(color, C_RESET));
    print_end(out, "client", c);
    print_end(out, "server", s);
    fprintf(out, "  %s  %12s     %-*s  %s%s\n", paint(color, C_DIM), "time", PAIR_LANE, "client",
            "server", paint(color, C_RESET));
    /* Merge the two timelines by absolute time, on the pair's shared axis. */
    const struct log_event *cf = log_record_failing_event(c), *sf = log_record_failing_event(s);
    size_t i = 0, j = 0;
    char text[256];
    while (i < c->nevents || j < s->nevents) {
        double tc = i < c->nevents ? pairs_event_ms(c, c->events[i].t_ms) : INFINITY;
        double ts = j < s->nevents ? pairs_event_ms(s, s->events[j].t_ms) : INFINITY;
        int client_side = tc <= ts;
        const struct log_event *ev = client_side ? &c->events[i++] : &s->events[j++];
        int failing = ev == cf || ev == sf;
        event_text(ev, (client_side ? tc : ts) - pair->base_ms, text, sizeof text);
        fprintf(out, "  %s%s %12.3f ms  ", failing ? paint(color, C_RED C_BOLD) : "",
                failing ? "✗" : " ", (client_side ? tc : ts) - pair->base_ms);
        if (client_side) {
            put_cell(out, text, PAIR_LANE);
        } else {
            fprintf(out, "%*s  ", PAIR_LANE, "");
            report_put_safe(out, text);
        }
        if (failing) fputs(paint(color, C_RESET), out);
        fputc('\n', out);
    }
    for (int k = 0; k < 2; k++) {
        const struct log_record *r = k ? s : c;
        if (!r->cause.hint) continue;
        fprintf(out, "  %s hint  %s", k ? "server" : "client", paint(color, C_CYAN));
        report_put_safe(out, r->cause.hint);
        fprintf(out, "%s\n", paint(color, C_RESET));
    }
}
