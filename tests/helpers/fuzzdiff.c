// SPDX-License-Identifier: MIT
/* fuzzdiff.c: the executor of the differential socket-API fuzzer. One binary,
 * two roles, started by tests/fuzzdiff/fuzzdiff.py:
 *
 *   fuzzdiff peer                      the servers (run bare, never preloaded)
 *   fuzzdiff client FIRST COUNT        the program under test (bare or preloaded)
 *
 * Both inherit one end of a SOCK_SEQPACKET socketpair on fd 100 (the control
 * channel: SOCK_SEQPACKET sockets are not tracked by the shim); the client
 * writes its transcript to fd 101 and the shim, when preloaded, its records to
 * fd 102 (RSTWATCH_LOG=fd:102), so neither opens an fd that would shift the
 * numbers the program under test gets.
 *
 * For each seed the client forks a child that generates a call sequence from
 * the seed alone and runs it in lockstep with the peer: the child tells the
 * peer "accept this connection / send these bytes / FIN / RST / report" and
 * waits for the answer, and waits (with raw syscalls the shim does not see)
 * until the kernel has delivered what was sent, so a bare run and a preloaded
 * run of the same seed make the same calls and must see the same results.
 * Choices depend only on the seed and on a predicted model of the
 * connections, never on a call's actual result, so a divergence in one call
 * does not change which calls follow.
 *
 * Transcript lines (one per event, prefixed with the seed):
 *   S pid=P flags=F            sequence start
 *   C STEP NAME lk=L fd=F r=R e=ERRNO h=HASH [sig=N]   a call of the program
 *   P STEP WHAT k=K r=R ...    the peer's answer to a command
 *   Q STEP lk=L h=HASH len=N idem=I kind=K   a request the program sends
 *   O STEP lk=L fd=F kind=K local=A peer=A   a connection opened (addresses
 *                              differ run to run: not compared)
 *   F STEP pid=P / W STEP status=S      a forked child and its exit
 *   END / PEER ... / X ...     the end of the sequence and the peer's summary
 * The driver compares them and checks the shim's records against them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CTL_FD 100
#define TR_FD 101
#define MAXFD 64
#define MAXLC 32
#define PAYLOAD_MAX 6000
#define SEQ_TIMEOUT_MS 5000

static const char REPLAY_RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nreplay";

/* ---- shared: hashing, raw waits, control messages -------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV0 0xcbf29ce484222325ULL

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Wall-clock microseconds: records carry wall-clock times, and the driver
 * keeps only the records written between a sequence's start and end (pids
 * are reused within a long run). */
static long long real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (raw ioctl, invisible to the shim) until fd has at least want bytes
 * to read, at most ms. Loopback delivers within the sender's call, so this
 * rarely sleeps; it guards against a deferred softirq. */
static void wait_inq(int fd, int want, int ms)
{
    long long end = mono_ms() + ms;
    for (;;) {
        int q = 0;
        if (syscall(SYS_ioctl, fd, SIOCINQ, &q) < 0 || q >= want) return;
        if (mono_ms() > end) return;
        nap_us(50);
    }
}

/* Waits (raw ppoll) until fd shows one of events, at most ms. */
static void wait_events(int fd, short events, int ms)
{
    long long end = mono_ms() + ms;
    for (;;) {
        struct pollfd p = {fd, events, 0};
        struct timespec ts = {0, 0};
        long r = syscall(SYS_ppoll, &p, 1, &ts, NULL, 8);
        if (r < 0 && errno != EINTR) return;
        if (r > 0 && (p.revents & (events | POLLNVAL))) return;
        if (mono_ms() > end) return;
        nap_us(50);
    }
}

enum {
    CMD_BEGIN = 1,
    CMD_ACCEPT,     /* k = new index, a = client's local port (0: unix, take newest) */
    CMD_SEND,       /* send data on k */
    CMD_FIN,        /* shutdown(SHUT_WR) */
    CMD_RST,        /* SO_LINGER 0 + close (unix: close without reading) */
    CMD_CLOSE,      /* read what is there, then close */
    CMD_REPORT,     /* bytes received on k so far */
    CMD_CONNECT_TO, /* connect a new k to the client's unix listener at data */
    CMD_END,        /* summary of the sequence, then forget everything */
    CMD_SYNC,       /* read on k until a bytes came (or EOF/RST, or 1 s) */
};

struct msg {
    uint32_t seq, op;
    int32_t k, a;
    uint32_t len;
    char data[PAYLOAD_MAX + 128];
};

struct reply {
    uint32_t seq;
    int32_t r, err;
    uint32_t n;
    uint64_t hash;
    int32_t eof, rst;
    uint16_t port, closed_port;
    char path[108];
    char text[6000];
};

static const char *ename(int e)
{
    if (!e) return "0";
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* ---- the peer ---------------------------------------------------------------- */

#define PCONN_MAX 48
#define REPLAY_KEEP 8192

struct pconn {
    int fd, k, replay, answered, eof, rst, cmd_at, port;
    uint64_t n, hash;
    size_t kept, req_len;
    uint64_t req_hash;
    uint64_t after; /* replay conns: bytes after the replayed request */
    unsigned char buf[REPLAY_KEEP];
};

static struct pconn pc[PCONN_MAX];
static int npc;
static int lis_tcp = -1, lis_unix = -1, closed_sock = -1;
static char unix_path[108];
static uint32_t peer_cmds;

static int peer_new_conn(int fd, int k, int replay)
{
    if (npc >= PCONN_MAX) {
        close(fd);
        return -1;
    }
    struct pconn *c = &pc[npc];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->k = k;
    c->replay = replay;
    c->hash = FNV0;
    c->cmd_at = (int)peer_cmds;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        c->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        /* the peer's small sends leave at once, not when the program's
         * delayed ACK fires (see op_open_tcp) */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return npc++;
}

/* Length of the first complete HTTP/1.x request in b, or 0. */
static size_t http_complete(const unsigned char *b, size_t n)
{
    const char *s = (const char *)b;
    size_t h = 0;
    for (size_t i = 3; i < n; i++)
        if (s[i - 3] == '\r' && s[i - 2] == '\n' && s[i - 1] == '\r' && s[i] == '\n') {
            h = i + 1;
            break;
        }
    if (!h) return 0;
    const char *cl = memmem(s, h, "Content-Length: ", 16);
    if (cl) {
        size_t len = strtoul(cl + 16, NULL, 10);
        return h + len <= n ? h + len : 0;
    }
    if (memmem(s, h, "Transfer-Encoding: chunked", 26)) {
        const char *end = memmem(s + h, n - h, "0\r\n\r\n", 5);
        /* chunk sizes here are hex digits followed by CRLF: a lone "0\r\n\r\n"
         * preceded by "\n" is the terminator */
        while (end && end > s + h && end[-1] != '\n')
            end = memmem(end + 1, n - (size_t)(end + 1 - s), "0\r\n\r\n", 5);
        return end ? (size_t)(end - s) + 5 : 0;
    }
    return h;
}

/* Reads what is there on c (non-blocking); answers a replayed request once. */
static void peer_drain(struct pconn *c)
{
    unsigned char b[16384];
    while (c->fd >= 0 && !c->eof && !c->rst) {
        ssize_t r = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            c->rst = errno;
            break;
        }
        if (r == 0) {
            c->eof = 1;
            break;
        }
        if (c->replay && c->answered) {
            c->after += (uint64_t)r;
            continue;
        }
        c->n += (uint64_t)r;
        c->hash = fnv(c->hash, b, (size_t)r);
        size_t keep = (size_t)r;
        if (keep > REPLAY_KEEP - c->kept) keep = REPLAY_KEEP - c->kept;
        memcpy(c->buf + c->kept, b, keep);
        c->kept += keep;
    }
    if (c->replay && !c->answered && c->kept) {
        size_t len = http_complete(c->buf, c->kept);
        if (len) {
            c->answered = 1;
            c->req_len = len;
            c->req_hash = fnv(FNV0, c->buf, len);
            c->after = c->n - len;
            ssize_t w = send(c->fd, REPLAY_RESPONSE, sizeof REPLAY_RESPONSE - 1, MSG_NOSIGNAL);
            (void)w;
            shutdown(c->fd, SHUT_WR);
        }
    }
}

