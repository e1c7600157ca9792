// SPDX-License-Identifier: MIT
/* tcpinfo.c: TCP_INFO snapshots into the compact struct tcp_snap, and what
 * a peer that closed left unread (see tcpinfo.h). */
#include "tcpinfo.h"

#include <errno.h>
#include <linux/tcp.h> /* glibc's struct tcp_info stops before tcpi_min_rtt */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cause.h"
#include "real.h"
#include "sandbox.h"

/* TCP states (include/net/tcp_states.h). */
enum { ST_TIME_WAIT = 6, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9, ST_CLOSING = 11 };

/* States reached only after the peer's FIN arrived. */
static int fin_in(unsigned state)
{
    return state == ST_CLOSE_WAIT || state == ST_LAST_ACK || state == ST_CLOSING ||
           state == ST_TIME_WAIT;
}

/* The shim's one TCP_INFO read: 0 when the kernel gave at least need bytes
 * (*len: how many), else -errno (-ENOSYS: a kernel older than those fields).
 * errno preserved. */
static int info_read(int fd, struct tcp_info *ti, socklen_t *len, size_t need)
{
    int saved = errno;
    *len = sizeof *ti;
    int rc = real_getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, len) < 0 ? -errno : 0;
    errno = saved;
    return rc == 0 && *len < need ? -ENOSYS : rc;
}

int tcpinfo_bytes(int fd, int family, uint64_t *sent, uint64_t *received)
{
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    if (sandbox_filtered()) return -EPERM; /* no extra call under a filter */
    struct tcp_info ti;
    socklen_t len;
    int rc = info_read(fd, &ti, &len,
                       offsetof(struct tcp_info, tcpi_bytes_received) +
                           sizeof ti.tcpi_bytes_received); /* Linux 4.1+ */
    if (rc < 0) return rc;
    /* A FIN takes a sequence number: the peer's, received; ours, once acked. */
    uint64_t out = ti.tcpi_bytes_acked, in = ti.tcpi_bytes_received;
    if (in && fin_in(ti.tcpi_state)) in--;
    if (out && (ti.tcpi_state == 5 /* FIN_WAIT2 */ || ti.tcpi_state == ST_TIME_WAIT)) out--;
    *sent = out;
    *received = in;
    return 0;
}

int tcpinfo_fate(int fd, struct tcp_fate *f)
{
    /* no refusal under a filter: only retry and replay ask, a user's choice
     * (docs/design.md "A short written list of extra calls") */
    struct tcp_info ti;
    socklen_t len;
    memset(f, 0, sizeof *f);
    int rc =
        info_read(fd, &ti, &len, offsetof(struct tcp_info, tcpi_probes) + sizeof ti.tcpi_probes);
    if (rc < 0) return rc;
    f->state = ti.tcpi_state;
    f->retransmits = ti.tcpi_retransmits;
    f->probes = ti.tcpi_probes;
    return 0;
}

int tcpinfo_snap(int fd, struct conn *c, uint64_t now_ns)
{
    int rc = tcpinfo_read(fd, c->family, &c->tcp, now_ns, c->bytes_in);
    if (rc == 0 && c->tcp.state >= 7 && c->tcp.state <= 9) /* CLOSE, CLOSE_WAIT, LAST_ACK */
        c->flags |= CONN_PEER_CLOSING;
    if (rc == 0 && c->tcp.unread) tcpinfo_goodbye(fd, c);
    return rc;
}

int tcpinfo_read(int fd, int family, struct tcp_snap *s, uint64_t now_ns, uint64_t app_bytes_in)
{
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    if (sandbox_filtered()) return -EPERM; /* no extra call under a filter */
    struct tcp_info ti;
    socklen_t len;
    int rc = info_read(fd, &ti, &len, offsetof(struct tcp_info, tcpi_rcv_rtt));
    if (rc < 0) return rc;
    s->state = ti.tcpi_state;
    s->retransmits = ti.tcpi_retransmits;
    s->rtt_us = ti.tcpi_rtt;
    s->rttvar_us = ti.tcpi_rttvar;
    s->total_retrans = ti.tcpi_total_retrans;
    s->unacked = ti.tcpi_unacked;
    s->lost = ti.tcpi_lost;
    s->last_data_recv_ms = ti.tcpi_last_data_recv;
    s->last_data_sent_ms = ti.tcpi_last_data_sent;
    /* Linux 4.6+: the lowest RTT seen and the bytes received in order. What
     * the kernel received and the program has not read is the difference
     * with what the shim saw it read. */
    s->ext = len >= offsetof(struct tcp_info, tcpi_min_rtt) + sizeof ti.tcpi_min_rtt;
    s->min_rtt_us = s->ext && ti.tcpi_min_rtt != ~0u ? ti.tcpi_min_rtt : 0; /* ~0: no sample */
    uint64_t unread =
        s->ext && ti.tcpi_bytes_received > app_bytes_in ? ti.tcpi_bytes_received - app_bytes_in : 0;
    /* The peer's FIN takes a sequence number: bytes_received counts it. */
    if (unread && fin_in(ti.tcpi_state)) unread--;
    /* After a reset (CLOSE) whether a FIN came first is unknown: ask the
     * kernel what is left to read (rare: a reset socket with bytes unread). */
    if (unread && ti.tcpi_state == ST_CLOSE) {
        int inq = 0, saved = errno;
        unread = real_ioctl(fd, FIONREAD, &inq) == 0 && inq > 0 ? (uint64_t)inq : 0;
        errno = saved;
    }
    s->unread = unread > UINT32_MAX ? UINT32_MAX : (uint32_t)unread;
    s->goodbye = GOODBYE_NONE;
    s->goodbye_code[0] = 0;
    s->t_ns = now_ns ? now_ns : 1;
    return 0;
}

void tcpinfo_goodbye(int fd, struct conn *c)
{
    /* A client not awaiting a response (its last transfer a response read, or
     * none yet), now with bytes
     * unread and the peer's FIN in: the peer's last words before it closed.
     * Only after a FIN and no RST (CLOSE_WAIT, LAST_ACK): a peek there can
     * never meet, and so never clear, a pending socket error. */
    if (c->role != ROLE_CLIENT || c->dir == DIR_OUT || c->dir == DIR_CLOSING ||
        (c->tcp.state != ST_CLOSE_WAIT && c->tcp.state != ST_LAST_ACK))
        return;
    int saved = errno;
    uint8_t head[CAUSE_GOODBYE_PEEK];
    size_t want = c->tcp.unread < sizeof head ? c->tcp.unread : sizeof head;
    ssize_t n = real_recv(fd, head, want, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) c->tcp.goodbye = (uint8_t)cause_sniff_goodbye(head, (size_t)n, c->tcp.goodbye_code);
    errno = saved;
}

const char *tcpinfo_state_name(unsigned state)
{
    /* Linux include/net/tcp_states.h */
    static const char *const names[] = {
        "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
        "CLOSE",   "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV",
    };
    return state < sizeof names / sizeof names[0] ? names[state] : "UNKNOWN";
}
