/* cause.c: the cause classifier. One ordered table of rules (predicate, code,
 * hint); the thresholds live in one table below with their sources. */
#include "cause.h"

#include <errno.h>

/* ---- thresholds ---------------------------------------------------------- */

/* A reused connection that sat quiet at least this long before the request
 * that got reset is called stale (idle_reuse) even without proof that the
 * peer had closed. 1 s is below every common keep-alive default listed below,
 * and far above the gap between pipelined or back-to-back requests. */
#define IDLE_REUSE_MIN_MS 1000

/* Below that, a reset is still called idle_reuse when the peer's RST was
 * already in before the request's first call (a fresh CLOSE snapshot) and
 * that call followed a quiet gap of at least this long: the shim only
 * snapshots TCP_INFO after such a gap (tcpinfo.h TCPINFO_IDLE_NS), so a fresh
 * snapshot proves the connection died while idle, not under load. */
#define IDLE_RST_MIN_MS 200

/* Well-known idle timeouts, ascending. The hint names the largest one the
 * measured idle time reached, as the likely culprit. */
static const struct known_timeout {
    uint64_t ms;
    const char *who;
} known_timeouts[] = {
    /* Node.js http.Server keepAliveTimeout default: 5000 ms (nodejs.org/api/http.html);
     * Apache httpd KeepAliveTimeout default: 5 s (httpd.apache.org/docs/2.4/mod/core.html). */
    {5000, "Node.js and Apache httpd keep-alive defaults, 5 s"},
    /* AWS Application/Classic Load Balancer idle timeout default: 60 s
       (docs.aws.amazon.com/elasticloadbalancing). */
    {60000, "AWS ALB/ELB idle timeout default, 60 s"},
    /* nginx keepalive_timeout default: 75 s (nginx.org/en/docs/http/ngx_http_core_module.html). */
    {75000, "nginx keepalive_timeout default, 75 s"},
    /* Azure Load Balancer TCP idle timeout default: 4 minutes (learn.microsoft.com,
       load-balancer-tcp-idle-timeout). */
    {240000, "Azure Load Balancer idle timeout default, 4 min"},
    /* AWS NAT Gateway / Gateway Load Balancer idle timeout: 350 s
       (docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html). */
    {350000, "AWS NAT Gateway/GWLB idle timeout, 350 s"},
    /* Linux nf_conntrack_tcp_timeout_established is 5 days; stateful firewalls often use 1 h (e.g.
       Cisco ASA conn timeout 1:00:00). */
    {3600000, "a firewall's 1 h connection timeout (Cisco ASA default)"},
};

/* ---- predicates ------------------------------------------------------------ */

/* A reset, or its quiet twin: EOF on a reused connection before any response. */
static int is_reset(const struct cause_input *in)
{
    return in->err == ECONNRESET || in->err == EPIPE || in->eof;
}

/* The peer had sent its FIN before the failing call (a graceful idle close).
 * A bare CLOSE (a RST already in) is not proof of an idle timeout by itself:
 * a peer that answers early and resets does the same within milliseconds. */
static int peer_closed_before(const struct cause_input *in)
{
    /* TCP states (include/net/tcp_states.h): 8 CLOSE_WAIT, 9 LAST_ACK. */
    return in->snap_fresh && (in->snap_state == 8 || in->snap_state == 9);
}

static int m_refused(const struct cause_input *in)
{
    return in->err == ECONNREFUSED;
}

static int m_connect_timeout(const struct cause_input *in)
{
    return !in->established &&
           (in->err == ETIMEDOUT || in->err == EHOSTUNREACH || in->err == ENETUNREACH);
}

static int m_retransmit_timeout(const struct cause_input *in)
{
    return in->err == ETIMEDOUT || in->err == EHOSTUNREACH || in->err == ENETUNREACH;
}

static int m_local_abort(const struct cause_input *in)
{
    return in->err == ECONNABORTED;
}

/* EPIPE after the app's own shutdown(SHUT_WR): nothing the peer did. */
static int m_write_after_shutdown(const struct cause_input *in)
{
    return in->err == EPIPE && in->shut_wr && in->op_class == OPC_OUT;
}

static int m_idle_reuse(const struct cause_input *in)
{
    int reset_while_idle =
        in->snap_fresh && in->snap_state == 7 /* CLOSE */ && in->idle_before_ms >= IDLE_RST_MIN_MS;
    return is_reset(in) && !in->server && in->exchanges > 1 && in->exchange_in == 0 &&
           (in->idle_before_ms >= IDLE_REUSE_MIN_MS || peer_closed_before(in) || reset_while_idle);
}

/* The app itself read EOF and still wrote: a protocol mismatch, however long it waited. */
static int m_write_after_eof(const struct cause_input *in)
{
    return is_reset(in) && in->op_class == OPC_OUT && in->peer_fin;
}

/* The peer's FIN was already there (CLOSE_WAIT) though the app had not read it. */
static int m_write_after_peer_fin(const struct cause_input *in)
{
    return is_reset(in) && in->op_class == OPC_OUT && in->snap_fresh && in->snap_state == 8;
}

static int m_unread_data_close(const struct cause_input *in)
{
    /* The peer answered or closed, and reset us while our bytes were unread. */
    return is_reset(in) && (in->peer_fin || (!in->server && in->op_class == OPC_OUT &&
                                             (in->exchange_in > 0 || in->resp_before_write > 0)));
}

static int m_reset_before_response(const struct cause_input *in)
{
    return is_reset(in) && !in->server && in->exchange_in == 0 && in->bytes_out > 0;
}

