// SPDX-License-Identifier: MIT
/* capture_record.c: the packet record `rstwatch capture` writes for an RST
 * (see capture.h). Its keys come from the schema table (shim/schema.h, through
 * recfmt.h) in table order, like the shim's records, and it goes through the
 * shim's own rate limit, summaries and sinks (file, journal, syslog), linked
 * into the CLI: a packet record is counted, limited and summarised under the
 * key (packet, peer, cause, role) exactly as a connection record is under its
 * own. Its time is the packet's capture time, not the time it was written
 * (a verdict waits for the window after the RST). */
#include "capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "ratelimit.h"
#include "recfmt.h"
#include "sink.h"
#include "strbuf.h"
#include "summary.h"

#define RECORD_MAX 4096

static void put_str(struct strbuf *b, const char *s)
{
    sb_put_json_str(b, s, strlen(s));
}

/* "1.2.3.4:80" or "[::1]:80". */
static void put_endpoint(struct strbuf *b, int family, const uint8_t *a, uint16_t port,
                         int with_port)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(family, a, ip, sizeof ip);
    if (family == AF_INET6) sb_putc(b, '[');
    sb_puts(b, ip);
    if (family == AF_INET6) sb_putc(b, ']');
    if (with_port) sb_putc(b, ':'), sb_putu(b, port);
}

static void put_endpoint_str(struct strbuf *b, int family, const uint8_t *a, uint16_t port)
{
    char tmp[80];
    struct strbuf t;
    sb_init(&t, tmp, sizeof tmp);
    put_endpoint(&t, family, a, port, 1);
    put_str(b, sb_cstr(&t));
}

