// SPDX-License-Identifier: MIT
/* record_test.c: the JSON record writer (shim/record.c, shim/strbuf.c).
 *
 * Synthetic connections (struct conn filled by hand, its ring slots allocated
 * right after it) go through record_format; every line is parsed back with
 * jansson and checked against schema v1 (docs/design.md "The record"):
 * required fields, their JSON types and values, the events array (merged
 * events carry n/span_ms), wrap-around accounting. Then table-driven checks of the pieces:
 * sb_put_json_str round trips for hostile strings, recfmt_put_time against
 * known dates and gmtime_r, record_put_addr for every family, and
 * record_cause_input (how the classifier's input is derived from a conn).
 * Prints TAP; exits 1 on any failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn_fixture.h"
#include "tap.h"

#include "record.h"
#include "recfmt.h"
#include "sink.h"

/* ---- synthetic connections ---------------------------------------------------- */

static void set_in6(union sockaddr_any *a, const char *ip, unsigned port)
{
    memset(a, 0, sizeof *a);
    a->in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a->in6.sin6_addr);
    a->in6.sin6_port = htons((uint16_t)port);
}

/* The example of docs/design.md "The record": curl sent 78 bytes, the peer reset 1.5 s later. */
static struct conn *example_conn(void)
{
    struct conn *c = conn_new(64);
    c->id = 7;
    c->family = AF_INET;
    c->role = ROLE_CLIENT;
    c->flags = CONN_ESTABLISHED;
    set_in(&c->local, "127.0.0.1", 40312);
    set_in(&c->peer, "127.0.0.1", 8080);
    ring_push(&c->ring, OP_CONNECT, 0, 0, T0);
    ring_push(&c->ring, OP_SEND, 78, 0, T0 + MS(0.3));
    ring_push(&c->ring, OP_RECV, -1, ECONNRESET, T0 + MS(1503.2));
    c->t_last = c->t_exchange = T0 + MS(0.3);
    c->idle_before = MS(0.3);
    c->bytes_out = 78;
    c->calls_out = 1;
    c->exchanges = 1;
    c->dir = DIR_OUT;
    c->tcp = (struct tcp_snap){.t_ns = T0 + MS(0.1),
                               .state = 1,
                               .rtt_us = 41,
                               .rttvar_us = 20,
                               .total_retrans = 0,
                               .unacked = 1};
    return c;
}

static struct record_info reset_info(unsigned op, int err, uint64_t now)
{
    return (struct record_info){.type = "reset", .fd = 5, .op = op, .err = err, .now_ns = now};
}

/* Formats c into a fresh buffer and parses it; NULL (and a diagnostic) on failure. */
static char linebuf[1 << 20];

static json_t *format_parse(const struct conn *c, const struct record_info *ri)
{
    struct strbuf b;
    sb_init(&b, linebuf, sizeof linebuf - 1);
    record_format(&b, c, ri);
    if (b.overflow) {
        printf("# record_format overflowed a 1 MiB buffer\n");
        return NULL;
    }
    linebuf[b.len] = 0;
    json_error_t e;
    json_t *j = json_loads(linebuf, 0, &e);
    if (!j) printf("# json_loads: %s at column %d in: %s\n", e.text, e.column, linebuf);
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "(absent)";
}

static int raw_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20) return 1;
    return 0;
}

/* ---- field expectations --------------------------------------------------------- */

enum kind { K_INT, K_STR, K_NUM, K_BOOL, K_NULL, K_OBJ, K_ARR, K_ABSENT };

struct field_want {
    const char *key;
    enum kind kind;
    long long i;   /* K_INT value, K_BOOL value */
    const char *s; /* K_STR value (NULL: any non-empty string) */
    double lo, hi; /* K_NUM range */
    int any;       /* K_INT: any integer >= 0 */
};

static int check_field(const json_t *obj, const struct field_want *w, char *why, size_t whylen)
{
    json_t *v = json_object_get(obj, w->key);
    why[0] = 0;
    switch (w->kind) {
    case K_ABSENT:
        if (v) snprintf(why, whylen, "present but must be absent");
        return !v;
    case K_INT:
        if (!json_is_integer(v)) break;
        if (w->any) return json_integer_value(v) >= 0;
        if (json_integer_value(v) == w->i) return 1;
        snprintf(why, whylen, "%lld, expected %lld", json_integer_value(v), w->i);
        return 0;
    case K_STR:
        if (!json_is_string(v)) break;
        if (!w->s) return json_string_length(v) > 0;
        if (!strcmp(json_string_value(v), w->s)) return 1;
        snprintf(why, whylen, "\"%s\", expected \"%s\"", json_string_value(v), w->s);
        return 0;
    case K_NUM:
        if (!json_is_number(v)) break;
        if (json_number_value(v) >= w->lo && json_number_value(v) <= w->hi) return 1;
        snprintf(why, whylen, "%f, expected [%f, %f]", json_number_value(v), w->lo, w->hi);
        return 0;
    case K_BOOL:
        if (!json_is_boolean(v)) break;
        return json_is_true(v) == (w->i != 0);
    case K_NULL: return json_is_null(v);
    case K_OBJ: return json_is_object(v);
    case K_ARR: return json_is_array(v);
    }
    if (!why[0]) snprintf(why, whylen, "missing or of the wrong JSON type");
    return 0;
}

static void check_fields(const char *what, const json_t *obj, const struct field_want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char why[200];
        if (!ok(obj && check_field(obj, &w[i], why, sizeof why), "%s: field %s", what, w[i].key))
            printf("#   %s: %s\n", w[i].key, obj ? why : "no record");
    }
}

