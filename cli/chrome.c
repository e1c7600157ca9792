// SPDX-License-Identifier: MIT
/*
 * chrome.c: records -> Chrome trace-event JSON, for Perfetto UI and chrome://tracing.
 *
 * Streams: each record is turned into events as it is read, so a huge log exports in constant
 * memory (only the set of already-named tracks grows). Layout: pid = the record's pid (process
 * named after prog, and its host when there is one), one track per connection (tid = conn, named
 * "conn N fd F → peer"; records of unknown pid: one "pid unknown" process, a track per record); the
 * processes of a second host are offset by CHROME_HOST_PID_STRIDE so that pid 4242 on two hosts
 * stays two processes. Times are absolute microseconds: the connection started at time - age_ms, an
 * event happened t_ms after that, so records written by different processes line up on one time
 * axis.
 *
 * Size is capped (a trace viewer in a browser gives up at a few hundred MB): each record's
 * events are rendered into a buffer and written only if they fit; after that, records are only
 * counted, and the document ends with a note of how many were left out (an instant event and
 * "otherData"), as the HTML page does.
 */
#include "chrome.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Duration of a single call's slice: tiny but visible when zoomed in. */
#define CHROME_TINY_US 1.0

struct chrome_track {
    long long pid, tid; /* tid LOG_ABSENT: the process itself */
    int used;
};

void chrome_begin(struct chrome_writer *w, FILE *out, size_t max_bytes)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->max_bytes = max_bytes ? max_bytes : CHROME_MAX_BYTES;
    static const char head[] = "{\"traceEvents\":[\n";
    fputs(head, out);
    w->bytes = sizeof head - 1;
}

/* Writes one event into the current record's buffer. */
static void emit(struct chrome_writer *w, json_t *ev)
{
    if (!ev || !w->buf) {
        json_decref(ev);
        w->failed = 1;
        return;
    }
    fputs(",\n", w->buf);
    if (json_dumpf(ev, w->buf, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0) w->failed = 1;
    json_decref(ev);
}

/* The trace pid of a record: its pid (CHROME_UNKNOWN_PID when unknown), offset by its host's
 * stride. */
static long long trace_pid(struct chrome_writer *w, const struct log_record *rec)
{
    long long pid = rec->pid == LOG_PID_UNKNOWN ? CHROME_UNKNOWN_PID : rec->pid;
    if (!rec->host) return pid;
    size_t i = 0;
    for (; i < w->nhosts; i++)
        if (strcmp(w->hosts[i], rec->host) == 0) break;
    if (i == w->nhosts && w->nhosts < CHROME_MAX_HOSTS) {
        w->hosts[i] = strdup(rec->host);
        if (w->hosts[i])
            w->nhosts++;
        else
            w->failed = 1;
    }
    if (i >= CHROME_MAX_HOSTS) i = CHROME_MAX_HOSTS - 1;
    return pid + (long long)i * CHROME_HOST_PID_STRIDE;
}

static uint64_t track_hash(long long pid, long long tid)
{
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull ^ (uint64_t)tid * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 29);
}

/* Returns 1 if (pid, tid) was not named yet (and remembers it), 0 if it was, -1 on ENOMEM. */
static int track_is_new(struct chrome_writer *w, long long pid, long long tid)
{
    if ((w->ntracks + 1) * 2 > w->track_slots) {
        size_t slots = w->track_slots ? w->track_slots * 2 : 64;
        struct chrome_track *t = calloc(slots, sizeof *t);
        if (!t) return -1;
        for (size_t i = 0; i < w->track_slots; i++) {
            if (!w->tracks[i].used) continue;
            size_t j = track_hash(w->tracks[i].pid, w->tracks[i].tid) & (slots - 1);
            while (t[j].used)
                j = (j + 1) & (slots - 1);
            t[j] = w->tracks[i];
        }
        free(w->tracks);
        w->tracks = t;
        w->track_slots = slots;
    }
    size_t i = track_hash(pid, tid) & (w->track_slots - 1);
    for (; w->tracks[i].used; i = (i + 1) & (w->track_slots - 1))
        if (w->tracks[i].pid == pid && w->tracks[i].tid == tid) return 0;
    w->tracks[i] = (struct chrome_track){.pid = pid, .tid = tid, .used = 1};
    w->ntracks++;
    return 1;
}

