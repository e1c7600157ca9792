// SPDX-License-Identifier: MIT
/* capture.c: `rstwatch capture`: a small capture daemon that works out who
 * sent each TCP reset this host sees and writes it as a packet record.
 *
 * The loop: the libpcap handles (capture_pcap.c: control packets on every
 * interface and, for flows that just saw an RST, their other packets) hand
 * over what they pass; each packet updates its flow's baseline in the fixed
 * table of recent flows (capture_flows.c). A flow's first RST waits for its window (what the peer
 * sends after it is the race evidence) and is then judged
 * (capture_verdict.c) and written (capture_record.c) to the same sinks, with
 * the same rate limit and summaries, as the shim's records. SIGTERM or SIGINT
 * stops it: the waiting RSTs are judged, a summary is written if the rate
 * limit left anything out, and one line of counts goes to stderr. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "capture.h"
#include "cli.h"
#include "clock.h"
#include "options.h"
#include "ratelimit.h"
#include "sink.h"
#include "summary.h"

#define DEFAULT_FLOWS 16384
#define DEFAULT_WINDOW_MS 500
#define MAX_PENDING 4096
#define POLL_MS 100
#define WATCH_EVERY_US 50000

struct capture_opts {
    const char *iface, *log, *pcap, *rate;
    long flows, window_ms;
    int lean, help;
};

struct pending {
    struct cap_flow *f;
    struct cap_flow_id id;
};

struct capture {
    struct cap_source *src;
    struct cap_flows *flows;
    int64_t window_us;
    struct pending pending[MAX_PENDING];
    size_t npending;
    int watch_dirty;
    struct cap_flow_id watched[CAP_WINDOW_FLOWS]; /* what the window handle watches */
    size_t watching;
    int64_t watch_us; /* when its filter was last set */
    uint64_t packets, window_packets, rsts;
    uint64_t verdicts[4]; /* peer, path, local, unknown */
};

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *out)
{
    fputs("usage: rstwatch capture [-i IFACE] [-l DEST] [--pcap FILE] [--rate SPEC]\n"
          "                        [--flows N] [--window MS] [--lean]\n"
          "  Watches TCP control packets (libpcap; root or CAP_NET_RAW) and writes a packet\n"
          "  record for each connection's first RST: who sent it (rst_from peer, path, local\n"
          "  or unknown) and the evidence (TTL against the peer's own packets, IP ID, peer\n"
          "  packets after the RST, time since our last data against the round trip).\n"
          "  rstwatch report joins them to the shim's records of the same connection.\n"
          "  -i, --interface IFACE  an interface or any (default: any, with each packet's\n"
          "                         interface and direction)\n"
          "  -l, --log DEST         where records go, as RSTWATCH_LOG (default: its value,\n"
          "                         else /tmp/rstwatch-$EUID/%p.jsonl); journal, syslog, stderr\n"
          "  --pcap FILE            also save the packets it looked at, for Wireshark\n"
          "  --rate SPEC            rate limit, as RSTWATCH_RATE (default: its value, else\n"
          "                         " RATE_DEFAULT ")\n"
          "  --flows N              flows whose baselines are kept (default 16384; the least\n"
          "                         recently used is forgotten)\n"
          "  --window MS            how long after an RST its flow's packets are watched\n"
          "                         (default 500)\n"
          "  --lean                 leave data segments in the kernel off loopback: about a\n"
          "                         third of the cost on a busy link, less evidence (no IP\n"
          "                         ID sequence, no time since our last data)\n"
          "  SIGTERM or SIGINT stops it; it then prints its counts on stderr.\n"
          "  exit status: 0 after a clean stop, 1 when capture fails, 2 on a usage error.\n",
          out);
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "rstwatch capture: %s wants a number from %ld to %ld, not '%.40s'\n", opt,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct capture_opts *o)
{
    static const struct option longopts[] = {{"interface", required_argument, NULL, 'i'},
                                             {"log", required_argument, NULL, 'l'},
                                             {"pcap", required_argument, NULL, 'p'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"flows", required_argument, NULL, 'f'},
                                             {"window", required_argument, NULL, 'w'},
                                             {"lean", no_argument, NULL, 'L'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    cli_getopt_restart();
    while ((c = getopt_long(argc, argv, "hi:l:", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': o->iface = optarg; break;
        case 'l': o->log = optarg; break;
        case 'p': o->pcap = optarg; break;
        case 'r': o->rate = optarg; break;
        case 'f':
            if (parse_long("--flows", optarg, 16, 1 << 24, &o->flows)) return -1;
            break;
        case 'w':
            if (parse_long("--window", optarg, 0, 10000, &o->window_ms)) return -1;
            break;
        case 'L': o->lean = 1; break;
        case 'h': o->help = 1; break;
        default:
            if (optopt && strchr("ilprfw", optopt))
                fprintf(stderr, "rstwatch capture: option '%s' needs a value\n", argv[optind - 1]);
            else
                fprintf(stderr, "rstwatch capture: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rstwatch capture: unexpected argument '%.40s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int verdict_slot(const char *rst_from)
{
    return !strcmp(rst_from, "peer")    ? 0
           : !strcmp(rst_from, "path")  ? 1
           : !strcmp(rst_from, "local") ? 2
                                        : 3;
}

static void judge(struct capture *cap, struct cap_flow *f)
{
    struct cap_verdict v;
    cap_verdict_judge(f, &v);
    f->rst_state = 2;
    cap->verdicts[verdict_slot(v.rst_from)]++;
    cap_record_write(f, &v, 0);
}

static int same_id(const struct cap_flow_id *a, const struct cap_flow_id *b)
{
    return !memcmp(a, b, sizeof *a);
}

/* Judges the RSTs whose window ended by now (all of them when now < 0). */
static void judge_due(struct capture *cap, int64_t now_us)
{
    size_t keep = 0;
    for (size_t i = 0; i < cap->npending; i++) {
        struct pending *pd = &cap->pending[i];
        struct cap_flow *f = pd->f;
        if (!same_id(&f->id, &pd->id) || f->rst_state != 1) { /* evicted or reused meanwhile */
            cap->watch_dirty = 1;
            continue;
        }
        if (now_us >= 0 && f->window_end_us > now_us) {
            cap->pending[keep++] = *pd;
            continue;
        }
        judge(cap, f);
        cap->watch_dirty = 1;
    }
    cap->npending = keep;
}

/* Gives the window handle the flows waiting for their verdict (the first
 * CAP_WINDOW_FLOWS of them). Not loopback's: there is no path there to tell
 * from the peer, which is all the race shows, so a host whose resets are all
 * on loopback never opens the window handle. Compiling its filter costs
 * capture's CPU (a millisecond or more for 32 flows), so it is recompiled
 * only when the set changed, and while it already watches some at most every
 * WATCH_EVERY_US; the first flow is watched at once. */
static void update_watch(struct capture *cap, int64_t now_us)
{
    if (!cap->watch_dirty) return;
    if (cap->watching && now_us - cap->watch_us < WATCH_EVERY_US) return;
    struct cap_flow_id ids[CAP_WINDOW_FLOWS];
    size_t n = 0;
    for (size_t i = 0; i < cap->npending && n < CAP_WINDOW_FLOWS; i++)
        if (!cap->pending[i].f->loopback) ids[n++] = cap->pending[i].id;
    cap->watch_dirty = 0;
    if (n == cap->watching && !memcmp(ids, cap->watched, n * sizeof ids[0])) return;
    char err[256];
    if (cap_source_watch(cap->src, ids, n, err, sizeof err) < 0) {
        char line[300];
        snprintf(line, sizeof line, "capture: %s", err);
        sink_warn(line);
    }
    memcpy(cap->watched, ids, n * sizeof ids[0]);
    cap->watching = n;
    cap->watch_us = now_us;
}

/* A loopback connection's two ends are two flows here (each packet is seen
 * once, where it arrives), and capture sees only its SYN and RSTs: the end
 * that got an RST without its SYN is the client when the other end got the
 * SYN. */
static void loopback_role(const struct capture *cap, struct cap_flow *f)
{
    struct cap_flow_id rev = f->id;
    memcpy(rev.laddr, f->id.raddr, sizeof rev.laddr);
    memcpy(rev.raddr, f->id.laddr, sizeof rev.raddr);
    rev.lport = f->id.rport, rev.rport = f->id.lport;
    const struct cap_flow *other = cap_flows_find(cap->flows, &rev);
    if (other && other->role == CAP_ROLE_SERVER) f->role = CAP_ROLE_CLIENT;
}

static void start_rst(struct capture *cap, struct cap_flow *f, const struct cap_pkt *p)
{
    if (f->loopback && p->loopback && f->role == CAP_ROLE_UNKNOWN) loopback_role(cap, f);
    f->rst_state = 1;
    f->rst = *p;
    f->window_end_us = p->t_us + cap->window_us;
    cap->rsts++;
    if (cap->npending == MAX_PENDING) { /* too many at once: judged without a window */
        judge(cap, f);
        return;
    }
    cap->pending[cap->npending++] = (struct pending){f, f->id};
    cap->watch_dirty = 1;
}

/* Updates the flow of p with it. */
static void on_packet(const struct cap_pkt *p, const struct cap_frame *frame, int window, void *arg)
{
    struct capture *cap = arg;
    cap->packets++;
    cap->window_packets += (uint64_t)window;
    cap_source_save(cap->src, frame);
    int syn = p->flags & TCPF_SYN, ack = p->flags & TCPF_ACK, rst = p->flags & TCPF_RST;
    struct cap_flow *f = cap_flows_get(cap->flows, p);
    if (syn && !ack && !rst && (f->rst_state || f->peer_pkts > 0 || f->t_syn_us)) {
        /* the 4-tuple's next connection: start afresh */
        struct cap_flow_id id = f->id;
        int32_t prev = f->lru_prev, next = f->lru_next, hn = f->hash_next;
        memset(f, 0, sizeof *f);
        f->id = id, f->lru_prev = prev, f->lru_next = next, f->hash_next = hn;
        f->peer_ip_id = -1, f->rtt_us = -1;
        f->iface = p->iface, f->loopback = p->loopback;
    }
    f->t_last_us = p->t_us;
    if (p->dir == CAP_OUT) {
        if (syn && !ack) f->role = CAP_ROLE_CLIENT, f->t_syn_us = p->t_us;
        if (syn && ack) f->role = CAP_ROLE_SERVER;
        if (rst) {
            if (f->rst_state == 0)
                start_rst(cap, f, p);
            else if (f->rst_state == 1)
                f->replies_after++;
            return;
        }
        if (p->payload && !f->rst_state) f->t_data_out_us = p->t_us;
        return;
    }
    if (rst) {
        if (f->rst_state == 0)
            start_rst(cap, f, p);
        else if (f->rst_state == 1)
            f->rsts_after++;
        return;
    }
    if (f->rst_state == 1) {
        if (f->rst.dir == CAP_IN && p->t_us >= f->rst.t_us) f->peer_after++;
        return;
    }
    if (f->rst_state) return;
    if (syn && !ack) f->role = CAP_ROLE_SERVER;
    if (syn && ack && f->t_syn_us && f->rtt_us < 0 && p->t_us >= f->t_syn_us) {
        f->role = CAP_ROLE_CLIENT;
        f->rtt_us = p->t_us - f->t_syn_us;
    }
    if (!f->peer_pkts || p->ttl < f->peer_ttl_min) f->peer_ttl_min = p->ttl;
    if (!f->peer_pkts || p->ttl > f->peer_ttl_max) f->peer_ttl_max = p->ttl;
    f->peer_pkts++;
    if (!syn) f->peer_ip_id = p->ip_id; /* a SYN-ACK's ID is not its socket's sequence */
    f->peer_win = p->win;
}

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void print_counts(struct capture *cap)
{
    uint64_t received = 0, dropped = 0;
    cap_source_stats(cap->src, &received, &dropped);
    fprintf(stderr,
            "rstwatch capture: stopped: %llu packets (%llu after RSTs), %zu flows "
            "(%llu forgotten), %llu RSTs judged: %llu peer, %llu path, %llu local, "
            "%llu unknown; %llu dropped by the kernel\n",
            (unsigned long long)cap->packets, (unsigned long long)cap->window_packets,
            cap_flows_count(cap->flows), (unsigned long long)cap_flows_evicted(cap->flows),
            (unsigned long long)(cap->verdicts[0] + cap->verdicts[1] + cap->verdicts[2] +
                                 cap->verdicts[3]),
            (unsigned long long)cap->verdicts[0], (unsigned long long)cap->verdicts[1],
            (unsigned long long)cap->verdicts[2], (unsigned long long)cap->verdicts[3],
            (unsigned long long)dropped);
}

/* RSTWATCH_LOG and RSTWATCH_RATE from the environment (each bad value warns
 * once and keeps its default), then the flags over them. */
static int configure_output(const struct capture_opts *o)
{
    struct options opt;
    options_load(&opt, (const char *(*)(const char *))getenv, sink_warn);
    if (o->rate && options_parse_rate(o->rate, &opt.rate)) {
        fprintf(stderr, "rstwatch capture: --rate: cannot parse '%.60s' (%s)\n", o->rate,
                "off | burst=N,interval=DUR,budget=SIZE/DUR,summary=DUR");
        return -1;
    }
    sink_configure(o->log ? o->log : opt.log);
    ratelimit_configure(&opt.rate);
    return 0;
}

int cmd_capture(int argc, char **argv)
{
    struct capture_opts o = {
        .iface = "any", .flows = DEFAULT_FLOWS, .window_ms = DEFAULT_WINDOW_MS};
    int usage_error = parse_args(argc, argv, &o);
    int rc = cli_usage_or_help(usage_error, o.help, usage);
    if (rc >= 0) return rc;
    clock_init();
    if (configure_output(&o)) return 2;

    static struct capture cap;
    char err[512];
    cap.window_us = o.window_ms * 1000;
    cap.flows = cap_flows_new((size_t)o.flows);
    if (!cap.flows) {
        fputs("rstwatch capture: out of memory for the flow table\n", stderr);
        return 1;
    }
    cap.src = cap_source_open(o.iface, o.lean, err, sizeof err);
    if (!cap.src) {
        fprintf(stderr, "rstwatch capture: %s\n", err);
        cap_flows_free(cap.flows);
        return 1;
    }
    if (o.pcap && cap_source_save_to(cap.src, o.pcap, err, sizeof err) < 0) {
        fprintf(stderr, "rstwatch capture: %s\n", err);
        cap_source_close(cap.src);
        cap_flows_free(cap.flows);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "rstwatch capture: listening on %s\n", o.iface);

    rc = 0;
    while (!stop_signal) {
        if (cap_source_poll(cap.src, POLL_MS, on_packet, &cap, err, sizeof err) < 0) {
            fprintf(stderr, "rstwatch capture: %s\n", err);
            rc = 1;
            break;
        }
        int64_t now = wall_us();
        judge_due(&cap, now);
        update_watch(&cap, now);
        cap_source_tick(cap.src, now);
        cap_source_flush(cap.src);
        summary_poll();
    }
    /* What is already in the kernel's buffers belongs to the run. */
    if (!rc) cap_source_poll(cap.src, 0, on_packet, &cap, err, sizeof err);
    judge_due(&cap, -1);
    summary_flush("exit");
    print_counts(&cap);
    cap_source_close(cap.src);
    cap_flows_free(cap.flows);
    return rc;
}
