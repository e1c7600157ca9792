// SPDX-License-Identifier: MIT
/* hostile_proc.c: a host program that does what real programs do to a
 * preloaded library at the worst moment: signals whose handlers do socket
 * I/O, SIGPIPE in every disposition, fork while other threads are in the
 * middle of socket calls, vfork/posix_spawn, exec, daemon(), close_range,
 * dup2 onto a live socket, fd numbers near the kernel's limit and ten
 * thousand simultaneous connections. tests/hardening.bats runs each scenario
 * bare and under the shim and compares what a user sees.
 *
 *   hostile_proc SCENARIO [ARGS...]        (HOST is always an IPv4 literal)
 *
 *   sigpipe HOST PORT DISPOSITION IO   connect to an http server, shutdown
 *                 (SHUT_WR), then one IO (send|write|writev|sendmsg) of 1 byte:
 *                 EPIPE. DISPOSITION: default (killed by SIGPIPE), ignore,
 *                 nosignal (MSG_NOSIGNAL; IO must be send or sendmsg),
 *                 handler (counts), blocked (sigprocmask; reports pending).
 *                 Prints "<io>: <strerror>" and "sigpipe handled=N pending=P".
 *   eintr HOST PORT        recv() on a silent server interrupted by SIGALRM
 *                 (handler without SA_RESTART): prints "recv: <strerror>".
 *   sigio HOST SILENT_PORT RST_PORT   main thread blocks in recv() on a silent
 *                 server; a SIGALRM handler connects to the resetting server,
 *                 sends a request and reads: prints "handler: <result>" and
 *                 "main: <result>".
 *   sigstorm HOST EVERY_PORT HTTP_PORT MS [MIN_RESETS MIN_HANDLER_OK]
 *                 for MS ms the main thread runs connections against an
 *                 every-Nth-resets server while a 1 ms interval timer's
 *                 handler runs whole HTTP exchanges against the http server,
 *                 and on until the main thread saw MIN_RESETS resets and the
 *                 handler finished MIN_HANDLER_OK exchanges (20 s at most: a
 *                 sanitized build on a loaded machine can be that slow):
 *                 prints "resets=R ok=O handler_ok=H handler_errors=E". Exit 0
 *                 unless a main-thread call failed otherwise.
 *   forkstorm HOST EVERY_PORT RST_PORT THREADS FORKS   THREADS threads run
 *                 connections against EVERY_PORT while the main thread forks
 *                 FORKS times; each child makes one connection to RST_PORT
 *                 (expects a reset) and exits. Prints "forks=F child_resets=C
 *                 thread_resets=R thread_ok=O" and one "child <pid>" line per
 *                 child; exit 124 on a deadlock (30 s watchdog).
 *   vfork HOST RST_PORT PROG [ARGS]   vfork + execv(PROG), wait; then one reset
 *                 connection in the parent. Prints "child=<pid> status=<s>"
 *                 and "parent: <result>".
 *   spawn  ...    the same with posix_spawn.
 *   rawclone HOST RST_PORT HOW   connects to the resetting server, then a
 *                 raw clone() (no fork handler runs; HOW: plain, or newpid
 *                 for CLONE_NEWPID, where the child's getpid() is 1); the child
 *                 moves the socket to fd 10 (dup2, close) and makes the
 *                 exchange there; then the parent closes its copy and makes
 *                 one reset connection. Prints "child getpid=<p> <result>",
 *                 "child=<pid> status=<s>" and "parent: <result>"; exit 77
 *                 when the kernel refuses the clone (no CLONE_NEWPID).
 *   execfds HOST RST_PORT SELF   one reset connection (so a record is due and
 *                 written), close it, then exec "SELF listfds".
 *   listfds       prints "fds: <n> <n> ..." for every open fd above 2 except the
 *                 one used to list them (with its readlink target).
 *   daemon HOST RST_PORT PIDFILE   daemon(0, 0); the daemon writes its pid to
 *                 PIDFILE.tmp, makes one reset connection, writes the result
 *                 after the pid, then renames PIDFILE.tmp to PIDFILE.
 *   closerange HOST HTTP_PORT RST_PORT HOW   opens 3 keep-alive connections
 *                 (one exchange each), then HOW: close_range | closefrom |
 *                 cloexec (close_range with CLOSE_RANGE_CLOEXEC, then close()
 *                 each); then one connection to RST_PORT on the lowest free fd.
 *                 Prints "fds=a,b,c" and "reset fd=<n>: <result>".
 *   dup2onto HOST HTTP_PORT RST_PORT   A = connection with one exchange to the
 *                 http server; B = connection to the resetting server;
 *                 dup2(B, A), close(B), request and read on A.
 *                 Prints "fd=<A>: <result>".
 *   highfd HOST RST_PORT FD   raises RLIMIT_NOFILE past FD, socket(),
 *                 dup2 onto FD, closes the original, connects FD, request,
 *                 read: prints "fd=<FD>: <result>"; exit 77 when the limit
 *                 cannot be raised.
 *   manyconns N   N simultaneous loopback connections to a listener of its
 *                 own whose accepted ends live in a forked child, all held
 *                 open; then the child aborts every one (SO_LINGER 0) and the
 *                 parent reads each: prints "conns=N open_at_once=M resets=R";
 *                 exit 77 when the fd limit cannot be raised to N+16.
 *   probe HOST RST_PORT   prints "shim=mapped|absent secure=<AT_SECURE>" and
 *                 the result of one reset connection (for set-uid tests).
 *
 * A "result" is "ok <n> bytes", "eof" or "<call>: <strerror(errno)>". */
