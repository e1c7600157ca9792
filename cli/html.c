// SPDX-License-Identifier: MIT
/*
 * html.c: records -> one self-contained HTML page (inline CSS and SVG; no scripts, no fetches).
 *
 * The page opens with the summary and an overview (html_overview.c) that answer "which service,
 * which cause, how many, since when" at any log size, then draws the first incidents as
 * timelines (html_timeline.c) and beside each the cause code, hint, TCP snapshot, peer,
 * program and pid. The two ends of one connection share one drawing: two lanes (client
 * above, server below) on one axis, under the verdict. The page is capped in size
 * (HTML_MAX_BYTES): each timeline is rendered into a buffer and written only if it fits, and
 * the page says how many were left out. SVG elements carry stable classes ("conn", "lane",
 * "axis", "tick", "event", "fail") for tests and user style sheets. Every string that came from
 * a log goes through html_put_escaped, and a Content-Security-Policy forbids scripts and
 * external loads anyway.
 */
#include "html.h"

#include "events.h"
#include "packets_join.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void html_put_escaped(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
                fputs("&#xFFFD;", out);
            else
                fputc(*p, out);
        }
    }
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
    "style-src 'unsafe-inline'\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>rstwatch report</title>\n<style>\n"
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d232a;background:#fbfbfc}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 8px}\n"
    "table.groups{border-collapse:collapse;margin:12px 0}\n"
    "table.groups td,table.groups th{padding:3px 12px 3px 0;text-align:left;"
    "border-bottom:1px solid #e3e6ea}\n"
    "td.count{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".cause-code{font-family:ui-monospace,monospace;color:#8a4b00;font-weight:600}\n"
    "section.incident{background:#fff;border:1px solid #dfe3e8;border-radius:6px;"
    "padding:14px 16px;margin:16px 0}\n"
    ".row{display:flex;gap:20px;align-items:flex-start;flex-wrap:wrap}\n"
    "dl.facts{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0;"
    "flex:1 1 280px;max-width:520px}\n"
    "dl.facts dt{color:#66707a}dl.facts dd{margin:0;font-family:ui-monospace,monospace}\n"
    "dl.facts dd.hint{font-family:system-ui,sans-serif}\n"
    "td.when{white-space:nowrap;font-variant-numeric:tabular-nums}\n"
    ".meta{color:#66707a}\n"
    "svg.timeline{background:#f6f8fa;border-radius:4px}\n"
    "svg .axis line{stroke:#8b949e}svg .axis text{font:10px sans-serif;fill:#57606a}\n"
    "svg .lifeline{stroke:#c9d1d9;stroke-width:6;stroke-linecap:round}\n"
    "svg .event rect{fill:#2f81f7}svg .event text{font:10px sans-serif;fill:#24292f}\n"
    "svg .event.merged rect{fill:#8250df}\n"
    "svg .event.error rect{fill:#d29922}\n"
    "svg .fail line{stroke:#cf222e;stroke-width:2}svg .fail circle{fill:#cf222e}\n"
    "svg .fail text{font:bold 11px sans-serif;fill:#cf222e}\n"
    "svg .lane-label{font:bold 10px sans-serif;fill:#57606a}\n"
    "p.verdict{font-weight:600;color:#8a4b00}\n"
    "section.overview{margin:12px 0}section.overview figure{margin:0}\n"
    ".charts,.tops{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}\n"
    "svg.chart{background:#fff;border:1px solid #dfe3e8;border-radius:4px}\n"
    "svg.chart text{font:10px sans-serif;fill:#57606a}\n"
    "ul.legend{list-style:none;padding:0;margin:4px 0;font-size:12px;max-width:520px}\n"
    "ul.legend li{display:inline-block;margin-right:12px}\n"
    "ul.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
    "table.top{border-collapse:collapse;font-size:13px}\n"
    "table.top td,table.top th{padding:2px 10px 2px 0;text-align:left}\n"
    "p.left-out{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px}\n"
    "</style>\n</head>\n<body>\n";

static void write_tallies(FILE *out, const char *label, const struct tally *t, size_t n)
{
    if (!n) return;
    fprintf(out, "<p class=\"tally\">%s: ", label);
    incidents_put_tallies(out, t, n, html_put_escaped);
    fputs("</p>\n", out);
}

static void write_values(FILE *out, const struct value_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        if (i) fputs(", ", out);
        html_put_escaped(out, set->values[i]);
    }
    if (set->more) fprintf(out, " +%zu", set->more);
    if (!set->n && !set->more) fputc('-', out);
}