/* TCP flags as tcpdump prints them: F S R P U E W, then '.' for ACK. */
static void put_flags(struct strbuf *b, uint8_t fl)
{
    static const struct {
        uint8_t bit;
        char letter;
    } order[] = {{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'},
                 {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}, {TCPF_ACK, '.'}};
    char s[12];
    size_t n = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (fl & order[i].bit) s[n++] = order[i].letter;
    s[n] = 0;
    put_str(b, s);
}

static void put_ms(struct strbuf *b, double ms)
{
    sb_put_ms(b, (uint64_t)llround(ms * 1e6));
}

static const char *role_name(enum cap_role r)
{
    return r == CAP_ROLE_CLIENT ? "client" : r == CAP_ROLE_SERVER ? "server" : NULL;
}

struct rec_ctx {
    const struct cap_flow *f;
    const struct cap_verdict *v;
    uint64_t suppressed;
};

/* Writes field f of a packet record, or nothing when it does not apply. */
static void put_field(struct jobj *o, enum rec_field f, const struct rec_ctx *c)
{
    struct strbuf *b = o->b;
    const struct cap_flow *fl = c->f;
    const struct cap_pkt *r = &fl->rst;
    const struct cap_verdict *v = c->v;
    const char *key = recfmt_keys[f];
    switch (f) {
    case RF_time:
        jobj_key(o, key);
        sb_putc(b, '"');
        recfmt_put_time(b, r->t_us / 1000000, (long)(r->t_us % 1000000) * 1000);
        sb_putc(b, '"');
        return;
    case RF_v:
    case RF_type:
    case RF_host:
    case RF_pid:
    case RF_tid:
    case RF_prog: recfmt_put_header_field(o, f, "packet"); return;
    case RF_family: jobj_key(o, key), put_str(b, r->family == AF_INET6 ? "inet6" : "inet"); return;
    case RF_role:
        if (role_name(fl->role)) jobj_key(o, key), put_str(b, role_name(fl->role));
        return;
    case RF_local:
        jobj_key(o, key);
        put_endpoint_str(b, fl->id.family, fl->id.laddr, fl->id.lport);
        return;
    case RF_peer:
        jobj_key(o, key);
        put_endpoint_str(b, fl->id.family, fl->id.raddr, fl->id.rport);
        return;
    case RF_iface: jobj_key(o, key), put_str(b, r->iface ? r->iface : "any"); return;
    case RF_dir: jobj_key(o, key), put_str(b, r->dir == CAP_OUT ? "out" : "in"); return;
    case RF_flags: jobj_key(o, key), put_flags(b, r->flags); return;
    case RF_ttl: jobj_key(o, key), sb_putu(b, (uint64_t)r->ttl); return;
    case RF_ip_id:
        if (r->ip_id >= 0) jobj_key(o, key), sb_putu(b, (uint64_t)r->ip_id);
        return;
    case RF_seq: jobj_key(o, key), sb_putu(b, r->seq); return;
    case RF_ack: jobj_key(o, key), sb_putu(b, r->flags & TCPF_ACK ? r->ack : 0); return;
    case RF_win: jobj_key(o, key), sb_putu(b, r->win); return;
    case RF_rst_from: jobj_key(o, key), put_str(b, v->rst_from); return;
    case RF_hops:
        if (v->hops >= 0) jobj_key(o, key), sb_putu(b, (uint64_t)v->hops);
        return;
    case RF_peer_ttl:
        if (fl->peer_pkts) jobj_key(o, key), sb_putu(b, (uint64_t)fl->peer_ttl_max);
        return;
    case RF_peer_hops:
        if (v->peer_hops >= 0) jobj_key(o, key), sb_putu(b, (uint64_t)v->peer_hops);
        return;
    case RF_ip_id_seq: jobj_key(o, key), put_str(b, v->ip_id_seq); return;
    case RF_peer_after: jobj_key(o, key), sb_putu(b, v->peer_after); return;
    case RF_since_data_ms:
        if (!isnan(v->since_data_ms)) jobj_key(o, key), put_ms(b, v->since_data_ms);
        return;
    case RF_rtt_ms:
        if (!isnan(v->rtt_ms)) jobj_key(o, key), put_ms(b, v->rtt_ms);
        return;
    case RF_cause: {
        jobj_key(o, key);
        struct jobj co = jobj_begin(b);
        jobj_key(&co, recfmt_cause_keys[RF_CAUSE_code]), put_str(b, v->code);
        jobj_key(&co, recfmt_cause_keys[RF_CAUSE_hint]), put_str(b, v->hint);
        jobj_end(&co);
        return;
    }
    case RF_suppressed:
        if (c->suppressed) jobj_key(o, key), sb_putu(b, c->suppressed);
        return;
    default: return; /* a connection or summary record's field */
    }
}

size_t cap_record_format(char *buf, size_t cap, const struct cap_flow *f,
                         const struct cap_verdict *v, uint64_t suppressed)
{
    struct strbuf b;
    sb_init(&b, buf, cap - 1);
    struct rec_ctx c = {f, v, suppressed};
    struct jobj o = jobj_begin(&b);
    for (unsigned i = 0; i < RF_NFIELDS; i++)
        put_field(&o, (enum rec_field)i, &c);
    jobj_end(&o);
    if (b.overflow) return 0;
    buf[b.len++] = '\n';
    return b.len;
}

struct key_ctx {
    const struct cap_flow *f;
    const struct cap_verdict *v;
};

static void describe_key(struct rl_key *k, const void *arg)
{
    const struct key_ctx *x = arg;
    const struct cap_flow_id *id = &x->f->id;
    struct strbuf p, l;
    k->type = "packet";
    k->cause = x->v->code;
    k->server = x->f->role == CAP_ROLE_SERVER;
    sb_init(&p, k->peer, sizeof k->peer - 1);
    sb_init(&l, k->local, sizeof k->local - 1);
    if (k->server) {
        put_endpoint(&p, id->family, id->raddr, 0, 0);
        put_endpoint(&l, id->family, id->laddr, id->lport, 1);
    } else {
        put_endpoint(&p, id->family, id->raddr, id->rport, 1);
    }
    k->peer[p.len] = 0;
    k->local[l.len] = 0;
}

static uint8_t verdict_index(const char *rst_from)
{
    static const char *const names[] = {"peer", "path", "local", "unknown"};
    for (uint8_t i = 0; i < 4; i++)
        if (!strcmp(names[i], rst_from)) return (uint8_t)(i + 1);
    return 4;
}

int cap_record_write(const struct cap_flow *f, const struct cap_verdict *v, uint64_t now_ns)
{
    uint64_t now = now_ns ? now_ns : clock_now_ns();
    struct rl_id id;
    memset(&id, 0, sizeof id);
    id.type = ratelimit_type_index("packet");
    id.cause = verdict_index(v->rst_from);
    id.server = f->role == CAP_ROLE_SERVER;
    id.family = (uint8_t)f->id.family;
    memcpy(id.peer_addr, f->id.raddr, 16);
    id.peer_port = id.server ? 0 : f->id.rport;
    if (id.server) memcpy(id.local_addr, f->id.laddr, 16), id.local_port = f->id.lport;
    struct key_ctx kx = {f, v};
    struct rl_slot *slot = ratelimit_count(&id, describe_key, &kx);
    if (!ratelimit_admit(slot, now)) {
        summary_tick(now);
        return 0;
    }
    uint64_t suppressed = ratelimit_take_suppressed(slot);
    char buf[RECORD_MAX];
    size_t len = cap_record_format(buf, sizeof buf, f, v, suppressed);
    size_t limit = sink_line_limit();
    int rc = 0;
    if (!len || (limit && len > limit)) {
        ratelimit_suppress(slot, 1 + suppressed);
        rc = -EOVERFLOW;
    } else if (!ratelimit_budget(len, now)) {
        ratelimit_suppress(slot, 1 + suppressed);
    } else {
        char peer[80], msg[200];
        struct strbuf pb, mb;
        sb_init(&pb, peer, sizeof peer);
        put_endpoint(&pb, f->id.family, f->id.raddr, f->id.rport, 1);
        sb_init(&mb, msg, sizeof msg);
        sb_puts(&mb, "RST from ");
        sb_puts(&mb, v->rst_from);
        sb_puts(&mb, f->rst.dir == CAP_OUT ? " to " : " on the connection with ");
        sb_puts(&mb, sb_cstr(&pb));
        sb_puts(&mb, ", cause ");
        sb_puts(&mb, v->code);
        struct sink_fields sf = {
            .type = "packet",
            .cause = v->code,
            .peer = sb_cstr(&pb),
            .message = sb_cstr(&mb),
            .priority = strcmp(v->rst_from, "path") ? 5 : 4,
        };
        rc = sink_write_record(buf, len, &sf);
        ratelimit_sent(slot, rc, suppressed);
    }
    summary_tick(now);
    return rc;
}