static int is_iso_utc(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SS.uuuuuuZ */
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (!s || strlen(s) != sizeof pat - 1) return 0;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return 0;
    }
    return 1;
}

/* ---- the example record ------------------------------------------------------------ */

static void test_example_record(void)
{
    struct conn *c = example_conn();
    struct record_info ri = reset_info(OP_RECV, ECONNRESET, T0 + MS(1503.2));
    json_t *j = format_parse(c, &ri);
    ok(j != NULL, "the example record parses as JSON");
    ok(!strncmp(linebuf, "{\"v\":1,\"type\":\"reset\",\"time\":\"", 30),
       "the line starts {\"v\":1,\"type\":...,\"time\" (the schema's order)");
    ok(!raw_controls(linebuf) && !strchr(linebuf, '\n'), "the line has no raw control bytes");

    const struct field_want want[] = {
        {.key = "v", .kind = K_INT, .i = 1},
        {.key = "type", .kind = K_STR, .s = "reset"},
        {.key = "time", .kind = K_STR},
        {.key = "pid", .kind = K_INT, .i = getpid()},
        {.key = "tid", .kind = K_INT, .i = syscall(SYS_gettid)},
        {.key = "prog", .kind = K_STR, .s = program_invocation_short_name},
        {.key = "fd", .kind = K_INT, .i = 5},
        {.key = "conn", .kind = K_INT, .i = 7},
        {.key = "family", .kind = K_STR, .s = "inet"},
        {.key = "role", .kind = K_STR, .s = "client"},
        {.key = "local", .kind = K_STR, .s = "127.0.0.1:40312"},
        {.key = "peer", .kind = K_STR, .s = "127.0.0.1:8080"},
        {.key = "op", .kind = K_STR, .s = "recv"},
        {.key = "errno", .kind = K_STR, .s = "ECONNRESET"},
        {.key = "errno_code", .kind = K_INT, .i = ECONNRESET},
        {.key = "age_ms", .kind = K_NUM, .lo = 1503.199, .hi = 1503.201},
        {.key = "idle_ms", .kind = K_NUM, .lo = 1502.899, .hi = 1502.901},
        {.key = "idle_before_ms", .kind = K_NUM, .lo = 0.299, .hi = 0.301},
        {.key = "bytes_out", .kind = K_INT, .i = 78},
        {.key = "bytes_in", .kind = K_INT, .i = 0},
        {.key = "calls_out", .kind = K_INT, .i = 1},
        {.key = "calls_in", .kind = K_INT, .i = 0},
        {.key = "exchanges", .kind = K_INT, .i = 1},
        {.key = "reused", .kind = K_BOOL, .i = 0},
        {.key = "tcp", .kind = K_OBJ},
        {.key = "cause", .kind = K_OBJ},
        {.key = "events", .kind = K_ARR},
        {.key = "events_dropped", .kind = K_INT, .i = 0},
        {.key = "attempt", .kind = K_ABSENT},
        {.key = "action", .kind = K_ABSENT},
    };
    check_fields("example", j, want, sizeof want / sizeof want[0]);
    ok(j && is_iso_utc(json_string_value(json_object_get(j, "time"))),
       "time is ISO 8601 UTC with microseconds");
    if (j) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        char day[16];
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        const char *t = json_string_value(json_object_get(j, "time"));
        /* (a run across midnight UTC could flake here; accept yesterday's date then) */
        ok(t && (!strncmp(t, day, 10) || now.tv_sec % 86400 < 5), "time is today's date (UTC)");
    }

    json_t *tcp = j ? json_object_get(j, "tcp") : NULL;
    const struct field_want tw[] = {
        {.key = "state", .kind = K_STR, .s = "ESTABLISHED"},
        {.key = "rtt_us", .kind = K_INT, .i = 41},
        {.key = "retrans", .kind = K_INT, .i = 0},
        {.key = "total_retrans", .kind = K_INT, .i = 0},
        {.key = "unacked", .kind = K_INT, .i = 1},
        {.key = "snapshot_age_ms", .kind = K_NUM, .lo = 1503.099, .hi = 1503.101},
    };
    check_fields("example tcp", tcp, tw, sizeof tw / sizeof tw[0]);

    json_t *cause = j ? json_object_get(j, "cause") : NULL;
    const struct field_want cw[] = {
        {.key = "code", .kind = K_STR, .s = "reset_before_response"},
        {.key = "hint", .kind = K_STR},
    };
    check_fields("example cause", cause, cw, sizeof cw / sizeof cw[0]);
    ok(cause && strstr(json_string_value(json_object_get(cause, "hint")), "server's logs"),
       "the hint names the next step");

    json_t *ev = j ? json_object_get(j, "events") : NULL;
    ok(json_array_size(ev) == 3, "three events");
    static const struct {
        const char *op;
        int ret;
        const char *err;
        double t_ms;
    } ew[] = {
        {"connect", 0, NULL, 0.0}, {"send", 78, NULL, 0.3}, {"recv", -1, "ECONNRESET", 1503.2}};
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(ev, i);
        int good = json_is_object(e) && json_is_string(json_object_get(e, "op")) &&
                   !strcmp(json_string_value(json_object_get(e, "op")), ew[i].op) &&
                   json_is_integer(json_object_get(e, "ret")) &&
                   json_integer_value(json_object_get(e, "ret")) == ew[i].ret &&
                   json_is_number(json_object_get(e, "t_ms")) &&
                   json_number_value(json_object_get(e, "t_ms")) > ew[i].t_ms - 0.0015 &&
                   json_number_value(json_object_get(e, "t_ms")) < ew[i].t_ms + 0.0015 &&
                   !json_object_get(e, "n") && !json_object_get(e, "span_ms");
        if (ew[i].err)
            good = good && json_is_string(json_object_get(e, "errno")) &&
                   !strcmp(json_string_value(json_object_get(e, "errno")), ew[i].err);
        else
            good = good && !json_object_get(e, "errno");
        ok(good, "event %zu is {t_ms:%.1f, op:%s, ret:%d%s%s}", i, ew[i].t_ms, ew[i].op, ew[i].ret,
           ew[i].err ? ", errno:" : "", ew[i].err ? ew[i].err : "");
    }
    json_decref(j);
    free(c);
}

