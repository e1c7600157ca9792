// SPDX-License-Identifier: MIT
/* tcpinfo.c: TCP_INFO snapshots into the compact struct tcp_snap. */
#include "tcpinfo.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "real.h"

int tcpinfo_snap(int fd, struct conn *c, uint64_t now_ns)
{
    return tcpinfo_read(fd, c->family, &c->tcp, now_ns);
}

int tcpinfo_read(int fd, int family, struct tcp_snap *s, uint64_t now_ns)
{
    if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
    int saved = errno;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    int rc = real_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
    if (rc < 0 || len < offsetof(struct tcp_info, tcpi_rcv_rtt)) {
        rc = -errno;
        errno = saved;
        return rc ? rc : -EINVAL;
    }
    s->state = ti.tcpi_state;
    s->retransmits = ti.tcpi_retransmits;
    s->rtt_us = ti.tcpi_rtt;
    s->rttvar_us = ti.tcpi_rttvar;
    s->total_retrans = ti.tcpi_total_retrans;
    s->unacked = ti.tcpi_unacked;
    s->lost = ti.tcpi_lost;
    s->last_data_recv_ms = ti.tcpi_last_data_recv;
    s->last_data_sent_ms = ti.tcpi_last_data_sent;
    s->t_ns = now_ns ? now_ns : 1;
    errno = saved;
    return 0;
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
