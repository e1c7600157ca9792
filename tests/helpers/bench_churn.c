// SPDX-License-Identifier: MIT
/* bench_churn.c: HTTP connection churn at a fixed rate, for `make bench`.
 *
 *   bench_churn ADDR PORT RATE SECONDS [PATH]
 *
 * Opens RATE connections a second to ADDR:PORT for SECONDS, each sending
 * "GET PATH HTTP/1.1" with "Connection: close" and reading the response to
 * the server's close, at most 512 at once. Prints one line:
 *   "done=N failed=F late=L"
 * done: responses read to EOF; failed: connections that failed; late: ticks
 * that could not open what was due (512 in flight, or a failed socket()).
 *
 * wrk measures how many requests a second a server can take; this measures
 * what a steady load costs the machine. At a rate the machine can keep up
 * with, the CPU a connection costs (the machine's busy time over done) does
 * not swing with the scheduling of two saturated CPUs, which on a shared VM
 * moves wrk's req/s by more than a few percent from one second to the next. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define INFLIGHT 512

static const char *prog = "bench_churn";

struct conn {
    int fd;
    size_t sent;
};

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) die(prog, "usage: %s ADDR PORT RATE SECONDS [PATH]", argv[0]);
    struct sockaddr_in a = {.sin_family = AF_INET};
    long port = parse_count(argv[2], 65535), rate = parse_count(argv[3], 1000000),
         secs = parse_count(argv[4], 3600);
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || port <= 0 || rate <= 0 || secs <= 0)
        die(prog, "bad address, port, rate or duration");
    a.sin_port = htons((uint16_t)port);
    char req[512];
    int reqlen = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                          argc == 6 ? argv[5] : "/", argv[1]);
    if (reqlen <= 0 || (size_t)reqlen >= sizeof req) die(prog, "path too long");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die(prog, "epoll_create1: %s", strerror(errno));
    static struct conn conns[INFLIGHT];
    int free_slots[INFLIGHT], nfree = INFLIGHT;
    for (int i = 0; i < INFLIGHT; i++) {
        conns[i].fd = -1;
        free_slots[i] = INFLIGHT - 1 - i;
    }
    long long start = now_us(), end = start + secs * 1000000LL;
    long long opened = 0, done = 0, failed = 0, late = 0;
    char buf[16384];
    for (;;) {
        long long t = now_us();
        if (t < end) { /* open what is due by now */
            long long due = (t - start) * rate / 1000000;
            int short_of = 0;
            while (opened < due) {
                if (!nfree) {
                    short_of = 1;
                    break;
                }
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                    short_of = 1;
                    break;
                }
                opened++;
                if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
                    close(fd);
                    failed++;
                    continue;
                }
                int s = free_slots[--nfree];
                conns[s] = (struct conn){fd, 0};
                struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)s};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            }
            if (short_of) late++;
        } else if (nfree == INFLIGHT) {
            break;
        } else if (t > end + 5000000) { /* a server that stopped answering */
            failed += INFLIGHT - nfree;
            break;
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 1);
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];
            int finished = 0, ok = 0;
            if ((evs[i].events & EPOLLOUT) && c->sent < (size_t)reqlen) {
                ssize_t w = send(c->fd, req + c->sent, (size_t)reqlen - c->sent, MSG_NOSIGNAL);
                if (w > 0) c->sent += (size_t)w;
                if (w < 0 && errno != EAGAIN) finished = 1;
                if (c->sent == (size_t)reqlen) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!finished && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                ssize_t r;
                while ((r = recv(c->fd, buf, sizeof buf, 0)) > 0) {
                }
                if (r == 0) {
                    finished = 1;
                    ok = c->sent == (size_t)reqlen;
                } else if (errno != EAGAIN) {
                    finished = 1;
                }
            }
            if (!finished) continue;
            close(c->fd); /* closing also takes it out of the epoll set */
            c->fd = -1;
            free_slots[nfree++] = (int)evs[i].data.u32;
            if (ok)
                done++;
            else
                failed++;
        }
    }
    printf("done=%lld failed=%lld late=%lld\n", done, failed, late);
    return 0;
}
