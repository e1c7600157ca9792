// SPDX-License-Identifier: MIT
/*
 * packets_join.c: one connection seen twice, from inside the program (the shim's record) and on
 * the wire (rstwatch capture's packet record of its RST), made one incident (see
 * packets_join.h).
 *
 * The two are matched by host, local and peer address, and time: the RST arrives before the call
 * that fails on it, possibly long before when the program was idle, so a packet record matches a
 * shim record written up to an hour after it and at most a few seconds before it (the capture's
 * clock and verdict window). The shim record keeps its timeline and gains the packet's fields;
 * when the path sent the reset its cause becomes path_reset with the capture's hint, since the
 * program's own view ("the peer reset before any response byte") named the wrong sender; and
 * when the shim guessed the path from the timing alone but the TTL says the peer's host, the
 * cause becomes the peer's reset (before or after its first response byte).
 * Records come in any order (separate files), so packet records read first wait here; the
 * caller matches the ones read after their shim record against what it kept. A packet record
 * that matches nothing is an incident of its own: capture alone covers programs the shim cannot
 * see.
 */
#include "packets_join.h"

#include "slots.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOIN_BEFORE_US (3600LL * 1000000) /* the RST up to an hour before the failing call */
#define JOIN_AFTER_US (5LL * 1000000)     /* or shortly after it (clock, verdict window) */

