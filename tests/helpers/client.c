// SPDX-License-Identifier: MIT
/* client.c: a small, deterministic socket client for the cases curl and
 * python cannot express: every send/receive call variant (including the
 * fortified __recv_chk), non-blocking connects driven by poll or epoll, dup'd
 * and reused fd numbers, fork, keep-alive request sequences, many threads,
 * IPv6 and AF_UNIX. Tests run it with and without the shim and compare.
 *
 *   client [options] HOST PORT
 *   client [options] --unix PATH
 *
 *   --request STR     request bytes; C escapes \r \n \t \\ \xHH are decoded
 *                     (default "GET / HTTP/1.1\r\nHost: x\r\n\r\n"; with
 *                     --threads "Connection: close" is added)
 *   --io VARIANT      send | write | writev | sendmsg | sendto  (default send)
 *   --rio VARIANT     recv | read | readv | recvmsg | recvfrom | recv_chk
 *                     (default recv; recv_chk calls glibc's __recv_chk)
 *   --nonblock        O_NONBLOCK connect, poll() for writability, SO_ERROR,
 *                     poll() before every read/write retry
 *   --epoll           the same driven by epoll_wait()
 *   --requests K      K requests on one connection (keep-alive), default 1
 *   --gap-ms G        sleep G ms between requests
 *   --ignore-eof      a response cut short by EOF prints "response <i>: eof"
 *                     and the next request is still sent on the same socket
 *                     (a naive keep-alive client writing after the peer's FIN)
 *   --pre-send-ms P   sleep P ms between connect and the first send (lets a
 *                     server's RST arrive first, so the send fails)
 *   --dup             dup() the socket, close the original, use the dup
 *   --dup2-onto N     dup2() the socket onto fd N, close the original
 *   --reuse-fd        first a short connection (sends "PING\n", reads one
 *                     reply or fails, closes), then the real one, which gets
 *                     the same fd number
 *   --fork            connect, fork; the child does the requests, the parent
 *                     closes its copy, waits and prints "child=<pid>"
 *   --threads N --conns M   N threads x M connections (connect, request, read
 *                     until close or error); prints "resets=R ok=O errors=E"
 *   --ipv6            connect to ::1 (HOST ignored)
 *   --unix PATH       AF_UNIX stream socket
 *   --timeout-ms T    bound for every poll/epoll wait (default 10000)
 *   --deadline-s S    whole-run bound (alarm), default 60: prints
 *                     "client: deadline reached" and exits 124
 *
 * Output (stdout, deterministic for a given server):
 *   first_fd=<n>                 (--reuse-fd) fd of the first connection
 *   first: <response or failure> (--reuse-fd) how the first connection ended
 *   fd=<n>                       fd used for the I/O
 *   response <i>: <status line> body=<bytes>   or   response <i>: <n> bytes
 *   <op>: <strerror(errno)>      the failing call, e.g. "recv: Connection reset by peer"
 *   <rio>: unexpected end of stream
 *   child=<pid>                  (--fork) printed by the parent
 * Exit: 0 success, 1 a call failed, 2 usage, 124 deadline. With --threads the
 * exit is 0 when errors=0 (resets are expected and only counted). */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#define PROG "client"
#define HEAD_MAX 16384
#define READ_CHUNK 16384

/* glibc's fortified recv; declared here so the call is exactly __recv_chk. */
extern ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);

enum out_variant { OUT_SEND, OUT_WRITE, OUT_WRITEV, OUT_SENDMSG, OUT_SENDTO };
enum in_variant { IN_RECV, IN_READ, IN_READV, IN_RECVMSG, IN_RECVFROM, IN_RECV_CHK };

static const char *const out_names[] = {"send", "write", "writev", "sendmsg", "sendto"};
static const char *const in_names[] = {"recv", "read", "readv", "recvmsg", "recvfrom", "recv_chk"};

