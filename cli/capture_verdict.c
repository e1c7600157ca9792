// SPDX-License-Identifier: MIT
/* capture_verdict.c: who sent an RST, from the packets around it (see
 * capture.h). The method is Weaver, Sommer and Paxson's ("Detecting Forged
 * TCP Reset Packets", NDSS 2009): a device that forges a reset in the peer's
 * name cannot make it look like the peer's own packets.
 *
 *   TTL     a sender's initial TTL (or hop limit) is one of 32, 64, 128, 255,
 *           and every router on the way takes one off, so initial - TTL + 1 is
 *           how many hops away it is (1: on this link). An RST from fewer hops
 *           away than the peer's own handshake and FINs came from something
 *           in between.
 *   IP ID   Linux numbers a connected socket's packets in sequence; an RST
 *           whose ID continues the peer's came from the peer's socket. One
 *           with ID 0 is what a kernel without a socket (or a firewall's
 *           reject) sends: it says nothing either way.
 *   race    the peer's own packets arriving after its "reset": the peer never
 *           reset the connection. Seen directly (the window handle, or the
 *           control filter's PSH and FIN), or through this host's own RSTs
 *           right after it: once a reset has closed the socket, the kernel
 *           answers each packet that still arrives for it with one, and a peer
 *           that aborted sends nothing more.
 *   time    an RST sooner after our last data than a round trip could have
 *           carried that data to the peer and the reset back.
 *
 * It is conservative, as the paper is. `path` needs the TTL to say so, and
 * behind it either the race, or the same initial TTL as the peer's packets
 * (or the timing) with nothing against it (an IP ID in the peer's sequence);
 * weak or contradictory evidence is `unknown`, never `path`. An RST this host sent
 * is `local`, and so is one that arrived on a loopback interface for a flow
 * that is not on one (this host's own firewall rejecting an outgoing packet).
 * On a loopback connection both ends are this host and nothing lies between
 * them: its RST came from the other end (capture keeps no baseline there).
 * The peer's host cannot be split further from the wire: its application
 * aborting, its kernel finding no socket and its firewall rejecting all send
 * from there, so `peer` is worded as the peer's host. */
