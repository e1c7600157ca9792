// SPDX-License-Identifier: MIT
/* bench_eagain.c: the cheapest intercepted call, for `make bench`.
 *
 *   bench_eagain N [BATCHES]
 *       on a tracked TCP loopback socket (connect()ed client, nothing to
 *       read), calls recv(MSG_DONTWAIT) -> EAGAIN N times per batch and
 *       prints "ns_per_call=<min over batches>" (the min filters out
 *       preemption by other load on the machine). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char *prog = "bench_eagain";

int main(int argc, char **argv)
{
    if (argc < 2) die(prog, "usage: bench_eagain N [BATCHES]");
    long n = parse_count(argv[1], 1000000000), batches = argc > 2 ? parse_count(argv[2], 1000) : 7;
    if (n < 1 || batches < 1) die(prog, "bad N or BATCHES");
    int s, srv;
    loopback_pair(prog, &s, &srv);
    char c;
    double best = 1e30;
    for (long b = 0; b < batches; b++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < n; i++) {
            if (recv(s, &c, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN) die(prog, "expected EAGAIN");
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns =
            ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n;
        if (ns < best) best = ns;
    }
    printf("ns_per_call=%.1f\n", best);
    return 0;
}
