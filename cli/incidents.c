// SPDX-License-Identifier: MIT
/*
 * incidents.c: folds a stream of records into what a human wants to see first.
 *
 * Incidents (reset, eof and error records, and close records that carry a cause) are grouped by
 * host x side x service x cause, so that a day of client aborts at one server is one row and
 * not one row per ephemeral port (see struct incident_group), with counts, first/last seen, the
 * programs and errnos involved. Counts are exact even under the shim's rate limit: a record
 * stands for itself plus its "suppressed" count, and a summary record's entries add what no
 * record reported. Retry and inject records become tallies ("3 replay ok"). Incidents are also
 * counted per minute and group (the overview's charts) and per host, program and peer.
 *
 * Memory is bounded whatever the input size: groups, minutes and counters grow with the number
 * of distinct keys only (hash-indexed); full records are kept for detail up to
 * INCIDENTS_MAX_DETAIL records / _EVENTS events, and the most recent clean closes up to
 * INCIDENTS_MAX_CLOSES (for finding the other end of a connection).
 */
#include "incidents.h"

#include "slots.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void incidents_init(struct incidents *inc)
{
    memset(inc, 0, sizeof *inc);
}

int incidents_is_incident(const struct log_record *rec)
{
    switch (rec->type) {
    case LOG_RESET:
    case LOG_ERROR:
    case LOG_EOF: return 1;
    case LOG_CLOSE: return rec->cause.code && strcmp(rec->cause.code, "none") != 0;
    case LOG_PACKET: return rec->rst_from != NULL;
    default: return 0;
    }
}

int incidents_type_is_incident(const char *type, const char *cause)
{
    if (!type) return 0;
    if (!strcmp(type, "reset") || !strcmp(type, "error") || !strcmp(type, "eof")) return 1;
    if (!strcmp(type, "packet")) return 1;
    return !strcmp(type, "close") && cause && strcmp(cause, "none") != 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void value_set_add(struct value_set *set, const char *value)
{
    if (!value) return;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->values[i], value) == 0) return;
    char *copy = set->n < INCIDENTS_MAX_VALUES ? strdup(value) : NULL;
    if (copy)
        set->values[set->n++] = copy;
    else
        set->more++; /* approximate once full: repeated extras count again */
}

static void value_set_free(struct value_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->values[i]);
    set->n = 0;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* separator that cannot occur in UTF-8 */
}

#define FNV_BASIS 1469598103934665603ull

size_t incidents_hosts(const struct incidents *inc)
{
    return inc->hosts.n;
}

/* ---- groups ----------------------------------------------------------------------------------
 */

struct group_key {
    const char *host, *role, *service, *client, *cause;
};

static uint64_t key_hash(const struct group_key *k)
{
    uint64_t h = fnv(FNV_BASIS, k->host);
    h = fnv(h, k->role);
    h = fnv(h, k->service);
    h = fnv(h, k->client ? k->client : "\x01");
    return fnv(h, k->cause);
}

static uint64_t group_hash(const struct incident_group *g)
{
    struct group_key k = {g->host, g->role, g->service, g->client, g->cause};
    return key_hash(&k);
}

static int group_is(const struct incident_group *g, const struct group_key *k)
{
    return strcmp(g->cause, k->cause) == 0 && strcmp(g->service, k->service) == 0 &&
           same(g->client, k->client) && strcmp(g->host, k->host) == 0 &&
           strcmp(g->role, k->role) == 0;
}

static uint64_t group_at_hash(size_t g, const void *ctx)
{
    const struct incidents *inc = ctx;
    return group_hash(&inc->groups[g]);
}

