// SPDX-License-Identifier: MIT
/* fdident.h: is this fd still the socket we think it is?
 *
 * The fd table is a hint, never the truth: the kernel can close an fd behind
 * the shim's back (fclose() of an fdopen()ed socket, a raw syscall(SYS_close),
 * a statically linked library) and hand the number to a pipe, a file or
 * another socket. Each connection keeps the socket's identity taken when the
 * shim knew the fd was it (the socket's inode number, from fstat: a call
 * sandboxes allow, where SO_COOKIE is often refused); before acting on an fd
 * outside the hot path (a record attributed to a connection, a replay, a
 * reconnect, a dup3) the shim asks again. One fstat() per question, never on
 * the send/recv path, none under a seccomp filter.
 *
 * A question the kernel refuses (EPERM, EACCES, ENOSYS from a filter) has no
 * answer: the identity is unknown, and an unknown identity is taken to be the
 * same (docs/design.md "A refused extra call means unknown"). Only a closed
 * fd or another file is "not the same". */
#ifndef RSTWATCH_FDIDENT_H
#define RSTWATCH_FDIDENT_H

#include <stdint.h>

#pragma GCC visibility push(hidden)

/* What fdident_take() returns when it could not ask (a refused fstat, or a
 * seccomp filter): unknown, never a mismatch. */
#define FDIDENT_UNKNOWN UINT64_MAX

/* The identity of the socket at fd: its inode number with the top bit set, 0
 * when fd is not a socket (or not open), FDIDENT_UNKNOWN when the kernel
 * would not say. Preserves errno. */
uint64_t fdident_take(int fd);

/* 1 if fd is still the socket whose identity is id, or if either identity is
 * unknown; 0 if it is something else now (or closed). id 0 (not a socket when
 * taken) is never "the same". Preserves errno. */
int fdident_same(int fd, uint64_t id);

#pragma GCC visibility pop

#endif