static struct pconn *peer_find(int k)
{
    for (int i = 0; i < npc; i++)
        if (!pc[i].replay && pc[i].k == k) return &pc[i];
    return NULL;
}

static void peer_accept_pending(int lfd, int unix_newest_k, int *taken)
{
    int last = -1;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        int i = peer_new_conn(fd, -1, 1);
        if (i >= 0) last = i;
    }
    if (unix_newest_k >= 0 && last >= 0) {
        pc[last].replay = 0;
        pc[last].k = unix_newest_k;
        *taken = 1;
    }
}

static void peer_begin(struct reply *rp)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    lis_tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bind(lis_tcp, (struct sockaddr *)&a, sizeof a);
    listen(lis_tcp, 64);
    getsockname(lis_tcp, (struct sockaddr *)&a, &al);
    rp->port = ntohs(a.sin_port);
    a.sin_port = 0;
    closed_sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bind(closed_sock, (struct sockaddr *)&a, sizeof a);
    al = sizeof a;
    getsockname(closed_sock, (struct sockaddr *)&a, &al);
    rp->closed_port = ntohs(a.sin_port);
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    snprintf(unix_path, sizeof unix_path, "/tmp/fuzzdiff-%d.sock", (int)getpid());
    unlink(unix_path);
    snprintf(u.sun_path, sizeof u.sun_path, "%s", unix_path);
    lis_unix = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bind(lis_unix, (struct sockaddr *)&u, sizeof u);
    listen(lis_unix, 64);
    snprintf(rp->path, sizeof rp->path, "%s", unix_path);
}

static void peer_end(struct reply *rp)
{
    size_t off = 0;
    if (lis_tcp >= 0) peer_accept_pending(lis_tcp, -1, &(int){0});
    if (lis_unix >= 0) peer_accept_pending(lis_unix, -1, &(int){0});
    for (int i = 0; i < npc; i++) {
        struct pconn *c = &pc[i];
        if (c->fd >= 0) peer_drain(c);
        int w;
        char first[48];
        size_t fl = 0;
        for (; fl < c->kept && fl < sizeof first - 1 && c->buf[fl] != '\r'; fl++)
            first[fl] = c->buf[fl] > ' ' && c->buf[fl] < 127 ? (char)c->buf[fl] : '_';
        first[fl] = 0;
        if (c->replay)
            w = snprintf(rp->text + off, sizeof rp->text - off,
                         "REPLAY at=%d n=%llu req_len=%zu req_h=%016llx after=%llu answered=%d "
                         "line=%s\n",
                         c->cmd_at, (unsigned long long)c->n, c->req_len,
                         (unsigned long long)c->req_hash, (unsigned long long)c->after, c->answered,
                         first);
        else
            w = snprintf(
                rp->text + off, sizeof rp->text - off, "PEER k=%d n=%llu h=%016llx eof=%d rst=%s\n",
                c->k, (unsigned long long)c->n, (unsigned long long)c->hash, c->eof, ename(c->rst));
        if (w > 0 && (size_t)w < sizeof rp->text - off) off += (size_t)w;
        if (c->fd >= 0) close(c->fd);
    }
    npc = 0;
    if (lis_tcp >= 0) close(lis_tcp);
    if (lis_unix >= 0) close(lis_unix);
    if (closed_sock >= 0) close(closed_sock);
    lis_tcp = lis_unix = closed_sock = -1;
    if (unix_path[0]) unlink(unix_path);
    unix_path[0] = 0;
}

/* Reads on c until want bytes came (or EOF/RST, or 1 s: after a replay the
 * bytes went elsewhere). */
static void peer_wait_bytes(struct pconn *c, uint64_t want)
{
    long long end = mono_ms() + 1000;
    while (c->fd >= 0 && c->n < want && !c->eof && !c->rst && mono_ms() < end) {
        wait_events(c->fd, POLLIN, 5);
        peer_drain(c);
    }
}

static void peer_command(const struct msg *m, struct reply *rp)
{
    peer_cmds++;
    for (int i = 0; i < npc; i++)
        if (pc[i].fd >= 0) peer_drain(&pc[i]);
    if (m->op == CMD_END) {
        const char *p = m->data;
        int k, n, used;
        while (sscanf(p, "%d:%d %n", &k, &n, &used) == 2) {
            struct pconn *w = peer_find(k);
            if (w) peer_wait_bytes(w, (uint64_t)n);
            p += used;
        }
    }
    struct pconn *c =
        (m->op != CMD_BEGIN && m->op != CMD_END && m->op != CMD_ACCEPT && m->op != CMD_CONNECT_TO)
            ? peer_find(m->k)
            : NULL;
    /* What the peer does next (a FIN, an RST, a close with or without unread
     * data, a byte count) must not depend on whether the program's last bytes
     * were still in a softirq: the peer first reads all it sent on k. */
    if (c && (m->op == CMD_FIN || m->op == CMD_RST || m->op == CMD_CLOSE || m->op == CMD_REPORT ||
              m->op == CMD_SYNC))
        peer_wait_bytes(c, (uint64_t)(m->a > 0 ? m->a : 0));
    switch (m->op) {
    case CMD_BEGIN:
        peer_end(rp);
        memset(rp->text, 0, 8);
        peer_cmds = 0;
        peer_begin(rp);
        break;
    case CMD_END: peer_end(rp); break;
    case CMD_ACCEPT: {
        int lfd = m->a ? lis_tcp : lis_unix, taken = 0;
        long long end = mono_ms() + 2000;
        while (!taken && mono_ms() < end) {
            if (m->a) {
                peer_accept_pending(lfd, -1, &taken);
                for (int i = 0; i < npc; i++)
                    if (pc[i].replay && !pc[i].n && pc[i].port == m->a && pc[i].k < 0) {
                        pc[i].replay = 0;
                        pc[i].k = m->k;
                        taken = 1;
                        break;
                    }
            } else {
                peer_accept_pending(lfd, m->k, &taken);
                for (int i = npc - 1; i >= 0 && !taken; i--)
                    if (pc[i].replay && !pc[i].n && pc[i].k < 0 && !pc[i].port) {
                        pc[i].replay = 0;
                        pc[i].k = m->k;
                        taken = 1;
                    }
            }
            if (!taken) wait_events(lfd, POLLIN, 20);
        }
        rp->r = taken ? 0 : -1;
        break;
    }
    case CMD_CONNECT_TO: {
        struct sockaddr_un u = {.sun_family = AF_UNIX};
        snprintf(u.sun_path, sizeof u.sun_path, "%.100s", m->data);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        rp->r = connect(fd, (struct sockaddr *)&u, sizeof u);
        rp->err = rp->r < 0 ? errno : 0;
        if (rp->r == 0)
            peer_new_conn(fd, m->k, 0);
        else
            close(fd);
        break;
    }
    case CMD_SEND:
        if (!c || c->fd < 0) {
            rp->r = -1, rp->err = EBADF;
            break;
        }
        rp->r = (int)send(c->fd, m->data, m->len, MSG_NOSIGNAL);
        rp->err = rp->r < 0 ? errno : 0;
        break;
    case CMD_FIN:
        if (!c || c->fd < 0) {
            rp->r = -1, rp->err = EBADF;
            break;
        }
        rp->r = shutdown(c->fd, SHUT_WR);
        rp->err = rp->r < 0 ? errno : 0;
        break;
    case CMD_RST:
    case CMD_CLOSE:
        if (!c || c->fd < 0) {
            rp->r = -1, rp->err = EBADF;
            break;
        }
        if (m->op == CMD_RST) {
            struct linger l = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        rp->r = close(c->fd);
        c->fd = -1;
        break;
    case CMD_SYNC: break;
    case CMD_REPORT:
        if (!c) {
            rp->r = -1, rp->err = EBADF;
            break;
        }
        rp->n = (uint32_t)c->n;
        rp->hash = c->hash;
        rp->eof = c->eof;
        rp->rst = c->rst;
        break;
    }
}

static int peer_main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static struct msg m;
    static struct reply rp;
    for (;;) {
        struct pollfd p[2 + PCONN_MAX];
        int n = 0;
        p[n++] = (struct pollfd){CTL_FD, POLLIN, 0};
        if (lis_tcp >= 0) p[n++] = (struct pollfd){lis_tcp, POLLIN, 0};
        if (lis_unix >= 0) p[n++] = (struct pollfd){lis_unix, POLLIN, 0};
        int first_conn = n;
        int idx[PCONN_MAX];
        for (int i = 0; i < npc; i++)
            if (pc[i].replay && pc[i].fd >= 0 && !pc[i].eof && !pc[i].rst) {
                idx[n - first_conn] = i;
                p[n++] = (struct pollfd){pc[i].fd, POLLIN, 0};
            }
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        for (int j = first_conn; j < n; j++)
            if (p[j].revents) peer_drain(&pc[idx[j - first_conn]]);
        for (int j = 1; j < first_conn; j++)
            if (p[j].revents) peer_accept_pending(p[j].fd, -1, &(int){0});
        if (p[0].revents & POLLIN) {
            ssize_t r = recv(CTL_FD, &m, sizeof m, 0);
            if (r <= 0) {
                peer_end(&rp);
                return 0;
            }
            memset(&rp, 0, offsetof(struct reply, text) + 1);
            rp.seq = m.seq;
            peer_command(&m, &rp);
            size_t len = offsetof(struct reply, text) + strlen(rp.text) + 1;
            if (send(CTL_FD, &rp, len, MSG_NOSIGNAL) < 0) return 1;
        } else if (p[0].revents) {
            peer_end(&rp);
            return 0;
        }
    }
}

