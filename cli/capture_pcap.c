// SPDX-License-Identifier: MIT
/* capture_pcap.c: libpcap for `rstwatch capture` (see capture.h): two handles
 * on the same interface and the decoding of what they pass.
 *
 * The control handle's kernel filter (cap_control_filter) passes only TCP
 * packets with SYN, FIN, RST or PSH set: the handshake and the FINs give each
 * flow its baseline (TTL, IP ID, window, the round trip), the RSTs are what
 * is judged, and PSH marks the last segment of a write, which dates this
 * host's last data before an RST. Plain ACKs and bulk data, nearly all of the
 * traffic, never leave the kernel.
 *
 * The window handle passes every other packet of the few flows that just saw
 * an RST (at most CAP_WINDOW_FLOWS, for a short window): the peer's packets
 * still arriving after its "reset" are the race that gives a forged RST away.
 * Its filter is rewritten when that set changes; the control handle's never
 * is, so no control packet is ever lost to a filter swap. A packet the window
 * handle misses while its filter is being replaced costs evidence, not a
 * verdict: the race is also seen in the PSH segments the control handle
 * passes anyway.
 *
 * On "any" the link layer is Linux cooked capture v2 (SLL2: the interface
 * index and the packet type, so each packet's interface and direction), or v1
 * (SLL: direction only) where v2 is missing. On a named interface the
 * direction comes from the addresses of this host's interfaces. Only headers
 * are captured (a short snapshot length). */
#include "capture.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SNAPLEN 160
#define TIMEOUT_MS 50
#define MAX_LOCAL_ADDRS 256
#define MAX_IFNAMES 256
#define ARPHRD_LOOPBACK_ 772
#define PACKET_OUTGOING_ 4

const char cap_control_filter[] = "(ip and tcp and tcp[13] & 0x0f != 0) or "
                                  "(ip6 and ip6[6] == 6 and ip6[53] & 0x0f != 0)";
/* Matches nothing: the window handle's filter while no flow is watched. */
static const char no_packet_filter[] = "less 1";

struct local_addr {
    int family;
    uint8_t a[16];
};

struct cap_source {
    pcap_t *ctl, *win;
    int linktype;
    char iface[IF_NAMESIZE + 1];
    int iface_loopback;
    struct local_addr locals[MAX_LOCAL_ADDRS];
    size_t nlocals;
    char *ifnames[MAX_IFNAMES]; /* by ifindex, filled as seen */
    pcap_dumper_t *dump;
};

