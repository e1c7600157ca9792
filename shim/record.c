// SPDX-License-Identifier: MIT
/* record.c: the JSON line writer (see record.h). The keys and their order
 * come from the schema table (schema.h, through recfmt.h): format_record
 * walks the table and a switch writes each field that applies to this
 * record, so a field the table gains is a -Wswitch warning (an error with
 * WERROR=1, as make test and CI build) until it has a case here. Every
 * string goes through sb_put_json_str.
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
#include <unistd.h>

#include "clock.h"
#include "ratelimit.h"
#include "recfmt.h"
#include "sandbox.h"
#include "sink.h"
#include "summary.h"
#include "tcpinfo.h"

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
    case OP_CLOSE: return OPC_CLOSE;
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
    in->quiet_us = ri->now_ns > c->t_last ? (ri->now_ns - c->t_last) / 1000 : 0;
    in->request_ms =
        c->exchanges && ri->now_ns > c->t_exchange ? (ri->now_ns - c->t_exchange) / 1000000 : 0;
    if (c->tcp.t_ns && c->tcp.ext) {
        in->min_rtt_us = c->tcp.min_rtt_us;
        in->unread = c->tcp.unread;
    }
    in->unacked = c->tcp.t_ns ? c->tcp.unacked : 0;
    /* Taken at a call inside the request's send span that followed a quiet
     * gap there (io.c takes none otherwise), with nothing of a response read. */
    in->snap_in_request = c->exchanges > 0 && c->dir == DIR_OUT && c->exchange_resp == 0 &&
                          c->tcp.t_ns > c->t_exchange;
    in->snap_mid_request = in->snap_in_request && c->tcp.t_ns < c->t_last;
    in->peer_loopback = record_peer_is_loopback(c);
    if (in->snap_pre_request && c->tcp.goodbye) {
        in->goodbye = c->tcp.goodbye;
        memcpy(in->goodbye_code, c->tcp.goodbye_code, sizeof in->goodbye_code);
        in->goodbye_code[sizeof in->goodbye_code - 1] = 0;
    }
}

