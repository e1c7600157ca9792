// SPDX-License-Identifier: MIT
/* capture_pcap.c: libpcap for `rstwatch capture` (see capture.h): the
 * control handles, the window handle, and the decoding of what they pass.
 *
 * What a packet tap costs the host is paid in the kernel, by the programs
 * whose packets they are: every packet socket runs its filter on every packet
 * of its interfaces, and for an outgoing packet the kernel first clones it for
 * the taps, unless every tap has set PACKET_IGNORE_OUTGOING. On loopback each
 * packet is both outgoing and incoming, and libpcap throws the outgoing copy
 * away in user space anyway. So on "any" capture opens one control handle per
 * interface (rescanned every second): a loopback interface's handle ignores
 * outgoing packets and sees each one once, as incoming, and no loopback packet
 * is cloned for capture; the other interfaces' handles see both directions,
 * as their outgoing SYNs, data and RSTs are evidence. A flow's packets all
 * cross one interface, so they arrive in order through one handle. Where the
 * kernel lacks PACKET_IGNORE_OUTGOING (before Linux 4.20) one handle on "any"
 * does it all, as a named interface's does.
 *
 * The control filter (cap_control_filter) passes only TCP packets with SYN,
 * FIN, RST or PSH set: the handshake and the peer's FIN give each flow its
 * baseline (TTL, IP ID, window, the round trip), the RSTs are what is judged,
 * and PSH marks the last segment of a write, which dates this host's last
 * data before an RST and shows the peer's data racing its "reset". Our own
 * FIN says nothing of the peer, so an outgoing one passes only with data
 * (PSH). Plain ACKs and bulk data, nearly all of the traffic, never leave the
 * kernel. On loopback there is no path to tell from the peer, so no baseline
 * to judge an RST against (its sender is the other end, on this host:
 * capture_verdict.c): the loopback filter passes RSTs and the SYN that opens
 * a connection, which tells the server's end from the client's, and a
 * loopback connection costs capture that one packet.
 *
 * The window handle passes every other incoming packet of the few flows
 * that just saw an RST (at most CAP_WINDOW_FLOWS, for a short window; capture.c
 * watches no loopback flow): the peer's packets still arriving after its "reset"
 * are the race that gives a forged RST away. It ignores outgoing packets
 * (they are no evidence), is opened with the first flow it watches and closed
 * after a few idle seconds, so a host without resets pays nothing for it. Its
 * filter names those flows' address and port pairs (the control packets it
 * passes too are dropped here) and is rewritten when that set changes; the
 * control handles' filters never change, so no control packet is ever lost
 * to a filter swap. A packet the window handle misses costs evidence, not a
 * verdict.
 *
 * The link layer: Ethernet or raw IP on an interface's own handle (the
 * direction from the addresses of this host's interfaces; loopback is always
 * incoming), Linux cooked capture v2 on "any" (SLL2: the interface index and
 * the packet type), or v1 (SLL: direction only) where v2 is missing. Only
 * headers are captured (a short snapshot length); --pcap saves them as
 * SLL2, whatever handle they came through. */
#include "capture.h"
#include "sink.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SNAPLEN 160
#define TIMEOUT_MS 50
#define MAX_LOCAL_ADDRS 256
#define MAX_IFNAMES 256
#define MAX_HANDLES 64
#define ANY_BUFFER (4 << 20)   /* the one handle on "any" or a named interface */
#define IFACE_BUFFER (2 << 20) /* each interface's own, on "any" */
#define WINDOW_BUFFER (1 << 20)
#define RESCAN_US 1000000
#define WINDOW_IDLE_US 5000000
#define BACKOFF_US 10000000 /* before an interface that failed is tried again */
#define ARPHRD_ETHER_ 1
#define ARPHRD_LOOPBACK_ 772
#define ARPHRD_NONE_ 0xfffe
#define SLL2_LEN 20
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* TCP packets with a flag of MASK set in either direction, or an incoming FIN
 * (the TCP flags byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08). */
#define CONTROL_FILTER(mask)                                                                       \
    "(ip and tcp and (tcp[13] & " mask " != 0 or (inbound and tcp[13] & 0x01 != 0))) or "          \
    "(ip6 and ip6[6] == 6 and (ip6[53] & " mask " != 0 or (inbound and ip6[53] & 0x01 != 0)))"
