// SPDX-License-Identifier: MIT
/* tcpinfo.h: TCP_INFO snapshots, taken at moments the timeline can afford
 * (connection established, first call after an idle gap, EOF), so a record
 * shows the socket as it was *before* the failing call. */
#ifndef RSTWATCH_TCPINFO_H
#define RSTWATCH_TCPINFO_H

#include "conn_table.h"

/* Idle gap after which the next call on a connection first takes a snapshot. */
#define TCPINFO_IDLE_NS (200ull * 1000 * 1000)

/* Fills c->tcp from fd (inet/inet6 only); returns 0 or -errno. errno preserved.
 * When the snapshot finds bytes unread, also tcpinfo_goodbye. */
int tcpinfo_snap(int fd, struct conn *c, uint64_t now_ns);

/* The bytes the peer acknowledged (sent) and the bytes received in order on
 * fd, from the kernel's counters (Linux 4.1+), FINs not counted: for a
 * connection whose bytes moved where no hook saw them (stdio). One TCP_INFO,
 * none under a filter. Returns 0 or -errno; errno preserved. */
int tcpinfo_bytes(int fd, int family, uint64_t *sent, uint64_t *received);

/* Fills *s from fd (family AF_INET or AF_INET6); app_bytes_in: the bytes the
 * program has read, for s->unread. Returns 0 or -errno. errno preserved. */
int tcpinfo_read(int fd, int family, struct tcp_snap *s, uint64_t now_ns, uint64_t app_bytes_in);

/* A client whose peer closed (c->tcp shows CLOSE_WAIT or LAST_ACK) after
 * sending bytes the program has not read, its last transfer a response read:
 * peeks at up to CAUSE_GOODBYE_PEEK of them (one recv MSG_PEEK|MSG_DONTWAIT,
 * the only extra call; docs/design.md "Never hurt the host") and keeps what
 * they say (c->tcp.goodbye, never the bytes). The snapshots are taken after
 * an idle gap only, so this is off the hot path. errno preserved. */
void tcpinfo_goodbye(int fd, struct conn *c);

/* What TCP_INFO says of a connection whose fate a retry or replay decides
 * on: its state and whether the kernel is still retransmitting or probing. */
struct tcp_fate {
    unsigned state; /* TCP_SYN_SENT, TCP_CLOSE, ...; 0 when unknown */
    unsigned retransmits, probes;
};

/* Fills *f from fd's TCP_INFO (one getsockopt, the only call, made under a
 * filter too: retry and replay are the user's choice), leaving the socket's
 * pending error alone (SO_ERROR would clear it, and the app may still need
 * to read it). 0, or -errno, *f then all zero. errno preserved. */
int tcpinfo_fate(int fd, struct tcp_fate *f);

/* "ESTABLISHED", "CLOSE_WAIT", ... or "UNKNOWN". */
const char *tcpinfo_state_name(unsigned state);

#endif