/* ---- the client: transcript and control ------------------------------------- */

static uint64_t seed_now;
static int step;
static uint64_t rng;
static uint32_t ctl_seq;
static volatile sig_atomic_t sigpipes, alarms;
static struct reply last_reply;
static int signals_on;
static int reader_thread_on;
/* FUZZDIFF_SKIP=a,b,...: leave out a feature whose known defect would hide the
 * rest (accept_addr, signals, unseen_close, thread, fork, stdio). */
static int skip_accept_addr, skip_signals, skip_unseen_close, skip_thread, skip_fork,
    skip_stdio; /* a thread consumes what the peer sends */

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}
static unsigned pick(unsigned n)
{
    return n ? (unsigned)(rnd() % n) : 0;
}

static void tr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tr(const char *fmt, ...)
{
    char b[8192];
    int n = snprintf(b, sizeof b, "%llu ", (unsigned long long)seed_now);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(b + n, sizeof b - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    size_t len =
        (size_t)n + ((size_t)m < sizeof b - (size_t)n - 2 ? (size_t)m : sizeof b - (size_t)n - 2);
    b[len++] = '\n';
    long w = syscall(SYS_write, TR_FD, b, len);
    (void)w;
}

/* Sends a command to the peer and waits for its answer (skipping answers to
 * commands of an earlier, killed sequence). */
static struct reply *peer_do(int op, int k, int a, const void *data, size_t len)
{
    static struct msg m;
    m.seq = ++ctl_seq;
    m.op = (uint32_t)op;
    m.k = k;
    m.a = a;
    m.len = (uint32_t)len;
    if (len) memcpy(m.data, data, len);
    m.data[len] = 0;
    memset(&last_reply, 0, sizeof last_reply);
    if (syscall(SYS_sendto, CTL_FD, &m, offsetof(struct msg, data) + len + 1, MSG_NOSIGNAL, NULL,
                0) < 0) {
        last_reply.r = -2;
        return &last_reply;
    }
    for (;;) {
        long r = syscall(SYS_recvfrom, CTL_FD, &last_reply, sizeof last_reply, 0, NULL, NULL);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            last_reply.r = -2;
            return &last_reply;
        }
        if (last_reply.seq == m.seq) return &last_reply;
    }
}

/* sig= is the number of SIGPIPEs delivered since the previous logged call. */
static void log_call(const char *name, int lk, int fd, long r, int err, uint64_t h)
{
    static int sig_seen;
    int sig = (int)sigpipes - sig_seen;
    sig_seen = (int)sigpipes;
    tr("C %d %s lk=%d fd=%d r=%ld e=%s h=%016llx sig=%d", step, name, lk, fd, r,
       r < 0 ? ename(err) : "0", (unsigned long long)h, sig);
}

/* ---- the client: model ----------------------------------------------------- */

enum {
    K_FREE,
    K_TCP,
    K_UNIX,
    K_PAIR,
    K_SRV,
    K_PIPE_R,
    K_PIPE_W,
    K_EVENT,
    K_MEMFD,
    K_NULL,
    K_EPOLL,
    K_LISTEN,
    K_OTHER
};
static const char *kind_names[] = {"free",  "tcp",   "unix", "pair",  "srv",    "pipe_r", "pipe_w",
                                   "event", "memfd", "null", "epoll", "listen", "other"};

struct lconn {
    int kind, k, refs, pending, peer_fin, peer_dead, shut_rd, nonblock, other, client_closed;
};
struct fdent {
    int kind, obj; /* obj: lconn index, or pipe index */
};
struct pipe_m {
    int pending, rrefs, wrefs;
};

static struct lconn lc[MAXLC];
/* Bytes the program handed to the kernel per peer connection k, shared with
 * forked children: the peer waits for them before acting on k, so a slow
 * softirq cannot reorder the program's data and the peer's FIN/RST. */
static uint64_t *sent_to_k;
#define K_MAX 64

static void count_sent(int l, ssize_t r)
{
    if (r > 0 && l >= 0 && lc[l].k >= 0 && lc[l].k < K_MAX && sent_to_k)
        __atomic_add_fetch(&sent_to_k[lc[l].k], (uint64_t)r, __ATOMIC_RELAXED);
}

static int32_t sent_k(int k)
{
    return sent_to_k && k >= 0 && k < K_MAX ? (int32_t)sent_to_k[k] : 0;
}
static int nlc;
static struct fdent fds[MAXFD];
static struct pipe_m pipes[MAXLC];
static int npipes;
static int next_k;
static uint16_t peer_port, closed_port;
static char peer_path[108];
static char my_listen_path[108];

static int lowest_free_fd(void)
{
    for (int i = 3; i < MAXFD; i++)
        if (fds[i].kind == K_FREE) return i;
    return -1;
}

static int is_sock(int kind)
{
    return kind == K_TCP || kind == K_UNIX || kind == K_PAIR || kind == K_SRV;
}

/* One reference to fd's object goes away (close, dup2 over it, unseen close). */
static void drop_fd(int fd)
{
    if (fd < 0 || fd >= MAXFD) return;
    struct fdent *e = &fds[fd];
    if (is_sock(e->kind)) {
        if (--lc[e->obj].refs == 0) {
            lc[e->obj].client_closed = 1;
            if (lc[e->obj].kind == K_PAIR && lc[e->obj].other >= 0)
                lc[lc[e->obj].other].peer_fin = 1;
        }
    } else if (e->kind == K_PIPE_R) {
        pipes[e->obj].rrefs--;
    } else if (e->kind == K_PIPE_W) {
        pipes[e->obj].wrefs--;
    }
    e->kind = K_FREE;
}

static void add_fd(int fd, int kind, int obj)
{
    if (fd < 0 || fd >= MAXFD) return;
    if (fds[fd].kind != K_FREE) drop_fd(fd);
    fds[fd].kind = kind;
    fds[fd].obj = obj;
    if (is_sock(kind)) lc[obj].refs++;
    if (kind == K_PIPE_R) pipes[obj].rrefs++;
    if (kind == K_PIPE_W) pipes[obj].wrefs++;
}