static json_t *base_event(const char *name, const char *ph, long long pid, long long tid)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "name", name, "ph", ph, "pid", (json_int_t)pid, "tid",
                     (json_int_t)tid);
}

/* The track of a record: its connection number, else its fd, else 0; a record of unknown pid
 * gets a track of its own (two such processes may have the same conn numbers). */
static long long record_track(struct chrome_writer *w, const struct log_record *rec)
{
    if (rec->pid == LOG_PID_UNKNOWN) return ++w->unknown_tracks;
    if (rec->conn != LOG_ABSENT) return rec->conn;
    return rec->fd != LOG_ABSENT ? rec->fd : 0;
}

static void name_tracks(struct chrome_writer *w, const struct log_record *rec, long long pid,
                        long long tid)
{
    int fresh = track_is_new(w, pid, LOG_ABSENT);
    if (fresh < 0) w->failed = 1;
    if (fresh > 0) {
        char name[320];
        const char *prog = rec->prog ? rec->prog : "?";
        if (rec->pid == LOG_PID_UNKNOWN) prog = "pid unknown"; /* several programs, maybe */
        snprintf(name, sizeof name, "%.120s%s%.180s", prog, rec->host ? " on " : "",
                 rec->host ? rec->host : "");
        json_t *label = json_string(name);
        if (!label) label = json_string(rec->prog ? rec->prog : "?");
        json_t *ev = json_pack("{s:s, s:s, s:I, s:{s:o}}", "name", "process_name", "ph", "M", "pid",
                               (json_int_t)pid, "args", "name", label);
        emit(w, ev);
    }
    fresh = track_is_new(w, pid, tid);
    if (fresh < 0) w->failed = 1;
    if (fresh > 0) {
        char name[640];
        int n = 0;
        if (rec->pid == LOG_PID_UNKNOWN)
            n = snprintf(name, sizeof name, "%.120s ", rec->prog ? rec->prog : "?");
        if (rec->conn != LOG_ABSENT && n >= 0 && (size_t)n < sizeof name)
            n += snprintf(name + n, sizeof name - (size_t)n, "conn %lld ", rec->conn);
        if (rec->fd != LOG_ABSENT && n >= 0 && (size_t)n < sizeof name)
            n += snprintf(name + n, sizeof name - (size_t)n, "fd %lld ", rec->fd);
        if (n >= 0 && (size_t)n < sizeof name)
            snprintf(name + n, sizeof name - (size_t)n, "→ %.400s", rec->peer ? rec->peer : "?");
        /* Cutting at 400 bytes may split a UTF-8 sequence; json_string would then refuse it. */
        json_t *label = json_string(name);
        if (!label) label = json_string("conn");
        json_t *ev = base_event("thread_name", "M", pid, tid);
        if (ev)
            json_object_set_new(ev, "args", json_pack("{s:o}", "name", label));
        else
            json_decref(label);
        emit(w, ev);
    }
}

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value) json_object_set_new(obj, key, json_string(value));
}

static void set_count(json_t *obj, const char *key, long long value)
{
    if (value != LOG_ABSENT) json_object_set_new(obj, key, json_integer(value));
}

static void set_ms(json_t *obj, const char *key, double value)
{
    if (!isnan(value)) json_object_set_new(obj, key, json_real(value));
}

static json_t *tcp_args(const struct log_tcp *tcp)
{
    if (!tcp->present) return json_null();
    json_t *o = json_object();
    if (!o) return NULL;
    if (tcp->state[0]) set_str(o, "state", tcp->state);
    set_count(o, "rtt_us", tcp->rtt_us);
    set_count(o, "rttvar_us", tcp->rttvar_us);
    set_count(o, "retrans", tcp->retrans);
    set_count(o, "total_retrans", tcp->total_retrans);
    set_count(o, "unacked", tcp->unacked);
    set_count(o, "lost", tcp->lost);
    set_ms(o, "snapshot_age_ms", tcp->snapshot_age_ms);
    return o;
}

