// SPDX-License-Identifier: MIT
/* resetd.c: the project's misbehaving test server. It listens on 127.0.0.1
 * (or ::1, or an AF_UNIX path), announces its port, and then serves every
 * connection in one of several modes that end in a TCP reset, a refusal, a
 * stale keep-alive or plain correct HTTP, so tests, the demo and the
 * benchmarks can provoke each failure rstwatch explains on demand.
 *
 *   resetd --mode MODE [--port N|0] [--port-file F] [--count-file F]
 *          [--delay-ms N] [--every N] [--listen-after-ms N] [--listen-when F]
 *          [--once] [--ipv6] [--unix PATH] [--lifetime S]
 *
 * Start-up: binds, listens, then prints "PORT <n>" on stdout (flushed) and
 * writes "<n>\n" to --port-file (temp file + rename: never seen half written).
 * With --listen-after-ms the port is announced right after bind() and listen()
 * follows N ms later, so early connects are refused. With --listen-when the
 * port is announced right after bind() and listen() follows only once file F
 * exists and is not empty (looked at every 2 ms): a test that points F at the
 * log of the client under test knows every connect made before that client
 * wrote its first record was refused, however slowly the client started. With --unix the port is
 * announced as 0 once the path is listening. SIGTERM/SIGINT: exit 0. After
 * --lifetime seconds (default 900, 0 = forever) the server exits with 3, so a
 * forgotten server never outlives a test run by much.
 *
 * Modes (one thread per connection; "abort" = SO_LINGER {1,0} + close(), which
 * makes the kernel send RST; on AF_UNIX an abort is a close() with the
 * request still unread, which the peer sees as ECONNRESET):
 *   rst-after-request    read one request (to "\r\n\r\n" plus its body, or the
 *                        first chunk when it is not HTTP), sleep --delay-ms
 *                        (default 0), abort: the client gets ECONNRESET and 0
 *                        response bytes.
 *   unread-close         read 4 bytes of the request, sleep --delay-ms (default
 *                        20) so the rest arrives, close() normally: the
 *                        unread data makes the kernel send RST.
 *   rst-mid-response     read the request, send headers announcing
 *                        Content-Length: 100000 and 1000 body bytes, sleep
 *                        --delay-ms (default 50), abort.
 *   rst-on-accept        abort right after accept() (after --delay-ms, default
 *                        0) without reading: the client's next send or recv
 *                        fails with ECONNRESET (use client --pre-send-ms).
 *   refuse               pick a free port, do not listen on it, announce it and
 *                        sleep: connects get ECONNREFUSED.
 *   http                 correct HTTP/1.1 keep-alive server: 200 "ok\n" for
 *                        every request (HEAD: no body), honours request
 *                        Content-Length and "Connection: close".
 *   stale-keepalive      answers the first request of each connection
 *                        (keep-alive); aborts when a second one arrives on it.
 *   close-after-response answers one request with "Connection: close",
 *                        shutdown(SHUT_WR), waits --delay-ms (default 50)
 *                        without reading, close(): a client that writes again
 *                        after the EOF gets a RST (write after peer FIN).
 *   silent               accepts and never answers; closes only after the
 *                        client has closed.
 *   idle-close           like http, but a connection idle for --delay-ms
 *                        (default 300) is aborted (a load balancer idle timeout).
 *   idle-fin             the same, but the idle connection is closed
 *                        gracefully (FIN), as nginx's keepalive_timeout does.
 *   every                like http, but every --every N-th accepted connection
 *                        (default 10; the 10th, 20th, ...) is aborted right
 *                        after its first request has been read.
 *   echo                 echoes everything back (optionally after --delay-ms
 *                        per chunk).
 *   slow-close           reads one request, never answers, and after --delay-ms
 *                        (default 2000) closes gracefully (FIN): a server or
 *                        proxy request timeout (gunicorn killing a slow worker).
 *   request-limit        like http, but after --every N answered requests on a
 *                        connection (default 1) the next request is read, left
 *                        unanswered, and --delay-ms later (default 20) the
 *                        connection is closed gracefully: a per-connection
 *                        request limit racing a client's next request.
 *   goodbye-pg           answers one request (200 "ok\n", keep-alive), then
 *                        --delay-ms later (default 300), without reading,
 *                        sends what PostgreSQL sends a session that
 *                        pg_terminate_backend() ends (an ErrorResponse, FATAL,
 *                        SQLSTATE 57P01) and closes: the goodbye sits unread
 *                        in the client's receive queue until its next request.
 *   goodbye-mysql        the same with MariaDB's KILL CONNECTION goodbye (an
 *                        error packet, 1927 ER_CONNECTION_KILLED).
 *   goodbye-408          the same with an HTTP "408 Request Timeout" (HAProxy
 *                        and Node.js answer an idle connection so).
 *   slow-408             reads a request; when it is not complete --delay-ms
 *                        (default 1000) after accept, answers "408 Request
 *                        Timeout" and closes, what is still to come unread (a
 *                        server that stops waiting for a slow request: Node.js
 *                        headersTimeout/requestTimeout, nginx
 *                        client_body_timeout). A complete request gets 200;
 *                        one that asks (Expect: 100-continue) gets an interim
 *                        "100 Continue" once its headers are in.
 *
 * --count-file F (http, stale-keepalive, idle-close, every, close-after-
 * response, rst-* modes) is rewritten atomically after every request:
 *   F           number of requests ANSWERED (a response was sent), e.g. "3\n"
 *   F.received  number of requests RECEIVED (answered or aborted)
 *   F.methods   answered requests per method, one "METHOD N" line each
 * --once: exit 0 after the first connection has been handled. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define PROG "resetd"
#define IDLE_TIMEOUT_MS 30000       /* hostile or forgotten clients */
#define MAX_REQUEST_BYTES (1 << 20) /* headers + buffered body */
#define MAX_BODY_BYTES (64L << 20)  /* request bodies are read and dropped */
#define MID_RESPONSE_BODY_BYTES 1000
#define ECHO_CHUNK 65536
#define THREAD_STACK_BYTES (256 * 1024)
#define MAX_METHODS 16