/* A random open fd whose kind satisfies want (a bit mask of kinds), or -1. */
static int pick_fd(unsigned want)
{
    int cand[MAXFD], n = 0;
    for (int i = 3; i < MAXFD; i++)
        if (fds[i].kind != K_FREE && (want & (1u << fds[i].kind))) cand[n++] = i;
    unsigned r = pick(64);
    return n ? cand[r % (unsigned)n] : -1;
}
#define SOCKS ((1u << K_TCP) | (1u << K_UNIX) | (1u << K_PAIR) | (1u << K_SRV))
#define PEERED ((1u << K_TCP) | (1u << K_UNIX) | (1u << K_SRV))

static int first_fd_of(int l)
{
    for (int i = 3; i < MAXFD; i++)
        if (is_sock(fds[i].kind) && fds[i].obj == l) return i;
    return -1;
}

static int new_lconn(int kind)
{
    if (nlc >= MAXLC) return -1;
    struct lconn *c = &lc[nlc];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->k = -1;
    c->other = -1;
    return nlc++;
}

static void log_open(int l, int fd)
{
    char la[64] = "-", pa[160] = "-";
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        snprintf(la, sizeof la, "127.0.0.1:%u", ntohs(s->sin_port));
    }
    sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            snprintf(pa, sizeof pa, "127.0.0.1:%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
        else if (ss.ss_family == AF_UNIX)
            snprintf(pa, sizeof pa, "unix:%s",
                     sl > offsetof(struct sockaddr_un, sun_path)
                         ? ((struct sockaddr_un *)&ss)->sun_path
                         : "");
    }
    tr("O %d lk=%d fd=%d kind=%s local=%s peer=%s", step, l, fd, kind_names[lc[l].kind], la, pa);
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in s;
    socklen_t sl = sizeof s;
    if (getsockname(fd, (struct sockaddr *)&s, &sl) < 0 || s.sin_family != AF_INET) return 0;
    return ntohs(s.sin_port);
}

/* Reads never block on this connection (predicted). */
static int may_read_blocking(const struct lconn *c)
{
    return c->pending > 0 || c->peer_fin || c->peer_dead || c->shut_rd;
}

/* After the peer acted on k: wait until the client's kernel shows it. */
static void sync_peer_event(int l, short ev)
{
    int fd = first_fd_of(l);
    if (fd >= 0 && lc[l].kind != K_UNIX && lc[l].kind != K_SRV) wait_events(fd, ev, 2000);
}

/* ---- the client: payloads ---------------------------------------------------- */

static const char *methods[] = {"GET",     "HEAD",  "PUT",  "DELETE",
                                "OPTIONS", "TRACE", "POST", "PATCH"};

/* Appends one HTTP/1.1 request to b; returns its length; *idem says whether a
 * replay of it is allowed (method or Idempotency-Key). */
static size_t gen_request(char *b, size_t cap, int *idem)
{
    const char *m = methods[pick(8)];
    int key = pick(4) == 0;
    int body = !strcmp(m, "PUT") || !strcmp(m, "POST") || !strcmp(m, "PATCH") || pick(10) == 0;
    int chunked = body && pick(3) == 0;
    unsigned blen = body ? 1 + pick(300) : 0;
    size_t n = (size_t)snprintf(b, cap, "%s /r%u HTTP/1.1\r\nHost: fuzz\r\n%s", m, pick(1000),
                                key ? "Idempotency-Key: k-1\r\n" : "");
    if (body && chunked)
        n += (size_t)snprintf(b + n, cap - n, "Transfer-Encoding: chunked\r\n\r\n%x\r\n", blen);
    else if (body)
        n += (size_t)snprintf(b + n, cap - n, "Content-Length: %u\r\n\r\n", blen);
    else
        n += (size_t)snprintf(b + n, cap - n, "\r\n");
    for (unsigned i = 0; i < blen && n < cap - 8; i++)
        b[n++] = (char)('a' + (i * 7 + blen) % 26);
    if (chunked) n += (size_t)snprintf(b + n, cap - n, "\r\n0\r\n\r\n");
    *idem = key || (strcmp(m, "POST") != 0 && strcmp(m, "PATCH") != 0);
    return n;
}

/* The request line of b (for reading transcripts), spaces as '_'. */
static const char *first_line(const char *b, size_t n)
{
    static char line[48];
    size_t i = 0;
    for (; i < n && i < sizeof line - 1 && b[i] != '\r'; i++)
        line[i] = b[i] > ' ' && b[i] < 127 ? b[i] : '_';
    line[i] = 0;
    return line;
}

/* The bytes of one write: one request (mostly), two pipelined, or junk. Logs
 * a Q line per complete request. */
static size_t gen_payload(char *b, size_t cap, int l)
{
    unsigned what = pick(20);
    size_t n = 0;
    int idem;
    if (what < 14) {
        n = gen_request(b, cap, &idem);
        tr("Q %d lk=%d h=%016llx len=%zu idem=%d kind=one line=%s", step, l,
           (unsigned long long)fnv(FNV0, b, n), n, idem, first_line(b, n));
    } else if (what < 17) {
        size_t a = gen_request(b, cap / 2, &idem);
        int idem2;
        size_t c = gen_request(b + a, cap / 2, &idem2);
        n = a + c;
        tr("Q %d lk=%d h=%016llx len=%zu idem=%d kind=pipelined line=%s", step, l,
           (unsigned long long)fnv(FNV0, b, n), n, idem && idem2, first_line(b, n));
    } else if (what < 19) {
        n = gen_request(b, cap, &idem);
        n = n / 2 + 1;
        tr("Q %d lk=%d h=%016llx len=%zu idem=%d kind=partial line=%s", step, l,
           (unsigned long long)fnv(FNV0, b, n), n, idem, first_line(b, n));
    } else {
        n = 1 + pick(200);
        for (size_t i = 0; i < n; i++)
            b[i] = (char)rnd();
        tr("Q %d lk=%d h=%016llx len=%zu idem=0 kind=junk", step, l,
           (unsigned long long)fnv(FNV0, b, n), n);
    }
    return n;
}