/* Finds or creates the group for a key; NULL when out of memory. */
static struct incident_group *group_for(struct incidents *inc, const struct group_key *k)
{
    if (slots_reserve(&inc->slots, &inc->nslots, inc->ngroups, 64, group_at_hash, inc)) return NULL;
    size_t i = key_hash(k) & (inc->nslots - 1);
    for (; inc->slots[i] != SLOT_EMPTY; i = (i + 1) & (inc->nslots - 1)) {
        struct incident_group *g = &inc->groups[inc->slots[i]];
        if (group_is(g, k)) return g;
    }
    struct incident_group *groups =
        array_reserve(inc->groups, &inc->groups_cap, inc->ngroups, sizeof *groups, 16);
    if (!groups) return NULL;
    inc->groups = groups;
    struct incident_group *g = &inc->groups[inc->ngroups];
    memset(g, 0, sizeof *g);
    g->host = strdup(k->host);
    g->role = strdup(k->role);
    g->service = strdup(k->service);
    g->client = dup_or_null(k->client);
    g->cause = strdup(k->cause);
    if (!g->host || !g->role || !g->service || (k->client && !g->client) || !g->cause) {
        free(g->host), free(g->role), free(g->service), free(g->client), free(g->cause);
        return NULL;
    }
    g->id = inc->ngroups;
    inc->slots[i] = inc->ngroups++;
    return g;
}

/* "10.1.0.5:40312" -> "10.1.0.5", "[::1]:80" -> "[::1]"; other forms unchanged. */
static void addr_host(const char *addr, char *buf, size_t len)
{
    snprintf(buf, len, "%s", addr);
    if (strncmp(buf, "unix:", 5) == 0) return;
    char *colon = strrchr(buf, ':');
    if (!colon || colon == buf) return;
    if (buf[0] == '[' ? colon[-1] == ']' : strchr(buf, ':') == colon) *colon = '\0';
}

/* The group key of a record (or a summary entry); client_buf holds the client's host. */
static void key_of(struct group_key *k, const char *host, const char *role, const char *local,
                   const char *peer, const char *cause, char *client_buf, size_t len)
{
    k->host = host ? host : "";
    k->role = role && (!strcmp(role, "client") || !strcmp(role, "server")) ? role : "?";
    k->cause = cause ? cause : "unknown";
    if (!strcmp(k->role, "server")) {
        k->service = local ? local : "?";
        addr_host(peer ? peer : "?", client_buf, len);
        k->client = client_buf;
    } else {
        k->service = peer ? peer : "?";
        k->client = NULL;
    }
}

static size_t bucket_find(struct incidents *inc, int64_t minute, size_t group);

static void bucket_add(struct incidents *inc, int64_t time_us, size_t group, uint64_t n)
{
    int64_t minute = time_us / INCIDENTS_BUCKET_US;
    size_t b = bucket_find(inc, minute, group);
    if (b != SLOT_EMPTY) inc->buckets[b].count += n;
}

static struct incident_group *group_count(struct incidents *inc, const struct group_key *k,
                                          int64_t first_us, int64_t last_us, uint64_t n,
                                          const char *prog)
{
    struct incident_group *g = group_for(inc, k);
    if (!g) return NULL;
    if (g->count == 0 || first_us < g->first_us) g->first_us = first_us;
    if (g->count == 0 || last_us > g->last_us) g->last_us = last_us;
    g->count += n;
    inc->incidents += n;
    counter_add(&inc->hosts, k->host, n);
    counter_add(&inc->progs, prog, n);
    counter_add(&inc->peers, k->client ? k->client : k->service, n);
    bucket_add(inc, last_us, g->id, n);
    return g;
}

/* ---- minutes x groups ------------------------------------------------------------------------
 */

static uint64_t bucket_hash(int64_t minute, size_t group)
{
    uint64_t h = (uint64_t)minute * 0x9E3779B97F4A7C15ull ^ (uint64_t)group * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 31);
}

static uint64_t bucket_at_hash(size_t b, const void *ctx)
{
    const struct incidents *inc = ctx;
    return bucket_hash(inc->buckets[b].minute, inc->buckets[b].group);
}

