// SPDX-License-Identifier: MIT
/* unixaddr.c: exercises AF_UNIX sockets end to end and prints, one line per
 * call, what the application sees: return values, errno names, the address
 * lengths the kernel reports and every byte it wrote into the caller's
 * address buffer. unix.bats runs it bare and under the shim and requires the
 * two transcripts to be identical, so any change the shim makes to an
 * address buffer (a write past the length the caller gave, a lost or
 * rewritten length) or to the data shows up as a diff.
 *
 * Covered: stream, seqpacket and datagram sockets; path, abstract and unnamed
 * (socketpair, unbound) addresses; accept, accept4 (with flags), getpeername,
 * getsockname, recvfrom and recvmsg with address buffers that are NULL,
 * NULL with a length, zero-length, shorter than the address, exactly as long
 * and larger.
 *
 *     unixaddr [--tight] DIR NAME
 *
 * DIR is a directory for path sockets, NAME a prefix for socket and abstract
 * names (the same in both runs so the transcripts match). --tight allocates
 * each address buffer with exactly the length the caller passes (no canary
 * bytes), so ASan or valgrind report any access past it, and leaves out
 * the getpeername/getsockname calls with NULL buffers (EFAULT). Exits 0 when it ran
 * to the end (what it saw is in the transcript), 2 on a setup error. */
#include "common.h"

#include <stddef.h>
#include <sys/un.h>

#define PROG "unixaddr"
#define CANARY 0xA5
/* Canary bytes after each buffer (not with --tight). As many as the largest
 * address: ASan's recvmsg interceptor marks msg_namelen bytes as written, and
 * after a truncation that is the full length, not the length the caller gave. */
#define PAD ((socklen_t)sizeof(struct sockaddr_storage))

static int tight;
static const char *dir, *name;

enum addr_kind { ADDR_PATH, ADDR_ABSTRACT, ADDR_UNBOUND };
static const char *const addr_kind_names[] = {"path", "abstract", "unbound"};

/* The buffer shapes a caller can hand to the kernel. */
enum buf_kind { BUF_NULL, BUF_LENONLY, BUF_ZERO, BUF_FAMILY, BUF_SHORT, BUF_EXACT, BUF_LARGE };
static const char *const buf_kind_names[] = {"null",  "lenonly", "zero", "family",
                                             "short", "exact",   "large"};
#define N_BUF_KINDS 7

struct addrbuf {
    unsigned char *mem; /* NULL for BUF_NULL and BUF_LENONLY */
    socklen_t given;    /* length passed in */
    socklen_t len;      /* in/out length */
    socklen_t *lenp;    /* NULL for BUF_NULL */
};

static const char *errno_name(int e)
{
    switch (e) {
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ENOENT: return "ENOENT";
    case EADDRINUSE: return "EADDRINUSE";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "E?";
    }
}

/* Fills sun with the address of kind for role ("srv", "cli", ...); returns its length. */
static socklen_t make_addr(struct sockaddr_un *sun, enum addr_kind kind, const char *role)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (kind == ADDR_PATH) {
        int n = snprintf(sun->sun_path, sizeof sun->sun_path, "%s/%s.%s", dir, name, role);
        if (n < 0 || (size_t)n >= sizeof sun->sun_path) die(PROG, "socket path too long");
        unlink(sun->sun_path);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    }
    if (kind == ADDR_ABSTRACT) {
        int n = snprintf(sun->sun_path + 1, sizeof sun->sun_path - 1, "%s.%s", name, role);
        if (n < 0 || (size_t)n >= sizeof sun->sun_path - 1) die(PROG, "abstract name too long");
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    }
    return sizeof(sa_family_t);
}

static void buf_init(struct addrbuf *b, enum buf_kind kind, socklen_t exact)
{
    memset(b, 0, sizeof *b);
    switch (kind) {
    case BUF_NULL: return;
    case BUF_LENONLY: b->given = sizeof(struct sockaddr_un); break;
    case BUF_ZERO: b->given = 0; break;
    case BUF_FAMILY: b->given = sizeof(sa_family_t); break;
    case BUF_SHORT: b->given = offsetof(struct sockaddr_un, sun_path) + 3; break;
    case BUF_EXACT: b->given = exact; break;
    case BUF_LARGE: b->given = sizeof(struct sockaddr_storage); break;
    }
    b->len = b->given;
    b->lenp = &b->len;
    if (kind == BUF_LENONLY) return;
    size_t size = b->given + (tight ? 0 : PAD);
    b->mem = malloc(size ? size : 1);
    if (!b->mem) die(PROG, "out of memory");
    memset(b->mem, CANARY, size ? size : 1);
}

