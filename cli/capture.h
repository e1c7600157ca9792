// SPDX-License-Identifier: MIT
/* capture.h: what the parts of `rstwatch capture` share. A captured TCP packet
 * decoded from its link layer (capture_pcap.c), the table of recent flows and
 * their baselines (capture_flows.c), the verdict on an RST (capture_verdict.c)
 * and the packet record written for it (capture_record.c); capture.c runs
 * the loop. The daemon keeps no payload byte, only headers. */
#ifndef RSTWATCH_CAPTURE_H
#define RSTWATCH_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/* TCP flag bits as on the wire. */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10

enum cap_dir { CAP_IN, CAP_OUT };

/* One TCP packet's headers. Addresses are in network order, 4 or 16 bytes. */
struct cap_pkt {
    int64_t t_us;      /* capture time, microseconds since the epoch */
    const char *iface; /* interface name ("any" when the link layer does not say) */
    int loopback;      /* captured on a loopback interface */
    int family;        /* AF_INET or AF_INET6 */
    enum cap_dir dir;
    uint8_t src[16], dst[16];
    uint16_t sport, dport; /* host order */
    uint8_t flags;
    int ttl;   /* TTL or hop limit */
    int ip_id; /* IPv4 identification, -1 for IPv6 */
    uint32_t seq, ack;
    uint16_t win;
    uint32_t payload; /* TCP payload bytes */
};

/* ---- capture_pcap.c: the handles, their filters, decoding ------------------------------------ */

struct cap_source;
/* The frame a packet came in (for cap_source_save). */
struct cap_frame;
/* Called for each decoded packet; window: it came through the post-RST handle. */
typedef void (*cap_pkt_fn)(const struct cap_pkt *p, const struct cap_frame *frame, int window,
                           void *ctx);
/* Opens the control handles on iface ("any": one per interface, or a name)
 * with their filter; lean: without PSH segments off loopback (--lean).
 * Returns NULL with a one-line reason in err. */
struct cap_source *cap_source_open(const char *iface, int lean, char *err, size_t errlen);
/* Waits up to timeout_ms for packets and hands each to fn. Returns the number
 * of packets handled, or -1 on a capture error (reason in err). */
int cap_source_poll(struct cap_source *s, int timeout_ms, cap_pkt_fn fn, void *ctx, char *err,
                    size_t errlen);
/* Upkeep at wall time now_us (call every loop): on "any", handles for the
 * interfaces that came up and none for those gone (once a second); the
 * window handle closed when it has watched nothing for a while. */
void cap_source_tick(struct cap_source *s, int64_t now_us);
/* The flows whose every incoming packet the window handle passes
 * (n <= CAP_WINDOW_FLOWS, each as local and remote address/port); it is opened
 * when needed. Returns 0 or -1 (reason in err). */
#define CAP_WINDOW_FLOWS 32
struct cap_flow_id {
    int family;
    uint8_t laddr[16], raddr[16];
    uint16_t lport, rport;
};
int cap_source_watch(struct cap_source *s, const struct cap_flow_id *ids, size_t n, char *err,
                     size_t errlen);
/* Starts saving the packets handed to fn into a pcap file, Linux cooked v2
 * (call before polling); cap_source_save writes one. Returns 0 or -1 (reason
 * in err). */
int cap_source_save_to(struct cap_source *s, const char *path, char *err, size_t errlen);
void cap_source_save(struct cap_source *s, const struct cap_frame *frame);
/* Pushes what was saved to the file. */
void cap_source_flush(struct cap_source *s);
/* Packets the kernel passed to the handles, and those it dropped. */
void cap_source_stats(struct cap_source *s, uint64_t *received, uint64_t *dropped);
void cap_source_close(struct cap_source *s);
/* The control filter in BPF syntax (for --help and tests). */
extern const char cap_control_filter[];

/* ---- capture_flows.c: recent flows, fixed size, least recently used evicted ------------------ */

