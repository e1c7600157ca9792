// SPDX-License-Identifier: MIT
/* cause.c: the cause classifier. One ordered table of rules (predicate, code,
 * hint); the thresholds and the known timeouts live in tables below with their
 * sources. Also the request-direction protocol sniffer (TLS record walking)
 * and the count-instead-of-record policy (see cause.h). */
#include "cause.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

/* ---- thresholds ---------------------------------------------------------- */

/* A reused connection that sat quiet at least this long before the request
 * that got reset is called stale (idle_reuse) even without proof that the
 * peer had closed, once that is also at least the smallest known idle
 * timeout (idle_timeouts[0]); below that, a stale keep-alive needs the proof
 * of a snapshot (and is then early_close). */
#define IDLE_REUSE_MIN_MS 1000

/* Below that, a reset is still called idle_reuse when the peer's RST was
 * already in before the request's first call (a CLOSE snapshot taken as the
 * request began) and that call followed a quiet gap of at least this long:
 * the shim only snapshots TCP_INFO after such a gap (tcpinfo.h
 * TCPINFO_IDLE_NS), so that snapshot proves the connection died while idle,
 * not under load. */
#define IDLE_RST_MIN_MS 200

/* A response is called timed out only when the peer gave up at least this
 * long after the request's last byte. */
#define RESPONSE_TIMEOUT_MIN_MS 1000

/* How a timeout fires (see near_timeout): a timer checked by a loop fires
 * from its value to one check interval after it; gunicorn's arbiter, php-fpm's
 * master and uWSGI's master check about once a second, so 1 s, plus 100 ms
 * of scheduling. Earlier than the value only by clock and start-point
 * differences (the server starts its timer as the request arrives, we as it
 * leaves, and servers keep coarse clocks). */
#define TIMEOUT_EARLY_MS 30
#define TIMEOUT_LATE_MS 1100

/* A reset is the path's, not the peer's, when it came back sooner than the
 * peer could have answered: within this fraction of the lowest round-trip
 * time the connection has seen (tcpi_min_rtt, the SYN/ACK's on a fresh
 * connection, free of the server's think time and of delayed ACKs), measured
 * from the end of the request's last send call (a reset the path sends comes
 * back inside that call). A quarter on a path whose RTT is at least
 * PATH_RTT_PHYSICAL_US: there the RTT is propagation, and nothing the peer
 * sends can beat it; a quarter and not a half because a fresh connection's
 * one RTT sample can be late itself (a wire that jittered 3x under load made a
 * server's own reset come within half of it). On a shorter path (veth pairs
 * and bridges on one host) the "RTT" is the CPU's own work, and a server
 * thread on another CPU can answer within it: there an eighth. Never on
 * loopback, where there is no path (a peer's reset was seen 8 us after a
 * 36 us RTT). */
#define PATH_RTT_PHYSICAL_US 1000

/* A reset that came within this many of the connection's lowest round-trip
 * times after the request's last byte (but not soon enough for
 * path_reset_limit_us) may have come from the peer, which rejected the
 * request at once, or from a device on the far part of the path: from this
 * host the two look the same (a device k of n hops away answers in about
 * k/n of the RTT on a wire; on one host's veth pairs the sender's own send
 * call carries the packet through every namespace, so a router's reject and
 * a server thread's reset both land within a fraction of the RTT: a server
 * two hops away reset 29 us after the request on a 162 us RTT, a router's
 * reject 7 us after it on 56 us). The hint then names both and how to tell
 * them apart. Never below PATH_FEW_RTTS_FLOOR_US: the program's own time
 * from its send to its next call is inside the measure (an interpreter's is
 * a few hundred microseconds). */
#define PATH_FEW_RTTS 4
#define PATH_FEW_RTTS_FLOOR_US 1000

/* TCP states (include/net/tcp_states.h). */
enum { TCP_ESTABLISHED = 1, TCP_CLOSE = 7, TCP_CLOSE_WAIT = 8, TCP_LAST_ACK = 9 };

struct known_timeout {
    uint64_t ms;      /* the value */
    uint64_t late_ms; /* how much later than the value it may still fire: its check interval */
    const char *who;
};

/* Well-known idle timeouts, ascending. The hint names the largest one the
 * measured idle time reached, as the likely culprit; the first is the
 * smallest known, below which a close is no idle timeout (early_close). */
static const struct known_timeout idle_timeouts[] = {
    /* gunicorn --keep-alive default: 2 s (docs.gunicorn.org/en/stable/settings.html#keepalive). */
    {2000, 0, "gunicorn keep-alive default, 2 s"},
    /* Node.js http.Server keepAliveTimeout default: 5000 ms (nodejs.org/api/http.html);
     * Apache httpd KeepAliveTimeout default: 5 s (httpd.apache.org/docs/2.4/mod/core.html). */
    {5000, 0, "Node.js and Apache httpd keep-alive defaults, 5 s"},
    /* AWS Application/Classic Load Balancer idle timeout default: 60 s
       (docs.aws.amazon.com/elasticloadbalancing). */
    {60000, 0, "AWS ALB/ELB idle timeout default, 60 s"},
    /* nginx keepalive_timeout default: 75 s (nginx.org/en/docs/http/ngx_http_core_module.html). */
    {75000, 0, "nginx keepalive_timeout default, 75 s"},
    /* Azure Load Balancer TCP idle timeout default: 4 minutes (learn.microsoft.com,
       load-balancer-tcp-idle-timeout). */
    {240000, 0, "Azure Load Balancer idle timeout default, 4 min"},
    /* AWS NAT Gateway / Gateway Load Balancer idle timeout: 350 s
       (docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html). */
    {350000, 0, "AWS NAT Gateway/GWLB idle timeout, 350 s"},
    /* Linux nf_conntrack_tcp_timeout_established is 5 days; stateful firewalls often use 1 h (e.g.
       Cisco ASA conn timeout 1:00:00). */
    {3600000, 0, "a firewall's 1 h connection timeout (Cisco ASA default)"},
};

/* Well-known request (response) timeouts: how long a server or proxy lets a
 * request run before it gives up and closes the connection. php-fpm's
 * request_terminate_timeout (php.net/manual/en/install.fpm.configuration.php)
 * and uWSGI's harakiri (uwsgi-docs.readthedocs.io/en/latest/Options.html#harakiri)
 * are off by default, so they have no row: a configured value of theirs is
 * matched by the whole-seconds rule below, and the hint names them. */