static struct {
    char *request;
    size_t request_len;
    enum out_variant io;
    enum in_variant rio;
    bool nonblock;
    bool epoll;
    long requests;
    long gap_ms;
    long pre_send_ms;
    bool ignore_eof;
    bool dup;
    long dup2_onto;
    bool reuse_fd;
    bool fork;
    long threads;
    long conns;
    bool ipv6;
    const char *unix_path;
    long timeout_ms;
    long deadline_s;
    const char *host;
    long port;
} opt = {.requests = 1, .dup2_onto = -1, .conns = 1, .timeout_ms = 10000, .deadline_s = 60};

static struct sockaddr_storage target;
static socklen_t target_len;

/* One connection as the I/O functions see it. */
struct io {
    int fd;
    int epfd; /* -1 unless --epoll */
    bool registered;
};

/* How one failed step is reported: the call's name and errno (0 = EOF/short). */
struct failure {
    const char *op;
    int err;
};

static void on_deadline(int sig)
{
    (void)sig;
    exit_with_message("client: deadline reached\n", 124);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: client [--request STR] [--io send|write|writev|sendmsg|sendto]\n"
            "              [--rio recv|read|readv|recvmsg|recvfrom|recv_chk] [--nonblock|--epoll]\n"
            "              [--requests K] [--gap-ms G] [--pre-send-ms P] [--ignore-eof] [--dup] "
            "[--dup2-onto N] [--reuse-fd] [--fork]\n"
            "              [--threads N --conns M] [--ipv6] [--timeout-ms T] [--deadline-s S]\n"
            "              (HOST PORT | --unix PATH)\n");
    exit(2);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes C escapes into a new buffer; stores its length. */
static char *decode_escapes(const char *s, size_t *len_out)
{
    char *out = malloc(strlen(s) + 1);
    size_t n = 0;
    if (out == NULL) die(PROG, "out of memory");
    for (; *s; s++) {
        if (*s != '\\' || s[1] == '\0') {
            out[n++] = *s;
            continue;
        }
        s++;
        switch (*s) {
        case 'r': out[n++] = '\r'; break;
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case '0': out[n++] = '\0'; break;
        case 'x':
            if (hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0) {
                out[n++] = (char)(hex_digit(s[1]) * 16 + hex_digit(s[2]));
                s += 2;
                break;
            }
            out[n++] = 'x';
            break;
        default: out[n++] = *s; break;
        }
    }
    *len_out = n;
    return out;
}

static int variant_index(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0) return (int)i;
    die(PROG, "unknown I/O variant '%s'", name);
}

static const char *need_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) die(PROG, "option %s needs a value", argv[*i]);
    return argv[++*i];
}

static long need_number(int argc, char **argv, int *i, long min, long max)
{
    const char *name = argv[*i];
    const char *v = need_arg(argc, argv, i);
    long n = parse_count(v, max);
    if (n < min) die(PROG, "option %s: '%s' is not a number in %ld..%ld", name, v, min, max);
    return n;
}