#include "common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define PROG "hostile_proc"
#define REQUEST "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
#define REQUEST_CLOSE "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
#define WATCHDOG_S 30

extern char **environ;

static const char *host = "127.0.0.1";

static void usage(void)
{
    fprintf(stderr,
            "usage: " PROG " SCENARIO [ARGS...] (see the comment at the top of hostile_proc.c)\n");
    exit(2);
}

static int port_arg(const char *s)
{
    long p = parse_count(s, 65535);
    if (p <= 0) die(PROG, "bad port '%s'", s);
    return (int)p;
}

/* A connected blocking TCP socket to host:port, or -errno. */
static int tcp_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd, err;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die(PROG, "bad host '%s'", host);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -errno;
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EINTR) continue;
        err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Formats "ok N bytes" / "eof" / "call: strerror" into out. */
static void result_str(char *out, size_t len, const char *call, ssize_t r, int err)
{
    if (r > 0)
        snprintf(out, len, "ok %zd bytes", r);
    else if (r == 0)
        snprintf(out, len, "eof");
    else
        snprintf(out, len, "%s: %s", call, strerror(err));
}

/* One request on fd, then reads until EOF or error; the result into out.
 * Returns 1 when the exchange ended in a reset-family error. */
static int exchange(int fd, const char *req, char *out, size_t len)
{
    char buf[4096];
    ssize_t total = 0, r;
    int rc = send_all(fd, req, strlen(req));
    if (rc < 0) {
        result_str(out, len, "send", -1, -rc);
        return -rc == ECONNRESET || -rc == EPIPE;
    }
    for (;;) {
        r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        total += r;
    }
    if (r < 0) {
        int err = errno;
        result_str(out, len, "recv", -1, err);
        return err == ECONNRESET;
    }
    result_str(out, len, "recv", total, 0);
    return 0;
}

/* One request and one complete keep-alive response (resetd http answers
 * "ok\n" with Content-Length: 3): reads until the body is in. */
static int keepalive_exchange(int fd)
{
    char buf[4096];
    size_t have = 0;
    if (send_all(fd, REQUEST, strlen(REQUEST)) < 0) return -1;
    while (have < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end && strstr(buf, "\r\n\r\nok\n")) return 0;
    }
    return -1;
}

static void watchdog_handler(int sig)
{
    static const char msg[] = PROG ": watchdog fired (deadlock?)\n";
    (void)sig;
    (void)!write(2, msg, sizeof msg - 1);
    _exit(124);
}

/* A 30 s bound on the whole scenario, by SIGALRM in a process not otherwise using it. */
static void watchdog(void)
{
    signal(SIGALRM, watchdog_handler);
    alarm(WATCHDOG_S);
}