static const struct known_timeout response_timeouts[] = {
    /* gunicorn --timeout default 30 s, checked by the arbiter about once a second
       (docs.gunicorn.org/en/stable/settings.html#timeout); PHP max_execution_time default 30
       (php.net/manual/en/info.configuration.php). */
    {30000, 0, "gunicorn's worker timeout and PHP's max_execution_time, 30 s by default"},
    /* HAProxy has no default `timeout server`; Debian's stock /etc/haproxy/haproxy.cfg sets
       50000 ms (docs.haproxy.org, timeout server). */
    {50000, 0, "HAProxy's timeout server in Debian's stock haproxy.cfg, 50 s"},
    /* nginx proxy_read_timeout default 60 s (nginx.org/en/docs/http/ngx_http_proxy_module.html);
       Apache httpd Timeout default 60 s (httpd.apache.org/docs/2.4/mod/core.html#timeout);
       AWS ALB idle timeout default 60 s (docs.aws.amazon.com/elasticloadbalancing). */
    {60000, 0,
     "nginx proxy_read_timeout, Apache httpd Timeout and the AWS ALB idle timeout, 60 s "
     "by default"},
};

/* Well-known timeouts for receiving the request: how long a server waits for
 * a client to finish sending its headers or body before it gives up, answers
 * 408 and closes (request_timeout). */
static const struct known_timeout request_read_timeouts[] = {
    /* Apache httpd mod_reqtimeout RequestReadTimeout default header=20-40,MinRate=500
       body=20,MinRate=500 (httpd.apache.org/docs/2.4/mod/mod_reqtimeout.html). */
    {20000, 20000, "Apache httpd's RequestReadTimeout default, 20 s"},
    /* HAProxy `timeout http-request` has no default and falls back to `timeout client`, 50000 ms
       in Debian's stock haproxy.cfg (docs.haproxy.org, timeout http-request). */
    {50000, 0,
     "HAProxy's timeout client in Debian's stock haproxy.cfg (timeout http-request "
     "unset), 50 s"},
    /* nginx client_header_timeout and client_body_timeout default 60 s
       (nginx.org/en/docs/http/ngx_http_core_module.html). */
    {60000, 0, "nginx client_header_timeout/client_body_timeout default, 60 s"},
    /* Node.js http.Server headersTimeout default 60000 ms, requestTimeout 300000 ms (v18+),
       both checked every connectionsCheckingInterval, 30000 ms (nodejs.org/api/http.html). */
    {60000, 30000, "Node.js http.Server headersTimeout default, 60 s (checked every 30 s)"},
    {300000, 30000, "Node.js http.Server requestTimeout default, 300 s (checked every 30 s)"},
};

/* A timeout of t (checked every k->late_ms more) fires from about its value
 * to TIMEOUT_LATE_MS after that. */
static int near_timeout(uint64_t ms, const struct known_timeout *k)
{
    return ms + TIMEOUT_EARLY_MS >= k->ms && ms <= k->ms + k->late_ms + TIMEOUT_LATE_MS;
}

static const struct known_timeout *timeout_match(uint64_t ms, const struct known_timeout *t,
                                                 size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (near_timeout(ms, &t[i])) return &t[i];
    return NULL;
}

#define MATCH(ms, table) timeout_match((ms), (table), sizeof(table) / sizeof(table)[0])

/* Configured timeouts are whole seconds (nginx "5s", gunicorn --timeout 10,
 * uWSGI harakiri 20, php-fpm request_terminate_timeout 3s): from 2 s to 30 s,
 * a wait from TIMEOUT_EARLY_MS before a whole second to TIMEOUT_LATE_MS after
 * it also looks like one. With watchdogs that fire up to 1.1 s late, that is
 * every wait in the range: below 2 s, request timeouts are rare, and a crash
 * or a killed query at about 1 s is not. */
#define ROUND_SECOND_MIN_MS 2000
#define ROUND_SECOND_MAX_MS 30000

/* The known response timeout that a wait of ms matches, or NULL; *round_s is
 * set to the whole seconds of a configured timeout when only the
 * whole-seconds rule matched (the largest whole second at or below it). */
static const struct known_timeout *request_timeout_match(uint64_t ms, uint64_t *round_s)
{
    *round_s = 0;
    const struct known_timeout *k = MATCH(ms, response_timeouts);
    if (k) return k;
    if (ms + TIMEOUT_EARLY_MS >= ROUND_SECOND_MIN_MS && ms <= ROUND_SECOND_MAX_MS + TIMEOUT_LATE_MS)
        *round_s = (ms + TIMEOUT_EARLY_MS) / 1000;
    return NULL;
}

static int looks_like_request_timeout(uint64_t ms)
{
    uint64_t round_s;
    return request_timeout_match(ms, &round_s) || round_s > 0;
}

/* ---- predicates ------------------------------------------------------------ */

/* A reset, or its quiet twin: the peer's FIN where it matters (EOF record). */
static int is_reset(const struct cause_input *in)
{
    return in->err == ECONNRESET || in->err == EPIPE || in->eof;
}

int cause_is_reset_errno(int err)
{
    switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ECONNREFUSED:
    case ECONNABORTED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH: return 1;
    default: return 0;
    }
}

int cause_tls_not_a_response(int proto, uint32_t exchanges, uint64_t bytes)
{
    if (proto != PROTO_TLS || bytes == 0) return 0;
    return bytes <= (exchanges <= 1 ? CAUSE_TLS_TICKETS_MAX : CAUSE_TLS_ALERT_MAX);
}

/* On a TLS connection a few response-direction bytes may be session tickets
 * or the peer's close_notify: no proof that a response began. */
static int maybe_not_a_response(const struct cause_input *in)
{
    return cause_tls_not_a_response(in->proto, in->exchanges, in->exchange_in);
}

/* Everything read since the request began had been queued, unread, before
 * it, when the peer had already closed: the peer's last words, no response
 * (a snapshot taken as the request began says so). */
static int queued_before_request(const struct cause_input *in)
{
    return in->snap_pre_request && in->unread > 0 && in->exchange_in <= in->unread &&
           (in->snap_state == TCP_CLOSE_WAIT || in->snap_state == TCP_LAST_ACK ||
            in->snap_state == TCP_CLOSE);
}

static int no_response_yet(const struct cause_input *in)
{
    return in->exchange_in == 0 || maybe_not_a_response(in) || queued_before_request(in);
}

/* Evidence that the peer had closed before the request left: a snapshot taken
 * as the request began shows its FIN (CLOSE_WAIT, LAST_ACK). A snapshot taken
 * later (at the failing EOF read) proves nothing about before. */
static int peer_closed_before(const struct cause_input *in)
{
    return in->snap_pre_request &&
           (in->snap_state == TCP_CLOSE_WAIT || in->snap_state == TCP_LAST_ACK);
}

static int m_refused(const struct cause_input *in)
{
    return in->err == ECONNREFUSED;
}

