// SPDX-License-Identifier: MIT
/* schema_test.c: the shim writes what the schema table says, in its order.
 *
 * The writer (shim/record.c, shim/summary.c) takes its keys from shim/schema.h,
 * which the readers in cli/ expand too. This test holds the writer to the
 * table from the outside: it writes one record of every kind through the real
 * path (record_write and summary_flush into a pipe sink; a reset, an eof, an
 * error, a unix close, retry and inject records, a record on a real loopback
 * socket whose TCP_INFO snapshot is taken after the failure, records the rate
 * limit left out and the summary that counts them), parses every line with
 * jansson (which keeps a line's key order) and checks that
 *   - every key, at the top level and in tcp, cause, events[] and counts[], is
 *     a field of its table, and the keys come in table order;
 *   - every field of every table is written by at least one record kind, so a
 *     field the table gains without a writer, or one the writer stops
 *     writing, fails here.
 * The order check is shown to fail on a line with two keys swapped and on one
 * with a key the table does not know.
 * Prints TAP; exits 1 on any failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "conn_fixture.h"
#include "tap.h"

#include "options.h"
#include "ratelimit.h"
#include "record.h"
#include "schema.h"
#include "sink.h"
#include "summary.h"

/* ---- the tables, straight from schema.h -------------------------------------------------------
 */

#define KEY(key, kind, member, doc) key,
static const char *const top_keys[] = {RECORD_FIELDS(KEY)};
static const char *const tcp_keys[] = {RECORD_TCP_FIELDS(KEY)};
static const char *const cause_keys[] = {RECORD_CAUSE_FIELDS(KEY)};
static const char *const event_keys[] = {RECORD_EVENT_FIELDS(KEY)};
static const char *const count_keys[] = {RECORD_COUNT_FIELDS(KEY)};

struct table {
    const char *name;
    const char *const *keys;
    size_t n;
    unsigned seen[64]; /* how many written lines carried each field */
};

#define TABLE(name, a)                                                                             \
    {                                                                                              \
        name, a, sizeof a / sizeof a[0],                                                           \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }
static struct table t_top = TABLE("record", top_keys), t_tcp = TABLE("tcp", tcp_keys),
                    t_cause = TABLE("cause", cause_keys), t_event = TABLE("events[]", event_keys),
                    t_count = TABLE("counts[]", count_keys);

static int index_of(const struct table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->keys[i], key)) return (int)i;
    return -1;
}

/* Checks one object's keys against table t (and nested objects against
 * theirs). Returns 0, or -1 with the reason in why. */
static int check_object(json_t *obj, struct table *t, char *why, size_t whylen);

static int check_nested(const char *key, json_t *v, char *why, size_t whylen)
{
    if (!strcmp(key, "tcp") && json_is_object(v)) return check_object(v, &t_tcp, why, whylen);
    if (!strcmp(key, "cause") && json_is_object(v)) return check_object(v, &t_cause, why, whylen);
    struct table *elem = !strcmp(key, "events")   ? &t_event
                         : !strcmp(key, "counts") ? &t_count
                                                  : NULL;
    if (elem && json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_object(e))
                return snprintf(why, whylen, "%s[%zu] not an object", key, i), -1;
            if (check_object(e, elem, why, whylen)) return -1;
        }
    }
    return 0;
}

static int check_object(json_t *obj, struct table *t, char *why, size_t whylen)
{
    int last = -1;
    const char *key, *last_key = "";
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int i = index_of(t, key);
        if (i < 0)
            return snprintf(why, whylen, "%s: key \"%s\" is not in the table", t->name, key), -1;
        if (i <= last)
            return snprintf(why, whylen, "%s: \"%s\" after \"%s\", the table has it before",
                            t->name, key, last_key),
                   -1;
        last = i, last_key = key;
        t->seen[i]++;
        if (t == &t_top && check_nested(key, v, why, whylen)) return -1;
    }
    return 0;
}

/* Parses one line and checks it; 0 or -1 with why. */
static int check_line(const char *line, char *why, size_t whylen)
{
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (!j) return snprintf(why, whylen, "not JSON: %s", e.text), -1;
    int rc = json_is_object(j) ? check_object(j, &t_top, why, whylen)
                               : (snprintf(why, whylen, "not an object"), -1);
    json_decref(j);
    return rc;
}

/* ---- one record of every kind, through the real writer ----------------------------------------
 */