static size_t bucket_find(struct incidents *inc, int64_t minute, size_t group)
{
    if (slots_reserve(&inc->bucket_slots, &inc->nbucket_slots, inc->nbuckets, 256, bucket_at_hash,
                      inc))
        return SLOT_EMPTY;
    size_t i = bucket_hash(minute, group) & (inc->nbucket_slots - 1);
    for (; inc->bucket_slots[i] != SLOT_EMPTY; i = (i + 1) & (inc->nbucket_slots - 1)) {
        struct time_bucket *b = &inc->buckets[inc->bucket_slots[i]];
        if (b->minute == minute && b->group == group) return inc->bucket_slots[i];
    }
    struct time_bucket *buckets =
        array_reserve(inc->buckets, &inc->buckets_cap, inc->nbuckets, sizeof *buckets, 256);
    if (!buckets) return SLOT_EMPTY;
    inc->buckets = buckets;
    inc->buckets[inc->nbuckets] = (struct time_bucket){.minute = minute, .group = group};
    inc->bucket_slots[i] = inc->nbuckets;
    return inc->nbuckets++;
}

/* ---- records -----------------------------------------------------------------------------------
 */

const char *incidents_seen_errno(const struct log_record *rec)
{
    if (rec->err) return rec->err;
    /* An EOF record carries no errno of its own, but the program may have gone on to a call that
     * failed (curl's send after the peer's FIN: "Broken pipe"). Results that are not failures
     * (a non-blocking connect in progress, a would-block read, an interrupted call) are skipped. */
    static const char *const not_failures[] = {"EINPROGRESS", "EAGAIN", "EWOULDBLOCK", "EINTR",
                                               "EALREADY"};
    for (size_t i = rec->nevents; i-- > 0;) {
        const char *e = rec->events[i].err;
        if (!e[0]) continue;
        int failure = 1;
        for (size_t k = 0; k < sizeof not_failures / sizeof not_failures[0]; k++)
            if (!strcmp(e, not_failures[k])) failure = 0;
        if (failure) return e;
    }
    return NULL;
}

static void group_account(struct incidents *inc, const struct log_record *rec)
{
    char client[256];
    struct group_key k;
    key_of(&k, rec->host, rec->role, rec->local, rec->peer, rec->cause.code, client, sizeof client);
    uint64_t n = 1 + (rec->suppressed > 0 ? (uint64_t)rec->suppressed : 0);
    inc->counted_only += n - 1;
    struct incident_group *g = group_count(inc, &k, rec->time_us, rec->time_us, n, rec->prog);
    if (!g) return;
    g->records++;
    if (!g->hint) g->hint = dup_or_null(rec->cause.hint);
    value_set_add(&g->progs, rec->prog);
    value_set_add(&g->errnos, incidents_seen_errno(rec));
}

static void tally(struct tally *t, size_t *n, const char *action, const char *outcome,
                  const char *reason, uint64_t count)
{
    action = action ? action : "?";
    for (size_t i = 0; i < *n; i++) {
        if (same(t[i].action, action) && same(t[i].outcome, outcome) && same(t[i].reason, reason)) {
            t[i].count += count;
            return;
        }
    }
    if (*n == INCIDENTS_MAX_TALLIES) {
        t[*n - 1].count += count; /* pathological variety: fold into the last line */
        return;
    }
    struct tally *nt = &t[(*n)++];
    nt->action = strdup(action);
    nt->outcome = dup_or_null(outcome);
    nt->reason = dup_or_null(reason);
    nt->count = count;
}

static void keep_detail(struct incidents *inc, struct log_record *rec)
{
    if (inc->ndetail >= INCIDENTS_MAX_DETAIL ||
        rec->nevents > INCIDENTS_MAX_DETAIL_EVENTS - inc->detail_events)
        goto omit;
    struct log_record *detail =
        array_reserve(inc->detail, &inc->detail_cap, inc->ndetail, sizeof *detail, 64);
    if (!detail) goto omit;
    inc->detail = detail;
    inc->detail[inc->ndetail++] = *rec;
    inc->detail_events += rec->nevents;
    memset(rec, 0, sizeof *rec);
    return;
omit:
    inc->detail_omitted++;
    log_record_free(rec);
}