/* connect() to an AF_UNIX path that does not exist: the local "refused". */
static int m_no_socket_path(const struct cause_input *in)
{
    return in->err == ENOENT && in->op_class == OPC_CONNECT;
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

/* Not a reset at all (EINVAL, EACCES, ...: RSTWATCH_RECORD=errors). */
/* A client that had already sent its TLS close_notify (the app was done with
 * the connection) met the peer's reset: the peer closed without waiting for
 * the close_notify exchange, which TLS allows (RFC 8446 6.1), and our alert
 * reached a closed socket. Nothing was outstanding. */
static int m_tls_close_race(const struct cause_input *in)
{
    return !in->server && in->closing && (in->eof || cause_is_reset_errno(in->err));
}

static int m_not_a_reset(const struct cause_input *in)
{
    return in->err && !in->eof && !cause_is_reset_errno(in->err);
}

/* A client's idle pooled connection, its last response read, closed by the
 * peer (RST or FIN) after a quiet spell: the pool drops it, nobody fails. */
static int m_idle_close(const struct cause_input *in)
{
    return !in->server && (in->eof || in->err == ECONNRESET) && in->op_class == OPC_IN &&
           !in->awaiting_response && in->exchanges >= 1 &&
           in->quiet_ms >= CAUSE_IDLE_CLOSE_MIN_MS && !maybe_not_a_response(in);
}

/* A server's kept-alive connection, its last response written and nothing
 * read since, reset by the client after a quiet spell: a client's or a
 * proxy's pool dropping an idle connection (HAProxy purging its idle server
 * connections with option nolinger). Nothing was outstanding, nobody
 * failed. The failing read began an exchange of its own (io.c), which keeps
 * the previous one's response bytes in resp_before_write. */
static int m_idle_close_server(const struct cause_input *in)
{
    return in->server && in->err == ECONNRESET && in->op_class == OPC_IN &&
           !in->awaiting_response && in->exchange_in == 0 && in->resp_before_write > 0 &&
           in->quiet_ms >= CAUSE_IDLE_CLOSE_MIN_MS && in->proto != PROTO_TLS;
}

/* TLS, nothing outstanding as far as the byte counts tell, but what came back
 * may have been only session tickets: the peer either closed an idle
 * connection or gave up on the request. Say so rather than guess. */
static int m_tls_ambiguous(const struct cause_input *in)
{
    return !in->server && (in->eof || in->err == ECONNRESET) && in->op_class == OPC_IN &&
           !in->awaiting_response && in->quiet_ms >= CAUSE_IDLE_CLOSE_MIN_MS &&
           maybe_not_a_response(in);
}

/* A reused connection, nothing of this request's response yet: a candidate
 * for a stale keep-alive. */
static int stale_candidate(const struct cause_input *in)
{
    return is_reset(in) && !in->server && in->exchanges >= 2 && no_response_yet(in);
}

/* Proof that the peer had closed the idle connection before the request: a
 * snapshot taken as the request began shows its FIN, or its RST after a
 * quiet gap (so the connection died while idle, not under load). */
static int closed_before_request(const struct cause_input *in)
{
    return peer_closed_before(in) || (in->snap_pre_request && in->snap_state == TCP_CLOSE &&
                                      in->idle_before_ms >= IDLE_RST_MIN_MS);
}

/* The peer's last words sat unread before the request left: a snapshot taken
 * as the request began shows the peer closed with bytes unread, which the
 * shim read (cause_sniff_goodbye), and whatever the program read since is no
 * more than those bytes. They were no response to this request. */
static int m_goodbye_before(const struct cause_input *in)
{
    if (!is_reset(in) || in->server || in->exchanges < 1 || !queued_before_request(in)) return 0;
    if (in->goodbye == GOODBYE_PG || in->goodbye == GOODBYE_MYSQL || in->goodbye == GOODBYE_HTTP)
        return 1;
    /* Bytes of no known goodbye: a TLS peer's close_notify (the TLS rules
     * judge it), or on a reused connection after a plausible idle timeout,
     * the idle close's own words (idle_reuse). */
    return in->goodbye == GOODBYE_BYTES && in->proto != PROTO_TLS &&
           (in->exchanges < 2 || in->idle_before_ms < idle_timeouts[0].ms);
}
/* The peer closed the reused connection before the request, after less idle
 * time than any known idle timeout: a restart, reload, admin kill or
 * connection limit. */
static int m_early_close(const struct cause_input *in)
{
    return stale_candidate(in) && in->idle_before_ms < idle_timeouts[0].ms &&
           closed_before_request(in);
}

static int m_idle_reuse(const struct cause_input *in)
{
    if (!stale_candidate(in) || in->idle_before_ms < idle_timeouts[0].ms) return 0;
    if (closed_before_request(in)) return 1;
    /* Long idle, no proof. A peer that closes at its idle timeout sends its
     * FIN then (CLOSE_WAIT before the request): a connection that still
     * looked open as the request left was not closed at an idle timeout, and
     * naming one from the idle time alone would be a guess (a prompt reset
     * there is m_state_forgotten's; a slower one, or a FIN, the peer's
     * answer to the request). Without a snapshot nothing says either way. */
    if (in->snap_pre_request && in->snap_state == TCP_ESTABLISHED) return 0;
    return 1;
}

/* The server stopped waiting for our request while it was still being sent:
 * the failing call is a write of the request, nothing of a response was read,
 * and a snapshot taken inside the request's send span (after a pause in it)
 * shows the peer closed or bytes it sent (a 408) unread. */
static int m_request_timeout(const struct cause_input *in)
{
    if (in->server || in->exchange_in != 0 || !in->snap_in_request) return 0;
    if (in->unread == 0 && in->snap_state != TCP_CLOSE_WAIT && in->snap_state != TCP_LAST_ACK &&
        in->snap_state != TCP_CLOSE)
        return 0;
    if (is_reset(in) && !in->eof && in->op_class == OPC_OUT) return 1;
    /* Or the EOF read after the request's last byte, when the snapshot that
     * shows the peer's FIN was taken before that byte left (at a send call
     * after a pause in the request): the peer closed while the request was
     * still being sent, with nothing said (nginx's client_body_timeout sends
     * no 408). An interim 100 Continue before it is no response (io.c). */
    return in->eof && in->op_class == OPC_IN && in->awaiting_response && in->snap_mid_request &&
           in->unread == 0 && (in->snap_state == TCP_CLOSE_WAIT || in->snap_state == TCP_LAST_ACK);
}

/* How soon after the request's last byte a reset must come to be the path's
 * (see PATH_RTT_PHYSICAL_US); 0: never. */
static uint64_t path_reset_limit_us(const struct cause_input *in)
{
    if (in->peer_loopback || !in->min_rtt_us) return 0;
    return in->min_rtt_us >= PATH_RTT_PHYSICAL_US ? in->min_rtt_us / 4 : in->min_rtt_us / 8;
}

/* The reset came within a few round trips of the request's last byte, on a
 * path (not loopback): see PATH_FEW_RTTS. */
static int within_few_rtts(const struct cause_input *in)
{
    if (in->peer_loopback || !in->min_rtt_us) return 0;
    uint64_t limit = (uint64_t)in->min_rtt_us * PATH_FEW_RTTS;
    if (limit < PATH_FEW_RTTS_FLOOR_US) limit = PATH_FEW_RTTS_FLOOR_US;
    return in->quiet_us <= limit;
}

/* A reused connection that sat idle at least as long as the smallest known
 * idle timeout, still looked open when the request left (no FIN or RST had
 * come: a peer closing at its idle timeout sends its FIN then), and was
 * reset within a few round trips of the request, before any response:
 * whatever answered no longer knew the connection. A NAT or stateful
 * firewall that dropped the idle connection's state rejects its next packet
 * so; so does a peer host that rebooted or failed over. */
static int m_state_forgotten(const struct cause_input *in)
{
    return is_reset(in) && !in->eof && !in->server && in->exchanges >= 2 &&
           in->idle_before_ms >= idle_timeouts[0].ms && in->awaiting_response &&
           no_response_yet(in) && in->snap_pre_request && in->snap_state == TCP_ESTABLISHED &&
           within_few_rtts(in);
}

/* A reset that came back sooner than the peer could have answered the
 * request: a firewall, IDS, proxy or NAT on the way, or this host's own. */
static int m_path_reset(const struct cause_input *in)
{
    return in->err == ECONNRESET && !in->server && in->awaiting_response && no_response_yet(in) &&
           in->quiet_us < path_reset_limit_us(in);
}

/* A reused connection's request, sent after a long idle, was never answered:
 * the kernel gave up (ETIMEDOUT), or the program's own timeout closed it
 * while the request was still unacknowledged and being retransmitted. A NAT
 * or stateful firewall had dropped the idle connection's state. */
static int m_path_state_lost(const struct cause_input *in)
{
    if (in->server || in->exchanges < 2 || in->idle_before_ms < idle_timeouts[0].ms ||
        !in->awaiting_response || !no_response_yet(in))
        return 0;
    if (in->err == ETIMEDOUT) return 1;
    return in->op_class == OPC_CLOSE && !in->err && !in->eof && in->unread == 0 &&
           in->unacked > 0 && in->total_retrans > 0;
}

/* This program closed a connection whose request was unanswered while the
 * kernel still had unacknowledged data or had retransmitted: its own timeout
 * gave up on a silent peer or path. */
static int m_local_timeout(const struct cause_input *in)
{
    return in->op_class == OPC_CLOSE && !in->err && !in->eof && !in->server &&
           in->awaiting_response && no_response_yet(in) && in->unread == 0 &&
           (in->unacked > 0 || in->total_retrans > 0);
}

/* accept() found no file descriptor for the new connection. */
static int m_fd_limit(const struct cause_input *in)
{
    return in->op_class == OPC_ACCEPT && (in->err == EMFILE || in->err == ENFILE);
}

/* The app itself read EOF and still wrote: a protocol mismatch, however long it waited. */
static int m_write_after_eof(const struct cause_input *in)
{
    return is_reset(in) && in->op_class == OPC_OUT && in->peer_fin;
}

/* The peer's FIN was already there (CLOSE_WAIT) though the app had not read it. */
static int m_write_after_peer_fin(const struct cause_input *in)
{
    return is_reset(in) && in->op_class == OPC_OUT && in->snap_fresh &&
           in->snap_state == TCP_CLOSE_WAIT;
}

static int m_client_abort(const struct cause_input *in)
{
    return is_reset(in) && in->server;
}

/* The client's TLS handshake was reset: the request never left. */
static int m_tls_handshake_reset(const struct cause_input *in)
{
    return is_reset(in) && !in->server && in->proto == PROTO_TLS && in->exchanges == 0;
}

static int m_unread_data_close(const struct cause_input *in)
{
    /* The peer answered or closed, and reset us while our bytes were unread. */
    return is_reset(in) && !in->eof &&
           (in->peer_fin ||
            (!in->server && in->op_class == OPC_OUT &&
             ((in->exchange_in > 0 && !maybe_not_a_response(in)) || in->resp_before_write > 0)));
}

/* No response byte, and the peer gave up long after the request, at a
 * known or round-number request timeout. */
static int m_response_timeout(const struct cause_input *in)
{
    return is_reset(in) && !in->server && in->op_class == OPC_IN && in->awaiting_response &&
           no_response_yet(in) && in->quiet_ms >= RESPONSE_TIMEOUT_MIN_MS &&
           looks_like_request_timeout(in->quiet_ms);
}

static int m_closed_before_response(const struct cause_input *in)
{
    return in->eof && !in->server && no_response_yet(in) && in->bytes_out > 0;
}

static int m_reset_before_response(const struct cause_input *in)
{
    return is_reset(in) && !in->server && no_response_yet(in) && in->bytes_out > 0;
}

/* The same, but the reset came within a few round trips of the request's
 * last byte: the peer rejecting it at once and a device on the path look the
 * same from here (PATH_FEW_RTTS), so the hint says the server did not
 * necessarily send it. */
static int m_reset_soon_before_response(const struct cause_input *in)
{
    return in->err == ECONNRESET && in->op_class == OPC_IN && in->awaiting_response &&
           m_reset_before_response(in) && within_few_rtts(in);
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

#define HINT_WRITE_AFTER_FIN                                                                       \
    "we wrote after the peer had already closed its side (we had seen EOF or half-close): "        \
    "check the protocol, e.g. Connection: close or a response the client did not wait for"

#define HINT_EARLY_CLOSE                                                                           \
    "a restart, reload, admin kill or connection limit, not an idle timeout; retry idempotent "    \
    "requests on a fresh connection or validate pooled connections"

const struct cause_rule cause_rules[] = {
    {CAUSE_REFUSED, m_refused,
     "nothing was listening on the peer's port (server down or restarting, wrong port, or a "
     "firewall rejecting with a reset): check that the service is up and listening there"},
    {CAUSE_REFUSED, m_no_socket_path,
     "no socket exists at that path (the server is not running, or listens on another path): "
     "check that the service is up and listening there"},
    {CAUSE_CONNECT_TIMEOUT, m_connect_timeout,
     "the connection never completed (SYN unanswered or host unreachable): check firewalls, "
     "security groups and routing to the peer"},
    {CAUSE_FD_LIMIT, m_fd_limit,
     "so new connections wait in the listen backlog until they time out or are reset: raise the "
     "limit (ulimit -n, systemd LimitNOFILE=) or find what holds the file descriptors "
     "(ls -l /proc/PID/fd)"},
    {CAUSE_PATH_STATE_LOST, m_path_state_lost,
     "a NAT or stateful firewall on the path dropped this idle connection's state, so the "
     "request went nowhere: enable TCP keepalive with an interval below that device's idle "
     "timeout, or set the client's pool idle timeout below it"},
    {CAUSE_LOCAL_TIMEOUT, m_local_timeout,
     "this program closed the connection while its request was unanswered and the kernel still "
     "had data unacknowledged or retransmitted: its own timeout (a client read timeout) gave up "
     "on a silent peer or path; check the path and whether the peer host is alive"},
    {CAUSE_RETRANSMIT_TIMEOUT, m_retransmit_timeout,
     "data went unacknowledged until the kernel gave up (network loss or a dead peer): check "
     "the path and whether the peer host is alive"},
    {CAUSE_LOCAL_ABORT, m_write_after_shutdown,
     "this program wrote after shutting down its own sending side (shutdown SHUT_WR), which is "
     "part of its own close and not a network failure: nothing to fix unless data was lost"},
    {CAUSE_LOCAL_ABORT, m_local_abort,
     "the connection was aborted on this host (local timeout, a killed or crashed peer before "
     "accept, ss -K, or SO_LINGER 0): check this host's logs and limits"},
    {CAUSE_TLS_CLOSE_RACE, m_tls_close_race,
     "this side had already sent its TLS close_notify (the program was done with the "
     "connection) when the peer reset it: the peer closed without waiting for the close_notify "
     "exchange, which TLS allows; nothing was outstanding"},
    {CAUSE_UNKNOWN, m_not_a_reset,
     "the call failed with an ordinary error, not a reset (see errno: a bad argument, a missing "
     "path, a permission): check the program's own error message"},
    {CAUSE_EARLY_CLOSE, m_goodbye_before,
     "a restart, reload, admin kill, connection limit or the server's own session timeout ended "
     "it; retry idempotent requests on a fresh connection or validate pooled connections"},
    {CAUSE_IDLE_CLOSE, m_idle_close,
     "the peer closed this pooled connection while it was idle with no request outstanding, so "
     "nothing failed; if a request fails soon after, set the client's pool idle timeout below "
     "the peer's"},
    {CAUSE_IDLE_CLOSE, m_idle_close_server,
     "the client or a proxy in front closed this kept-alive connection while it was idle after "
     "its last response, with no request outstanding (its connection pool dropped it), so "
     "nothing failed"},
    {CAUSE_UNKNOWN, m_tls_ambiguous,
     "on this TLS connection the few bytes that came back may have been session tickets or a "
     "short response, so either the peer gave up on the request or it closed the idle "
     "connection: compare the timeline with the peer's logs at this time"},
    {CAUSE_WRITE_AFTER_PEER_FIN, m_write_after_eof, HINT_WRITE_AFTER_FIN},
    {CAUSE_REQUEST_TIMEOUT, m_request_timeout,
     "the server stopped waiting for this request while it was still being sent (our sends "
     "paused and the peer closed, likely after answering 408): a server timeout for reading the "
     "request, e.g. nginx client_header_timeout/client_body_timeout, Node.js "
     "headersTimeout/requestTimeout, HAProxy timeout http-request, Apache RequestReadTimeout; "
     "send the request without stalls, or raise that timeout"},
    {CAUSE_PATH_RESET, m_path_reset,
     "sooner than the peer could have answered, so a firewall, IDS, proxy or NAT on the path, or "
     "this host's own firewall, probably sent it; confirm with rstwatch capture (the reset's "
     "TTL), tcpdump (compare the reset's TTL with the peer's packets) or the firewall rules "
     "(iptables -L -v -n, nft list ruleset)"},
    {CAUSE_EARLY_CLOSE, m_early_close, HINT_EARLY_CLOSE},
    {CAUSE_PATH_STATE_LOST, m_state_forgotten,
     "whatever answered no longer knew the connection: a NAT or stateful firewall on the path "
     "that dropped its state (it rejects the next packet with a reset) or a peer host that "
     "rebooted or failed over; rstwatch capture tells them apart (the reset's TTL), the peer's "
     "uptime tells a reboot; enable TCP keepalive below the device's idle timeout, or set the "
     "client's pool idle timeout below it"},
    {CAUSE_IDLE_REUSE, m_idle_reuse,
     "the peer or a load balancer closed this keep-alive connection at its idle timeout and the "
     "client reused it: set the client's idle timeout below the smallest one on the path"},
    {CAUSE_WRITE_AFTER_PEER_FIN, m_write_after_peer_fin,
     "we wrote after the peer had already closed its side (its FIN was in, not yet read by this "
     "program): check the protocol, e.g. Connection: close or a response the client did not "
     "wait for"},
    {CAUSE_CLIENT_ABORT, m_client_abort,
     "the client aborted this connection (it gave up or timed out, crashed, or closed with "
     "SO_LINGER 0): check the client side and any proxy in front of this server"},
    {CAUSE_RESET_BEFORE_RESPONSE, m_tls_handshake_reset,
     "the peer reset the connection during the TLS handshake, before any request: a TLS version, "
     "cipher, certificate or SNI the server rejects, or a middlebox blocking TLS; try openssl "
     "s_client -connect HOST:PORT -servername NAME"},
    {CAUSE_UNREAD_DATA_CLOSE, m_unread_data_close,
     "the peer closed while our data was still unread, which makes the kernel send a reset: "
     "the peer answered early (an error, a size limit) or does not read the whole request"},
    {CAUSE_RESPONSE_TIMEOUT, m_response_timeout,
     "the peer gave up on this request before answering: a server or proxy request timeout "
     "(e.g. gunicorn --timeout, php-fpm request_terminate_timeout, uWSGI harakiri, nginx "
     "proxy_read_timeout, HAProxy timeout server); find the slow request in the server's logs, "
     "or raise that timeout"},
    {CAUSE_RESET_BEFORE_RESPONSE, m_closed_before_response,
     "the request was sent and the peer closed the connection (EOF) before any response byte: "
     "it crashed or restarted, killed the request, or closes after a number of requests; check "
     "the server's logs at this time"},
    {CAUSE_RESET_BEFORE_RESPONSE, m_reset_soon_before_response,
     "before any response byte, too soon to tell who sent it: the server rejecting the request "
     "at once (check the server's logs at this time) or a firewall, IDS or proxy on the path or "
     "on this host; rstwatch capture tells them apart (the reset's TTL), as do tcpdump or the "
     "firewall rules (iptables -L -v -n, nft list ruleset)"},
    {CAUSE_RESET_BEFORE_RESPONSE, m_reset_before_response,
     "the request was sent and the peer reset before any response byte: it crashed, restarted "
     "or rejected the request; check the server's logs at this time"},
    {CAUSE_RESET_MID_STREAM, m_reset_mid_stream,
     "the connection was reset while data was flowing (peer crash, resource limit, or a "
     "middlebox or IDS injecting a reset): check the peer's logs and tcp.retrans"},
    {CAUSE_UNKNOWN, m_any,
     "no pattern fits this reset: compare the timeline with the peer's logs at this time"},
};

const size_t cause_rule_count = sizeof cause_rules / sizeof cause_rules[0];

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
        "refused",
        "connect_timeout",
        "reset_before_response",
        "idle_reuse",
        "unread_data_close",
        "write_after_peer_fin",
        "reset_mid_stream",
        "retransmit_timeout",
        "local_abort",
        "idle_close",
        "client_abort",
        "response_timeout",
        "tls_close_race",
        "early_close",
        "request_timeout",
        "path_reset",
        "path_state_lost",
        "local_timeout",
        "fd_limit",
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

static void put_us(struct strbuf *b, uint64_t us)
{
    sb_putu(b, us);
    sb_puts(b, " us");
}

/* What a goodbye's code says, where the protocol makes it plain. */
static void put_goodbye(struct strbuf *b, int kind, const char *code)
{
    static const struct {
        int kind;
        const char *code, *meaning;
    } known[] = {
        /* PostgreSQL Appendix A, Error Codes (postgresql.org/docs/current/errcodes-appendix.html)
         */
        {GOODBYE_PG, "57P01",
         "admin_shutdown: pg_terminate_backend() or a fast shutdown or restart of the server"},
        {GOODBYE_PG, "57P02", "crash_shutdown: another server process crashed and it restarts"},
        {GOODBYE_PG, "57P03", "cannot_connect_now: the server is starting up or shutting down"},
        {GOODBYE_PG, "57P05", "idle_session_timeout: the server's idle_session_timeout"},
        {GOODBYE_PG, "25P03",
         "idle_in_transaction_session_timeout: the session sat idle inside a transaction"},
        {GOODBYE_PG, "53300", "too_many_connections"},
        /* MariaDB/MySQL server error codes (mariadb.com/kb/en/mariadb-error-codes,
           dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html) */
        {GOODBYE_MYSQL, "1927", "ER_CONNECTION_KILLED: KILL CONNECTION, an admin kill"},
        {GOODBYE_MYSQL, "4031", "ER_CLIENT_INTERACTION_TIMEOUT: the server's wait_timeout"},
        {GOODBYE_MYSQL, "1053", "ER_SERVER_SHUTDOWN: the server is shutting down"},
        {GOODBYE_MYSQL, "1040", "ER_CON_COUNT_ERROR: too many connections"},
        /* RFC 9110 15.5.9 */
        {GOODBYE_HTTP, "408", "Request Timeout: the server gave up waiting for a request"},
    };
    switch (kind) {
    case GOODBYE_PG: sb_puts(b, "PostgreSQL error "); break;
    case GOODBYE_MYSQL: sb_puts(b, "MySQL/MariaDB error "); break;
    case GOODBYE_HTTP: sb_puts(b, "HTTP "); break;
    default: sb_puts(b, "bytes of no known protocol"); return;
    }
    sb_puts(b, code);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].kind == kind && !strcmp(known[i].code, code)) {
            sb_puts(b, " (");
            sb_puts(b, known[i].meaning);
            sb_putc(b, ')');
            return;
        }
    if (kind == GOODBYE_PG && code[0] && code[1]) {
        sb_puts(b, " (SQLSTATE class ");
        sb_putc(b, code[0]);
        sb_putc(b, code[1]);
        sb_putc(b, ')');
    }
}