static int raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur >= want) return 0;
    if (rl.rlim_max < want) rl.rlim_max = want;
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

/* How many times each signal reached count_signal(), the handler that only counts. */
static volatile sig_atomic_t signal_count[NSIG];

static void count_signal(int sig)
{
    signal_count[sig]++;
}

/* ---- SIGPIPE -------------------------------------------------------------------- */

static int scenario_sigpipe(int argc, char **argv)
{
    if (argc != 4) usage();
    int port = port_arg(argv[1]);
    const char *disp = argv[2], *io = argv[3];
    int flags = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!strcmp(disp, "ignore"))
        signal(SIGPIPE, SIG_IGN);
    else if (!strcmp(disp, "nosignal"))
        flags = MSG_NOSIGNAL;
    else if (!strcmp(disp, "handler")) {
        struct sigaction sa = {.sa_handler = count_signal};
        sigaction(SIGPIPE, &sa, NULL);
    } else if (!strcmp(disp, "blocked"))
        sigprocmask(SIG_BLOCK, &set, NULL);
    else if (strcmp(disp, "default") != 0)
        usage();
    else
        signal(SIGPIPE, SIG_DFL);
    int fd = tcp_connect(port);
    if (fd < 0) die(PROG, "connect: %s", strerror(-fd));
    if (keepalive_exchange(fd) != 0) die(PROG, "the http exchange failed");
    shutdown(fd, SHUT_WR);
    printf("shut down fd=%d\n", fd);
    fflush(stdout);
    char byte = 'x';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r;
    if (!strcmp(io, "send"))
        r = send(fd, &byte, 1, flags);
    else if (!strcmp(io, "write"))
        r = write(fd, &byte, 1);
    else if (!strcmp(io, "writev"))
        r = writev(fd, &iov, 1);
    else if (!strcmp(io, "sendmsg"))
        r = sendmsg(fd, &mh, flags);
    else
        usage();
    int err = errno;
    printf("%s: %s\n", io, r < 0 ? strerror(err) : "sent");
    int pending = 0;
    if (!strcmp(disp, "blocked")) {
        sigset_t p;
        sigpending(&p);
        pending = sigismember(&p, SIGPIPE);
    }
    printf("sigpipe handled=%d pending=%d\n", (int)signal_count[SIGPIPE], pending);
    close(fd);
    return r < 0 ? 1 : 0;
}

/* ---- EINTR and socket I/O in signal handlers ---------------------------------- */