static void write_groups(FILE *out, const struct incidents *inc)
{
    size_t rows = inc->ngroups < HTML_MAX_GROUP_ROWS ? inc->ngroups : HTML_MAX_GROUP_ROWS;
    int show_host = incidents_hosts(inc) > 1;
    fprintf(out,
            "<table class=\"groups\">\n<tr><th>count</th>%s<th>service</th><th>side</th>"
            "<th>cause</th><th>errno</th><th>programs</th><th>first seen (UTC)</th>"
            "<th>last seen</th></tr>\n",
            show_host ? "<th>host</th>" : "");
    for (size_t i = 0; i < rows; i++) {
        const struct incident_group *g = &inc->groups[i];
        char first[40], last[40], label[600];
        logread_format_seen(g->first_us, 3, first, sizeof first);
        logread_format_seen(g->last_us, 3, last, sizeof last);
        incidents_group_label(g, label, sizeof label);
        fprintf(out, "<tr class=\"group\"><td class=\"count\">%llu</td>",
                (unsigned long long)g->count);
        if (show_host) {
            fputs("<td class=\"host\">", out);
            html_put_escaped(out, *g->host ? g->host : "-");
            fputs("</td>", out);
        }
        fputs("<td class=\"service\">", out);
        html_put_escaped(out, label);
        fputs("</td><td>", out);
        html_put_escaped(out, g->role);
        fputs("</td><td class=\"cause-code\">", out);
        html_put_escaped(out, g->cause);
        fputs("</td><td>", out);
        write_values(out, &g->errnos);
        fputs("</td><td>", out);
        write_values(out, &g->progs);
        fprintf(out, "</td><td class=\"when\">%s</td><td class=\"when\">%s</td></tr>\n", first,
                last);
    }
    fputs("</table>\n", out);
    if (inc->ngroups > rows) {
        uint64_t rest = 0;
        for (size_t i = rows; i < inc->ngroups; i++)
            rest += inc->groups[i].count;
        fprintf(out,
                "<p class=\"meta more-groups\">and %zu more groups with %llu incidents "
                "(rstwatch report --json lists them all)</p>\n",
                inc->ngroups - rows, (unsigned long long)rest);
    }
}

/* Events shown in the header before the rest are only counted. */
#define HTML_MAX_EVENTS 50

/* The restarts and shared timeouts (events.c) as a list. */
static void write_events(FILE *out, const struct pairs *pairs)
{
    struct service_events ev;
    if (events_find(pairs, &ev) || !ev.n) return;
    fputs("<ul class=\"events\">\n", out);
    for (size_t i = 0; i < ev.n && i < HTML_MAX_EVENTS; i++) {
        const struct service_event *e = &ev.ev[i];
        char first[40];
        logread_format_seen(e->first_us, 3, first, sizeof first);
        fprintf(out, "<li class=\"event %s\"><b>%s, %zu %s</b>: ",
                e->kind == EVENT_RESTART ? "restart" : "timeout", events_kind_name(e->kind), e->n,
                e->kind == EVENT_RESTART ? "connections" : "requests");
        html_put_escaped(out, e->service);
        if (e->kind == EVENT_RESTART)
            fprintf(out, ", closed within %.0f ms of each other at %s (%s)",
                    (double)(e->last_us - e->first_us) / 1000.0, first,
                    e->server_times ? "the server's records" : "as the clients found them");
        else
            fprintf(out, ", each given up %.1f to %.1f s after the request, from %s",
                    e->elapsed_lo / 1000, e->elapsed_hi / 1000, first);
        fputs(" <span class=\"meta\">", out);
        for (size_t k = 0; k < e->ncauses; k++) {
            fputs(k ? ", " : "", out);
            html_put_escaped(out, e->causes[k].code);
            fprintf(out, " ×%zu", e->causes[k].n);
        }
        fputs("</span></li>\n", out);
    }
    if (ev.n > HTML_MAX_EVENTS)
        fprintf(out, "<li class=\"meta\">and %zu more (rstwatch report --json lists them)</li>\n",
                ev.n - HTML_MAX_EVENTS);
    fputs("</ul>\n", out);
    events_free(&ev);
}