/* ---- events: merging, wrap-around -------------------------------------------------- */

static void test_events(void)
{
    struct conn *c = example_conn();
    c->ring.head = 0;
    ring_push(&c->ring, OP_CONNECT, 0, 0, T0);
    ring_push(&c->ring, OP_SEND, 78, 0, T0 + MS(1));
    for (int i = 0; i < 5; i++)
        ring_push(&c->ring, OP_RECV, 100, 0, T0 + MS(2 + i * 10));
    for (int i = 0; i < 3; i++)
        ring_push(&c->ring, OP_RECV, -1, EAGAIN, T0 + MS(50 + i));
    ring_push(&c->ring, OP_RECV, -1, ECONNRESET, T0 + MS(60));
    c->bytes_in = 500;
    c->exchange_resp = 500;
    struct record_info ri = reset_info(OP_RECV, ECONNRESET, T0 + MS(60));
    json_t *j = format_parse(c, &ri);
    json_t *ev = json_object_get(j, "events");
    ok(json_array_size(ev) == 5, "merged: 11 calls make 5 events (got %zu)", json_array_size(ev));
    json_t *m = json_array_get(ev, 2);
    ok(json_integer_value(json_object_get(m, "n")) == 5 &&
           json_integer_value(json_object_get(m, "ret")) == 500 &&
           json_is_number(json_object_get(m, "span_ms")) &&
           json_number_value(json_object_get(m, "span_ms")) > 39.999 &&
           json_number_value(json_object_get(m, "span_ms")) < 40.001 &&
           json_number_value(json_object_get(m, "t_ms")) > 1.999 &&
           json_number_value(json_object_get(m, "t_ms")) < 2.001,
       "merged recv run: n 5, ret = sum 500, span_ms 40, t_ms of the first call");
    json_t *a = json_array_get(ev, 3);
    ok(json_integer_value(json_object_get(a, "n")) == 3 &&
           json_integer_value(json_object_get(a, "ret")) == -1 &&
           !strcmp(jstr(a, "errno"), "EAGAIN") &&
           json_number_value(json_object_get(a, "span_ms")) > 1.999,
       "merged EAGAIN run: n 3, ret -1, errno EAGAIN, span_ms 2");
    json_t *last = json_array_get(ev, 4);
    ok(!json_object_get(last, "n") && !strcmp(jstr(last, "errno"), "ECONNRESET"),
       "the failing call is its own event, not merged with the EAGAINs");
    ok(!strcmp(jstr(json_object_get(j, "cause"), "code"), "reset_mid_stream"),
       "500 response bytes then a reset: reset_mid_stream");
    json_decref(j);
    free(c);

    /* An 8-slot ring after 12 distinct events keeps the newest 8. */
    c = conn_new(8);
    c->family = AF_INET;
    c->role = ROLE_CLIENT;
    for (int i = 0; i < 12; i++)
        ring_push(&c->ring, i % 2 ? OP_RECV : OP_SEND, 10 + i, 0, T0 + MS(i));
    ri = reset_info(OP_RECV, ECONNRESET, T0 + MS(20));
    j = format_parse(c, &ri);
    ev = json_object_get(j, "events");
    ok(json_array_size(ev) == 8 && json_integer_value(json_object_get(j, "events_dropped")) == 4,
       "8-slot ring, 12 events: 8 kept, events_dropped 4");
    int sorted = json_array_size(ev) == 8;
    for (size_t i = 1; sorted && i < 8; i++)
        sorted = json_number_value(json_object_get(json_array_get(ev, i - 1), "t_ms")) <
                 json_number_value(json_object_get(json_array_get(ev, i), "t_ms"));
    ok(sorted && json_integer_value(json_object_get(json_array_get(ev, 0), "ret")) == 14,
       "the kept events are the newest, oldest first");
    ok(json_is_null(json_object_get(j, "tcp")), "no snapshot taken: tcp is null");
    json_decref(j);
    free(c);

    /* An empty ring. */
    c = conn_new(8);
    ri = reset_info(OP_RECV, ECONNRESET, T0);
    j = format_parse(c, &ri);
    ok(json_array_size(json_object_get(j, "events")) == 0 &&
           json_is_array(json_object_get(j, "events")),
       "no events: an empty array");
    json_decref(j);
    free(c);
}

/* ---- other record types and families --------------------------------------------------- */