static int m_client_abort(const struct cause_input *in)
{
    return is_reset(in) && in->server;
}

static int m_reset_mid_stream(const struct cause_input *in)
{
    return is_reset(in) && in->bytes_in > 0;
}

static int m_any(const struct cause_input *in)
{
    (void)in;
    return 1;
}

const struct cause_rule cause_rules[] = {
    {CAUSE_REFUSED, m_refused,
     "nothing was listening on the peer's port (server down or restarting, wrong port, or a "
     "firewall rejecting with a reset): check that the service is up and listening there"},
    {CAUSE_CONNECT_TIMEOUT, m_connect_timeout,
     "the connection never completed (SYN unanswered or host unreachable): check firewalls, "
     "security groups and routing to the peer"},
    {CAUSE_RETRANSMIT_TIMEOUT, m_retransmit_timeout,
     "data went unacknowledged until the kernel gave up (network loss or a dead peer): check "
     "the path and whether the peer host is alive"},
    {CAUSE_LOCAL_ABORT, m_write_after_shutdown,
     "this program wrote after shutting down its own sending side (shutdown SHUT_WR): the bug is "
     "local, in the order of its shutdown and writes"},
    {CAUSE_LOCAL_ABORT, m_local_abort,
     "the connection was aborted on this host (local timeout, a killed or crashed peer before "
     "accept, or SO_LINGER 0): check this host's logs and limits"},
    {CAUSE_WRITE_AFTER_PEER_FIN, m_write_after_eof,
     "we wrote after the peer had already closed its side (we had seen EOF or half-close): "
     "check the protocol, e.g. Connection: close or a response the client did not wait for"},
    {CAUSE_IDLE_REUSE, m_idle_reuse,
     "the peer or a load balancer closed this keep-alive connection at its idle timeout and the "
     "client reused it: set the client's idle timeout below the smallest one on the path"},
    {CAUSE_WRITE_AFTER_PEER_FIN, m_write_after_peer_fin,
     "we wrote after the peer had already closed its side (we had seen EOF or half-close): "
     "check the protocol, e.g. Connection: close or a response the client did not wait for"},
    {CAUSE_RESET_MID_STREAM, m_client_abort,
     "the client aborted this connection (it crashed, timed out, or closed with SO_LINGER 0): "
     "check the client side and any proxy in front of this server"},
    {CAUSE_UNREAD_DATA_CLOSE, m_unread_data_close,
     "the peer closed while our data was still unread, which makes the kernel send a reset: "
     "the peer answered early (an error, a size limit) or does not read the whole request"},
    {CAUSE_RESET_BEFORE_RESPONSE, m_reset_before_response,
     "the request was sent and the peer reset before any response byte: it crashed, restarted "
     "or rejected the request; check the server's logs at this time"},
    {CAUSE_RESET_MID_STREAM, m_reset_mid_stream,
     "the connection was reset while data was flowing (peer crash, resource limit, or a "
     "middlebox or IDS injecting a reset): check the peer's logs and tcp.retrans"},
    {CAUSE_UNKNOWN, m_any,
     "no pattern fits this reset: compare the timeline with the peer's logs at this time"},
};

size_t cause_classify(const struct cause_input *in)
{
    size_t i = 0;
    while (!cause_rules[i].match(in))
        i++;
    return i;
}

const char *cause_code_name(enum cause_code code)
{
    static const char *const names[CAUSE_COUNT] = {
        "refused",          "connect_timeout",    "reset_before_response",
        "idle_reuse",       "unread_data_close",  "write_after_peer_fin",
        "reset_mid_stream", "retransmit_timeout", "local_abort",
        "unknown",
    };
    return (unsigned)code < CAUSE_COUNT ? names[code] : "unknown";
}

static void put_seconds(struct strbuf *b, uint64_t ms)
{
    sb_putu(b, ms / 1000);
    sb_putc(b, '.');
    sb_putu(b, ms / 100 % 10);
    sb_puts(b, " s");
}

void cause_write_hint(struct strbuf *b, size_t rule, const struct cause_input *in)
{
    const struct cause_rule *r = &cause_rules[rule];
    if (r->code == CAUSE_IDLE_REUSE) {
        sb_puts(b, "reused keep-alive connection had sat idle ");
        put_seconds(b, in->idle_before_ms);
        const struct known_timeout *hit = NULL;
        for (size_t i = 0; i < sizeof known_timeouts / sizeof known_timeouts[0]; i++)
            if (in->idle_before_ms >= known_timeouts[i].ms) hit = &known_timeouts[i];
        if (hit) {
            sb_puts(b, " (past the ");
            sb_puts(b, hit->who);
            sb_puts(b, ")");
        }
        if (peer_closed_before(in)) sb_puts(b, " and the peer had already closed it");
        sb_puts(b, "; ");
    }
    sb_puts(b, r->hint);
    if (r->code == CAUSE_RESET_BEFORE_RESPONSE && in->exchanges > 1) {
        /* A reused connection reset at a later request, without an idle gap:
         * servers also close after a number of requests per connection. */
        sb_puts(b, " (it was request ");
        sb_putu(b, in->exchanges);
        sb_puts(b, " on a reused keep-alive connection: also check the server's per-connection "
                   "request limit, e.g. nginx keepalive_requests)");
    }
    if ((r->code == CAUSE_RESET_MID_STREAM || r->code == CAUSE_RETRANSMIT_TIMEOUT) &&
        in->total_retrans) {
        sb_puts(b, " (");
        sb_putu(b, in->total_retrans);
        sb_puts(b, " retransmissions before the failure)");
    }
}