const char cap_control_filter[] = CONTROL_FILTER("0x0e"); /* SYN, RST, PSH */
/* --lean: the same without PSH. */
static const char lean_control_filter[] = CONTROL_FILTER("0x06");
/* On loopback, RSTs and the first SYN (no ACK): there is no path there to
 * tell from the peer, so nothing to compare an RST with; the SYN gives each
 * end its role. Every other packet of a loopback connection stays in the
 * kernel: on a busy host's loopback that was most of capture's cost, its own
 * CPU and the kernel's copying into its ring. */
static const char loopback_control_filter[] =
    "(ip and tcp and (tcp[13] & 0x04 != 0 or tcp[13] & 0x12 == 0x02)) or "
    "(ip6 and ip6[6] == 6 and (ip6[53] & 0x04 != 0 or ip6[53] & 0x12 == 0x02))";
/* Matches nothing: the window handle's filter while no flow is watched. */
static const char no_packet_filter[] = "less 1";

struct local_addr {
    int family;
    uint8_t a[16];
};

struct handle {
    pcap_t *p;
    int linktype;
    unsigned ifindex; /* 0 on "any" */
    int loopback;     /* a loopback interface's: every packet once, as incoming */
    int seen;         /* in the latest scan of the interfaces */
    char name[IF_NAMESIZE + 1];
};

struct cap_source {
    char iface[IF_NAMESIZE + 1];
    int per_iface; /* "any" as one control handle per interface */
    struct handle ctl[MAX_HANDLES];
    size_t nctl;
    int warned_full;
    struct handle win;   /* p is NULL while it is closed */
    int64_t win_idle_us; /* since when it has watched nothing, 0 while it watches */
    int64_t next_scan_us;
    struct {
        unsigned ifindex;
        int64_t until_us;
    } backoff[MAX_HANDLES]; /* interfaces not to be opened again before until_us */
    size_t nbackoff;
    int ioctl_fd;
    struct local_addr locals[MAX_LOCAL_ADDRS];
    size_t nlocals;
    char *ifnames[MAX_IFNAMES]; /* by ifindex, filled as seen */
    pcap_t *dead;               /* the --pcap file's link type (SLL2) */
    pcap_dumper_t *dump;
    uint64_t gone_received, gone_dropped; /* of handles closed so far */
    int lean;                             /* --lean: no PSH segments off loopback */
};

/* The frame a packet came in, for --pcap (see cap_source_save). */
struct cap_frame {
    const struct pcap_pkthdr *hdr;
    const uint8_t *bytes;
    size_t ip_off;
    unsigned ifindex;
    int arphrd;
    const struct cap_pkt *pkt;
};

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int supported_linktype(int dlt)
{
    return dlt == DLT_LINUX_SLL2 || dlt == DLT_LINUX_SLL || dlt == DLT_EN10MB || dlt == DLT_RAW ||
           dlt == DLT_IPV4 || dlt == DLT_IPV6;
}

/* Opens h->name with filter into h. ignore_outgoing: the kernel is to hand it
 * incoming packets only; *no_ignore is set when it cannot. Returns 0, or -1
 * with a one-line reason in err. */
static int open_handle(struct handle *h, int buffer, const char *filter, int ignore_outgoing,
                       int *no_ignore, char *err, size_t errlen)
{
    char e[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(h->name, e);
    if (!p) {
        snprintf(err, errlen, "%s: %s", h->name, e);
        return -1;
    }
    pcap_set_snaplen(p, SNAPLEN);
    pcap_set_promisc(p, 0);
    pcap_set_timeout(p, TIMEOUT_MS);
    pcap_set_buffer_size(p, buffer);
    int rc = pcap_activate(p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s%s", h->name, pcap_statustostr(rc),
                 rc == PCAP_ERROR_PERM_DENIED ? " (run as root or with CAP_NET_RAW)" : "");
        if (*pcap_geterr(p) && rc != PCAP_ERROR_PERM_DENIED)
            snprintf(err, errlen, "%s: %s", h->name, pcap_geterr(p));
        pcap_close(p);
        return -1;
    }
    if (!strcmp(h->name, "any")) pcap_set_datalink(p, DLT_LINUX_SLL2); /* SLL where missing */
    h->linktype = pcap_datalink(p);
    if (!supported_linktype(h->linktype)) {
        snprintf(err, errlen, "%s: link type %s is not supported", h->name,
                 pcap_datalink_val_to_name(h->linktype));
        pcap_close(p);
        return -1;
    }
    int one = 1;
    if (ignore_outgoing && setsockopt(pcap_get_selectable_fd(p), SOL_PACKET, PACKET_IGNORE_OUTGOING,
                                      &one, sizeof one) < 0)
        *no_ignore = 1;
    struct bpf_program prog;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
        pcap_setfilter(p, &prog) < 0) {
        snprintf(err, errlen, "%s: filter: %s", h->name, pcap_geterr(p));
        pcap_close(p);
        return -1;
    }
    pcap_freecode(&prog);
    if (pcap_setnonblock(p, 1, e) < 0) {
        snprintf(err, errlen, "%s: %s", h->name, e);
        pcap_close(p);
        return -1;
    }
    h->p = p;
    return 0;
}