/* Before the rule's own hint: the measured facts that make it specific. */
static void write_hint_prefix(struct strbuf *b, const struct cause_rule *r,
                              const struct cause_input *in)
{
    if (r->match == m_goodbye_before) {
        sb_puts(b, "the peer had closed this connection before the request was sent, after ");
        put_seconds(b, in->idle_before_ms);
        sb_puts(b, " idle, and what it sent before closing sat unread (");
        sb_putu(b, in->unread);
        sb_puts(b, " bytes: ");
        put_goodbye(b, in->goodbye, in->goodbye_code);
        sb_puts(b, "), so the bytes read after the request were no response to it; the request "
                   "never reached a live session: ");
        return;
    }
    if (r->code == CAUSE_EARLY_CLOSE) {
        sb_puts(b, "the peer had already closed this reused connection when the request left (");
        sb_puts(b, in->snap_state == TCP_CLOSE ? "its RST was in" : "its FIN was in");
        sb_puts(b, "); it closed after only ");
        put_seconds(b, in->idle_before_ms);
        sb_puts(b, " idle, below the smallest known idle timeout (");
        sb_puts(b, idle_timeouts[0].who);
        sb_puts(b, "): ");
    } else if (r->code == CAUSE_IDLE_REUSE) {
        sb_puts(b, "reused connection had sat idle ");
        put_seconds(b, in->idle_before_ms);
        const struct known_timeout *hit = NULL;
        for (size_t i = 0; i < sizeof idle_timeouts / sizeof idle_timeouts[0]; i++)
            if (in->idle_before_ms >= idle_timeouts[i].ms) hit = &idle_timeouts[i];
        if (hit) {
            sb_puts(b, " (past the ");
            sb_puts(b, hit->who);
            sb_puts(b, ")");
        }
        if (peer_closed_before(in))
            sb_puts(b, " and the peer had already closed it");
        else if (in->snap_pre_request && in->snap_state == TCP_CLOSE)
            sb_puts(b, " and the peer had already reset it");
        else if (in->snap_pre_request && in->snap_state == TCP_ESTABLISHED)
            sb_puts(b, " and still looked open when the request left, so the peer or a middlebox "
                       "had silently forgotten it (no FIN or RST at its idle timeout)");
        sb_puts(b, "; ");
    } else if (r->match == m_idle_close_server) {
        sb_puts(b, "idle ");
        put_seconds(b, in->quiet_ms);
        sb_puts(b, " then RST from the client (its idle timeout is about that long); ");
    } else if (r->code == CAUSE_IDLE_CLOSE) {
        sb_puts(b, "idle ");
        put_seconds(b, in->quiet_ms);
        sb_puts(b, in->eof ? " then FIN from the peer (its idle timeout is about that long); "
                           : " then RST from the peer (its idle timeout is about that long); ");
    } else if (r->match == m_tls_ambiguous) {
        sb_puts(b, in->eof ? "FIN " : "reset ");
        put_seconds(b, in->quiet_ms);
        sb_puts(b, " after the last bytes received; ");
    } else if (r->code == CAUSE_RESPONSE_TIMEOUT) {
        sb_puts(b, "no response ");
        put_seconds(b, in->quiet_ms);
        sb_puts(b, " after the request, then ");
        sb_puts(b, in->eof ? "EOF" : "a reset");
        uint64_t round_s;
        const struct known_timeout *hit = request_timeout_match(in->quiet_ms, &round_s);
        if (hit) {
            sb_puts(b, ", matching ");
            sb_puts(b, hit->who);
        } else {
            sb_puts(b, ", as a timeout configured to ");
            sb_putu(b, round_s);
            sb_puts(b, " s fires (watchdogs such as gunicorn --timeout, php-fpm "
                       "request_terminate_timeout and uWSGI harakiri check about once a second "
                       "and fire up to 1.1 s after their value)");
        }
        sb_puts(b, "; ");
    } else if (r->code == CAUSE_REQUEST_TIMEOUT) {
        sb_puts(b, "the request had been going for ");
        put_seconds(b, in->request_ms);
        const struct known_timeout *hit = MATCH(in->request_ms, request_read_timeouts);
        if (hit) {
            sb_puts(b, ", matching ");
            sb_puts(b, hit->who);
        }
        if (in->unread) {
            sb_puts(b, ", and ");
            sb_putu(b, in->unread);
            sb_puts(b, " bytes the peer sent were never read");
        } else if (in->eof) {
            sb_puts(b, ", and the peer had closed before its last byte left, with nothing said");
        }
        sb_puts(b, "; ");
    } else if (r->code == CAUSE_PATH_RESET) {
        sb_puts(b, "the reset came ");
        put_us(b, in->quiet_us);
        sb_puts(b, " after the request's last byte, less than ");
        sb_puts(b, in->min_rtt_us >= PATH_RTT_PHYSICAL_US ? "a quarter" : "an eighth");
        sb_puts(b, " of the connection's lowest round-trip time (");
        put_us(b, in->min_rtt_us);
        sb_puts(b, "), ");
    } else if (r->match == m_state_forgotten) {
        sb_puts(b, "the reused connection sat idle ");
        put_seconds(b, in->idle_before_ms);
        sb_puts(b, " and still looked open when the request left (no FIN or RST, which a peer "
                   "closing at its idle timeout sends), then a reset came ");
        put_us(b, in->quiet_us);
        sb_puts(b, " after the request's last byte, within a few round trips (lowest ");
        put_us(b, in->min_rtt_us);
        sb_puts(b, "): ");
    } else if (r->match == m_reset_soon_before_response) {
        sb_puts(b, "the request was sent and a reset came ");
        put_us(b, in->quiet_us);
        sb_puts(b, " after its last byte, within a few round trips (lowest ");
        put_us(b, in->min_rtt_us);
        sb_puts(b, "), ");
    } else if (r->code == CAUSE_PATH_STATE_LOST) {
        sb_puts(b, "the request sent after ");
        put_seconds(b, in->idle_before_ms);
        sb_puts(b, " idle on this reused connection ");
        sb_puts(b, in->err == ETIMEDOUT ? "was never acknowledged until the kernel gave up"
                                        : "was still unacknowledged when this program's own "
                                          "timeout closed it");
        sb_puts(b, " (");
        sb_putu(b, in->total_retrans);
        sb_puts(b, " retransmissions): ");
    } else if (r->code == CAUSE_LOCAL_TIMEOUT) {
        sb_puts(b, "closed ");
        put_seconds(b, in->quiet_ms);
        sb_puts(b, " after the request with no response byte, ");
        sb_putu(b, in->unacked);
        sb_puts(b, " segments unacknowledged and ");
        sb_putu(b, in->total_retrans);
        sb_puts(b, " retransmissions; ");
    } else if (r->code == CAUSE_FD_LIMIT) {
        sb_puts(b, in->err == ENFILE ? "accept() failed with ENFILE: the system is out of file "
                                       "descriptors (fs.file-max), "
                                     : "accept() failed with EMFILE: this process is out of file "
                                       "descriptors (its RLIMIT_NOFILE), ");
    }
}

