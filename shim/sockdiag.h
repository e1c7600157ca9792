// SPDX-License-Identifier: MIT
/* sockdiag.h: is a socket still open in some process? Asked through the
 * kernel's sock_diag netlink interface after this process closed its last
 * fd of a connection that it shares with a fork()ed process: the connection
 * ends with its last holder, and only that one writes its close record
 * (docs/design.md "Never hurt the host", "A socket shared across fork ends
 * with its last holder"). A slow path: four system calls (a netlink socket,
 * one request, one answer, its close), at such a close only. */
#ifndef RSTWATCH_SOCKDIAG_H
#define RSTWATCH_SOCKDIAG_H

#include <stdint.h>

#include "conn_table.h"

#pragma GCC visibility push(hidden)

/* 1 when c's socket (found by its addresses for TCP, by ino for a unix
 * socket) is still held by a process (it has an inode: not an orphan),
 * 0 when it is gone or orphaned (this process held it last), -errno when
 * the kernel could not be asked (then the caller cannot tell). */
int sockdiag_still_held(const struct conn *c, uint64_t ino);

/* The number of threads in this process (/proc/self/stat), or -errno. */
int sockdiag_threads(void);

#pragma GCC visibility pop

#endif