enum mode {
    MODE_RST_AFTER_REQUEST,
    MODE_UNREAD_CLOSE,
    MODE_RST_MID_RESPONSE,
    MODE_RST_ON_ACCEPT,
    MODE_REFUSE,
    MODE_HTTP,
    MODE_STALE_KEEPALIVE,
    MODE_CLOSE_AFTER_RESPONSE,
    MODE_SILENT,
    MODE_IDLE_CLOSE,
    MODE_IDLE_FIN,
    MODE_EVERY,
    MODE_ECHO,
    MODE_SLOW_CLOSE,
    MODE_REQUEST_LIMIT,
    MODE_GOODBYE_PG,
    MODE_GOODBYE_MYSQL,
    MODE_GOODBYE_408,
    MODE_SLOW_408,
};

static const struct {
    const char *name;
    enum mode mode;
    long default_delay_ms;
} mode_table[] = {
    {"rst-after-request", MODE_RST_AFTER_REQUEST, 0},
    {"unread-close", MODE_UNREAD_CLOSE, 20},
    {"rst-mid-response", MODE_RST_MID_RESPONSE, 50},
    {"rst-on-accept", MODE_RST_ON_ACCEPT, 0},
    {"refuse", MODE_REFUSE, 0},
    {"http", MODE_HTTP, 0},
    {"stale-keepalive", MODE_STALE_KEEPALIVE, 0},
    {"close-after-response", MODE_CLOSE_AFTER_RESPONSE, 50},
    {"silent", MODE_SILENT, 0},
    {"idle-close", MODE_IDLE_CLOSE, 300},
    {"idle-fin", MODE_IDLE_FIN, 300},
    {"every", MODE_EVERY, 0},
    {"echo", MODE_ECHO, 0},
    {"slow-close", MODE_SLOW_CLOSE, 2000},
    {"request-limit", MODE_REQUEST_LIMIT, 20},
    {"goodbye-pg", MODE_GOODBYE_PG, 300},
    {"goodbye-mysql", MODE_GOODBYE_MYSQL, 300},
    {"goodbye-408", MODE_GOODBYE_408, 300},
    {"slow-408", MODE_SLOW_408, 1000},
};