static void write_summary(FILE *out, const struct incidents *inc, const struct pairs *pairs,
                          const struct logscan_stats *in)
{
    fprintf(out, "<header>\n<h1>rstwatch: %llu incident%s</h1>\n",
            (unsigned long long)inc->incidents, inc->incidents == 1 ? "" : "s");
    fprintf(out, "<p class=\"meta\">%llu record%s from %zu file%s",
            (unsigned long long)inc->records, inc->records == 1 ? "" : "s", in->files,
            in->files == 1 ? "" : "s");
    if (incidents_hosts(inc) > 1) fprintf(out, " from %zu hosts", incidents_hosts(inc));
    if (in->bad_lines)
        fprintf(out, "; %zu bad line%s skipped", in->bad_lines, in->bad_lines == 1 ? "" : "s");
    if (inc->counted_only)
        fprintf(out, "; %llu incidents only counted (the shim's rate limit left their records out)",
                (unsigned long long)inc->counted_only);
    fputs("</p>\n", out);
    /* The overview first (incidents over time, top lists), then the groups in detail. */
    html_write_overview(out, inc);
    if (inc->ngroups) write_groups(out, inc);
    write_events(out, pairs);
    write_tallies(out, "retries", inc->retries, inc->nretries);
    write_tallies(out, "injected faults", inc->injections, inc->ninjections);
    if (inc->clean_closes)
        fprintf(out, "<p class=\"tally\">connections closed without error: %llu</p>\n",
                (unsigned long long)inc->clean_closes);
    fputs("</header>\n", out);
}

static void put_count(FILE *out, long long v)
{
    if (v == LOG_ABSENT)
        fputc('-', out);
    else
        fprintf(out, "%lld", v);
}

static void fact(FILE *out, const char *label, const char *cls, const char *value)
{
    fprintf(out, "<dt>%s</dt><dd%s%s%s>", label, cls ? " class=\"" : "", cls ? cls : "",
            cls ? "\"" : "");
    html_put_escaped(out, or_dash(value));
    fputs("</dd>\n", out);
}

static void write_tcp_fact(FILE *out, const struct log_tcp *tcp)
{
    fputs("<dt>tcp</dt><dd class=\"tcp\">", out);
    if (!tcp->present) {
        fputs("no snapshot</dd>\n", out);
        return;
    }
    html_put_escaped(out, or_dash(tcp->state));
    if (tcp->rtt_us != LOG_ABSENT) fprintf(out, " rtt %lld&#160;us", tcp->rtt_us);
    if (tcp->rttvar_us != LOG_ABSENT) fprintf(out, " ±%lld", tcp->rttvar_us);
    if (tcp->retrans != LOG_ABSENT) fprintf(out, " retrans %lld", tcp->retrans);
    if (tcp->total_retrans != LOG_ABSENT) fprintf(out, " total_retrans %lld", tcp->total_retrans);
    if (tcp->unacked != LOG_ABSENT) fprintf(out, " unacked %lld", tcp->unacked);
    if (tcp->lost != LOG_ABSENT) fprintf(out, " lost %lld", tcp->lost);
    fputs("</dd>\n", out);
}