static int same_str(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

int packets_join_match(const struct log_record *pkt, const struct log_record *rec)
{
    if (pkt->type != LOG_PACKET || rec->type == LOG_PACKET || rec->rst_from) return 0;
    if (pkt->host && rec->host && strcmp(pkt->host, rec->host)) return 0;
    if (!same_str(pkt->local, rec->local) || !same_str(pkt->peer, rec->peer)) return 0;
    return pkt->time_us <= rec->time_us + JOIN_AFTER_US &&
           pkt->time_us >= rec->time_us - JOIN_BEFORE_US;
}

#define MOVE(field)                                                                                \
    do {                                                                                           \
        free(rec->field);                                                                          \
        rec->field = pkt->field;                                                                   \
        pkt->field = NULL;                                                                         \
    } while (0)

int packets_join_merge(struct log_record *rec, struct log_record *pkt)
{
    MOVE(iface);
    MOVE(dir);
    MOVE(flags);
    MOVE(rst_from);
    MOVE(ip_id_seq);
    rec->ttl = pkt->ttl, rec->ip_id = pkt->ip_id, rec->seq = pkt->seq, rec->ack = pkt->ack;
    rec->win = pkt->win, rec->hops = pkt->hops, rec->peer_ttl = pkt->peer_ttl;
    rec->peer_hops = pkt->peer_hops, rec->peer_after = pkt->peer_after;
    rec->since_data_ms = pkt->since_data_ms, rec->rtt_ms = pkt->rtt_ms;
    int changed = 0;
    if (rec->rst_from && !strcmp(rec->rst_from, "path")) {
        changed = !same_str(rec->cause.code, "path_reset");
        free(rec->cause.code);
        rec->cause.code = strdup("path_reset");
        MOVE(cause.hint);
    } else if (same_str(rec->rst_from, "peer") && same_str(rec->cause.code, "path_reset")) {
        /* The shim put the reset on the path from its timing alone; the TTL
         * says the peer's host sent it, before or after its first response byte. */
        changed = 1;
        free(rec->cause.code);
        rec->cause.code = strdup(rec->bytes_in > 0 ? "reset_mid_stream" : "reset_before_response");
        MOVE(cause.hint);
    } else if (pkt->cause.hint) {
        /* The program's view stands; the wire adds who sent the reset. */
        const char *own = rec->cause.hint ? rec->cause.hint : "";
        size_t n = strlen(own) + strlen(pkt->cause.hint) + 32;
        char *h = malloc(n);
        if (h) {
            snprintf(h, n, "%s%s(capture: %s)", own, *own ? " " : "", pkt->cause.hint);
            free(rec->cause.hint);
            rec->cause.hint = h;
        }
    }
    log_record_free(pkt);
    return changed;
}

int packets_join_hold(struct packets_join *j, struct log_record *rec)
{
    if (j->n >= PACKETS_JOIN_MAX) return -1;
    struct log_record *held = array_reserve(j->held, &j->cap, j->n, sizeof *held, 64);
    if (!held) return -1;
    j->held = held;
    j->held[j->n++] = *rec;
    memset(rec, 0, sizeof *rec);
    return 0;
}

int packets_join_annotate(struct packets_join *j, struct log_record *rec)
{
    size_t best = SIZE_MAX;
    int64_t best_dt = 0;
    for (size_t i = 0; i < j->n; i++) {
        if (j->held[i].type != LOG_PACKET || !packets_join_match(&j->held[i], rec)) continue;
        int64_t dt = llabs(rec->time_us - j->held[i].time_us);
        if (best == SIZE_MAX || dt < best_dt) best = i, best_dt = dt;
    }
    if (best == SIZE_MAX) return 0;
    j->joined++;
    int changed = packets_join_merge(rec, &j->held[best]);
    j->held[best].type = LOG_CLOSE; /* emptied: skipped from now on */
    return changed;
}

int packets_join_release(struct packets_join *j, struct log_record *out)
{
    while (j->next < j->n) {
        struct log_record *r = &j->held[j->next++];
        if (r->type != LOG_PACKET) continue;
        *out = *r;
        memset(r, 0, sizeof *r);
        r->type = LOG_CLOSE;
        return 1;
    }
    return 0;
}

static const char *peer_word(const struct log_record *rec)
{
    if (same_str(rec->role, "client")) return "the server";
    if (same_str(rec->role, "server")) return "the client";
    return "the peer";
}

int packets_join_describe(const struct log_record *rec, char *buf, size_t len)
{
    if (!rec->rst_from) return 0;
    const char *who = rec->rst_from;
    int n;
    if (!strcmp(who, "path"))
        n = snprintf(buf, len, "a device on the path, %lld hop%s away (%s is %lld)", rec->hops,
                     rec->hops == 1 ? "" : "s", peer_word(rec), rec->peer_hops);
    else if (!strcmp(who, "peer"))
        n = snprintf(buf, len, "%s's host (its kernel or firewall, or the application)",
                     peer_word(rec));
    else if (!strcmp(who, "local"))
        n = snprintf(buf, len, "this host (its kernel or firewall, or the application)");
    else
        n = snprintf(buf, len, "unknown");
    if (n < 0 || (size_t)n >= len) return 1;
    size_t m = (size_t)n;
    if (rec->ttl != LOG_ABSENT && m < len)
        m += (size_t)snprintf(buf + m, len - m, "; TTL %lld", rec->ttl);
    if (rec->peer_ttl != LOG_ABSENT && m < len)
        m +=
            (size_t)snprintf(buf + m, len - m, " against %s's %lld", peer_word(rec), rec->peer_ttl);
    if (rec->ip_id_seq && m < len)
        m += (size_t)snprintf(buf + m, len - m, ", IP ID %s", rec->ip_id_seq);
    if (rec->peer_after > 0 && m < len)
        m += (size_t)snprintf(buf + m, len - m, ", %lld packet%s of %s's after it (a race)",
                              rec->peer_after, rec->peer_after == 1 ? "" : "s", peer_word(rec));
    if (!isnan(rec->since_data_ms) && m < len)
        m += (size_t)snprintf(buf + m, len - m, ", %.3f ms after our data", rec->since_data_ms);
    if (!isnan(rec->rtt_ms) && m < len)
        snprintf(buf + m, len - m, " (round trip %.3f ms)", rec->rtt_ms);
    return 1;
}

void packets_join_free(struct packets_join *j)
{
    for (size_t i = 0; i < j->n; i++)
        log_record_free(&j->held[i]);
    free(j->held);
    memset(j, 0, sizeof *j);
}