/* Keeps a clean close of an inet connection in the ring of recent ones. */
static void keep_close(struct incidents *inc, struct log_record *rec)
{
    if (!rec->local || !rec->peer || !rec->family || strncmp(rec->family, "inet", 4) != 0) {
        log_record_free(rec);
        return;
    }
    if (!inc->closes) {
        inc->closes = calloc(INCIDENTS_MAX_CLOSES, sizeof *inc->closes);
        if (!inc->closes) {
            log_record_free(rec);
            return;
        }
    }
    if (rec->nevents > INCIDENTS_CLOSE_EVENTS) {
        /* Only the end of its timeline is drawn beside the other end: keep memory bounded. */
        size_t drop = rec->nevents - INCIDENTS_CLOSE_EVENTS;
        memmove(rec->events, rec->events + drop, INCIDENTS_CLOSE_EVENTS * sizeof *rec->events);
        rec->nevents = INCIDENTS_CLOSE_EVENTS;
        rec->events_truncated += drop;
    }
    struct log_record *slot = &inc->closes[inc->closes_next];
    if (inc->ncloses == INCIDENTS_MAX_CLOSES)
        log_record_free(slot);
    else
        inc->ncloses++;
    *slot = *rec;
    memset(rec, 0, sizeof *rec);
    inc->closes_next = (inc->closes_next + 1) % INCIDENTS_MAX_CLOSES;
}

/* A summary record: what the rate limit left out, per key. */
static void add_summary(struct incidents *inc, const struct log_record *rec)
{
    int64_t since_us = rec->time_us;
    if (rec->since) logread_parse_time(rec->since, &since_us);
    for (size_t i = 0; i < rec->ncounts; i++) {
        const struct log_count *c = &rec->counts[i];
        if (c->suppressed <= 0) continue;
        uint64_t n = (uint64_t)c->suppressed;
        if (incidents_type_is_incident(c->type, c->cause)) {
            char client[256];
            struct group_key k;
            key_of(&k, rec->host, c->role, c->local, c->peer, c->cause, client, sizeof client);
            inc->counted_only += n;
            group_count(inc, &k, since_us, rec->time_us, n, rec->prog);
        } else if (c->type && !strcmp(c->type, "close")) {
            inc->clean_closes += n;
        } else if (c->type && !strcmp(c->type, "retry")) {
            inc->retry_records += n;
            tally(inc->retries, &inc->nretries, "(counted only)", NULL, NULL, n);
        } else if (c->type && !strcmp(c->type, "inject")) {
            inc->inject_records += n;
            tally(inc->injections, &inc->ninjections, "(counted only)", NULL, NULL, n);
        }
    }
}

/* The record's connection already counted under old_cause: count it under its cause now. */
static void regroup(struct incidents *inc, const struct log_record *rec, const char *old_cause)
{
    char client[256];
    struct group_key k;
    uint64_t n = 1 + (rec->suppressed > 0 ? (uint64_t)rec->suppressed : 0);
    key_of(&k, rec->host, rec->role, rec->local, rec->peer, old_cause, client, sizeof client);
    struct incident_group *g = group_for(inc, &k);
    if (!g || g->count < n) return;
    g->count -= n;
    if (g->records) g->records--;
    bucket_add(inc, rec->time_us, g->id, (uint64_t)0 - n); /* wraps: a subtraction */
    key_of(&k, rec->host, rec->role, rec->local, rec->peer, rec->cause.code, client, sizeof client);
    if (!(g = group_for(inc, &k))) return;
    if (g->count == 0 || rec->time_us < g->first_us) g->first_us = rec->time_us;
    if (g->count == 0 || rec->time_us > g->last_us) g->last_us = rec->time_us;
    g->count += n;
    g->records++;
    if (!g->hint) g->hint = dup_or_null(rec->cause.hint);
    value_set_add(&g->progs, rec->prog);
    value_set_add(&g->errnos, rec->err);
    bucket_add(inc, rec->time_us, g->id, n);
}

