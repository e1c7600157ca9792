/* record.c: the JSON line writer (see record.h). Field order follows
 * DESIGN.md; every string goes through sb_put_json_str. */
#include "record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sink.h"
#include "tcpinfo.h"

extern char *program_invocation_short_name;

/* The program's name as it was at load. Servers rewrite their argv for ps
 * (nginx: "nginx: worker process", postgres, sshd), and glibc's short name
 * points into that memory: read later, it names a fragment ("ker process"). */
static char prog_name[256];

__attribute__((constructor)) static void record_capture_prog(void)
{
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

static void put_tcp(struct strbuf *b, const struct conn *c, uint64_t now)
{
    put_key(b, "tcp");
    const struct tcp_snap *s = &c->tcp;
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
    sb_putc(b, '}');
}

static void put_events(struct strbuf *b, const struct conn *c)
{
    const struct ring *r = &c->ring;
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t slots = r->mask + 1;
    uint32_t first = head > slots ? head - slots : 0;
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
    put_u_field(b, "events_dropped", ring_dropped(r));
}

void record_format(struct strbuf *b, const struct conn *c, const struct record_info *ri)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sb_puts(b, "{\"v\":1");
    put_str_field(b, "type", ri->type);
    put_key(b, "time");
    sb_putc(b, '"');
    record_put_time(b, ts.tv_sec, ts.tv_nsec);
    sb_putc(b, '"');
    put_u_field(b, "pid", (uint64_t)syscall(SYS_getpid));
    put_u_field(b, "tid", (uint64_t)syscall(SYS_gettid));
    const char *prog = prog_name[0] ? prog_name : program_invocation_short_name;
    put_str_field(b, "prog", prog ? prog : "");
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
    put_tcp(b, c, now);
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
    put_events(b, c);
    sb_putc(b, '}');
}

int record_write(const struct conn *c, const struct record_info *ri)
{
    int saved = errno;
    uint32_t slots = c->ring.mask + 1;
    size_t cap = 4096 + (size_t)slots * 128; /* header + worst-case event length */
    cap = (cap + 4095) & ~(size_t)4095;
    char *buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        errno = saved;
        return -ENOMEM;
    }
    struct strbuf b;
    sb_init(&b, buf, cap - 1);
    record_format(&b, c, ri);
    int rc = -EOVERFLOW;
    if (!b.overflow) { /* a torn line is never written */
        buf[b.len++] = '\n';
        rc = sink_write(buf, b.len);
    }
    munmap(buf, cap);
    errno = saved;
    return rc;
}