enum cap_role { CAP_ROLE_UNKNOWN, CAP_ROLE_CLIENT, CAP_ROLE_SERVER };

/* What one flow's packets said, from this host's point of view. */
struct cap_flow {
    struct cap_flow_id id;
    enum cap_role role;
    const char *iface;
    int loopback;
    int64_t t_last_us;
    /* the peer's own packets (not RSTs) */
    unsigned peer_pkts;
    int peer_ttl_min, peer_ttl_max;
    int peer_ip_id; /* last seen, -1 none */
    uint16_t peer_win;
    /* ours */
    int64_t t_syn_us;      /* our SYN (client) */
    int64_t rtt_us;        /* SYN to SYN-ACK, -1 unknown */
    int64_t t_data_out_us; /* our last packet with payload, 0 none */
    /* the first RST of the flow, judged when its window ends */
    int rst_state; /* 0 none, 1 waiting for the window, 2 judged */
    struct cap_pkt rst;
    int64_t window_end_us;
    unsigned peer_after;    /* peer packets (not RSTs) after the RST */
    unsigned replies_after; /* our RSTs answering them */
    unsigned rsts_after;    /* further RSTs from the peer's side */
    int32_t lru_prev, lru_next, hash_next;
};

struct cap_flows;
/* A table of capacity flows (>= 16). NULL when out of memory. */
struct cap_flows *cap_flows_new(size_t capacity);
void cap_flows_free(struct cap_flows *t);
/* The flow of packet p (created when new, evicting the least recently used),
 * now the most recently used. Never NULL. */
struct cap_flow *cap_flows_get(struct cap_flows *t, const struct cap_pkt *p);
/* The flow with this id, or NULL; its place in the order is left alone. */
struct cap_flow *cap_flows_find(const struct cap_flows *t, const struct cap_flow_id *id);
/* Flows evicted so far, and flows in use. */
uint64_t cap_flows_evicted(const struct cap_flows *t);
size_t cap_flows_count(const struct cap_flows *t);
/* Calls fn for every flow (in no particular order). */
void cap_flows_each(struct cap_flows *t, void (*fn)(struct cap_flow *f, void *ctx), void *ctx);
/* The flow id of p seen from this host (local side first). */
void cap_flow_id_of(const struct cap_pkt *p, struct cap_flow_id *id);

/* ---- capture_verdict.c: who sent the RST -------------------------------------------------------
 */

struct cap_verdict {
    const char *rst_from;  /* "peer", "path", "local", "unknown" */
    int hops, peer_hops;   /* hop distance by TTL (1: on this link), -1 unknown */
    const char *ip_id_seq; /* "in_sequence", "zero", "other", "none" */
    double since_data_ms;  /* NAN when unknown */
    double rtt_ms;         /* NAN when unknown */
    unsigned peer_after;   /* the peer's packets after the RST: seen, or as many as this host
                              answered with its own RSTs (at least that many came) */
    const char *code;      /* cause code: path_reset, local_abort or unknown */
    char hint[512];
};
/* Judges the flow's first RST (f->rst) from its baseline and what followed it. */
void cap_verdict_judge(const struct cap_flow *f, struct cap_verdict *v);
/* The initial TTL a sender most likely used (32, 64, 128 or 255). */
int cap_initial_ttl(int ttl);

/* ---- capture_record.c: the packet record ------------------------------------------------------
 */

/* Writes the packet record of the flow's RST through the sink, rate limited
 * as the shim's records are, at monotonic time now_ns (0: now). Returns 0
 * (written or left out) or -errno. */
int cap_record_write(const struct cap_flow *f, const struct cap_verdict *v, uint64_t now_ns);
/* Formats the record into buf (for tests); returns its length, 0 when it did not fit. */
size_t cap_record_format(char *buf, size_t cap, const struct cap_flow *f,
                         const struct cap_verdict *v, uint64_t suppressed);

#endif
