// SPDX-License-Identifier: MIT
/*
 * pairs.c: joins the client's and the server's records of one TCP connection.
 *
 * When both ends run under the shim (on one host, or two hosts whose logs are read together),
 * each writes its own record of the same connection: the server's clean close of an idle
 * keep-alive connection, the client's reset when it reuses it 0.2 s later. Side by side, on
 * one time axis, they tell the whole story, so report and export show them as one incident with
 * one verdict. A connection is named by its two addresses (the client's local = the server's
 * peer and the other way round; a server address the shim did not learn matches any); a hash of
 * the client's address finds the candidates, and their lifetimes must overlap. Loopback addresses
 * name a connection only within one host, so across hosts they never match.
 */
#include "pairs.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_INDEX SIZE_MAX

double pairs_start_ms(const struct log_record *rec)
{
    double last_t = rec->nevents ? rec->events[rec->nevents - 1].t_ms : 0;
    double age = !isnan(rec->age_ms) ? rec->age_ms : last_t;
    return (double)rec->time_us / 1000.0 - age;
}

double pairs_event_ms(const struct log_record *rec, double t_ms)
{
    return pairs_start_ms(rec) + t_ms;
}

static int is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]", 5) == 0 ||
           strncmp(addr, "[::ffff:127.", 12) == 0;
}

static int is_server(const struct log_record *rec)
{
    return strcmp(rec->role, "server") == 0;
}

static int known(const char *addr)
{
    return addr && strcmp(addr, "unknown") != 0;
}

/*
 * A record that can name its connection: inet, a side, and the client's address (its ephemeral
 * port makes it specific). A server's own address may be unknown (a shim that did not learn it
 * at accept); the client's record then still names the server.
 */
static int joinable(const struct log_record *rec)
{
    if (!rec->role || !rec->family || strncmp(rec->family, "inet", 4) != 0) return 0;
    if (!strcmp(rec->role, "client")) return known(rec->local) && known(rec->peer);
    return !strcmp(rec->role, "server") && known(rec->peer) && rec->local;
}