/* Arms SIGALRM 200 ms from now, then blocks in recv() on fd; describes its result in res. */
static void recv_until_alarm(int fd, char *res, size_t len)
{
    struct itimerval it = {.it_value = {.tv_usec = 200000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char buf[64];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    result_str(res, len, "recv", r, errno);
}

static int scenario_eintr(int argc, char **argv)
{
    if (argc != 2) usage();
    int fd = tcp_connect(port_arg(argv[1]));
    if (fd < 0) die(PROG, "connect: %s", strerror(-fd));
    struct sigaction sa = {.sa_handler = count_signal}; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    char res[128];
    recv_until_alarm(fd, res, sizeof res);
    printf("%s\nalarms=%d\n", res, (int)signal_count[SIGALRM]);
    close(fd);
    return 0;
}

static int sigio_rst_port;
static char sigio_result[160];

static void on_alarm_do_io(int sig)
{
    int saved = errno;
    (void)sig;
    int fd = tcp_connect(sigio_rst_port);
    if (fd < 0) {
        snprintf(sigio_result, sizeof sigio_result, "connect: %s", strerror(-fd));
    } else {
        exchange(fd, REQUEST, sigio_result, sizeof sigio_result);
        close(fd);
    }
    errno = saved;
}

static int scenario_sigio(int argc, char **argv)
{
    if (argc != 3) usage();
    int fd = tcp_connect(port_arg(argv[1]));
    if (fd < 0) die(PROG, "connect: %s", strerror(-fd));
    sigio_rst_port = port_arg(argv[2]);
    struct sigaction sa = {.sa_handler = on_alarm_do_io, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char res[128];
    recv_until_alarm(fd, res, sizeof res);
    printf("handler: %s\nmain: %s\n", sigio_result[0] ? sigio_result : "(did not run)", res);
    close(fd);
    return 0;
}

static int storm_http_port;
static volatile sig_atomic_t storm_handler_ok, storm_handler_errors;

static void on_tick_do_http(int sig)
{
    int saved = errno;
    char res[160];
    (void)sig;
    int fd = tcp_connect(storm_http_port);
    if (fd < 0) {
        storm_handler_errors++;
    } else {
        /* Connection: close, so the exchange ends at EOF */
        if (exchange(fd, REQUEST_CLOSE, res, sizeof res) == 0 && !strncmp(res, "ok ", 3))
            storm_handler_ok++;
        else
            storm_handler_errors++;
        close(fd);
    }
    errno = saved;
}

static int scenario_sigstorm(int argc, char **argv)
{
    if (argc != 4 && argc != 6) usage();
    int every_port = port_arg(argv[1]);
    storm_http_port = port_arg(argv[2]);
    long ms = parse_count(argv[3], 60000);
    long min_resets = argc == 6 ? parse_count(argv[4], 1000000) : 0;
    long min_handler = argc == 6 ? parse_count(argv[5], 1000000) : 0;
    if (ms < 0 || min_resets < 0 || min_handler < 0) usage();
    /* SIGALRM is the storm's own timer here, so the bound is the loop's deadline
     * and the test's timeout. */
    struct sigaction sa = {.sa_handler = on_tick_do_http, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_interval = {.tv_usec = 1000}, .it_value = {.tv_usec = 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    long resets = 0, ok = 0, errors = 0;
    long long start = now_ms(), end = start + ms, cap = start + (ms > 20000 ? ms : 20000);
    char res[160];
    for (;;) {
        long long now = now_ms();
        if (now >= cap ||
            (now >= end && resets >= min_resets && storm_handler_ok >= (int)min_handler))
            break;
        int fd = tcp_connect(every_port);
        if (fd < 0) {
            if (errors++ < 3) fprintf(stderr, PROG ": connect: %s\n", strerror(-fd));
            continue;
        }
        int reset = exchange(fd, REQUEST_CLOSE, res, sizeof res);
        if (reset)
            resets++;
        else if (!strncmp(res, "ok ", 3))
            ok++;
        else if (errors++ < 3)
            fprintf(stderr, PROG ": %s\n", res);
        close(fd);
    }
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("resets=%ld ok=%ld handler_ok=%d handler_errors=%d\n", resets, ok, (int)storm_handler_ok,
           (int)storm_handler_errors);
    return errors == 0 ? 0 : 1;
}

/* ---- fork while other threads are inside socket calls -------------------------- */

static struct {
    int every_port;
    atomic_int stop;
    atomic_long resets, ok, errors;
} storm;

static void *fork_storm_worker(void *arg)
{
    char res[160];
    (void)arg;
    while (!atomic_load(&storm.stop)) {
        int fd = tcp_connect(storm.every_port);
        if (fd < 0) {
            atomic_fetch_add(&storm.errors, 1);
            continue;
        }
        int reset = exchange(fd, REQUEST_CLOSE, res, sizeof res);
        if (reset)
            atomic_fetch_add(&storm.resets, 1);
        else if (!strncmp(res, "ok ", 3))
            atomic_fetch_add(&storm.ok, 1);
        else
            atomic_fetch_add(&storm.errors, 1);
        close(fd);
    }
    return NULL;
}

static int scenario_forkstorm(int argc, char **argv)
{
    if (argc != 5) usage();
    storm.every_port = port_arg(argv[1]);
    int rst_port = port_arg(argv[2]);
    long nthreads = parse_count(argv[3], 64), forks = parse_count(argv[4], 10000);
    if (nthreads < 1 || forks < 0) usage();
    watchdog();
    pthread_t tids[64];
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, fork_storm_worker, NULL) != 0)
            die(PROG, "pthread_create failed");
    long child_resets = 0;
    pid_t *pids = calloc((size_t)forks + 1, sizeof *pids);
    for (long i = 0; i < forks; i++) {
        sleep_ms(5); /* let the workers get well into their calls */
        pid_t pid = fork();
        if (pid < 0) die(PROG, "fork: %s", strerror(errno));
        if (pid == 0) {
            char res[160];
            alarm(10);
            int fd = tcp_connect(rst_port);
            if (fd < 0) _exit(3);
            int reset = exchange(fd, REQUEST, res, sizeof res);
            close(fd);
            _exit(reset ? 0 : 1);
        }
        pids[i] = pid;
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            child_resets++;
        else
            fprintf(stderr, PROG ": child %d ended with status %#x\n", (int)pid, st);
    }
    atomic_store(&storm.stop, 1);
    for (long i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    printf("forks=%ld child_resets=%ld thread_resets=%ld thread_ok=%ld\n", forks, child_resets,
           atomic_load(&storm.resets), atomic_load(&storm.ok));
    for (long i = 0; i < forks; i++)
        printf("child %d\n", (int)pids[i]);
    free(pids);
    return atomic_load(&storm.errors) == 0 && child_resets == forks ? 0 : 1;
}

/* ---- vfork, posix_spawn, exec, daemon -------------------------------------------- */

static int one_reset(int port, char *out, size_t len)
{
    int fd = tcp_connect(port);
    if (fd < 0) {
        result_str(out, len, "connect", -1, -fd);
        return 0;
    }
    int reset = exchange(fd, REQUEST, out, len);
    close(fd);
    return reset;
}

static int scenario_spawn(int argc, char **argv, int use_vfork)
{
    if (argc < 3) usage();
    int rst_port = port_arg(argv[1]);
    char **child_argv = argv + 2;
    pid_t pid;
    if (use_vfork) {
        pid = vfork();
        if (pid == 0) {
            execv(child_argv[0], child_argv);
            _exit(127);
        }
        if (pid < 0) die(PROG, "vfork: %s", strerror(errno));
    } else {
        int rc = posix_spawn(&pid, child_argv[0], NULL, NULL, child_argv, environ);
        if (rc != 0) die(PROG, "posix_spawn: %s", strerror(rc));
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    printf("child=%d status=%d\n", (int)pid, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    char res[160];
    one_reset(rst_port, res, sizeof res);
    printf("parent: %s\n", res);
    return 0;
}

static int scenario_rawclone(int argc, char **argv)
{
    if (argc != 3) usage();
    int rst_port = port_arg(argv[1]);
    long flags = SIGCHLD;
    if (!strcmp(argv[2], "newpid"))
        flags |= CLONE_NEWPID;
    else if (strcmp(argv[2], "plain") != 0)
        usage();
    int fd = tcp_connect(rst_port);
    if (fd < 0) die(PROG, "connect: %s", strerror(-fd));
    fflush(stdout);
    long pid = syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0 && (errno == EPERM || errno == EINVAL)) return 77;
    if (pid < 0) die(PROG, "clone: %s", strerror(errno));
    if (pid == 0) {
        char res[160];
        if (dup2(fd, 10) != 10) _exit(3);
        close(fd);
        exchange(10, REQUEST, res, sizeof res);
        printf("child getpid=%ld %s\n", (long)syscall(SYS_getpid), res);
        fflush(stdout);
        _exit(0);
    }
    int st;
    while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR)
        ;
    printf("child=%ld status=%d\n", pid, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    close(fd);
    char res[160];
    one_reset(rst_port, res, sizeof res);
    printf("parent: %s\n", res);
    return 0;
}

static int scenario_listfds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) die(PROG, "opendir: %s", strerror(errno));
    int self = dirfd(d);
    struct dirent *e;
    printf("fds:");
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == self) continue;
        char link[64], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        printf(" %d->%s", fd, target);
    }
    printf("\n");
    closedir(d);
    return 0;
}

static int scenario_execfds(int argc, char **argv)
{
    if (argc != 3) usage();
    char res[160];
    one_reset(port_arg(argv[1]), res, sizeof res);
    printf("before exec: %s\n", res);
    fflush(stdout);
    execl(argv[2], argv[2], "listfds", (char *)NULL);
    die(PROG, "exec %s: %s", argv[2], strerror(errno));
}

static int scenario_daemon(int argc, char **argv)
{
    if (argc != 3) usage();
    int port = port_arg(argv[1]);
    const char *pidfile = argv[2];
    char tmp[4096], text[512], res[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", pidfile);
    printf("parent=%d\n", (int)getpid());
    fflush(stdout);
    if (daemon(0, 0) != 0) die(PROG, "daemon: %s", strerror(errno));
    alarm(20);
    one_reset(port, res, sizeof res);
    snprintf(text, sizeof text, "%d\n%s\n", (int)getpid(), res);
    FILE *f = fopen(tmp, "w");
    if (!f) _exit(3);
    fputs(text, f);
    fclose(f);
    rename(tmp, pidfile);
    return 0;
}

/* ---- fd plumbing ----------------------------------------------------------------- */

static int scenario_closerange(int argc, char **argv)
{
    if (argc != 4) usage();
    int http = port_arg(argv[1]), rst = port_arg(argv[2]);
    const char *how = argv[3];
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = tcp_connect(http);
        if (fds[i] < 0 || keepalive_exchange(fds[i]) != 0) die(PROG, "http exchange %d failed", i);
    }
    printf("fds=%d,%d,%d\n", fds[0], fds[1], fds[2]);
    int lo = fds[0];
    if (!strcmp(how, "close_range")) {
        if (close_range((unsigned)lo, ~0u, 0) != 0) die(PROG, "close_range: %s", strerror(errno));
    } else if (!strcmp(how, "closefrom")) {
        closefrom(lo);
    } else if (!strcmp(how, "cloexec")) {
        if (close_range((unsigned)lo, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
            die(PROG, "close_range: %s", strerror(errno));
        /* still open and still the same connections: one more exchange each */
        for (int i = 0; i < 3; i++)
            if (keepalive_exchange(fds[i]) != 0)
                die(PROG, "exchange after CLOSE_RANGE_CLOEXEC failed on fd %d", fds[i]);
        for (int i = 0; i < 3; i++)
            close(fds[i]);
    } else {
        usage();
    }
    char res[160];
    int fd = tcp_connect(rst);
    if (fd < 0) die(PROG, "connect: %s", strerror(-fd));
    exchange(fd, REQUEST, res, sizeof res);
    printf("reset fd=%d: %s\n", fd, res);
    close(fd);
    return 0;
}

/* One request and its answer on fd, printed as "fd=N: result"; then closes fd. Returns 0. */
static int exchange_and_close(int fd)
{
    char res[160];
    exchange(fd, REQUEST, res, sizeof res);
    printf("fd=%d: %s\n", fd, res);
    close(fd);
    return 0;
}

static int scenario_dup2onto(int argc, char **argv)
{
    if (argc != 3) usage();
    int a = tcp_connect(port_arg(argv[1]));
    if (a < 0 || keepalive_exchange(a) != 0) die(PROG, "http exchange failed");
    int b = tcp_connect(port_arg(argv[2]));
    if (b < 0) die(PROG, "connect: %s", strerror(-b));
    if (dup2(b, a) != a) die(PROG, "dup2: %s", strerror(errno));
    close(b);
    return exchange_and_close(a);
}

static int scenario_highfd(int argc, char **argv)
{
    if (argc != 3) usage();
    int port = port_arg(argv[1]);
    long want = parse_count(argv[2], 1 << 30);
    if (want < 3) usage();
    if (raise_nofile((rlim_t)want + 1) != 0) {
        printf("cannot raise RLIMIT_NOFILE to %ld: %s\n", want + 1, strerror(errno));
        return 77;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || dup2(s, (int)want) != (int)want) die(PROG, "socket/dup2: %s", strerror(errno));
    close(s);
    int fd = (int)want;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die(PROG, "connect: %s", strerror(errno));
    return exchange_and_close(fd);
}

static int scenario_manyconns(int argc, char **argv)
{
    if (argc != 2) usage();
    long n = parse_count(argv[1], 500000);
    if (n < 1) usage();
    if (raise_nofile((rlim_t)(n + 16)) != 0) {
        printf("cannot raise RLIMIT_NOFILE to %ld: %s\n", n + 16, strerror(errno));
        return 77;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1024) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0)
        die(PROG, "listener: %s", strerror(errno));
    int go[2];
    if (pipe(go) != 0) die(PROG, "pipe: %s", strerror(errno));
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) die(PROG, "out of memory");
    /* The server ends live in a child (one process cannot hold 2N fds under
     * a 20000 hard limit): it accepts all N, waits for "go", aborts them all. */
    pid_t pid = fork();
    if (pid < 0) die(PROG, "fork: %s", strerror(errno));
    if (pid == 0) {
        char c;
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        alarm(WATCHDOG_S);
        close(go[1]);
        for (long i = 0; i < n; i++) {
            fds[i] = accept(lfd, NULL, NULL);
            if (fds[i] < 0) die(PROG, "accept #%ld: %s", i, strerror(errno));
        }
        if (read(go[0], &c, 1) != 1) _exit(3);
        for (long i = 0; i < n; i++) {
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(fds[i]);
        }
        _exit(0);
    }
    watchdog();
    close(go[0]);
    close(lfd);
    for (long i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0)
            die(PROG, "connect #%ld: %s", i, strerror(errno));
    }
    /* every connection is open at once: ask the kernel about each */
    long open_now = 0;
    for (long i = 0; i < n; i++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        if (getpeername(fds[i], (struct sockaddr *)&peer, &pl) == 0) open_now++;
    }
    if (write(go[1], "g", 1) != 1) die(PROG, "write: %s", strerror(errno));
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die(PROG, "the server child failed (status %#x)", st);
    long resets = 0;
    char buf[16];
    for (long i = 0; i < n; i++) {
        ssize_t r = recv(fds[i], buf, sizeof buf, 0);
        if (r < 0 && errno == ECONNRESET) resets++;
        close(fds[i]);
    }
    printf("conns=%ld open_at_once=%ld resets=%ld\n", n, open_now, resets);
    free(fds);
    return 0;
}