static struct {
    enum mode mode;
    long port;
    const char *port_file;
    const char *count_file;
    long delay_ms;
    long every;
    long listen_after_ms;
    const char *listen_when;
    bool once;
    bool ipv6;
    const char *unix_path;
    long lifetime_s;
} opt = {.mode = MODE_HTTP, .delay_ms = -1, .every = 10, .lifetime_s = 900};

static int listen_family = AF_INET;

/* Request counters, written to --count-file. */
static struct {
    pthread_mutex_t lock;
    unsigned long answered;
    unsigned long received;
    struct {
        char name[16];
        unsigned long n;
    } methods[MAX_METHODS];
} counts = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One accepted connection and its input buffer (requests may be pipelined). */
struct conn {
    int fd;
    unsigned long index; /* 1 for the first accepted connection */
    char *buf;
    size_t len;
    size_t cap;
};

/* One parsed request at the start of a connection buffer. */
struct request {
    size_t total_len; /* head + body bytes, consumed from the buffer */
    char method[16];
    bool wants_close;
    bool is_http;
};

static void on_terminate(int sig)
{
    (void)sig;
    _exit(0);
}

static void on_lifetime_over(int sig)
{
    (void)sig;
    exit_with_message("resetd: lifetime over, exiting\n", 3);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: resetd --mode MODE [--port N|0] [--port-file F] [--count-file F]\n"
            "              [--delay-ms N] [--every N] [--listen-after-ms N] [--listen-when F]\n"
            "              [--once] [--ipv6] [--unix PATH] [--lifetime S]\n"
            "modes:");
    for (size_t i = 0; i < sizeof mode_table / sizeof mode_table[0]; i++)
        fprintf(stderr, " %s", mode_table[i].name);
    fputc('\n', stderr);
    exit(2);
}

static long default_delay(enum mode m)
{
    for (size_t i = 0; i < sizeof mode_table / sizeof mode_table[0]; i++)
        if (mode_table[i].mode == m) return mode_table[i].default_delay_ms;
    return 0;
}

static const char *need_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) die(PROG, "option %s needs a value", argv[*i]);
    return argv[++*i];
}

static long need_number(int argc, char **argv, int *i, long max)
{
    const char *name = argv[*i];
    const char *v = need_arg(argc, argv, i);
    long n = parse_count(v, max);
    if (n < 0) die(PROG, "option %s: '%s' is not a number in 0..%ld", name, v, max);
    return n;
}

static void parse_args(int argc, char **argv)
{
    bool have_mode = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--mode") == 0) {
            const char *m = need_arg(argc, argv, &i);
            size_t k;
            for (k = 0; k < sizeof mode_table / sizeof mode_table[0]; k++)
                if (strcmp(m, mode_table[k].name) == 0) break;
            if (k == sizeof mode_table / sizeof mode_table[0]) die(PROG, "unknown mode '%s'", m);
            opt.mode = mode_table[k].mode;
            have_mode = true;
        } else if (strcmp(a, "--port") == 0) {
            opt.port = need_number(argc, argv, &i, 65535);
        } else if (strcmp(a, "--port-file") == 0) {
            opt.port_file = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--count-file") == 0) {
            opt.count_file = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--delay-ms") == 0) {
            opt.delay_ms = need_number(argc, argv, &i, 3600L * 1000);
        } else if (strcmp(a, "--every") == 0) {
            opt.every = need_number(argc, argv, &i, 1000000);
            if (opt.every < 1) die(PROG, "--every must be at least 1");
        } else if (strcmp(a, "--listen-after-ms") == 0) {
            opt.listen_after_ms = need_number(argc, argv, &i, 3600L * 1000);
        } else if (strcmp(a, "--listen-when") == 0) {
            opt.listen_when = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--once") == 0) {
            opt.once = true;
        } else if (strcmp(a, "--ipv6") == 0) {
            opt.ipv6 = true;
        } else if (strcmp(a, "--unix") == 0) {
            opt.unix_path = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--lifetime") == 0) {
            opt.lifetime_s = need_number(argc, argv, &i, 7L * 24 * 3600);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
        } else {
            fprintf(stderr, "resetd: unknown argument '%s'\n", a);
            usage();
        }
    }
    if (!have_mode) usage();
    if (opt.delay_ms < 0) opt.delay_ms = default_delay(opt.mode);
    if (opt.ipv6 && opt.unix_path) die(PROG, "--ipv6 and --unix exclude each other");
}