static size_t gen_response(char *b, size_t cap)
{
    unsigned blen = pick(400);
    unsigned what = pick(10);
    size_t n = (size_t)snprintf(b, cap, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", blen);
    for (unsigned i = 0; i < blen && n < cap; i++)
        b[n++] = (char)('A' + (i + blen) % 26);
    if (what == 0) n = 1 + pick((unsigned)n); /* a partial response */
    if (what == 1) {                          /* raw bytes */
        n = 1 + pick(3000);
        for (size_t i = 0; i < n; i++)
            b[i] = (char)rnd();
    }
    return n;
}

/* ---- the client: operations ------------------------------------------------ */

static void after_send(int l, int fd)
{
    (void)l, (void)fd; /* loopback and unix deliver within the call */
}

static int op_open_tcp(int nonblock)
{
    int l = new_lconn(K_TCP);
    if (l < 0) return 0;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    log_call(nonblock ? "socket_nb" : "socket", l, fd, fd, errno, 0);
    if (fd < 0) return 0;
    add_fd(fd, K_TCP, l);
    /* As curl does. With Nagle, a small write waits for the ACK of the
     * previous one, which the peer delays by up to 40 ms: whether it reached
     * the peer before the peer's next FIN, RST or close (and so which of
     * them the program then sees) was the machine's speed, not the calls. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    lc[l].nonblock = nonblock;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons(peer_port)};
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    log_call("connect", l, fd, r, errno, 0);
    if (nonblock) {
        struct pollfd p = {fd, POLLOUT, 0};
        do
            r = poll(&p, 1, 2000);
        while (r < 0 && errno == EINTR);
        log_call("poll_out", l, fd, r, errno, (uint64_t)p.revents);
    }
    lc[l].k = next_k++;
    struct reply *rp = peer_do(CMD_ACCEPT, lc[l].k, local_port(fd), NULL, 0);
    tr("P %d accept k=%d r=%d", step, lc[l].k, rp->r);
    log_open(l, fd);
    return 1;
}

static int op_open_unix(void)
{
    int l = new_lconn(K_UNIX);
    if (l < 0) return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    log_call("socket_unix", l, fd, fd, errno, 0);
    if (fd < 0) return 0;
    add_fd(fd, K_UNIX, l);
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    snprintf(u.sun_path, sizeof u.sun_path, "%s", peer_path);
    int r = connect(fd, (struct sockaddr *)&u, sizeof u);
    log_call("connect", l, fd, r, errno, 0);
    lc[l].k = next_k++;
    struct reply *rp = peer_do(CMD_ACCEPT, lc[l].k, 0, NULL, 0);
    tr("P %d accept k=%d r=%d", step, lc[l].k, rp->r);
    log_open(l, fd);
    return 1;
}

static int op_refused(void)
{
    int l = new_lconn(K_TCP);
    if (l < 0) return 0;
    int nonblock = pick(3) == 0;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    log_call("socket", l, fd, fd, errno, 0);
    if (fd < 0) return 0;
    add_fd(fd, K_TCP, l);
    lc[l].peer_dead = 1;
    lc[l].nonblock = nonblock;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons(closed_port)};
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    log_call("connect_refused", l, fd, r, errno, 0);
    if (nonblock && r < 0 && errno == EINPROGRESS && pick(2) == 0) {
        /* POSIX: learn the outcome by calling connect() again */
        int n = 0;
        do {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
            r = connect(fd, (struct sockaddr *)&a, sizeof a);
        } while (r < 0 && (errno == EINPROGRESS || errno == EALREADY) && ++n < 400);
        log_call("connect_repoll", l, fd, r, errno, 0);
    }
    if (nonblock) {
        struct pollfd p = {fd, POLLOUT, 0};
        do
            r = poll(&p, 1, 2000);
        while (r < 0 && errno == EINTR);
        log_call("poll_out", l, fd, r, errno, (uint64_t)p.revents);
        int err = 0;
        socklen_t sl = sizeof err;
        r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        log_call("so_error", l, fd, r, errno, (uint64_t)err);
    }
    tr("O %d lk=%d fd=%d kind=refused local=- peer=127.0.0.1:%u", step, l, fd, closed_port);
    return 1;
}

static int op_socketpair(void)
{
    int a = new_lconn(K_PAIR), b = new_lconn(K_PAIR);
    if (b < 0) return 0;
    int sv[2];
    int r = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    log_call("socketpair", a, r < 0 ? -1 : sv[0], r, errno, r < 0 ? 0 : (uint64_t)sv[1]);
    if (r < 0) return 0;
    add_fd(sv[0], K_PAIR, a);
    add_fd(sv[1], K_PAIR, b);
    lc[a].other = b;
    lc[b].other = a;
    tr("O %d lk=%d fd=%d kind=pair local=- peer=-", step, a, sv[0]);
    tr("O %d lk=%d fd=%d kind=pair local=- peer=-", step, b, sv[1]);
    return 1;
}

/* The program as a unix-socket server: accept() with a NULL, short or full
 * address buffer. */
static int op_accept_unix(void)
{
    int lfd = -1;
    for (int i = 3; i < MAXFD; i++)
        if (fds[i].kind == K_LISTEN) lfd = i;
    if (lfd < 0) {
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        log_call("socket_listen", -1, lfd, lfd, errno, 0);
        if (lfd < 0) return 0;
        add_fd(lfd, K_LISTEN, 0);
        struct sockaddr_un u = {.sun_family = AF_UNIX};
        snprintf(my_listen_path, sizeof my_listen_path, "/tmp/fuzzdiff-c%d.sock", (int)getpid());
        unlink(my_listen_path);
        snprintf(u.sun_path, sizeof u.sun_path, "%s", my_listen_path);
        int r = bind(lfd, (struct sockaddr *)&u, sizeof u);
        log_call("bind", -1, lfd, r, errno, 0);
        r = listen(lfd, 8);
        log_call("listen", -1, lfd, r, errno, 0);
    }
    int l = new_lconn(K_SRV);
    if (l < 0) return 0;
    lc[l].k = next_k++;
    struct reply *rp = peer_do(CMD_CONNECT_TO, lc[l].k, 0, my_listen_path, strlen(my_listen_path));
    tr("P %d connect_to k=%d r=%d e=%s", step, lc[l].k, rp->r, ename(rp->err));
    struct sockaddr_un u;
    socklen_t ul = sizeof u;
    unsigned how = pick(3);
    if (skip_accept_addr) how = 0;
    if (how == 1) ul = 2;
    int fd = how == 0 ? accept(lfd, NULL, NULL) : accept4(lfd, (struct sockaddr *)&u, &ul, 0);
    log_call(how == 0   ? "accept_null"
             : how == 1 ? "accept4_short"
                        : "accept4",
             l, fd, fd, errno, how ? (uint64_t)ul : 0);
    if (fd < 0) return 0;
    add_fd(fd, K_SRV, l);
    log_open(l, fd);
    return 1;
}

/* One write of a payload through one of the write paths. */
static void op_send(int fd)
{
    int l = fds[fd].obj;
    static char b[PAYLOAD_MAX];
    size_t n = gen_payload(b, sizeof b, l);
    int flags = pick(2) ? MSG_NOSIGNAL : 0;
    unsigned how = pick(10);
    if (how == 9 && skip_stdio) how = 4;
    ssize_t r = -1;
    int e = 0;
    const char *name = "?";
    size_t half = n / 2;
    struct iovec v[3] = {{b, half / 2}, {b + half / 2, half - half / 2}, {b + half, n - half}};
    errno = 0;
    switch (how) {
    case 0: name = "send", r = send(fd, b, n, flags); break;
    case 1: name = "sendto", r = sendto(fd, b, n, flags, NULL, 0); break;
    case 2: {
        name = "sendmsg";
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = 3};
        r = sendmsg(fd, &mh, flags);
        break;
    }
    case 3: {
        name = "sendmmsg";
        struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = v, .msg_iovlen = 2}},
                                {.msg_hdr = {.msg_iov = v + 2, .msg_iovlen = 1}}};
        r = sendmmsg(fd, mm, 2, flags);
        e = errno;
        if (r >= 0)
            r = (r >= 1 ? (ssize_t)mm[0].msg_len : 0) + (r >= 2 ? (ssize_t)mm[1].msg_len : 0);
        errno = e;
        break;
    }
    case 4: name = "write", r = write(fd, b, n); break;
    case 5: name = "writev", r = writev(fd, v, 3); break;
    case 6: {
        name = "sendfile";
        int mf = memfd_create("fuzzsrc", MFD_CLOEXEC);
        if (mf >= 0 && write(mf, b, n) == (ssize_t)n) {
            off_t off = 0;
            r = sendfile(fd, mf, &off, n);
            e = errno;
        }
        if (mf >= 0) close(mf);
        errno = e;
        break;
    }
    case 7: {
        name = "splice";
        int p[2];
        if (pipe2(p, O_CLOEXEC) == 0) {
            if (write(p[1], b, n) == (ssize_t)n) {
                r = splice(p[0], NULL, fd, NULL, n, 0);
                e = errno;
            }
            close(p[0]);
            close(p[1]);
        }
        errno = e;
        break;
    }
    case 8: {
        name = "headers_then_body"; /* two writes of one request */
        r = send(fd, b, half, flags);
        if (r == (ssize_t)half) {
            ssize_t r2 = write(fd, b + half, n - half);
            r = r2 < 0 ? r2 : r + r2;
        }
        break;
    }
    default: {
        name = "stdio";
        FILE *f = fdopen(dup(fd), "w");
        if (f) {
            r = (ssize_t)fwrite(b, 1, n, f);
            if (fflush(f) != 0) r = -1;
            e = errno;
            fclose(f);
            errno = e;
        }
        break;
    }
    }
    e = errno;
    log_call(name, l, fd, (long)r, e, n);
    count_sent(l, r);
    after_send(l, fd);
    if (lc[l].kind == K_PAIR && lc[l].other >= 0 && r > 0) lc[lc[l].other].pending += (int)r;
}