/* The facts of one record beside its drawing. */
static void write_facts(FILE *out, const struct log_record *rec, const char *side)
{
    fputs("<dl class=\"facts\">\n", out);
    if (side) fact(out, "side", "side", side);
    fact(out, "cause", "cause-code", rec->cause.code ? rec->cause.code : "unknown");
    fact(out, "hint", "hint", rec->cause.hint);
    char sender[512]; /* rstwatch capture's verdict on the RST, when it was joined */
    if (packets_join_describe(rec, sender, sizeof sender))
        fact(out, "reset by", "reset-by", sender);
    /* a packet record alone: no program, call or TCP_INFO */
    int wire_only = rec->type == LOG_PACKET;
    if (wire_only) {
        fact(out, "seen on", "iface", rec->iface);
    } else {
        fputs("<dt>failed</dt><dd class=\"errno\">", out);
        html_put_escaped(out, or_dash(rec->op));
        fputs(" → ", out);
        html_put_escaped(out, or_dash(rec->err));
        if (rec->errno_code != LOG_ABSENT) fprintf(out, " (%lld)", rec->errno_code);
        fputs("</dd>\n", out);
        write_tcp_fact(out, &rec->tcp);
    }
    fact(out, "peer", "peer", rec->peer);
    fact(out, "local", NULL, rec->local);
    if (rec->host) fact(out, "host", "host", rec->host);
    if (wire_only) {
        fputs("</dl>\n", out);
        return;
    }
    fact(out, "prog", "prog", rec->prog);
    char pid[LOG_PID_TEXT];
    fprintf(out, "<dt>pid</dt><dd class=\"pid\">%s", log_pid_text(rec, pid));
    if (rec->tid > 0 && rec->tid != rec->pid) fprintf(out, " (tid %lld)", rec->tid);
    fputs("</dd>\n", out);
    if (rec->fd != LOG_ABSENT) fprintf(out, "<dt>fd</dt><dd>%lld</dd>\n", rec->fd);
    fputs("<dt>age / idle</dt><dd>", out);
    if (!isnan(rec->age_ms))
        fprintf(out, "%.1f ms", rec->age_ms);
    else
        fputc('-', out);
    fputs(" / ", out);
    if (!isnan(rec->idle_ms))
        fprintf(out, "%.1f ms", rec->idle_ms);
    else
        fputc('-', out);
    fputs("</dd>\n", out);
    if (rec->bytes_out != LOG_ABSENT || rec->bytes_in != LOG_ABSENT) {
        fputs("<dt>bytes out / in</dt><dd>", out);
        put_count(out, rec->bytes_out);
        fputs(" / ", out);
        put_count(out, rec->bytes_in);
        fputs("</dd>\n", out);
    }
    if (rec->reused >= 0)
        fprintf(out, "<dt>connection</dt><dd>%s</dd>\n", rec->reused ? "reused" : "fresh");
    if (rec->events_dropped > 0)
        fprintf(out, "<dt>events</dt><dd>%lld earlier dropped</dd>\n", rec->events_dropped);
    if (rec->suppressed > 0)
        fprintf(out, "<dt>rate limit</dt><dd>%lld more like it left out</dd>\n", rec->suppressed);
    fputs("</dl>\n", out);
}

void html_write_incident(FILE *out, const struct log_record *rec, size_t index)
{
    fprintf(out, "<section class=\"incident\" id=\"incident-%zu\">\n<h2>", index);
    fputs("<span class=\"cause-code\">", out);
    html_put_escaped(out, rec->cause.code ? rec->cause.code : "unknown");
    fputs("</span> ", out);
    if (rec->type == LOG_PACKET) { /* the pid is the capture daemon's */
        fputs("rstwatch capture", out);
    } else {
        html_put_escaped(out, rec->prog ? rec->prog : "?");
        char pid[LOG_PID_TEXT];
        fprintf(out, "[%s]", log_pid_text(rec, pid));
    }
    if (rec->conn != LOG_ABSENT) fprintf(out, " conn %lld", rec->conn);
    fputs(" → ", out);
    html_put_escaped(out, or_dash(rec->peer));
    fputs(" <span class=\"meta\">", out);
    html_put_escaped(out, rec->time);
    fputs("</span></h2>\n<div class=\"row\">\n", out);
    const struct log_record *recs[1] = {rec};
    double shift[1] = {0};
    if (rec->type != LOG_PACKET) html_write_svg(out, recs, shift, 1); /* a packet: no timeline */
    write_facts(out, rec, NULL);
    fputs("</div>\n</section>\n", out);
}

