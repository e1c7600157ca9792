/*
 * report_json.c: the `rstwatch report --json` document.
 *
 * The same aggregation as the text report, for scripts and dashboards:
 *   {"schema":1, "summary":{...counts...}, "groups":[...], "retries":[...],
 *    "injections":[...], "incidents":[normalised records...]}
 * Records are re-emitted from the parsed struct (known fields only, absent fields omitted), so
 * the output is valid JSON whatever the input looked like.
 */
#include "report.h"

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

static json_t *tcp_json(const struct log_tcp *tcp)
{
    if (!tcp->present) return NULL;
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "state", tcp->state[0] ? json_string(tcp->state) : NULL);
    put(o, "rtt_us", count_or_null(tcp->rtt_us));
    put(o, "rttvar_us", count_or_null(tcp->rttvar_us));
    put(o, "retrans", count_or_null(tcp->retrans));
    put(o, "total_retrans", count_or_null(tcp->total_retrans));
    put(o, "unacked", count_or_null(tcp->unacked));
    put(o, "lost", count_or_null(tcp->lost));
    put(o, "snapshot_age_ms", ms_or_null(tcp->snapshot_age_ms));
    return o;
}

static json_t *events_json(const struct log_record *rec)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < rec->nevents; i++) {
        const struct log_event *ev = &rec->events[i];
        json_t *e = json_object();
        if (!e) break;
        put(e, "t_ms", json_real(ev->t_ms));
        put(e, "op", json_string(ev->op));
        if (ev->has_ret) put(e, "ret", json_integer(ev->ret));
        if (ev->err[0]) put(e, "errno", json_string(ev->err));
        if (ev->n > 1) put(e, "n", json_integer(ev->n));
        json_array_append_new(arr, e);
    }
    return arr;
}

json_t *report_record_json(const struct log_record *rec)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(o, "v", json_integer(LOG_SCHEMA_VERSION));
    put(o, "type", json_string(log_type_name(rec->type)));
    put(o, "time", json_string(rec->time));
    put(o, "pid", json_integer(rec->pid));
    put(o, "tid", count_or_null(rec->tid));
    put(o, "prog", str_or_null(rec->prog));
    put(o, "fd", count_or_null(rec->fd));
    put(o, "conn", count_or_null(rec->conn));
    put(o, "family", str_or_null(rec->family));
    put(o, "role", str_or_null(rec->role));
    put(o, "local", str_or_null(rec->local));
    put(o, "peer", str_or_null(rec->peer));
    put(o, "op", str_or_null(rec->op));
    put(o, "errno", str_or_null(rec->err));
    put(o, "errno_code", count_or_null(rec->errno_code));
    put(o, "age_ms", ms_or_null(rec->age_ms));
    put(o, "idle_ms", ms_or_null(rec->idle_ms));
    put(o, "bytes_out", count_or_null(rec->bytes_out));
    put(o, "bytes_in", count_or_null(rec->bytes_in));
    put(o, "calls_out", count_or_null(rec->calls_out));
    put(o, "calls_in", count_or_null(rec->calls_in));
    put(o, "exchanges", count_or_null(rec->exchanges));
    if (rec->reused >= 0) put(o, "reused", json_boolean(rec->reused));
    put(o, "tcp", tcp_json(&rec->tcp));
    if (rec->cause.code || rec->cause.hint) {
        json_t *cause = json_object();
        if (cause) {
            put(cause, "code", str_or_null(rec->cause.code));
            put(cause, "hint", str_or_null(rec->cause.hint));
            put(o, "cause", cause);
        }
    }
    put(o, "events", events_json(rec));
    put(o, "events_dropped", count_or_null(rec->events_dropped));
    if (rec->events_truncated)
        put(o, "events_truncated", json_integer((json_int_t)rec->events_truncated));
    put(o, "attempt", count_or_null(rec->attempt));
    put(o, "action", str_or_null(rec->action));
    put(o, "outcome", str_or_null(rec->outcome));
    put(o, "reason", str_or_null(rec->reason));
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

json_t *report_json(const struct incidents *inc, const struct report_inputs *in)
{
    json_t *doc = json_object(), *summary = json_object(), *groups = json_array(),
           *incidents = json_array();
    if (!doc || !summary || !groups || !incidents) {
        json_decref(doc);
        json_decref(summary);
        json_decref(groups);
        json_decref(incidents);
        return NULL;
    }
    put(summary, "files", json_integer((json_int_t)in->files));
    put(summary, "records", json_integer((json_int_t)inc->records));
    put(summary, "incidents", json_integer((json_int_t)inc->incidents));
    put(summary, "groups", json_integer((json_int_t)inc->ngroups));
    put(summary, "retry_records", json_integer((json_int_t)inc->retry_records));
    put(summary, "inject_records", json_integer((json_int_t)inc->inject_records));
    put(summary, "clean_closes", json_integer((json_int_t)inc->clean_closes));
    put(summary, "bad_lines", json_integer((json_int_t)in->bad_lines));
    put(summary, "filtered_by_since", json_integer((json_int_t)in->filtered));
    put(summary, "incidents_omitted", json_integer((json_int_t)inc->detail_omitted));

    for (size_t i = 0; i < inc->ngroups; i++) {
        const struct incident_group *g = &inc->groups[i];
        json_t *o = json_object();
        if (!o) break;
        put(o, "peer", json_string(g->peer));
        put(o, "cause", json_string(g->cause));
        put(o, "count", json_integer((json_int_t)g->count));
        put(o, "first_seen", time_json(g->first_us));
        put(o, "last_seen", time_json(g->last_us));
        put(o, "programs", values_json(&g->progs));
        put(o, "errnos", values_json(&g->errnos));
        put(o, "hint", str_or_null(g->hint));
        json_array_append_new(groups, o);
    }
    for (size_t i = 0; i < inc->ndetail; i++)
        json_array_append_new(incidents, report_record_json(&inc->detail[i]));

    put(doc, "schema", json_integer(1));
    put(doc, "summary", summary);
    put(doc, "groups", groups);
    put(doc, "retries", tallies_json(inc->retries, inc->nretries));
    put(doc, "injections", tallies_json(inc->injections, inc->ninjections));
    put(doc, "incidents", incidents);
    return doc;
}
