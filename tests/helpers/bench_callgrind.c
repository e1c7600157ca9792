// SPDX-License-Identifier: MIT
/* bench_callgrind.c: the callgrind driver of `make bench`. Does N round trips
 * of intercepted calls inside one non-inlined function, bench_region(), so
 * `valgrind --tool=callgrind --toggle-collect=bench_region` counts exactly
 * those calls (and whatever a preloaded shim does inside them):
 *
 *   bench_callgrind send N    TCP loopback pair (client connect()ed, server
 *                             accept()ed: both tracked): per iteration client
 *                             send, server recv, server send, client recv
 *   bench_callgrind write N   the same with write()/read()
 *   bench_callgrind pipe N    a pipe: write, read (untracked fds)
 *   bench_callgrind file N    a regular file: pwrite-free write/lseek/read
 *                             (write + read counted; lseek is not hooked)
 *   bench_callgrind clock N   clock_gettime(CLOCK_MONOTONIC) only (what the
 *                             clock read costs under the same instrumentation)
 *   bench_callgrind none 0    nothing: the process's whole cost is start-up
 *
 * Prints "calls=<intercepted calls inside the region>". Warm-up calls before
 * the region resolve lazy PLT entries so the region holds only steady state. */
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

static const char *prog = "bench_callgrind";

static void tcp_pair(int *client, int *server)
{
    loopback_pair(prog, client, server);
    int one = 1;
    setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

enum mode { M_SEND, M_WRITE, M_PIPE, M_FILE, M_CLOCK, M_NONE };

/* Returns the number of intercepted calls made. */
__attribute__((noinline)) static long round_trips(enum mode m, int a, int b, long n)
{
    char c = 'x';
    long calls = 0;
    for (long i = 0; i < n; i++) {
        switch (m) {
        case M_SEND:
            if (send(a, &c, 1, 0) != 1 || recv(b, &c, 1, 0) != 1 || send(b, &c, 1, 0) != 1 ||
                recv(a, &c, 1, 0) != 1)
                die(prog, "send/recv: %s", strerror(errno));
            calls += 4;
            break;
        case M_WRITE:
            if (write(a, &c, 1) != 1 || read(b, &c, 1) != 1 || write(b, &c, 1) != 1 ||
                read(a, &c, 1) != 1)
                die(prog, "write/read: %s", strerror(errno));
            calls += 4;
            break;
        case M_PIPE:
            if (write(b, &c, 1) != 1 || read(a, &c, 1) != 1) die(prog, "pipe: %s", strerror(errno));
            calls += 2;
            break;
        case M_FILE:
            if (write(a, &c, 1) != 1 || lseek(a, -1, SEEK_CUR) < 0 || read(a, &c, 1) != 1)
                die(prog, "file: %s", strerror(errno));
            calls += 2;
            break;
        case M_CLOCK: {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            calls += 1;
            break;
        }
        case M_NONE: break;
        }
    }
    return calls;
}

/* The only function callgrind collects (--toggle-collect): the warm-up
 * calls round_trips() directly, so its one-time costs (lazy binding, the
 * shim's first dlsym of each real function) stay outside the count. */
__attribute__((noinline)) static long bench_region(enum mode m, int a, int b, long n)
{
    return round_trips(m, a, b, n);
}

int main(int argc, char **argv)
{
    if (argc != 3) die(prog, "usage: bench_callgrind send|write|pipe|file|clock|none N");
    long n = parse_count(argv[2], 100000000);
    if (n < 0) die(prog, "bad N '%s'", argv[2]);
    enum mode m;
    int a = -1, b = -1;
    if (!strcmp(argv[1], "send") || !strcmp(argv[1], "write")) {
        m = argv[1][0] == 's' ? M_SEND : M_WRITE;
        tcp_pair(&a, &b);
    } else if (!strcmp(argv[1], "pipe")) {
        int p[2];
        if (pipe(p)) die(prog, "pipe: %s", strerror(errno));
        m = M_PIPE, a = p[0], b = p[1];
    } else if (!strcmp(argv[1], "file")) {
        char path[] = "/tmp/bench_callgrind.XXXXXX";
        a = mkstemp(path);
        if (a < 0) die(prog, "mkstemp: %s", strerror(errno));
        unlink(path);
        m = M_FILE;
    } else if (!strcmp(argv[1], "clock")) {
        m = M_CLOCK;
    } else if (!strcmp(argv[1], "none")) {
        m = M_NONE;
    } else {
        die(prog, "unknown mode '%s'", argv[1]);
    }
    if (m != M_NONE) round_trips(m, a, b, 16); /* warm-up: lazy binding, first events */
    long calls = bench_region(m, a, b, n);
    printf("calls=%ld\n", calls);
    return 0;
}