static void test_types_and_families(void)
{
    /* close record (RSTWATCH_RECORD=all): no errno, no cause */
    struct conn *c = example_conn();
    struct record_info ri = {
        .type = "close", .fd = 9, .op = OP_CLOSE, .err = 0, .now_ns = T0 + MS(5)};
    json_t *j = format_parse(c, &ri);
    const struct field_want close_w[] = {
        {.key = "type", .kind = K_STR, .s = "close"},
        {.key = "op", .kind = K_STR, .s = "close"},
        {.key = "errno", .kind = K_NULL},
        {.key = "errno_code", .kind = K_INT, .i = 0},
        {.key = "cause", .kind = K_ABSENT},
        {.key = "fd", .kind = K_INT, .i = 9},
    };
    check_fields("close record", j, close_w, sizeof close_w / sizeof close_w[0]);
    json_decref(j);

    /* retry record: attempt, action, outcome, reason */
    ri = (struct record_info){.type = "retry",
                              .fd = 5,
                              .op = OP_CONNECT,
                              .err = ECONNREFUSED,
                              .now_ns = T0 + MS(5),
                              .attempt = 2,
                              .action = "reconnect",
                              .outcome = "ok",
                              .reason = "connect refused"};
    j = format_parse(c, &ri);
    const struct field_want retry_w[] = {
        {.key = "type", .kind = K_STR, .s = "retry"},
        {.key = "attempt", .kind = K_INT, .i = 2},
        {.key = "action", .kind = K_STR, .s = "reconnect"},
        {.key = "outcome", .kind = K_STR, .s = "ok"},
        {.key = "reason", .kind = K_STR, .s = "connect refused"},
        {.key = "errno", .kind = K_STR, .s = "ECONNREFUSED"},
        {.key = "cause", .kind = K_OBJ},
    };
    check_fields("retry record", j, retry_w, sizeof retry_w / sizeof retry_w[0]);
    ok(!strcmp(jstr(json_object_get(j, "cause"), "code"), "refused"),
       "retry record: cause refused");
    json_decref(j);

    /* reused connection */
    c->exchanges = 3;
    ri = reset_info(OP_RECV, ECONNRESET, T0 + MS(5));
    j = format_parse(c, &ri);
    ok(json_is_true(json_object_get(j, "reused")) &&
           json_integer_value(json_object_get(j, "exchanges")) == 3,
       "exchanges 3: reused true");
    json_decref(j);
    free(c);

    /* an unknown errno still gets a name */
    c = example_conn();
    ri = reset_info(OP_RECV, 200, T0 + MS(5));
    j = format_parse(c, &ri);
    ok(json_is_string(json_object_get(j, "errno")) &&
           json_integer_value(json_object_get(j, "errno_code")) == 200,
       "errno 200 (no name): errno is still a string (\"%s\")", jstr(j, "errno"));
    json_decref(j);
    free(c);

    /* inet6 server */
    c = example_conn();
    c->family = AF_INET6;
    c->role = ROLE_SERVER;
    set_in6(&c->local, "::1", 443);
    set_in6(&c->peer, "2001:db8::7", 50123);
    ri = reset_info(OP_SEND, EPIPE, T0 + MS(5));
    j = format_parse(c, &ri);
    const struct field_want v6_w[] = {
        {.key = "family", .kind = K_STR, .s = "inet6"},
        {.key = "role", .kind = K_STR, .s = "server"},
        {.key = "local", .kind = K_STR, .s = "[::1]:443"},
        {.key = "peer", .kind = K_STR, .s = "[2001:db8::7]:50123"},
        {.key = "errno", .kind = K_STR, .s = "EPIPE"},
        {.key = "errno_code", .kind = K_INT, .i = EPIPE},
    };
    check_fields("inet6 server", j, v6_w, sizeof v6_w / sizeof v6_w[0]);
    json_decref(j);
    free(c);

    /* unix client: the path is the peer's, local is unnamed */
    c = conn_new(8);
    c->family = AF_UNIX;
    c->role = ROLE_CLIENT;
    c->local.sa.sa_family = AF_UNIX;
    c->peer.sa.sa_family = AF_UNIX;
    strcpy(c->unix_path, "/run/app.sock");
    ri = reset_info(OP_RECV, ECONNRESET, T0 + MS(1));
    j = format_parse(c, &ri);
    const struct field_want ux_w[] = {
        {.key = "family", .kind = K_STR, .s = "unix"},
        {.key = "local", .kind = K_STR, .s = "unix:(unnamed)"},
        {.key = "peer", .kind = K_STR, .s = "unix:/run/app.sock"},
        {.key = "tcp", .kind = K_NULL},
    };
    check_fields("unix client", j, ux_w, sizeof ux_w / sizeof ux_w[0]);
    json_decref(j);

    /* unix server on an abstract name: the path is local */
    c->role = ROLE_SERVER;
    memcpy(c->unix_path, "\0svc", 5);
    j = format_parse(c, &ri);
    const struct field_want uxs_w[] = {
        {.key = "role", .kind = K_STR, .s = "server"},
        {.key = "local", .kind = K_STR, .s = "unix:@svc"},
        {.key = "peer", .kind = K_STR, .s = "unix:(unnamed)"},
    };
    check_fields("abstract unix server", j, uxs_w, sizeof uxs_w / sizeof uxs_w[0]);
    json_decref(j);
    free(c);
}

/* ---- hostile strings in a whole record ---------------------------------------------------- */

/* The record's prog is captured at load (record.c's constructor), so a
 * hostile program name needs a process of its own: this test binary re-execs
 * itself with argv[0] = HOSTILE_PROG and prints one record (see main). */
static const char HOSTILE_PROG[] = "e\"v\\il\n\x1b[31m\xff<script>";
static const char HOSTILE_PROG_DECODED[] = "e\"v\\il\n\x1b[31m\xc3\xbf<script>";

