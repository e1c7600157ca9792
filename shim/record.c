// SPDX-License-Identifier: MIT
/* record.c: the JSON line writer (see record.h). Field order follows
 * docs/design.md "The record"; every string goes through sb_put_json_str.
 *
 * Before a record is formatted the rate limit decides (ratelimit.c): a record
 * it leaves out costs a classification and a few atomics, no formatting and
 * no write. A failure record on a connection that never had a TCP_INFO
 * snapshot (an accepted connection) gets one taken now, marked "after":true.
 * A destination with a line limit (syslog) gets the record whole: the oldest
 * events are left out and counted in events_dropped. */
#include "record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ratelimit.h"
#include "sink.h"
#include "summary.h"
#include "tcpinfo.h"

extern char *program_invocation_short_name;

/* The program's name as it was at load. Servers rewrite their argv for ps
 * (nginx: "nginx: worker process", postgres, sshd), and glibc's short name
 * points into that memory: read later, it names a fragment ("ker process"). */
static char prog_name[256];
/* The host name at load: records from many hosts end up in one report. */
static char host_name[65];

__attribute__((constructor)) static void record_capture_prog(void)
{
    struct utsname u;
    if (uname(&u) == 0) {
        size_t hn = strnlen(u.nodename, sizeof host_name - 1);
        memcpy(host_name, u.nodename, hn);
        host_name[hn] = 0;
    }
    const char *p = program_invocation_short_name;
    if (!p) return;
    size_t n = strlen(p);
    if (n >= sizeof prog_name) n = sizeof prog_name - 1;
    memcpy(prog_name, p, n);
    prog_name[n] = 0;
}

static unsigned op_class_of(unsigned op)
{
    switch (op) {
    case OP_CONNECT:
    case OP_CONNECTED:
    case OP_SOCKOPT_ERROR: return OPC_CONNECT;
    case OP_ACCEPT: return OPC_ACCEPT;
    case OP_SEND:
    case OP_SENDTO:
    case OP_SENDMSG:
    case OP_SENDMMSG:
    case OP_WRITE:
    case OP_WRITEV:
    case OP_SENDFILE:
    case OP_SPLICE: return OPC_OUT;
    case OP_RECV:
    case OP_RECVFROM:
    case OP_RECVMSG:
    case OP_RECVMMSG:
    case OP_READ:
    case OP_READV: return OPC_IN;
    default: return OPC_OTHER;
    }
}

void record_cause_input(const struct conn *c, const struct record_info *ri, struct cause_input *in)
{
    memset(in, 0, sizeof *in);
    in->err = ri->err;
    in->eof = ri->eof;
    in->op_class = (int)op_class_of(ri->op);
    in->server = c->role == ROLE_SERVER;
    in->established = (c->flags & CONN_ESTABLISHED) != 0;
    in->peer_fin = (c->flags & CONN_PEER_FIN) != 0;
    in->linger0 = (c->flags & CONN_LINGER0) != 0;
    in->exchanges = c->exchanges;
    in->bytes_in = c->bytes_in;
    in->bytes_out = c->bytes_out;
    in->exchange_in = c->exchange_resp;
    in->resp_before_write = c->resp_before_write;
    in->shut_wr = (c->flags & CONN_SHUT_WR) != 0;
    in->idle_before_ms = c->idle_before / 1000000;
    in->snap_state = c->tcp.t_ns ? c->tcp.state : 0;
    /* Fresh: taken after the last successful I/O, or when the current request
     * began (its first write follows an idle gap, and it has no response yet). */
    in->snap_fresh = c->tcp.t_ns != 0 &&
                     (c->tcp.t_ns >= c->t_last ||
                      (c->dir == DIR_OUT && c->exchange_resp == 0 && c->tcp.t_ns >= c->t_exchange));
    in->total_retrans = c->tcp.total_retrans;
    /* Only a snapshot taken as the current request began (io_begin's, at the
     * request's first call) and after the previous exchange's last I/O tells
     * how the connection was before the request; one taken at the failing EOF
     * read tells only how it ended. */
    in->snap_pre_request = c->exchanges > 0 && c->tcp.t_ns != 0 && c->tcp.t_ns <= c->t_exchange &&
                           c->tcp.t_ns + c->idle_before >= c->t_exchange;
    /* Some of the request arrived or left (a call that failed at once began
     * the exchange but carried nothing) and nothing of its response yet. */
    in->awaiting_response = c->dir == DIR_OUT && c->t_last >= c->t_exchange;
    if (ri->eof && c->dir == DIR_IN && c->exchanges > 1 &&
        cause_tls_not_a_response(c->sniff.proto, c->exchanges, c->exchange_resp))
        in->awaiting_response = 1; /* only the peer's close_notify came back (watch.c) */
    in->quiet_ms = ri->now_ns > c->t_last ? (ri->now_ns - c->t_last) / 1000000 : 0;
    in->proto = c->sniff.proto;
    in->closing = c->dir == DIR_CLOSING;
}