/* One read through one of the read paths; blocking only where the model says
 * it cannot block. */
static void op_recv(int fd)
{
    int l = fds[fd].obj;
    struct lconn *c = &lc[l];
    static char b[8192];
    unsigned len = 2 + pick((unsigned)c->pending + 64);
    if (len > sizeof b / 2) len = sizeof b / 2;
    int blocking = may_read_blocking(c) && !c->nonblock;
    unsigned how = pick(7);
    if (!blocking && how >= 4) how = 0;
    if (how == 6 && !(c->pending >= (int)len || c->peer_fin || c->peer_dead || c->shut_rd))
        how = 0; /* MSG_WAITALL would wait for bytes that never come */
    int fl = blocking ? 0 : MSG_DONTWAIT;
    ssize_t r = -1;
    const char *name = "?";
    errno = 0;
    struct iovec v[2] = {{b, len / 2}, {b + len / 2, len - len / 2}};
    unsigned odd = pick(24);
    if (odd < 2) { /* a read of zero bytes: returns 0 at once, never a FIN, leaves errors pending */
        struct iovec z = {b, 0};
        name = odd == 0 ? "read0" : "readv0";
        r = odd == 0 ? read(fd, b, 0) : readv(fd, &z, 1);
        log_call(name, l, fd, (long)r, errno, 0);
        return;
    }
    if (odd == 2) { /* the app reads (and so clears) the socket's pending error */
        int err = 0;
        socklen_t sl = sizeof err;
        r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        log_call("so_error_live", l, fd, (long)r, errno, (uint64_t)err);
        return;
    }
    switch (how) {
    case 0: name = "recv", r = recv(fd, b, len, fl); break;
    case 1: {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        name = "recvfrom", r = recvfrom(fd, b, len, fl, (struct sockaddr *)&ss, &sl);
        break;
    }
    case 2: {
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = 2};
        name = "recvmsg", r = recvmsg(fd, &mh, fl);
        break;
    }
    case 3: {
        struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = v, .msg_iovlen = 1}},
                                {.msg_hdr = {.msg_iov = v + 1, .msg_iovlen = 1}}};
        name = "recvmmsg";
        r = recvmmsg(fd, mm, 2, fl | MSG_WAITFORONE, NULL);
        int e2 = errno;
        tr("C %d recvmmsg_count lk=%d fd=%d r=%ld e=0 h=0 sig=0", step, l, fd, (long)r);
        errno = e2;
        if (r > 0) {
            /* flatten: message 2 follows message 1 only if 1 was full */
            ssize_t t = mm[0].msg_len;
            if (r > 1) {
                memmove(b + t, v[1].iov_base, mm[1].msg_len);
                t += mm[1].msg_len;
            }
            r = t;
        }
        break;
    }
    case 4: name = "read", r = read(fd, b, len); break;
    case 5: name = "readv", r = readv(fd, v, 2); break;
    default: name = "recv_waitall", r = recv(fd, b, len, MSG_WAITALL); break;
    }
    int e = errno;
    log_call(name, l, fd, (long)r, e, r > 0 ? fnv(FNV0, b, (size_t)r) : 0);
    unsigned took = len < (unsigned)c->pending ? len : (unsigned)c->pending;
    c->pending -= (int)took;
}

static void op_peer(int l, int what)
{
    struct lconn *c = &lc[l];
    struct reply *rp;
    static char b[PAYLOAD_MAX];
    if (c->kind == K_PAIR) { /* the other end of a socketpair plays the peer */
        int o = c->other, ofd = first_fd_of(o);
        if (ofd < 0) return;
        if (what == 0) {
            size_t n = gen_response(b, sizeof b);
            ssize_t r = send(ofd, b, n, MSG_NOSIGNAL);
            log_call("pair_send", o, ofd, (long)r, errno, n);
            if (r > 0) c->pending += (int)r;
        } else {
            int r = shutdown(ofd, SHUT_WR);
            log_call("pair_shutdown", o, ofd, r, errno, 0);
            c->peer_fin = 1;
        }
        return;
    }
    if (c->peer_dead) return;
    switch (what) {
    case 0: {
        size_t n = gen_response(b, sizeof b);
        rp = peer_do(CMD_SEND, c->k, sent_k(c->k), b, n);
        tr("P %d send k=%d r=%d e=%s", step, c->k, rp->r, ename(rp->err));
        /* predicted, not the result: after a replay the runs' sockets differ */
        if (!c->client_closed) c->pending += (int)n;
        if (rp->r > 0 && first_fd_of(l) >= 0 && c->kind == K_TCP && !c->shut_rd &&
            !reader_thread_on)
            wait_inq(first_fd_of(l), c->pending, 2000);
        break;
    }
    case 1:
        if (c->peer_fin) return;
        rp = peer_do(CMD_FIN, c->k, sent_k(c->k), NULL, 0);
        tr("P %d fin k=%d r=%d", step, c->k, rp->r);
        c->peer_fin = 1;
        sync_peer_event(l, POLLRDHUP);
        break;
    case 2:
        rp = peer_do(CMD_RST, c->k, sent_k(c->k), NULL, 0);
        tr("P %d rst k=%d r=%d", step, c->k, rp->r);
        c->peer_dead = 1;
        sync_peer_event(l, POLLERR | POLLHUP);
        break;
    case 3:
        rp = peer_do(CMD_CLOSE, c->k, sent_k(c->k), NULL, 0);
        tr("P %d close k=%d r=%d", step, c->k, rp->r);
        c->peer_dead = 1;
        sync_peer_event(l, POLLRDHUP);
        break;
    default:
        rp = peer_do(CMD_REPORT, c->k, sent_k(c->k), NULL, 0);
        tr("P %d report k=%d n=%u h=%016llx eof=%d rst=%s", step, c->k, rp->n,
           (unsigned long long)rp->hash, rp->eof, ename(rp->rst));
        break;
    }
}

static void op_close(int fd, int how)
{
    int l = fds[fd].obj, kind = fds[fd].kind;
    int r;
    const char *name;
    /* The last close of a connection with unread data is abortive: the
     * kernel sends an RST and throws away what it has not delivered yet.
     * Whether the last bytes reached the peer first would be the machine's
     * timing (a softirq deferred under load), so the peer reads all the
     * program sent first (not in the transcript: bare and shim alike). */
    if (kind == K_TCP && lc[l].refs == 1 && lc[l].pending > 0 && lc[l].k >= 0 && !lc[l].peer_dead)
        peer_do(CMD_SYNC, lc[l].k, sent_k(lc[l].k), NULL, 0);
    if (how == 0) {
        name = "close", r = close(fd);
    } else if (how == 1) {
        name = "fdopen_fclose";
        FILE *f = fdopen(fd, "r+");
        r = f ? fclose(f) : -1;
    } else {
        name = "raw_close", r = (int)syscall(SYS_close, fd);
    }
    log_call(name, is_sock(kind) ? l : -1, fd, r, errno, (uint64_t)kind);
    drop_fd(fd);
}

static void op_shutdown(int fd)
{
    int l = fds[fd].obj;
    int how = (int)pick(3);
    int r = shutdown(fd, how);
    log_call(how == SHUT_RD   ? "shutdown_rd"
             : how == SHUT_WR ? "shutdown_wr"
                              : "shutdown_rdwr",
             l, fd, r, errno, 0);
    if (how != SHUT_WR) lc[l].shut_rd = 1;
    if (how != SHUT_RD && lc[l].kind == K_PAIR && lc[l].other >= 0) lc[lc[l].other].peer_fin = 1;
}

