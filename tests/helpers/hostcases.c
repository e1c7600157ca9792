// SPDX-License-Identifier: MIT
/* hostcases.c: programs that do what real hosts do and an earlier shim broke,
 * for tests/host.bats. Each prints what it observed; a crash, a hang or a
 * different line is what the test catches.
 *
 *   hostcases sigalrm-socket MS
 *       A SIGALRM every 0.5 ms whose handler does socket() + close() (both
 *       async-signal-safe), while the main thread mallocs and frees for MS
 *       milliseconds. Prints "survived N signals".
 *   hostcases blocked-close PORT1 PORT2 [PATH]
 *       Thread A blocks in recv() on a connection to PORT1; the main thread
 *       closes that fd, connects to PORT2 (the kernel hands out the same
 *       number), sends "GET PATH" and reads the response. PORT1's server
 *       resets A's connection meanwhile. Prints each side's outcome and the
 *       main thread's tid.
 *   hostcases sendmmsg-sigpipe PORT
 *       Connects to a server that closes at once, waits for its FIN, then
 *       sendmmsg()s two messages without MSG_NOSIGNAL: the first goes out,
 *       the second meets the peer's RST. Prints the return value and how
 *       many SIGPIPEs the handler saw (the kernel sends one).
 *   hostcases write-sigpipe PORT
 *       The same with two write()s: the second fails with EPIPE. Prints the
 *       siginfo an SA_SIGINFO handler got (the kernel's: SI_USER from this
 *       process). */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>

#define PROG "hostcases"

static volatile sig_atomic_t signals;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) close(fd);
    signals++;
    errno = saved;
}

static int sigalrm_socket(long ms)
{
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 500}, {0, 500}};
    setitimer(ITIMER_REAL, &it, NULL);
    long long end = now_ms() + ms;
    void *keep[64] = {0};
    unsigned x = 12345;
    while (now_ms() < end) {
        for (int i = 0; i < 64; i++) {
            x = x * 1103515245u + 12345u;
            free(keep[i]);
            keep[i] = malloc(16 + (x >> 16) % 4096);
            if (keep[i]) memset(keep[i], (int)i, 16);
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    printf("survived %s signals\n", signals > 100 ? "many" : "few");
    return 0;
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die(PROG, "connect %d: %s", port, strerror(errno));
    return fd;
}

static int blocked_fd;
static char a_result[128];

static void *blocked_reader(void *arg)
{
    (void)arg;
    char buf[256];
    ssize_t n = recv(blocked_fd, buf, sizeof buf, 0);
    if (n < 0)
        snprintf(a_result, sizeof a_result, "thread A: recv -1 %s", strerror(errno));
    else
        snprintf(a_result, sizeof a_result, "thread A: recv %zd", n);
    return NULL;
}

static const char *describe(ssize_t n, const char *buf, int err, char *out, size_t cap)
{
    if (n < 0)
        snprintf(out, cap, "recv -1 %s", strerror(err));
    else
        snprintf(out, cap, "recv %zd %s", n, strstr(buf, "200 OK") ? "200 OK" : "other");
    return out;
}

static int blocked_close(int port1, int port2, const char *path)
{
    blocked_fd = connect_port(port1);
    const char *req1 = "GET /first HTTP/1.1\r\nHost: t\r\n\r\n";
    if (send(blocked_fd, req1, strlen(req1), 0) < 0) die(PROG, "send: %s", strerror(errno));
    pthread_t a;
    pthread_create(&a, NULL, blocked_reader, NULL);
    sleep_ms(100); /* A is blocked in recv() now */
    int old = blocked_fd;
    close(old); /* A keeps the socket alive inside its recv() */
    int fd = connect_port(port2);
    printf("main: new connection %s the closed fd number\n",
           fd == old ? "reuses" : "does not reuse");
    char req2[256];
    snprintf(req2, sizeof req2, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    if (send(fd, req2, strlen(req2), 0) < 0) die(PROG, "send: %s", strerror(errno));
    pthread_join(a, NULL);
    printf("%s\n", a_result);
    char buf[512] = {0}, line[128];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    printf("main: %s\n", describe(n, buf, errno, line, sizeof line));
    printf("main tid %ld\n", (long)syscall(SYS_gettid));
    return 0;
}

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static int sendmmsg_sigpipe(int port)
{
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigaction(SIGPIPE, &sa, NULL);
    int fd = connect_port(port);
    sleep_ms(200); /* the server has closed: its FIN is in */
    char a[19] = "first message ....", b[19] = "second message ...";
    struct iovec va = {a, sizeof a}, vb = {b, sizeof b};
    struct mmsghdr m[2];
    memset(m, 0, sizeof m);
    m[0].msg_hdr.msg_iov = &va, m[0].msg_hdr.msg_iovlen = 1;
    m[1].msg_hdr.msg_iov = &vb, m[1].msg_hdr.msg_iovlen = 1;
    int r = sendmmsg(fd, m, 2, 0);
    printf("sendmmsg returned %d (%s), SIGPIPE seen %d time(s)\n", r,
           r < 0 ? strerror(errno) : "ok", (int)sigpipes);
    return 0;
}

static volatile sig_atomic_t pipe_code = 99, pipe_from_self, pipe_uid_ours;

static void on_sigpipe_info(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    pipe_code = si->si_code;
    pipe_from_self = si->si_pid == getpid();
    pipe_uid_ours = si->si_uid == getuid();
}

static int write_sigpipe(int port)
{
    struct sigaction sa = {.sa_sigaction = on_sigpipe_info, .sa_flags = SA_SIGINFO};
    sigaction(SIGPIPE, &sa, NULL);
    int fd = connect_port(port);
    sleep_ms(200);                     /* the server has closed: its FIN is in */
    ssize_t r = write(fd, "first", 5); /* goes out; the peer answers with an RST */
    sleep_ms(100);
    r = write(fd, "second", 6);
    printf("write returned %zd (%s), SIGPIPE si_code %d, from this process %d, our uid %d\n", r,
           r < 0 ? strerror(errno) : "ok", (int)pipe_code, (int)pipe_from_self, (int)pipe_uid_ours);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && strcmp(argv[1], "sigalrm-socket") == 0)
        return sigalrm_socket(parse_count(argv[2], 600000));
    if (argc >= 4 && strcmp(argv[1], "blocked-close") == 0)
        return blocked_close((int)parse_count(argv[2], 65535), (int)parse_count(argv[3], 65535),
                             argc >= 5 ? argv[4] : "/second");
    if (argc >= 3 && strcmp(argv[1], "sendmmsg-sigpipe") == 0)
        return sendmmsg_sigpipe((int)parse_count(argv[2], 65535));
    if (argc >= 3 && strcmp(argv[1], "write-sigpipe") == 0)
        return write_sigpipe((int)parse_count(argv[2], 65535));
    die(PROG, "usage: hostcases sigalrm-socket MS | blocked-close PORT1 PORT2 [PATH] | "
              "sendmmsg-sigpipe PORT | write-sigpipe PORT");
}
