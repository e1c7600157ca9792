// SPDX-License-Identifier: MIT
/* bench_pingpong.c: TCP loopback ping-pong for `make bench`.
 *
 *   bench_pingpong server PORTFILE [--io send|write]
 *       listens on 127.0.0.1:0, writes the port to PORTFILE (atomically),
 *       accepts one connection and echoes 64-byte messages until EOF.
 *   bench_pingpong client PORT N [--io send|write] [--size BYTES]
 *       N round trips of BYTES (default 64); prints "ns_per_rt=<float>".
 *
 * --io send uses send()/recv(), --io write uses write()/read(). Both sides
 * set TCP_NODELAY. The client also prints "wchar=<n> syscw=<n>" read from
 * /proc/self/io at exit (the zero-extra-I/O check compares them to bare). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char *prog = "bench_pingpong";
static int use_write;

static ssize_t out(int fd, const void *b, size_t n)
{
    return use_write ? write(fd, b, n) : send(fd, b, n, 0);
}

static ssize_t in(int fd, void *b, size_t n)
{
    return use_write ? read(fd, b, n) : recv(fd, b, n, 0);
}

/* Reads exactly n bytes; 0 at a clean EOF before the first byte. */
static int in_full(int fd, char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = in(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die(prog, "read: %s", strerror(errno));
        if (r == 0) {
            if (got == 0) return 0;
            die(prog, "short read");
        }
        got += (size_t)r;
    }
    return 1;
}

static void out_full(int fd, const char *b, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = out(fd, b + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die(prog, "write: %s", strerror(errno));
        done += (size_t)r;
    }
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void parse_opts(int argc, char **argv, int from, size_t *size)
{
    for (int i = from; i < argc; i++) {
        if (!strcmp(argv[i], "--io") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "send"))
                use_write = 0;
            else if (!strcmp(argv[i], "write"))
                use_write = 1;
            else
                die(prog, "--io send|write");
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            long s = parse_count(argv[++i], 1 << 20);
            if (s < 1) die(prog, "bad --size");
            *size = (size_t)s;
        } else {
            die(prog, "unknown option '%s'", argv[i]);
        }
    }
}

static void print_io(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return;
    char line[128];
    unsigned long long wchar = 0, syscw = 0, v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "wchar: %llu", &v) == 1) wchar = v;
        if (sscanf(line, "syscw: %llu", &v) == 1) syscw = v;
    }
    fclose(f);
    printf("wchar=%llu syscw=%llu\n", wchar, syscw);
}

int main(int argc, char **argv)
{
    size_t size = 64;
    if (argc >= 3 && !strcmp(argv[1], "server")) {
        parse_opts(argc, argv, 3, &size);
        int l = listen_loopback_port_file(prog, 4, argv[2]);
        int c = accept(l, NULL, NULL);
        if (c < 0) die(prog, "accept: %s", strerror(errno));
        nodelay(c);
        char *buf = malloc(1 << 20);
        /* the first 4 bytes say the message size */
        uint32_t sz;
        if (!in_full(c, (char *)&sz, sizeof sz)) return 0;
        if (sz == 0 || sz > (1u << 20)) die(prog, "bad size");
        while (in_full(c, buf, sz))
            out_full(c, buf, sz);
        close(c);
        close(l);
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "client")) {
        parse_opts(argc, argv, 4, &size);
        long port = parse_count(argv[2], 65535);
        long n = parse_count(argv[3], 1000000000);
        if (port < 1 || n < 1) die(prog, "bad PORT or N");
        struct sockaddr_in a = loopback_addr(port);
        int s = connect_tcp(prog, &a);
        nodelay(s);
        char *buf = calloc(1, size);
        uint32_t sz = (uint32_t)size;
        out_full(s, (const char *)&sz, sizeof sz);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < n; i++) {
            out_full(s, buf, size);
            if (!in_full(s, buf, size)) die(prog, "server closed");
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        close(s);
        double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
        printf("ns_per_rt=%.1f\n", ns / (double)n);
        print_io();
        return 0;
    }
    die(prog, "usage: bench_pingpong server PORTFILE [--io send|write] | client PORT N [--io "
              "send|write] [--size B]");
}