void cause_write_hint(struct strbuf *b, size_t rule, const struct cause_input *in)
{
    const struct cause_rule *r = &cause_rules[rule];
    write_hint_prefix(b, r, in);
    sb_puts(b, r->hint);
    if (r->code == CAUSE_RESET_BEFORE_RESPONSE && r->match != m_reset_soon_before_response &&
        in->exchanges > 1) {
        /* A reused connection reset at a later request, without an idle gap:
         * servers also close after a number of requests per connection. */
        sb_puts(b, " (it was request ");
        sb_putu(b, in->exchanges);
        sb_puts(b, " on a reused connection: also check the server's per-connection request limit");
        if (in->proto == PROTO_HTTP) sb_puts(b, ", e.g. nginx keepalive_requests");
        sb_puts(b, ")");
    }
    if (r->code == CAUSE_RESET_BEFORE_RESPONSE && in->eof && in->proto == PROTO_OTHER)
        /* Not HTTP: whether that message wanted an answer is unknown here. */
        sb_puts(b, " (not HTTP: if this program's last message asked the peer to close, as "
                   "memcached's quit does, this EOF is the expected answer and nothing failed)");
    if (r->code == CAUSE_RESET_BEFORE_RESPONSE && in->exchanges > 0 &&
        in->quiet_ms >= RESPONSE_TIMEOUT_MIN_MS && in->op_class == OPC_IN) {
        sb_puts(b, " (it came ");
        put_seconds(b, in->quiet_ms);
        sb_puts(b, " after the request: if a server or proxy timeout is set near that, it is the "
                   "cause)");
    }
    if ((r->code == CAUSE_RESET_BEFORE_RESPONSE || r->code == CAUSE_RESPONSE_TIMEOUT ||
         r->code == CAUSE_IDLE_REUSE) &&
        maybe_not_a_response(in)) {
        sb_puts(b, " (the ");
        sb_putu(b, in->exchange_in);
        sb_puts(b, in->exchanges <= 1 ? " bytes received after the request fit the TLS session "
                                        "tickets of a new connection, not a response)"
                                      : " bytes received after the request fit the peer's TLS "
                                        "close_notify alert, not a response)");
    }
    if (r->code == CAUSE_CLIENT_ABORT) {
        if (in->proto == PROTO_TLS && in->exchanges == 0)
            sb_puts(b, " (during the TLS handshake: the client likely rejected this server's "
                       "certificate, name or protocol)");
        else if (in->awaiting_response)
            sb_puts(b, " (its request had not been answered yet: a client or proxy timeout "
                       "shorter than this server's response time?)");
    }
    if ((r->code == CAUSE_RESET_MID_STREAM || r->code == CAUSE_RETRANSMIT_TIMEOUT) &&
        in->total_retrans) {
        sb_puts(b, " (");
        sb_putu(b, in->total_retrans);
        sb_puts(b, " retransmissions before the failure)");
    }
}