/* Prints "LABEL: ret=... len=... addr=<hex of the given bytes> tail=..." and frees b. */
static void buf_report(const char *label, struct addrbuf *b, long ret, int err)
{
    printf("%s: ret=", label);
    if (ret < 0)
        printf("-1 %s", errno_name(err));
    else
        printf("%s", ret > 0 ? "n" : "0");
    if (b->lenp) printf(" len=%u", (unsigned)b->len);
    if (b->mem) {
        printf(" addr=");
        for (socklen_t i = 0; i < b->given; i++)
            printf("%02x", b->mem[i]);
        if (!tight) {
            int intact = 1;
            for (socklen_t i = b->given; i < b->given + PAD; i++)
                intact &= b->mem[i] == CANARY;
            printf(" tail=%s", intact ? "intact" : "OVERWRITTEN");
        }
    }
    putchar('\n');
    free(b->mem);
    b->mem = NULL;
}

static int must(int r, const char *what)
{
    if (r < 0) die(PROG, "%s: %s", what, strerror(errno));
    return r;
}

/* Prints the name-call-buf results of getpeername/getsockname on fd. */
static void report_names(const char *label, int fd, socklen_t peer_exact, socklen_t self_exact)
{
    char l[160];
    for (int k = 0; k < N_BUF_KINDS; k++) {
        struct addrbuf b;
        /* NULL buffers are EFAULT here: a valid case for the shim to pass
         * through, but memcheckers flag the call itself */
        if (tight && (k == BUF_NULL || k == BUF_LENONLY)) continue;
        buf_init(&b, (enum buf_kind)k, peer_exact);
        int r = getpeername(fd, (struct sockaddr *)b.mem, b.lenp);
        int e = errno;
        snprintf(l, sizeof l, "%s getpeername %s", label, buf_kind_names[k]);
        buf_report(l, &b, r, e);
        buf_init(&b, (enum buf_kind)k, self_exact);
        r = getsockname(fd, (struct sockaddr *)b.mem, b.lenp);
        e = errno;
        snprintf(l, sizeof l, "%s getsockname %s", label, buf_kind_names[k]);
        buf_report(l, &b, r, e);
    }
}

/* Client sends two messages; the server reads with a large buffer (a stream
 * may join them, a seqpacket socket must not), answers, the client reads. */
static void exchange(const char *label, int server, int client, int type)
{
    char buf[64];
    must((int)send(client, "ping", 4, 0), "send");
    must((int)send(client, "PING", 4, 0), "send");
    ssize_t n;
    if (type == SOCK_SEQPACKET) {
        n = recv(server, buf, sizeof buf, 0);
        ssize_t m = recv(server, buf + (n > 0 ? n : 0), sizeof buf - 8, 0);
        printf("%s data: server got %zd+%zd bytes \"%.*s\"\n", label, n, m,
               (int)((n > 0 ? n : 0) + (m > 0 ? m : 0)), buf);
    } else {
        size_t got = 0;
        while (got < 8 && (n = recv(server, buf + got, sizeof buf - got, 0)) > 0)
            got += (size_t)n;
        printf("%s data: server got %zu bytes \"%.*s\"\n", label, got, (int)got, buf);
    }
    must((int)send(server, "pong", 4, 0), "send");
    n = recv(client, buf, sizeof buf, 0);
    printf("%s data: client got %zd bytes \"%.*s\"\n", label, n, (int)(n > 0 ? n : 0), buf);
}

/* A listener of type and kind; clients of client_kind connect to it and are
 * accepted with each buffer kind, by accept and by accept4. */
