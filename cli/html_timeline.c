// SPDX-License-Identifier: MIT
/*
 * html_timeline.c: one connection's timeline as inline SVG, for the HTML page (html.c).
 *
 * A millisecond axis with "nice" ticks; per record a lane: a lifeline from its start to its end,
 * each event a mark (merged events a bar labelled ×n, labels in up to three rows so that they do
 * not overlap, a <title> tooltip on every mark), the failing call a red line with its errno.
 * Two records of one connection share the axis, each shifted by its start, client above and
 * server below. Classes ("conn", "lane", "axis", "tick", "event", "fail") are stable for tests
 * and user style sheets; every string from a log goes through html_put_escaped.
 */
#include "html.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Timeline geometry (SVG user units). */
#define SVG_WIDTH 760
#define SVG_LANE_H 84 /* one record's marks and labels */
#define SVG_LEFT 24
#define SVG_RIGHT 36
#define SVG_MARK_Y 52 /* within a lane */
#define SVG_MARK_H 22
#define SVG_AXIS_GAP 8 /* between the last lane and the axis */
#define SVG_AXIS_LABELS 28
#define SVG_TARGET_TICKS 6
#define SVG_MAX_TICKS 40

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
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

static void write_axis(FILE *out, const struct scale *sc, int axis_y)
{
    double step = tick_step(sc->span_ms);
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    fprintf(out, "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", SVG_LEFT,
            axis_y, SVG_WIDTH - SVG_RIGHT, axis_y);
    for (int i = 0; i <= SVG_MAX_TICKS && i * step <= sc->span_ms * (1 + 1e-9); i++) {
        double x = x_of(sc, i * step);
        fprintf(out,
                "<g class=\"tick\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f ms</text></g>\n",
                x, axis_y, x, axis_y + 5, x, axis_y + 17, decimals, i * step);
    }
    fputs("</g>\n", out);
}

static void write_event_title(FILE *out, const struct log_event *ev, double t_ms)
{
    fputs("<title>", out);
    html_put_escaped(out, or_dash(ev->op));
    if (ev->n > 1) fprintf(out, " ×%lld", ev->n);
    if (ev->has_ret) fprintf(out, " ret %lld", ev->ret);
    if (ev->err[0]) {
        fputc(' ', out);
        html_put_escaped(out, ev->err);
    }
    fprintf(out, " at %.3f ms</title>", t_ms);
}

/* Label rows above the marks; a label goes in the first row where it does not overlap. */
#define SVG_LABEL_ROWS 3
#define SVG_LABEL_CHAR_PX 5.6

/* One record drawn in a horizontal band: its events shifted by shift_ms on the shared axis. */
struct lane {
    const struct scale *sc;
    double shift_ms;            /* the record's start on the drawing's axis */
    int y;                      /* top of the band */
    double end[SVG_LABEL_ROWS]; /* rightmost x used so far in each label row */
};

static void write_event(FILE *out, struct lane *ln, const struct log_record *rec, size_t i,
                        int failing)
{
    const struct log_event *ev = &rec->events[i];
    const struct scale *sc = ln->sc;
    double t = ev->t_ms + ln->shift_ms;
    double x = x_of(sc, t);
    int y = ln->y;
    if (failing) {
        fprintf(out, "<g class=\"event fail\" data-op=\"");
        html_put_escaped(out, ev->op);
        fprintf(out,
                "\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<circle cx=\"%.1f\" cy=\"%d\" r=\"5\"/>",
                x, y + 16, x, y + SVG_LANE_H, x, y + SVG_MARK_Y + SVG_MARK_H / 2);
        /* Keep the errno label inside the drawing: right-align it near the right edge. */
        int near_right = x > SVG_WIDTH - SVG_RIGHT - 120;
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">", x, y + 12,
                near_right ? "end" : "start");
        html_put_escaped(out, ev->err[0] ? ev->err : "EOF"); /* an eof record's read of 0 */
        fputs(" (", out);
        html_put_escaped(out, or_dash(ev->op));
        fputs(")</text>", out);
        write_event_title(out, ev, t);
        fputs("</g>\n", out);
        return;
    }
    double w = 3;
    if (ev->n > 1 && !isnan(ev->span_ms) && ev->span_ms > 0)
        w = x_of(sc, t + ev->span_ms) - x;
    else if (ev->n > 1 && i + 1 < rec->nevents && rec->events[i + 1].t_ms > ev->t_ms)
        w = x_of(sc, rec->events[i + 1].t_ms + ln->shift_ms) - x;
    if (w < 3) w = 3;
    fprintf(out, "<g class=\"event%s%s\" data-op=\"", ev->n > 1 ? " merged" : "",
            ev->err[0] ? " error" : "");
    html_put_escaped(out, ev->op);
    fprintf(out, "\"><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", x - 1.5,
            y + SVG_MARK_Y, w, SVG_MARK_H);
    /* Crowded labels are left out (the <title> tooltip still names every event). */
    double label_w = (strlen(or_dash(ev->op)) + (ev->n > 1 ? 6 : 0)) * SVG_LABEL_CHAR_PX;
    for (int r = 0; r < SVG_LABEL_ROWS; r++) {
        if (ln->end[r] > x - 1.5) continue;
        ln->end[r] = x - 1.5 + label_w + 4;
        fprintf(out, "<text x=\"%.1f\" y=\"%d\">", x - 1.5, y + SVG_MARK_Y - 4 - 12 * r);
        html_put_escaped(out, or_dash(ev->op));
        if (ev->n > 1) fprintf(out, " ×%lld", ev->n);
        fputs("</text>", out);
        break;
    }
    write_event_title(out, ev, t);
    fputs("</g>\n", out);
}