/* ---- record or count ----------------------------------------------------------- */

static _Atomic uint64_t counted[CAUSE_COUNT];

int cause_count_instead(const struct cause_input *in)
{
    const struct cause_rule *r = &cause_rules[cause_classify(in)];
    if (r->code != CAUSE_IDLE_CLOSE && r->code != CAUSE_TLS_CLOSE_RACE &&
        r->code != CAUSE_LOCAL_TIMEOUT && r->match != m_write_after_shutdown)
        return 0;
    atomic_fetch_add_explicit(&counted[r->code], 1, memory_order_relaxed);
    return 1;
}

uint64_t cause_counted(enum cause_code code)
{
    return (unsigned)code < CAUSE_COUNT ? atomic_load_explicit(&counted[code], memory_order_relaxed)
                                        : 0;
}

/* ---- a peer's last words ---------------------------------------------------------- */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int is_upper_or_digit(uint8_t c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z');
}

/* A PostgreSQL ErrorResponse (protocol 3, "Message Formats"): 'E', a 32-bit
 * big-endian length, then fields of a type byte and a NUL-terminated string,
 * up to a zero byte. Its 'C' field is the SQLSTATE: five digits or capitals. */
static int sniff_pg(const uint8_t *p, size_t n, char code[8])
{
    if (n < 6 || p[0] != 'E') return 0;
    uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if (len < 8 || len > 65536) return 0;
    size_t end = n < (size_t)len + 1 ? n : (size_t)len + 1;
    for (size_t i = 5; i < end && p[i];) {
        uint8_t type = p[i++];
        size_t start = i;
        while (i < end && p[i])
            i++;
        if (i >= end) return 0; /* cut off: not seen whole */
        if (type == 'C') {
            if (i - start != 5) return 0;
            for (size_t k = 0; k < 5; k++)
                if (!is_upper_or_digit(p[start + k])) return 0;
            memcpy(code, p + start, 5);
            code[5] = 0;
            return 1;
        }
        i++; /* the field's NUL */
    }
    return 0;
}

