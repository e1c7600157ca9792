// SPDX-License-Identifier: MIT
/*
 * events.c: incidents of one service that are one event.
 *
 * A restart or reload of a server, or an admin killing its connections, fails every pooled
 * connection to it at once: each client record alone says "closed early", and a list of ten of
 * them hides that it happened once. Likewise a server-side timeout (gunicorn's worker timeout,
 * php-fpm's request_terminate_timeout) fails every slow request after the same wait, whichever
 * cause each record was given. Both are found here from the records' facts: the service, when
 * the connection was closed (the server's own record's time when both ends are joined), and how
 * long the request had waited.
 */
#include "events.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cand {
    const struct log_record *client;
    double close_ms; /* when the connection was closed, ms since the epoch */
    int server_time;
    int used;
};

static int is_one_of(const char *code, const char *const *list)
{
    for (; code && *list; list++)
        if (!strcmp(code, *list)) return 1;
    return 0;
}

static const char *const timeout_causes[] = {"response_timeout", "reset_before_response", "unknown",
                                             NULL};
static const char *const restart_causes[] = {
    "early_close",      "idle_reuse", "reset_before_response", "write_after_peer_fin",
    "reset_mid_stream", "unknown",    "path_state_lost",       NULL};

static const char *host_key(const struct log_record *r)
{
    /* Loopback addresses name a service only within one host. */
    int loopback = r->peer && (!strncmp(r->peer, "127.", 4) || !strncmp(r->peer, "[::1]", 5));
    return loopback ? r->host : NULL;
}

static int same_service(const struct log_record *a, const struct log_record *b)
{
    const char *ha = host_key(a), *hb = host_key(b);
    return !strcmp(a->peer, b->peer) && ((!ha && !hb) || (ha && hb && !strcmp(ha, hb)));
}

static int cmp_service(const struct log_record *a, const struct log_record *b)
{
    int c = strcmp(a->peer, b->peer);
    if (c) return c;
    const char *ha = host_key(a), *hb = host_key(b);
    return strcmp(ha ? ha : "", hb ? hb : "");
}

static int by_service_elapsed(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    int c = cmp_service(a->client, b->client);
    if (c) return c;
    return (a->client->idle_ms > b->client->idle_ms) - (a->client->idle_ms < b->client->idle_ms);
}

static int by_service_close(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    int c = cmp_service(a->client, b->client);
    if (c) return c;
    return (a->close_ms > b->close_ms) - (a->close_ms < b->close_ms);
}

static void count_cause(struct service_event *e, const char *code)
{
    code = code ? code : "unknown";
    for (size_t i = 0; i < e->ncauses; i++)
        if (!strcmp(e->causes[i].code, code)) {
            e->causes[i].n++;
            return;
        }
    if (e->ncauses < EVENTS_MAX_CAUSES) {
        e->causes[e->ncauses].code = code;
        e->causes[e->ncauses++].n = 1;
    }
}

/* Adds the event made of the candidates c[idx[0..n-1]] and marks them used. */
static int push(struct service_events *out, size_t *cap, struct cand *c, const size_t *idx,
                size_t n, enum service_event_kind kind)
{
    if (out->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 8;
        struct service_event *ev = realloc(out->ev, ncap * sizeof *ev);
        if (!ev) return -ENOMEM;
        out->ev = ev;
        *cap = ncap;
    }
    struct service_event *e = &out->ev[out->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->service = c[idx[0]].client->peer;
    e->host = host_key(c[idx[0]].client);
    e->n = n;
    e->server_times = 1;
    e->first_us = INT64_MAX;
    e->last_us = INT64_MIN;
    e->elapsed_lo = INFINITY;
    e->elapsed_hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        struct cand *k = &c[idx[i]];
        const struct log_record *r = k->client;
        int64_t t = kind == EVENT_RESTART ? (int64_t)llround(k->close_ms * 1000.0) : r->time_us;
        if (t < e->first_us) e->first_us = t;
        if (t > e->last_us) e->last_us = t;
        if (!k->server_time) e->server_times = 0;
        if (r->idle_ms < e->elapsed_lo) e->elapsed_lo = r->idle_ms;
        if (r->idle_ms > e->elapsed_hi) e->elapsed_hi = r->idle_ms;
        count_cause(e, r->cause.code);
        k->used = 1;
    }
    return 0;
}