static void op_dup(int fd)
{
    int kind = fds[fd].kind, obj = fds[fd].obj;
    int l = is_sock(kind) ? obj : -1;
    unsigned how = pick(5);
    int target = -1, r;
    if (how >= 2 && how <= 3) { /* onto an open fd (or a free number) */
        target = pick(2) ? pick_fd(~0u) : lowest_free_fd() + (int)pick(3);
        if (target < 3 || target >= MAXFD - 1 || target == fd) target = lowest_free_fd() + 1;
    }
    switch (how) {
    case 0: r = dup(fd); break;
    case 1: r = fcntl(fd, pick(2) ? F_DUPFD : F_DUPFD_CLOEXEC, 3); break;
    case 2: r = dup2(fd, target); break;
    case 3: r = dup3(fd, target, O_CLOEXEC); break;
    default: r = fcntl(fd, F_DUPFD, 20 + pick(10)); break;
    }
    static const char *names[] = {"dup", "fcntl_dupfd", "dup2", "dup3", "fcntl_dupfd_high"};
    log_call(names[how], l, fd, r, errno, (uint64_t)target);
    if (r >= 0 && r < MAXFD) add_fd(r, kind, obj);
}

/* Non-socket fds that reuse freed numbers, and what is done with them. */
static void op_other_fd(void)
{
    unsigned how = pick(5);
    int r;
    switch (how) {
    case 0: {
        int p[2];
        r = pipe(p);
        log_call("pipe", -1, r < 0 ? -1 : p[0], r, errno, r < 0 ? 0 : (uint64_t)p[1]);
        if (r == 0 && npipes < MAXLC) {
            memset(&pipes[npipes], 0, sizeof pipes[npipes]);
            add_fd(p[0], K_PIPE_R, npipes);
            add_fd(p[1], K_PIPE_W, npipes);
            npipes++;
        }
        return;
    }
    case 1:
        r = eventfd(0, 0), log_call("eventfd", -1, r, r, errno, 0), add_fd(r, K_EVENT, 0);
        return;
    case 2:
        r = memfd_create("fuzz", 0), log_call("memfd", -1, r, r, errno, 0), add_fd(r, K_MEMFD, 0);
        return;
    case 3:
        r = open("/dev/null", O_RDWR), log_call("open_null", -1, r, r, errno, 0),
        add_fd(r, K_NULL, 0);
        return;
    default:
        r = epoll_create1(0), log_call("epoll_create", -1, r, r, errno, 0), add_fd(r, K_EPOLL, 0);
        return;
    }
}

static void op_use_other(int fd)
{
    char b[512];
    int kind = fds[fd].kind;
    ssize_t r = 0;
    const char *name = "?";
    uint64_t h = 0;
    errno = 0;
    switch (kind) {
    case K_PIPE_R: {
        struct pipe_m *p = &pipes[fds[fd].obj];
        if (p->pending == 0 && p->wrefs > 0) return; /* would block */
        unsigned len = 1 + pick(200);
        name = "pipe_read", r = read(fd, b, len);
        if (r > 0) h = fnv(FNV0, b, (size_t)r), p->pending -= (int)r;
        break;
    }
    case K_PIPE_W: {
        struct pipe_m *p = &pipes[fds[fd].obj];
        unsigned len = 1 + pick(200);
        memset(b, 'p', len);
        name = "pipe_write", r = write(fd, b, len);
        if (r > 0) p->pending += (int)r;
        break;
    }
    case K_EVENT: {
        uint64_t v = 1 + pick(5);
        name = "eventfd_write", r = write(fd, &v, 8);
        if (r == 8) r = read(fd, &v, 8), h = v;
        break;
    }
    case K_MEMFD:
        memset(b, 'm', 64);
        name = "memfd_rw", r = write(fd, b, 64);
        if (r == 64)
            lseek(fd, 0, SEEK_SET), r = read(fd, b, 128), h = fnv(FNV0, b, r > 0 ? (size_t)r : 0);
        break;
    case K_NULL: name = "null_read", r = read(fd, b, 100); break;
    case K_EPOLL: {
        int s = pick_fd(SOCKS);
        if (s >= 0) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.fd = s};
            int cr = epoll_ctl(fd, EPOLL_CTL_ADD, s, &ev);
            log_call("epoll_ctl_add", fds[s].obj, s, cr, errno, 0);
        }
        struct epoll_event out[8];
        int n;
        do
            n = epoll_wait(fd, out, 8, 0);
        while (n < 0 && errno == EINTR);
        for (int i = 0; i < n; i++)
            h = h * 131 + (uint64_t)out[i].data.fd * 1000003 + out[i].events;
        name = "epoll_wait", r = n;
        break;
    }
    default: return;
    }
    log_call(name, -1, fd, (long)r, errno, h);
}

static void op_poll(void)
{
    struct pollfd p[4];
    int n = 0;
    for (int i = 0; i < 4; i++) {
        int fd = pick_fd(~0u);
        if (fd >= 0) p[n++] = (struct pollfd){fd, POLLIN | POLLOUT | POLLRDHUP, 0};
    }
    if (!n) return;
    int r;
    do
        r = poll(p, (nfds_t)n, 0);
    while (r < 0 && errno == EINTR);
    uint64_t h = 0;
    for (int i = 0; i < n; i++)
        h = h * 131 + (uint64_t)p[i].fd * 1000003 + (uint64_t)p[i].revents;
    log_call("poll", -1, p[0].fd, r, errno, h);
}

/* A forked child makes one call on an inherited connection, then exits. */
static void op_fork(int fd)
{
    int l = fds[fd].obj;
    unsigned what = pick(3);
    static char b[PAYLOAD_MAX];
    size_t n = what == 1 ? gen_payload(b, sizeof b, l) : 0;
    pid_t pid = fork();
    if (pid == 0) {
        tr("F %d pid=%d", step, (int)getpid());
        if (what == 0) {
            int r = close(fd);
            log_call("child_close", l, fd, r, errno, 0);
        } else if (what == 1) {
            ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
            log_call("child_send", l, fd, (long)r, errno, n);
            count_sent(l, r);
            after_send(l, fd);
        } else {
            char rb[64];
            ssize_t r = recv(fd, rb, sizeof rb, MSG_DONTWAIT | MSG_PEEK);
            log_call("child_peek", l, fd, (long)r, errno, r > 0 ? fnv(FNV0, rb, (size_t)r) : 0);
        }
        _exit(0);
    }
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    tr("W %d status=%d", step, st);
}

struct blocked {
    int fd, l;
    pthread_t th;
    volatile pid_t tid;
    ssize_t r;
    int err;
    uint64_t h;
};