/* Days since 1970-01-01 -> civil date (proleptic Gregorian), after H. Hinnant's
 * public-domain derivation of the era/day-of-era arithmetic. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put_2(struct strbuf *b, unsigned v)
{
    char t[2] = {(char)('0' + v / 10 % 10), (char)('0' + v % 10)};
    sb_putn(b, t, 2);
}

void record_put_time(struct strbuf *b, int64_t sec, long nsec)
{
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) rem += 86400, days--;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    sb_puti(b, y);
    sb_putc(b, '-');
    put_2(b, m);
    sb_putc(b, '-');
    put_2(b, d);
    sb_putc(b, 'T');
    put_2(b, (unsigned)(rem / 3600));
    sb_putc(b, ':');
    put_2(b, (unsigned)(rem / 60 % 60));
    sb_putc(b, ':');
    put_2(b, (unsigned)(rem % 60));
    sb_putc(b, '.');
    unsigned us = (unsigned)(nsec / 1000);
    char t[6];
    for (int i = 5; i >= 0; i--)
        t[i] = (char)('0' + us % 10), us /= 10;
    sb_putn(b, t, 6);
    sb_putc(b, 'Z');
}

void record_put_addr(struct strbuf *b, const union sockaddr_any *a, const char *unix_path)
{
    char ip[INET6_ADDRSTRLEN];
    switch (a->sa.sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &a->in.sin_addr, ip, sizeof ip);
        sb_puts(b, ip);
        sb_putc(b, ':');
        sb_putu(b, ntohs(a->in.sin_port));
        return;
    case AF_INET6:
        inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof ip);
        sb_putc(b, '[');
        sb_puts(b, ip);
        sb_puts(b, "]:");
        sb_putu(b, ntohs(a->in6.sin6_port));
        return;
    case AF_UNIX:
        sb_puts(b, "unix:");
        if (!unix_path || (!unix_path[0] && !unix_path[1]))
            sb_puts(b, "(unnamed)");
        else if (!unix_path[0])
            sb_putc(b, '@'), sb_puts(b, unix_path + 1);
        else
            sb_puts(b, unix_path);
        return;
    default: sb_puts(b, "unknown");
    }
}

static void put_key(struct strbuf *b, const char *key)
{
    sb_putc(b, ',');
    sb_putc(b, '"');
    sb_puts(b, key);
    sb_puts(b, "\":");
}

static void put_str_field(struct strbuf *b, const char *key, const char *v)
{
    put_key(b, key);
    sb_put_json_str(b, v, strlen(v));
}

static void put_u_field(struct strbuf *b, const char *key, uint64_t v)
{
    put_key(b, key);
    sb_putu(b, v);
}

static void put_ms_field(struct strbuf *b, const char *key, uint64_t ns)
{
    put_key(b, key);
    sb_put_ms(b, ns);
}

static const char *errno_name(int err)
{
    const char *n = err ? strerrorname_np(err) : NULL;
    return n ? n : "EUNKNOWN";
}

static void put_addr_field(struct strbuf *b, const char *key, const union sockaddr_any *a,
                           const char *unix_path)
{
    char tmp[160];
    struct strbuf t;
    sb_init(&t, tmp, sizeof tmp);
    record_put_addr(&t, a, unix_path);
    put_key(b, key);
    sb_put_json_str(b, tmp, t.overflow ? 0 : t.len);
}

/* What record_write adds to what the connection knows. */
struct record_extra {
    const struct tcp_snap *tcp; /* the snapshot to show (NULL: the connection's) */
    int tcp_after;              /* it was taken after the failure */
    uint64_t suppressed;        /* records of this key left out since the last one */
    uint32_t skip_events;       /* oldest events left out to fit the line limit */
};

