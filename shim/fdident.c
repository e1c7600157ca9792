// SPDX-License-Identifier: MIT
/* fdident.c: socket identity by fstat's inode number (see fdident.h). */
#include "fdident.h"

#include <errno.h>
#include <sys/stat.h>

#include "sandbox.h"

#define IDENT_INODE_BIT (1ull << 63)

uint64_t fdident_take(int fd)
{
    if (sandbox_filtered()) return FDIDENT_UNKNOWN;
    int saved = errno;
    struct stat st;
    uint64_t id;
    if (fstat(fd, &st) == 0)
        id = S_ISSOCK(st.st_mode) ? IDENT_INODE_BIT | ((uint64_t)st.st_ino & ~IDENT_INODE_BIT) : 0;
    else
        id = errno == EBADF ? 0 : FDIDENT_UNKNOWN; /* refused (EPERM, ENOSYS...): unknown */
    errno = saved;
    return id;
}

int fdident_same(int fd, uint64_t id)
{
    if (id == 0) return 0;
    if (id == FDIDENT_UNKNOWN) return 1;
    uint64_t now = fdident_take(fd);
    return now == id || now == FDIDENT_UNKNOWN;
}
