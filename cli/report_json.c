// SPDX-License-Identifier: MIT
/*
 * report_json.c: the `rstwatch report --json` document.
 *
 * The same aggregation as the text report, for scripts and dashboards:
 *   {"schema":1, "summary":{...counts...}, "groups":[...], "retries":[...],
 *    "injections":[...], "incidents":[records...], "connections":[both ends...],
 *    "events":[restarts and shared timeouts...]}
 * Records are re-emitted from the parsed struct by expanding the schema table (schema.h), so
 * every field the reader knows is kept (null ones as null), absent fields are omitted, and the
 * output is valid JSON whatever the input looked like.
 */
#include "report_json.h"

#include "events.h"

#include <math.h>

/* json_object_set_new that ignores a NULL value (an absent field or an allocation failure). */
static void put(json_t *obj, const char *key, json_t *value)
{
    if (value) json_object_set_new(obj, key, value);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : NULL;
}

static json_t *count_or_null(long long v)
{
    return v == LOG_ABSENT ? NULL : json_integer(v);
}

static json_t *ms_or_null(double v)
{
    return isnan(v) ? NULL : json_real(v);
}

static json_t *time_json(int64_t us)
{
    char buf[40];
    logread_format_time(us, buf, sizeof buf);
    return json_string(buf);
}

/* One emitter per schema kind: J_<KIND>(object, key, struct pointer, member). */
#define J_STR(o, k, r, m) put(o, k, str_or_null((r)->m))
#define J_SHORT(o, k, r, m) put(o, k, (r)->m[0] ? json_string((r)->m) : NULL)
#define J_COUNT(o, k, r, m) put(o, k, count_or_null((r)->m))
#define J_INT(o, k, r, m) put(o, k, (r)->has_##m ? json_integer((r)->m) : NULL)
#define J_MS(o, k, r, m) put(o, k, ms_or_null((r)->m))
#define J_BOOL(o, k, r, m) put(o, k, (r)->m >= 0 ? json_boolean((r)->m) : NULL)
#define J_VERSION(o, k, r, m) put(o, k, json_integer(LOG_SCHEMA_VERSION))
#define J_TYPE(o, k, r, m) put(o, k, json_string(log_type_name((r)->m)))
#define J_TIME(o, k, r, m) put(o, k, json_string((r)->m))
#define J_PID(o, k, r, m) put(o, k, json_integer((r)->m))
#define J_TCP(o, k, r, m) put(o, k, tcp_json(&(r)->m))
#define J_CAUSE(o, k, r, m) put(o, k, cause_json(&(r)->m))
#define J_EVENTS(o, k, r, m) events_json(o, k, r)
#define J_COUNTS(o, k, r, m) counts_json(o, k, r)

#define J_EMIT_TCP(key, kind, m, doc) J_##kind(o, key, tcp, m);
#define J_EMIT_CAUSE(key, kind, m, doc) J_##kind(o, key, cause, m);
#define J_EMIT_EVENT(key, kind, m, doc) J_##kind(e, key, ev, m);
#define J_EMIT_COUNT(key, kind, m, doc) J_##kind(e, key, c, m);
/* A top-level field the shim wrote as null ("errno":null, "tcp":null) is re-emitted as null. */
#define J_EMIT_RECORD(key, kind, m, doc)                                                           \
    J_##kind(o, key, rec, m);                                                                      \
    if ((rec->nulls & LOG_NULL(m)) && !json_object_get(o, key)) put(o, key, json_null());

static json_t *tcp_json(const struct log_tcp *tcp)
{
    if (!tcp->present) return NULL;
    json_t *o = json_object();
    if (o) {
        RECORD_TCP_FIELDS(J_EMIT_TCP)
    }
    return o;
}

static json_t *cause_json(const struct log_cause *cause)
{
    if (!cause->code && !cause->hint) return NULL;
    json_t *o = json_object();
    if (o) {
        RECORD_CAUSE_FIELDS(J_EMIT_CAUSE)
    }
    return o;
}

static void events_json(json_t *o, const char *key, const struct log_record *rec)
{
    if (rec->type == LOG_SUMMARY && !rec->nevents) return; /* a summary has no timeline */
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < rec->nevents; i++) {
        const struct log_event *ev = &rec->events[i];
        json_t *e = json_object();
        if (!e) break;
        RECORD_EVENT_FIELDS(J_EMIT_EVENT)
        if (ev->n == 1) json_object_del(e, "n"); /* a lone call: as the shim writes it */
        json_array_append_new(arr, e);
    }
    put(o, key, arr);
    if (rec->events_truncated)
        put(o, "events_truncated", json_integer((json_int_t)rec->events_truncated));
}

static void counts_json(json_t *o, const char *key, const struct log_record *rec)
{
    if (!rec->counts) return;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < rec->ncounts; i++) {
        const struct log_count *c = &rec->counts[i];
        json_t *e = json_object();
        if (!e) break;
        RECORD_COUNT_FIELDS(J_EMIT_COUNT)
        json_array_append_new(arr, e);
    }
    put(o, key, arr);
}

json_t *report_record_json(const struct log_record *rec)
{
    json_t *o = json_object();
    if (!o) return NULL;
    RECORD_FIELDS(J_EMIT_RECORD)
    return o;
}

static json_t *values_json(const struct value_set *set)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < set->n; i++)
        json_array_append_new(arr, json_string(set->values[i]));
    return arr;
}

