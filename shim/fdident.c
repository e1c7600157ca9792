/* fdident.c: socket identity by SO_COOKIE, with an inode fallback (see fdident.h). */
#include "fdident.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "real.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define IDENT_INODE_BIT (1ull << 63)

uint64_t fdident_take(int fd)
{
    int saved = errno;
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    uint64_t id = 0;
    if (real_getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0 && len == sizeof cookie) {
        id = cookie & ~IDENT_INODE_BIT;
    } else if (errno == ENOPROTOOPT || errno == EINVAL) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) id = IDENT_INODE_BIT | (uint64_t)st.st_ino;
    }
    errno = saved;
    return id;
}

int fdident_same(int fd, uint64_t id)
{
    return id != 0 && fdident_take(fd) == id;
}