static void connection_cases(int type, enum addr_kind kind, enum addr_kind client_kind)
{
    const char *tname = type == SOCK_STREAM ? "stream" : "seqpacket";
    struct sockaddr_un srv, cli;
    socklen_t srv_len = make_addr(&srv, kind, "srv");
    int lfd = must(socket(AF_UNIX, type, 0), "socket");
    must(bind(lfd, (struct sockaddr *)&srv, srv_len), "bind");
    must(listen(lfd, 8), "listen");
    for (int use4 = 0; use4 < 2; use4++) {
        for (int k = 0; k < N_BUF_KINDS; k++) {
            char label[128], l[160];
            snprintf(label, sizeof label, "%s %s<-%s %s %s", tname, addr_kind_names[kind],
                     addr_kind_names[client_kind], use4 ? "accept4" : "accept", buf_kind_names[k]);
            int cfd = must(socket(AF_UNIX, type, 0), "socket");
            socklen_t cli_len = make_addr(&cli, client_kind, "cli");
            if (client_kind != ADDR_UNBOUND)
                must(bind(cfd, (struct sockaddr *)&cli, cli_len), "bind client");
            must(connect(cfd, (struct sockaddr *)&srv, srv_len), "connect");
            struct addrbuf b;
            buf_init(&b, (enum buf_kind)k, cli_len);
            int afd =
                use4 ? accept4(lfd, (struct sockaddr *)b.mem, b.lenp, SOCK_CLOEXEC | SOCK_NONBLOCK)
                     : accept(lfd, (struct sockaddr *)b.mem, b.lenp);
            int e = errno;
            snprintf(l, sizeof l, "%s", label);
            buf_report(l, &b, afd < 0 ? -1 : 0, e);
            if (afd < 0) {
                close(cfd);
                continue;
            }
            if (use4) {
                int fdfl = fcntl(afd, F_GETFD), flfl = fcntl(afd, F_GETFL);
                printf("%s flags: cloexec=%d nonblock=%d\n", label, !!(fdfl & FD_CLOEXEC),
                       !!(flfl & O_NONBLOCK));
                fcntl(afd, F_SETFL, flfl & ~O_NONBLOCK);
            }
            /* the names from both ends once per listener and accept call */
            if (k == BUF_EXACT) {
                snprintf(l, sizeof l, "%s server-end", label);
                report_names(l, afd, cli_len, srv_len);
                snprintf(l, sizeof l, "%s client-end", label);
                report_names(l, cfd, srv_len, cli_len);
            }
            exchange(label, afd, cfd, type);
            close(cfd);
            char buf[8];
            ssize_t n = recv(afd, buf, sizeof buf, 0);
            int re = errno;
            printf("%s after client close: recv=%zd%s%s\n", label, n, n < 0 ? " " : "",
                   n < 0 ? errno_name(re) : "");
            close(afd);
            if (client_kind == ADDR_PATH) unlink(cli.sun_path);
        }
    }
    close(lfd);
    if (kind == ADDR_PATH) unlink(srv.sun_path);
}

/* The server closes with the client's bytes unread: the kernel then fails
 * the client's next read with ECONNRESET, on stream and seqpacket sockets
 * alike (the shim records the stream ones). */
static void reset_case(int type, enum addr_kind kind)
{
    const char *tname = type == SOCK_STREAM ? "stream" : "seqpacket";
    struct sockaddr_un srv;
    socklen_t srv_len = make_addr(&srv, kind, "rst");
    int lfd = must(socket(AF_UNIX, type, 0), "socket");
    must(bind(lfd, (struct sockaddr *)&srv, srv_len), "bind");
    must(listen(lfd, 8), "listen");
    int cfd = must(socket(AF_UNIX, type, 0), "socket");
    must(connect(cfd, (struct sockaddr *)&srv, srv_len), "connect");
    int afd = must(accept(lfd, NULL, NULL), "accept");
    must((int)send(cfd, "unread", 6, 0), "send");
    close(afd);
    char buf[8];
    ssize_t n = recv(cfd, buf, sizeof buf, 0);
    int e = errno;
    printf("%s %s server closed with data unread: client recv=%zd%s%s\n", tname,
           addr_kind_names[kind], n, n < 0 ? " " : "", n < 0 ? errno_name(e) : "");
    close(cfd);
    close(lfd);
    if (kind == ADDR_PATH) unlink(srv.sun_path);
}