static json_t *tallies_json(const struct tally *t, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_object();
        if (!o) break;
        put(o, "action", str_or_null(t[i].action));
        put(o, "outcome", str_or_null(t[i].outcome));
        put(o, "reason", str_or_null(t[i].reason));
        put(o, "count", json_integer((json_int_t)t[i].count));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *group_json(const struct incident_group *g)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "host", *g->host ? json_string(g->host) : NULL);
    put(o, "role", json_string(g->role));
    put(o, "service", json_string(g->service));
    put(o, "client", str_or_null(g->client));
    /* "peer": the other end as the group names it (the service, or the client's host). */
    put(o, "peer", json_string(g->client ? g->client : g->service));
    put(o, "cause", json_string(g->cause));
    put(o, "count", json_integer((json_int_t)g->count));
    put(o, "records", json_integer((json_int_t)g->records));
    put(o, "first_seen", time_json(g->first_us));
    put(o, "last_seen", time_json(g->last_us));
    put(o, "programs", values_json(&g->progs));
    put(o, "errnos", values_json(&g->errnos));
    put(o, "hint", str_or_null(g->hint));
    return o;
}

static json_t *summary_json(const struct incidents *inc, const struct logscan_stats *in)
{
    json_t *s = json_object();
    if (!s) return NULL;
    put(s, "files", json_integer((json_int_t)in->files));
    put(s, "records", json_integer((json_int_t)inc->records));
    put(s, "incidents", json_integer((json_int_t)inc->incidents));
    put(s, "counted_only", json_integer((json_int_t)inc->counted_only));
    put(s, "groups", json_integer((json_int_t)inc->ngroups));
    put(s, "hosts", json_integer((json_int_t)incidents_hosts(inc)));
    put(s, "retry_records", json_integer((json_int_t)inc->retry_records));
    put(s, "inject_records", json_integer((json_int_t)inc->inject_records));
    put(s, "summary_records", json_integer((json_int_t)inc->summaries));
    put(s, "clean_closes", json_integer((json_int_t)inc->clean_closes));
    put(s, "bad_lines", json_integer((json_int_t)in->bad_lines));
    put(s, "filtered_by_since", json_integer((json_int_t)inc->filtered));
    put(s, "incidents_omitted", json_integer((json_int_t)inc->detail_omitted));
    return s;
}

/* The restarts and shared timeouts (events.c), oldest first. */
static json_t *service_events_json(const struct pairs *pairs)
{
    json_t *arr = json_array();
    struct service_events ev;
    if (!arr || events_find(pairs, &ev)) return arr;
    for (size_t i = 0; i < ev.n; i++) {
        const struct service_event *e = &ev.ev[i];
        json_t *o = json_object(), *causes = json_object();
        if (!o || !causes) {
            json_decref(o), json_decref(causes);
            break;
        }
        put(o, "kind", json_string(e->kind == EVENT_RESTART ? "restart" : "timeout"));
        put(o, "service", json_string(e->service));
        put(o, "host", str_or_null(e->host));
        put(o, e->kind == EVENT_RESTART ? "connections" : "requests",
            json_integer((json_int_t)e->n));
        put(o, "first", time_json(e->first_us));
        put(o, "last", time_json(e->last_us));
        if (e->kind == EVENT_RESTART) {
            put(o, "window_ms", json_real((double)(e->last_us - e->first_us) / 1000.0));
            put(o, "server_side_times", json_boolean(e->server_times));
        } else {
            put(o, "elapsed_min_ms", json_real(e->elapsed_lo));
            put(o, "elapsed_max_ms", json_real(e->elapsed_hi));
        }
        for (size_t k = 0; k < e->ncauses; k++)
            put(causes, e->causes[k].code, json_integer((json_int_t)e->causes[k].n));
        put(o, "causes", causes);
        json_array_append_new(arr, o);
    }
    events_free(&ev);
    return arr;
}

json_t *report_json(const struct incidents *inc, const struct pairs *pairs,
                    const struct logscan_stats *in)
{
    json_t *doc = json_object(), *groups = json_array(), *incidents = json_array(),
           *connections = json_array();
    if (!doc || !groups || !incidents || !connections) {
        json_decref(doc);
        json_decref(groups);
        json_decref(incidents);
        json_decref(connections);
        return NULL;
    }
    for (size_t i = 0; i < inc->ngroups; i++)
        json_array_append_new(groups, group_json(&inc->groups[i]));
    for (size_t i = 0; i < inc->ndetail; i++)
        json_array_append_new(incidents, report_record_json(&inc->detail[i]));
    for (size_t i = 0; i < pairs->npairs; i++) {
        json_t *o = json_object();
        if (!o) break;
        put(o, "verdict", json_string(pairs->pairs[i].verdict));
        put(o, "client", report_record_json(pairs->pairs[i].client));
        put(o, "server", report_record_json(pairs->pairs[i].server));
        json_array_append_new(connections, o);
    }
    put(doc, "schema", json_integer(1));
    put(doc, "summary", summary_json(inc, in));
    put(doc, "groups", groups);
    put(doc, "retries", tallies_json(inc->retries, inc->nretries));
    put(doc, "injections", tallies_json(inc->injections, inc->ninjections));
    put(doc, "incidents", incidents);
    put(doc, "connections", connections);
    put(doc, "events", service_events_json(pairs));
    return doc;
}