/* A packet record (rstwatch capture's): merged into the kept shim record of its connection, or
 * held for one read later. Returns 1 when it was taken. */
static int join_packet(struct incidents *inc, struct log_record *rec)
{
    for (size_t i = inc->ndetail; i-- > 0;) {
        struct log_record *d = &inc->detail[i];
        if (!packets_join_match(rec, d)) continue;
        char *old = d->cause.code ? strdup(d->cause.code) : NULL;
        if (packets_join_merge(d, rec)) regroup(inc, d, old);
        inc->packets.joined++;
        free(old);
        return 1;
    }
    return packets_join_hold(&inc->packets, rec) == 0;
}

static void add_record(struct incidents *inc, struct log_record *rec);

void incidents_add(struct incidents *inc, struct log_record *rec)
{
    inc->records++;
    if (rec->type == LOG_PACKET && join_packet(inc, rec)) return;
    add_record(inc, rec);
}

static void add_record(struct incidents *inc, struct log_record *rec)
{
    if (rec->type == LOG_PACKET) {
        free(rec->prog); /* the capture daemon's name, not the program's */
        rec->prog = NULL;
    } else if (inc->packets.n && incidents_is_incident(rec)) {
        packets_join_annotate(&inc->packets, rec);
    }
    uint64_t extra = rec->suppressed > 0 ? (uint64_t)rec->suppressed : 0;
    if (rec->type == LOG_SUMMARY) {
        inc->summaries++;
        add_summary(inc, rec);
    } else if (rec->type == LOG_RETRY) {
        inc->retry_records += 1 + extra;
        tally(inc->retries, &inc->nretries, rec->action, rec->outcome ? rec->outcome : "?",
              rec->reason, 1 + extra);
    } else if (rec->type == LOG_INJECT) {
        inc->inject_records += 1 + extra;
        tally(inc->injections, &inc->ninjections, rec->action, NULL, NULL, 1 + extra);
    } else if (!incidents_is_incident(rec)) {
        inc->clean_closes += 1 + extra;
        keep_close(inc, rec);
        return;
    } else {
        group_account(inc, rec);
        keep_detail(inc, rec);
        return;
    }
    log_record_free(rec);
}

static int cmp_group(const void *a, const void *b)
{
    const struct incident_group *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    if (x->last_us != y->last_us) return x->last_us < y->last_us ? 1 : -1;
    int c = strcmp(x->service, y->service);
    if (!c) c = strcmp(x->cause, y->cause);
    if (!c) c = strcmp(x->host, y->host);
    if (!c) c = strcmp(x->role, y->role);
    if (!c) c = strcmp(x->client ? x->client : "", y->client ? y->client : "");
    return c;
}

static int cmp_record_time(const void *a, const void *b)
{
    const struct log_record *x = a, *y = b;
    if (x->time_us != y->time_us) return x->time_us < y->time_us ? -1 : 1;
    if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
    return x->conn < y->conn ? -1 : x->conn > y->conn;
}

static int cmp_bucket(const void *a, const void *b)
{
    const struct time_bucket *x = a, *y = b;
    if (x->minute != y->minute) return x->minute < y->minute ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group;
}

/* Drops the groups that regroup() emptied, and their minutes. Before sorting: a group's id is
 * its index, and the minutes name groups by it. */
static void drop_empty_groups(struct incidents *inc)
{
    size_t k = 0;
    for (size_t g = 0; g < inc->ngroups; g++)
        k += inc->groups[g].count != 0;
    if (k == inc->ngroups) return;
    size_t *map = malloc(inc->ngroups * sizeof *map);
    if (!map) return; /* out of memory: empty rows rather than wrong ones */
    k = 0;
    for (size_t g = 0; g < inc->ngroups; g++) {
        struct incident_group *grp = &inc->groups[g];
        map[g] = SIZE_MAX;
        if (grp->count == 0) {
            free(grp->host), free(grp->role), free(grp->service), free(grp->client);
            free(grp->cause), free(grp->hint);
            value_set_free(&grp->progs);
            value_set_free(&grp->errnos);
            continue;
        }
        map[g] = k;
        grp->id = k;
        inc->groups[k++] = *grp;
    }
    size_t nb = 0;
    for (size_t b = 0; b < inc->nbuckets; b++) {
        struct time_bucket tb = inc->buckets[b];
        if (!tb.count || map[tb.group] == SIZE_MAX) continue;
        tb.group = map[tb.group];
        inc->buckets[nb++] = tb;
    }
    free(map);
    inc->nbuckets = nb;
    inc->ngroups = k;
}