static void emit_at(struct chrome_writer *w, json_t *ev, double ts_us, double dur_us, json_t *args)
{
    if (!ev) {
        json_decref(args);
        w->failed = 1;
        return;
    }
    /* Whole microseconds: finer digits would only be double rounding noise at epoch scale. */
    json_object_set_new(ev, "ts", json_integer((json_int_t)llround(ts_us)));
    if (dur_us >= 0) json_object_set_new(ev, "dur", json_real(round(dur_us * 1000) / 1000));
    json_object_set_new(ev, "cat", json_string("rstwatch"));
    if (args) json_object_set_new(ev, "args", args);
    emit(w, ev);
}

/* The failing call: a thread-scoped instant named after the errno, carrying the diagnosis. */
static void emit_failure(struct chrome_writer *w, const struct log_record *rec, long long pid,
                         long long tid, const struct log_event *ev, double ts_us)
{
    const char *name = ev && ev->err[0]       ? ev->err
                       : rec->err             ? rec->err
                       : rec->type == LOG_EOF ? "EOF"
                                              : "error";
    json_t *args = json_object();
    if (args) {
        set_str(args, "op", ev ? ev->op : rec->op);
        if (ev && ev->has_ret) set_count(args, "ret", ev->ret);
        set_str(args, "errno", rec->err ? rec->err : name);
        set_count(args, "errno_code", rec->errno_code);
        set_str(args, "cause.code", rec->cause.code ? rec->cause.code : "unknown");
        set_str(args, "cause.hint", rec->cause.hint);
        set_str(args, "host", rec->host);
        json_object_set_new(args, "tcp", tcp_args(&rec->tcp));
        set_str(args, "peer", rec->peer);
        set_ms(args, "age_ms", rec->age_ms);
        set_ms(args, "idle_ms", rec->idle_ms);
    }
    json_t *e = base_event(name, "i", pid, tid);
    if (e) json_object_set_new(e, "s", json_string("t"));
    emit_at(w, e, ts_us, -1, args);
}

/* Args for the plain kinds of schema.h; the other kinds are drawn, not listed. */
#define ARG_STR(k, m) set_str(args, k, rec->m);
#define ARG_COUNT(k, m) set_count(args, k, rec->m);
#define ARG_MS(k, m) set_ms(args, k, rec->m);
#define ARG_BOOL(k, m)                                                                             \
    if (rec->m >= 0) json_object_set_new(args, k, json_boolean(rec->m));
#define ARG_SHORT(k, m)
#define ARG_INT(k, m)
#define ARG_VERSION(k, m)
#define ARG_TYPE(k, m)
#define ARG_TIME(k, m)
#define ARG_PID(k, m)
#define ARG_TCP(k, m)
#define ARG_CAUSE(k, m)
#define ARG_EVENTS(k, m)
#define ARG_COUNTS(k, m)
#define ARG_FIELD(key, kind, m, doc) ARG_##kind(key, m)

/* A retry or inject record: one instant ("retry replay ok", "inject reset"). */
static void emit_action(struct chrome_writer *w, const struct log_record *rec, long long pid,
                        long long tid)
{
    char name[160];
    snprintf(name, sizeof name, "%s %.64s%s%.32s", log_type_name(rec->type),
             rec->action ? rec->action : "?", rec->outcome ? " " : "",
             rec->outcome ? rec->outcome : "");
    json_t *label = json_string(name);
    json_t *args = json_object();
    if (args) {
        set_count(args, "attempt", rec->attempt);
        set_str(args, "action", rec->action);
        set_str(args, "outcome", rec->outcome);
        set_str(args, "reason", rec->reason);
        set_str(args, "peer", rec->peer);
        set_str(args, "errno", rec->err);
    }
    json_t *e = base_event(label ? name : log_type_name(rec->type), "i", pid, tid);
    json_decref(label);
    if (e) json_object_set_new(e, "s", json_string("t"));
    emit_at(w, e, (double)rec->time_us, -1, args);
}