int record_peer_is_loopback(const struct conn *c)
{
    if (c->peer.sa.sa_family == AF_INET) return (ntohl(c->peer.in.sin_addr.s_addr) >> 24) == 127;
    if (c->peer.sa.sa_family == AF_INET6) {
        const struct in6_addr *a = &c->peer.in6.sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
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

static void put_str(struct strbuf *b, const char *v)
{
    sb_put_json_str(b, v, strlen(v));
}

static const char *errno_name(int err)
{
    const char *n = err ? strerrorname_np(err) : NULL;
    return n ? n : "EUNKNOWN";
}

static void put_addr(struct strbuf *b, const union sockaddr_any *a, const char *unix_path)
{
    char tmp[160];
    struct strbuf t;
    sb_init(&t, tmp, sizeof tmp);
    record_put_addr(&t, a, unix_path);
    sb_put_json_str(b, tmp, t.overflow ? 0 : t.len);
}

/* What record_write adds to what the connection knows. */
struct record_extra {
    const struct tcp_snap *tcp; /* the snapshot to show (NULL: the connection's) */
    int tcp_after;              /* it was taken after the failure */
    uint64_t suppressed;        /* records of this key left out since the last one */
    uint32_t skip_events;       /* oldest events left out to fit the line limit */
};

/* Everything one record is written from. */
struct record_ctx {
    const struct conn *c;
    const struct record_info *ri;
    const struct record_extra *x;
    uint64_t now; /* the failure's time, never before the connection's creation */
};

/* The "tcp" object's fields in table order; "after" only when it is true. */
static void put_tcp(struct strbuf *b, const struct record_ctx *r)
{
    const struct tcp_snap *s = r->x->tcp ? r->x->tcp : &r->c->tcp;
    if (!s->t_ns) {
        sb_puts(b, "null");
        return;
    }
    struct jobj o = jobj_begin(b);
    for (unsigned i = 0; i < RF_TCP_NFIELDS; i++) {
        enum rec_tcp_field f = (enum rec_tcp_field)i;
        const char *key = recfmt_tcp_keys[f];
        switch (f) {
        case RF_TCP_state: jobj_key(&o, key), put_str(b, tcpinfo_state_name(s->state)); break;
        case RF_TCP_rtt_us: jobj_key(&o, key), sb_putu(b, s->rtt_us); break;
        case RF_TCP_rttvar_us: jobj_key(&o, key), sb_putu(b, s->rttvar_us); break;
        case RF_TCP_retrans: jobj_key(&o, key), sb_putu(b, s->retransmits); break;
        case RF_TCP_total_retrans: jobj_key(&o, key), sb_putu(b, s->total_retrans); break;
        case RF_TCP_unacked: jobj_key(&o, key), sb_putu(b, s->unacked); break;
        case RF_TCP_lost: jobj_key(&o, key), sb_putu(b, s->lost); break;
        case RF_TCP_last_data_recv_ms: jobj_key(&o, key), sb_putu(b, s->last_data_recv_ms); break;
        case RF_TCP_last_data_sent_ms: jobj_key(&o, key), sb_putu(b, s->last_data_sent_ms); break;
        case RF_TCP_min_rtt_us:
            if (s->ext) jobj_key(&o, key), sb_putu(b, s->min_rtt_us);
            break;
        case RF_TCP_unread:
            if (s->ext) jobj_key(&o, key), sb_putu(b, s->unread);
            break;
        case RF_TCP_snapshot_age_ms:
            jobj_key(&o, key);
            sb_put_ms(b, r->now > s->t_ns ? r->now - s->t_ns : 0);
            break;
        case RF_TCP_after:
            if (r->x->tcp_after || (!r->x->tcp && (r->c->flags & CONN_TCP_AFTER)))
                jobj_key(&o, key), sb_puts(b, "true");
            break;
        case RF_TCP_NFIELDS: break;
        }
    }
    jobj_end(&o);
}

/* The "cause" object: the classifier's first matching rule, its code and hint. */
static void put_cause(struct strbuf *b, const struct record_ctx *r)
{
    struct cause_input in;
    record_cause_input(r->c, r->ri, &in);
    size_t rule = cause_classify(&in);
    struct jobj o = jobj_begin(b);
    for (unsigned i = 0; i < RF_CAUSE_NFIELDS; i++) {
        enum rec_cause_field f = (enum rec_cause_field)i;
        switch (f) {
        case RF_CAUSE_code:
            jobj_key(&o, recfmt_cause_keys[f]);
            put_str(b, cause_code_name(cause_rules[rule].code));
            break;
        case RF_CAUSE_hint: {
            char hint[768];
            struct strbuf h;
            sb_init(&h, hint, sizeof hint);
            cause_write_hint(&h, rule, &in);
            jobj_key(&o, recfmt_cause_keys[f]);
            sb_put_json_str(b, hint, h.len);
            break;
        }
        case RF_CAUSE_NFIELDS: break;
        }
    }
    jobj_end(&o);
}

/* Events in the record (at most the ring's size). */
static uint32_t event_count(const struct conn *c)
{
    uint32_t head = atomic_load_explicit(&c->ring.head, memory_order_acquire);
    uint32_t slots = c->ring.mask + 1;
    return head > slots ? slots : head;
}

/* One event object; "errno" only for a failed call, "n" and "span_ms" only
 * for merged calls. */
static void put_event(struct strbuf *b, const struct conn *c, const struct event *e)
{
    struct jobj o = jobj_begin(b);
    for (unsigned i = 0; i < RF_EV_NFIELDS; i++) {
        enum rec_event_field f = (enum rec_event_field)i;
        const char *key = recfmt_event_keys[f];
        switch (f) {
        case RF_EV_t_ms:
            jobj_key(&o, key);
            sb_put_ms(b, e->t_ns > c->t_create ? e->t_ns - c->t_create : 0);
            break;
        case RF_EV_op: jobj_key(&o, key), put_str(b, ring_op_name(e->op)); break;
        case RF_EV_ret: jobj_key(&o, key), sb_puti(b, e->ret); break;
        case RF_EV_err:
            if (e->err) jobj_key(&o, key), put_str(b, errno_name(e->err));
            break;
        case RF_EV_n:
            if (e->n > 1) jobj_key(&o, key), sb_putu(b, e->n);
            break;
        case RF_EV_span_ms:
            /* the middle of the 1024 ns unit: unbiased */
            if (e->n > 1) jobj_key(&o, key), sb_put_ms(b, ((uint64_t)e->span_1k << 10) + 512);
            break;
        case RF_EV_NFIELDS: break;
        }
    }
    jobj_end(&o);
}

/* The "events" array, oldest first, without the skip oldest ones. */
static void put_events(struct strbuf *b, const struct conn *c, uint32_t skip)
{
    const struct ring *r = &c->ring;
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t slots = r->mask + 1;
    uint32_t first = head > slots ? head - slots : 0;
    first = head - first > skip ? first + skip : head;
    sb_putc(b, '[');
    for (uint32_t i = first; i < head; i++) {
        if (i != first) sb_putc(b, ',');
        put_event(b, c, &r->ev[i & r->mask]);
    }
    sb_putc(b, ']');
}

/* A record about a listener (accept failed) has no connection: these fields
 * would describe one. */
static int listener_omits(enum rec_field f)
{
    switch (f) {
    case RF_conn:
    case RF_peer:
    case RF_age_ms:
    case RF_idle_ms:
    case RF_idle_before_ms:
    case RF_bytes_out:
    case RF_bytes_in:
    case RF_calls_out:
    case RF_calls_in:
    case RF_exchanges:
    case RF_reused:
    case RF_tcp:
    case RF_events:
    case RF_events_dropped: return 1;
    default: return 0;
    }
}

/* Writes field f of a connection record, or nothing when the field does not
 * apply to this record (no switch default: -Wswitch flags a field added to
 * the schema until it has a case here). */
static void put_field(struct jobj *o, enum rec_field f, const struct record_ctx *r)
{
    struct strbuf *b = o->b;
    const struct conn *c = r->c;
    const struct record_info *ri = r->ri;
    const char *key = recfmt_keys[f];
    if (ri->listener && listener_omits(f)) return;
    switch (f) {
    RECFMT_HEADER_CASES:
        recfmt_put_header_field(o, f, ri->type);
        return;
    case RF_fd: jobj_key(o, key), sb_puti(b, ri->fd); return;
    case RF_conn: jobj_key(o, key), sb_putu(b, c->id); return;
    case RF_family:
        jobj_key(o, key);
        put_str(b, c->family == AF_INET6 ? "inet6" : c->family == AF_UNIX ? "unix" : "inet");
        return;
    case RF_role:
        jobj_key(o, key), put_str(b, c->role == ROLE_SERVER   ? "server"
                                     : c->role == ROLE_CLIENT ? "client"
                                                              : "unknown");
        return;
    case RF_local:
        jobj_key(o, key);
        put_addr(b, &c->local, c->role == ROLE_SERVER ? c->unix_path : NULL);
        return;
    case RF_peer:
        jobj_key(o, key);
        put_addr(b, &c->peer, c->role == ROLE_SERVER ? NULL : c->unix_path);
        return;
    case RF_op: jobj_key(o, key), put_str(b, ring_op_name(ri->op)); return;
    case RF_err:
        jobj_key(o, key);
        if (ri->err)
            put_str(b, errno_name(ri->err));
        else
            sb_puts(b, "null");
        return;
    case RF_errno_code: jobj_key(o, key), sb_putu(b, (uint64_t)ri->err); return;
    case RF_age_ms: jobj_key(o, key), sb_put_ms(b, r->now - c->t_create); return;
    case RF_idle_ms:
        jobj_key(o, key);
        sb_put_ms(b, r->now > c->t_last ? r->now - c->t_last : 0);
        return;
    case RF_idle_before_ms: jobj_key(o, key), sb_put_ms(b, c->idle_before); return;
    case RF_bytes_out: jobj_key(o, key), sb_putu(b, c->bytes_out); return;
    case RF_bytes_in: jobj_key(o, key), sb_putu(b, c->bytes_in); return;
    case RF_calls_out: jobj_key(o, key), sb_putu(b, c->calls_out); return;
    case RF_calls_in: jobj_key(o, key), sb_putu(b, c->calls_in); return;
    case RF_exchanges: jobj_key(o, key), sb_putu(b, c->exchanges); return;
    case RF_reused: jobj_key(o, key), sb_puts(b, c->exchanges > 1 ? "true" : "false"); return;
    case RF_tcp: jobj_key(o, key), put_tcp(b, r); return;
    case RF_cause:
        if (ri->err || ri->eof || ri->judged) jobj_key(o, key), put_cause(b, r);
        return;
    /* retry and inject records: the attempt and action, then what came of it */
    case RF_attempt:
        if (ri->action) jobj_key(o, key), sb_puti(b, ri->attempt);
        return;
    case RF_action:
        if (ri->action) jobj_key(o, key), put_str(b, ri->action);
        return;
    case RF_outcome:
        if (ri->action && ri->outcome) jobj_key(o, key), put_str(b, ri->outcome);
        return;
    case RF_reason:
        if (ri->action && ri->reason) jobj_key(o, key), put_str(b, ri->reason);
        return;
    case RF_suppressed:
        if (r->x->suppressed) jobj_key(o, key), sb_putu(b, r->x->suppressed);
        return;
    case RF_events: jobj_key(o, key), put_events(b, c, r->x->skip_events); return;
    case RF_events_dropped:
        jobj_key(o, key);
        sb_putu(b, ring_dropped(&c->ring) + r->x->skip_events);
        return;
    /* packet records only (cli/capture_record.c) */
    case RF_iface:
    case RF_dir:
    case RF_flags:
    case RF_ttl:
    case RF_ip_id:
    case RF_seq:
    case RF_ack:
    case RF_win:
    case RF_rst_from:
    case RF_hops:
    case RF_peer_ttl:
    case RF_peer_hops:
    case RF_ip_id_seq:
    case RF_peer_after:
    case RF_since_data_ms:
    case RF_rtt_ms: return;
    /* summary records only (summary.c) */
    case RF_since:
    case RF_period_ms:
    case RF_counts:
    case RF_NFIELDS: return;
    }
}

static void format_record(struct strbuf *b, const struct conn *c, const struct record_info *ri,
                          const struct record_extra *x)
{
    struct record_ctx r = {c, ri, x, ri->now_ns > c->t_create ? ri->now_ns : c->t_create};
    struct jobj o = jobj_begin(b);
    for (unsigned i = 0; i < RF_NFIELDS; i++)
        put_field(&o, (enum rec_field)i, &r);
    jobj_end(&o);
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
    sandbox_check_fork(); /* a raw clone child's pid, log file and rate limit */
    uint64_t now = ri->now_ns ? ri->now_ns : clock_now_ns();
    const char *cause = "";
    int cause_code = -1;
    if (ri->err || ri->eof || ri->judged) {
        struct cause_input in;
        record_cause_input(c, ri, &in);
        cause_code = (int)cause_rules[cause_classify(&in)].code;
        cause = cause_code_name((enum cause_code)cause_code);
    }
    struct rl_id id;
    build_id(&id, c, ri, cause_code);
    struct key_ctx kx = {c, ri, cause};
    struct rl_slot *slot = ratelimit_slot(&id, describe_key, &kx);
    /* Only a record that would be written is worth the question (for the
     * identity check, a system call): one left out is only counted. */
    if (ri->confirm && ratelimit_would_admit(slot, now) && !ri->confirm(ri, c)) {
        errno = saved;
        return -ESTALE;
    }
    ratelimit_count_in(slot);
    if (!ratelimit_admit(slot, now)) {
        summary_tick(now);
        errno = saved;
        return 0;
    }
    struct record_extra x = {.suppressed = ratelimit_take_suppressed(slot)};
    struct tcp_snap after;
    if ((ri->err || ri->eof) && !ri->listener && !c->tcp.t_ns &&
        tcpinfo_read(ri->fd, c->family, &after, clock_now_ns(), c->bytes_in) == 0) {
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
                .priority = (ri->err || ri->eof || ri->judged) ? 4 : 6,
            };
            rc = sink_write_record(buf, b.len, &f);
            ratelimit_sent(slot, rc, x.suppressed);
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