/* A MySQL/MariaDB ERR packet (dev.mysql.com/doc/dev/mysql-server/latest/
 * page_protocol_basic_err_packet.html): a 3-byte little-endian length, a
 * sequence byte, 0xff and a 16-bit little-endian error number. */
static int sniff_mysql(const uint8_t *p, size_t n, char code[8])
{
    if (n < 7 || p[4] != 0xff) return 0;
    uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    if (len < 3 || len > 65535) return 0;
    unsigned num = (unsigned)p[5] | (unsigned)p[6] << 8;
    if (num < 1000) return 0; /* server errors start at 1000 */
    struct strbuf b;
    sb_init(&b, code, 8);
    sb_putu(&b, num);
    sb_cstr(&b);
    return 1;
}

/* An HTTP/1.x status line: "HTTP/1.x NNN". */
static int sniff_http(const uint8_t *p, size_t n, char code[8])
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) || !is_digit(p[7]) || p[8] != ' ') return 0;
    if (!is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11])) return 0;
    memcpy(code, p + 9, 3);
    code[3] = 0;
    return 1;
}

int cause_sniff_goodbye(const uint8_t *p, size_t n, char code[8])
{
    code[0] = 0;
    if (!p || !n) return GOODBYE_NONE;
    if (sniff_http(p, n, code)) return GOODBYE_HTTP;
    if (sniff_pg(p, n, code)) return GOODBYE_PG;
    if (sniff_mysql(p, n, code)) return GOODBYE_MYSQL;
    code[0] = 0;
    return GOODBYE_BYTES;
}