/* ---- set-uid probe --------------------------------------------------------------- */

static int scenario_probe(int argc, char **argv)
{
    if (argc != 2) usage();
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    int mapped = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "librstwatch")) mapped = 1;
    if (f) fclose(f);
    printf("shim=%s secure=%lu\n", mapped ? "mapped" : "absent", getauxval(AT_SECURE));
    char res[160];
    one_reset(port_arg(argv[1]), res, sizeof res);
    printf("%s\n", res);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    const char *s = argv[1];
    argc--, argv++;
    if (argc >= 2 && strcmp(s, "manyconns") != 0 && strcmp(s, "listfds") != 0)
        host = argv[1], argc--, argv++;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(s, "sigpipe")) return scenario_sigpipe(argc, argv);
    if (!strcmp(s, "eintr")) return scenario_eintr(argc, argv);
    if (!strcmp(s, "sigio")) return scenario_sigio(argc, argv);
    if (!strcmp(s, "sigstorm")) return scenario_sigstorm(argc, argv);
    if (!strcmp(s, "forkstorm")) return scenario_forkstorm(argc, argv);
    if (!strcmp(s, "vfork")) return scenario_spawn(argc, argv, 1);
    if (!strcmp(s, "spawn")) return scenario_spawn(argc, argv, 0);
    if (!strcmp(s, "rawclone")) return scenario_rawclone(argc, argv);
    if (!strcmp(s, "execfds")) return scenario_execfds(argc, argv);
    if (!strcmp(s, "listfds")) return scenario_listfds();
    if (!strcmp(s, "daemon")) return scenario_daemon(argc, argv);
    if (!strcmp(s, "closerange")) return scenario_closerange(argc, argv);
    if (!strcmp(s, "dup2onto")) return scenario_dup2onto(argc, argv);
    if (!strcmp(s, "highfd")) return scenario_highfd(argc, argv);
    if (!strcmp(s, "manyconns")) return scenario_manyconns(argc, argv);
    if (!strcmp(s, "probe")) return scenario_probe(argc, argv);
    usage();
}