static int by_first(const void *x, const void *y)
{
    const struct service_event *a = x, *b = y;
    return (a->first_us > b->first_us) - (a->first_us < b->first_us);
}

static int timeout_candidate(const struct cand *k)
{
    const struct log_record *r = k->client;
    return !k->used && is_one_of(r->cause.code, timeout_causes) && !isnan(r->idle_ms) &&
           r->idle_ms >= EVENTS_TIMEOUT_MIN_MS && r->exchanges >= 1;
}

static int restart_candidate(const struct cand *k)
{
    /* A restart is the server's end closing: not a reset that the capture
     * says came from the path or this host, nor a packet record alone whose
     * sender it could not tell (its cause "unknown" says nothing else). */
    const struct log_record *r = k->client;
    const char *from = r->rst_from;
    if (from ? strcmp(from, "peer") != 0 : r->type == LOG_PACKET) return 0;
    return !k->used && is_one_of(r->cause.code, restart_causes);
}

/*
 * One pass over c (sorted by service, then by key): runs of candidates of one service whose key
 * stays within width of the run's first become events of kind when they have two or more.
 */
static int find_runs(struct service_events *out, size_t *cap, struct cand *c, size_t n, size_t *idx,
                     enum service_event_kind kind, double width)
{
    int (*candidate)(const struct cand *) =
        kind == EVENT_TIMEOUT ? timeout_candidate : restart_candidate;
    size_t k = 0;
    double start = 0;
    for (size_t j = 0; j <= n; j++) {
        int eligible = j < n && candidate(&c[j]);
        double key = 0;
        if (eligible) key = kind == EVENT_TIMEOUT ? c[j].client->idle_ms : c[j].close_ms;
        int ends = j == n || (k && (!same_service(c[idx[0]].client, c[j].client) ||
                                    (eligible && key - start > width)));
        if (ends) {
            if (k >= 2) {
                int rc = push(out, cap, c, idx, k, kind);
                if (rc) return rc;
            }
            k = 0;
        }
        if (!eligible) continue;
        if (!k) start = key;
        idx[k++] = j;
    }
    return 0;
}

int events_find(const struct pairs *pairs, struct service_events *out)
{
    memset(out, 0, sizeof *out);
    size_t m = pairs->nshown ? pairs->nshown : 1;
    struct cand *c = calloc(m, sizeof *c);
    size_t *idx = calloc(m, sizeof *idx);
    if (!c || !idx) {
        free(c), free(idx);
        return -ENOMEM;
    }
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < pairs->nshown; i++) {
        const struct shown_incident *si = &pairs->shown[i];
        const struct log_record *r = si->pair ? si->pair->client : si->rec;
        if (!r->role || strcmp(r->role, "client") != 0 || !r->peer) continue;
        c[n].client = r;
        c[n].server_time = si->pair != NULL;
        c[n].close_ms = (double)(si->pair ? si->pair->server->time_us : r->time_us) / 1000.0;
        n++;
    }
    /* Shared timeouts first: a restart's window would also catch requests that timed out together.
     */
    qsort(c, n, sizeof *c, by_service_elapsed);
    int rc = find_runs(out, &cap, c, n, idx, EVENT_TIMEOUT, EVENTS_TIMEOUT_BAND_MS);
    if (!rc) {
        qsort(c, n, sizeof *c, by_service_close);
        rc = find_runs(out, &cap, c, n, idx, EVENT_RESTART, EVENTS_RESTART_WINDOW_MS);
    }
    free(c), free(idx);
    if (rc) {
        events_free(out);
        return rc;
    }
    if (out->n > 1) qsort(out->ev, out->n, sizeof *out->ev, by_first);
    return 0;
}

void events_free(struct service_events *e)
{
    free(e->ev);
    memset(e, 0, sizeof *e);
}

const char *events_kind_name(enum service_event_kind kind)
{
    return kind == EVENT_RESTART ? "server restart or reload" : "one timeout";
}