static struct conn *hostile_conn(void)
{
    struct conn *c = conn_new(8);
    c->family = AF_UNIX;
    c->role = ROLE_CLIENT;
    c->local.sa.sa_family = c->peer.sa.sa_family = AF_UNIX;
    /* a maximal 108-byte path, every byte hostile */
    memset(c->unix_path, 0, sizeof c->unix_path);
    for (size_t i = 0; i < sizeof c->unix_path - 1; i++)
        c->unix_path[i] = "\"\\\x01\xfe"[i % 4];
    return c;
}

static const struct record_info hostile_info = {.type = "retry",
                                                .fd = 3,
                                                .op = OP_RECV,
                                                .err = ECONNRESET,
                                                .now_ns = 5000000000000ull,
                                                .attempt = 1,
                                                .action = "replay\t\"x\"",
                                                .reason = "POST \\ without Idempotency-Key\r\n"};

static int print_hostile_record(void)
{
    struct conn *c = hostile_conn();
    struct strbuf b;
    sb_init(&b, linebuf, sizeof linebuf - 1);
    record_format(&b, c, &hostile_info);
    if (b.overflow) return 1;
    fwrite(linebuf, 1, b.len, stdout);
    free(c);
    return 0;
}

static void test_hostile_record(void)
{
    int p[2];
    if (pipe(p)) abort();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        char *const argv[] = {(char *)HOSTILE_PROG, (char *)"--print-hostile-record", NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof linebuf - 1 && (r = read(p[0], linebuf + n, sizeof linebuf - 1 - n)) > 0)
        n += (size_t)r;
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    linebuf[n] = 0;
    json_error_t e;
    json_t *j = json_loads(linebuf, 0, &e);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && j != NULL && !raw_controls(linebuf),
       "hostile prog/path/reason: the line parses and has no raw control bytes");
    ok(!strcmp(jstr(j, "prog"), HOSTILE_PROG_DECODED),
       "a hostile program name round-trips (the invalid byte 0xff as U+00FF)");
    struct conn *c = hostile_conn();
    char want[400] = "unix:";
    for (size_t i = 0; i < sizeof c->unix_path - 1; i++)
        strcat(want, (const char *[]){"\"", "\\", "\x01", "\xc3\xbe"}[i % 4]);
    ok(!strcmp(jstr(j, "peer"), want), "a 108-byte hostile unix path round-trips whole");
    ok(!strcmp(jstr(j, "action"), "replay\t\"x\"") &&
           !strcmp(jstr(j, "reason"), "POST \\ without Idempotency-Key\r\n"),
       "action and reason round-trip");
    json_decref(j);
    free(c);
}

/* ---- bounded output ----------------------------------------------------------------------- */

static void test_overflow_and_write(void)
{
    struct conn *c = example_conn();
    struct record_info ri = reset_info(OP_RECV, ECONNRESET, T0 + MS(1503.2));
    char small[101];
    memset(small, 'Z', sizeof small);
    struct strbuf b;
    sb_init(&b, small, 100);
    record_format(&b, c, &ri);
    ok(b.overflow && b.len <= 100 && small[100] == 'Z',
       "a 100-byte buffer: overflow flagged, nothing written past it");
    free(c);

    /* record_write through the sink: a full 64-slot ring of the longest events,
     * hostile long strings, still one complete line. */
    int p[2];
    if (pipe(p)) abort();
    fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
    char spec[32];
    snprintf(spec, sizeof spec, "fd:%d", p[1]);
    sink_configure(spec);
    c = conn_new(64);
    c->family = AF_UNIX;
    c->role = ROLE_SERVER;
    c->local.sa.sa_family = c->peer.sa.sa_family = AF_UNIX;
    memset(c->unix_path, 0x01, sizeof c->unix_path - 1);
    for (int i = 0; i < 200; i++) {
        ring_push(&c->ring, i % 2 ? OP_SOCKOPT_ERROR : OP_RECVMMSG, -1,
                  i % 2 ? EPROTONOSUPPORT : EHOSTUNREACH,
                  UINT64_MAX / 2 + (uint64_t)i * 4000000000ull);
        c->ring.ev[(c->ring.head - 1) & c->ring.mask].n = 2;
        c->ring.ev[(c->ring.head - 1) & c->ring.mask].span_1k = UINT32_MAX;
    }
    c->bytes_in = c->bytes_out = INT64_MAX; /* jansson (and the CLI) read int64 */
    c->idle_before = UINT64_MAX;
    c->tcp.t_ns = 1;
    c->tcp.rtt_us = c->tcp.unacked = UINT32_MAX;
    ri = (struct record_info){.type = "reset",
                              .fd = 3,
                              .op = OP_RECV,
                              .err = ECONNRESET,
                              .now_ns = UINT64_MAX,
                              .attempt = -2147483647,
                              .action = "replay",
                              .outcome = "refused",
                              .reason = "x"};
    int rc = record_write(c, &ri);
    close(p[1]);
    static char got[1 << 20];
    ssize_t n = read(p[0], got, sizeof got - 1);
    close(p[0]);
    got[n > 0 ? n : 0] = 0;
    json_error_t e;
    json_t *j = n > 0 ? json_loads(got, JSON_DISABLE_EOF_CHECK, &e) : NULL;
    if (n > 0 && !j)
        printf("# json_loads: %s at column %d: %.300s\n", e.text, e.column,
               got + (e.position > 100 ? e.position - 100 : 0));
    ok(rc == 0 && n > 0 && got[n - 1] == '\n' && memchr(got, '\n', (size_t)n) == got + n - 1 && j,
       "worst-case record_write: rc 0, one complete parseable line (rc %d, %zd bytes)", rc, n);
    ok(j && json_array_size(json_object_get(j, "events")) == 64 &&
           json_integer_value(json_object_get(j, "events_dropped")) == 136,
       "worst-case record: 64 events, 136 dropped");
    json_decref(j);
    free(c);
    sink_configure("stderr");
}