/* A client that sent a request (merged sends) and met a reset, with a snapshot. */
static struct conn *client_conn(unsigned peer_port)
{
    struct conn *c = conn_new(16);
    c->id = peer_port;
    c->family = AF_INET;
    c->role = ROLE_CLIENT;
    c->flags = CONN_ESTABLISHED;
    set_in(&c->local, "127.0.0.1", 40312);
    set_in(&c->peer, "127.0.0.1", peer_port);
    ring_push(&c->ring, OP_CONNECT, 0, 0, T0);
    for (int i = 0; i < 3; i++)
        ring_push(&c->ring, OP_SEND, 10, 0, T0 + MS(0.1 * (i + 1)));
    ring_push(&c->ring, OP_RECV, -1, ECONNRESET, T0 + MS(20));
    c->t_last = c->t_exchange = T0 + MS(0.3);
    c->bytes_out = 30;
    c->calls_out = 3;
    c->exchanges = 2;
    c->dir = DIR_OUT;
    c->tcp = (struct tcp_snap){.t_ns = T0 + MS(0.1), .state = 1, .rtt_us = 41, .unacked = 1};
    return c;
}

/* A packet record (rstwatch capture's): an RST from a device one hop away on
 * an IPv4 client connection whose handshake gave the round trip and whose
 * request was sent just before, through the real verdict and writer. */
static int write_packet_record(void)
{
    struct cap_flow f;
    memset(&f, 0, sizeof f);
    f.id.family = AF_INET;
    inet_pton(AF_INET, "10.0.0.2", f.id.laddr);
    inet_pton(AF_INET, "10.0.1.2", f.id.raddr);
    f.id.lport = 40000, f.id.rport = 80;
    f.role = CAP_ROLE_CLIENT;
    f.iface = "eth0";
    f.peer_pkts = 3, f.peer_ttl_min = f.peer_ttl_max = 62, f.peer_ip_id = 100;
    f.t_syn_us = 1000, f.rtt_us = 400, f.t_data_out_us = 1500;
    f.rst = (struct cap_pkt){.t_us = 1600,
                             .iface = "eth0",
                             .family = AF_INET,
                             .dir = CAP_IN,
                             .flags = TCPF_RST | TCPF_ACK,
                             .ttl = 64,
                             .ip_id = 7,
                             .seq = 1,
                             .ack = 2,
                             .win = 0};
    struct cap_verdict v;
    cap_verdict_judge(&f, &v);
    return strcmp(v.rst_from, "path") != 0 || cap_record_write(&f, &v, T0 + MS(28)) != 0;
}

/* Writes every kind of record to the sink; returns how many record_write calls failed. */
static int write_all_kinds(int sockfd)
{
    int bad = 0;
    struct conn *c = client_conn(8080);
    struct record_info ri = {.type = "reset", .fd = 5, .op = OP_RECV, .err = ECONNRESET};
    ri.now_ns = T0 + MS(20);
    bad += record_write(c, &ri) != 0;

    ri = (struct record_info){
        .type = "eof", .fd = 5, .op = OP_RECV, .eof = 1, .now_ns = T0 + MS(21)};
    c->id = 2, set_in(&c->peer, "127.0.0.2", 80);
    bad += record_write(c, &ri) != 0;

    ri = (struct record_info){.type = "error", .fd = 5, .op = OP_SEND, .err = EINVAL};
    ri.now_ns = T0 + MS(22);
    c->id = 3, set_in(&c->peer, "127.0.0.3", 80);
    bad += record_write(c, &ri) != 0;

    ri = (struct record_info){.type = "retry",
                              .fd = 5,
                              .op = OP_RECV,
                              .err = ECONNRESET,
                              .now_ns = T0 + MS(23),
                              .attempt = 1,
                              .action = "replay",
                              .outcome = "refused",
                              .reason = "no idempotent request"};
    c->id = 4, set_in(&c->peer, "127.0.0.4", 80);
    bad += record_write(c, &ri) != 0;

    ri = (struct record_info){.type = "inject",
                              .fd = 5,
                              .op = OP_CONNECT,
                              .err = ECONNREFUSED,
                              .now_ns = T0 + MS(24),
                              .action = "refuse"};
    c->id = 5, set_in(&c->peer, "127.0.0.5", 80);
    bad += record_write(c, &ri) != 0;
    free(c);

    /* unix close: tcp is null, no cause */
    c = conn_new(8);
    c->id = 6;
    c->family = AF_UNIX;
    c->local.sa.sa_family = c->peer.sa.sa_family = AF_UNIX;
    strcpy(c->unix_path, "/run/app.sock");
    ring_push(&c->ring, OP_CONNECT, 0, 0, T0);
    ri = (struct record_info){.type = "close", .fd = 7, .op = OP_CLOSE, .now_ns = T0 + MS(25)};
    bad += record_write(c, &ri) != 0;
    free(c);

    /* an accepted connection without a snapshot: one is taken of the real socket, "after" */
    c = conn_new(8);
    c->id = 7;
    c->family = AF_INET;
    c->role = ROLE_SERVER;
    set_in(&c->local, "127.0.0.1", 9000);
    set_in(&c->peer, "127.0.0.1", 50000);
    ring_push(&c->ring, OP_ACCEPT, 0, 0, T0);
    ring_push(&c->ring, OP_RECV, -1, ECONNRESET, T0 + MS(1));
    ri = (struct record_info){
        .type = "reset", .fd = sockfd, .op = OP_RECV, .err = ECONNRESET, .now_ns = T0 + MS(26)};
    bad += record_write(c, &ri) != 0;

    /* The rate limit (burst 1): the same key again at once is left out, and
     * the next one a second later says how many were ("suppressed"). */
    ri.fd = 9;
    c->id = 8;
    ri.now_ns = T0 + MS(27);
    bad += record_write(c, &ri) != 0;
    c->id = 9;
    ri.now_ns = T0 + MS(2000);
    bad += record_write(c, &ri) != 0;
    c->id = 10;
    ri.now_ns = T0 + MS(2001);
    bad += record_write(c, &ri) != 0; /* left out again: reported by the summary */
    free(c);

    bad += write_packet_record() != 0;
    summary_flush("exit"); /* counts[] with local (server role) and cause */
    return bad;
}