#include "capture.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int cap_initial_ttl(int ttl)
{
    return ttl <= 32 ? 32 : ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

static int hop_distance(int ttl)
{
    return cap_initial_ttl(ttl) - ttl + 1;
}

/* How far an IP ID may have moved on from the last one we saw of the peer's
 * and still be the same socket's counter (packets we did not capture: ACKs,
 * data without PSH). */
#define IP_ID_STEP_MAX 1024

static const char *ip_id_judge(const struct cap_flow *f)
{
    const struct cap_pkt *r = &f->rst;
    if (r->ip_id == 0) return "zero";
    if (r->ip_id < 0 || f->peer_ip_id < 0) return "none";
    unsigned step = (unsigned)(r->ip_id - f->peer_ip_id) & 0xffff;
    return step >= 1 && step <= IP_ID_STEP_MAX ? "in_sequence" : "other";
}

static const char *peer_name(const struct cap_flow *f)
{
    return f->role == CAP_ROLE_CLIENT ? "server" : f->role == CAP_ROLE_SERVER ? "client" : "peer";
}

static const char *plural(int n)
{
    return n == 1 ? "" : "s";
}

void cap_verdict_judge(const struct cap_flow *f, struct cap_verdict *v)
{
    const struct cap_pkt *r = &f->rst;
    const char *peer = peer_name(f);
    memset(v, 0, sizeof *v);
    v->hops = v->peer_hops = -1;
    v->ip_id_seq = ip_id_judge(f);
    v->since_data_ms = NAN;
    v->rtt_ms = f->rtt_us >= 0 ? (double)f->rtt_us / 1000.0 : NAN;
    if (f->t_data_out_us && f->t_data_out_us <= r->t_us)
        v->since_data_ms = (double)(r->t_us - f->t_data_out_us) / 1000.0;
    v->code = "unknown";
    v->peer_after = f->peer_after > f->replies_after ? f->peer_after : f->replies_after;

    if (r->dir == CAP_OUT) {
        v->rst_from = "local";
        v->code = "local_abort";
        snprintf(v->hint, sizeof v->hint,
                 "this host sent the reset (its kernel, its firewall, or the application "
                 "aborting the connection); rstwatch run on the program shows which call did it");
        return;
    }
    if (r->loopback && !f->loopback) {
        v->rst_from = "local";
        v->code = "local_abort";
        snprintf(v->hint, sizeof v->hint,
                 "this host's own firewall sent the reset: it arrived over loopback for a "
                 "connection on %s; look for a REJECT with tcp-reset in its OUTPUT rules",
                 f->iface ? f->iface : "another interface");
        return;
    }
    if (r->loopback && f->loopback) { /* no hops to count: its TTL is whatever the sender set */
        v->rst_from = "peer";
        snprintf(v->hint, sizeof v->hint,
                 "the %s's end sent the reset: the connection is over loopback, both ends on "
                 "this host with nothing in between (the %s aborting, its kernel finding no "
                 "socket, or this host's firewall); look at the %s's logs",
                 peer, peer, peer);
        return;
    }
    v->hops = hop_distance(r->ttl);
    if (!f->peer_pkts && f->t_syn_us) {
        v->rst_from = "unknown";
        snprintf(v->hint, sizeof v->hint,
                 "an RST answered our SYN from %d hop%s away (TTL %d): a closed port on the %s's "
                 "host or a firewall rejecting the connection; with no packet of the %s's own to "
                 "compare, which of them is unknown",
                 v->hops, plural(v->hops), r->ttl, peer, peer);
        return;
    }
    if (!f->peer_pkts) {
        v->rst_from = "unknown";
        snprintf(v->hint, sizeof v->hint,
                 "who sent the reset is unclear: no packet of the %s's own (handshake, FIN, "
                 "data) was seen to compare its TTL %d with; capture from before the connection "
                 "opens",
                 peer, r->ttl);
        return;
    }
    /* The peer's TTLs should agree; a route change makes them vary, then only
     * an RST beyond every one of them counts. */
    int peer_ttl = f->peer_ttl_max;
    v->peer_hops = hop_distance(f->peer_ttl_min);
    int same_init = cap_initial_ttl(r->ttl) == cap_initial_ttl(peer_ttl);
    int closer = hop_distance(r->ttl) < hop_distance(peer_ttl);
    int race = v->peer_after > 0;
    int early = !isnan(v->since_data_ms) && !isnan(v->rtt_ms) && v->rtt_ms > 0 &&
                v->since_data_ms < v->rtt_ms / 2;
    int in_seq = !strcmp(v->ip_id_seq, "in_sequence");

    char more[256] = "";
    size_t m = 0;
    if (race)
        m += (size_t)snprintf(
            more + m, sizeof more - m, "; %u of the %s's packets arrived after it%s", v->peer_after,
            peer,
            f->replies_after > f->peer_after ? " (this host's kernel answered with resets)" : "");
    if (early && m < sizeof more)
        m +=
            (size_t)snprintf(more + m, sizeof more - m,
                             "; it came %.3f ms after our data, faster than the %.3f ms round trip",
                             v->since_data_ms, v->rtt_ms);
    if (!strcmp(v->ip_id_seq, "other") && m < sizeof more)
        m += (size_t)snprintf(more + m, sizeof more - m, "; its IP ID is not in the %s's sequence",
                              peer);

    /* An ID in the peer's sequence speaks for the peer, but a random one lands
     * in the window now and then (1 in 64): it outweighs the TTL alone, not
     * the TTL and the race together. */
    if (closer && (race || (!in_seq && (same_init || early)))) {
        v->rst_from = "path";
        v->code = "path_reset";
        snprintf(v->hint, sizeof v->hint,
                 "a device on the path sent the reset, not the %s: its TTL %d puts it %d hop%s "
                 "away and the %s %d (TTL %d)%s; look for a firewall, IDS, proxy or NAT that "
                 "rejects or forgot this connection (a reject rule, an idle timeout)",
                 peer, r->ttl, v->hops, plural(v->hops), peer, v->peer_hops, peer_ttl, more);
        return;
    }
    if (!closer && r->ttl >= f->peer_ttl_min && r->ttl <= f->peer_ttl_max && !race) {
        v->rst_from = "peer";
        snprintf(v->hint, sizeof v->hint,
                 "the %s's host (its kernel or firewall, or the application aborting) sent the "
                 "reset: its TTL %d matches the %s's own packets, %d hop%s away%s; look at the "
                 "%s's logs and its host's firewall",
                 peer, r->ttl, peer, v->peer_hops, plural(v->peer_hops),
                 in_seq ? ", and its IP ID follows theirs" : "", peer);
        return;
    }
    v->rst_from = "unknown";
    snprintf(
        v->hint, sizeof v->hint,
        "who sent the reset is unclear: its TTL %d (%d hop%s) against the %s's %d (%d hop%s)%s%s; "
        "capture on the %s too to compare",
        r->ttl, v->hops, plural(v->hops), peer, peer_ttl, v->peer_hops, plural(v->peer_hops),
        in_seq ? "; its IP ID follows the peer's" : "", more, peer);
}
