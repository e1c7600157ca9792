/* fdident.h: is this fd still the socket we think it is?
 *
 * The fd table is a hint, never the truth: the kernel can close an fd behind
 * the shim's back (fclose() of an fdopen()ed socket, a raw syscall(SYS_close),
 * a statically linked library) and hand the number to a pipe, a file or
 * another socket. Each connection keeps the socket's identity taken when the
 * shim knew the fd was it (SO_COOKIE: 64 bits, never reused while the system
 * runs); before acting on an fd outside the hot path (a record attributed to
 * a connection, a replay, a reconnect, a dup3) the shim asks again.
 * One getsockopt() per question, never on the send/recv path. */
#ifndef RSTWATCH_FDIDENT_H
#define RSTWATCH_FDIDENT_H

#include <stdint.h>

#pragma GCC visibility push(hidden)

/* The identity of the socket at fd: its SO_COOKIE, or its inode number with
 * the top bit set where SO_COOKIE is unavailable (kernels before 4.12), or 0
 * when fd is not a socket (or not open). Preserves errno. */
uint64_t fdident_take(int fd);

/* 1 if fd is still the socket whose identity is id; 0 if it is something else
 * now (or closed). An unknown identity (id 0) is never "the same". Preserves errno. */
int fdident_same(int fd, uint64_t id);

#pragma GCC visibility pop

#endif
