// SPDX-License-Identifier: MIT
/*
 * html_overview.c: the first screen of the HTML page, the same size for ten records or ten
 * million: incidents over time as stacked bar charts (by cause, and by service), and the top
 * peers, programs and hosts. The data comes from incidents.c's per-minute counts; bars are
 * widened (1 min, 5 min, 1 h, ...) until at most OVERVIEW_MAX_BARS cover the log's span, and
 * only the OVERVIEW_SERIES biggest causes or services get a colour of their own (the rest are
 * "other"). Inline SVG, every label through html_put_escaped, a <title> on every bar.
 */
#include "html.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OVERVIEW_MAX_BARS 60
#define OVERVIEW_SERIES 7 /* plus "other" */
#define OVERVIEW_TOP 10
#define OVERVIEW_MAX_BAR_PX 24
#define CHART_W 520
#define CHART_H 160
#define CHART_LEFT 40
#define CHART_BOTTOM 20
#define CHART_TOP 8

static const char *const palette[OVERVIEW_SERIES + 1] = {
    "#cf222e", "#2f81f7", "#d29922", "#8250df", "#1a7f37", "#e16f24", "#0598bc", "#8c959f",
};

/* Bar widths in minutes, smallest first. */
static const int64_t bar_minutes[] = {1,   2,   5,   10,  15,   30,   60,
                                      120, 180, 360, 720, 1440, 2880, 10080};

/* A chart's series: each group maps to one (0..OVERVIEW_SERIES, the last = other). */
struct series {
    const char *names[OVERVIEW_SERIES + 1];
    uint64_t totals[OVERVIEW_SERIES + 1];
    size_t n;         /* named series in use */
    size_t *of_group; /* group index -> series */
};

struct name_total {
    const char *name;
    uint64_t total;
};

static int cmp_total(const void *a, const void *b)
{
    const struct name_total *x = a, *y = b;
    if (x->total != y->total) return x->total < y->total ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* Builds the series of a chart from each group's name (cause, or service label). */
static int series_build(struct series *s, const struct incidents *inc, char **names)
{
    memset(s, 0, sizeof *s);
    s->of_group = calloc(inc->ngroups ? inc->ngroups : 1, sizeof *s->of_group);
    struct name_total *nt = calloc(inc->ngroups ? inc->ngroups : 1, sizeof *nt);
    if (!s->of_group || !nt) {
        free(nt);
        free(s->of_group);
        return -1;
    }
    size_t n = 0;
    for (size_t g = 0; g < inc->ngroups; g++) {
        size_t k = 0;
        while (k < n && strcmp(nt[k].name, names[g]) != 0)
            k++;
        if (k == n) nt[n++] = (struct name_total){names[g], 0};
        nt[k].total += inc->groups[g].count;
    }
    qsort(nt, n, sizeof *nt, cmp_total);
    s->n = n < OVERVIEW_SERIES ? n : OVERVIEW_SERIES;
    for (size_t k = 0; k < s->n; k++)
        s->names[k] = nt[k].name;
    if (n > s->n) s->names[OVERVIEW_SERIES] = "other";
    for (size_t g = 0; g < inc->ngroups; g++) {
        size_t k = 0;
        while (k < s->n && strcmp(s->names[k], names[g]) != 0)
            k++;
        s->of_group[g] = k < s->n ? k : OVERVIEW_SERIES;
        s->totals[s->of_group[g]] += inc->groups[g].count;
    }
    free(nt);
    return 0;
}

static void write_time_label(FILE *out, double x, int64_t minute, const char *anchor)
{
    char buf[40];
    logread_format_seen(minute * INCIDENTS_BUCKET_US, 0, buf, sizeof buf);
    buf[16] = '\0'; /* "2026-11-23 05:31" */
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>\n", x,
            CHART_H - CHART_BOTTOM + 14, anchor, buf);
}

