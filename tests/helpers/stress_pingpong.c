// SPDX-License-Identifier: MIT
/* stress_pingpong.c: many threads, each making connections with a long
 * timeline that end in a reset, so every record line is large (tens of KiB
 * with RSTWATCH_EVENTS=1024: far beyond PIPE_BUF) and several processes
 * appending to one log file would tear or interleave lines if a record were
 * ever written in more than one write().
 *
 *   stress_pingpong THREADS CONNS EXCHANGES
 *
 * Each thread owns a loopback listener and both ends of each of its
 * connections: connect, accept, EXCHANGES one-byte ping-pongs (two events per
 * exchange on the client end: send then recv never merge), then the server
 * end aborts (SO_LINGER {1,0} + close) and the client's next recv() fails
 * with ECONNRESET. Prints "conns=N resets=R errors=E" (N = THREADS*CONNS);
 * exit 0 when errors=0. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define PROG "stress_pingpong"

static long conns_per_thread, exchanges;
static atomic_long total_resets, total_errors;

static void *worker(void *arg)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    (void)arg;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0)
        die(PROG, "listener: %s", strerror(errno));
    for (long i = 0; i < conns_per_thread; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) != 0)
            die(PROG, "connect: %s", strerror(errno));
        int s = accept(lfd, NULL, NULL);
        if (s < 0) die(PROG, "accept: %s", strerror(errno));
        char b = 'p';
        int bad = 0;
        for (long k = 0; k < exchanges && !bad; k++) {
            bad = send(c, &b, 1, MSG_NOSIGNAL) != 1 || recv(s, &b, 1, 0) != 1 ||
                  send(s, &b, 1, MSG_NOSIGNAL) != 1 || recv(c, &b, 1, 0) != 1;
        }
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(s);
        ssize_t r = recv(c, &b, 1, 0);
        if (!bad && r < 0 && errno == ECONNRESET)
            atomic_fetch_add(&total_resets, 1);
        else if (atomic_fetch_add(&total_errors, 1) < 3)
            fprintf(stderr, PROG ": connection %ld did not end in a reset (r=%zd: %s)\n", i, r,
                    strerror(errno));
        close(c);
    }
    close(lfd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) die(PROG, "usage: " PROG " THREADS CONNS EXCHANGES");
    long nthreads = parse_count(argv[1], 256);
    conns_per_thread = parse_count(argv[2], 1000000);
    exchanges = parse_count(argv[3], 100000);
    if (nthreads < 1 || conns_per_thread < 0 || exchanges < 0) die(PROG, "bad numbers");
    pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
    if (!tids) die(PROG, "out of memory");
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0) die(PROG, "pthread_create failed");
    for (long i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    printf("conns=%ld resets=%ld errors=%ld\n", nthreads * conns_per_thread,
           atomic_load(&total_resets), atomic_load(&total_errors));
    return atomic_load(&total_errors) == 0 ? 0 : 1;
}