static void parse_args(int argc, char **argv)
{
    const char *request = NULL;
    const char *positional[2];
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--request") == 0)
            request = need_arg(argc, argv, &i);
        else if (strcmp(a, "--io") == 0)
            opt.io = (enum out_variant)variant_index(out_names, 5, need_arg(argc, argv, &i));
        else if (strcmp(a, "--rio") == 0)
            opt.rio = (enum in_variant)variant_index(in_names, 6, need_arg(argc, argv, &i));
        else if (strcmp(a, "--nonblock") == 0)
            opt.nonblock = true;
        else if (strcmp(a, "--epoll") == 0)
            opt.nonblock = opt.epoll = true;
        else if (strcmp(a, "--requests") == 0)
            opt.requests = need_number(argc, argv, &i, 1, 1000000);
        else if (strcmp(a, "--gap-ms") == 0)
            opt.gap_ms = need_number(argc, argv, &i, 0, 3600L * 1000);
        else if (strcmp(a, "--ignore-eof") == 0)
            opt.ignore_eof = true;
        else if (strcmp(a, "--pre-send-ms") == 0)
            opt.pre_send_ms = need_number(argc, argv, &i, 0, 3600L * 1000);
        else if (strcmp(a, "--dup") == 0)
            opt.dup = true;
        else if (strcmp(a, "--dup2-onto") == 0)
            opt.dup2_onto = need_number(argc, argv, &i, 0, 65535);
        else if (strcmp(a, "--reuse-fd") == 0)
            opt.reuse_fd = true;
        else if (strcmp(a, "--fork") == 0)
            opt.fork = true;
        else if (strcmp(a, "--threads") == 0)
            opt.threads = need_number(argc, argv, &i, 1, 1024);
        else if (strcmp(a, "--conns") == 0)
            opt.conns = need_number(argc, argv, &i, 1, 10000000);
        else if (strcmp(a, "--ipv6") == 0)
            opt.ipv6 = true;
        else if (strcmp(a, "--unix") == 0)
            opt.unix_path = need_arg(argc, argv, &i);
        else if (strcmp(a, "--timeout-ms") == 0)
            opt.timeout_ms = need_number(argc, argv, &i, 1, 3600L * 1000);
        else if (strcmp(a, "--deadline-s") == 0)
            opt.deadline_s = need_number(argc, argv, &i, 0, 24L * 3600);
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            usage();
        else if (a[0] == '-' && a[1] == '-')
            die(PROG, "unknown option '%s'", a);
        else if (npos < 2)
            positional[npos++] = a;
        else
            usage();
    }
    if (opt.unix_path == NULL) {
        if (npos != 2) usage();
        opt.host = positional[0];
        opt.port = parse_count(positional[1], 65535);
        if (opt.port < 1) die(PROG, "bad port '%s'", positional[1]);
    } else if (npos != 0) {
        usage();
    }
    if (request == NULL)
        request = opt.threads > 0 ? "GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"
                                  : "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n";
    opt.request = decode_escapes(request, &opt.request_len);
    if (opt.request_len == 0) die(PROG, "empty request");
}

static void resolve_target(void)
{
    memset(&target, 0, sizeof target);
    if (opt.unix_path != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&target;
        if (strlen(opt.unix_path) >= sizeof un->sun_path) die(PROG, "unix path too long");
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, opt.unix_path);
        target_len = sizeof *un;
        return;
    }
    if (!opt.ipv6) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&target;
        if (inet_pton(AF_INET, opt.host, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)opt.port);
            target_len = sizeof *s4;
            return;
        }
    }
    {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&target;
        if (opt.ipv6)
            s6->sin6_addr = in6addr_loopback;
        else if (inet_pton(AF_INET6, opt.host, &s6->sin6_addr) != 1)
            die(PROG, "HOST must be a numeric IPv4 or IPv6 address: '%s'", opt.host);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)opt.port);
        target_len = sizeof *s6;
    }
}

/* ---- waiting -------------------------------------------------------------- */

/* Waits until the connection is ready for events (POLLIN or POLLOUT).
 * Returns 0 ready, -ETIMEDOUT or -errno. */
static int io_wait(struct io *io, short events)
{
    if (io->epfd < 0) {
        struct pollfd p = {.fd = io->fd, .events = events};
        for (;;) {
            int r = poll(&p, 1, (int)opt.timeout_ms);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return -errno;
            return r == 0 ? -ETIMEDOUT : 0;
        }
    } else {
        struct epoll_event ev = {.events = (events & POLLIN ? EPOLLIN : 0) |
                                           (events & POLLOUT ? EPOLLOUT : 0),
                                 .data.fd = io->fd};
        struct epoll_event got;
        if (epoll_ctl(io->epfd, io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io->fd, &ev) != 0)
            return -errno;
        io->registered = true;
        for (;;) {
            int r = epoll_wait(io->epfd, &got, 1, (int)opt.timeout_ms);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return -errno;
            return r == 0 ? -ETIMEDOUT : 0;
        }
    }
}

/* ---- connecting ------------------------------------------------------------ */