/* A connected loopback TCP socket (its TCP_INFO is real); -1 on failure. */
static int loopback_socket(int *listener)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0), s = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || s < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &al) || connect(s, (struct sockaddr *)&a, sizeof a))
        return -1;
    *listener = l;
    return s;
}

int main(void)
{
    struct rate_limits rl;
    if (options_parse_rate("burst=1,interval=1s,budget=1MiB/min,summary=60s", &rl)) abort();
    ratelimit_configure(&rl);

    int p[2];
    if (pipe(p)) abort();
    fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    char spec[32];
    snprintf(spec, sizeof spec, "fd:%d", p[1]);
    sink_configure(spec);

    int listener = -1, sock = loopback_socket(&listener);
    ok(sock >= 0, "a loopback TCP connection for the after-the-failure snapshot");
    ok(write_all_kinds(sock) == 0, "every record_write returned 0");
    sink_configure("stderr");
    close(p[1]);

    static char buf[1 << 20];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;

    int lines = 0, summaries = 0;
    for (char *line = buf, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        char why[256] = "";
        int rc = check_line(line, why, sizeof why);
        const char *type = strstr(line, "\"type\":\"");
        int tlen = type ? (int)strcspn(type + 8, "\"") : 1;
        ok(rc == 0, "%.*s record: keys are table fields, in table order%s%s", tlen,
           type ? type + 8 : "?", rc ? " - " : "", why);
        if (rc) printf("# %s\n", line);
        lines++;
        summaries += strstr(line, "\"type\":\"summary\"") != NULL;
    }
    ok(lines == 10 && summaries == 1,
       "10 lines written (two left out by the rate limit), one of them a summary (got %d, %d)",
       lines, summaries);

    /* Every field of every table is written by some record kind. */
    struct table *all[] = {&t_top, &t_tcp, &t_cause, &t_event, &t_count};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        char missing[512] = "";
        size_t m = 0;
        for (size_t i = 0; i < all[k]->n; i++)
            if (!all[k]->seen[i])
                m += (size_t)snprintf(missing + m, sizeof missing - m, " %s", all[k]->keys[i]);
        ok(!missing[0], "every %s field of schema.h is written by some record%s%s", all[k]->name,
           missing[0] ? "; never written:" : "", missing);
    }

    /* The check can fail. */
    char why[256];
    ok(check_line("{\"v\":1,\"time\":\"x\",\"type\":\"reset\"}", why, sizeof why) &&
           strstr(why, "\"type\" after \"time\""),
       "two keys swapped are caught (%s)", why);
    ok(check_line("{\"v\":1,\"type\":\"reset\",\"tcp\":{\"state\":\"x\",\"brand_new\":1}}", why,
                  sizeof why) &&
           strstr(why, "brand_new"),
       "a key the table does not know is caught (%s)", why);
    ok(check_line("{\"v\":1,\"events\":[{\"op\":\"recv\",\"t_ms\":1}]}", why, sizeof why) != 0,
       "order inside an events[] object is checked too (%s)", why);

    close(sock);
    close(listener);
    return tap_done();
}