/* ---- counters ---------------------------------------------------------- */

static void counts_write_locked(void)
{
    char text[64], path[PATH_MAX], methods[MAX_METHODS * 40];
    size_t off = 0;
    int rc;

    if (opt.count_file == NULL) return;
    snprintf(text, sizeof text, "%lu\n", counts.answered);
    rc = write_file_atomic(opt.count_file, text);
    snprintf(path, sizeof path, "%s.received", opt.count_file);
    snprintf(text, sizeof text, "%lu\n", counts.received);
    if (rc == 0) rc = write_file_atomic(path, text);
    methods[0] = '\0';
    for (int i = 0; i < MAX_METHODS && counts.methods[i].name[0]; i++)
        off += (size_t)snprintf(methods + off, sizeof methods - off, "%s %lu\n",
                                counts.methods[i].name, counts.methods[i].n);
    snprintf(path, sizeof path, "%s.methods", opt.count_file);
    if (rc == 0) rc = write_file_atomic(path, methods);
    if (rc != 0) fprintf(stderr, "resetd: cannot write %s: %s\n", opt.count_file, strerror(-rc));
}

/* Counts a request that arrived; answered says whether a response was sent for it. */
static void counts_add(const struct request *req, bool answered)
{
    pthread_mutex_lock(&counts.lock);
    counts.received++;
    if (answered) {
        counts.answered++;
        for (int i = 0; i < MAX_METHODS; i++) {
            if (counts.methods[i].name[0] == '\0') {
                snprintf(counts.methods[i].name, sizeof counts.methods[i].name, "%s",
                         req->method[0] ? req->method : "-");
            }
            if (strcmp(counts.methods[i].name, req->method[0] ? req->method : "-") == 0) {
                counts.methods[i].n++;
                break;
            }
        }
    }
    counts_write_locked();
    pthread_mutex_unlock(&counts.lock);
}

/* ---- socket I/O ------------------------------------------------------------ */

/* Waits until fd is readable; returns 1 readable, 0 timeout, -1 error. */
static int wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        return r < 0 ? -1 : r;
    }
}

/* Sends all of buf; returns 0 or -1 (peer gone). */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Closes the connection (a FIN, or an RST when input is left unread) and marks it closed. */
static void close_conn(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
}

/* Makes the kernel send RST instead of FIN, then closes. */
static void abort_conn(struct conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (listen_family != AF_UNIX) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close_conn(c);
}

/* Sends FIN, waits (bounded) for the client's close, then closes. */
static void graceful_close(struct conn *c)
{
    char sink[4096];
    long long deadline = now_ms() + 2000;
    shutdown(c->fd, SHUT_WR);
    while (now_ms() < deadline && wait_readable(c->fd, (int)(deadline - now_ms())) > 0) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n <= 0 && !(n < 0 && errno == EINTR)) break;
    }
    close_conn(c);
}

/* Reads more input into the connection buffer. Returns bytes read, 0 on EOF,
 * -1 on error, -2 on timeout, -3 when the buffer limit is reached. */