void html_write_pair(FILE *out, const struct conn_pair *pair, size_t index)
{
    const struct log_record *c = pair->client, *s = pair->server;
    fprintf(out, "<section class=\"incident pair\" id=\"incident-%zu\">\n<h2>", index);
    fputs("both ends of one connection: ", out);
    html_put_escaped(out, or_dash(c->local));
    fputs(" → ", out);
    html_put_escaped(out, or_dash(c->peer));
    fputs(" <span class=\"meta\">", out);
    html_put_escaped(out, (s->time_us < c->time_us ? s : c)->time);
    fputs("</span></h2>\n<p class=\"verdict\">", out);
    html_put_escaped(out, pair->verdict);
    fputs("</p>\n<div class=\"row\">\n", out);
    const struct log_record *recs[2] = {c, s};
    double shift[2] = {pairs_start_ms(c) - pair->base_ms, pairs_start_ms(s) - pair->base_ms};
    html_write_svg(out, recs, shift, 2);
    fputs("</div>\n<div class=\"row\">\n", out);
    write_facts(out, c, "client");
    write_facts(out, s, "server");
    fputs("</div>\n</section>\n", out);
}

/* Renders one shown incident into memory; NULL when out of memory. */
static char *render_shown(const struct shown_incident *si, size_t index, size_t *len)
{
    char *data = NULL;
    FILE *mem = open_memstream(&data, len);
    if (!mem) return NULL;
    if (si->pair)
        html_write_pair(mem, si->pair, index);
    else
        html_write_incident(mem, si->rec, index);
    if (fclose(mem) != 0) {
        free(data);
        return NULL;
    }
    return data;
}

static const char page_tail[] = "</main>\n</body>\n</html>\n";

size_t html_write_page(FILE *out, const struct incidents *inc, const struct pairs *pairs,
                       const struct logscan_stats *in, size_t max_bytes)
{
    if (!max_bytes) max_bytes = HTML_MAX_BYTES;
    /* The head and overview are bounded by construction; measure them for the budget. */
    char *head = NULL;
    size_t head_len = 0, used;
    FILE *mem = open_memstream(&head, &head_len);
    if (mem) {
        fputs(page_head, mem);
        write_summary(mem, inc, pairs, in);
        fputs("<main>\n", mem);
        if (fclose(mem) != 0) head_len = 0;
    }
    if (head && head_len) {
        fwrite(head, 1, head_len, out);
    } else {
        fputs(page_head, out);
        fputs("<main>\n", out);
    }
    free(head);
    used = head_len + sizeof page_tail + 400; /* the closing note */
    if (!pairs->nshown) fputs("<p class=\"empty\">No incidents in these logs.</p>\n", out);
    size_t shown = 0;
    for (; shown < pairs->nshown && shown < HTML_MAX_TIMELINES; shown++) {
        size_t len = 0;
        char *text = render_shown(&pairs->shown[shown], shown + 1, &len);
        if (!text || used + len > max_bytes) {
            free(text);
            break;
        }
        fwrite(text, 1, len, out);
        used += len;
        free(text);
    }
    /* Everything counted and not drawn: kept incidents beyond the budget, and those the
     * aggregation only counted. */
    size_t left = pairs->nshown - shown;
    uint64_t total_left = left + inc->detail_omitted + inc->counted_only;
    if (total_left)
        fprintf(out,
                "<p class=\"left-out\">Timelines are drawn for the first %zu incidents; "
                "%llu more are counted in the overview and left out here "
                "(rstwatch report lists them).</p>\n",
                shown, (unsigned long long)total_left);
    fputs(page_tail, out);
    return left;
}