static pcap_t *open_handle(const char *iface, int buffer, const char *filter, char *err,
                           size_t errlen)
{
    char e[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(iface, e);
    if (!p) {
        snprintf(err, errlen, "%s: %s", iface, e);
        return NULL;
    }
    pcap_set_snaplen(p, SNAPLEN);
    pcap_set_promisc(p, 0);
    pcap_set_timeout(p, TIMEOUT_MS);
    pcap_set_buffer_size(p, buffer);
    int rc = pcap_activate(p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s%s", iface, pcap_statustostr(rc),
                 rc == PCAP_ERROR_PERM_DENIED ? " (run as root or with CAP_NET_RAW)" : "");
        if (*pcap_geterr(p) && rc != PCAP_ERROR_PERM_DENIED)
            snprintf(err, errlen, "%s: %s", iface, pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    if (!strcmp(iface, "any")) pcap_set_datalink(p, DLT_LINUX_SLL2); /* SLL where missing */
    struct bpf_program prog;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
        pcap_setfilter(p, &prog) < 0) {
        snprintf(err, errlen, "%s: filter: %s", iface, pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    pcap_freecode(&prog);
    if (pcap_setnonblock(p, 1, e) < 0) {
        snprintf(err, errlen, "%s: %s", iface, e);
        pcap_close(p);
        return NULL;
    }
    return p;
}

/* Every address of this host's interfaces: a packet from one of them is ours. */
static void load_local_addrs(struct cap_source *s)
{
    pcap_if_t *all = NULL;
    char e[PCAP_ERRBUF_SIZE];
    if (pcap_findalldevs(&all, e) < 0) return;
    for (pcap_if_t *d = all; d; d = d->next) {
        if (!strcmp(d->name, s->iface) && (d->flags & PCAP_IF_LOOPBACK)) s->iface_loopback = 1;
        for (pcap_addr_t *a = d->addresses; a && s->nlocals < MAX_LOCAL_ADDRS; a = a->next) {
            if (!a->addr) continue;
            struct local_addr *l = &s->locals[s->nlocals];
            if (a->addr->sa_family == AF_INET) {
                l->family = AF_INET;
                memcpy(l->a, &((struct sockaddr_in *)a->addr)->sin_addr, 4);
                s->nlocals++;
            } else if (a->addr->sa_family == AF_INET6) {
                l->family = AF_INET6;
                memcpy(l->a, &((struct sockaddr_in6 *)a->addr)->sin6_addr, 16);
                s->nlocals++;
            }
        }
    }
    pcap_freealldevs(all);
}

struct cap_source *cap_source_open(const char *iface, char *err, size_t errlen)
{
    if (strlen(iface) > IF_NAMESIZE) {
        snprintf(err, errlen, "interface name too long: %.40s", iface);
        return NULL;
    }
    struct cap_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    strcpy(s->iface, iface);
    s->ctl = open_handle(iface, 4 << 20, cap_control_filter, err, errlen);
    if (s->ctl) s->win = open_handle(iface, 1 << 20, no_packet_filter, err, errlen);
    if (!s->ctl || !s->win) {
        cap_source_close(s);
        return NULL;
    }
    s->linktype = pcap_datalink(s->ctl);
    if (pcap_datalink(s->win) != s->linktype) pcap_set_datalink(s->win, s->linktype);
    switch (s->linktype) {
    case DLT_LINUX_SLL2:
    case DLT_LINUX_SLL:
    case DLT_EN10MB:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6: break;
    default:
        snprintf(err, errlen, "%s: link type %s is not supported", iface,
                 pcap_datalink_val_to_name(s->linktype));
        cap_source_close(s);
        return NULL;
    }
    load_local_addrs(s);
    return s;
}

void cap_source_close(struct cap_source *s)
{
    if (!s) return;
    if (s->dump) pcap_dump_close(s->dump);
    if (s->ctl) pcap_close(s->ctl);
    if (s->win) pcap_close(s->win);
    for (size_t i = 0; i < MAX_IFNAMES; i++)
        free(s->ifnames[i]);
    free(s);
}

static const char *ifname_of(struct cap_source *s, unsigned idx)
{
    if (idx >= MAX_IFNAMES) return "any";
    if (!s->ifnames[idx]) {
        char n[IF_NAMESIZE] = "";
        if (!if_indextoname(idx, n)) snprintf(n, sizeof n, "if%u", idx);
        s->ifnames[idx] = strdup(n);
        if (!s->ifnames[idx]) return "any";
    }
    return s->ifnames[idx];
}

static int is_local(const struct cap_source *s, int family, const uint8_t *a)
{
    size_t n = family == AF_INET6 ? 16 : 4;
    for (size_t i = 0; i < s->nlocals; i++)
        if (s->locals[i].family == family && !memcmp(s->locals[i].a, a, n)) return 1;
    return 0;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The IP packet at d (n bytes) into p. Returns 0, or -1 when it is not a
 * complete TCP header over IPv4 or IPv6 (fragments and extension headers
 * included: those are left alone). */
static int decode_ip(const uint8_t *d, size_t n, struct cap_pkt *p)
{
    size_t off;
    uint32_t total;
    if (n >= 20 && d[0] >> 4 == 4) {
        size_t ihl = (size_t)(d[0] & 15) * 4;
        if (ihl < 20 || n < ihl || d[9] != IPPROTO_TCP) return -1;
        if (be16(d + 6) & 0x1fff) return -1; /* a later fragment */
        p->family = AF_INET;
        p->ttl = d[8];
        p->ip_id = be16(d + 4);
        memcpy(p->src, d + 12, 4), memcpy(p->dst, d + 16, 4);
        off = ihl;
        total = be16(d + 2);
    } else if (n >= 40 && d[0] >> 4 == 6) {
        if (d[6] != IPPROTO_TCP) return -1;
        p->family = AF_INET6;
        p->ttl = d[7];
        p->ip_id = -1;
        memcpy(p->src, d + 8, 16), memcpy(p->dst, d + 24, 16);
        off = 40;
        total = 40u + be16(d + 4);
    } else {
        return -1;
    }
    if (n < off + 20) return -1;
    const uint8_t *t = d + off;
    size_t thl = (size_t)(t[12] >> 4) * 4;
    p->sport = be16(t), p->dport = be16(t + 2);
    p->seq = be32(t + 4), p->ack = be32(t + 8);
    p->flags = t[13];
    p->win = be16(t + 14);
    p->payload = total > off + thl ? total - (uint32_t)(off + thl) : 0;
    return 0;
}

/* The frame's link layer: the IP packet inside, its interface and direction. */
static int decode(struct cap_source *s, const uint8_t *d, size_t n, struct cap_pkt *p)
{
    int pkttype = -1;
    uint16_t proto;
    size_t off;
    p->iface = s->iface;
    p->loopback = s->iface_loopback;
    switch (s->linktype) {
    case DLT_LINUX_SLL2:
        if (n < 20) return -1;
        proto = be16(d);
        p->iface = ifname_of(s, be32(d + 4));
        p->loopback = be16(d + 8) == ARPHRD_LOOPBACK_;
        pkttype = d[10];
        off = 20;
        break;
    case DLT_LINUX_SLL:
        if (n < 16) return -1;
        pkttype = be16(d);
        p->loopback = be16(d + 2) == ARPHRD_LOOPBACK_;
        proto = be16(d + 14);
        off = 16;
        break;
    case DLT_EN10MB:
        if (n < 14) return -1;
        proto = be16(d + 12);
        off = 14;
        while ((proto == 0x8100 || proto == 0x88a8) && n >= off + 4)
            proto = be16(d + off + 2), off += 4;
        break;
    default: /* raw IP */
        proto = 0;
        off = 0;
        break;
    }
    if (proto && proto != 0x0800 && proto != 0x86dd) return -1;
    if (decode_ip(d + off, n - off, p) < 0) return -1;
    if (pkttype >= 0)
        p->dir = pkttype == PACKET_OUTGOING_ ? CAP_OUT : CAP_IN;
    else
        p->dir = is_local(s, p->family, p->src) ? CAP_OUT : CAP_IN;
    return 0;
}

struct dispatch_ctx {
    struct cap_source *s;
    cap_pkt_fn fn;
    void *ctx;
    int window;
};

static void on_frame(u_char *arg, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct dispatch_ctx *dc = (struct dispatch_ctx *)arg;
    struct cap_pkt p;
    memset(&p, 0, sizeof p);
    if (decode(dc->s, bytes, h->caplen, &p) < 0) return;
    p.t_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
    dc->fn(&p, bytes, h, dc->window, dc->ctx);
}

int cap_source_poll(struct cap_source *s, int timeout_ms, cap_pkt_fn fn, void *ctx, char *err,
                    size_t errlen)
{
    struct pollfd pfd[2] = {{pcap_get_selectable_fd(s->ctl), POLLIN, 0},
                            {pcap_get_selectable_fd(s->win), POLLIN, 0}};
    if (poll(pfd, 2, timeout_ms) < 0) return 0; /* EINTR: the caller looks at its flags */
    int total = 0;
    pcap_t *h[2] = {s->ctl, s->win};
    for (int i = 0; i < 2; i++) {
        /* Always dispatched: a block the kernel retired may be ready without a wakeup. */
        struct dispatch_ctx dc = {s, fn, ctx, i == 1};
        int n = pcap_dispatch(h[i], -1, on_frame, (u_char *)&dc);
        if (n < 0 && n != PCAP_ERROR_BREAK) {
            snprintf(err, errlen, "%s: %s", s->iface, pcap_geterr(h[i]));
            return -1;
        }
        if (n > 0) total += n;
    }
    return total;
}

static void put_addr(char *out, size_t len, int family, const uint8_t *a)
{
    inet_ntop(family, a, out, (socklen_t)len);
}

int cap_source_watch(struct cap_source *s, const struct cap_flow_id *ids, size_t n, char *err,
                     size_t errlen)
{
    char filter[CAP_WINDOW_FLOWS * 200 + 256];
    size_t len = 0;
    if (n > CAP_WINDOW_FLOWS) n = CAP_WINDOW_FLOWS;
    if (!n) {
        len = (size_t)snprintf(filter, sizeof filter, "%s", no_packet_filter);
    } else {
        len = (size_t)snprintf(filter, sizeof filter, "tcp and not (%s) and (", cap_control_filter);
        for (size_t i = 0; i < n; i++) {
            char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
            put_addr(l, sizeof l, ids[i].family, ids[i].laddr);
            put_addr(r, sizeof r, ids[i].family, ids[i].raddr);
            len += (size_t)snprintf(filter + len, sizeof filter - len,
                                    "%s(host %s and host %s and port %u and port %u)",
                                    i ? " or " : "", l, r, ids[i].lport, ids[i].rport);
        }
        len += (size_t)snprintf(filter + len, sizeof filter - len, ")");
    }
    struct bpf_program prog;
    if (pcap_compile(s->win, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
        pcap_setfilter(s->win, &prog) < 0) {
        snprintf(err, errlen, "%s: window filter: %s", s->iface, pcap_geterr(s->win));
        return -1;
    }
    pcap_freecode(&prog);
    return 0;
}

int cap_source_save_to(struct cap_source *s, const char *path, char *err, size_t errlen)
{
    s->dump = pcap_dump_open(s->ctl, path);
    if (!s->dump) {
        snprintf(err, errlen, "--pcap %s: %s", path, pcap_geterr(s->ctl));
        return -1;
    }
    return 0;
}

void cap_source_save(struct cap_source *s, const void *hdr, const uint8_t *frame)
{
    if (s->dump) pcap_dump((u_char *)s->dump, hdr, frame);
}

void cap_source_flush(struct cap_source *s)
{
    if (s->dump) pcap_dump_flush(s->dump);
}

void cap_source_stats(struct cap_source *s, uint64_t *received, uint64_t *dropped)
{
    struct pcap_stat st;
    *received = *dropped = 0;
    pcap_t *h[2] = {s->ctl, s->win};
    for (int i = 0; i < 2; i++) {
        if (pcap_stats(h[i], &st) == 0) {
            *received += st.ps_recv;
            *dropped += (uint64_t)st.ps_drop + st.ps_ifdrop;
        }
    }
}
