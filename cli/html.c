/*
 * html.c: records -> one self-contained HTML page (inline CSS and SVG; no scripts, no fetches).
 *
 * The page opens with the same summary as the text report, then draws every incident as a
 * timeline on a millisecond axis: each event a mark (merged events a bar labelled ×n), the
 * failing call a red marker with its errno, and beside it the cause code, hint, TCP snapshot,
 * peer, program and pid. SVG elements carry stable classes ("conn", "axis", "tick", "event",
 * "fail") for tests and user style sheets. Every string that came from a log goes through
 * html_put_escaped, and a Content-Security-Policy forbids scripts and external loads anyway.
 */
#include "export.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Timeline geometry (SVG user units). */
#define SVG_WIDTH 760
#define SVG_HEIGHT 120
#define SVG_LEFT 24
#define SVG_RIGHT 36
#define SVG_AXIS_Y 92
#define SVG_MARK_Y 52
#define SVG_MARK_H 22
#define SVG_TARGET_TICKS 6
#define SVG_MAX_TICKS 40

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

/* "2026-11-23 05:31:02.123" (UTC) from microseconds. */
static void seen_time(int64_t us, char *buf, size_t len)
{
    char iso[40];
    logread_format_time(us, iso, sizeof iso);
    iso[10] = ' ';
    iso[23] = '\0';
    snprintf(buf, len, "%s", iso);
}

