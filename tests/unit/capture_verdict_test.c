// SPDX-License-Identifier: MIT
/* capture_verdict_test.c: rstwatch capture's verdict on an RST, case by case
 * (cli/capture_verdict.c). Each row is a flow's baseline and its RST as the
 * packets would give them, and the verdict it must get: the TTL alone from
 * the same stack is enough for `path`, an IP ID in the peer's sequence
 * outweighs it unless the race is there too, a different stack's TTL needs
 * the race or the timing, and anything weaker is `unknown`, never `path`.
 * Prints TAP; exits 1 on any failure. */
#include <string.h>
#include <sys/socket.h>

#include "capture.h"
#include "tap.h"

struct row {
    const char *name;
    enum cap_dir dir;
    int loopback;    /* 1: the RST came over loopback (the flow did not); 2: both did */
    unsigned peer;   /* peer packets seen before the RST */
    int peer_ttl;    /* their TTL */
    int peer_ip_id;  /* the last one's IP ID, -1 none */
    int syn;         /* we sent the SYN */
    int64_t rtt_us;  /* -1 unknown */
    int64_t data_us; /* our last data, before the RST; 0 none */
    int rst_ttl, rst_ip_id;
    unsigned after;   /* peer packets after the RST */
    const char *want; /* rst_from */
    int hops, peer_hops;
    const char *hint; /* a part of the hint */
};

static const struct row rows[] = {
    {"our own RST", CAP_OUT, 0, 3, 63, 10, 1, 50, 0, 64, 20, 0, "local", -1, -1, "this host sent"},
    {"an RST over loopback for a flow on eth0", CAP_IN, 1, 3, 63, 10, 1, 50, 0, 64, 0, 0, "local",
     -1, -1, "own firewall"},
    {"a loopback connection's RST, no baseline kept there: the peer's end", CAP_IN, 2, 0, 0, -1, 0,
     -1, 0, 64, 0, 0, "peer", -1, -1, "the server's end sent the reset"},
    {"a loopback connection's RST, whatever its TTL: still this host, no hops", CAP_IN, 2, 3, 64,
     10, 1, 50, 0, 50, 0, 0, "peer", -1, -1, "over loopback"},
    {"no packet of the peer's to compare", CAP_IN, 0, 0, 0, -1, 0, -1, 0, 64, 0, 0, "unknown", 1,
     -1, "no packet of the server's own"},
    {"an RST answering our SYN", CAP_IN, 0, 0, 0, -1, 1, -1, 0, 63, 0, 0, "unknown", 2, -1,
     "answered our SYN"},
    {"the peer's TTL, its IP ID in sequence", CAP_IN, 0, 3, 63, 100, 1, 50, 0, 63, 101, 0, "peer",
     2, 2, "the server's host (its kernel or firewall"},
    {"the peer's TTL, IP ID 0 (its kernel, no socket)", CAP_IN, 0, 3, 63, 100, 1, 50, 0, 63, 0, 0,
     "peer", 2, 2, "matches the server's own packets"},
    {"one hop closer, same stack: path", CAP_IN, 0, 3, 63, 100, 1, 50, 0, 64, 0, 0, "path", 1, 2,
     "a device on the path sent the reset"},
    {"five hops closer, same stack: path", CAP_IN, 0, 3, 52, 100, 1, 50, 0, 57, 0, 0, "path", 8, 13,
     "8 hops away"},
    {"closer, but its IP ID continues the peer's: unknown", CAP_IN, 0, 3, 63, 100, 1, 50, 0, 64,
     140, 0, "unknown", 1, 2, "IP ID follows"},
    {"closer, IP ID in sequence, and the race: path", CAP_IN, 0, 3, 63, 100, 1, 50, 0, 64, 140, 2,
     "path", 1, 2, "2 of the server's packets arrived after it"},
    {"closer by TTL from another stack, nothing else: unknown", CAP_IN, 0, 3, 120, 100, 1, 50, 0,
     63, 5000, 0, "unknown", 2, 9, "who sent the reset is unclear"},
    {"closer by TTL from another stack, with the race: path", CAP_IN, 0, 3, 120, 100, 1, 50, 0, 63,
     5000, 1, "path", 2, 9, "arrived after it"},
    {"closer by TTL from another stack, faster than a round trip: path", CAP_IN, 0, 3, 120, 100, 1,
     4000, 1000, 63, 5000, 0, "path", 2, 9, "faster than the"},
    {"farther than the peer: unknown", CAP_IN, 0, 3, 63, 100, 1, 50, 0, 60, 0, 0, "unknown", 5, 2,
     "unclear"},
    {"the peer's TTL but its packets kept coming: unknown", CAP_IN, 0, 3, 63, 100, 1, 50, 0, 63, 0,
     3, "unknown", 2, 2, "unclear"},
};

int main(void)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        struct cap_flow f;
        memset(&f, 0, sizeof f);
        f.id.family = AF_INET;
        f.role = CAP_ROLE_CLIENT;
        f.iface = r->loopback == 2 ? "lo" : "eth0";
        f.loopback = r->loopback == 2;
        f.peer_pkts = r->peer;
        f.peer_ttl_min = f.peer_ttl_max = r->peer_ttl;
        f.peer_ip_id = r->peer_ip_id;
        f.t_syn_us = r->syn ? 1000000 : 0;
        f.rtt_us = r->rtt_us;
        f.peer_after = r->after;
        int64_t t_rst = 2000000;
        f.t_data_out_us = r->data_us ? t_rst - r->data_us : 0;
        f.rst = (struct cap_pkt){.t_us = t_rst,
                                 .iface = r->loopback ? "lo" : "eth0",
                                 .loopback = r->loopback,
                                 .family = AF_INET,
                                 .dir = r->dir,
                                 .flags = TCPF_RST,
                                 .ttl = r->rst_ttl,
                                 .ip_id = r->rst_ip_id};
        struct cap_verdict v;
        cap_verdict_judge(&f, &v);
        int good = !strcmp(v.rst_from, r->want) && v.hops == r->hops &&
                   v.peer_hops == r->peer_hops && strstr(v.hint, r->hint) != NULL &&
                   (!strcmp(v.rst_from, "path")) == !strcmp(v.code, "path_reset");
        ok(good, "%s: %s (hops %d, peer %d)", r->name, v.rst_from, v.hops, v.peer_hops);
        if (!good)
            printf("# want %s hops %d peer %d, hint with '%s'; hint: %s\n", r->want, r->hops,
                   r->peer_hops, r->hint, v.hint);
    }
    ok(cap_initial_ttl(1) == 32 && cap_initial_ttl(33) == 64 && cap_initial_ttl(64) == 64 &&
           cap_initial_ttl(65) == 128 && cap_initial_ttl(200) == 255,
       "initial TTLs: 32, 64, 128, 255");
    return tap_done();
}
