// SPDX-License-Identifier: MIT
/* evloop_client.c: a minimal event-loop HTTP client, the way libevent/libuv
 * style programs talk to a server: one non-blocking socket registered with
 * epoll ONCE (EPOLL_CTL_ADD right after socket(), never modified or re-added),
 * then every connect, write and read is driven by epoll_wait() readiness.
 * It exists to check that a transparent reconnect/replay (which replaces the
 * socket under the app's fd number) keeps the app's epoll registration: if the
 * registration were lost, this client would wait for an event that never
 * comes and report "epoll_wait: timed out".
 *
 *   evloop_client [--et] [--requests K] [--method M] [--timeout-ms T] HOST PORT
 *
 *   --et            register EPOLLIN|EPOLLOUT|EPOLLET (edge-triggered: the
 *                   client drains every read and write until EAGAIN before
 *                   waiting again); default level-triggered EPOLLIN|EPOLLOUT.
 *                   Either way the interest set is fixed for the whole run;
 *                   the loop ignores events it does not need at the moment
 *   --requests K    K requests on the one connection (keep-alive), default 2
 *   --method M      request method (default GET); requests are
 *                   "M /<i> HTTP/1.1\r\nHost: x\r\n\r\n"
 *   --timeout-ms T  bound for each epoll_wait (default 5000)
 *
 * Every event must carry the cookie the client registered (data.u64); an
 * event with any other data is reported as "epoll_wait: foreign event".
 *
 * Output: "fd=<n>", then per request "response <i>: <status line> body=<n>"
 * or the failure "<op>: <strerror>" / "<op>: unexpected end of stream" /
 * "epoll_wait: timed out". Exit 0 all responses complete, 1 a failure,
 * 2 usage. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define PROG "evloop_client"
#define COOKIE 0x5eed5eedc0ffee11ull
#define BUF_MAX 65536

static struct {
    bool et;
    long requests;
    const char *method;
    long timeout_ms;
} opt = {.requests = 2, .method = "GET", .timeout_ms = 5000};

static int sock = -1, ep = -1;

static void usage(void)
{
    fprintf(stderr, "usage: %s [--et] [--requests K] [--method M] [--timeout-ms T] HOST PORT\n",
            PROG);
    exit(2);
}

/* Prints a failure line and exits 1. */
static void fail(const char *op, int err) __attribute__((noreturn));
static void fail(const char *op, int err)
{
    if (err == 0)
        printf("%s: unexpected end of stream\n", op);
    else if (err == ETIMEDOUT && strcmp(op, "epoll_wait") == 0)
        printf("epoll_wait: timed out\n");
    else
        printf("%s: %s\n", op, strerror(err));
    fflush(stdout);
    exit(1);
}

/* Waits for one event on the socket; returns its event mask. */
static uint32_t wait_event(void)
{
    struct epoll_event ev;
    for (;;) {
        int r = epoll_wait(ep, &ev, 1, (int)opt.timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("epoll_wait", errno);
        if (r == 0) fail("epoll_wait", ETIMEDOUT);
        if (ev.data.u64 != COOKIE) {
            printf("epoll_wait: foreign event data %#llx\n", (unsigned long long)ev.data.u64);
            fflush(stdout);
            exit(1);
        }
        return ev.events;
    }
}

static void connect_to(const char *host, long port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | (opt.et ? EPOLLET : 0u),
                             .data.u64 = COOKIE};
    int err = 0;
    socklen_t len = sizeof err;

    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) die(PROG, "not an IPv4 address: %s", host);
    sock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sock < 0) die(PROG, "socket: %s", strerror(errno));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die(PROG, "epoll_create1: %s", strerror(errno));
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) != 0) die(PROG, "epoll_ctl: %s", strerror(errno));
    printf("fd=%d\n", sock);
    fflush(stdout);
    if (connect(sock, (struct sockaddr *)&sin, sizeof sin) == 0) return;
    if (errno != EINPROGRESS) fail("connect", errno);
    while (!(wait_event() & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        ;
    if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len) != 0) fail("getsockopt", errno);
    if (err != 0) fail("connect", err);
}

static void send_request(const char *req, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(sock, req + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            while (!(wait_event() & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                ;
            continue;
        }
        fail("send", n < 0 ? errno : 0);
    }
}

static long long content_length(const char *head)
{
    const char *p = head;
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0) return strtoll(p + 15, NULL, 10);
    }
    return 0;
}

/* Reads one response (head + Content-Length body); prints it. */
static void read_response(long i, bool head_only)
{
    static char buf[BUF_MAX + 1];
    size_t have = 0;
    char *end = NULL;
    long long want = -1;

    for (;;) {
        ssize_t n = recv(sock, buf + have, BUF_MAX - have, 0);
        if (n > 0) {
            have += (size_t)n;
            buf[have] = '\0';
            if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL)
                want = head_only ? 0 : content_length(buf);
            if (end != NULL && (long long)(have - (size_t)(end + 4 - buf)) >= want) break;
            if (have == BUF_MAX) fail("parse", EMSGSIZE);
            continue; /* drain: edge-triggered readiness is only reported once */
        }
        if (n == 0) fail("recv", 0);
        if (errno == EINTR) continue;
        if (errno != EAGAIN) fail("recv", errno);
        while (!(wait_event() & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
            ;
    }
    *end = '\0';
    printf("response %ld: %.*s body=%lld\n", i, (int)strcspn(buf, "\r\n"), buf,
           (long long)(have - (size_t)(end + 4 - buf)));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *host = NULL;
    long port = -1;
    char req[256];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--et") == 0) {
            opt.et = true;
        } else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc) {
            opt.requests = parse_count(argv[++i], 1000);
            if (opt.requests < 1) usage();
        } else if (strcmp(argv[i], "--method") == 0 && i + 1 < argc) {
            opt.method = argv[++i];
            if (strlen(opt.method) > 16) usage();
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            opt.timeout_ms = parse_count(argv[++i], 600000);
            if (opt.timeout_ms < 0) usage();
        } else if (host == NULL && argv[i][0] != '-') {
            host = argv[i];
        } else if (port < 0 && argv[i][0] != '-') {
            port = parse_count(argv[i], 65535);
            if (port < 1) usage();
        } else {
            usage();
        }
    }
    if (host == NULL || port < 0) usage();
    signal(SIGPIPE, SIG_IGN);
    alarm(30); /* a test must never hang */
    connect_to(host, port);
    for (long i = 1; i <= opt.requests; i++) {
        int n = snprintf(req, sizeof req, "%s /%ld HTTP/1.1\r\nHost: x\r\n\r\n", opt.method, i);
        send_request(req, (size_t)n);
        read_response(i, strcmp(opt.method, "HEAD") == 0);
    }
    close(sock);
    close(ep);
    return 0;
}