static void write_summary(FILE *out, const struct incidents *inc, const struct report_inputs *in)
{
    fprintf(out, "<header>\n<h1>rstwatch: %llu incident%s</h1>\n",
            (unsigned long long)inc->incidents, inc->incidents == 1 ? "" : "s");
    fprintf(out, "<p class=\"meta\">%llu record%s from %zu file%s",
            (unsigned long long)inc->records, inc->records == 1 ? "" : "s", in->files,
            in->files == 1 ? "" : "s");
    if (in->bad_lines)
        fprintf(out, "; %zu bad line%s skipped", in->bad_lines, in->bad_lines == 1 ? "" : "s");
    if (inc->detail_omitted)
        fprintf(out, "; timelines shown for the first %zu incidents only", inc->ndetail);
    fputs("</p>\n", out);
    if (inc->ngroups) {
        fputs("<table class=\"groups\">\n<tr><th>count</th><th>peer</th><th>cause</th>"
              "<th>errno</th><th>programs</th><th>first seen (UTC)</th><th>last seen</th></tr>\n",
              out);
        for (size_t i = 0; i < inc->ngroups; i++) {
            const struct incident_group *g = &inc->groups[i];
            char first[40], last[40];
            seen_time(g->first_us, first, sizeof first);
            seen_time(g->last_us, last, sizeof last);
            fprintf(out, "<tr class=\"group\"><td class=\"count\">%llu</td><td>",
                    (unsigned long long)g->count);
            html_put_escaped(out, g->peer);
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
    }
    write_tallies(out, "retries", inc->retries, inc->nretries);
    write_tallies(out, "injected faults", inc->injections, inc->ninjections);
    if (inc->clean_closes)
        fprintf(out, "<p class=\"tally\">connections closed without error: %llu</p>\n",
                (unsigned long long)inc->clean_closes);
    fputs("</header>\n", out);
}

/* A "nice" tick step (1, 2 or 5 x 10^k) giving about SVG_TARGET_TICKS ticks over span. */
static double tick_step(double span)
{
    double raw = span / SVG_TARGET_TICKS;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
}

struct scale {
    double span_ms, px_per_ms;
};

static double x_of(const struct scale *sc, double t_ms)
{
    double x = SVG_LEFT + (t_ms < 0 ? 0 : t_ms) * sc->px_per_ms;
    return x > SVG_WIDTH - SVG_RIGHT ? SVG_WIDTH - SVG_RIGHT : x;
}

static void write_axis(FILE *out, const struct scale *sc)
{
    double step = tick_step(sc->span_ms);
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    fprintf(out, "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", SVG_LEFT,
            SVG_AXIS_Y, SVG_WIDTH - SVG_RIGHT, SVG_AXIS_Y);
    for (int i = 0; i <= SVG_MAX_TICKS && i * step <= sc->span_ms * (1 + 1e-9); i++) {
        double x = x_of(sc, i * step);
        fprintf(out,
                "<g class=\"tick\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f ms</text></g>\n",
                x, SVG_AXIS_Y, x, SVG_AXIS_Y + 5, x, SVG_AXIS_Y + 17, decimals, i * step);
    }
    fputs("</g>\n", out);
}

static void write_event_title(FILE *out, const struct log_event *ev)
{
    fputs("<title>", out);
    html_put_escaped(out, or_dash(ev->op));
    if (ev->n > 1) fprintf(out, " ×%lld", ev->n);
    if (ev->has_ret) fprintf(out, " ret %lld", ev->ret);
    if (ev->err[0]) {
        fputc(' ', out);
        html_put_escaped(out, ev->err);
    }
    fprintf(out, " at %.3f ms</title>", ev->t_ms);
}

/* Label rows above the marks; a label goes in the first row where it does not overlap. */
#define SVG_LABEL_ROWS 3
#define SVG_LABEL_CHAR_PX 5.6

struct label_rows {
    double end[SVG_LABEL_ROWS]; /* rightmost x used so far in each row */
};

static void write_event(FILE *out, const struct scale *sc, const struct log_record *rec, size_t i,
                        int failing, struct label_rows *rows)
{
    const struct log_event *ev = &rec->events[i];
    double x = x_of(sc, ev->t_ms);
    if (failing) {
        fprintf(out, "<g class=\"event fail\" data-op=\"");
        html_put_escaped(out, ev->op);
        fprintf(out,
                "\"><line x1=\"%.1f\" y1=\"16\" x2=\"%.1f\" y2=\"%d\"/>"
                "<circle cx=\"%.1f\" cy=\"%d\" r=\"5\"/>",
                x, x, SVG_AXIS_Y, x, SVG_MARK_Y + SVG_MARK_H / 2);
        /* Keep the errno label inside the drawing: right-align it near the right edge. */
        int near_right = x > SVG_WIDTH - SVG_RIGHT - 120;
        fprintf(out, "<text x=\"%.1f\" y=\"12\" text-anchor=\"%s\">", x,
                near_right ? "end" : "start");
        html_put_escaped(out, ev->err);
        fputs(" (", out);
        html_put_escaped(out, or_dash(ev->op));
        fputs(")</text>", out);
        write_event_title(out, ev);
        fputs("</g>\n", out);
        return;
    }
    double w = 3;
    if (ev->n > 1 && !isnan(ev->span_ms) && ev->span_ms > 0)
        w = x_of(sc, ev->t_ms + ev->span_ms) - x;
    else if (ev->n > 1 && i + 1 < rec->nevents && rec->events[i + 1].t_ms > ev->t_ms)
        w = x_of(sc, rec->events[i + 1].t_ms) - x;
    if (w < 3) w = 3;
    fprintf(out, "<g class=\"event%s%s\" data-op=\"", ev->n > 1 ? " merged" : "",
            ev->err[0] ? " error" : "");
    html_put_escaped(out, ev->op);
    fprintf(out, "\"><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", x - 1.5, SVG_MARK_Y,
            w, SVG_MARK_H);
    /* Crowded labels are left out (the <title> tooltip still names every event). */
    double label_w = (strlen(or_dash(ev->op)) + (ev->n > 1 ? 6 : 0)) * SVG_LABEL_CHAR_PX;
    for (int r = 0; r < SVG_LABEL_ROWS; r++) {
        if (rows->end[r] > x - 1.5) continue;
        rows->end[r] = x - 1.5 + label_w + 4;
        fprintf(out, "<text x=\"%.1f\" y=\"%d\">", x - 1.5, SVG_MARK_Y - 4 - 12 * r);
        html_put_escaped(out, or_dash(ev->op));
        if (ev->n > 1) fprintf(out, " ×%lld", ev->n);
        fputs("</text>", out);
        break;
    }
    write_event_title(out, ev);
    fputs("</g>\n", out);
}

static void write_svg(FILE *out, const struct log_record *rec)
{
    double span = !isnan(rec->age_ms) ? rec->age_ms : 0;
    for (size_t i = 0; i < rec->nevents; i++)
        if (rec->events[i].t_ms > span) span = rec->events[i].t_ms;
    if (span < 1e-3) span = 1e-3;
    struct scale sc = {.span_ms = span, .px_per_ms = (SVG_WIDTH - SVG_LEFT - SVG_RIGHT) / span};

    fprintf(out,
            "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"connection timeline\">\n"
            "<g class=\"conn\" data-pid=\"%lld\" data-conn=\"%lld\">\n",
            SVG_WIDTH, SVG_HEIGHT, SVG_WIDTH, SVG_HEIGHT, rec->pid, rec->conn);
    write_axis(out, &sc);
    fprintf(out, "<line class=\"lifeline\" x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", SVG_LEFT,
            SVG_MARK_Y + SVG_MARK_H / 2, x_of(&sc, span), SVG_MARK_Y + SVG_MARK_H / 2);
    const struct log_event *failing = log_record_failing_event(rec);
    struct label_rows rows = {{0}};
    for (size_t i = 0; i < rec->nevents; i++)
        write_event(out, &sc, rec, i, &rec->events[i] == failing, &rows);
    if (!failing && rec->err) {
        /* No event kept for the failing call: mark the record's end (time of the failure). */
        double x = x_of(&sc, span);
        fprintf(out,
                "<g class=\"fail\"><line x1=\"%.1f\" y1=\"16\" x2=\"%.1f\" y2=\"%d\"/>"
                "<text x=\"%.1f\" y=\"12\" text-anchor=\"end\">",
                x, x, SVG_AXIS_Y, x);
        html_put_escaped(out, rec->err);
        fputs("</text></g>\n", out);
    }
    fputs("</g>\n</svg>\n", out);
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

void html_write_incident(FILE *out, const struct log_record *rec, size_t index)
{
    fprintf(out, "<section class=\"incident\" id=\"incident-%zu\">\n<h2>", index);
    fputs("<span class=\"cause-code\">", out);
    html_put_escaped(out, rec->cause.code ? rec->cause.code : "unknown");
    fputs("</span> ", out);
    html_put_escaped(out, rec->prog ? rec->prog : "?");
    fprintf(out, "[%lld]", rec->pid);
    if (rec->conn != LOG_ABSENT) fprintf(out, " conn %lld", rec->conn);
    fputs(" → ", out);
    html_put_escaped(out, or_dash(rec->peer));
    fputs(" <span class=\"meta\">", out);
    html_put_escaped(out, rec->time);
    fputs("</span></h2>\n<div class=\"row\">\n", out);
    write_svg(out, rec);

    fputs("<dl class=\"facts\">\n", out);
    fact(out, "cause", "cause-code", rec->cause.code ? rec->cause.code : "unknown");
    fact(out, "hint", "hint", rec->cause.hint);
    fputs("<dt>failed</dt><dd class=\"errno\">", out);
    html_put_escaped(out, or_dash(rec->op));
    fputs(" → ", out);
    html_put_escaped(out, or_dash(rec->err));
    if (rec->errno_code != LOG_ABSENT) fprintf(out, " (%lld)", rec->errno_code);
    fputs("</dd>\n", out);
    write_tcp_fact(out, &rec->tcp);
    fact(out, "peer", "peer", rec->peer);
    fact(out, "local", NULL, rec->local);
    fact(out, "prog", "prog", rec->prog);
    fprintf(out, "<dt>pid</dt><dd class=\"pid\">%lld", rec->pid);
    if (rec->tid != LOG_ABSENT && rec->tid != rec->pid) fprintf(out, " (tid %lld)", rec->tid);
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
    fputs("</dl>\n</div>\n</section>\n", out);
}

void html_write_page(FILE *out, const struct incidents *inc, const struct report_inputs *in)
{
    fputs(page_head, out);
    write_summary(out, inc, in);
    fputs("<main>\n", out);
    if (!inc->ndetail) fputs("<p class=\"empty\">No incidents in these logs.</p>\n", out);
    for (size_t i = 0; i < inc->ndetail; i++)
        html_write_incident(out, &inc->detail[i], i + 1);
    fputs("</main>\n</body>\n</html>\n", out);
}