/* Adds the kernel's counts of p to *received and *dropped. */
static void add_stats(pcap_t *p, uint64_t *received, uint64_t *dropped)
{
    struct pcap_stat st;
    memset(&st, 0, sizeof st);
    if (pcap_stats(p, &st) < 0) return;
    *received += st.ps_recv;
    *dropped += (uint64_t)st.ps_drop + st.ps_ifdrop;
}

static void close_handle(struct cap_source *s, struct handle *h)
{
    if (!h->p) return;
    add_stats(h->p, &s->gone_received, &s->gone_dropped);
    pcap_close(h->p);
    h->p = NULL;
}

static const char *control_filter(const struct cap_source *s, const struct handle *h)
{
    return h->loopback ? loopback_control_filter
           : s->lean   ? lean_control_filter
                       : cap_control_filter;
}

/* Whether the control handles pass p too (the window handle passes the control
 * packets of the flows it watches as well; those are dropped there). */
static int control_passes(const struct cap_source *s, const struct cap_pkt *p)
{
    if (p->loopback && (s->per_iface || s->ctl[0].loopback))
        return (p->flags & TCPF_RST) || (p->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
    if (p->flags & (TCPF_SYN | TCPF_RST)) return 1;
    if ((p->flags & TCPF_PSH) && !s->lean) return 1;
    return (p->flags & TCPF_FIN) && p->dir == CAP_IN;
}

/* Every address of this host's interfaces: a packet from one of them is ours. */
static void load_local_addrs(struct cap_source *s)
{
    struct ifaddrs *all = NULL;
    if (getifaddrs(&all) < 0) return;
    size_t n = 0;
    for (struct ifaddrs *a = all; a && n < MAX_LOCAL_ADDRS; a = a->ifa_next) {
        if (!a->ifa_addr) continue;
        struct local_addr *l = &s->locals[n];
        if (a->ifa_addr->sa_family == AF_INET) {
            l->family = AF_INET;
            memcpy(l->a, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, 4);
            n++;
        } else if (a->ifa_addr->sa_family == AF_INET6) {
            l->family = AF_INET6;
            memcpy(l->a, &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, 16);
            n++;
        }
    }
    s->nlocals = n;
    freeifaddrs(all);
}

static int if_flags(struct cap_source *s, const char *name)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (s->ioctl_fd < 0 || ioctl(s->ioctl_fd, SIOCGIFFLAGS, &ifr) < 0) return 0;
    return ifr.ifr_flags;
}

/* Leaves interface ifindex alone for BACKOFF_US (its handle failed). */
static void back_off(struct cap_source *s, unsigned ifindex, int64_t now_us)
{
    size_t i = 0;
    while (i < s->nbackoff && s->backoff[i].ifindex != ifindex)
        i++;
    if (i == s->nbackoff) {
        if (s->nbackoff == MAX_HANDLES) return;
        s->nbackoff++;
    }
    s->backoff[i].ifindex = ifindex;
    s->backoff[i].until_us = now_us + BACKOFF_US;
}

static int backing_off(struct cap_source *s, unsigned ifindex, int64_t now_us)
{
    for (size_t i = 0; i < s->nbackoff; i++) {
        if (s->backoff[i].ifindex != ifindex) continue;
        if (now_us < s->backoff[i].until_us) return 1;
        s->backoff[i] = s->backoff[--s->nbackoff];
        return 0;
    }
    return 0;
}

/* Closes control handle i and drops it from the list. */
static void remove_handle(struct cap_source *s, size_t i)
{
    close_handle(s, &s->ctl[i]);
    memmove(&s->ctl[i], &s->ctl[i + 1], (s->nctl - i - 1) * sizeof s->ctl[0]);
    s->nctl--;
}