/* Renders a record's events into w->buf. */
static void render_record(struct chrome_writer *w, const struct log_record *rec)
{
    long long tid = record_track(w, rec), pid = trace_pid(w, rec);
    name_tracks(w, rec, pid, tid);
    if (rec->type == LOG_RETRY || rec->type == LOG_INJECT) {
        emit_action(w, rec, pid, tid);
        return;
    }
    double last_t = rec->nevents ? rec->events[rec->nevents - 1].t_ms : 0;
    double age = !isnan(rec->age_ms) ? rec->age_ms : last_t;
    double start_us = (double)rec->time_us - age * 1000.0;
    double life_ms = age > last_t ? age : last_t;

    json_t *args = json_object();
    if (args) {
        /* The connection's slice carries every plain field of the record (schema.h). */
        RECORD_FIELDS(ARG_FIELD)
        set_str(args, "type", log_type_name(rec->type));
        set_str(args, "cause.code", rec->cause.code);
    }
    emit_at(w, base_event("connection", "X", pid, tid), start_us,
            life_ms > 0 ? life_ms * 1000.0 : CHROME_TINY_US, args);

    const struct log_event *failing = log_record_failing_event(rec);
    for (size_t i = 0; i < rec->nevents; i++) {
        const struct log_event *ev = &rec->events[i];
        double ts = start_us + ev->t_ms * 1000.0;
        if (ev == failing) {
            emit_failure(w, rec, pid, tid, ev, ts);
            continue;
        }
        /* A merged event spans its calls (span_ms); older logs: until the next event. */
        double dur = CHROME_TINY_US;
        if (ev->n > 1 && !isnan(ev->span_ms) && ev->span_ms > 0)
            dur = ev->span_ms * 1000.0;
        else if (ev->n > 1 && i + 1 < rec->nevents && rec->events[i + 1].t_ms > ev->t_ms)
            dur = (rec->events[i + 1].t_ms - ev->t_ms) * 1000.0;
        json_t *eargs = json_object();
        if (eargs) {
            if (ev->has_ret) set_count(eargs, "ret", ev->ret);
            if (ev->n > 1) set_count(eargs, "n", ev->n);
            if (ev->err[0]) set_str(eargs, "errno", ev->err);
            set_ms(eargs, "t_ms", ev->t_ms);
        }
        emit_at(w, base_event(ev->op[0] ? ev->op : "?", "X", pid, tid), ts, dur, eargs);
    }
    if (!failing && (rec->type == LOG_RESET || rec->type == LOG_ERROR || rec->type == LOG_EOF))
        emit_failure(w, rec, pid, tid, NULL, (double)rec->time_us);
}

void chrome_write_record(struct chrome_writer *w, const struct log_record *rec)
{
    if (rec->time_us > w->last_ts_us) w->last_ts_us = rec->time_us;
    if (rec->type == LOG_SUMMARY) return; /* counts only: nothing to draw */
    if (w->left_out) {
        w->left_out++;
        return;
    }
    w->buf = open_memstream(&w->buf_data, &w->buf_len);
    render_record(w, rec);
    if (!w->buf || fclose(w->buf) != 0) {
        w->failed = 1;
    } else {
        /* The first event of the document has no separating comma. */
        const char *text = w->buf_data;
        size_t len = w->buf_len;
        if (!w->events && len >= 2) text += 2, len -= 2;
        if (w->bytes + len > w->max_bytes - 512) {
            w->left_out++;
        } else if (len) {
            fwrite(text, 1, len, w->out);
            w->bytes += len;
            w->events++;
            w->records++;
        }
    }
    free(w->buf_data);
    w->buf = NULL;
    w->buf_data = NULL;
    w->buf_len = 0;
}

int chrome_end(struct chrome_writer *w)
{
    if (w->left_out) {
        char note[200];
        snprintf(note, sizeof note,
                 "rstwatch: %llu more records left out (trace capped at %zu MiB); "
                 "rstwatch report counts them all",
                 w->left_out, w->max_bytes >> 20);
        json_t *ev =
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "name", note, "ph", "i", "s", "g", "pid",
                      (json_int_t)0, "tid", (json_int_t)0, "ts", (json_int_t)w->last_ts_us);
        if (ev) {
            fputs(w->events ? ",\n" : "", w->out);
            json_dumpf(ev, w->out, JSON_COMPACT);
            json_decref(ev);
        }
        fprintf(w->out,
                "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"records\":%llu,"
                "\"records_left_out\":%llu,\"note\":\"%s\"}}\n",
                w->records, w->left_out, note);
    } else {
        fputs("\n],\"displayTimeUnit\":\"ms\"}\n", w->out);
    }
    free(w->tracks);
    w->tracks = NULL;
    for (size_t i = 0; i < w->nhosts; i++)
        free(w->hosts[i]);
    w->nhosts = 0;
    return w->failed || ferror(w->out) ? -1 : 0;
}
