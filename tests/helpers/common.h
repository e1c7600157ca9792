// SPDX-License-Identifier: MIT
/* common.h: small shared pieces of the test helpers (resetd, client, benchmarks):
 * option parsing of numbers, monotonic time, sleeping, atomic file writes,
 * loopback TCP sockets and "fail loudly" exits. Header-only so every helper stays one .c file. */
#ifndef RSTWATCH_TEST_COMMON_H
#define RSTWATCH_TEST_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Prints "<prog>: <message>" on stderr and exits with status 2 (usage/setup error). */
static inline void die(const char *prog, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
static inline void die(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* Writes msg on stderr and exits with status at once; async-signal-safe, for signal handlers. */
static inline void exit_with_message(const char *msg, int status)
{
    if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
        /* nothing useful to do */
    }
    _exit(status);
}

/* Parses a non-negative decimal integer no larger than max; returns -1 when invalid. */
static inline long parse_count(const char *s, long max)
{
    char *end = NULL;
    long v;
    if (s == NULL || *s == '\0') return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > max) return -1;
    return v;
}

/* Milliseconds on CLOCK_MONOTONIC. */
static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds (restarting after signals). */
static inline void sleep_ms(long ms)
{
    struct timespec ts;
    if (ms <= 0) return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Writes text to path atomically (temp file in the same directory + rename),
 * so a concurrent reader sees either the old or the new content, never a part.
 * Returns 0 or -errno. */
static inline int write_file_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    size_t len = strlen(text);
    ssize_t n;
    int fd, rc = 0;
    static unsigned long serial;

    /* The serial keeps concurrent writers in one process apart; callers hold a lock. */
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%lu", path, (long)getpid(), serial++) >=
        (int)sizeof tmp)
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    n = write(fd, text, len);
    if (n < 0 || (size_t)n != len) rc = n < 0 ? -errno : -EIO;
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc != 0) unlink(tmp);
    return rc;
}

/* The address 127.0.0.1:port (port 0: the kernel chooses, for bind). */
static inline struct sockaddr_in loopback_addr(long port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

/* A TCP listener on 127.0.0.1 with a kernel-chosen port, its address in *addr; dies on
 * failure. */
static inline int listen_loopback(const char *prog, int backlog, struct sockaddr_in *addr)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof *addr;
    *addr = loopback_addr(0);
    if (l < 0 || bind(l, (struct sockaddr *)addr, sizeof *addr) || listen(l, backlog) ||
        getsockname(l, (struct sockaddr *)addr, &len))
        die(prog, "listen: %s", strerror(errno));
    return l;
}

/* A blocking TCP connection to addr; dies on failure. */
static inline int connect_tcp(const char *prog, const struct sockaddr_in *addr)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (const struct sockaddr *)addr, sizeof *addr))
        die(prog, "connect: %s", strerror(errno));
    return s;
}

/* Both ends of one loopback TCP connection (its listener closed); dies on failure. */
static inline void loopback_pair(const char *prog, int *client, int *server)
{
    struct sockaddr_in a;
    int l = listen_loopback(prog, 1, &a);
    *client = connect_tcp(prog, &a);
    *server = accept(l, NULL, NULL);
    if (*server < 0) die(prog, "accept: %s", strerror(errno));
    close(l);
}

/* A TCP listener on 127.0.0.1, kernel-chosen port, its number written
 * atomically to port_file (the benchmarks' rendezvous); dies on failure. */
static inline int listen_loopback_port_file(const char *prog, int backlog, const char *port_file)
{
    struct sockaddr_in a;
    int l = listen_loopback(prog, backlog, &a);
    char text[16];
    snprintf(text, sizeof text, "%d\n", ntohs(a.sin_port));
    int rc = write_file_atomic(port_file, text);
    if (rc < 0) die(prog, "%s: %s", port_file, strerror(-rc));
    return l;
}

#endif
