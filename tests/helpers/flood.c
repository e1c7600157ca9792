// SPDX-License-Identifier: MIT
/* flood.c: a flood of clients that abort their connection (SO_LINGER {1,0}
 * then close: the peer sees a reset), and the server that takes it — for the
 * rate-limit tests and `make bench`.
 *
 *   flood serve PORTFILE N       listens on 127.0.0.1:0 (port written to
 *                                PORTFILE), then N times: accept, read until
 *                                EOF or an error (the client's reset), close.
 *                                Prints "conns=N resets=R secs=S rate=C/s
 *                                cpu=S cpu_rate=C/s": wall time from the
 *                                first accept to the last close, and the
 *                                server's own CPU time (user + system).
 *   flood abort PORT N [SECONDS] N times: connect, send one byte, abort.
 *                                With SECONDS, spread evenly over that time. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static const char *prog = "flood";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int serve(const char *port_file, long n)
{
    int l = listen_loopback_port_file(prog, 4096, port_file);
    long resets = 0;
    double t0 = 0;
    char buf[4096];
    for (long i = 0; i < n; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0) die(prog, "accept: %s", strerror(errno));
        if (i == 0) t0 = now_s();
        for (;;) {
            ssize_t r = read(c, buf, sizeof buf);
            if (r > 0) continue;
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) resets++;
            break;
        }
        close(c);
    }
    double secs = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("conns=%ld resets=%ld secs=%.3f rate=%.0f/s cpu=%.3f cpu_rate=%.0f/s\n", n, resets, secs,
           secs > 0 ? (double)n / secs : 0.0, cpu, cpu > 0 ? (double)n / cpu : 0.0);
    return 0;
}

static int abort_clients(long port, long n, double seconds)
{
    struct sockaddr_in a = loopback_addr(port);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (seconds > 0) {
            double due = t0 + seconds * (double)i / (double)n, now = now_s();
            if (due > now) sleep_ms((long)((due - now) * 1000));
        }
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a))
            die(prog, "connect #%ld: %s", i, strerror(errno));
        if (write(s, "x", 1) != 1) die(prog, "write #%ld: %s", i, strerror(errno));
        if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg))
            die(prog, "SO_LINGER: %s", strerror(errno));
        close(s);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "serve")) {
        long n = parse_count(argv[3], 10000000);
        if (n < 1) die(prog, "bad N");
        return serve(argv[2], n);
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "abort")) {
        long port = parse_count(argv[2], 65535), n = parse_count(argv[3], 10000000);
        double secs = argc == 5 ? atof(argv[4]) : 0;
        if (port < 1 || n < 1 || secs < 0) die(prog, "bad PORT, N or SECONDS");
        return abort_clients(port, n, secs);
    }
    fprintf(stderr, "usage: flood serve PORTFILE N | flood abort PORT N [SECONDS]\n");
    return 2;
}
