/* passthrough.c: the floor of `make bench`: a preload that interposes the
 * same I/O calls as librstwatch.so and only forwards them to libc (pointers
 * resolved once with dlsym(RTLD_NEXT) in a constructor). Whatever it costs is
 * what any LD_PRELOAD interposition pays; rstwatch is measured against both
 * bare runs and this. Built by scripts/bench/run.py into build/bench/. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define PT __attribute__((visibility("default")))

static ssize_t (*r_send)(int, const void *, size_t, int);
static ssize_t (*r_recv)(int, void *, size_t, int);
static ssize_t (*r_read)(int, void *, size_t);
static ssize_t (*r_write)(int, const void *, size_t);
static ssize_t (*r_readv)(int, const struct iovec *, int);
static ssize_t (*r_writev)(int, const struct iovec *, int);
static ssize_t (*r_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*r_recvmsg)(int, struct msghdr *, int);
static ssize_t (*r_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*r_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static int (*r_close)(int);

__attribute__((constructor)) static void passthrough_init(void)
{
    r_send = (ssize_t(*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
    r_recv = (ssize_t(*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    r_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    r_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    r_readv = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "readv");
    r_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    r_sendmsg = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
    r_recvmsg = (ssize_t(*)(int, struct msghdr *, int))dlsym(RTLD_NEXT, "recvmsg");
    r_sendto = (ssize_t(*)(int, const void *, size_t, int, const struct sockaddr *,
                           socklen_t))dlsym(RTLD_NEXT, "sendto");
    r_recvfrom = (ssize_t(*)(int, void *, size_t, int, struct sockaddr *, socklen_t *))dlsym(
        RTLD_NEXT, "recvfrom");
    r_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
}

PT ssize_t send(int fd, const void *b, size_t n, int fl)
{
    return r_send(fd, b, n, fl);
}
PT ssize_t recv(int fd, void *b, size_t n, int fl)
{
    return r_recv(fd, b, n, fl);
}
PT ssize_t read(int fd, void *b, size_t n)
{
    return r_read(fd, b, n);
}
PT ssize_t write(int fd, const void *b, size_t n)
{
    return r_write(fd, b, n);
}
PT ssize_t readv(int fd, const struct iovec *v, int n)
{
    return r_readv(fd, v, n);
}
PT ssize_t writev(int fd, const struct iovec *v, int n)
{
    return r_writev(fd, v, n);
}
PT ssize_t sendmsg(int fd, const struct msghdr *m, int fl)
{
    return r_sendmsg(fd, m, fl);
}
PT ssize_t recvmsg(int fd, struct msghdr *m, int fl)
{
    return r_recvmsg(fd, m, fl);
}
PT ssize_t sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *sa, socklen_t l)
{
    return r_sendto(fd, b, n, fl, sa, l);
}
PT ssize_t recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *sa, socklen_t *l)
{
    return r_recvfrom(fd, b, n, fl, sa, l);
}
PT int close(int fd)
{
    return r_close(fd);
}