/* ---- sb_put_json_str round trips ----------------------------------------------------------------
 */

static void test_json_strings(void)
{
    static const struct {
        const char *name;
        const char *in;
        size_t len; /* 0: strlen */
        const char *want;
    } cases[] = {
        {"plain ASCII", "curl", 0, "curl"},
        {"empty", "", 0, ""},
        {"quote and backslash", "a\"b\\c\\\"", 0, "a\"b\\c\\\""},
        {"named escapes", "l1\nl2\r\tend", 0, "l1\nl2\r\tend"},
        {"every C0 control byte and DEL",
         "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
         "\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f",
         0,
         "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
         "\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"},
        {"terminal escape", "\x1b]0;pwned\x07", 0, "\x1b]0;pwned\x07"},
        {"valid UTF-8 (2, 3, 4 bytes)", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e", 0,
         "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e"},
        {"U+10FFFF (highest code point)", "\xf4\x8f\xbf\xbf", 0, "\xf4\x8f\xbf\xbf"},
        {"lone 0xff", "\xff", 0, "\xc3\xbf"},
        {"invalid byte then ASCII",
         "\xff"
         "A",
         0,
         "\xc3\xbf"
         "A"},
        {"overlong '/' (C0 AF)", "\xc0\xaf", 0, "\xc3\x80\xc2\xaf"},
        {"overlong 3-byte NUL (E0 80 80)", "\xe0\x80\x80", 0, "\xc3\xa0\xc2\x80\xc2\x80"},
        {"truncated 3-byte sequence", "\xe2\x82", 0, "\xc3\xa2\xc2\x82"},
        {"truncated sequence followed by ASCII",
         "\xe2\x82"
         "x",
         0,
         "\xc3\xa2\xc2\x82"
         "x"},
        {"UTF-16 surrogate (ED A0 80)", "\xed\xa0\x80", 0, "\xc3\xad\xc2\xa0\xc2\x80"},
        {"beyond U+10FFFF (F4 90 80 80)", "\xf4\x90\x80\x80", 0,
         "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80"},
        {"lone continuation byte", "\x80", 0, "\xc2\x80"},
        {"HTML stays literal", "</script><img src=x onerror=alert(1)>", 0,
         "</script><img src=x onerror=alert(1)>"},
        {"length-bounded (stops before the tail)", "abc\"def", 4, "abc\""},
    };
    static char buf[1 << 16];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct strbuf b;
        sb_init(&b, buf, sizeof buf - 1);
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        sb_put_json_str(&b, cases[i].in, len);
        buf[b.len] = 0;
        json_error_t e;
        json_t *j = json_loads(buf, JSON_DECODE_ANY, &e);
        int good = j && json_is_string(j) && !strcmp(json_string_value(j), cases[i].want) &&
                   !raw_controls(buf);
        if (!ok(good, "json string: %s", cases[i].name)) printf("#   encoded: %s\n", buf);
        json_decref(j);
    }

    /* 10000 bytes of every byte value 1..255, cycling */
    static char big[10001];
    for (int i = 0; i < 10000; i++)
        big[i] = (char)(1 + i % 255);
    struct strbuf b;
    sb_init(&b, buf, sizeof buf - 1);
    sb_put_json_str(&b, big, 10000);
    buf[b.len] = 0;
    json_error_t e;
    json_t *j = json_loads(buf, JSON_DECODE_ANY, &e);
    ok(!b.overflow && j && json_is_string(j) && !raw_controls(buf),
       "10000 bytes cycling through 0x01..0xff: valid JSON, no raw control bytes");
    /* every ASCII byte survives exactly; each high byte becomes one code point */
    size_t ascii = 0, got_ascii = 0;
    for (int i = 0; i < 10000; i++)
        ascii += (unsigned char)big[i] < 0x80;
    const char *s = json_string_value(j);
    for (; s && *s; s++)
        got_ascii += (unsigned char)*s < 0x80;
    ok(ascii == got_ascii, "all %zu ASCII bytes survive (got %zu)", ascii, got_ascii);
    json_decref(j);

    /* too small a buffer: overflow flagged, never written past cap */
    char tiny[9];
    memset(tiny, 'Z', sizeof tiny);
    sb_init(&b, tiny, 8);
    sb_put_json_str(&b, "\x01\x01\x01", 3);
    ok(b.overflow && b.len <= 8 && tiny[8] == 'Z',
       "an escape that does not fit sets overflow and stays in bounds");
}

/* ---- numbers ----------------------------------------------------------------------------------
 */

static void test_numbers(void)
{
    static const struct {
        uint64_t ns;
        const char *want;
    } ms[] = {
        {0, "0.000"},
        {999, "0.000"},
        {1000, "0.001"},
        {1503215000, "1503.215"},
        {UINT64_MAX, "18446744073709.551"},
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        char buf[64];
        struct strbuf b;
        sb_init(&b, buf, sizeof buf);
        sb_put_ms(&b, ms[i].ns);
        ok(!strcmp(sb_cstr(&b), ms[i].want), "sb_put_ms(%llu) = %s (got %s)",
           (unsigned long long)ms[i].ns, ms[i].want, buf);
    }
    char buf[64];
    struct strbuf b;
    sb_init(&b, buf, sizeof buf);
    sb_puti(&b, INT64_MIN);
    sb_putc(&b, ' ');
    sb_puti(&b, -1);
    sb_putc(&b, ' ');
    sb_putu(&b, UINT64_MAX);
    ok(!strcmp(sb_cstr(&b), "-9223372036854775808 -1 18446744073709551615"),
       "sb_puti/sb_putu extremes (got %s)", buf);
}