void incidents_finish(struct incidents *inc)
{
    struct log_record rec;
    while (packets_join_release(&inc->packets, &rec))
        add_record(inc, &rec); /* no shim record claimed it: an incident of its own */
    drop_empty_groups(inc);
    if (inc->ngroups) {
        qsort(inc->groups, inc->ngroups, sizeof *inc->groups, cmp_group);
        /* The minute buckets name groups by insertion order: follow the sort. */
        inc->group_order = malloc(inc->ngroups * sizeof *inc->group_order);
        if (inc->group_order) {
            for (size_t g = 0; g < inc->ngroups; g++)
                inc->group_order[inc->groups[g].id] = g;
            for (size_t b = 0; b < inc->nbuckets; b++)
                inc->buckets[b].group = inc->group_order[inc->buckets[b].group];
        } else {
            inc->nbuckets = 0; /* out of memory: no charts rather than wrong ones */
        }
    }
    if (inc->nbuckets) qsort(inc->buckets, inc->nbuckets, sizeof *inc->buckets, cmp_bucket);
    if (inc->ndetail) qsort(inc->detail, inc->ndetail, sizeof *inc->detail, cmp_record_time);
    /* The hash indexes refer to the old order; nothing looks anything up after finishing. */
    free(inc->slots);
    free(inc->bucket_slots);
    inc->slots = inc->bucket_slots = NULL;
    inc->nslots = inc->nbucket_slots = 0;
}

static void tallies_free(struct tally *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].action);
        free(t[i].outcome);
        free(t[i].reason);
    }
}

void incidents_free(struct incidents *inc)
{
    for (size_t g = 0; g < inc->ngroups; g++) {
        struct incident_group *grp = &inc->groups[g];
        free(grp->host), free(grp->role), free(grp->service), free(grp->client);
        free(grp->cause), free(grp->hint);
        value_set_free(&grp->progs);
        value_set_free(&grp->errnos);
    }
    free(inc->groups);
    free(inc->slots);
    for (size_t i = 0; i < inc->ndetail; i++)
        log_record_free(&inc->detail[i]);
    free(inc->detail);
    for (size_t i = 0; inc->closes && i < INCIDENTS_MAX_CLOSES; i++)
        log_record_free(&inc->closes[i]);
    free(inc->closes);
    tallies_free(inc->retries, inc->nretries);
    tallies_free(inc->injections, inc->ninjections);
    counter_free(&inc->hosts);
    counter_free(&inc->progs);
    counter_free(&inc->peers);
    free(inc->buckets);
    free(inc->bucket_slots);
    free(inc->group_order);
    packets_join_free(&inc->packets);
    incidents_init(inc);
}

void incidents_group_label(const struct incident_group *g, char *buf, size_t len)
{
    if (g->client)
        snprintf(buf, len, "%s ← %s", g->service, g->client);
    else
        snprintf(buf, len, "%s", g->service);
}

void incidents_put_tallies(FILE *out, const struct tally *t, size_t n,
                           void (*put)(FILE *out, const char *s))
{
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s%llu ", i ? ", " : "", (unsigned long long)t[i].count);
        put(out, t[i].action ? t[i].action : "?");
        if (t[i].outcome) {
            fputc(' ', out);
            put(out, t[i].outcome);
        }
        if (t[i].reason) {
            fputc(' ', out);
            fputc('(', out);
            put(out, t[i].reason);
            fputc(')', out);
        }
    }
}