static void put_tcp(struct strbuf *b, const struct conn *c, uint64_t now,
                    const struct record_extra *x)
{
    put_key(b, "tcp");
    const struct tcp_snap *s = x->tcp ? x->tcp : &c->tcp;
    if (!s->t_ns) {
        sb_puts(b, "null");
        return;
    }
    sb_puts(b, "{\"state\":");
    const char *st = tcpinfo_state_name(s->state);
    sb_put_json_str(b, st, strlen(st));
    put_u_field(b, "rtt_us", s->rtt_us);
    put_u_field(b, "rttvar_us", s->rttvar_us);
    put_u_field(b, "retrans", s->retransmits);
    put_u_field(b, "total_retrans", s->total_retrans);
    put_u_field(b, "unacked", s->unacked);
    put_u_field(b, "lost", s->lost);
    put_u_field(b, "last_data_recv_ms", s->last_data_recv_ms);
    put_u_field(b, "last_data_sent_ms", s->last_data_sent_ms);
    put_ms_field(b, "snapshot_age_ms", now > s->t_ns ? now - s->t_ns : 0);
    if (x->tcp_after) sb_puts(b, ",\"after\":true");
    sb_putc(b, '}');
}

/* Events in the record (at most the ring's size). */
static uint32_t event_count(const struct conn *c)
{
    uint32_t head = atomic_load_explicit(&c->ring.head, memory_order_acquire);
    uint32_t slots = c->ring.mask + 1;
    return head > slots ? slots : head;
}

static void put_events(struct strbuf *b, const struct conn *c, uint32_t skip)
{
    const struct ring *r = &c->ring;
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t slots = r->mask + 1;
    uint32_t first = head > slots ? head - slots : 0;
    first = head - first > skip ? first + skip : head;
    put_key(b, "events");
    sb_putc(b, '[');
    for (uint32_t i = first; i < head; i++) {
        const struct event *e = &r->ev[i & r->mask];
        if (i != first) sb_putc(b, ',');
        sb_puts(b, "{\"t_ms\":");
        sb_put_ms(b, e->t_ns > c->t_create ? e->t_ns - c->t_create : 0);
        put_str_field(b, "op", ring_op_name(e->op));
        put_key(b, "ret");
        sb_puti(b, e->ret);
        if (e->err) put_str_field(b, "errno", errno_name(e->err));
        if (e->n > 1) {
            put_u_field(b, "n", e->n);
            /* the middle of the 1024 ns unit: unbiased */
            put_ms_field(b, "span_ms", ((uint64_t)e->span_1k << 10) + 512);
        }
        sb_putc(b, '}');
    }
    sb_putc(b, ']');
    put_u_field(b, "events_dropped", ring_dropped(r) + skip);
}

void record_put_header(struct strbuf *b, const char *type)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sb_puts(b, "{\"v\":1");
    put_str_field(b, "type", type);
    put_key(b, "time");
    sb_putc(b, '"');
    record_put_time(b, ts.tv_sec, ts.tv_nsec);
    sb_putc(b, '"');
    put_str_field(b, "host", host_name);
    put_u_field(b, "pid", (uint64_t)syscall(SYS_getpid));
    put_u_field(b, "tid", (uint64_t)syscall(SYS_gettid));
    const char *prog = prog_name[0] ? prog_name : program_invocation_short_name;
    put_str_field(b, "prog", prog ? prog : "");
}

