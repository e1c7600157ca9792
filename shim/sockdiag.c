// SPDX-License-Identifier: MIT
/* sockdiag.c: "is this socket still open somewhere?" (sockdiag.h), one exact
 * sock_diag lookup (NETLINK_SOCK_DIAG, no dump): by the 4-tuple for TCP
 * (inet_diag), by the inode for unix sockets (unix_diag). A TCP socket whose
 * last fd is closed lives on as an orphan (FIN_WAIT, TIME_WAIT) without an
 * inode; a unix socket is gone. */
#include "sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "real.h"

/* Sends one request and reads its answer: 1 found with an inode, 0 not
 * found or orphaned, -errno. */
static int ask(const void *req, size_t len, int family)
{
    int nl = real_socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0) return -errno;
    int r;
    if (real_send(nl, req, len, 0) != (ssize_t)len) {
        r = -errno;
        real_close(nl);
        return r;
    }
    union {
        struct nlmsghdr h;
        char buf[1024];
    } ans;
    ssize_t n = real_recv(nl, &ans, sizeof ans, 0);
    r = n < 0 ? -errno : 0;
    real_close(nl);
    if (n < (ssize_t)sizeof(struct nlmsghdr)) return r ? r : -EPROTO;
    if (ans.h.nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(&ans.h);
        if ((size_t)n < NLMSG_LENGTH(sizeof *e)) return -EPROTO;
        return e->error == -ENOENT ? 0 : (e->error ? e->error : -EPROTO);
    }
    if (ans.h.nlmsg_type != SOCK_DIAG_BY_FAMILY) return -EPROTO;
    if (family == AF_UNIX) {
        const struct unix_diag_msg *m = NLMSG_DATA(&ans.h);
        if ((size_t)n < NLMSG_LENGTH(sizeof *m)) return -EPROTO;
        return 1; /* a unix socket is listed only while some fd holds it */
    }
    const struct inet_diag_msg *m = NLMSG_DATA(&ans.h);
    if ((size_t)n < NLMSG_LENGTH(sizeof *m)) return -EPROTO;
    /* The kernel's lookup falls back to a listener on the local address once
     * the connection itself is gone: that is not it. */
    if (m->idiag_state == 10 /* TCP_LISTEN */ || m->id.idiag_dport == 0) return 0;
    return m->idiag_inode != 0;
}

static int ask_tcp(const struct conn *c)
{
    int family = c->local.sa.sa_family;
    if (family != c->peer.sa.sa_family || (family != AF_INET && family != AF_INET6)) return -EINVAL;
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST;
    req.r.sdiag_family = (unsigned char)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = ~0u;
    req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (family == AF_INET) {
        req.r.id.idiag_sport = c->local.in.sin_port;
        req.r.id.idiag_dport = c->peer.in.sin_port;
        memcpy(req.r.id.idiag_src, &c->local.in.sin_addr, 4);
        memcpy(req.r.id.idiag_dst, &c->peer.in.sin_addr, 4);
    } else {
        req.r.id.idiag_sport = c->local.in6.sin6_port;
        req.r.id.idiag_dport = c->peer.in6.sin6_port;
        memcpy(req.r.id.idiag_src, &c->local.in6.sin6_addr, 16);
        memcpy(req.r.id.idiag_dst, &c->peer.in6.sin6_addr, 16);
    }
    return ask(&req, sizeof req, family);
}

static int ask_unix(uint64_t ino)
{
    if (!ino || ino > 0xffffffffu) return -EINVAL;
    struct {
        struct nlmsghdr h;
        struct unix_diag_req r;
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST;
    req.r.sdiag_family = AF_UNIX;
    req.r.udiag_states = ~0u;
    req.r.udiag_ino = (uint32_t)ino;
    req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
    return ask(&req, sizeof req, AF_UNIX);
}

int sockdiag_still_held(const struct conn *c, uint64_t ino)
{
    int saved = errno;
    int r = c->family == AF_UNIX ? ask_unix(ino) : ask_tcp(c);
    errno = saved;
    return r;
}

int sockdiag_threads(void)
{
    int saved = errno;
    char buf[1024];
    int f = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = f < 0 ? -1 : real_read(f, buf, sizeof buf - 1);
    int e = errno;
    if (f >= 0) real_close(f);
    errno = saved;
    if (n <= 0) return f < 0 || n < 0 ? -e : -EIO;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
    for (int field = 2; p && field < 20; field++) /* num_threads is field 20 */
        p = strchr(p + 1, ' ');
    return p ? (int)strtol(p + 1, NULL, 10) : -EIO;
}
