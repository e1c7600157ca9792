/*
 * incidents.c: folds a stream of records into what a human wants to see first.
 *
 * Incidents (reset and error records, and close records that carry a cause) are grouped by
 * peer x cause code with counts, first/last seen, the programs and errnos involved; retry and
 * inject records become tallies ("3 replay ok"). Memory is bounded whatever the input size: the
 * groups grow with the number of distinct peer/cause pairs only (hash-indexed), and full records
 * are kept for per-incident detail up to INCIDENTS_MAX_DETAIL records / _EVENTS events, after
 * which incidents are still counted in their group but not kept.
 */
#include "incidents.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY_SLOT SIZE_MAX

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
    case LOG_CLOSE: return rec->cause_code && strcmp(rec->cause_code, "none") != 0;
    default: return 0;
    }
}

/* strdup that never returns NULL for a non-NULL input unless out of memory; NULL stays NULL. */
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

static uint64_t hash_key(const char *peer, const char *cause)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = peer; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull; /* separator that cannot occur in UTF-8 */
    for (const char *p = cause; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static int rehash(struct incidents *inc, size_t nslots)
{
    size_t *slots = malloc(nslots * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < nslots; i++)
        slots[i] = EMPTY_SLOT;
    for (size_t g = 0; g < inc->ngroups; g++) {
        size_t i = hash_key(inc->groups[g].peer, inc->groups[g].cause) & (nslots - 1);
        while (slots[i] != EMPTY_SLOT)
            i = (i + 1) & (nslots - 1);
        slots[i] = g;
    }
    free(inc->slots);
    inc->slots = slots;
    inc->nslots = nslots;
    return 0;
}

/* Finds or creates the group for peer x cause; NULL when out of memory. */
static struct incident_group *group_for(struct incidents *inc, const char *peer, const char *cause)
{
    if ((inc->ngroups + 1) * 4 > inc->nslots * 3 && rehash(inc, inc->nslots ? inc->nslots * 2 : 64))
        return NULL;
    size_t i = hash_key(peer, cause) & (inc->nslots - 1);
    for (; inc->slots[i] != EMPTY_SLOT; i = (i + 1) & (inc->nslots - 1)) {
        struct incident_group *g = &inc->groups[inc->slots[i]];
        if (strcmp(g->peer, peer) == 0 && strcmp(g->cause, cause) == 0) return g;
    }
    if (inc->ngroups == inc->groups_cap) {
        size_t cap = inc->groups_cap ? inc->groups_cap * 2 : 16;
        struct incident_group *groups = realloc(inc->groups, cap * sizeof *groups);
        if (!groups) return NULL;
        inc->groups = groups;
        inc->groups_cap = cap;
    }
    struct incident_group *g = &inc->groups[inc->ngroups];
    memset(g, 0, sizeof *g);
    g->peer = strdup(peer);
    g->cause = strdup(cause);
    if (!g->peer || !g->cause) {
        free(g->peer);
        free(g->cause);
        return NULL;
    }
    inc->slots[i] = inc->ngroups++;
    return g;
}

static void group_account(struct incidents *inc, const struct log_record *rec)
{
    struct incident_group *g =
        group_for(inc, rec->peer ? rec->peer : "?", rec->cause_code ? rec->cause_code : "unknown");
    if (!g) return;
    if (g->count == 0 || rec->time_us < g->first_us) g->first_us = rec->time_us;
    if (g->count == 0 || rec->time_us > g->last_us) g->last_us = rec->time_us;
    g->count += rec->count ? rec->count : 1; /* with what the rate limit left out */
    if (!g->hint) g->hint = dup_or_null(rec->cause_hint);
    value_set_add(&g->progs, rec->prog);
    value_set_add(&g->errnos, rec->err);
}

static void tally(struct tally *t, size_t *n, const char *action, const char *outcome,
                  const char *reason)
{
    action = action ? action : "?";
    for (size_t i = 0; i < *n; i++) {
        if (same(t[i].action, action) && same(t[i].outcome, outcome) && same(t[i].reason, reason)) {
            t[i].count++;
            return;
        }
    }
    if (*n == INCIDENTS_MAX_TALLIES) {
        t[*n - 1].count++; /* pathological variety: fold into the last line */
        return;
    }
    struct tally *nt = &t[(*n)++];
    nt->action = strdup(action);
    nt->outcome = dup_or_null(outcome);
    nt->reason = dup_or_null(reason);
    nt->count = 1;
}

static void keep_detail(struct incidents *inc, struct log_record *rec)
{
    if (inc->ndetail >= INCIDENTS_MAX_DETAIL ||
        rec->nevents > INCIDENTS_MAX_DETAIL_EVENTS - inc->detail_events)
        goto omit;
    if (inc->ndetail == inc->detail_cap) {
        size_t cap = inc->detail_cap ? inc->detail_cap * 2 : 64;
        struct log_record *detail = realloc(inc->detail, cap * sizeof *detail);
        if (!detail) goto omit;
        inc->detail = detail;
        inc->detail_cap = cap;
    }
    inc->detail[inc->ndetail++] = *rec;
    inc->detail_events += rec->nevents;
    memset(rec, 0, sizeof *rec);
    return;
omit:
    inc->detail_omitted++;
    log_record_free(rec);
}

void incidents_add(struct incidents *inc, struct log_record *rec)
{
    inc->records++;
    if (rec->type == LOG_RETRY) {
        inc->retry_records++;
        tally(inc->retries, &inc->nretries, rec->action, rec->outcome ? rec->outcome : "?",
              rec->reason);
    } else if (rec->type == LOG_INJECT) {
        inc->inject_records++;
        tally(inc->injections, &inc->ninjections, rec->action, NULL, NULL);
    } else if (!incidents_is_incident(rec)) {
        inc->clean_closes += rec->count ? rec->count : 1;
    } else {
        inc->incidents += rec->count ? rec->count : 1;
        group_account(inc, rec);
        if (rec->summarized) goto done; /* counts only: no timeline to show */
        keep_detail(inc, rec);
        return;
    }
done:
    log_record_free(rec);
}

static int cmp_group(const void *a, const void *b)
{
    const struct incident_group *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    if (x->last_us != y->last_us) return x->last_us < y->last_us ? 1 : -1;
    int c = strcmp(x->peer, y->peer);
    return c ? c : strcmp(x->cause, y->cause);
}

static int cmp_record_time(const void *a, const void *b)
{
    const struct log_record *x = a, *y = b;
    if (x->time_us != y->time_us) return x->time_us < y->time_us ? -1 : 1;
    if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
    return x->conn < y->conn ? -1 : x->conn > y->conn;
}

void incidents_finish(struct incidents *inc)
{
    if (inc->ngroups) qsort(inc->groups, inc->ngroups, sizeof *inc->groups, cmp_group);
    if (inc->ndetail) qsort(inc->detail, inc->ndetail, sizeof *inc->detail, cmp_record_time);
    /* The hash index refers to the old order; nothing looks groups up after finishing. */
    free(inc->slots);
    inc->slots = NULL;
    inc->nslots = 0;
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
        free(inc->groups[g].peer);
        free(inc->groups[g].cause);
        free(inc->groups[g].hint);
        value_set_free(&inc->groups[g].progs);
        value_set_free(&inc->groups[g].errnos);
    }
    free(inc->groups);
    free(inc->slots);
    for (size_t i = 0; i < inc->ndetail; i++)
        log_record_free(&inc->detail[i]);
    free(inc->detail);
    tallies_free(inc->retries, inc->nretries);
    tallies_free(inc->injections, inc->ninjections);
    incidents_init(inc);
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
            fputs(" (", out);
            put(out, t[i].reason);
            fputc(')', out);
        }
    }
}