static void socketpair_cases(int type)
{
    const char *tname = type == SOCK_STREAM      ? "stream"
                        : type == SOCK_SEQPACKET ? "seqpacket"
                                                 : "dgram";
    int sv[2];
    char label[64];
    must(socketpair(AF_UNIX, type, 0, sv), "socketpair");
    snprintf(label, sizeof label, "%s socketpair end0", tname);
    report_names(label, sv[0], sizeof(sa_family_t), sizeof(sa_family_t));
    snprintf(label, sizeof label, "%s socketpair end1", tname);
    report_names(label, sv[1], sizeof(sa_family_t), sizeof(sa_family_t));
    if (type != SOCK_DGRAM) {
        snprintf(label, sizeof label, "%s socketpair", tname);
        exchange(label, sv[0], sv[1], type);
    }
    close(sv[0]);
    char buf[8];
    /* EOF for stream and seqpacket; a datagram socket has none, so don't wait */
    ssize_t n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    int e = errno;
    printf("%s socketpair after close: recv=%zd%s%s\n", tname, n, n < 0 ? " " : "",
           n < 0 ? errno_name(e) : "");
    close(sv[1]);
}

/* Datagrams from a sender of sender_kind, received by recvfrom and recvmsg
 * with each buffer kind. */
static void datagram_cases(enum addr_kind sender_kind)
{
    struct sockaddr_un rcv, snd;
    socklen_t rcv_len = make_addr(&rcv, ADDR_PATH, "dgram");
    int rfd = must(socket(AF_UNIX, SOCK_DGRAM, 0), "socket");
    must(bind(rfd, (struct sockaddr *)&rcv, rcv_len), "bind");
    int sfd = must(socket(AF_UNIX, SOCK_DGRAM, 0), "socket");
    socklen_t snd_len = make_addr(&snd, sender_kind, "sender");
    if (sender_kind != ADDR_UNBOUND)
        must(bind(sfd, (struct sockaddr *)&snd, snd_len), "bind sender");
    for (int viamsg = 0; viamsg < 2; viamsg++) {
        for (int k = 0; k < N_BUF_KINDS; k++) {
            char l[128], data[32];
            must((int)sendto(sfd, "datagram", 8, 0, (struct sockaddr *)&rcv, rcv_len), "sendto");
            struct addrbuf b;
            buf_init(&b, (enum buf_kind)k, snd_len);
            ssize_t n;
            if (viamsg) {
                struct iovec iov = {data, sizeof data};
                struct msghdr mh = {0};
                mh.msg_iov = &iov;
                mh.msg_iovlen = 1;
                mh.msg_name = b.mem;
                mh.msg_namelen = b.lenp ? b.len : 0;
                n = recvmsg(rfd, &mh, 0);
                if (b.lenp) b.len = mh.msg_namelen;
            } else {
                n = recvfrom(rfd, data, sizeof data, 0, (struct sockaddr *)b.mem, b.lenp);
            }
            int e = errno;
            snprintf(l, sizeof l, "dgram from %s %s %s data=%.*s", addr_kind_names[sender_kind],
                     viamsg ? "recvmsg" : "recvfrom", buf_kind_names[k], (int)(n > 0 ? n : 0),
                     data);
            buf_report(l, &b, n, e);
        }
    }
    close(sfd);
    close(rfd);
    unlink(rcv.sun_path);
    if (sender_kind == ADDR_PATH) unlink(snd.sun_path);
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "--tight") == 0) tight = 1, i++;
    if (argc - i != 2) die(PROG, "usage: unixaddr [--tight] DIR NAME");
    dir = argv[i];
    name = argv[i + 1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    const int types[] = {SOCK_STREAM, SOCK_SEQPACKET};
    for (int t = 0; t < 2; t++) {
        for (int kind = ADDR_PATH; kind <= ADDR_ABSTRACT; kind++) {
            connection_cases(types[t], (enum addr_kind)kind, ADDR_UNBOUND);
            connection_cases(types[t], (enum addr_kind)kind, (enum addr_kind)kind);
            reset_case(types[t], (enum addr_kind)kind);
        }
        socketpair_cases(types[t]);
    }
    socketpair_cases(SOCK_DGRAM);
    for (int kind = ADDR_PATH; kind <= ADDR_UNBOUND; kind++)
        datagram_cases((enum addr_kind)kind);
    printf("done\n");
    return 0;
}