static void write_chart(FILE *out, const struct incidents *inc, const struct series *s,
                        const char *title, const char *cls)
{
    int64_t first = inc->buckets[0].minute, last = inc->buckets[inc->nbuckets - 1].minute;
    int64_t width = bar_minutes[sizeof bar_minutes / sizeof bar_minutes[0] - 1];
    for (size_t i = 0; i < sizeof bar_minutes / sizeof bar_minutes[0]; i++) {
        if ((last - first) / bar_minutes[i] + 1 <= OVERVIEW_MAX_BARS) {
            width = bar_minutes[i];
            break;
        }
    }
    size_t nbars = (size_t)((last - first) / width + 1);
    if (nbars > OVERVIEW_MAX_BARS * 8) nbars = OVERVIEW_MAX_BARS * 8; /* spans beyond weeks */
    uint64_t(*bars)[OVERVIEW_SERIES + 1] = calloc(nbars, sizeof *bars);
    if (!bars) return;
    uint64_t max = 1;
    for (size_t b = 0; b < inc->nbuckets; b++) {
        size_t bar = (size_t)((inc->buckets[b].minute - first) / width);
        if (bar >= nbars) bar = nbars - 1;
        bars[bar][s->of_group[inc->buckets[b].group]] += inc->buckets[b].count;
    }
    for (size_t bar = 0; bar < nbars; bar++) {
        uint64_t sum = 0;
        for (int k = 0; k <= OVERVIEW_SERIES; k++)
            sum += bars[bar][k];
        if (sum > max) max = sum;
    }
    double plot_w = CHART_W - CHART_LEFT - 8, plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
    double bw = plot_w / (double)nbars;
    if (bw > OVERVIEW_MAX_BAR_PX) bw = OVERVIEW_MAX_BAR_PX; /* a short log: bars, not a wall */
    fprintf(out, "<figure class=\"%s\"><figcaption>%s (bars of %lld min, UTC)</figcaption>\n", cls,
            title, (long long)width);
    fprintf(out,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
            CHART_W, CHART_H, CHART_W, CHART_H, title);
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%llu</text>\n", CHART_LEFT - 4,
            CHART_TOP + 8, (unsigned long long)max);
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n", CHART_LEFT - 4,
            CHART_H - CHART_BOTTOM);
    for (size_t bar = 0; bar < nbars; bar++) {
        double y = CHART_H - CHART_BOTTOM;
        for (int k = 0; k <= OVERVIEW_SERIES; k++) {
            if (!bars[bar][k]) continue;
            double h = plot_h * (double)bars[bar][k] / (double)max;
            y -= h;
            fprintf(out,
                    "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\"><title>%llu ",
                    CHART_LEFT + bw * (double)bar, y, bw > 2 ? bw - 1 : bw, h, palette[k],
                    (unsigned long long)bars[bar][k]);
            html_put_escaped(out, s->names[k] ? s->names[k] : "other");
            fputs("</title></rect>\n", out);
        }
    }
    write_time_label(out, CHART_LEFT, first, "start");
    if (bw * (double)nbars >= 240) /* room for both labels */
        write_time_label(out, CHART_LEFT + bw * (double)nbars, first + (int64_t)nbars * width,
                         "end");
    fputs("</svg>\n<ul class=\"legend\">", out);
    for (int k = 0; k <= OVERVIEW_SERIES; k++) {
        if (!s->names[k]) continue;
        fprintf(out, "<li><i style=\"background:%s\"></i>", palette[k]);
        html_put_escaped(out, s->names[k]);
        fprintf(out, " %llu</li>", (unsigned long long)s->totals[k]);
    }
    fputs("</ul></figure>\n", out);
    free(bars);
}

static void write_top(FILE *out, const struct counter *c, const char *title)
{
    const struct counter_entry *top[OVERVIEW_TOP];
    size_t n = counter_top(c, top, OVERVIEW_TOP);
    if (!n) return;
    fprintf(out, "<table class=\"top\"><tr><th>%s</th><th>incidents</th></tr>\n", title);
    for (size_t i = 0; i < n; i++) {
        fputs("<tr><td>", out);
        html_put_escaped(out, top[i]->name);
        fprintf(out, "</td><td class=\"count\">%llu</td></tr>\n",
                (unsigned long long)top[i]->count);
    }
    if (c->n > n) fprintf(out, "<tr><td class=\"meta\">%zu more</td><td></td></tr>\n", c->n - n);
    fputs("</table>\n", out);
}

void html_write_overview(FILE *out, const struct incidents *inc)
{
    if (!inc->ngroups) return;
    fputs("<section class=\"overview\">\n<h2>Overview</h2>\n<div class=\"charts\">\n", out);
    char **causes = calloc(inc->ngroups, sizeof *causes);
    char **services = calloc(inc->ngroups, sizeof *services);
    char(*labels)[300] = calloc(inc->ngroups, sizeof *labels);
    struct series by_cause, by_service;
    if (causes && services && labels && inc->nbuckets) {
        for (size_t g = 0; g < inc->ngroups; g++) {
            causes[g] = inc->groups[g].cause;
            /* A service's series sums its clients (the table splits them by client host). */
            const struct incident_group *grp = &inc->groups[g];
            snprintf(labels[g], sizeof labels[g], "%s%s", grp->service,
                     grp->client ? " ← its clients" : "");
            services[g] = labels[g];
        }
        if (series_build(&by_cause, inc, causes) == 0) {
            write_chart(out, inc, &by_cause, "Incidents over time by cause", "by-cause");
            free(by_cause.of_group);
        }
        if (series_build(&by_service, inc, services) == 0) {
            write_chart(out, inc, &by_service, "Incidents over time by service", "by-service");
            free(by_service.of_group);
        }
    }
    free(causes);
    free(services);
    free(labels);
    fputs("</div>\n<div class=\"tops\">\n", out);
    write_top(out, &inc->peers, "top peers");
    write_top(out, &inc->progs, "top programs");
    if (incidents_hosts(inc) > 1) write_top(out, &inc->hosts, "top hosts");
    fputs("</div>\n</section>\n", out);
}