/* ---- recfmt_put_time
 * ------------------------------------------------------------------------------ */

static void test_time(void)
{
    static const struct {
        int64_t sec;
        long nsec;
        const char *want;
    } cases[] = {
        {0, 0, "1970-01-01T00:00:00.000000Z"},
        {0, 999999999, "1970-01-01T00:00:00.999999Z"},
        {0, 1000, "1970-01-01T00:00:00.000001Z"},
        {1709210096, 789012345, "2024-02-29T12:34:56.789012Z"},
        {1709251199, 0, "2024-02-29T23:59:59.000000Z"},
        {1709251200, 0, "2024-03-01T00:00:00.000000Z"},
        {951782400, 0, "2000-02-29T00:00:00.000000Z"},
        {4107542400, 0, "2100-03-01T00:00:00.000000Z"},
        {4107456000, 0, "2100-02-28T00:00:00.000000Z"},
        {2147483647, 0, "2038-01-19T03:14:07.000000Z"},
        {2147483648, 0, "2038-01-19T03:14:08.000000Z"},
        {4294967296, 0, "2106-02-07T06:28:16.000000Z"},
        {253402300799, 123456000, "9999-12-31T23:59:59.123456Z"},
        {-1, 0, "1969-12-31T23:59:59.000000Z"},
        {-86400, 0, "1969-12-31T00:00:00.000000Z"},
        {-14182940, 0, "1969-07-20T20:17:40.000000Z"},
        {-2208988800, 0, "1900-01-01T00:00:00.000000Z"},
        {-11670998400, 0, "1600-02-29T00:00:00.000000Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        struct strbuf b;
        sb_init(&b, buf, sizeof buf);
        recfmt_put_time(&b, cases[i].sec, cases[i].nsec);
        ok(!strcmp(sb_cstr(&b), cases[i].want), "recfmt_put_time(%lld) = %s (got %s)",
           (long long)cases[i].sec, cases[i].want, buf);
    }
    /* A sweep against gmtime_r over years 1601..9999, odd steps hit every field. */
    int bad = 0, n = 0;
    for (int64_t s = -11644473600; s < 253402300799; s += 86400LL * 97 + 3607 * 7 + 13, n++) {
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[64], got[64];
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S.000042Z", &tm);
        struct strbuf b;
        sb_init(&b, got, sizeof got);
        recfmt_put_time(&b, s, 42000);
        if (strcmp(sb_cstr(&b), want) && bad++ < 3)
            printf("#   %lld: got %s, want %s\n", (long long)s, got, want);
    }
    ok(!bad, "recfmt_put_time agrees with gmtime_r on %d instants 1601..9999", n);
}

/* ---- record_put_addr
 * -------------------------------------------------------------------------------- */

static void test_addr(void)
{
    union sockaddr_any a;
    struct {
        const char *name;
        int fam;
        const char *ip;
        unsigned port;
        const char *path; /* AF_UNIX: the stored path (NUL-led = abstract) */
        size_t pathlen;
        const char *want;
    } cases[] = {
        {"IPv4", AF_INET, "127.0.0.1", 8080, NULL, 0, "127.0.0.1:8080"},
        {"IPv4 any, port 0", AF_INET, "0.0.0.0", 0, NULL, 0, "0.0.0.0:0"},
        {"IPv4 broadcast, port 65535", AF_INET, "255.255.255.255", 65535, NULL, 0,
         "255.255.255.255:65535"},
        {"IPv6 loopback", AF_INET6, "::1", 443, NULL, 0, "[::1]:443"},
        {"IPv6 full", AF_INET6, "2001:db8:1:2:3:4:5:6", 80, NULL, 0, "[2001:db8:1:2:3:4:5:6]:80"},
        {"IPv6 v4-mapped", AF_INET6, "::ffff:10.0.0.1", 8443, NULL, 0, "[::ffff:10.0.0.1]:8443"},
        {"IPv6 link-local", AF_INET6, "fe80::1", 22, NULL, 0, "[fe80::1]:22"},
        {"unix path", AF_UNIX, NULL, 0, "/run/docker.sock", 17, "unix:/run/docker.sock"},
        {"unix abstract", AF_UNIX, NULL, 0, "\0/tmp/.X11-unix/X0", 19, "unix:@/tmp/.X11-unix/X0"},
        {"unix unnamed (empty path)", AF_UNIX, NULL, 0, "\0\0", 2, "unix:(unnamed)"},
        {"unix unnamed (no path)", AF_UNIX, NULL, 0, NULL, 0, "unix:(unnamed)"},
        {"unspecified family", AF_UNSPEC, NULL, 0, NULL, 0, "unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&a, 0, sizeof a);
        char path[110] = {0};
        if (cases[i].fam == AF_INET)
            set_in(&a, cases[i].ip, cases[i].port);
        else if (cases[i].fam == AF_INET6)
            set_in6(&a, cases[i].ip, cases[i].port);
        else
            a.sa.sa_family = (sa_family_t)cases[i].fam;
        if (cases[i].path) memcpy(path, cases[i].path, cases[i].pathlen);
        char buf[200];
        struct strbuf b;
        sb_init(&b, buf, sizeof buf);
        record_put_addr(&b, &a, cases[i].path ? path : NULL);
        ok(!strcmp(sb_cstr(&b), cases[i].want), "record_put_addr %s = %s (got %s)", cases[i].name,
           cases[i].want, buf);
    }
}

/* ---- record_cause_input: what the classifier is told
 * ------------------------------------------------ */

static void test_cause_input(void)
{
    struct conn *c = example_conn();
    struct record_info ri = reset_info(OP_RECV, ECONNRESET, T0 + MS(1503.2));
    struct cause_input in;
    record_cause_input(c, &ri, &in);
    ok(in.err == ECONNRESET && in.op_class == OPC_IN && !in.server && in.established &&
           !in.peer_fin && in.exchanges == 1 && in.bytes_out == 78 && in.exchange_in == 0 &&
           in.idle_before_ms == 0 && in.snap_state == 1 && !in.snap_fresh,
       "example conn: the classifier sees err, op class, counters; the connect-time snapshot is "
       "not fresh");

    /* op classes */
    static const struct {
        unsigned op;
        int cls;
    } ops[] = {{OP_CONNECT, OPC_CONNECT}, {OP_SOCKOPT_ERROR, OPC_CONNECT},
               {OP_ACCEPT, OPC_ACCEPT},   {OP_SEND, OPC_OUT},
               {OP_WRITEV, OPC_OUT},      {OP_SENDFILE, OPC_OUT},
               {OP_SENDMMSG, OPC_OUT},    {OP_READ, OPC_IN},
               {OP_RECVMSG, OPC_IN},      {OP_RECVMMSG, OPC_IN},
               {OP_CLOSE, OPC_CLOSE},     {OP_SHUTDOWN, OPC_OTHER}};
    int cls_ok = 1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        ri.op = ops[i].op;
        record_cause_input(c, &ri, &in);
        if (in.op_class != ops[i].cls)
            cls_ok = 0, printf("#   %s -> class %d\n", ring_op_name(ops[i].op), in.op_class);
    }
    ok(cls_ok, "every failing call maps to its op class");

    /* a snapshot taken at or after the last successful I/O is fresh */
    c->tcp.t_ns = c->t_last;
    c->tcp.state = 8;
    ri.op = OP_RECV;
    record_cause_input(c, &ri, &in);
    ok(in.snap_fresh && in.snap_state == 8, "a snapshot at t_last is fresh (CLOSE_WAIT passed on)");
    c->tcp.t_ns = 0;
    record_cause_input(c, &ri, &in);
    ok(!in.snap_fresh && in.snap_state == 0, "no snapshot: state 0, not fresh");
    c->flags |= CONN_PEER_FIN | CONN_LINGER0;
    c->role = ROLE_SERVER;
    c->idle_before = MS(65000.9);
    record_cause_input(c, &ri, &in);
    ok(in.peer_fin && in.linger0 && in.server && in.idle_before_ms == 65000,
       "flags and role pass through; idle_before ns -> whole ms");
    free(c);

    /* The stale keep-alive as it really happens (tests/causes.bats reproduces it
     * with python http.client against resetd idle-close): the first request was
     * answered (91 bytes), the connection sat idle 2.2 s (at least the smallest
     * known idle timeout, 2 s; shorter would be early_close), the server reset it
     * while idle, and the send of the second request fails at once. That
     * failing send begins exchange 2 (io.c's io_end counts a request whose
     * first write failed): the record must say reused, 1.2 s idle before it,
     * nothing of its response, and idle_reuse. */
    c = example_conn();
    ring_push(&c->ring, OP_RECV, 91, 0, T0 + MS(1));
    c->t_last = T0 + MS(1);
    c->bytes_in = 91;
    c->calls_in = 1;
    c->exchanges = 2;
    c->exchange_resp = 0;
    c->idle_before = MS(2200);
    c->t_exchange = T0 + MS(2201);
    c->dir = DIR_OUT;
    c->tcp = (struct tcp_snap){.t_ns = T0 + MS(2201), .state = 7}; /* io_begin's snapshot: CLOSE */
    ring_push(&c->ring, OP_SEND, -1, ECONNRESET, T0 + MS(2201));
    ri = reset_info(OP_SEND, ECONNRESET, T0 + MS(2201));
    record_cause_input(c, &ri, &in);
    size_t rule = cause_classify(&in);
    if (!ok(cause_rules[rule].code == CAUSE_IDLE_REUSE && in.exchanges == 2 &&
                in.exchange_in == 0 && in.idle_before_ms == 2200 && in.snap_fresh &&
                in.snap_state == 7,
            "send of a new request on a connection reset while idle 2.2 s: idle_reuse"))
        printf("#   got %s (cause_input: exchanges %u, exchange_in %llu, idle_before_ms %llu)\n",
               cause_code_name(cause_rules[rule].code), in.exchanges,
               (unsigned long long)in.exchange_in, (unsigned long long)in.idle_before_ms);
    json_t *j = format_parse(c, &ri);
    ok(!strcmp(jstr(json_object_get(j, "cause"), "code"), "idle_reuse") &&
           json_is_true(json_object_get(j, "reused")) &&
           json_number_value(json_object_get(j, "idle_before_ms")) >= 1000,
       "... and the record says idle_reuse, reused true, idle_before_ms >= 2000 (got %s, reused "
       "%s, %.3f)",
       jstr(json_object_get(j, "cause"), "code"),
       json_is_true(json_object_get(j, "reused")) ? "true" : "false",
       json_number_value(json_object_get(j, "idle_before_ms")));
    json_decref(j);
    free(c);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--print-hostile-record")) return print_hostile_record();
    test_example_record();
    test_events();
    test_types_and_families();
    test_hostile_record();
    test_overflow_and_write();
    test_json_strings();
    test_numbers();
    test_time();
    test_addr();
    test_cause_input();
    return tap_done();
}