/* On "any": a control handle for every interface that is up, none for those
 * gone or down. An interface whose handle cannot be opened (a link type
 * capture does not read, or it vanished meanwhile) is tried again after
 * BACKOFF_US; one whose handle failed (it went down) at the next scan. Returns 0, or -1 when not
 * one could be opened (the first reason in err: no permission, typically). */
static int scan_interfaces(struct cap_source *s, int *no_ignore, int64_t now_us, char *err,
                           size_t errlen)
{
    struct if_nameindex *ni = if_nameindex();
    if (!ni) {
        snprintf(err, errlen, "cannot list the interfaces");
        return s->nctl ? 0 : -1;
    }
    for (size_t i = 0; i < s->nctl; i++)
        s->ctl[i].seen = 0;
    int failed = 0;
    for (struct if_nameindex *n = ni; n->if_index && n->if_name; n++) {
        int flags = if_flags(s, n->if_name);
        if (!(flags & IFF_UP) || strlen(n->if_name) > IF_NAMESIZE) continue;
        size_t i = 0;
        while (i < s->nctl &&
               !(s->ctl[i].ifindex == n->if_index && !strcmp(s->ctl[i].name, n->if_name)))
            i++;
        if (i < s->nctl) {
            s->ctl[i].seen = 1;
            continue;
        }
        if (backing_off(s, n->if_index, now_us)) continue;
        if (s->nctl == MAX_HANDLES) {
            if (!s->warned_full) {
                char line[160];
                snprintf(line, sizeof line,
                         "capture: more than %d interfaces: %s and later ones are not watched "
                         "(name one with -i)",
                         MAX_HANDLES, n->if_name);
                sink_warn(line);
                s->warned_full = 1;
            }
            continue;
        }
        struct handle *h = &s->ctl[s->nctl];
        memset(h, 0, sizeof *h);
        strcpy(h->name, n->if_name);
        h->ifindex = n->if_index;
        h->loopback = !!(flags & IFF_LOOPBACK);
        h->seen = 1;
        char e[256];
        int rc =
            open_handle(h, IFACE_BUFFER, control_filter(s, h), h->loopback, no_ignore, e, sizeof e);
        if (rc == 0) {
            s->nctl++;
            continue;
        }
        if (!failed++) snprintf(err, errlen, "%s", e);
        back_off(s, n->if_index, now_us);
    }
    if_freenameindex(ni);
    for (size_t i = s->nctl; i-- > 0;)
        if (!s->ctl[i].seen) remove_handle(s, i);
    load_local_addrs(s);
    return s->nctl || !failed ? 0 : -1;
}

static void close_all(struct cap_source *s)
{
    for (size_t i = 0; i < s->nctl; i++)
        close_handle(s, &s->ctl[i]);
    s->nctl = 0;
}

struct cap_source *cap_source_open(const char *iface, int lean, char *err, size_t errlen)
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
    s->lean = lean;
    s->ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int no_ignore = 0;
    if (!strcmp(iface, "any")) {
        s->per_iface = 1;
        if (scan_interfaces(s, &no_ignore, wall_us(), err, errlen) < 0) {
            cap_source_close(s);
            return NULL;
        }
        if (no_ignore) { /* a kernel without PACKET_IGNORE_OUTGOING: one handle on "any" */
            close_all(s);
            s->per_iface = 0;
            s->gone_received = s->gone_dropped = 0;
        }
        s->next_scan_us = wall_us() + RESCAN_US;
    }
    if (!s->per_iface) {
        struct handle *h = &s->ctl[0];
        strcpy(h->name, iface);
        h->ifindex = strcmp(iface, "any") ? if_nametoindex(iface) : 0;
        h->loopback = h->ifindex && (if_flags(s, iface) & IFF_LOOPBACK);
        int rc =
            open_handle(h, ANY_BUFFER, control_filter(s, h), h->loopback, &no_ignore, err, errlen);
        if (rc < 0) {
            cap_source_close(s);
            return NULL;
        }
        s->nctl = 1;
        load_local_addrs(s);
    }
    return s;
}