static void format_record(struct strbuf *b, const struct conn *c, const struct record_info *ri,
                          const struct record_extra *x)
{
    record_put_header(b, ri->type);
    put_key(b, "fd");
    sb_puti(b, ri->fd);
    put_u_field(b, "conn", c->id);
    put_str_field(b, "family",
                  c->family == AF_INET6  ? "inet6"
                  : c->family == AF_UNIX ? "unix"
                                         : "inet");
    put_str_field(b, "role", c->role == ROLE_SERVER ? "server" : "client");
    put_addr_field(b, "local", &c->local, c->role == ROLE_SERVER ? c->unix_path : NULL);
    put_addr_field(b, "peer", &c->peer, c->role == ROLE_SERVER ? NULL : c->unix_path);
    put_str_field(b, "op", ring_op_name(ri->op));
    put_key(b, "errno");
    if (ri->err)
        sb_put_json_str(b, errno_name(ri->err), strlen(errno_name(ri->err)));
    else
        sb_puts(b, "null");
    put_u_field(b, "errno_code", (uint64_t)ri->err);
    uint64_t now = ri->now_ns > c->t_create ? ri->now_ns : c->t_create;
    put_ms_field(b, "age_ms", now - c->t_create);
    put_ms_field(b, "idle_ms", now > c->t_last ? now - c->t_last : 0);
    put_ms_field(b, "idle_before_ms", c->idle_before);
    put_u_field(b, "bytes_out", c->bytes_out);
    put_u_field(b, "bytes_in", c->bytes_in);
    put_u_field(b, "calls_out", c->calls_out);
    put_u_field(b, "calls_in", c->calls_in);
    put_u_field(b, "exchanges", c->exchanges);
    put_key(b, "reused");
    sb_puts(b, c->exchanges > 1 ? "true" : "false");
    put_tcp(b, c, now, x);
    if (ri->err || ri->eof) {
        struct cause_input in;
        record_cause_input(c, ri, &in);
        size_t rule = cause_classify(&in);
        put_key(b, "cause");
        sb_puts(b, "{\"code\":");
        const char *code = cause_code_name(cause_rules[rule].code);
        sb_put_json_str(b, code, strlen(code));
        char hint[768];
        struct strbuf h;
        sb_init(&h, hint, sizeof hint);
        cause_write_hint(&h, rule, &in);
        put_key(b, "hint");
        sb_put_json_str(b, hint, h.len);
        sb_putc(b, '}');
    }
    if (ri->action) {
        put_key(b, "attempt");
        sb_puti(b, ri->attempt);
        put_str_field(b, "action", ri->action);
        if (ri->outcome) put_str_field(b, "outcome", ri->outcome);
        if (ri->reason) put_str_field(b, "reason", ri->reason);
    }
    if (x->suppressed) put_u_field(b, "suppressed", x->suppressed);
    put_events(b, c, x->skip_events);
    sb_putc(b, '}');
}

void record_format(struct strbuf *b, const struct conn *c, const struct record_info *ri)
{
    struct record_extra x = {0};
    format_record(b, c, ri, &x);
}

/* An address without its port: a server's clients come from many ports, and
 * the rate limit and summaries count them per client host. */
static void put_host_only(struct strbuf *b, const union sockaddr_any *a)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->in.sin_addr, ip, sizeof ip);
        sb_puts(b, ip);
    } else if (a->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof ip);
        sb_putc(b, '['), sb_puts(b, ip), sb_putc(b, ']');
    } else {
        record_put_addr(b, a, NULL);
    }
}

struct key_ctx {
    const struct conn *c;
    const struct record_info *ri;
    const char *cause;
};

/* The key as text, when the rate limit first sees it (rl_describe_fn). */
static void describe_key(struct rl_key *k, const void *arg)
{
    const struct key_ctx *x = arg;
    const struct conn *c = x->c;
    struct strbuf p, l;
    k->type = x->ri->type;
    k->cause = x->cause;
    k->server = c->role == ROLE_SERVER;
    sb_init(&p, k->peer, sizeof k->peer - 1);
    sb_init(&l, k->local, sizeof k->local - 1);
    if (k->server) {
        put_host_only(&p, &c->peer);
        record_put_addr(&l, &c->local, c->unix_path);
    } else {
        record_put_addr(&p, &c->peer, c->unix_path);
    }
    k->peer[p.len] = 0;
    k->local[l.len] = 0;
}

static void id_addr(const union sockaddr_any *a, uint8_t addr[16], uint16_t *port)
{
    if (a->sa.sa_family == AF_INET) {
        memcpy(addr, &a->in.sin_addr, 4);
        *port = a->in.sin_port;
    } else if (a->sa.sa_family == AF_INET6) {
        memcpy(addr, &a->in6.sin6_addr, 16);
        *port = a->in6.sin6_port;
    }
}

/* The binary identity of the record's key: no formatting on this path. */
static void build_id(struct rl_id *id, const struct conn *c, const struct record_info *ri,
                     int cause_code)
{
    memset(id, 0, sizeof *id);
    id->type = ratelimit_type_index(ri->type);
    id->cause = (uint8_t)(cause_code + 1);
    id->server = c->role == ROLE_SERVER;
    id->family = (uint8_t)c->peer.sa.sa_family;
    id_addr(&c->peer, id->peer_addr, &id->peer_port);
    if (id->server) {
        id->peer_port = 0;
        id_addr(&c->local, id->local_addr, &id->local_port);
    }
    if (c->family == AF_UNIX) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < sizeof c->unix_path; i++) /* abstract names start with NUL */
            h = (h ^ (unsigned char)c->unix_path[i]) * 0x100000001b3ull;
        id->path_hash = h;
    }
}