/* Opens a connected socket into io->fd. Returns 0 or -errno (the connect's). */
static int io_connect(struct io *io)
{
    int family = ((struct sockaddr *)&target)->sa_family;
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) return -errno;
    io->fd = fd;
    io->registered = false;
    if (opt.nonblock) {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -errno;
    }
    if (connect(fd, (struct sockaddr *)&target, target_len) == 0) return 0;
    if (errno != EINPROGRESS || !opt.nonblock) return -errno;
    {
        int err = 0, w = io_wait(io, POLLOUT);
        socklen_t len = sizeof err;
        if (w != 0) return w;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
        return -err;
    }
}

/* ---- sending and receiving ------------------------------------------------- */

static ssize_t out_call(int fd, const char *p, size_t n)
{
    size_t half = n / 2;
    struct iovec iov[2] = {{.iov_base = (void *)p, .iov_len = half},
                           {.iov_base = (void *)(p + half), .iov_len = n - half}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

    switch (opt.io) {
    case OUT_SEND: return send(fd, p, n, MSG_NOSIGNAL);
    case OUT_WRITE: return write(fd, p, n);
    case OUT_WRITEV: return writev(fd, iov, 2);
    case OUT_SENDMSG: return sendmsg(fd, &msg, MSG_NOSIGNAL);
    case OUT_SENDTO: return sendto(fd, p, n, MSG_NOSIGNAL, NULL, 0);
    }
    errno = EINVAL;
    return -1;
}

static ssize_t in_call(int fd, char *p, size_t n)
{
    size_t half = n / 2;
    struct iovec iov[2] = {{.iov_base = p, .iov_len = half},
                           {.iov_base = p + half, .iov_len = n - half}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;

    switch (opt.rio) {
    case IN_RECV: return recv(fd, p, n, 0);
    case IN_READ: return read(fd, p, n);
    case IN_READV: return readv(fd, iov, 2);
    case IN_RECVMSG: return recvmsg(fd, &msg, 0);
    case IN_RECVFROM: return recvfrom(fd, p, n, 0, (struct sockaddr *)&from, &from_len);
    case IN_RECV_CHK: return __recv_chk(fd, p, n, n, 0);
    }
    errno = EINVAL;
    return -1;
}

/* Sends all of buf with the chosen variant. Returns 0 or fills *f. */
static int io_send_all(struct io *io, const char *buf, size_t len, struct failure *f)
{
    while (len > 0) {
        ssize_t n = out_call(io->fd, buf, len);
        if (n < 0) {
            int w;
            if (errno == EINTR) continue;
            if (errno != EAGAIN || !opt.nonblock) {
                f->op = out_names[opt.io];
                f->err = errno;
                return -1;
            }
            w = io_wait(io, POLLOUT);
            if (w != 0) {
                f->op = "poll";
                f->err = -w;
                return -1;
            }
            continue;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Receives some bytes with the chosen variant (waiting first when
 * non-blocking). Returns bytes (0 = EOF) or -1 with *f filled. */
static ssize_t io_recv(struct io *io, char *buf, size_t cap, struct failure *f)
{
    for (;;) {
        ssize_t n;
        if (opt.nonblock) {
            int w = io_wait(io, POLLIN);
            if (w != 0) {
                f->op = opt.epoll ? "epoll_wait" : "poll";
                f->err = -w;
                return -1;
            }
        }
        n = in_call(io->fd, buf, cap);
        if (n >= 0) return n;
        if (errno == EINTR || (errno == EAGAIN && opt.nonblock)) continue;
        f->op = in_names[opt.rio];
        f->err = errno;
        return -1;
    }
}

/* What one response looked like. */
struct response {
    char status[128]; /* status line, empty for non-HTTP */
    long long body;   /* HTTP body bytes, or all bytes for non-HTTP */
};

static long long content_length(const char *head)
{
    const char *p = head;
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0) return strtoll(p + 15, NULL, 10);
    }
    return -1;
}

/* Reads one response: an HTTP head plus Content-Length body bytes (until EOF
 * without one), or, when the reply is not HTTP, as many bytes as were sent
 * (an echo). Returns 0, or -1 with *f filled (f->err 0 = unexpected EOF). */
static int io_read_response(struct io *io, bool head_request, struct response *r, struct failure *f)
{
    char head[HEAD_MAX + 1];
    char chunk[READ_CHUNK];
    size_t have = 0;
    char *end = NULL;
    long long want;

    memset(r, 0, sizeof *r);
    /* Head (or the start of a non-HTTP reply). */
    while (end == NULL) {
        ssize_t n = io_recv(io, head + have, HEAD_MAX - have, f);
        if (n < 0) return -1;
        if (n == 0) {
            f->op = in_names[opt.rio];
            f->err = 0;
            return -1;
        }
        have += (size_t)n;
        head[have] = '\0';
        if (have >= 5 && memcmp(head, "HTTP/", 5) != 0) break;
        end = memmem(head, have, "\r\n\r\n", 4);
        if (end == NULL && have == HEAD_MAX) {
            f->op = "parse";
            f->err = EMSGSIZE;
            return -1;
        }
    }
    if (end == NULL) { /* not HTTP: an echo of the request */
        r->body = (long long)have;
        while (r->body < (long long)opt.request_len) {
            ssize_t n = io_recv(io, chunk, sizeof chunk, f);
            if (n < 0) return -1;
            if (n == 0) break;
            r->body += n;
        }
        return 0;
    }
    {
        size_t line = strcspn(head, "\r\n");
        if (line >= sizeof r->status) line = sizeof r->status - 1;
        memcpy(r->status, head, line);
        r->status[line] = '\0';
    }
    *end = '\0';
    want = head_request ? 0 : content_length(head);
    r->body = (long long)(have - (size_t)(end + 4 - head));
    while (want < 0 || r->body < want) {
        ssize_t n = io_recv(io, chunk, sizeof chunk, f);
        if (n < 0) return -1;
        if (n == 0) {
            if (want < 0) return 0;
            f->op = in_names[opt.rio];
            f->err = 0;
            return -1;
        }
        r->body += n;
    }
    return 0;
}

static void print_failure(const struct failure *f)
{
    if (f->err == 0)
        printf("%s: unexpected end of stream\n", f->op);
    else
        printf("%s: %s\n", f->op, strerror(f->err));
    fflush(stdout);
}

/* Runs the request sequence on a connected io. Returns the exit status. */
static int run_requests(struct io *io)
{
    bool head_request = opt.request_len >= 5 && memcmp(opt.request, "HEAD ", 5) == 0;
    struct failure f = {0};

    for (long i = 1; i <= opt.requests; i++) {
        struct response r;
        sleep_ms(i > 1 ? opt.gap_ms : opt.pre_send_ms);
        if (io_send_all(io, opt.request, opt.request_len, &f) != 0 ||
            io_read_response(io, head_request, &r, &f) != 0) {
            if (opt.ignore_eof && f.err == 0 && strcmp(f.op, in_names[opt.rio]) == 0) {
                printf("response %ld: eof\n", i);
                fflush(stdout);
                continue;
            }
            print_failure(&f);
            close(io->fd);
            return 1;
        }
        if (r.status[0])
            printf("response %ld: %s body=%lld\n", i, r.status, r.body);
        else
            printf("response %ld: %lld bytes\n", i, r.body);
        fflush(stdout);
    }
    if (close(io->fd) != 0) {
        printf("close: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

/* ---- threads ----------------------------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    long resets, ok, errors;
} tally = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool is_reset(int err)
{
    return err == ECONNRESET || err == EPIPE;
}

static void *stress_thread(void *arg)
{
    long resets = 0, ok = 0, errors = 0;
    struct io io = {.fd = -1, .epfd = -1};
    (void)arg;

    if (opt.epoll && (io.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die(PROG, "epoll_create1: %s", strerror(errno));
    for (long c = 0; c < opt.conns; c++) {
        struct failure f = {0};
        char chunk[READ_CHUNK];
        int rc = io_connect(&io);
        if (rc != 0) {
            f.op = "connect";
            f.err = -rc;
        } else if (io_send_all(&io, opt.request, opt.request_len, &f) == 0) {
            /* read until the server closes, or an error */
            for (;;) {
                ssize_t n = io_recv(&io, chunk, sizeof chunk, &f);
                if (n == 0) {
                    f.op = NULL;
                    break;
                }
                if (n < 0) break;
            }
        }
        if (f.op == NULL)
            ok++;
        else if (is_reset(f.err))
            resets++;
        else {
            if (errors++ < 3)
                fprintf(stderr, "client: %s: %s\n", f.op, f.err ? strerror(f.err) : "timed out");
        }
        if (io.fd >= 0) close(io.fd);
        io.fd = -1;
    }
    if (io.epfd >= 0) close(io.epfd);
    pthread_mutex_lock(&tally.lock);
    tally.resets += resets;
    tally.ok += ok;
    tally.errors += errors;
    pthread_mutex_unlock(&tally.lock);
    return NULL;
}

static int run_threads(void)
{
    pthread_t *tids = calloc((size_t)opt.threads, sizeof *tids);
    if (tids == NULL) die(PROG, "out of memory");
    for (long i = 0; i < opt.threads; i++)
        if (pthread_create(&tids[i], NULL, stress_thread, NULL) != 0)
            die(PROG, "pthread_create failed");
    for (long i = 0; i < opt.threads; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    printf("resets=%ld ok=%ld errors=%ld\n", tally.resets, tally.ok, tally.errors);
    return tally.errors == 0 ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------- */

static int connect_or_report(struct io *io)
{
    int rc = io_connect(io);
    if (rc != 0) {
        printf("connect: %s\n", strerror(-rc));
        fflush(stdout);
        return -1;
    }
    return 0;
}

/* A short first connection whose fd number the real one will reuse: sends
 * "PING\n", reads one reply (or fails), closes. Prints "first_fd=<n>" and
 * "first: <reply or failure>". */
static int first_connection(struct io *io)
{
    struct failure f = {0};
    struct response r;
    static const char ping[] = "PING\n";
    size_t saved_len = opt.request_len;
    int rc;

    if (connect_or_report(io) != 0) return -1;
    printf("first_fd=%d\n", io->fd);
    opt.request_len = sizeof ping - 1; /* a non-HTTP reply is an echo of this */
    rc = io_send_all(io, ping, sizeof ping - 1, &f) == 0 ? io_read_response(io, false, &r, &f) : -1;
    opt.request_len = saved_len;
    if (rc != 0) {
        printf("first: ");
        print_failure(&f);
    } else if (r.status[0]) {
        printf("first: response %s body=%lld\n", r.status, r.body);
    } else {
        printf("first: response %lld bytes\n", r.body);
    }
    if (io->registered) epoll_ctl(io->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    close(io->fd);
    return 0;
}

int main(int argc, char **argv)
{
    struct io io = {.fd = -1, .epfd = -1};
    struct sigaction sa;

    parse_args(argc, argv);
    resolve_target();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN; /* write() reports EPIPE instead of killing us */
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_deadline;
    sigaction(SIGALRM, &sa, NULL);
    if (opt.deadline_s > 0) alarm((unsigned)opt.deadline_s);

    if (opt.threads > 0) return run_threads();

    if (opt.epoll && (io.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die(PROG, "epoll_create1: %s", strerror(errno));
    if (opt.reuse_fd && first_connection(&io) != 0) return 1;
    if (connect_or_report(&io) != 0) return 1;
    if (opt.dup || opt.dup2_onto >= 0) {
        int nfd = opt.dup ? dup(io.fd) : dup2(io.fd, (int)opt.dup2_onto);
        if (nfd < 0) {
            printf("%s: %s\n", opt.dup ? "dup" : "dup2", strerror(errno));
            return 1;
        }
        if (io.registered) epoll_ctl(io.epfd, EPOLL_CTL_DEL, io.fd, NULL);
        close(io.fd);
        io.fd = nfd;
        io.registered = false;
    }
    printf("fd=%d\n", io.fd);
    fflush(stdout);
    if (opt.fork) {
        int status;
        pid_t child = fork();
        if (child < 0) {
            printf("fork: %s\n", strerror(errno));
            return 1;
        }
        if (child == 0) exit(run_requests(&io));
        close(io.fd);
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
        printf("child=%ld\n", (long)child);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return run_requests(&io);
}