static void *blocked_recv(void *arg)
{
    struct blocked *b = arg;
    char buf[4096];
    /* The sequence's SIGALRM must not land here: with SA_RESTART the kernel
     * restarts recv() by fd number, and after main has closed that number and
     * opened a new connection on it, the restarted call would wait on the new
     * connection forever (bare and under the shim alike). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    b->tid = (pid_t)syscall(SYS_gettid);
    b->r = recv(b->fd, buf, sizeof buf, 0);
    b->err = errno;
    b->h = b->r > 0 ? fnv(FNV0, buf, (size_t)b->r) : 0;
    return NULL;
}

/* Waits until thread tid sleeps inside a syscall (recvfrom). */
static void wait_in_syscall(pid_t tid)
{
    char path[64], s[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    long long end = mono_ms() + 1000;
    while (mono_ms() < end) {
        int f = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = f >= 0 ? read(f, s, sizeof s - 1) : -1;
        if (f >= 0) close(f);
        if (n > 0) {
            s[n] = 0;
            if (!strncmp(s, "45 ", 3)) return;
        }
        nap_us(200);
    }
}

/* Thread A blocks in recv on a connection; main either makes the peer answer,
 * or closes the fd, opens a new connection on the same number and then makes
 * the peer reset the old one. */
static void op_thread(int fd)
{
    int l = fds[fd].obj;
    struct lconn *c = &lc[l];
    if (c->kind != K_TCP || c->nonblock || may_read_blocking(c) || c->k < 0) return;
    static struct blocked b;
    memset(&b, 0, sizeof b);
    b.fd = fd;
    b.l = l;
    if (pthread_create(&b.th, NULL, blocked_recv, &b) != 0) return;
    long long end = mono_ms() + 1000;
    while (!b.tid && mono_ms() < end)
        nap_us(100);
    wait_in_syscall(b.tid);
    unsigned what = pick(2);
    tr("C %d thread_started lk=%d fd=%d r=0 e=0 h=%u sig=0", step, l, fd, what);
    if (what == 0) {
        reader_thread_on = 1;
        op_peer(l, 0);
        reader_thread_on = 0;
    } else {
        int refs = c->refs;
        op_close(fd, 0);
        if (refs == 1) {
            op_open_tcp(0);
            int nfd = first_fd_of(nlc - 1);
            if (nfd >= 0) op_send(nfd);
        }
        op_peer(l, 2);
    }
    pthread_join(b.th, NULL);
    log_call("thread_recv", l, fd, (long)b.r, b.err, b.h);
    /* the model predicts, it never reads results (they differ after a replay) */
    if (what == 0) c->pending -= c->pending < 4096 ? c->pending : 4096;
}

static void on_alarm(int sig)
{
    (void)sig;
    int e = errno;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) close(fd);
    alarms++;
    errno = e;
}

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static void malloc_churn(void)
{
    void *p[64] = {0};
    for (int i = 0; i < 4000; i++) {
        int j = (int)pick(64);
        free(p[j]);
        p[j] = malloc(16 + pick(512));
    }
    for (int j = 0; j < 64; j++)
        free(p[j]);
}

/* Compound steps that steer toward the interesting states. */
static void op_exchange(int fd)
{
    int l = fds[fd].obj;
    op_send(fd);
    op_peer(l, 0);
    if (first_fd_of(l) == fd) op_recv(fd);
}

static void op_stale(int fd)
{
    int l = fds[fd].obj;
    if (lc[l].kind == K_PAIR) return;
    op_send(fd);
    op_peer(l, pick(2) ? 2 : (pick(2) ? 1 : 3));
    if (first_fd_of(l) != fd) return;
    if (pick(3) == 0)
        op_send(fd);
    else
        op_recv(fd);
}

/* The peer's per-connection summary, one X line each. */
static void log_peer_summary(struct reply *rp)
{
    char *line = rp->text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        tr("X %s", line);
        line = nl ? nl + 1 : NULL;
    }
}

static void run_sequence(uint64_t seed)
{
    seed_now = seed;
    rng = seed * 0x9e3779b97f4a7c15ULL + 0x1234567;
    for (int i = 0; i < 8; i++)
        rnd();
    sent_to_k = mmap(NULL, K_MAX * sizeof *sent_to_k, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sent_to_k == MAP_FAILED) sent_to_k = NULL;
    struct reply *rp = peer_do(CMD_BEGIN, 0, 0, NULL, 0);
    peer_port = rp->port;
    closed_port = rp->closed_port;
    snprintf(peer_path, sizeof peer_path, "%s", rp->path);
    signals_on = pick(6) == 0 && !skip_signals;
    tr("S pid=%d signals=%d t=%lld", (int)getpid(), signals_on, real_us());
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigaction(SIGPIPE, &sa, NULL);
    if (signals_on) {
        struct sigaction al = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
        sigaction(SIGALRM, &al, NULL);
        struct itimerval it = {{0, 500}, {0, 500}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    int steps = 8 + (int)pick(40);
    for (step = 0; step < steps; step++) {
        unsigned w = pick(100);
        int s = pick_fd(SOCKS);
        int p = pick_fd(PEERED | (1u << K_PAIR));
        if (w < 10 || s < 0) {
            unsigned t = pick(10);
            if (t < 5)
                op_open_tcp(t == 0);
            else if (t < 7)
                op_open_unix();
            else if (t == 7)
                op_refused();
            else if (t == 8)
                op_socketpair();
            else
                op_accept_unix();
        } else if (w < 24) {
            op_send(s);
        } else if (w < 38) {
            op_recv(s);
        } else if (w < 50) {
            if (p >= 0) op_peer(fds[p].obj, (int)pick(5) == 0 ? 0 : (int)pick(5));
        } else if (w < 58) {
            op_exchange(s);
        } else if (w < 66) {
            op_stale(s);
        } else if (w < 72) {
            int how = pick(6) == 0 ? 1 + (int)pick(2) : 0;
            op_close(s, skip_unseen_close ? 0 : how);
        } else if (w < 76) {
            op_dup(s);
        } else if (w < 79) {
            op_shutdown(s);
        } else if (w < 84) {
            op_other_fd();
        } else if (w < 90) {
            int o = pick_fd(~SOCKS & ~(1u << K_LISTEN));
            if (o >= 0) {
                if (pick(4) == 0)
                    op_close(o, 0);
                else
                    op_use_other(o);
            }
        } else if (w < 93) {
            op_poll();
        } else if (w < 95) {
            if (!skip_fork) op_fork(s);
        } else if (w < 97) {
            if (!skip_thread) op_thread(s);
        } else if (signals_on) {
            malloc_churn();
        } else {
            op_dup(s);
        }
    }
    if (signals_on) {
        struct itimerval it = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    /* Close everything explicitly: records due at close are written now. */
    for (int fd = 3; fd < MAXFD; fd++)
        if (fds[fd].kind != K_FREE) op_close(fd, 0);
    if (my_listen_path[0]) unlink(my_listen_path);
    char want[K_MAX * 24];
    size_t wl = 0;
    for (int k = 0; k < next_k && k < K_MAX; k++)
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "%d:%d ", k, sent_k(k));
    rp = peer_do(CMD_END, 0, 0, want, wl);
    tr("END sigpipes=%d", (int)sigpipes);
    log_peer_summary(rp);
}

static int client_main(uint64_t first, uint64_t count)
{
    long long t0 = mono_ms();
    signal(SIGPIPE, SIG_IGN);
    const char *skip = getenv("FUZZDIFF_SKIP");
    if (skip) {
        skip_accept_addr = strstr(skip, "accept_addr") != NULL;
        skip_signals = strstr(skip, "signals") != NULL;
        skip_unseen_close = strstr(skip, "unseen_close") != NULL;
        skip_thread = strstr(skip, "thread") != NULL;
        skip_fork = strstr(skip, "fork") != NULL;
        skip_stdio = strstr(skip, "stdio") != NULL;
    }
    for (uint64_t seed = first; seed < first + count; seed++) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            run_sequence(seed);
            _exit(0);
        }
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        int st = 0, timed_out = 0;
        if (pfd >= 0) {
            struct pollfd p = {pfd, POLLIN, 0};
            if (poll(&p, 1, SEQ_TIMEOUT_MS) == 0) {
                kill(pid, SIGKILL);
                timed_out = 1;
            }
            close(pfd);
        }
        waitpid(pid, &st, 0);
        seed_now = seed;
        if (timed_out) tr("TIMEOUT");
        if (WIFSIGNALED(st) && !timed_out)
            tr("CRASH signal=%d", WTERMSIG(st));
        else if (WIFEXITED(st) && WEXITSTATUS(st))
            tr("EXIT status=%d", WEXITSTATUS(st));
        if (timed_out || WIFSIGNALED(st)) {
            log_peer_summary(peer_do(CMD_END, 0, 0, NULL, 0)); /* and forgets it */
            char p[64];
            snprintf(p, sizeof p, "/tmp/fuzzdiff-c%d.sock", (int)pid);
            unlink(p);
        }
        tr("DONE t=%lld", real_us());
    }
    long long ms = mono_ms() - t0;
    fprintf(stderr, "fuzzdiff: %llu sequences in %lld ms\n", (unsigned long long)count, ms);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "peer")) return peer_main();
    if (argc >= 4 && !strcmp(argv[1], "client"))
        return client_main(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: fuzzdiff peer | fuzzdiff client FIRST COUNT\n"
                    "  (fd 100: control socket, fd 101: transcript; see tests/fuzzdiff/)\n");
    return 2;
}