void cap_source_close(struct cap_source *s)
{
    if (!s) return;
    if (s->dump) pcap_dump_close(s->dump);
    if (s->dead) pcap_close(s->dead);
    close_all(s);
    close_handle(s, &s->win);
    if (s->ioctl_fd >= 0) close(s->ioctl_fd);
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
static int decode(struct cap_source *s, const struct handle *h, const uint8_t *d, size_t n,
                  struct cap_pkt *p, struct cap_frame *fr)
{
    int pkttype = -1;
    uint16_t proto;
    size_t off;
    p->iface = h->name;
    p->loopback = h->loopback;
    fr->ifindex = h->ifindex;
    switch (h->linktype) {
    case DLT_LINUX_SLL2:
        if (n < SLL2_LEN) return -1;
        proto = be16(d);
        fr->ifindex = be32(d + 4);
        p->iface = ifname_of(s, fr->ifindex);
        p->loopback = be16(d + 8) == ARPHRD_LOOPBACK_;
        pkttype = d[10];
        off = SLL2_LEN;
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
        p->dir = pkttype == PACKET_OUTGOING ? CAP_OUT : CAP_IN;
    else if (p->loopback) /* seen once, as it arrives */
        p->dir = CAP_IN;
    else
        p->dir = is_local(s, p->family, p->src) ? CAP_OUT : CAP_IN;
    fr->ip_off = off;
    if (h->linktype == DLT_LINUX_SLL2)
        fr->arphrd = be16(d + 8);
    else if (p->loopback)
        fr->arphrd = ARPHRD_LOOPBACK_;
    else
        fr->arphrd = h->linktype == DLT_EN10MB ? ARPHRD_ETHER_ : ARPHRD_NONE_;
    return 0;
}

struct dispatch_ctx {
    struct cap_source *s;
    const struct handle *h;
    cap_pkt_fn fn;
    void *ctx;
    int window;
};

static void on_frame(u_char *arg, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
    struct dispatch_ctx *dc = (struct dispatch_ctx *)arg;
    struct cap_pkt p;
    struct cap_frame fr = {hdr, bytes, 0, 0, 0, &p};
    memset(&p, 0, sizeof p);
    if (decode(dc->s, dc->h, bytes, hdr->caplen, &p, &fr) < 0) return;
    if (dc->window && control_passes(dc->s, &p)) return; /* the control handles passed it */
    p.t_us = (int64_t)hdr->ts.tv_sec * 1000000 + hdr->ts.tv_usec;
    dc->fn(&p, &fr, dc->window, dc->ctx);
}

/* Hands what h holds to fn. Returns the number of packets, or -1 (reason in err). */
static int dispatch(struct cap_source *s, const struct handle *h, int window, cap_pkt_fn fn,
                    void *ctx, char *err, size_t errlen)
{
    struct dispatch_ctx dc = {s, h, fn, ctx, window};
    int n = pcap_dispatch(h->p, -1, on_frame, (u_char *)&dc);
    if (n < 0 && n != PCAP_ERROR_BREAK) {
        snprintf(err, errlen, "%s: %s", h->name, pcap_geterr(h->p));
        return -1;
    }
    return n > 0 ? n : 0;
}

int cap_source_poll(struct cap_source *s, int timeout_ms, cap_pkt_fn fn, void *ctx, char *err,
                    size_t errlen)
{
    struct pollfd pfd[MAX_HANDLES + 1];
    size_t n = 0;
    for (size_t i = 0; i < s->nctl; i++)
        pfd[n++] = (struct pollfd){pcap_get_selectable_fd(s->ctl[i].p), POLLIN, 0};
    if (s->win.p) pfd[n++] = (struct pollfd){pcap_get_selectable_fd(s->win.p), POLLIN, 0};
    if (poll(pfd, n, timeout_ms) < 0) return 0; /* EINTR: the caller looks at its flags */
    int total = 0;
    /* Every handle is dispatched: a block the kernel retired may be ready without a wakeup. */
    for (size_t i = 0; i < s->nctl; i++) {
        int got = dispatch(s, &s->ctl[i], 0, fn, ctx, err, errlen);
        if (got < 0 && !s->per_iface) return -1;
        if (got < 0) { /* its interface went down or away: the next scan opens it when back */
            remove_handle(s, i--);
            continue;
        }
        total += got;
    }
    if (s->win.p) {
        char e[256];
        int got = dispatch(s, &s->win, 1, fn, ctx, e, sizeof e);
        if (got < 0) /* evidence lost, not the capture: opened again when needed */
            close_handle(s, &s->win);
        else
            total += got;
    }
    return total;
}

void cap_source_tick(struct cap_source *s, int64_t now_us)
{
    if (s->per_iface && now_us >= s->next_scan_us) {
        int no_ignore = 0;
        char e[256];
        scan_interfaces(s, &no_ignore, now_us, e, sizeof e);
        s->next_scan_us = now_us + RESCAN_US;
    }
    if (s->win.p && s->win_idle_us && now_us - s->win_idle_us >= WINDOW_IDLE_US)
        close_handle(s, &s->win);
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
        if (!s->win.p) return 0;
        if (!s->win_idle_us) s->win_idle_us = wall_us();
        len = (size_t)snprintf(filter, sizeof filter, "%s", no_packet_filter);
    } else {
        s->win_idle_us = 0;
        /* Incoming packets only, so each flow is one direction: a filter
         * libpcap compiles in a fraction of the time "host and port" takes
         * (both directions, every protocol), which matters as RSTs come and go. */
        for (size_t i = 0; i < n; i++) {
            char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
            const char *ip = ids[i].family == AF_INET6 ? "ip6" : "ip";
            put_addr(l, sizeof l, ids[i].family, ids[i].laddr);
            put_addr(r, sizeof r, ids[i].family, ids[i].raddr);
            len += (size_t)snprintf(
                filter + len, sizeof filter - len,
                "%s(%s src %s and %s dst %s and tcp src port %u and tcp dst port %u)",
                i ? " or " : "", ip, r, ip, l, ids[i].rport, ids[i].lport);
        }
    }
    if (!s->win.p) {
        int no_ignore = 0;
        struct handle *h = &s->win;
        memset(h, 0, sizeof *h);
        strcpy(h->name, s->iface);
        h->ifindex = strcmp(s->iface, "any") ? if_nametoindex(s->iface) : 0;
        h->loopback = s->nctl && !s->per_iface && s->ctl[0].loopback;
        /* the peer's packets are incoming ones (on loopback every packet is) */
        if (open_handle(h, WINDOW_BUFFER, filter, 1, &no_ignore, err, errlen) < 0) return -1;
        return 0;
    }
    struct bpf_program prog;
    if (pcap_compile(s->win.p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
        pcap_setfilter(s->win.p, &prog) < 0) {
        snprintf(err, errlen, "%s: window filter: %s", s->iface, pcap_geterr(s->win.p));
        return -1;
    }
    pcap_freecode(&prog);
    return 0;
}

int cap_source_save_to(struct cap_source *s, const char *path, char *err, size_t errlen)
{
    s->dead = pcap_open_dead(DLT_LINUX_SLL2, SNAPLEN + SLL2_LEN);
    if (s->dead) s->dump = pcap_dump_open(s->dead, path);
    if (!s->dump) {
        snprintf(err, errlen, "--pcap %s: %s", path,
                 s->dead ? pcap_geterr(s->dead) : "out of memory");
        return -1;
    }
    return 0;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

/* The frame as Linux cooked capture v2: its interface and direction, then the
 * IP packet. */
void cap_source_save(struct cap_source *s, const struct cap_frame *fr)
{
    if (!s->dump) return;
    uint8_t out[SNAPLEN + SLL2_LEN];
    size_t ip = fr->hdr->caplen - fr->ip_off;
    if (ip > SNAPLEN) ip = SNAPLEN;
    memset(out, 0, SLL2_LEN);
    put16(out, fr->pkt->family == AF_INET6 ? 0x86dd : 0x0800);
    put16(out + 4, fr->ifindex >> 16), put16(out + 6, fr->ifindex & 0xffff);
    put16(out + 8, (unsigned)fr->arphrd);
    out[10] = fr->pkt->dir == CAP_OUT ? PACKET_OUTGOING : PACKET_HOST;
    memcpy(out + SLL2_LEN, fr->bytes + fr->ip_off, ip);
    struct pcap_pkthdr h = *fr->hdr;
    h.caplen = (bpf_u_int32)(SLL2_LEN + ip);
    h.len = (bpf_u_int32)(SLL2_LEN + (fr->hdr->len > fr->ip_off ? fr->hdr->len - fr->ip_off : 0));
    pcap_dump((u_char *)s->dump, &h, out);
}

void cap_source_flush(struct cap_source *s)
{
    if (s->dump) pcap_dump_flush(s->dump);
}

void cap_source_stats(struct cap_source *s, uint64_t *received, uint64_t *dropped)
{
    *received = s->gone_received;
    *dropped = s->gone_dropped;
    for (size_t i = 0; i < s->nctl; i++)
        add_stats(s->ctl[i].p, received, dropped);
    if (s->win.p) add_stats(s->win.p, received, dropped);
}