/* ---- protocol sniffing ------------------------------------------------------------ */

/* TLS record content types (RFC 8446 5.1). */
enum { TLS_CCS = 20, TLS_ALERT = 21, TLS_HANDSHAKE = 22, TLS_APPDATA = 23 };

/* The first bytes of a plain HTTP/1.x request: a method and a space. */
static int looks_like_http(const uint8_t *p, size_t n)
{
    static const char *const methods[] = {"GET ",   "POST ",    "HEAD ",  "PUT ",    "DELETE ",
                                          "PATCH ", "OPTIONS ", "TRACE ", "CONNECT "};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        size_t m = strlen(methods[i]);
        if (n >= m && memcmp(p, methods[i], m) == 0) return 1;
    }
    return 0;
}

/* The first up to 8 bytes of a transfer, gathered across the iovec. */
static size_t gather(const struct iovec *iov, size_t iovcnt, size_t len, uint8_t *out, size_t cap)
{
    size_t got = 0;
    for (size_t i = 0; i < iovcnt && got < cap && got < len; i++) {
        size_t n = iov[i].iov_len;
        if (n > cap - got) n = cap - got;
        if (n > len - got) n = len - got;
        if (n && iov[i].iov_base) memcpy(out + got, iov[i].iov_base, n);
        got += n;
    }
    return got;
}

/* What one TLS record of the request direction is. */
enum tls_rec { REC_HOUSEKEEPING, REC_APP, REC_ALERT };

/* The body of a TLS 1.3 alert: 2 bytes, the inner content type, a 16-byte
 * AEAD tag (AES-GCM, ChaCha20-Poly1305; RFC 8446 5.2). Its outer type is
 * application data, so its size is what tells it apart; an application
 * record of 2 bytes of payload would look the same, and none carries a
 * request. */
#define TLS13_ALERT_BODY 19

/* A complete record header: decide what the record is. */
static enum tls_rec tls_record_begins(struct cause_sniff *s)
{
    uint8_t type = s->hdr[0];
    s->left = (uint32_t)s->hdr[3] << 8 | s->hdr[4];
    if (s->hdr[1] != 3 || (type < TLS_CCS || type > TLS_APPDATA)) {
        s->proto = PROTO_OTHER; /* lost the record boundaries: stop interpreting */
        return REC_APP;
    }
    if (type == TLS_ALERT) {
        s->after_ccs = 0;
        return REC_ALERT;
    }
    if (type != TLS_APPDATA) {
        s->after_ccs = type == TLS_CCS;
        return REC_HOUSEKEEPING;
    }
    /* TLS 1.3 encrypts the client's Finished as an application-data record
     * right after the compatibility ChangeCipherSpec (RFC 8446 D.4). */
    if (s->after_ccs && !s->app_seen) {
        s->after_ccs = 0;
        return REC_HOUSEKEEPING;
    }
    s->after_ccs = 0;
    if (s->app_seen && s->left == TLS13_ALERT_BODY) return REC_ALERT; /* close_notify */
    s->app_seen = 1;
    return REC_APP;
}

int cause_http_request_begins(const struct iovec *iov, size_t iovcnt, size_t len)
{
    uint8_t head[8];
    return looks_like_http(head, gather(iov, iovcnt, len, head, sizeof head));
}

void cause_sniff_request(struct cause_sniff *s, const struct iovec *iov, size_t iovcnt, size_t len)
{
    s->handshake_only = 0;
    s->alert_only = 0;
    if (!iov || !len) return;
    if (s->proto == PROTO_UNSEEN) {
        uint8_t head[8];
        size_t n = gather(iov, iovcnt, len, head, sizeof head);
        if (n >= 2 && head[0] == TLS_HANDSHAKE && head[1] == 3)
            s->proto = PROTO_TLS;
        else
            s->proto = looks_like_http(head, n) ? PROTO_HTTP : PROTO_OTHER;
    }
    if (s->proto != PROTO_TLS) return;
    int app = 0, alerts = 0;
    size_t done = 0;
    for (size_t i = 0; i < iovcnt && done < len && s->proto == PROTO_TLS; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        if (n > len - done) n = len - done;
        if (!p) n = 0;
        done += n;
        while (n && s->proto == PROTO_TLS) {
            if (s->left) {
                size_t k = n < s->left ? n : s->left;
                s->left -= (uint32_t)k, p += k, n -= k;
                continue;
            }
            s->hdr[s->hdr_have++] = *p++;
            n--;
            if (s->hdr_have == sizeof s->hdr) {
                s->hdr_have = 0;
                enum tls_rec k = tls_record_begins(s);
                app |= k == REC_APP;
                alerts |= k == REC_ALERT;
            }
        }
    }
    if (s->proto != PROTO_TLS) app = 1;
    s->handshake_only = !app && !alerts;
    s->alert_only = !app && alerts;
}