int record_write(const struct conn *c, const struct record_info *ri)
{
    int saved = errno;
    uint64_t now = ri->now_ns ? ri->now_ns : clock_now_ns();
    const char *cause = "";
    int cause_code = -1;
    if (ri->err || ri->eof) {
        struct cause_input in;
        record_cause_input(c, ri, &in);
        cause_code = (int)cause_rules[cause_classify(&in)].code;
        cause = cause_code_name((enum cause_code)cause_code);
    }
    struct rl_id id;
    build_id(&id, c, ri, cause_code);
    struct key_ctx kx = {c, ri, cause};
    struct rl_slot *slot = ratelimit_count(&id, describe_key, &kx);
    if (!ratelimit_admit(slot, now)) {
        summary_tick(now);
        errno = saved;
        return 0;
    }
    struct record_extra x = {.suppressed = ratelimit_take_suppressed(slot)};
    struct tcp_snap after;
    if ((ri->err || ri->eof) && !c->tcp.t_ns &&
        tcpinfo_read(ri->fd, c->family, &after, clock_now_ns()) == 0) {
        x.tcp = &after;
        x.tcp_after = 1;
    }
    uint32_t slots = c->ring.mask + 1;
    size_t cap = 4096 + (size_t)slots * 128; /* header + worst-case event length */
    cap = (cap + 4095) & ~(size_t)4095;
    char *buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        ratelimit_suppress(slot, 1 + x.suppressed);
        errno = saved;
        return -ENOMEM;
    }
    struct strbuf b;
    sb_init(&b, buf, cap - 1);
    format_record(&b, c, ri, &x);
    size_t limit = sink_line_limit();
    uint32_t nev = event_count(c);
    while (limit && !b.overflow && b.len + 1 > limit && x.skip_events < nev) {
        /* Leave out the oldest events: about as many as the excess needs. */
        uint32_t avg = (uint32_t)(b.len / (nev - x.skip_events + 4)) + 1;
        uint32_t more = (uint32_t)((b.len + 1 - limit) / avg) + 1;
        x.skip_events = x.skip_events + more < nev ? x.skip_events + more : nev;
        sb_init(&b, buf, cap - 1);
        format_record(&b, c, ri, &x);
    }
    int rc = -EOVERFLOW;
    if (!b.overflow && !(limit && b.len + 1 > limit)) { /* a torn line is never written */
        buf[b.len++] = '\n';
        if (!ratelimit_budget(b.len, now)) {
            ratelimit_suppress(slot, 1 + x.suppressed);
            rc = 0;
        } else {
            ratelimit_written(slot);
            char peer[RL_PEER_MAX + 8], msg[320];
            struct strbuf pb, mb;
            sb_init(&pb, peer, sizeof peer);
            record_put_addr(&pb, &c->peer, c->role == ROLE_SERVER ? NULL : c->unix_path);
            const char *err = ri->err ? errno_name(ri->err) : NULL;
            sb_init(&mb, msg, sizeof msg);
            sb_puts(&mb, ri->type);
            sb_puts(&mb, c->role == ROLE_SERVER ? " from " : " to ");
            sb_puts(&mb, sb_cstr(&pb));
            if (err) sb_puts(&mb, " ("), sb_puts(&mb, err), sb_putc(&mb, ')');
            sb_puts(&mb, " on "), sb_puts(&mb, ring_op_name(ri->op));
            if (*cause) sb_puts(&mb, ", cause "), sb_puts(&mb, cause);
            struct sink_fields f = {
                .type = ri->type,
                .cause = cause,
                .peer = peer,
                .err = err,
                .message = sb_cstr(&mb),
                .priority = (ri->err || ri->eof) ? 4 : 6,
            };
            rc = sink_write_record(buf, b.len, &f);
        }
    }
    munmap(buf, cap);
    summary_tick(now);
    errno = saved;
    return rc;
}

int record_counted_instead(const struct conn *c, const struct record_info *ri)
{
    struct cause_input in;
    record_cause_input(c, ri, &in);
    if (!cause_count_instead(&in)) return 0;
    /* Not in the log, so in the summary: counted under its key and cause as
     * left out, which is how report adds it to its totals. */
    int saved = errno;
    int code = (int)cause_rules[cause_classify(&in)].code;
    struct rl_id id;
    build_id(&id, c, ri, code);
    struct key_ctx kx = {c, ri, cause_code_name((enum cause_code)code)};
    ratelimit_suppress(ratelimit_count(&id, describe_key, &kx), 1);
    summary_tick(ri->now_ns ? ri->now_ns : clock_now_ns());
    errno = saved;
    return 1;
}
