// SPDX-License-Identifier: MIT
/* listener.h: the local address of accepted connections, learnt once per
 * listener.
 *
 * A TCP connection accepted on a listener bound to one address has that
 * address as its local address: the kernel only hands such a listener
 * connections to it. So the listener is asked once (getsockname, and whether
 * it is transparent), and every connection it accepts gets the answer for
 * free, where asking each accepted socket cost a getsockname per record.
 * Not so for a listener bound to a wildcard (0.0.0.0, ::: a connection's
 * local address is whichever of the host's addresses the client used) or a
 * transparent one (IP_TRANSPARENT, TPROXY: it accepts connections to any
 * address): their connections are asked, as unix sockets are.
 *
 * The answer is kept per fd number, in a small table, until the slot of that
 * fd in the fd table changes hands (the listener closed, the number reused:
 * conn_table.c calls listener_forget); a seqlock per entry makes it safe to
 * read from any thread and from a signal handler, without a lock. */
#ifndef RSTWATCH_LISTENER_H
#define RSTWATCH_LISTENER_H

#include <stddef.h>

#pragma GCC visibility push(hidden)

/* 1 and the address in out (len bytes: a sockaddr_in or sockaddr_in6, or
 * room for either) when every connection accepted on lfd (a listener of
 * family) has lfd's own local address; 0 when each must be asked
 * (wildcard, transparent, unix, under a seccomp filter, or the kernel would
 * not say). The first call for a listener asks the kernel (getsockname and
 * getsockopt IP_TRANSPARENT), later ones nothing. Preserves errno. */
int listener_local(int lfd, int family, void *out, size_t len);

/* The fd table's slot for fd changed hands: what was learnt about fd is
 * forgotten. One load when fd was never a listener. */
void listener_forget(int fd);

/* listener_forget() for every fd in [lo, hi]. */
void listener_forget_range(unsigned lo, unsigned hi);

#pragma GCC visibility pop

#endif