/* The time span a record covers from its start: its age, or its last event. */
static double record_span(const struct log_record *rec)
{
    double span = !isnan(rec->age_ms) ? rec->age_ms : 0;
    for (size_t i = 0; i < rec->nevents; i++)
        if (rec->events[i].t_ms > span) span = rec->events[i].t_ms;
    return span;
}

static void write_lane(FILE *out, struct lane *ln, const struct log_record *rec, const char *label)
{
    const struct scale *sc = ln->sc;
    double span = record_span(rec);
    int mid = ln->y + SVG_MARK_Y + SVG_MARK_H / 2;
    if (label) {
        /* Under the lifeline's start, clear of the event labels above the marks. */
        fprintf(out, "<g class=\"lane %s\">\n<text class=\"lane-label\" x=\"%d\" y=\"%d\">", label,
                SVG_LEFT, ln->y + SVG_MARK_Y + SVG_MARK_H + 9);
        html_put_escaped(out, label);
        fputs(" ", out);
        html_put_escaped(out, rec->prog ? rec->prog : "?");
        fputs("</text>\n", out);
    }
    fprintf(out, "<line class=\"lifeline\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
            x_of(sc, ln->shift_ms), mid, x_of(sc, ln->shift_ms + span), mid);
    const struct log_event *failing = log_record_failing_event(rec);
    for (size_t i = 0; i < rec->nevents; i++)
        write_event(out, ln, rec, i, &rec->events[i] == failing);
    if (!failing && rec->err) {
        /* No event kept for the failing call: mark the record's end (time of the failure). */
        double x = x_of(sc, ln->shift_ms + span);
        fprintf(out,
                "<g class=\"fail\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\">",
                x, ln->y + 16, x, ln->y + SVG_LANE_H, x, ln->y + 12);
        html_put_escaped(out, rec->err);
        fputs("</text></g>\n", out);
    }
    if (label) fputs("</g>\n", out);
}

void html_write_svg(FILE *out, const struct log_record *const *recs, const double *shift, size_t n)
{
    static const char *const labels[] = {"client", "server"};
    double span = 0;
    for (size_t i = 0; i < n; i++) {
        double end = shift[i] + record_span(recs[i]);
        if (end > span) span = end;
    }
    if (span < 1e-3) span = 1e-3;
    struct scale sc = {.span_ms = span, .px_per_ms = (SVG_WIDTH - SVG_LEFT - SVG_RIGHT) / span};
    int axis_y = (int)n * SVG_LANE_H + SVG_AXIS_GAP, height = axis_y + SVG_AXIS_LABELS;
    char pid[40] = ""; /* none when the process could not learn its pid */
    if (recs[0]->pid != LOG_PID_UNKNOWN)
        snprintf(pid, sizeof pid, " data-pid=\"%lld\"", recs[0]->pid);
    fprintf(out,
            "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"connection timeline\">\n"
            "<g class=\"conn\"%s data-conn=\"%lld\">\n",
            SVG_WIDTH, height, SVG_WIDTH, height, pid, recs[0]->conn);
    write_axis(out, &sc, axis_y);
    for (size_t i = 0; i < n; i++) {
        struct lane ln = {.sc = &sc, .shift_ms = shift[i], .y = (int)i * SVG_LANE_H};
        write_lane(out, &ln, recs[i], n > 1 ? labels[i] : NULL);
    }
    fputs("</g>\n</svg>\n", out);
}
