// SPDX-License-Identifier: MIT
/* bench_bulk.c: bulk TCP transfer over loopback for `make bench`.
 *
 *   bench_bulk recv PORTFILE        listens on 127.0.0.1:0 (port written to
 *                                   PORTFILE), reads one connection to EOF in
 *                                   64 KiB read()s, answers the byte count.
 *   bench_bulk send PORT MIB        writes MIB MiB in 64 KiB write()s, shuts
 *                                   down, waits for the count; prints
 *                                   "mib_per_s=<float> ns=<elapsed>". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define CHUNK (64 * 1024)

static const char *prog = "bench_bulk";

int main(int argc, char **argv)
{
    static char buf[CHUNK];
    if (argc == 3 && !strcmp(argv[1], "recv")) {
        int l = listen_loopback_port_file(prog, 4, argv[2]);
        int c = accept(l, NULL, NULL);
        if (c < 0) die(prog, "accept: %s", strerror(errno));
        uint64_t total = 0;
        for (;;) {
            ssize_t r = read(c, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) die(prog, "read: %s", strerror(errno));
            if (r == 0) break;
            total += (uint64_t)r;
        }
        if (write(c, &total, sizeof total) != sizeof total) die(prog, "write count");
        close(c);
        close(l);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "send")) {
        long port = parse_count(argv[2], 65535), mib = parse_count(argv[3], 1 << 20);
        if (port < 1 || mib < 1) die(prog, "bad PORT or MIB");
        struct sockaddr_in a = loopback_addr(port);
        int s = connect_tcp(prog, &a);
        memset(buf, 'b', sizeof buf);
        uint64_t want = (uint64_t)mib << 20, sent = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (sent < want) {
            size_t off = sent % CHUNK;
            ssize_t r = write(s, buf + off, CHUNK - off);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) die(prog, "write: %s", strerror(errno));
            sent += (uint64_t)r;
        }
        shutdown(s, SHUT_WR);
        uint64_t got = 0;
        if (read(s, &got, sizeof got) != sizeof got || got != want)
            die(prog, "receiver count mismatch");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        close(s);
        double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
        printf("mib_per_s=%.1f ns=%.0f\n", (double)mib / (ns / 1e9), ns);
        return 0;
    }
    die(prog, "usage: bench_bulk recv PORTFILE | send PORT MIB");
}
