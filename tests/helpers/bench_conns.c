// SPDX-License-Identifier: MIT
/* bench_conns.c: memory per connection, for `make bench`.
 *
 *   bench_conns accept PORTFILE N   listens on 127.0.0.1:0 (port written to
 *                                   PORTFILE), accepts N connections, holds
 *                                   them until its stdin closes.
 *   bench_conns hold PORT N         reads VmRSS from /proc/self/status, opens N
 *                                   client connections to PORT and sends one
 *                                   byte on each (so each has an event), reads
 *                                   VmRSS again; prints
 *                                   "rss_before_kib=A rss_after_kib=B".
 *   bench_conns pipes N             the same with N/2 pipes (N fds), a write
 *                                   and a read on each: untracked fds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static const char *prog = "bench_conns";

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) die(prog, "/proc/self/status: %s", strerror(errno));
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1) break;
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "accept")) {
        long n = parse_count(argv[3], 1000000);
        int l = listen_loopback_port_file(prog, 4096, argv[2]);
        for (long i = 0; i < n; i++)
            if (accept(l, NULL, NULL) < 0) die(prog, "accept: %s", strerror(errno));
        char c;
        while (read(0, &c, 1) > 0) /* hold until stdin closes */
            ;
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "hold")) {
        long port = parse_count(argv[2], 65535), n = parse_count(argv[3], 1000000);
        if (port < 1 || n < 1) die(prog, "bad PORT or N");
        long before = rss_kib();
        struct sockaddr_in a = loopback_addr(port);
        char c = 'x';
        for (long i = 0; i < n; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a))
                die(prog, "connect #%ld: %s", i, strerror(errno));
            if (send(s, &c, 1, 0) != 1) die(prog, "send: %s", strerror(errno));
        }
        long after = rss_kib();
        printf("rss_before_kib=%ld rss_after_kib=%ld\n", before, after);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "pipes")) {
        long n = parse_count(argv[2], 1000000);
        if (n < 2) die(prog, "bad N");
        long before = rss_kib();
        char c = 'x';
        for (long i = 0; i < n / 2; i++) {
            int p[2];
            if (pipe(p)) die(prog, "pipe #%ld: %s", i, strerror(errno));
            if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1) die(prog, "pipe io");
        }
        long after = rss_kib();
        printf("rss_before_kib=%ld rss_after_kib=%ld\n", before, after);
        return 0;
    }
    die(prog, "usage: bench_conns accept PORTFILE N | hold PORT N | pipes N");
}