/* The connection's client address (hash of). */
static uint64_t conn_hash(const struct log_record *rec)
{
    const char *c = is_server(rec) ? rec->peer : rec->local;
    uint64_t h = 1469598103934665603ull;
    for (const char *p = c; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static int same_connection(const struct log_record *client, const struct log_record *server)
{
    if (strcmp(client->local, server->peer) != 0 ||
        (known(server->local) && strcmp(client->peer, server->local) != 0))
        return 0;
    if ((is_loopback(client->local) || is_loopback(client->peer)) && client->host && server->host &&
        strcmp(client->host, server->host) != 0)
        return 0;
    double cs = pairs_start_ms(client), ce = (double)client->time_us / 1000.0;
    double ss = pairs_start_ms(server), se = (double)server->time_us / 1000.0;
    double slack = PAIRS_SLACK_US / 1000.0;
    return cs <= se + slack && ss <= ce + slack;
}

/* "closed the connection", "recv got EOF", "send failed with EPIPE". */
static void action_of(const struct log_record *rec, char *buf, size_t len)
{
    const char *op = rec->op ? rec->op : "a call";
    if (rec->type == LOG_CLOSE && !incidents_is_incident(rec))
        snprintf(buf, len, "closed the connection");
    else if (rec->type == LOG_CLOSE)
        snprintf(buf, len, "closed the connection (%s)", rec->cause.code);
    else if (rec->type == LOG_EOF)
        snprintf(buf, len, "%s got EOF", op);
    else
        snprintf(buf, len, "%s failed with %s", op, rec->err ? rec->err : "an error");
}

static int is_send_op(const char *op)
{
    return !strncmp(op, "send", 4) || !strncmp(op, "write", 5) || !strncmp(op, "splice", 6) ||
           !strncmp(op, "copy", 4);
}

static int is_recv_op(const char *op)
{
    return !strncmp(op, "recv", 4) || !strncmp(op, "read", 4);
}

/* The client's last data call (bytes moved) before at_ms (absolute), or NULL. */
static const struct log_event *last_data_before(const struct log_record *c, double at_ms)
{
    const struct log_event *last = NULL;
    for (size_t i = 0; i < c->nevents; i++) {
        const struct log_event *ev = &c->events[i];
        if (pairs_event_ms(c, ev->t_ms) > at_ms) break;
        if (ev->has_ret && ev->ret > 0 && (is_send_op(ev->op) || is_recv_op(ev->op))) last = ev;
    }
    return last;
}

/* True when the client sent something after at_ms (absolute). */
static int sent_after(const struct log_record *c, double at_ms)
{
    for (size_t i = 0; i < c->nevents; i++) {
        const struct log_event *ev = &c->events[i];
        if (pairs_event_ms(c, ev->t_ms) > at_ms && is_send_op(ev->op)) return 1;
    }
    return 0;
}

/* "1.2 s" or "11 ms". */
static void fmt_secs(double ms, char *buf, size_t len)
{
    if (ms >= 1000)
        snprintf(buf, len, "%.1f s", ms / 1000);
    else
        snprintf(buf, len, "%.0f ms", ms);
}

/*
 * The verdict is composed from what the two records show, not picked from templates: who closed
 * (or failed) first and when, how long after that end's last exchange, what the client had
 * outstanding at that moment (a request sent and unanswered, or nothing: it had read the last
 * response), and what the other end did next.
 */
static void make_verdict(struct conn_pair *p)
{
    const struct log_record *c = p->client, *s = p->server;
    const struct log_record *first = s->time_us <= c->time_us ? s : c;
    const struct log_record *second = first == s ? c : s;
    double base = p->base_ms, first_ms = (double)first->time_us / 1000.0;
    double at = (first_ms - base) / 1000.0;
    double later = (double)(second->time_us - first->time_us) / 1e6;
    char a1[160], a2[160], idle[128] = "", outstanding[160] = "", t[32];
    action_of(first, a1, sizeof a1);
    action_of(second, a2, sizeof a2);
    /* The server's close after an idle spell is called its idle timeout only
     * when the client's cause says so too: after a restart, a reload or an
     * admin kill (early_close) the server's record shows the same idle close. */
    const char *client_cause = c->cause.code ? c->cause.code : "";
    int idle_cause = !strcmp(client_cause, "idle_reuse") || !strcmp(client_cause, "idle_close");
    if (!isnan(first->idle_ms)) {
        fmt_secs(first->idle_ms, t, sizeof t);
        snprintf(idle, sizeof idle, " after %s idle%s", t,
                 first == s && first->type == LOG_CLOSE && first->idle_ms >= 1000 && idle_cause
                     ? " (its idle or keep-alive timeout)"
                     : "");
    }
    const struct log_event *last = last_data_before(c, first_ms);
    if (!last) {
        snprintf(outstanding, sizeof outstanding, ", before the client had sent anything");
    } else if (is_send_op(last->op)) {
        fmt_secs(first_ms - pairs_event_ms(c, last->t_ms), t, sizeof t);
        snprintf(outstanding, sizeof outstanding,
                 ", while the client's request (%lld B sent %s before) was unanswered", last->ret,
                 t);
    } else {
        snprintf(outstanding, sizeof outstanding,
                 ", with nothing outstanding (the client had read the last response)");
    }
    const char *reused =
        second == c && c->reused == 1 && sent_after(c, first_ms) ? " reused it and" : "";
    const char *cause = second->cause.code ? second->cause.code : first->cause.code;
    int n = snprintf(p->verdict, sizeof p->verdict,
                     "the %s %s at %.1f s%s%s; the %s%s %s %.1f s later%s%s%s",
                     first == s ? "server" : "client", a1, at, idle, outstanding,
                     second == s ? "server" : "client", reused, a2, later, cause ? " (" : "",
                     cause ? cause : "", cause ? ")" : "");
    if (n < 0 || (size_t)n >= sizeof p->verdict) /* cut, never overrun: say so */
        memcpy(p->verdict + sizeof p->verdict - 4, "...", 4);
}

struct candidate {
    const struct log_record *rec;
    int incident;
    size_t next; /* chain in the hash bucket */
    size_t pair; /* NO_INDEX when unpaired */
};

int pairs_find(const struct incidents *inc, struct pairs *out)
{
    memset(out, 0, sizeof *out);
    size_t n = inc->ndetail + inc->ncloses, nb = 64;
    while (nb < 2 * n)
        nb *= 2;
    struct candidate *cand = calloc(n ? n : 1, sizeof *cand);
    size_t *heads = malloc(nb * sizeof *heads);
    out->pairs = calloc(inc->ndetail ? inc->ndetail : 1, sizeof *out->pairs);
    out->shown = calloc(inc->ndetail ? inc->ndetail : 1, sizeof *out->shown);
    int rc = 0;
    if (!cand || !heads || !out->pairs || !out->shown) {
        rc = -ENOMEM;
        goto unpaired;
    }
    for (size_t i = 0; i < nb; i++)
        heads[i] = NO_INDEX;
    for (size_t i = 0; i < n; i++) {
        const struct log_record *rec =
            i < inc->ndetail ? &inc->detail[i] : &inc->closes[i - inc->ndetail];
        cand[i] = (struct candidate){rec, i < inc->ndetail, NO_INDEX, NO_INDEX};
        if (!joinable(rec) || !is_server(rec)) continue;
        size_t b = conn_hash(rec) & (nb - 1);
        cand[i].next = heads[b];
        heads[b] = i;
    }
    /* Each client-side record takes the unpaired server-side record closest in time. */
    for (size_t i = 0; i < n; i++) {
        const struct log_record *c = cand[i].rec;
        if (!joinable(c) || is_server(c)) continue;
        size_t best = NO_INDEX;
        int64_t best_gap = INT64_MAX;
        for (size_t j = heads[conn_hash(c) & (nb - 1)]; j != NO_INDEX; j = cand[j].next) {
            if (cand[j].pair != NO_INDEX || (!cand[i].incident && !cand[j].incident)) continue;
            if (!same_connection(c, cand[j].rec)) continue;
            int64_t gap = llabs(cand[j].rec->time_us - c->time_us);
            if (gap < best_gap) {
                best_gap = gap;
                best = j;
            }
        }
        if (best == NO_INDEX || out->npairs == inc->ndetail) continue;
        struct conn_pair *p = &out->pairs[out->npairs];
        p->client = c;
        p->server = cand[best].rec;
        double a = pairs_start_ms(c), b = pairs_start_ms(p->server);
        p->base_ms = a < b ? a : b;
        make_verdict(p);
        cand[i].pair = cand[best].pair = out->npairs++;
    }
unpaired:;
    unsigned char *done = calloc(out->npairs ? out->npairs : 1, 1);
    for (size_t i = 0; out->shown && done && i < inc->ndetail; i++) {
        size_t pi = cand ? cand[i].pair : NO_INDEX;
        if (pi == NO_INDEX) {
            out->shown[out->nshown++] = (struct shown_incident){&inc->detail[i], NULL};
        } else if (!done[pi]) { /* shown once, at the first end that is a kept incident */
            done[pi] = 1;
            out->shown[out->nshown++] = (struct shown_incident){&inc->detail[i], &out->pairs[pi]};
        }
    }
    if (!done) rc = -ENOMEM;
    free(done);
    free(cand);
    free(heads);
    return rc;
}

void pairs_free(struct pairs *p)
{
    free(p->pairs);
    free(p->shown);
    memset(p, 0, sizeof *p);
}