static ssize_t conn_read_more(struct conn *c, int timeout_ms)
{
    if (c->len == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4096;
        char *nb;
        if (ncap > MAX_REQUEST_BYTES) return -3;
        nb = realloc(c->buf, ncap);
        if (nb == NULL) return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    for (;;) {
        int w = wait_readable(c->fd, timeout_ms);
        ssize_t n;
        if (w == 0) return -2;
        if (w < 0) return -1;
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) c->len += (size_t)n;
        return n;
    }
}

static void conn_consume(struct conn *c, size_t n)
{
    if (n > c->len) n = c->len;
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Finds the value of header name (case-insensitive) in an HTTP head; copies
 * it into out. Returns true when present. */
static bool header_value(const char *head, size_t head_len, const char *name, char *out,
                         size_t out_len)
{
    size_t name_len = strlen(name);
    const char *p = memchr(head, '\n', head_len);
    const char *end = head + head_len;
    while (p != NULL && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t line_len = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (line_len > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *v = line + name_len + 1;
            size_t vlen = line_len - name_len - 1;
            while (vlen > 0 && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (vlen >= out_len) vlen = out_len - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = eol;
    }
    return false;
}

/* Looks for one complete request at the start of the buffer.
 * Returns 1 complete (req filled), 0 need more bytes, -1 unusable request. */
static int request_parse(const struct conn *c, struct request *req)
{
    const char *end;
    size_t head_len, i;
    char value[64];
    long long body = 0;

    memset(req, 0, sizeof *req);
    if (c->len == 0) return 0;
    /* An HTTP request line starts with an upper-case method and a space. */
    for (i = 0; i < c->len && i < sizeof req->method - 1 && c->buf[i] >= 'A' && c->buf[i] <= 'Z';
         i++)
        ;
    if (i == c->len && i < sizeof req->method - 1) return 0; /* may still become a method */
    if (i == 0 || c->buf[i] != ' ') {
        req->total_len = c->len; /* not HTTP: the first chunk is the request */
        return 1;
    }
    req->is_http = true;
    memcpy(req->method, c->buf, i);
    req->method[i] = '\0';
    end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    head_len = (size_t)(end - c->buf) + 4;
    if (header_value(c->buf, head_len, "Content-Length", value, sizeof value)) {
        char *e = NULL;
        errno = 0;
        body = strtoll(value, &e, 10);
        if (errno != 0 || e == value || *e != '\0' || body < 0 || body > MAX_BODY_BYTES) return -1;
    }
    if (header_value(c->buf, head_len, "Connection", value, sizeof value))
        req->wants_close = strcasecmp(value, "close") == 0;
    else {
        const char *eol = memchr(c->buf, '\r', head_len);
        /* HTTP/1.0 closes unless asked otherwise. */
        req->wants_close = eol && eol - c->buf >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0;
    }
    req->total_len = head_len + (size_t)body;
    return 1;
}

/* Reads one whole request (bodies larger than the buffer are read and
 * dropped). Returns 1 with req filled, 0 on EOF, -1 on error, -2 on idle
 * timeout (nothing of a new request arrived), -3 on an unusable request. */
static int read_request(struct conn *c, struct request *req, int idle_timeout_ms)
{
    for (;;) {
        int r = request_parse(c, req);
        ssize_t n;
        if (r < 0) return -3;
        if (r == 1) {
            /* Drop a body that does not fit the buffer as it streams in. */
            size_t need = req->total_len;
            while (c->len < need) {
                if (c->len == c->cap && c->cap >= MAX_REQUEST_BYTES) {
                    need -= c->len;
                    c->len = 0;
                }
                n = conn_read_more(c, IDLE_TIMEOUT_MS);
                if (n == 0) return 0;
                if (n < 0) return (int)(n == -2 ? -1 : n);
            }
            req->total_len = need;
            return 1;
        }
        n = conn_read_more(c, c->len == 0 ? idle_timeout_ms : IDLE_TIMEOUT_MS);
        if (n == 0) return 0;
        if (n < 0) return (int)n;
    }
}

static int respond_ok(struct conn *c, const struct request *req, bool keep_alive)
{
    char head[256];
    bool head_only = strcmp(req->method, "HEAD") == 0;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                     "Connection: %s\r\n\r\n%s",
                     keep_alive ? "keep-alive" : "close", head_only ? "" : "ok\n");
    return send_all(c->fd, head, (size_t)n);
}

/* ---- modes ------------------------------------------------------------------ */

/* Serves correct HTTP until the client closes or asks to close. In idle-close
 * mode an idle connection is aborted; abort_first aborts after the first request. */
static void serve_http(struct conn *c, bool abort_first)
{
    bool idle_mode = opt.mode == MODE_IDLE_CLOSE || opt.mode == MODE_IDLE_FIN;
    int idle = idle_mode ? (int)opt.delay_ms : IDLE_TIMEOUT_MS;
    unsigned long served = 0;

    for (;;) {
        struct request req;
        int r = read_request(c, &req, idle);
        if (r == -2 && opt.mode == MODE_IDLE_CLOSE) {
            abort_conn(c);
            return;
        }
        if (r == -2 && opt.mode == MODE_IDLE_FIN) break; /* close(): a FIN */
        if (r <= 0 || r == -3) break;
        if (abort_first || (opt.mode == MODE_STALE_KEEPALIVE && served >= 1)) {
            counts_add(&req, false);
            abort_conn(c);
            return;
        }
        if (opt.mode == MODE_REQUEST_LIMIT && served >= (unsigned long)opt.every) {
            counts_add(&req, false);
            sleep_ms(opt.delay_ms);
            graceful_close(c);
            return;
        }
        /* Counted before the response leaves: a client that got its answer
         * never reads a count that does not include it yet. */
        counts_add(&req, true);
        if (respond_ok(c, &req, !req.wants_close) != 0) break;
        served++;
        conn_consume(c, req.total_len);
        if (req.wants_close) {
            graceful_close(c);
            return;
        }
    }
    if (c->fd >= 0) {
        close_conn(c);
    }
}

/* Reads one request, waits --delay-ms, then ends the connection with end (unanswered). */
static void serve_request_then(struct conn *c, void (*end)(struct conn *c))
{
    struct request req;
    if (read_request(c, &req, IDLE_TIMEOUT_MS) == 1) {
        counts_add(&req, false);
        sleep_ms(opt.delay_ms);
        end(c);
    } else {
        close_conn(c);
    }
}

static void serve_unread_close(struct conn *c)
{
    char few[4];
    if (wait_readable(c->fd, IDLE_TIMEOUT_MS) > 0 && recv(c->fd, few, sizeof few, 0) > 0) {
        struct request req = {.method = ""};
        counts_add(&req, false);
        sleep_ms(opt.delay_ms); /* let the rest of the request arrive, unread */
    }
    close_conn(c);
}

static void serve_rst_mid_response(struct conn *c)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                               "Content-Length: 100000\r\n\r\n";
    char body[MID_RESPONSE_BODY_BYTES];
    struct request req;

    if (read_request(c, &req, IDLE_TIMEOUT_MS) != 1) {
        close_conn(c);
        return;
    }
    counts_add(&req, true);
    memset(body, 'x', sizeof body);
    if (send_all(c->fd, head, sizeof head - 1) == 0 && send_all(c->fd, body, sizeof body) == 0)
        sleep_ms(opt.delay_ms);
    abort_conn(c);
}

static void serve_close_after_response(struct conn *c)
{
    struct request req;
    if (read_request(c, &req, IDLE_TIMEOUT_MS) == 1) {
        counts_add(&req, true); /* before the answer leaves, as in serve_http */
        respond_ok(c, &req, false);
        shutdown(c->fd, SHUT_WR);
        /* Not reading on purpose: whatever the client writes after our FIN is
         * either unread at close() or arrives after it; both draw a RST. */
        sleep_ms(opt.delay_ms);
    }
    close_conn(c);
}

static void serve_silent(struct conn *c)
{
    char sink[4096];
    for (;;) {
        ssize_t n;
        if (wait_readable(c->fd, -1) < 0) break;
        n = recv(c->fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    close_conn(c);
}

static void serve_echo(struct conn *c)
{
    char *buf = malloc(ECHO_CHUNK);
    if (buf != NULL) {
        for (;;) {
            ssize_t n;
            if (wait_readable(c->fd, IDLE_TIMEOUT_MS) <= 0) break;
            n = recv(c->fd, buf, ECHO_CHUNK, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            sleep_ms(opt.delay_ms);
            if (send_all(c->fd, buf, (size_t)n) != 0) break;
        }
        free(buf);
    }
    close_conn(c);
}

/* The last words of a server that ends a session on its own, then its FIN. */
static void serve_goodbye(struct conn *c)
{
    /* PostgreSQL ErrorResponse (protocol 3): 'E', length, then fields S, V, C
     * (SQLSTATE), M, a terminating zero; the text pg_terminate_backend() gives. */
    static const char pg[] = "E\0\0\0\x4fSFATAL\0VFATAL\0C57P01\0"
                             "Mterminating connection due to administrator command\0";
    /* MariaDB ERR packet: length 26, sequence 0, 0xff, 1927, '#', SQLSTATE 70100. */
    static const char my[] = "\x1a\0\0\0\xff\x87\x07#70100Connection was killed";
    static const char h408[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
    struct request req;
    if (read_request(c, &req, IDLE_TIMEOUT_MS) != 1) {
        close_conn(c);
        return;
    }
    counts_add(&req, true);
    respond_ok(c, &req, true);
    sleep_ms(opt.delay_ms);
    if (opt.mode == MODE_GOODBYE_PG)
        send_all(c->fd, pg, sizeof pg); /* with the message's final zero */
    else if (opt.mode == MODE_GOODBYE_MYSQL)
        send_all(c->fd, my, sizeof my - 1);
    else
        send_all(c->fd, h408, sizeof h408 - 1);
    close_conn(c);
}

/* A request not complete --delay-ms after accept gets a 408 and the close. */
static void serve_slow_408(struct conn *c)
{
    static const char h408[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
    long long deadline = now_ms() + opt.delay_ms;
    struct request req;
    bool continued = false;
    for (;;) {
        int r = request_parse(c, &req);
        if (r < 0) break;
        if (r == 1 && !continued && memmem(c->buf, c->len, "100-continue", 12)) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            send_all(c->fd, cont, sizeof cont - 1);
            continued = true;
        }
        if (r == 1 && c->len >= req.total_len) {
            counts_add(&req, true);
            respond_ok(c, &req, false);
            graceful_close(c);
            return;
        }
        long long left = deadline - now_ms();
        if (left <= 0) {
            send_all(c->fd, h408, sizeof h408 - 1);
            break;
        }
        ssize_t n = conn_read_more(c, (int)left);
        if (n == -2) continue; /* the deadline: answer 408 */
        if (n <= 0) break;
    }
    close_conn(c);
}

static void serve(struct conn *c)
{
    switch (opt.mode) {
    case MODE_RST_AFTER_REQUEST: serve_request_then(c, abort_conn); break;
    case MODE_UNREAD_CLOSE: serve_unread_close(c); break;
    case MODE_RST_MID_RESPONSE: serve_rst_mid_response(c); break;
    case MODE_RST_ON_ACCEPT:
        sleep_ms(opt.delay_ms);
        abort_conn(c);
        break;
    case MODE_SLOW_CLOSE: serve_request_then(c, graceful_close); break;
    case MODE_HTTP:
    case MODE_REQUEST_LIMIT:
    case MODE_STALE_KEEPALIVE:
    case MODE_IDLE_CLOSE:
    case MODE_IDLE_FIN: serve_http(c, false); break;
    case MODE_EVERY: serve_http(c, c->index % (unsigned long)opt.every == 0); break;
    case MODE_CLOSE_AFTER_RESPONSE: serve_close_after_response(c); break;
    case MODE_SILENT: serve_silent(c); break;
    case MODE_ECHO: serve_echo(c); break;
    case MODE_REFUSE: close_conn(c); break;
    case MODE_GOODBYE_PG:
    case MODE_GOODBYE_MYSQL:
    case MODE_GOODBYE_408: serve_goodbye(c); break;
    case MODE_SLOW_408: serve_slow_408(c); break;
    }
    free(c->buf);
    free(c);
}

static void *conn_thread(void *arg)
{
    serve(arg);
    return NULL;
}

/* ---- start-up ------------------------------------------------------------- */

static void announce(int port)
{
    char text[32];
    printf("PORT %d\n", port);
    fflush(stdout);
    if (opt.port_file != NULL) {
        int rc;
        snprintf(text, sizeof text, "%d\n", port);
        rc = write_file_atomic(opt.port_file, text);
        if (rc != 0) die(PROG, "cannot write %s: %s", opt.port_file, strerror(-rc));
    }
}

/* Returns once path exists and holds at least one byte (at once when path is
 * NULL); the server's --lifetime bounds the wait. */
static void wait_nonempty(const char *path)
{
    struct stat st;
    while (path != NULL && (stat(path, &st) != 0 || st.st_size == 0))
        sleep_ms(2);
}

/* Creates and binds the server socket; returns it and stores the bound port. */
static int bind_server(int *port_out)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    int one = 1, fd;

    memset(&ss, 0, sizeof ss);
    if (opt.unix_path != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        listen_family = AF_UNIX;
        if (strlen(opt.unix_path) >= sizeof un->sun_path)
            die(PROG, "unix path too long: %s", opt.unix_path);
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, opt.unix_path);
        slen = sizeof *un;
        unlink(opt.unix_path);
    } else if (opt.ipv6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        listen_family = AF_INET6;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_loopback;
        s6->sin6_port = htons((uint16_t)opt.port);
        slen = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        listen_family = AF_INET;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s4->sin_port = htons((uint16_t)opt.port);
        slen = sizeof *s4;
    }
    fd = socket(listen_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(PROG, "socket: %s", strerror(errno));
    if (listen_family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (listen_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0) die(PROG, "bind: %s", strerror(errno));
    *port_out = 0;
    if (listen_family != AF_UNIX) {
        slen = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &slen) != 0)
            die(PROG, "getsockname: %s", strerror(errno));
        *port_out = ntohs(listen_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                    : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_terminate;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_lifetime_over;
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void accept_loop(int lfd)
{
    pthread_attr_t attr;
    unsigned long accepted = 0;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
    for (;;) {
        struct conn *c;
        pthread_t tid;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                sleep_ms(10); /* EMFILE and friends: back off, never spin */
            continue;
        }
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->index = ++accepted;
        if (opt.once) {
            serve(c);
            exit(0);
        }
        if (pthread_create(&tid, &attr, conn_thread, c) != 0) {
            close(fd);
            free(c);
            sleep_ms(10);
        }
    }
}

int main(int argc, char **argv)
{
    int port, lfd;

    parse_args(argc, argv);
    install_signals();
    raise_fd_limit();
    if (opt.lifetime_s > 0) alarm((unsigned)opt.lifetime_s);

    lfd = bind_server(&port);
    if (opt.mode == MODE_REFUSE) {
        /* The port stays free: nobody listens, so the kernel answers SYN with RST. */
        close(lfd);
        announce(port);
        for (;;)
            pause();
    }
    bool listen_late = opt.listen_after_ms > 0 || opt.listen_when != NULL;
    if (listen_late) {
        announce(port);
        sleep_ms(opt.listen_after_ms);
        wait_nonempty(opt.listen_when);
    }
    if (listen(lfd, 4096) != 0) die(PROG, "listen: %s", strerror(errno));
    if (!listen_late) announce(port);
    accept_loop(lfd);
    return 0;
}
